//go:build !minimal

package providers

import (
	"github.com/libdns/luadns"
)

func luadnsEntry() *Entry {
	return &Entry{
		Name:        "luadns",
		Module:      "github.com/libdns/luadns",
		New:         func() any { return new(luadns.Provider) },
		Credentials: []string{"api_key"},
		Required: []Field{
			{"email", "the LuaDNS account's email address"},
			{"api_key", "a LuaDNS API key, as {secretKeyRef: {name, key}}"},
		},
		Strategy: Exact,
		Zones:    zonesListed,
		Test:     Constructed,
		// luadns-go builds &http.Client{Transport: &http.Transport{}} for every call and offers no way in.
		HTTP: "the library builds a bare transport per call: HTTPS_PROXY is not honoured and the webhook's retries do not apply",
		Quirks: []string{
			"each call leaves an idle connection of its own transport open until LuaDNS closes it",
		},
		Example: "email: admin@example.org\napi_key: {secretKeyRef: {name: luadns-api, key: api-key}}\n",
		Build: func(v any, env Env) (Writer, error) {
			return luadnsEntry().writer(&libdnsWriter{p: v.(*luadns.Provider)}, env, nil, false), nil
		},
	}
}
