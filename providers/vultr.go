//go:build !minimal

package providers

import (
	"github.com/libdns/vultr/v2"
)

func vultrEntry() *Entry {
	return &Entry{
		Name:        "vultr",
		Module:      "github.com/libdns/vultr/v2",
		New:         func() any { return new(vultr.Provider) },
		Credentials: []string{"api_token"},
		Required:    []Field{{"api_token", "a Vultr API key, as {secretKeyRef: {name, key}}"}},
		Strategy:    Exact,
		Zones:       zonesListed,
		Test:        Constructed,
		HTTP:        "http.DefaultTransport (oauth2 under govultr's retryablehttp, 3 retries within the deadline), which the webhook replaces with its own",
		Quirks: []string{
			"a delete needs the record's ID (v2.0.2 refuses a plain TXT): CleanUp reads the domain and deletes the records that hold the value by their IDs",
		},
		Example: "api_token: {secretKeyRef: {name: vultr-api, key: api-key}}\n",
		Build: func(v any, env Env) (Writer, error) {
			return vultrEntry().writer(&libdnsWriter{p: v.(*vultr.Provider), deleteByLookup: true}, env, nil, false), nil
		},
	}
}
