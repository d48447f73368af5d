//go:build !minimal

package providers

import (
	"fmt"
	"strings"
	"time"

	"github.com/libdns/cloudns"
)

func cloudnsEntry() *Entry {
	return &Entry{
		Name:        "cloudns",
		Module:      "github.com/libdns/cloudns",
		New:         func() any { return new(cloudns.Provider) },
		Credentials: []string{"auth_password"},
		Required:    []Field{{"auth_password", "the password of the ClouDNS API user or sub-user, as {secretKeyRef: {name, key}}"}},
		// ClouDNS rounds a TTL up to its own steps, the smallest being 60 s.
		MinTTL:   60 * time.Second,
		Strategy: Exact,
		Zones:    zonesListed,
		Test:     Constructed,
		HTTP:     "the webhook's client (the library takes one)",
		Quirks: []string{
			"exactly one of auth_id, sub_auth_id and sub_auth_user names the API user: checked, so a config naming two cannot have the library pick one silently",
			"the library's own retries (5 attempts, up to 30 s apart) are turned off: the webhook's transport retries within the call's deadline",
			"an add repeated after a lost response would be refused as a duplicate: Present reads the zone first and adds nothing when the value is there",
		},
		Example: "auth_id: \"12345\"\nauth_password: {secretKeyRef: {name: cloudns-api, key: password}}\n",
		Build:   buildClouDNS,
	}
}

func buildClouDNS(v any, env Env) (Writer, error) {
	p := v.(*cloudns.Provider)
	var set []string
	for _, f := range []struct{ name, v string }{{"auth_id", p.AuthId}, {"sub_auth_id", p.SubAuthId}, {"sub_auth_user", p.SubAuthUser}} {
		if strings.TrimSpace(f.v) != "" {
			set = append(set, f.name)
		}
	}
	if len(set) != 1 {
		return nil, fmt.Errorf("config.%s: set exactly one of auth_id, sub_auth_id and sub_auth_user (the ClouDNS API user), not %d", env.Path, len(set))
	}
	p.HTTPClient = env.Client()
	p.OperationRetries = 1
	return cloudnsEntry().writer(&libdnsWriter{p: p, skipPresent: true, httpPaced: true}, env, nil, false), nil
}
