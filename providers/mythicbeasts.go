//go:build !minimal

package providers

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/libdns/mythicbeasts"
	"golang.org/x/net/publicsuffix"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

func mythicbeastsEntry() *Entry {
	return &Entry{
		Name:        "mythicbeasts",
		Module:      "github.com/libdns/mythicbeasts",
		New:         func() any { return new(mythicbeasts.Provider) },
		Credentials: []string{"secret"},
		Required: []Field{
			{"key_id", "the Mythic Beasts API key ID"},
			{"secret", "the Mythic Beasts API key's secret, as {secretKeyRef: {name, key}}"},
		},
		Strategy: Set,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     httpDefaultClient,
		Quirks: []string{
			"a delete removes every value at the name and type (the API's DELETE has no data filter): under the set strategy's Lease lock the remaining values are written with one atomic PUT (select host and type), and DELETE is used only when none remain",
			"the library sends the zone as its registered domain (eTLD+1) and the names as given: names are made relative to the registered domain, so a delegated sub-zone writes the right host",
			"an unknown record type anywhere in the zone fails the read (and so the write)",
		},
		Example: "key_id: a1b2c3d4\nsecret: {secretKeyRef: {name: mythicbeasts-api, key: secret}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*mythicbeasts.Provider)
			return mythicbeastsEntry().writer(&libdnsWriter{p: p}, env, &mythicbeastsOps{lib: p}, false), nil
		},
	}
}

// mythicbeastsLib is the part of libdns/mythicbeasts the set operations use.
type mythicbeastsLib interface {
	libdns.RecordGetter
	libdns.RecordSetter
	libdns.RecordDeleter
}

// mythicbeastsOps writes a name's TXT set with the library's SetRecords (an atomic replace of host and type)
// and deletes it only when no value remains.
type mythicbeastsOps struct{ lib mythicbeastsLib }

// registered returns the registered domain the library will write to, with a trailing dot.
func (o *mythicbeastsOps) registered(zone string) string {
	d, err := publicsuffix.EffectiveTLDPlusOne(dnsname.Bare(zone))
	if err != nil {
		return zone
	}
	return d + "."
}

func (o *mythicbeastsOps) current(ctx context.Context, zone, fqdn string) ([]libdns.TXT, error) {
	reg := o.registered(zone)
	recs, err := o.lib.GetRecords(ctx, reg)
	if err != nil {
		return nil, err
	}
	var out []libdns.TXT
	for _, r := range recs {
		rr := r.RR()
		if rr.Type == "TXT" && strings.EqualFold(libdns.AbsoluteName(rr.Name, reg), fqdn) {
			out = append(out, libdns.TXT{Name: rr.Name, TTL: rr.TTL, Text: unquoteTXT(rr.Data)})
		}
	}
	return out, nil
}

// Values implements SetOps.
func (o *mythicbeastsOps) Values(ctx context.Context, zone, fqdn string) ([]string, error) {
	recs, err := o.current(ctx, zone, fqdn)
	var out []string
	for _, r := range recs {
		out = append(out, r.Text)
	}
	return out, err
}

// Write implements SetOps.
func (o *mythicbeastsOps) Write(ctx context.Context, zone, fqdn string, _ []string, adds []Mutation, removes []string) (addErr, removeErr error) {
	err := o.write(ctx, zone, fqdn, adds, removes)
	return err, err
}

func (o *mythicbeastsOps) write(ctx context.Context, zone, fqdn string, adds []Mutation, removes []string) error {
	reg := o.registered(zone)
	name := dnsname.Relative(fqdn, reg)
	existing, err := o.current(ctx, zone, fqdn)
	if err != nil {
		return err
	}
	var keep []libdns.Record
	var have []string
	for _, r := range existing {
		if !slices.Contains(removes, r.Text) && !slices.Contains(have, r.Text) {
			keep = append(keep, libdns.TXT{Name: name, TTL: r.TTL, Text: r.Text})
			have = append(have, r.Text)
		}
	}
	for _, m := range adds {
		if !slices.Contains(have, m.Value) {
			keep = append(keep, libdns.TXT{Name: name, TTL: max(m.TTL, time.Second), Text: m.Value})
			have = append(have, m.Value)
		}
	}
	if len(keep) == 0 {
		_, err := o.lib.DeleteRecords(ctx, reg, []libdns.Record{libdns.TXT{Name: name}})
		return err
	}
	_, err = o.lib.SetRecords(ctx, reg, keep)
	return err
}

var _ SetOps = (*mythicbeastsOps)(nil)
