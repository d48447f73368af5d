package solver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeacmedns"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

const (
	testNS   = "issuer-ns"
	cfToken  = "cf-token-0123456789abcdefghijklmnopqrstu"
	cfToken2 = "cf-token-rotated-456789abcdefghijklmnopq"
	alias    = "validation.example.org."
)

// key returns a distinct 43-character DNS-01-shaped value.
func key(i int) string { return fmt.Sprintf("k%042d", i) }

// secret returns a Secret labelled for the webhook.
func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, ResourceVersion: "1",
		Labels: map[string]string{SecretLabel: "true"}}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

type env struct {
	s      *Solver
	client *fake.Clientset
	bind   *testdns.BIND
	cf     *fakecloudflare.Server
}

// newEnv starts BIND (production zone example.com with a CNAME into the delegation zone) and a fake Cloudflare
// whose records are mirrored into BIND, and an initialised Solver reading Secrets from a fake clientset.
func newEnv(t testing.TB, objs ...runtime.Object) *env { return newEnvWith(t, nil, objs...) }

// newEnvWith is newEnv with the Solver's fields adjusted by configure before Initialize. Its BIND also serves
// prod.test, a production zone whose CNAMEs a test may change at run time.
func newEnvWith(t testing.TB, configure func(*Solver), objs ...runtime.Object) *env {
	t.Helper()
	b := testdns.Start(t,
		testdns.Zone{Name: "example.com.", Records: []string{"_acme-challenge IN CNAME _acme-challenge.validation.example.org."}},
		testdns.Zone{Name: "example.org.", Updatable: true},
		testdns.Zone{Name: alias, Updatable: true},
		testdns.Zone{Name: "direct.example.net.", Updatable: true},
		testdns.Zone{Name: "prod.test.", Dynamic: true},
	)
	cf := fakecloudflare.New(fakecloudflare.WithToken(cfToken), fakecloudflare.WithZone(alias))
	// More zones than one page of /zones holds, so that discovery must page.
	for i := range 60 {
		cf.AddZone(fmt.Sprintf("z%02d.example.net", i))
	}
	cf.Mirror = b
	if err := cf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cf.Close)
	tsig := secret("tsig", map[string]string{"secret": b.Secret})
	tsig.Annotations = map[string]string{EndpointsAnnotation: b.Addr}
	objs = append(objs,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}},
		tsig,
		secret("cloudflare", map[string]string{"api-token": cfToken}),
	)
	client := fake.NewClientset(objs...)
	meta := metadataFor(objs...)
	s := &Solver{HTTPClient: routed(map[string]*http.Client{fakecloudflare.APIHost: cf.Client()}), CallTimeout: 20 * time.Second, DNS: &dnscheck.Resolver{Servers: []string{b.Addr}}, Namespace: "webhook-ns"}
	// Pacing is tested on its own (providers/pacer_test.go, TestRateLimitIsShared, the storm harness): here fifty
	// concurrent calls would wait on Cloudflare's documented rate.
	s.NoPacing = true
	if configure != nil {
		configure(s)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	s.InitializeWithClients(Clients{Kube: client, Metadata: meta}, stop)
	return &env{s: s, client: client, bind: b, cf: cf}
}

func (e *env) rfc2136() string {
	return fmt.Sprintf(`{"rfc2136":{"server":%q,"key_name":%q,"key_alg":%q,"key":{"secretKeyRef":{"name":"tsig","key":"secret"}}}}`,
		e.bind.Addr, e.bind.KeyName, e.bind.KeyAlg)
}

const cloudflareBlock = `{"cloudflare":{"api_token":{"secretKeyRef":{"name":"cloudflare","key":"api-token"}}}}`

// routed sends requests for each host to its fake's client and every other request (to test servers on
// loopback) out as they are: the webhook sends every provider's traffic through the one client it is given.
func routed(fakes map[string]*http.Client) *http.Client {
	return &http.Client{Transport: routeTransport(fakes)}
}

type routeTransport map[string]*http.Client

func (rt routeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if c, ok := rt[r.URL.Hostname()]; ok {
		return c.Transport.RoundTrip(r)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// metadataFor is a metadata client that knows objs, as the webhook's metadata-only reads see them.
func metadataFor(objs ...runtime.Object) *metadatafake.FakeMetadataClient {
	scheme := runtime.NewScheme()
	_ = metav1.AddMetaToScheme(scheme)
	var partial []runtime.Object
	for _, o := range objs {
		if sec, ok := o.(*corev1.Secret); ok {
			partial = append(partial, &metav1.PartialObjectMetadata{
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: *sec.ObjectMeta.DeepCopy()})
		}
	}
	return metadatafake.NewSimpleMetadataClient(scheme, partial...)
}

func challenge(cfg, value string) *whapi.ChallengeRequest {
	return &whapi.ChallengeRequest{
		UID: "uid", DNSName: "example.com", Key: value,
		ResolvedFQDN: "_acme-challenge.example.com.", ResolvedZone: "example.com.",
		ResourceNamespace: testNS, Config: &apiextensionsv1.JSON{Raw: []byte(cfg)},
	}
}

// zoneTXT returns the TXT values BIND holds at name in zone.
func (e *env) zoneTXT(t *testing.T, zone, name string) []string {
	t.Helper()
	txt, err := e.bind.ZoneTXT(zone)
	if err != nil {
		t.Fatal(err)
	}
	return txt[name]
}

func TestPresentCleanUpThroughDelegation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name, cfg string
	}{
		{"rfc2136 as provider, zone found by SOA", `{"domainAlias":"validation.example.org","provider":` + e.rfc2136() + `}`},
		{"rfc2136 as aliasProvider, aliasZone given", `{"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + e.rfc2136() + `}`},
		{"cloudflare, zone found by paging /zones", `{"domainAlias":"validation.example.org","aliasProvider":` + cloudflareBlock + `}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apex, wildcard := challenge(tc.cfg, key(1)), challenge(tc.cfg, key(2))
			wildcard.DNSName = "*.example.com"
			for _, ch := range []*whapi.ChallengeRequest{apex, wildcard, apex} { // the repeat is idempotent
				if err := e.s.Present(ch); err != nil {
					t.Fatalf("Present: %v", err)
				}
			}
			if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); !slices.Equal(got, []string{key(1), key(2)}) {
				t.Fatalf("alias TXT = %q, want both values once", got)
			}
			// What the CA sees: the production name, through the CNAME.
			if got, _ := e.bind.LookupTXT("_acme-challenge.example.com."); !slices.Equal(got, []string{key(1), key(2)}) {
				t.Fatalf("TXT through the CNAME = %q", got)
			}
			if err := e.s.CleanUp(wildcard); err != nil {
				t.Fatalf("CleanUp: %v", err)
			}
			if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); !slices.Equal(got, []string{key(1)}) {
				t.Fatalf("after CleanUp of one, alias TXT = %q, want the sibling only", got)
			}
			for range 2 { // already gone is success
				if err := e.s.CleanUp(apex); err != nil {
					t.Fatalf("CleanUp: %v", err)
				}
			}
			if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); len(got) != 0 {
				t.Fatalf("after both CleanUps, alias TXT = %q", got)
			}
		})
	}
}

func TestDirectMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ch := challenge(`{"provider":`+e.rfc2136()+`}`, key(7))
	ch.DNSName, ch.ResolvedFQDN, ch.ResolvedZone = "direct.example.net", "_acme-challenge.direct.example.net.", "direct.example.net."
	if err := e.s.Present(ch); err != nil {
		t.Fatal(err)
	}
	if got := e.zoneTXT(t, "direct.example.net.", "_acme-challenge.direct.example.net."); !slices.Equal(got, []string{key(7)}) {
		t.Fatalf("TXT = %q", got)
	}
	if err := e.s.CleanUp(ch); err != nil {
		t.Fatal(err)
	}
	if got := e.zoneTXT(t, "direct.example.net.", "_acme-challenge.direct.example.net."); len(got) != 0 {
		t.Fatalf("TXT after CleanUp = %q", got)
	}
}

// TestConcurrentPresentsAtOneName: 50 distinct values presented at once at one name all land, and cleaning one
// up leaves the other 49.
func TestConcurrentPresentsAtOneName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct{ name, block string }{{"rfc2136", e.rfc2136()}, {"cloudflare", cloudflareBlock}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := `{"domainAlias":"validation.example.org","aliasProvider":` + tc.block + `}`
			const n = 50
			var wg sync.WaitGroup
			errs := make(chan error, n)
			var want []string
			for i := range n {
				want = append(want, key(100+i))
				wg.Go(func() { errs <- e.s.Present(challenge(cfg, key(100+i))) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); !slices.Equal(got, want) {
				t.Fatalf("%d values landed, want %d: %q", len(got), n, got)
			}
			if err := e.s.CleanUp(challenge(cfg, key(100))); err != nil {
				t.Fatal(err)
			}
			if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); !slices.Equal(got, want[1:]) {
				t.Fatalf("after one CleanUp: %d values, want %d", len(got), n-1)
			}
			errs = make(chan error, n)
			for i := 1; i < n; i++ {
				wg.Go(func() { errs <- e.s.CleanUp(challenge(cfg, key(100+i))) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); len(got) != 0 {
				t.Fatalf("after all CleanUps: %q", got)
			}
		})
	}
}

func TestCloudflareRateLimitIsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := `{"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + cloudflareBlock + `}`
	e.cf.RateLimit(2, time.Second, fakecloudflare.Match{Method: "POST"})
	if err := e.s.Present(challenge(cfg, key(1))); err != nil {
		t.Fatalf("Present after two 429s: %v", err)
	}
	if got := e.cf.CountRequests("POST", "/client/v4/zones/"); got != 3 {
		t.Fatalf("POST count = %d, want 3 (two 429s, one success)", got)
	}
	if err := e.s.CleanUp(challenge(cfg, key(1))); err != nil {
		t.Fatal(err)
	}
}

// TestCloudflareCleanUpDoesNotSwallowLookupErrors: libdns/cloudflare v0.2.2 drops the error of the lookup before
// a TXT delete and reports success having deleted nothing; the webhook must report the failure instead.
func TestCloudflareCleanUpDoesNotSwallowLookupErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.s.CallTimeout = 4 * time.Second
	e.s.InitializeWithClient(e.client, make(chan struct{}))
	cfg := `{"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + cloudflareBlock + `}`
	if err := e.s.Present(challenge(cfg, key(1))); err != nil {
		t.Fatal(err)
	}
	e.cf.RateLimit(100, 2*time.Second, fakecloudflare.Match{Method: "GET", PathPrefix: "/client/v4/zones/"})
	err := e.s.CleanUp(challenge(cfg, key(1)))
	if err == nil {
		t.Fatal("CleanUp reported success while every lookup was rate limited")
	}
	if !strings.Contains(err.Error(), "HTTP 429") || !strings.Contains(err.Error(), "config.aliasProvider.cloudflare") {
		t.Fatalf("error does not say what failed: %v", err)
	}
	if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); !slices.Equal(got, []string{key(1)}) {
		t.Fatalf("TXT = %q", got)
	}
}

func TestSecretChangeTakesEffectOnNextCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := `{"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":{"cloudflare":{"api_token":{"secretKeyRef":{"name":"rotating","key":"token"}}}}}`
	sec := secret("rotating", map[string]string{"token": cfToken2})
	if _, err := e.client.CoreV1().Secrets(testNS).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := e.s.Present(challenge(cfg, key(1)))
	if err == nil || !strings.Contains(err.Error(), "9109") {
		t.Fatalf("Present with a token Cloudflare does not know: %v", err)
	}
	if strings.Contains(err.Error(), cfToken2) {
		t.Fatalf("error leaks the token: %v", err)
	}
	sec.Data["token"], sec.ResourceVersion = []byte(cfToken), "2"
	if _, err := e.client.CoreV1().Secrets(testNS).Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = e.s.Present(challenge(cfg, key(1)))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the informer delivers the update asynchronously
	}
	if err != nil {
		t.Fatalf("Present after the Secret was fixed: %v", err)
	}
}

func TestBadInputFailsBeforeAnyProviderCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, secret("nokey", map[string]string{"other": "x", "another": "y"}))
	good := `{"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + cloudflareBlock + `}`
	cases := []struct {
		name string
		ch   func() *whapi.ChallengeRequest
		want []string
		// cleanUpOK: the request alone is invalid, so Present wrote nothing and CleanUp succeeds rather than
		// keep the Challenge's finalizer forever (its config is a copy that no fix of the issuer reaches).
		cleanUpOK bool
	}{
		{"empty key", func() *whapi.ChallengeRequest { return challenge(good, "") }, []string{"challenge key is empty"}, true},
		{"quote in key", func() *whapi.ChallengeRequest { return challenge(good, `a"b`) }, []string{"character"}, true},
		{"nil config", func() *whapi.ChallengeRequest { c := challenge(good, key(1)); c.Config = nil; return c }, []string{"config is empty"}, true},
		{"missing secret", func() *whapi.ChallengeRequest {
			return challenge(`{"domainAlias":"validation.example.org","aliasProvider":{"cloudflare":{"api_token":{"secretKeyRef":{"name":"absent","key":"t"}}}}}`, key(1))
		}, []string{"config.aliasProvider.cloudflare.api_token", `Secret "absent" not found in namespace "issuer-ns"`}, false},
		{"missing key in secret", func() *whapi.ChallengeRequest {
			return challenge(`{"domainAlias":"validation.example.org","aliasProvider":{"cloudflare":{"api_token":{"secretKeyRef":{"name":"nokey","key":"t"}}}}}`, key(1))
		}, []string{`Secret "nokey" in namespace "issuer-ns" has no key "t"`, "its keys: another, other"}, false},
		{"no namespace", func() *whapi.ChallengeRequest { c := challenge(good, key(1)); c.ResourceNamespace = ""; return c }, []string{"resourceNamespace"}, true},
		{"followed CNAME outside the alias", func() *whapi.ChallengeRequest {
			c := challenge(good, key(1))
			c.ResolvedFQDN, c.ResolvedZone = "_acme-challenge.elsewhere.example.net.", "example.net."
			return c
		}, []string{"outside config.domainAlias"}, true}, // CleanUp decisions: the CNAME changed since Present
		{"no delegation for an ACME-DNS provider", func() *whapi.ChallengeRequest {
			return challenge(`{"delegations":[{"domains":["other.test"],"domainAlias":"s.auth.acme-dns.test"}],"provider":{"acmedns":{"username":"u","subdomain":"s","server_url":"https://auth.acme-dns.test","password":{"secretKeyRef":{"name":"x","key":"y"}}}}}`, key(1))
		}, []string{"no delegation covers example.com and config.provider is acmedns"}, true},
		{"aliasZone not at the provider", func() *whapi.ChallengeRequest {
			return challenge(`{"domainAlias":"validation.example.org","aliasZone":"example.org","aliasProvider":`+cloudflareBlock+`}`, key(1))
		}, []string{"expected 1 zone, got 0", "has no zone example.org. that this token can see"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.cf.Requests())
			for _, call := range []struct {
				name string
				f    func(*whapi.ChallengeRequest) error
			}{{"Present", e.s.Present}, {"CleanUp", e.s.CleanUp}} {
				err := call.f(tc.ch())
				if call.name == "CleanUp" && tc.cleanUpOK {
					if err != nil {
						t.Errorf("CleanUp = %v, want success: Present refuses this request, so nothing was written", err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("%s: want an error", call.name)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not contain %q", call.name, err, w)
					}
				}
			}
			// A CleanUp whose CNAME changed since Present looks for the value in the alias zone: that is a provider call.
			if tc.name != "aliasZone not at the provider" && tc.name != "followed CNAME outside the alias" && len(e.cf.Requests()) != before {
				t.Errorf("bad input reached the provider: %d requests", len(e.cf.Requests())-before)
			}
		})
	}
	if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); len(got) != 0 {
		t.Fatalf("bad input left %q in DNS", got)
	}
}

func TestProviderRefusalsSayWhatToDo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// example.com is served read-only: BIND refuses the key there. (No CNAME leads there: the check is off.)
	cfg := `{"verifyDelegation":"Off","domainAlias":"alias.example.com","aliasProvider":` + e.rfc2136() + `}`
	err := e.s.Present(challenge(cfg, key(1)))
	if err == nil || !strings.Contains(err.Error(), "does not let key acme-update. update TXT records in zone example.com.") {
		t.Fatalf("error = %v", err)
	}
	// miekg/dns cannot sign with HMAC-MD5: refuse it up front rather than fail every update.
	md5 := strings.Replace(e.rfc2136(), `"key_alg":"hmac-sha256"`, `"key_alg":"hmac-md5"`, 1)
	err = e.s.Present(challenge(`{"domainAlias":"validation.example.org","aliasProvider":`+md5+`}`, key(1)))
	if err == nil || !strings.Contains(err.Error(), `config.aliasProvider.rfc2136.key_alg: "hmac-md5" is not a supported TSIG algorithm`) {
		t.Fatalf("error = %v", err)
	}
}

func TestZoneDiscoveryFailureSaysSetAliasZone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// No CNAME leads to that alias: the check is off, the test is about discovery.
	cfg := `{"verifyDelegation":"Off","domainAlias":"validation.not-served.example","aliasProvider":` + cloudflareBlock + `}`
	err := e.s.Present(challenge(cfg, key(1)))
	if err == nil || !strings.Contains(err.Error(), "set config.aliasZone") || !strings.Contains(err.Error(), "none of the 61 zones") {
		t.Fatalf("error = %v", err)
	}
	cfg = `{"verifyDelegation":"Off","domainAlias":"validation.not-served.example","aliasProvider":` + e.rfc2136() + `}`
	err = e.s.Present(challenge(cfg, key(1)))
	if err == nil || !strings.Contains(err.Error(), "set config.aliasZone") {
		t.Fatalf("error = %v", err)
	}
}

func TestUninitialisedSolverErrors(t *testing.T) {
	t.Parallel()
	s := &Solver{}
	if err := s.Present(challenge(`{}`, key(1))); err == nil || !strings.Contains(err.Error(), "not initialised") {
		t.Fatalf("Present = %v", err)
	}
	if err := s.CleanUp(nil); err == nil {
		t.Fatal("CleanUp(nil) succeeded")
	}
	if err := s.Initialize(nil, nil); err == nil {
		t.Fatal("Initialize(nil) succeeded")
	}
}

func TestReinitializeReplacesState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := `{"domainAlias":"validation.example.org","aliasProvider":` + e.rfc2136() + `}`
	if err := e.s.Present(challenge(cfg, key(1))); err != nil {
		t.Fatal(err)
	}
	old := e.s.state.Load()
	// A new apiserver without the TSIG Secret: nothing of the old cache may be reused.
	e.s.InitializeWithClients(Clients{Kube: fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}), Metadata: metadataFor()}, make(chan struct{}))
	if old.ctx.Err() == nil {
		t.Fatal("the old state's context was not cancelled")
	}
	err := e.s.CleanUp(challenge(cfg, key(1)))
	if err == nil || !strings.Contains(err.Error(), `Secret "tsig" not found`) {
		t.Fatalf("CleanUp on the new apiserver = %v, want the Secret to be looked up anew", err)
	}
}

func TestACMEDNS(t *testing.T) {
	t.Parallel()
	srv := fakeacmedns.Start(t, "auth.acme-dns.test")
	acct := srv.Register()
	other := srv.Register()
	pinned := func(s *corev1.Secret) *corev1.Secret {
		s.Annotations = map[string]string{EndpointsAnnotation: srv.URL}
		return s
	}
	client := fake.NewClientset(
		pinned(secret("acme-dns", map[string]string{"password": acct.Password})),
		pinned(secret("acme-dns-other", map[string]string{"password": other.Password})),
	)
	s := &Solver{DNS: &dnscheck.Resolver{Servers: []string{srv.DNSAddr}}, Namespace: "webhook-ns"}
	s.InitializeWithClient(client, make(chan struct{}))
	// The fake's DNS serves only the accounts' names, not the production CNAME: this test is about the provider.
	single := fmt.Sprintf(`{"verifyDelegation":"Off","domainAlias":%q,"provider":{"acmedns":{"username":%q,"subdomain":%q,"server_url":%q,"password":{"secretKeyRef":{"name":"acme-dns","key":"password"}}}}}`,
		acct.FullDomain, acct.Username, acct.Subdomain, srv.URL)
	perDomain := fmt.Sprintf(`{"verifyDelegation":"Off","delegations":[{"domains":["example.com"],"domainAlias":%q}],"provider":{"acmedns":{"config":{"example.com":{"username":%q,"subdomain":%q,"fulldomain":%q,"server_url":%q,"password":{"secretKeyRef":{"name":"acme-dns-other","key":"password"}}}}}}}`,
		other.FullDomain, other.Username, other.Subdomain, other.FullDomain, srv.URL)

	t.Run("apex and wildcard, repeated Present keeps both", func(t *testing.T) {
		apex, wild := challenge(single, key(1)), challenge(single, key(2))
		wild.DNSName = "*.example.com"
		for _, ch := range []*whapi.ChallengeRequest{apex, wild, wild, apex, wild} {
			if err := s.Present(ch); err != nil {
				t.Fatal(err)
			}
		}
		if got := srv.Values(acct.Subdomain); !slices.Equal(got, []string{key(1), key(2)}) {
			t.Fatalf("values = %q, want both", got)
		}
		if srv.Updates() != 2 {
			t.Fatalf("updates = %d, want 2 (repeats found their value through DNS)", srv.Updates())
		}
		if err := s.CleanUp(apex); err != nil {
			t.Fatal(err)
		}
		if got := srv.Values(acct.Subdomain); len(got) != 2 {
			t.Fatalf("CleanUp changed ACME-DNS: %q", got)
		}
	})
	t.Run("per-domain account from the config map", func(t *testing.T) {
		if err := s.Present(challenge(perDomain, key(3))); err != nil {
			t.Fatal(err)
		}
		if got := srv.Values(other.Subdomain); !slices.Equal(got, []string{key(3)}) {
			t.Fatalf("values = %q", got)
		}
	})
	t.Run("alias that is not the fulldomain", func(t *testing.T) {
		bad := strings.Replace(single, acct.FullDomain, "wrong.auth.acme-dns.test", 1)
		err := s.Present(challenge(bad, key(4)))
		if err == nil || !strings.Contains(err.Error(), "is not the fulldomain of the ACME-DNS account for example.com") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("config map entry without fulldomain is checked by subdomain", func(t *testing.T) {
		noFull := strings.Replace(perDomain, fmt.Sprintf(`"fulldomain":%q,`, other.FullDomain), "", 1)
		noFull = strings.Replace(noFull, fmt.Sprintf(`"domainAlias":%q`, other.FullDomain), `"domainAlias":"elsewhere.auth.acme-dns.test"`, 1)
		err := s.Present(challenge(noFull, key(8)))
		if err == nil || !strings.Contains(err.Error(), "is not the fulldomain") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("bad server_url is an error, not a panic", func(t *testing.T) {
		bad := strings.Replace(single, srv.URL, "http://[::1", 1)
		err := s.Present(challenge(bad, key(5)))
		if err == nil || !strings.Contains(err.Error(), "server_url") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("wrong password is reported without the password", func(t *testing.T) {
		bad := strings.Replace(single, `"acme-dns"`, `"acme-dns-other"`, 1)
		err := s.Present(challenge(bad, key(6)))
		if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), other.Password) {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestSecretValuesAreTrimmedAndMustNotBeEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t, secret("newline", map[string]string{"token": cfToken + "\n"}), secret("blank", map[string]string{"token": " \n"}))
	ref := func(name string) string {
		return `{"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":{"cloudflare":{"api_token":{"secretKeyRef":{"name":"` + name + `","key":"token"}}}}}`
	}
	if err := e.s.Present(challenge(ref("newline"), key(1))); err != nil {
		t.Fatalf("a token with a trailing newline: %v", err)
	}
	if err := e.s.CleanUp(challenge(ref("newline"), key(1))); err != nil {
		t.Fatal(err)
	}
	err := e.s.Present(challenge(ref("blank"), key(1)))
	if err == nil || !strings.Contains(err.Error(), `Secret "blank" in namespace "issuer-ns" has an empty value at key "token"`) {
		t.Fatalf("error = %v", err)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	err := redact(errors.New("request to https://u:hunter22@x failed, token hunter22"), []string{"hunter22", "ab"})
	if strings.Contains(err.Error(), "hunter22") || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("redact = %v", err)
	}
}

// TestUnreachableServerSaysWhatToCheck: a DNS server that is down is a network problem to report as such, not
// a missing zone to configure.
func TestUnreachableServerSaysWhatToCheck(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	_ = ln.Close() // nothing listens there now: connection refused
	tsig := secret("tsig-down", map[string]string{"secret": "c2VjcmV0"})
	tsig.Annotations = map[string]string{EndpointsAnnotation: down}
	e := newEnv(t, tsig)
	block := strings.Replace(e.rfc2136(), strconv.Quote(e.bind.Addr), strconv.Quote(down), 1)
	block = strings.Replace(block, `"name":"tsig"`, `"name":"tsig-down"`, 1)
	for _, cfg := range []string{
		`{"domainAlias":"validation.example.org","aliasProvider":` + block + `}`,
		`{"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + block + `}`,
	} {
		for name, call := range map[string]func(*whapi.ChallengeRequest) error{"Present": e.s.Present, "CleanUp": e.s.CleanUp} {
			err := call(challenge(cfg, key(1)))
			if err == nil {
				t.Fatalf("%s succeeded against a server that is down", name)
			}
			msg := err.Error()
			if !strings.Contains(msg, "config.aliasProvider.rfc2136.server could not be reached") || strings.Contains(msg, "set config.aliasZone") {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

func TestNetworkHint(t *testing.T) {
	t.Parallel()
	rfc := &ProviderConfig{Name: "rfc2136", Path: "aliasProvider.rfc2136"}
	cf := &ProviderConfig{Name: "cloudflare", Path: "provider.cloudflare"}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		pc   *ProviderConfig
		want string // "" means no hint
	}{
		{"refused dial, rfc2136", fmt.Errorf("exchange: %w", refused), rfc, "config.aliasProvider.rfc2136.server could not be reached over TCP"},
		{"refused dial, HTTP API", fmt.Errorf("Get: %w", refused), cf, "cloudflare's API could not be reached"},
		{"deadline", fmt.Errorf("waiting for a slot: %w", context.DeadlineExceeded), rfc, "no answer within the webhook's per-call deadline"},
		{"TLS alert is not reachability", &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}, cf, ""},
		{"a refusal is not reachability", errors.New(`update: "REFUSED"`), rfc, ""},
	} {
		got := networkHint(tc.err, providers.Default()[tc.pc.Name], tc.pc)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: hint %q, want %q", tc.name, got, tc.want)
		}
	}
}
