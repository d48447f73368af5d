package providertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeazuredns"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakegodaddy"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakegoogledns"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakehetzner"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeionos"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
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

func TestGoogleCloudDNSAgainstItsFake(t *testing.T) {
	t.Parallel()
	const account = "dns-writer@fake-project.iam.gserviceaccount.com"
	// One zone a page, so that discovery pages; a private zone deeper than the public one, which discovery must
	// not take; and a zone of another name.
	g, err := fakegoogledns.Start(fakegoogledns.WithServiceAccount(account), fakegoogledns.WithPageSizes(0, 1),
		fakegoogledns.WithZone("other-test", "other.test."), fakegoogledns.WithZone("google-test", "google.test."),
		fakegoogledns.WithPrivateZone("validation-private", "validation.google.test."))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	key, err := g.CredentialsJSON(account)
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed key of an account this project does not know (the fake echoes its email).
	stranger, err := fakegoogledns.Start(fakegoogledns.WithServiceAccount("intruder@elsewhere.iam.gserviceaccount.com"))
	if err != nil {
		t.Fatal(err)
	}
	strangerKey, err := stranger.CredentialsJSON("intruder@elsewhere.iam.gserviceaccount.com")
	stranger.Close()
	if err != nil {
		t.Fatal(err)
	}
	block := func(name string) string {
		return fmt.Sprintf(`{"googleclouddns":{"gcp_project":%q,"service_account_json":%s}}`, g.Project(), ref(name, "key.json"))
	}
	Run(t, Case{
		Block: block("gcp"), Secrets: map[string]map[string]string{"gcp": {"key.json": string(key)}},
		BadBlock: block("gcp-bad"), BadSecrets: map[string]map[string]string{"gcp-bad": {"key.json": string(strangerKey)}},
		Credentials: []string{privateKeyOf(t, key), privateKeyOf(t, strangerKey)},
		Zone:        "google.test.", HTTPClient: g.Client(),
		Values: func(_ testing.TB, fqdn string) []string { return g.TXT(fqdn) },
	})
}

// privateKeyOf returns the base64 body of a service account key's PEM private key, which no error may show.
func privateKeyOf(t *testing.T, key []byte) string {
	t.Helper()
	var k struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(key, &k); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(k.PrivateKey), "\n")
	if len(lines) < 3 {
		t.Fatalf("private key of %d lines", len(lines))
	}
	return lines[1]
}

// TestHetznerAgainstItsFake runs the contract twice: against the fake's lenient answers, and against its strict
// ones (a value already there is 409, an absent one 404) with each action keeping the zone locked for a moment
// (423 locked, which hcloud-go does not retry). libdns/hetzner uses http.DefaultTransport: the router sends
// api.hetzner.cloud to the fake through the webhook's own transport, as main installs it, so that its request
// bookkeeping is part of the test. The two runs share that host, so they run one after the other.
func TestHetznerAgainstItsFake(t *testing.T) {
	t.Parallel()
	const token = "hetzner-contract-token-0123456789abcdef"
	for _, tt := range []struct {
		name string
		opts []fakehetzner.Option
	}{
		{"lenient", nil},
		{"strict and locking", []fakehetzner.Option{fakehetzner.WithStrictRecords(), fakehetzner.WithZoneLocking(),
			fakehetzner.WithActionDuration(20 * time.Millisecond)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := fakehetzner.Start(append([]fakehetzner.Option{fakehetzner.WithToken(token),
				fakehetzner.WithZone("hetzner.test"), fakehetzner.WithZone("other.test")}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(h.Close)
			routes.add(providers.Transport(h.Transport()), h.Hosts()...)
			block := func(name string) string { return fmt.Sprintf(`{"hetzner":{"api_token":%s}}`, ref(name, "token")) }
			Run(t, Case{
				Block: block("hcloud"), Secrets: map[string]map[string]string{"hcloud": {"token": token}},
				BadBlock: block("hcloud-bad"), BadSecrets: map[string]map[string]string{"hcloud-bad": {"token": "not-the-hetzner-token-0123"}},
				Zone: "hetzner.test.", Values: func(_ testing.TB, fqdn string) []string { return h.TXT(fqdn) },
			})
			t.Run("two ttls at one alias are explained", func(t *testing.T) {
				s := NewSolver(t, nil, 0, nil, map[string]map[string]string{"hcloud": {"token": token}})
				call := func(ttl int, key string) *whapi.ChallengeRequest {
					cfg := fmt.Sprintf(`{"verifyDelegation":"Off","domainAlias":"ttl.hetzner.test","ttl":%d,"aliasProvider":%s}`, ttl, block("hcloud"))
					return &whapi.ChallengeRequest{UID: "uid", DNSName: "example.com", Key: key, ResolvedFQDN: "_acme-challenge.example.com.",
						ResolvedZone: "example.com.", ResourceNamespace: Namespace, Config: &apiextensionsv1.JSON{Raw: []byte(cfg)}}
				}
				if err := s.Present(call(60, Key(1))); err != nil {
					t.Fatal(err)
				}
				err := s.Present(call(120, Key(2)))
				if err == nil || !strings.Contains(err.Error(), "one TTL per RRset") {
					t.Errorf("a second ttl at one alias: %v", err)
				}
				if err := s.CleanUp(call(60, Key(1))); err != nil {
					t.Fatal(err)
				}
				if got := h.TXT("_acme-challenge.ttl.hetzner.test."); len(got) != 0 {
					t.Errorf("left behind: %q", got)
				}
			})
		})
	}
}

// TestIONOSAgainstItsFake: the library's append uses http.DefaultTransport (the router, through the webhook's own
// transport, as main installs it); reads and deletes use the webhook's client.
func TestIONOSAgainstItsFake(t *testing.T) {
	t.Parallel()
	const key = "c0ffee0123456789.ionos-contract-secret-0123456789abcdef"
	f, err := fakeionos.Start(fakeionos.WithAPIKey(key), fakeionos.WithZone("ionos.test"), fakeionos.WithZone("other.test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	routes.add(providers.Transport(f.Transport()), f.Hosts()...)
	block := func(name string) string { return fmt.Sprintf(`{"ionos":{"auth_api_token":%s}}`, ref(name, "key")) }
	Run(t, Case{
		Block: block("ionos"), Secrets: map[string]map[string]string{"ionos": {"key": key}},
		BadBlock: block("ionos-bad"), BadSecrets: map[string]map[string]string{"ionos-bad": {"key": "badbad01.not-the-ionos-secret-0123"}},
		Zone: "ionos.test.", HTTPClient: f.Client(),
		Values: func(_ testing.TB, fqdn string) []string { return f.TXT(fqdn) },
	})
	// IONOS refuses an identical record (400, whose body the library drops): an append that loses the race to an
	// identical one made meanwhile must still succeed, found by the read after it.
	t.Run("an append that meets its own value is success", func(t *testing.T) {
		s := NewSolver(t, f.Client(), 0, nil, map[string]map[string]string{"ionos": {"key": key}})
		cfg := fmt.Sprintf(`{"verifyDelegation":"Off","domainAlias":"race.ionos.test","aliasProvider":%s}`, block("ionos"))
		ch := &whapi.ChallengeRequest{UID: "uid", DNSName: "example.com", Key: Key(7), ResolvedFQDN: "_acme-challenge.example.com.",
			ResolvedZone: "example.com.", ResourceNamespace: Namespace, Config: &apiextensionsv1.JSON{Raw: []byte(cfg)}}
		f.Slow(1, 1500*time.Millisecond, fakeapi.Match{Method: http.MethodPost})
		done := make(chan error, 1)
		go func() { done <- s.Present(ch) }()
		time.Sleep(500 * time.Millisecond) // the Present's append is held by the fake by now
		id, _ := f.ZoneID("ionos.test")
		req, _ := http.NewRequest(http.MethodPost, "https://"+fakeionos.APIHost+fakeionos.BasePath+"/zones/"+id+"/records",
			strings.NewReader(fmt.Sprintf(`[{"name":"_acme-challenge.race.ionos.test","type":"TXT","content":%q,"ttl":60}]`, Key(7))))
		req.Header.Set("X-API-Key", key)
		resp, err := f.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("the competing append: HTTP %d", resp.StatusCode)
		}
		if err := <-done; err != nil {
			t.Fatalf("Present that met its own value: %v", err)
		}
		if got := f.TXT("_acme-challenge.race.ionos.test."); len(got) != 1 || got[0] != Key(7) {
			t.Errorf("holds %q", got)
		}
		var refused bool
		for _, r := range f.Requests() {
			refused = refused || r.Method == http.MethodPost && r.Status == http.StatusBadRequest
		}
		if !refused {
			t.Error("the Present's append was not refused as a duplicate: the race did not happen")
		}
		if err := s.CleanUp(ch); err != nil {
			t.Fatal(err)
		}
		if got := f.TXT("_acme-challenge.race.ionos.test."); len(got) != 0 {
			t.Errorf("left behind: %q", got)
		}
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
