//go:build !minimal

package providers

import (
	"fmt"

	"github.com/libdns/directadmin"
	"go.uber.org/zap"
)

func directadminEntry() *Entry {
	return &Entry{
		Name:        "directadmin",
		Module:      "github.com/libdns/directadmin",
		New:         func() any { return new(directadmin.Provider) },
		Credentials: []string{"login_key"},
		// The issuer names the DirectAdmin server the login key is sent to.
		Endpoints: []string{"host"},
		Required: []Field{
			{"host", "the DirectAdmin server's URL, e.g. https://da.example.org:2222"},
			{"user", "the DirectAdmin user the login key belongs to"},
			{"login_key", "a DirectAdmin login key allowed CMD_API_SHOW_DOMAINS and CMD_API_DNS_CONTROL, as {secretKeyRef: {name, key}}"},
		},
		Strategy: Exact,
		Zones:    zonesNone + "; the library itself moves a name into the managed parent domain",
		Test:     Constructed,
		// A new &http.Transport{} per request, not reachable from outside.
		HTTP: "the library builds a bare transport per request: HTTPS_PROXY is not honoured and the webhook's retries do not apply",
		Quirks: []string{
			"host is an endpoint the issuer chooses: it must be an http(s) URL, and the login key is sent there only if the Secret's endpoints annotation lists it",
			"insecure_requests turns TLS verification off for the login key's requests: refused",
			"without a logger the library builds a production zap logger on every call, writing JSON to stderr: a no-op logger is set",
			"each request leaves an idle connection of its own transport open until the server closes it",
		},
		Example: "host: https://da.example.org:2222\nuser: admin\nlogin_key: {secretKeyRef: {name: directadmin-login, key: login-key}}\n",
		Build:   buildDirectAdmin,
	}
}

func buildDirectAdmin(v any, env Env) (Writer, error) {
	p := v.(*directadmin.Provider)
	if err := checkHTTPURL(env.Path, "host", p.ServerURL, "https://da.example.org:2222"); err != nil {
		return nil, err
	}
	if p.InsecureRequests {
		return nil, fmt.Errorf("config.%s.insecure_requests: is not allowed: it would send the login key without verifying the server's certificate; give the server a certificate the webhook trusts (SSL_CERT_FILE)", env.Path)
	}
	p.Logger = zap.NewNop()
	return directadminEntry().writer(&libdnsWriter{p: p}, env, nil, false), nil
}
