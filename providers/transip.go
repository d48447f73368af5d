//go:build !minimal

package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/libdns/libdns"
	"github.com/libdns/transip"
	"github.com/libdns/transip/client"
)

func transipEntry() *Entry {
	return &Entry{
		Name:        "transip",
		Module:      "github.com/libdns/transip",
		New:         func() any { return new(transip.Provider) },
		Credentials: []string{"private_key"},
		// The issuer may point the key's signed logins at another base URI.
		Endpoints: []string{"base_uri"},
		Required: []Field{
			{"login", "the TransIP account's login name"},
			{"private_key", "the API key pair's private key in PEM (-----BEGIN PRIVATE KEY-----), as {secretKeyRef: {name, key}}"},
		},
		Strategy: Exact,
		Zones:    zonesListed,
		Test:     Constructed,
		HTTP:     "http.DefaultTransport (captured at the first call), which the webhook replaces with its own",
		Quirks: []string{
			"private_key is read as a file path when it is not a PEM key: every call checks that it is an inline PEM key first, so no issuer can make the webhook read a file",
			"token_storage writes bearer tokens to a directory ($TMPDIR/transip by default): only memory is allowed, and it is set",
			"debug_level 2 and up dumps every request, Authorization header included, to stdout: only 0 is allowed, and the debug output is discarded",
			"client_control_mode full PUTs the whole zone on every change (a zone-wide race): only the default, one entry per call, is allowed; then a delete removes exactly the stored entry holding the value",
			"base_uri is an endpoint the issuer chooses: it must be an http(s) URL, and the key's logins go there only if the Secret's endpoints annotation lists it",
			"TransIP stores a TTL of 0 or above 86400 as 3600",
		},
		Example: "login: acme\nprivate_key: {secretKeyRef: {name: transip-key, key: private-key}}\n",
		Build:   buildTransIP,
	}
}

func buildTransIP(v any, env Env) (Writer, error) {
	p := v.(*transip.Provider)
	if p.BaseUri != nil {
		if err := checkHTTPURL(env.Path, "base_uri", (*url.URL)(p.BaseUri).String(), "https://api.transip.nl/v6/"); err != nil {
			return nil, err
		}
	}
	var errs []error
	if p.TokenStorage != "" && p.TokenStorage != "memory" {
		errs = append(errs, fmt.Errorf("config.%s.token_storage: only memory is allowed: the library would write bearer tokens to a directory of the webhook's pod", env.Path))
	}
	if p.DebugLevel != 0 {
		errs = append(errs, fmt.Errorf("config.%s.debug_level: is not allowed: the library would print every request, bearer token included, to the webhook's stdout; remove it", env.Path))
	}
	if p.ClientControl != client.RecordLevelControl {
		errs = append(errs, fmt.Errorf("config.%s.client_control_mode: only the default is allowed: full zone control rewrites the whole zone on every change, which can drop a value written at the same time", env.Path))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.TokenStorage, p.DebugOut = "memory", io.Discard
	path := env.Path
	// The library reads private_key as a file when it is not PEM; it reads it on its first login, so the check
	// comes before every call.
	keyed := func(ctx context.Context) error {
		if !strings.HasPrefix(strings.TrimSpace(p.PrivateKey), "-----BEGIN") {
			return fmt.Errorf("config.%s.private_key: is not a PEM private key (-----BEGIN PRIVATE KEY-----): the library would read it as a file path, which is not allowed", path)
		}
		return ctx.Err()
	}
	a := &adapter{
		lib: p,
		appendRecs: func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
			if err := keyed(ctx); err != nil {
				return nil, err
			}
			return p.AppendRecords(ctx, zone, recs)
		},
		deleteRecs: func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
			if err := keyed(ctx); err != nil {
				return nil, err
			}
			return p.DeleteRecords(ctx, zone, recs)
		},
		get: func(ctx context.Context, zone string) ([]libdns.Record, error) {
			if err := keyed(ctx); err != nil {
				return nil, err
			}
			return p.GetRecords(ctx, zone)
		},
	}
	zones := listedZones(func(ctx context.Context) ([]libdns.Zone, error) {
		if err := keyed(ctx); err != nil {
			return nil, err
		}
		return p.ListZones(ctx)
	})
	return transipEntry().writer(&libdnsWriter{p: a, zones: zones}, env, nil, false), nil
}
