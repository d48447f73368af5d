//go:build !minimal

package providers

import (
	"context"
	"time"

	"github.com/libdns/inwx"
	"github.com/libdns/libdns"
)

func inwxEntry() *Entry {
	return &Entry{
		Name:        "inwx",
		Module:      "github.com/libdns/inwx",
		New:         func() any { return new(inwx.Provider) },
		Credentials: []string{"password", "shared_secret"},
		// The issuer may point the account's password at another JSON-RPC endpoint (INWX's OTE is one).
		Endpoints: []string{"endpoint_url"},
		Required: []Field{
			{"username", "the INWX account's user name"},
			{"password", "the INWX account's password, as {secretKeyRef: {name, key}}"},
		},
		// INWX refuses a TTL under 300 s; the library raises it.
		MinTTL:   300 * time.Second,
		Strategy: Exact,
		Zones:    zonesNone,
		Test:     Constructed,
		// A new &http.Transport{} per login, not reachable from outside.
		HTTP: "the library builds a bare transport per call: HTTPS_PROXY is not honoured and the webhook's retries do not apply",
		Quirks: []string{
			"every call logs in and out on one session shared by the provider value, and a call's logout clears it under another call (a nil-pointer panic): each call gets a provider value of its own",
			"endpoint_url is an endpoint the issuer chooses: it must be an http(s) URL, and the password is sent there only if the Secret's endpoints annotation lists it",
			"with a Mobile TAN (shared_secret), INWX refuses a second login in the same 30 s TOTP window: such a call fails and cert-manager retries it",
			"response bodies are never closed and each call leaves an idle connection open until INWX closes it",
		},
		Example: "username: acme-user\npassword: {secretKeyRef: {name: inwx-account, key: password}}\n",
		Build:   buildINWX,
	}
}

func buildINWX(v any, env Env) (Writer, error) {
	cfg := v.(*inwx.Provider)
	if cfg.EndpointURL != "" {
		if err := checkHTTPURL(env.Path, "endpoint_url", cfg.EndpointURL, "https://api.ote.domrobot.com/jsonrpc/"); err != nil {
			return nil, err
		}
	}
	// A fresh provider value per call: libdns/inwx keeps one session in the value and drops it in each call's
	// deferred logout, whoever else is using it.
	fresh := func() *inwx.Provider {
		return &inwx.Provider{Username: cfg.Username, Password: cfg.Password, SharedSecret: cfg.SharedSecret, EndpointURL: cfg.EndpointURL}
	}
	a := &adapter{
		lib: cfg,
		appendRecs: func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
			return fresh().AppendRecords(ctx, zone, recs)
		},
		deleteRecs: func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
			return fresh().DeleteRecords(ctx, zone, recs)
		},
		get: func(ctx context.Context, zone string) ([]libdns.Record, error) { return fresh().GetRecords(ctx, zone) },
	}
	return inwxEntry().writer(&libdnsWriter{p: a}, env, nil, false), nil
}
