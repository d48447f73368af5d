//go:build !minimal

package providers

import (
	"github.com/libdns/njalla"
)

func njallaEntry() *Entry {
	return &Entry{
		Name:        "njalla",
		Module:      "github.com/libdns/njalla",
		New:         func() any { return new(njalla.Provider) },
		Credentials: []string{"api_token"},
		Required:    []Field{{"api_token", "a Njalla API token, as {secretKeyRef: {name, key}}"}},
		Strategy:    Exact,
		Zones:       zonesNone,
		Test:        Constructed,
		HTTP:        "http.DefaultTransport (a new http.Client with a 30 s timeout per attempt), which the webhook replaces with its own",
		Quirks: []string{
			"a delete without the record's ID removes the first TXT at the name whatever its value: CleanUp reads the domain and deletes the records that hold the value by their IDs",
			"retries 5xx, 429 and network errors 3 times on top of the webhook's retries, within the call's deadline",
		},
		Example: "api_token: {secretKeyRef: {name: njalla-token, key: token}}\n",
		Build: func(v any, env Env) (Writer, error) {
			return njallaEntry().writer(&libdnsWriter{p: v.(*njalla.Provider), deleteByLookup: true}, env, nil, false), nil
		},
	}
}
