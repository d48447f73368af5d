//go:build !minimal

package providers

import (
	"time"

	"github.com/libdns/desec"
)

func desecEntry() *Entry {
	return &Entry{
		Name:        "desec",
		Module:      "github.com/libdns/desec",
		New:         func() any { return new(desec.Provider) },
		Credentials: []string{"token"},
		Required:    []Field{{"token", "a deSEC token allowed to write the domain, as {secretKeyRef: {name, key}}"}},
		// deSEC refuses RRsets with a TTL under 3600 s.
		MinTTL:   3600 * time.Second,
		Strategy: Set,
		// deSEC throttles RRset writes per account (its 429 says for how long): a conservative budget.
		RateLimit: Rate{PerSecond: 1, Burst: 10},
		Zones:     "lists the account's domains and takes the longest match",
		Test:      FakeAPI,
		HTTP:      "http.DefaultClient, which goes through the webhook's transport",
		Quirks: []string{
			"every write PUTs the whole RRset after reading it, with a lock inside one process only: the set strategy's Lease lock serialises it across replicas",
			"minimum TTL 3600: a lower ttl is raised",
			"429 is waited out by the library itself while the call's deadline allows",
			"GetRecords does not page: more than 500 RRsets in the zone fail",
		},
		Example: "token: {secretKeyRef: {name: desec-token, key: token}}\n",
		Build: func(v any, env Env) (Writer, error) {
			return desecEntry().writer(&libdnsWriter{p: v.(*desec.Provider)}, env, nil, false), nil
		},
	}
}
