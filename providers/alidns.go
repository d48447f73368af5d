//go:build !minimal

package providers

import (
	"context"
	"strings"

	"github.com/libdns/alidns"
	"github.com/libdns/libdns"
)

func alidnsEntry() *Entry {
	return &Entry{
		Name:   "alidns",
		Module: "github.com/libdns/alidns",
		// libdns/alidns embeds its fields (CredentialInfo); the registry reads top-level fields, so the config is
		// the same fields, flat.
		New:         func() any { return new(alidnsConfig) },
		Credentials: []string{"access_key_secret", "security_token"},
		Required: []Field{
			{"access_key_id", "the Alibaba Cloud AccessKey ID"},
			{"access_key_secret", "the AccessKey secret, as {secretKeyRef: {name, key}}"},
		},
		Strategy: Exact,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     httpDefaultClient,
		Quirks: []string{
			"the provider value keeps one single-use signed request schema and replaces it on every call, so two concurrent calls on one value sign and send each other's requests: each call gets a provider value of its own",
			"every write first looks the domain up with context.Background(): each call's wait is bounded by its deadline (the request goes on in the background, each attempt bounded to 20 s by the webhook's transport)",
			"a delete looks the record up by name, type and value (a server-side search), then deletes that one ID; a value already gone (\"not found\") counts as success",
			"region_id is only defaulted, never used for the host (always alidns.aliyuncs.com) or the signature: not an endpoint",
			"the library raises a ttl under 600 to 600 unless the domain is on an enterprise edition",
		},
		Example: "access_key_id: LTAI5tExampleKeyId\naccess_key_secret: {secretKeyRef: {name: alidns-key, key: access-key-secret}}\n",
		Build:   buildAlidns,
	}
}

// alidnsConfig is alidns.CredentialInfo with the same JSON field names, not embedded.
type alidnsConfig struct {
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"access_key_secret"`
	RegionID        string `json:"region_id,omitempty"`
	SecurityToken   string `json:"security_token,omitempty"`
}

func buildAlidns(v any, env Env) (Writer, error) {
	c := v.(*alidnsConfig)
	cred := alidns.CredentialInfo{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret, RegionID: c.RegionID, SecurityToken: c.SecurityToken}
	// A fresh provider value per call: libdns/alidns overwrites the value's client, and with it the signed
	// request being built, on every call.
	fresh := func() *alidns.Provider { return &alidns.Provider{CredentialInfo: cred} }
	a := &adapter{
		appendRecs: func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
			return untilDeadline(ctx, func() ([]libdns.Record, error) { return fresh().AppendRecords(ctx, zone, recs) })
		},
		deleteRecs: goneIsDeleted(func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
			return untilDeadline(ctx, func() ([]libdns.Record, error) { return fresh().DeleteRecords(ctx, zone, recs) })
		}, alidnsGone),
		get: func(ctx context.Context, zone string) ([]libdns.Record, error) {
			return untilDeadline(ctx, func() ([]libdns.Record, error) { return fresh().GetRecords(ctx, zone) })
		},
	}
	return alidnsEntry().writer(&libdnsWriter{p: a}, env, nil, false), nil
}

// alidnsGone is libdns/alidns's error for a delete whose server-side search found no record holding the value.
func alidnsGone(err error) bool {
	return strings.Contains(err.Error(), "the Record Name of the domain not found")
}
