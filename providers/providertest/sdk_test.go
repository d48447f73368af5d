package providertest

import (
	"fmt"
	"testing"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakegodaddy"
)

// The providers below are driven through a vendor SDK or the webhook's own client of the vendor's API, not (or not
// only) through their libdns library: each case reaches its fake through the webhook's HTTP client, and, where a
// library uses http.DefaultTransport, through the router TestMain installs there.

func TestGoDaddyAgainstItsFake(t *testing.T) {
	t.Parallel()
	const key, secret = "gd-contract-key-0123", "gd-contract-secret-0123456789abcdef"
	g, err := fakegodaddy.Start(fakegodaddy.WithAPIKey(key, secret),
		fakegodaddy.WithDomain("godaddy.test"), fakegodaddy.WithDomain("other.test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	block := func(name string) string { return fmt.Sprintf(`{"godaddy":{"api_token":%s}}`, ref(name, "token")) }
	Run(t, Case{
		Block: block("gd"), Secrets: map[string]map[string]string{"gd": {"token": key + ":" + secret}},
		BadBlock: block("gd-bad"), BadSecrets: map[string]map[string]string{"gd-bad": {"token": key + ":not-the-godaddy-secret-01"}},
		Credentials: []string{secret},
		Zone:        "godaddy.test.", HTTPClient: g.Client(),
		Values: func(_ testing.TB, fqdn string) []string { return g.TXT(fqdn) },
	})
}
