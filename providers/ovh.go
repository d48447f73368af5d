//go:build !minimal

package providers

import (
	"fmt"
	"strings"

	libovh "github.com/libdns/ovh"
	"github.com/ovh/go-ovh/ovh"
)

func ovhEntry() *Entry {
	return &Entry{
		Name:        "ovh",
		Module:      "github.com/libdns/ovh",
		New:         func() any { return new(libovh.Provider) },
		Credentials: []string{"application_secret", "consumer_key"},
		// An OVH endpoint name (ovh-eu, ovh-ca, …) or any URL: the issuer chooses where the keys go.
		Endpoints: []string{"endpoint"},
		Required: []Field{
			{"application_key", "the OVH application key"},
			{"application_secret", "the OVH application secret, as {secretKeyRef: {name, key}}"},
			{"consumer_key", "an OVH consumer key allowed /domain/zone/*, as {secretKeyRef: {name, key}}"},
		},
		Strategy: Exact,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     "http.DefaultTransport (go-ovh's plain http.Client), which the webhook replaces with its own",
		Env:      []string{"OVH_ACCESS_TOKEN, OVH_CLIENT_ID, OVH_CLIENT_SECRET and ./ovh.conf, ~/.ovh.conf, /etc/ovh.conf (go-ovh reads them; any of them set makes the build fail with \"multiple authentication methods\")"},
		Quirks: []string{
			"go-ovh fills every empty field from OVH_* variables and ovh.conf files, the endpoint included: all three keys are required, and an empty endpoint is set to ovh-eu explicitly",
			"endpoint is an endpoint the issuer chooses: one of go-ovh's names (ovh-eu, ovh-ca, ovh-us, kimsufi-eu, kimsufi-ca, soyoustart-eu, soyoustart-ca) or an https URL, and the keys are sent there only if the Secret's endpoints annotation lists the value as written",
			"the first signed call fetches /auth/time without the context: each call's wait is bounded by its deadline",
			"reading a zone costs one call per record (N+1)",
		},
		Example: "endpoint: ovh-eu\napplication_key: 1a2b3c4d5e6f7a8b\napplication_secret: {secretKeyRef: {name: ovh-api, key: application-secret}}\n" +
			"consumer_key: {secretKeyRef: {name: ovh-api, key: consumer-key}}\n",
		Build: buildOVH,
	}
}

func buildOVH(v any, env Env) (Writer, error) {
	p := v.(*libovh.Provider)
	switch {
	case p.Endpoint == "":
		p.Endpoint = "ovh-eu"
	case strings.Contains(p.Endpoint, "/"):
		if err := checkHTTPURL(env.Path, "endpoint", p.Endpoint, "https://eu.api.ovh.com/1.0"); err != nil {
			return nil, err
		}
		if strings.HasSuffix(p.Endpoint, "/") {
			return nil, fmt.Errorf("config.%s.endpoint: %q ends with a slash, which go-ovh refuses", env.Path, p.Endpoint)
		}
	case ovh.Endpoints[p.Endpoint] == "":
		return nil, fmt.Errorf("config.%s.endpoint: %q is neither an OVH endpoint name (ovh-eu, ovh-ca, ovh-us, kimsufi-eu, kimsufi-ca, soyoustart-eu, soyoustart-ca) nor a URL", env.Path, p.Endpoint)
	}
	return ovhEntry().writer(&libdnsWriter{p: deadlineBound(p)}, env, nil, false), nil
}
