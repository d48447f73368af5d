package providertest

import (
	"fmt"
	"testing"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeazuredns"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakegodaddy"
)

// The providers below are driven through a vendor SDK or the webhook's own client of the vendor's API, not (or not
// only) through their libdns library: each case reaches its fake through the webhook's HTTP client, and, where a
// library uses http.DefaultTransport, through the router TestMain installs there.

func TestAzureAgainstItsFake(t *testing.T) {
	t.Parallel()
	const clientID, secret = "3c1f0d52-0000-4000-8000-0000000c11e7", "azure~contract~secret~0123456789abcdef"
	// Two zones, one inside the other: discovery must take the longest match.
	az, err := fakeazuredns.Start(fakeazuredns.WithClientSecret(clientID, secret),
		fakeazuredns.WithZone("dns-rg", "azure.test"), fakeazuredns.WithZone("dns-rg", "validation.azure.test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(az.Close)
	block := func(name string) string {
		return fmt.Sprintf(`{"azure":{"tenant_id":%q,"client_id":%q,"client_secret":%s,"subscription_id":%q,"resource_group_name":"dns-rg"}}`,
			az.Tenant(), clientID, ref(name, "secret"), az.Subscription())
	}
	Run(t, Case{
		Block: block("azure"), Secrets: map[string]map[string]string{"azure": {"secret": secret}},
		BadBlock: block("azure-bad"), BadSecrets: map[string]map[string]string{"azure-bad": {"secret": "not~the~azure~secret~0123"}},
		Zone: "azure.test.", HTTPClient: az.Client(),
		// Azure DNS holds at most 20 records in one record set.
		Concurrency: 20,
		Values: func(_ testing.TB, fqdn string) []string {
			if v := az.TXT(fqdn); len(v) > 0 {
				return v
			}
			return nil
		},
	})
}

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
