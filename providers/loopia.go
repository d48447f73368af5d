//go:build !minimal

package providers

import (
	"context"
	"fmt"
	"strings"

	"github.com/libdns/libdns"
	"github.com/libdns/loopia"
)

func loopiaEntry() *Entry {
	return &Entry{
		Name:        "loopia",
		Module:      "github.com/libdns/loopia",
		New:         func() any { return new(loopia.Provider) },
		Credentials: []string{"password"},
		Required: []Field{
			{"username", "the Loopia API user, e.g. acme@loopiaapi"},
			{"password", "the Loopia API user's password, as {secretKeyRef: {name, key}}"},
		},
		Strategy: Set,
		Zones:    zonesNone + "; it must be the registered domain (two labels, e.g. example.se)",
		Test:     Constructed,
		HTTP:     "http.DefaultTransport (kolo/xmlrpc, captured at the first call), which the webhook replaces with its own",
		Quirks: []string{
			"values are added and deleted one by one, but a name's first value also creates its subdomain and the last delete removes it: a Present and a CleanUp at one name racing across replicas could remove the sibling's subdomain, so every write takes the set strategy's Lease lock per name",
			"XML-RPC calls take no context and have no timeout: the webhook stops waiting at the call's deadline (the request goes on in the background, each attempt bounded to 20 s by the webhook's transport)",
			"reading the zone stops silently at a cancelled context and returns what it has: the library reads with a context that is never cancelled, and the webhook's deadline is applied around it",
			"an add goes to the zone as given while a delete cuts the zone to its last two labels: only a two-label registered domain is accepted as the zone",
			"reading the zone costs one call per subdomain",
		},
		Example: "username: acme@loopiaapi\npassword: {secretKeyRef: {name: loopia-api, key: password}}\n",
		Build: func(v any, env Env) (Writer, error) {
			a := deadlineBound(v.(*loopia.Provider))
			a.appendRecs, a.deleteRecs = loopiaZoneChecked(a.appendRecs), loopiaZoneChecked(a.deleteRecs)
			lib := v.(*loopia.Provider)
			a.get = func(ctx context.Context, zone string) ([]libdns.Record, error) {
				if err := loopiaZone(zone); err != nil {
					return nil, err
				}
				return untilDeadline(ctx, func() ([]libdns.Record, error) { return lib.GetRecords(context.WithoutCancel(ctx), zone) })
			}
			return loopiaEntry().writer(&libdnsWriter{p: a}, env, nil, false), nil
		},
	}
}

// loopiaZone accepts only a registered domain of two labels: libdns/loopia adds a record to the zone it is
// given but deletes from the zone's last two labels, so any other zone would add and delete in different places.
func loopiaZone(zone string) error {
	if strings.Count(strings.TrimSuffix(zone, "."), ".") != 1 {
		return fmt.Errorf("loopia manages registered domains only, and %s is not one of two labels: set aliasZone to the registered domain (e.g. example.se)", zone)
	}
	return nil
}

func loopiaZoneChecked(f func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error)) func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
		if err := loopiaZone(zone); err != nil {
			return nil, err
		}
		return f(ctx, zone, recs)
	}
}
