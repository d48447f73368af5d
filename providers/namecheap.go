//go:build !minimal

package providers

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/libdns/namecheap"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

func namecheapEntry() *Entry {
	return &Entry{
		Name:        "namecheap",
		Module:      "github.com/libdns/namecheap",
		New:         func() any { return new(namecheap.Provider) },
		Credentials: []string{"api_key"},
		// The issuer may point the API key at another endpoint (Namecheap's sandbox is one).
		Endpoints: []string{"api_endpoint"},
		Required: []Field{
			{"api_key", "a Namecheap API key, as {secretKeyRef: {name, key}}"},
			{"user", "the Namecheap API user"},
			{"client_ip", "the public IP address the webhook's requests leave from, as whitelisted at Namecheap"},
		},
		// Namecheap accepts 60..60000 s.
		MinTTL:   60 * time.Second,
		Strategy: Set,
		Zones:    zonesNone + "; it must be the registered domain",
		Test:     Constructed,
		HTTP:     httpDefaultClient,
		Quirks: []string{
			"every append and delete reads the domain's whole host list and writes it back (setHosts): the set strategy's Lease lock covers the whole zone (any other tool writing the domain at the same time can still lose a change)",
			"without client_ip the library asks https://icanhazip.com for the public IP on every call, without a deadline: client_ip is required",
			"a delete matches the stored TTL too, and writes the host list back even when nothing matched: CleanUp deletes the records exactly as read (with their TTL)",
			"the host list is written back without the domain's EmailType: use a domain without custom mail settings (a dedicated validation domain)",
			"api_endpoint is an endpoint the issuer chooses: it must be an http(s) URL, and the API key is sent there only if the Secret's endpoints annotation lists it",
		},
		Example: "user: acme\nclient_ip: 203.0.113.10\napi_key: {secretKeyRef: {name: namecheap-api, key: api-key}}\n",
		Build:   buildNamecheap,
	}
}

func buildNamecheap(v any, env Env) (Writer, error) {
	p := v.(*namecheap.Provider)
	if net.ParseIP(strings.TrimSpace(p.ClientIP)) == nil {
		return nil, fmt.Errorf("config.%s.client_ip: %q is not an IP address: give the public IP the webhook's requests leave from", env.Path, p.ClientIP)
	}
	if p.APIEndpoint != "" {
		if err := checkHTTPURL(env.Path, "api_endpoint", p.APIEndpoint, "https://api.sandbox.namecheap.com/xml.response"); err != nil {
			return nil, err
		}
	}
	return namecheapEntry().writer(&libdnsWriter{p: p}, env, &namecheapOps{lib: p}, true), nil
}

// namecheapLib is the part of libdns/namecheap the set operations use.
type namecheapLib interface {
	recordProvider
	libdns.RecordGetter
}

// namecheapOps adds with the library's AppendRecords and deletes the records exactly as GetRecords returned them:
// the library's delete matches the TTL as stored, which the webhook does not know.
type namecheapOps struct{ lib namecheapLib }

func (o *namecheapOps) txt(ctx context.Context, zone, fqdn string) ([]libdns.Record, error) {
	recs, err := o.lib.GetRecords(ctx, zone)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, r := range recs {
		rr := r.RR()
		if strings.EqualFold(rr.Type, "TXT") && strings.EqualFold(libdns.AbsoluteName(rr.Name, zone), fqdn) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Values implements SetOps.
func (o *namecheapOps) Values(ctx context.Context, zone, fqdn string) ([]string, error) {
	recs, err := o.txt(ctx, zone, fqdn)
	return txtValues(recs, zone, fqdn), err
}

// Write implements SetOps.
func (o *namecheapOps) Write(ctx context.Context, zone, fqdn string, _ []string, adds []Mutation, removes []string) (addErr, removeErr error) {
	if len(removes) > 0 {
		recs, err := o.txt(ctx, zone, fqdn)
		var gone []libdns.Record
		for _, r := range recs {
			for _, v := range removes {
				if unquoteTXT(r.RR().Data) == v {
					gone = append(gone, r)
				}
			}
		}
		if err == nil && len(gone) > 0 {
			_, err = o.lib.DeleteRecords(ctx, zone, gone)
		}
		removeErr = err
	}
	if len(adds) > 0 {
		name := dnsname.Relative(fqdn, zone)
		recs := make([]libdns.Record, len(adds))
		for i, m := range adds {
			recs[i] = libdns.TXT{Name: name, TTL: m.TTL, Text: m.Value}
		}
		_, addErr = o.lib.AppendRecords(ctx, zone, recs)
	}
	return addErr, removeErr
}

var _ SetOps = (*namecheapOps)(nil)
