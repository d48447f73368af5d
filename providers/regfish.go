//go:build !minimal

package providers

import (
	"strings"

	"github.com/libdns/regfish"
)

func regfishEntry() *Entry {
	return &Entry{
		Name:   "regfish",
		Module: "github.com/libdns/regfish",
		New:    func() any { return new(regfish.Provider) },
		// The library's struct has no JSON tags: the field is named as in Go.
		Credentials: []string{"APIToken"},
		Required:    []Field{{"APIToken", "a regfish API key, as {secretKeyRef: {name, key}}"}},
		Strategy:    Exact,
		Zones:       zonesNone,
		Test:        Constructed,
		HTTP:        "http.DefaultTransport (regfish-dnsapi-go's plain http.Client), which the webhook replaces with its own",
		Quirks: []string{
			"no call takes a context and none has a timeout: each call's wait is bounded by its deadline (the request goes on in the background, each attempt bounded to 20 s by the webhook's transport)",
			"a delete removes the first record holding the value only: Present reads the zone first and adds nothing when the value is there",
			"a delete of a value already gone is an error: it counts as success once a read of the zone confirms the value is not there",
			"reading a record with an empty name panics in the library: recovered into an error",
		},
		Example: "APIToken: {secretKeyRef: {name: regfish-api, key: api-key}}\n",
		Build: func(v any, env Env) (Writer, error) {
			a := deadlineBound(v.(*regfish.Provider))
			a.deleteRecs = goneIsDeleted(a.deleteRecs, regfishGone)
			return regfishEntry().writer(&libdnsWriter{p: a, skipPresent: true, verifyDelete: true}, env, nil, false), nil
		},
	}
}

// regfishGone is libdns/regfish's error for a delete that found no record holding the value.
func regfishGone(err error) bool {
	return strings.HasPrefix(err.Error(), "record ") && strings.HasSuffix(err.Error(), " not found")
}
