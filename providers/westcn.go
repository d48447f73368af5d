//go:build !minimal

package providers

import (
	"strings"

	"github.com/libdns/westcn"
)

func westcnEntry() *Entry {
	return &Entry{
		Name:        "westcn",
		Module:      "github.com/libdns/westcn",
		New:         func() any { return new(westcn.Provider) },
		Credentials: []string{"api_password"},
		Required: []Field{
			{"username", "the west.cn user name"},
			{"api_password", "the west.cn API password, as {secretKeyRef: {name, key}}"},
		},
		Strategy: Exact,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     httpDefaultClient,
		Quirks: []string{
			"panics on its first call when username or api_password is empty: both are required",
			"a delete removes the first record holding the value only: Present reads the zone first and adds nothing when the value is there",
			"a delete of a value already gone is an error: it counts as success once a read of the zone confirms the value is not there",
			"reads see the first 1000 records of the zone only",
		},
		Example: "username: acme\napi_password: {secretKeyRef: {name: westcn-api, key: api-password}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*westcn.Provider)
			a := &adapter{lib: p, deleteRecs: goneIsDeleted(p.DeleteRecords, westcnGone)}
			return westcnEntry().writer(&libdnsWriter{p: a, skipPresent: true, verifyDelete: true}, env, nil, false), nil
		},
	}
}

// westcnGone is libdns/westcn's error for a delete that found no record holding the value.
func westcnGone(err error) bool {
	return strings.HasPrefix(err.Error(), "record ") && strings.HasSuffix(err.Error(), " not found")
}
