//go:build !minimal

package providers

import (
	"github.com/libdns/glesys"
)

func glesysEntry() *Entry {
	return &Entry{
		Name:        "glesys",
		Module:      "github.com/libdns/glesys",
		New:         func() any { return new(glesys.Provider) },
		Credentials: []string{"api_key"},
		Required: []Field{
			{"project", "the GleSYS project (CL...) the API key belongs to"},
			{"api_key", "a GleSYS API key with the domain permission, as {secretKeyRef: {name, key}}"},
		},
		Strategy: Exact,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     httpDefaultClient,
		Env:      []string{"LIBDNS_GLESYS_DEBUG (true: every call and its records are logged to stderr)"},
		Quirks: []string{
			"a delete matches the TTL too unless it is 0: CleanUp deletes with TTL 0, so every record holding the value goes",
		},
		Example: "project: CL12345\napi_key: {secretKeyRef: {name: glesys-api, key: api-key}}\n",
		Build: func(v any, env Env) (Writer, error) {
			return glesysEntry().writer(&libdnsWriter{p: v.(*glesys.Provider)}, env, nil, false), nil
		},
	}
}
