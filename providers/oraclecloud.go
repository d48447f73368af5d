//go:build !minimal

package providers

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/libdns/oraclecloud"
)

// ociRegion is an OCI region identifier (us-ashburn-1, us-gov-ashburn-1, …) or its three-letter key (iad):
// the only shapes allowed into the API's host name, dns.<region>.<realm domain>.
var ociRegion = regexp.MustCompile(`^([a-z]{2}(-[a-z]+)+-[0-9]+|[a-z]{3})$`)

func oraclecloudEntry() *Entry {
	return &Entry{
		Name:        "oraclecloud",
		Module:      "github.com/libdns/oraclecloud",
		New:         func() any { return new(oraclecloud.Provider) },
		Credentials: []string{"private_key", "private_key_passphrase"},
		// The region becomes part of the API's host name.
		Endpoints: []string{"region"},
		Required: []Field{
			{"tenancy_ocid", "the OCID of the tenancy"},
			{"user_ocid", "the OCID of the API user"},
			{"fingerprint", "the fingerprint of the user's API signing key"},
			{"private_key", "the API signing key in PEM, as {secretKeyRef: {name, key}}"},
			{"region", "the OCI region of the DNS API, e.g. us-ashburn-1"},
		},
		Strategy: Exact,
		Zones:    zonesNone + " (or zone listing with compartment_id, which the webhook does not use)",
		Test:     Constructed,
		HTTP:     "the OCI SDK's own client (the library takes none): it honours HTTPS_PROXY; the SDK's retries stop at the call's deadline",
		Env:      []string{"OCI_* (SDK logging, retries, circuit breaker, region metadata: the operator's; credentials never come from them)", "~/.oci/regions-config.json (region metadata)"},
		Quirks: []string{
			"without inline credentials the library falls back to ~/.oci/config or OCI_CLI_* variables, and auth instance_principal asks the instance metadata service: every API-key field is required inline, auth may only be auto or api_key, and config_file, config_profile and private_key_path (files of the webhook's pod) are refused",
			"region is pasted into the API's host name (dns.<region>.oraclecloud.com): only an OCI region identifier or key is accepted, and the key signs requests there only if the Secret's endpoints annotation lists the region",
			"the SDK client is built once per provider value and a failure to build it (a bad key) is kept: a changed Secret builds a new one",
			"the OCI SDK is the largest dependency of any provider here (see the docs for its size)",
		},
		Example: "tenancy_ocid: ocid1.tenancy.oc1..aaaaexample\nuser_ocid: ocid1.user.oc1..aaaaexample\n" +
			"fingerprint: \"12:34:56:78:9a:bc:de:f0:12:34:56:78:9a:bc:de:f0\"\nregion: us-ashburn-1\n" +
			"private_key: {secretKeyRef: {name: oraclecloud-key, key: private-key}}\n",
		Build: buildOracleCloud,
	}
}

func buildOracleCloud(v any, env Env) (Writer, error) {
	p := v.(*oraclecloud.Provider)
	var errs []error
	switch strings.ToLower(strings.TrimSpace(p.Auth)) {
	case "", "auto", "api_key", "user_principal":
	default:
		errs = append(errs, fmt.Errorf("config.%s.auth: %q is not allowed: the webhook uses the API key given inline (auto or api_key); config files, environment variables and instance principals are the webhook pod's, not the issuer's", env.Path, p.Auth))
	}
	for _, f := range []struct{ name, v string }{{"config_file", p.ConfigFile}, {"config_profile", p.ConfigProfile}, {"private_key_path", p.PrivateKeyPath}} {
		if f.v != "" {
			errs = append(errs, fmt.Errorf("config.%s.%s: is not allowed: it names a file of the webhook's pod; give private_key from a Secret instead", env.Path, f.name))
		}
	}
	if !ociRegion.MatchString(p.Region) {
		errs = append(errs, fmt.Errorf("config.%s.region: %q is not an OCI region such as us-ashburn-1 (it becomes part of the API's host name)", env.Path, p.Region))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return oraclecloudEntry().writer(&libdnsWriter{p: p}, env, nil, false), nil
}
