//go:build !minimal

package providers

import (
	"fmt"
	"net/url"

	"github.com/libdns/powerdns"
)

func powerdnsEntry() *Entry {
	return &Entry{
		Name:        "powerdns",
		Module:      "github.com/libdns/powerdns",
		New:         func() any { return new(powerdns.Provider) },
		Credentials: []string{"api_token"},
		Endpoints:   []string{"server_url"},
		Required: []Field{
			{"server_url", "the PowerDNS API's base URL, e.g. https://pdns.example.org:8081"},
			{"api_token", "the PowerDNS API key (X-API-Key), as {secretKeyRef: {name, key}}"},
		},
		Strategy:  Set,
		Unlimited: true,
		Zones:     "none: set aliasZone (or cert-manager's resolvedZone is used with Follow)",
		Test:      RealServer,
		HTTP:      "http.DefaultClient (go-powerdns), which goes through the webhook's transport",
		Quirks: []string{
			"every append and delete reads the zone and REPLACEs the whole RRset: concurrent writers lose values (proven against a real server), so writes take the set strategy's Lease lock",
			"panics on a server_url it cannot parse: the URL is checked first",
			"debug dumps requests with the API key: refused",
		},
		Example: "server_url: https://pdns.example.org:8081\nserver_id: localhost\napi_token: {secretKeyRef: {name: powerdns, key: api-key}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*powerdns.Provider)
			u, err := url.Parse(p.ServerURL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
				return nil, fmt.Errorf("config.%s.server_url: %q is not an http(s) URL such as https://pdns.example.org:8081", env.Path, p.ServerURL)
			}
			if p.Debug != "" {
				return nil, fmt.Errorf("config.%s.debug: is not allowed: the library would print every request, API key included, to the webhook's log; remove it", env.Path)
			}
			return powerdnsEntry().writer(&libdnsWriter{p: p}, env, nil, false), nil
		},
	}
}
