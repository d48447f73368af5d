//go:build !minimal

package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/libdns/gandi"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// gandiAPI is LiveDNS's base URL; libdns/gandi uses the same constant.
const gandiAPI = "https://api.gandi.net/v5/livedns"

func gandiEntry() *Entry {
	return &Entry{
		Name:        "gandi",
		Module:      "github.com/libdns/gandi",
		New:         func() any { return new(gandi.Provider) },
		Credentials: []string{"bearer_token"},
		Required:    []Field{{"bearer_token", "a Gandi personal access token allowed to manage the domain's DNS records, as {secretKeyRef: {name, key}}"}},
		// LiveDNS refuses a TTL under 300 s.
		MinTTL:   300 * time.Second,
		Strategy: Set,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     httpOwnClient + ": the webhook reads and writes the RRset itself",
		Quirks: []string{
			"LiveDNS stores a name's TXT values as one RRset that every write replaces: the set is read and written back whole under the set strategy's Lease lock",
			"the library's delete compares the quoted values LiveDNS returns with the unquoted one it was given, so with two values at the name it deletes nothing and reports success: the webhook writes the RRset itself (GET, then PUT the remaining values, or DELETE when none remain)",
			"the library's append re-adds a value already there: the set is read first and an identical value is not written again",
			"an existing RRset keeps its TTL; a new one gets the configured ttl (at least 300)",
		},
		Example: "bearer_token: {secretKeyRef: {name: gandi-pat, key: token}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*gandi.Provider)
			ops := &gandiRRsets{token: p.BearerToken, client: env.Client(), base: gandiAPI}
			return gandiEntry().writer(&libdnsWriter{p: p, httpPaced: true}, env, ops, false), nil
		},
	}
}

// gandiRRsets reads and writes one name's TXT RRset through the LiveDNS API.
type gandiRRsets struct {
	token  string
	client *http.Client
	base   string
}

type gandiRRset struct {
	TTL    int      `json:"rrset_ttl,omitempty"`
	Values []string `json:"rrset_values"`
}

func (g *gandiRRsets) url(zone, fqdn string) string {
	return fmt.Sprintf("%s/domains/%s/records/%s/TXT", g.base, url.PathEscape(dnsname.Bare(zone)), url.PathEscape(dnsname.Relative(fqdn, zone)))
}

func (g *gandiRRsets) do(ctx context.Context, method, u string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &e)
		return resp.StatusCode, fmt.Errorf("LiveDNS %s answered HTTP %d: %s", method, resp.StatusCode, e.Message)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("LiveDNS %s: reading the answer: %w", method, err)
		}
	}
	return resp.StatusCode, nil
}

// read returns the RRset as stored (values quoted as LiveDNS returns them), or nil when there is none.
func (g *gandiRRsets) read(ctx context.Context, zone, fqdn string) (*gandiRRset, error) {
	var set gandiRRset
	// LiveDNS answers 404 for a name without TXT values.
	status, err := g.do(answeredItself(ctx), http.MethodGet, g.url(zone, fqdn), nil, &set)
	if status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &set, nil
}

// Values implements SetOps.
func (g *gandiRRsets) Values(ctx context.Context, zone, fqdn string) ([]string, error) {
	set, err := g.read(ctx, zone, fqdn)
	if err != nil || set == nil {
		return nil, err
	}
	out := make([]string, len(set.Values))
	for i, v := range set.Values {
		out[i] = unquoteTXT(v)
	}
	return out, nil
}

// Write implements SetOps: one PUT of the remaining values, or a DELETE when none remain.
func (g *gandiRRsets) Write(ctx context.Context, zone, fqdn string, _ []string, adds []Mutation, removes []string) (addErr, removeErr error) {
	err := g.write(ctx, zone, fqdn, adds, removes)
	return err, err
}

func (g *gandiRRsets) write(ctx context.Context, zone, fqdn string, adds []Mutation, removes []string) error {
	set, err := g.read(ctx, zone, fqdn)
	if err != nil {
		return err
	}
	if set == nil {
		set = &gandiRRset{}
	}
	var values, have []string
	for _, v := range set.Values {
		if !slices.Contains(removes, unquoteTXT(v)) {
			values = append(values, v)
			have = append(have, unquoteTXT(v))
		}
	}
	for _, m := range adds {
		if !slices.Contains(have, m.Value) {
			values = append(values, `"`+strings.ReplaceAll(m.Value, `"`, `\"`)+`"`)
			have = append(have, m.Value)
			if set.TTL == 0 {
				set.TTL = int(m.TTL.Seconds())
			}
		}
	}
	if len(values) == 0 {
		_, err := g.do(ctx, http.MethodDelete, g.url(zone, fqdn), nil, nil)
		return err
	}
	_, err = g.do(ctx, http.MethodPut, g.url(zone, fqdn), gandiRRset{TTL: max(set.TTL, 300), Values: values}, nil)
	return err
}

var _ SetOps = (*gandiRRsets)(nil)
