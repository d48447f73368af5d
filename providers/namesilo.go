//go:build !minimal

package providers

import (
	"strings"
	"time"

	"github.com/libdns/namesilo"
)

func namesiloEntry() *Entry {
	return &Entry{
		Name:        "namesilo",
		Module:      "github.com/libdns/namesilo",
		New:         func() any { return new(namesilo.Provider) },
		Credentials: []string{"api_token"},
		Required:    []Field{{"api_token", "a NameSilo API key, as {secretKeyRef: {name, key}}"}},
		// NameSilo refuses a TTL under 3600 s.
		MinTTL:   3600 * time.Second,
		Strategy: Exact,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     httpDefaultClient,
		Quirks: []string{
			"the API key travels in the URL's query, as NameSilo's API requires: any proxy or access log on the way sees it (the webhook's own errors carry only the path)",
			"a delete removes the first record holding the value only: Present reads the domain first and adds nothing when the value is there",
			"a delete of a value already gone is an error (\"record not found\"): it counts as success once a read of the domain confirms the value is not there",
			"minimum TTL 3600: a lower ttl is raised",
		},
		Example: "api_token: {secretKeyRef: {name: namesilo-api, key: api-key}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*namesilo.Provider)
			a := &adapter{lib: p, deleteRecs: goneIsDeleted(p.DeleteRecords, namesiloGone)}
			return namesiloEntry().writer(&libdnsWriter{p: a, skipPresent: true, verifyDelete: true}, env, nil, false), nil
		},
	}
}

// namesiloGone is libdns/namesilo's error for a delete that found no record holding the value.
func namesiloGone(err error) bool { return strings.HasPrefix(err.Error(), "record not found: ") }
