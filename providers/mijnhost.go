//go:build !minimal

package providers

import (
	"fmt"
	"io"
	"net/url"

	"github.com/libdns/mijnhost"
)

func mijnhostEntry() *Entry {
	return &Entry{
		Name:        "mijnhost",
		Module:      "github.com/libdns/mijnhost",
		New:         func() any { return new(mijnhost.Provider) },
		Credentials: []string{"api_key"},
		// The issuer may point the API key at another base URI.
		Endpoints: []string{"base_uri"},
		Required:  []Field{{"api_key", "a mijn.host API key, as {secretKeyRef: {name, key}}"}},
		Strategy:  Set,
		Zones:     zonesListed,
		Test:      Constructed,
		HTTP:      "http.DefaultTransport (captured at the first call), which the webhook replaces with its own",
		Quirks: []string{
			"every append and delete reads the whole zone and PUTs back the complete record list: the set strategy's Lease lock covers the whole zone (any other tool writing the zone at the same time can still lose a change)",
			"each rewrite sends every record of the zone with a TTL of 0 or above 86400 as 3600",
			"debug_level 2 and up dumps every request, api-key header included, to stdout: only 0 is allowed, and the debug output is discarded",
			"base_uri is an endpoint the issuer chooses: it must be an http(s) URL, and the API key is sent there only if the Secret's endpoints annotation lists it",
		},
		Example: "api_key: {secretKeyRef: {name: mijnhost-api, key: api-key}}\n",
		Build:   buildMijnhost,
	}
}

func buildMijnhost(v any, env Env) (Writer, error) {
	p := v.(*mijnhost.Provider)
	if p.BaseUri != nil {
		if err := checkHTTPURL(env.Path, "base_uri", (*url.URL)(p.BaseUri).String(), "https://mijn.host/api/v2/"); err != nil {
			return nil, err
		}
	}
	if p.DebugLevel != 0 {
		return nil, fmt.Errorf("config.%s.debug_level: is not allowed: the library would print every request, API key included, to the webhook's stdout; remove it", env.Path)
	}
	p.DebugOut = io.Discard
	return mijnhostEntry().writer(&libdnsWriter{p: p}, env, nil, true), nil
}
