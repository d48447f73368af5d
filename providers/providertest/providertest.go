// Package providertest is the contract every provider with a server or a fake is run through, the same cases
// for each: through the whole solver (config, Secrets, strategy, provider library, the vendor's API or server), an
// identical Present is success, the sibling value survives a CleanUp, a CleanUp of what is gone is success, an
// empty value is refused before any provider call, errors carry no credential even when the server echoes it,
// and fifty concurrent Presents at one name all land.
package providertest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"

	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// Namespace is where the case's Secrets live.
const Namespace = "issuer-ns"

// Case is one provider, reachable by the test.
type Case struct {
	// Block is the provider block JSON, e.g. {"cloudflare":{"api_token":{"secretKeyRef":{...}}}}.
	Block string
	// Secrets maps Secret names to their data; each is created labelled for the webhook, with Endpoints listed.
	Secrets map[string]map[string]string
	// Endpoints are listed in every Secret's endpoints annotation (the block's issuer-chosen endpoints).
	Endpoints []string
	// Zone is the delegation zone; the alias is "validation" under it unless Alias is set.
	Zone string
	// Alias is the domainAlias; default "validation.<Zone>". Its record is _acme-challenge.<Alias>.
	Alias string
	// AliasZone sets aliasZone in the config (for providers that cannot discover zones).
	AliasZone bool
	// HTTPClient is the solver's HTTP client (reaching the fake); nil: the default.
	HTTPClient *http.Client
	// Values returns the TXT values the provider holds at fqdn (from the fake, or the server by zone transfer).
	Values func(t testing.TB, fqdn string) []string
	// BadBlock is Block with a wrong credential in a Secret named in BadSecrets; the server refuses it, and may
	// echo it: the error must not show it.
	BadBlock string
	// BadSecrets are the Secrets BadBlock uses.
	BadSecrets map[string]map[string]string
	// Credentials are values that must never appear in an error.
	Credentials []string
	// Concurrency is how many Presents run at once at one name; default 50.
	Concurrency int
	// Timeout of each call; default 30 s.
	Timeout time.Duration
}

// Key returns a distinct 43-character DNS-01-shaped value.
func Key(i int) string { return fmt.Sprintf("p%042d", i) }

// Run runs the contract.
func Run(t *testing.T, c Case) {
	t.Helper()
	alias := c.Alias
	if alias == "" {
		alias = "validation." + strings.TrimSuffix(c.Zone, ".")
	}
	alias = strings.TrimSuffix(alias, ".")
	fqdn := "_acme-challenge." + alias + "."
	zoneField := ""
	if c.AliasZone {
		zoneField = fmt.Sprintf(`,"aliasZone":%q`, c.Zone)
	}
	config := func(block string) string {
		return fmt.Sprintf(`{"verifyDelegation":"Off","domainAlias":%q%s,"aliasProvider":%s}`, alias, zoneField, block)
	}
	s := NewSolver(t, c.HTTPClient, c.Timeout, c.Endpoints, c.Secrets, c.BadSecrets)
	ch := func(block, dnsName, value string) *whapi.ChallengeRequest {
		return &whapi.ChallengeRequest{UID: "uid", DNSName: dnsName, Key: value,
			ResolvedFQDN: "_acme-challenge." + dnsName + ".", ResolvedZone: dnsName + ".",
			ResourceNamespace: Namespace, Config: &apiextensionsv1.JSON{Raw: []byte(config(block))}}
	}
	good := c.Block
	expect := func(t *testing.T, want ...string) {
		t.Helper()
		got := c.Values(t, fqdn)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s holds %q, want %q", fqdn, got, want)
		}
	}

	t.Run("apex and wildcard: both values at once, each cleanup exact", func(t *testing.T) {
		apex, wild := ch(good, "example.com", Key(1)), ch(good, "example.com", Key(2))
		wild.DNSName = "*.example.com"
		for _, call := range []*whapi.ChallengeRequest{apex, wild, apex} { // the repeat is an identical Present
			if err := s.Present(call); err != nil {
				t.Fatalf("Present: %v", err)
			}
		}
		expect(t, Key(1), Key(2))
		if err := s.CleanUp(apex); err != nil {
			t.Fatalf("CleanUp: %v", err)
		}
		expect(t, Key(2))
		if err := s.CleanUp(apex); err != nil {
			t.Fatalf("CleanUp of a value already gone: %v", err)
		}
		if err := s.CleanUp(wild); err != nil {
			t.Fatalf("CleanUp: %v", err)
		}
		expect(t)
	})
	t.Run("an empty value is refused before any provider call", func(t *testing.T) {
		if err := s.Present(ch(good, "example.com", "")); err == nil || !strings.Contains(err.Error(), "challenge key is empty") {
			t.Fatalf("Present of an empty key: %v", err)
		}
		expect(t)
	})
	if c.BadBlock != "" {
		t.Run("errors carry no credential", func(t *testing.T) {
			err := s.Present(ch(c.BadBlock, "example.com", Key(9)))
			if err == nil {
				t.Fatal("Present with a wrong credential succeeded")
			}
			for _, secrets := range []map[string]map[string]string{c.BadSecrets, c.Secrets} {
				for _, data := range secrets {
					for _, v := range data {
						if len(v) >= 4 && strings.Contains(err.Error(), v) {
							t.Fatalf("the error shows a credential: %v", err)
						}
					}
				}
			}
			for _, v := range c.Credentials {
				if strings.Contains(err.Error(), v) {
					t.Fatalf("the error shows a credential: %v", err)
				}
			}
			expect(t)
		})
	}
	t.Run("concurrent Presents at one name all land", func(t *testing.T) {
		n := c.Concurrency
		if n == 0 {
			n = 50
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { errs[i] = s.Present(ch(good, fmt.Sprintf("z%d.example.com", i), Key(100+i))) })
		}
		wg.Wait()
		want := make([]string, n)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Present %d: %v", i, err)
			}
			want[i] = Key(100 + i)
		}
		expect(t, want...)
		// Clean up one: the other n-1 stay.
		if err := s.CleanUp(ch(good, "z0.example.com", Key(100))); err != nil {
			t.Fatal(err)
		}
		expect(t, want[1:]...)
		for i := 1; i < n; i++ {
			wg.Go(func() { errs[i] = s.CleanUp(ch(good, fmt.Sprintf("z%d.example.com", i), Key(100+i))) })
		}
		wg.Wait()
		for i, err := range errs[1:] {
			if err != nil {
				t.Fatalf("CleanUp %d: %v", i+1, err)
			}
		}
		expect(t)
	})
}

// NewSolver returns an initialised solver reading the given Secrets (labelled, endpoints listed) from a fake
// clientset, with its Leases in namespace "webhook".
func NewSolver(t testing.TB, client *http.Client, timeout time.Duration, endpoints []string, secrets ...map[string]map[string]string) *solver.Solver {
	t.Helper()
	var objs []runtime.Object
	var partial []runtime.Object
	for _, group := range secrets {
		for name, data := range group {
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, ResourceVersion: "1",
				Labels: map[string]string{solver.SecretLabel: "true"}}, Data: map[string][]byte{}}
			if len(endpoints) > 0 {
				sec.Annotations = map[string]string{solver.EndpointsAnnotation: strings.Join(endpoints, ",")}
			}
			for k, v := range data {
				sec.Data[k] = []byte(v)
			}
			objs = append(objs, sec)
			partial = append(partial, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: sec.ObjectMeta})
		}
	}
	scheme := runtime.NewScheme()
	_ = metav1.AddMetaToScheme(scheme)
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	// Pacing is not part of the contract (providers/pacer_test.go and the storm harness test it); fifty Presents at
	// once would wait on a provider's documented rate.
	s := &solver.Solver{HTTPClient: client, CallTimeout: timeout, Namespace: "webhook", NoPacing: true}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	s.InitializeWithClients(solver.Clients{Kube: fake.NewClientset(objs...), Metadata: metadatafake.NewSimpleMetadataClient(scheme, partial...)}, stop)
	return s
}
