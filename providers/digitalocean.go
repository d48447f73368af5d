//go:build !minimal

package providers

import (
	"time"

	"github.com/libdns/digitalocean"
)

func digitaloceanEntry() *Entry {
	return &Entry{
		Name:        "digitalocean",
		Module:      "github.com/libdns/digitalocean",
		New:         func() any { return new(digitalocean.Provider) },
		Credentials: []string{"auth_token"},
		Required:    []Field{{"auth_token", "a DigitalOcean API token with write access to the domain, as {secretKeyRef: {name, key}}"}},
		// DigitalOcean refuses a TTL under 30 s.
		MinTTL:   30 * time.Second,
		Strategy: Exact,
		// DigitalOcean allows 5000 requests per hour and 250 per minute per token.
		RateLimit: Rate{PerSecond: 1.3, Burst: 150},
		Zones:     "none: set aliasZone (or cert-manager's resolvedZone is used with Follow)",
		Test:      FakeAPI,
		HTTP:      "http.DefaultTransport (godo's oauth2 client), which the webhook replaces with its own",
		Quirks: []string{
			"delete works only with the record's numeric ID: CleanUp reads the domain and deletes the records that hold the value",
			"the API accepts identical records: Present reads first and adds nothing when the value is there",
		},
		Example: "auth_token: {secretKeyRef: {name: digitalocean-token, key: token}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*digitalocean.Provider)
			return digitaloceanEntry().writer(&libdnsWriter{p: p, bareZone: true, deleteByLookup: true, skipPresent: true}, env, nil, false), nil
		},
	}
}
