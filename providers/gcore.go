//go:build !minimal

package providers

import (
	"context"
	"errors"
	"net/http"
	"slices"

	dnssdk "github.com/G-Core/gcore-dns-sdk-go"
	"github.com/libdns/gcore"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

func gcoreEntry() *Entry {
	return &Entry{
		Name:        "gcore",
		Module:      "github.com/libdns/gcore",
		New:         func() any { return new(gcore.Provider) },
		Credentials: []string{"api_key"},
		Required:    []Field{{"api_key", "a Gcore permanent API token, as {secretKeyRef: {name, key}}"}},
		Strategy:    Set,
		Zones:       zonesNone,
		Test:        Constructed,
		HTTP:        httpOwnClient + ": the webhook drives gcore-dns-sdk-go itself with its client",
		Quirks: []string{
			"every write PUTs the name's whole RRset: the set is read and written back under the set strategy's Lease lock",
			"the library's append adds the value once per other value already there (duplicates), its GetRecords keeps only the last value of each RRset, and its delete hides the API's error: the webhook reads the RRset and writes it back through the SDK itself (PUT of the remaining records, keeping their meta, or DELETE when none remain)",
		},
		Example: "api_key: {secretKeyRef: {name: gcore-api, key: api-key}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*gcore.Provider)
			client := env.Client()
			sdk := dnssdk.NewClient(dnssdk.PermanentAPIKeyAuth(p.APIKey), func(c *dnssdk.Client) { c.HTTPClient = client })
			return gcoreEntry().writer(&libdnsWriter{p: p, httpPaced: true}, env, &gcoreRRsets{sdk: sdk}, false), nil
		},
	}
}

// gcoreRRsets reads and writes one name's TXT RRset through gcore-dns-sdk-go.
type gcoreRRsets struct{ sdk *dnssdk.Client }

// read returns the RRset, or nil when there is none.
func (g *gcoreRRsets) read(ctx context.Context, zone, fqdn string) (*dnssdk.RRSet, error) {
	// Gcore answers 404 for a name without TXT values.
	set, err := g.sdk.RRSet(answeredItself(ctx), dnsname.Bare(zone), dnsname.Bare(fqdn), "TXT", 0, 0)
	var apiErr dnssdk.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &set, nil
}

// Values implements SetOps.
func (g *gcoreRRsets) Values(ctx context.Context, zone, fqdn string) ([]string, error) {
	set, err := g.read(ctx, zone, fqdn)
	if err != nil || set == nil {
		return nil, err
	}
	var out []string
	for _, r := range set.Records {
		out = append(out, unquoteTXT(r.ContentToString()))
	}
	return out, nil
}

// Write implements SetOps: one PUT of the remaining records, or a DELETE when none remain.
func (g *gcoreRRsets) Write(ctx context.Context, zone, fqdn string, _ []string, adds []Mutation, removes []string) (addErr, removeErr error) {
	err := g.write(ctx, zone, fqdn, adds, removes)
	return err, err
}

func (g *gcoreRRsets) write(ctx context.Context, zone, fqdn string, adds []Mutation, removes []string) error {
	set, err := g.read(ctx, zone, fqdn)
	if err != nil {
		return err
	}
	if set == nil {
		set = &dnssdk.RRSet{}
	}
	var keep []dnssdk.ResourceRecord
	var have []string
	for _, r := range set.Records {
		v := unquoteTXT(r.ContentToString())
		if !slices.Contains(removes, v) && !slices.Contains(have, v) {
			keep = append(keep, r)
			have = append(have, v)
		}
	}
	for _, m := range adds {
		if !slices.Contains(have, m.Value) {
			keep = append(keep, dnssdk.ResourceRecord{Content: []any{m.Value}, Enabled: true})
			have = append(have, m.Value)
			if set.TTL == 0 {
				set.TTL = int(m.TTL.Seconds())
			}
		}
	}
	if len(keep) == 0 {
		return g.sdk.DeleteRRSet(ctx, dnsname.Bare(zone), dnsname.Bare(fqdn), "TXT")
	}
	set.Type, set.Records = "TXT", keep
	return g.sdk.UpdateRRSet(ctx, dnsname.Bare(zone), dnsname.Bare(fqdn), "TXT", *set)
}

var _ SetOps = (*gcoreRRsets)(nil)
