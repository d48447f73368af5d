//go:build !minimal

package providers

import (
	"fmt"

	"github.com/libdns/bunny"
)

func bunnyEntry() *Entry {
	return &Entry{
		Name:        "bunny",
		Module:      "github.com/libdns/bunny",
		New:         func() any { return new(bunny.Provider) },
		Credentials: []string{"access_key"},
		Required:    []Field{{"access_key", "a bunny.net API key, as {secretKeyRef: {name, key}}"}},
		Strategy:    Exact,
		Zones:       zonesListed + " (the first page of zones only)",
		Test:        Constructed,
		HTTP:        httpDefaultTransport,
		Quirks: []string{
			"debug prints every record to the webhook's stdout: refused",
			"a delete removes the first record holding the value only: Present reads the zone first and adds nothing when the value is there, so no duplicate is left behind",
			"an error response's body is never closed, so its connection is not reused",
		},
		Example: "access_key: {secretKeyRef: {name: bunny-api, key: access-key}}\n",
		Build:   buildBunny,
	}
}

func buildBunny(v any, env Env) (Writer, error) {
	p := v.(*bunny.Provider)
	if p.Debug {
		return nil, fmt.Errorf("config.%s.debug: is not allowed: the library would print every record to the webhook's stdout; remove it", env.Path)
	}
	return bunnyEntry().writer(&libdnsWriter{p: p, skipPresent: true}, env, nil, false), nil
}
