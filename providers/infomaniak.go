//go:build !minimal

package providers

import (
	"github.com/libdns/infomaniak"
)

func infomaniakEntry() *Entry {
	return &Entry{
		Name:        "infomaniak",
		Module:      "github.com/libdns/infomaniak",
		New:         func() any { return new(infomaniak.Provider) },
		Credentials: []string{"api_token"},
		Required:    []Field{{"api_token", "an Infomaniak API token with the domain scope, as {secretKeyRef: {name, key}}"}},
		Strategy:    Exact,
		Zones:       zonesNone,
		Test:        Constructed,
		HTTP:        httpDefaultClient,
		Quirks: []string{
			"a delete matches the TTL too unless it is 0: CleanUp deletes with TTL 0, so every record holding the value goes",
		},
		Example: "api_token: {secretKeyRef: {name: infomaniak-token, key: token}}\n",
		Build: func(v any, env Env) (Writer, error) {
			return infomaniakEntry().writer(&libdnsWriter{p: v.(*infomaniak.Provider)}, env, nil, false), nil
		},
	}
}
