package solver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeacmedns"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
)

// prodChallenge is a challenge for name under the dynamic production zone prod.test.
func prodChallenge(cfg, name, value string) *whapi.ChallengeRequest {
	ch := challenge(cfg, value)
	ch.DNSName, ch.ResolvedFQDN, ch.ResolvedZone = name, "_acme-challenge."+name+".", "prod.test."
	return ch
}

func (e *env) cfRequests() int { return len(e.cf.Requests()) }

// TestPresentProvesTheDelegationBeforeWriting: a missing or wrong CNAME fails Present before any provider call,
// with the exact record to create; the fix is seen by the next Present (nothing negative is cached); CleanUp
// never verifies; verifyDelegation: Off writes regardless.
func TestPresentProvesTheDelegationBeforeWriting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cfg := `{"domainAlias":"validation.example.org","aliasProvider":` + cloudflareBlock + `}`
	line := "_acme-challenge.missing.prod.test. CNAME _acme-challenge.validation.example.org."

	before := e.cfRequests()
	err := e.s.Present(prodChallenge(cfg, "missing.prod.test", key(1)))
	if err == nil {
		t.Fatal("Present succeeded without the CNAME")
	}
	for _, want := range []string{line, "prod.test", "NXDOMAIN", "the webhook wrote nothing", "config.domainAlias delegates missing.prod.test to validation.example.org"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if n := e.cfRequests() - before; n != 0 {
		t.Fatalf("a refused Present made %d provider requests", n)
	}

	if err := e.bind.Add(ctx, "_acme-challenge.missing.prod.test. 60 IN CNAME _acme-challenge.elsewhere.example.org."); err != nil {
		t.Fatal(err)
	}
	err = e.s.Present(prodChallenge(cfg, "missing.prod.test", key(1)))
	if err == nil || !strings.Contains(err.Error(), "points to _acme-challenge.elsewhere.example.org.") || !strings.Contains(err.Error(), line) {
		t.Fatalf("wrong target: error = %v", err)
	}
	if err := e.bind.Replace(ctx, "_acme-challenge.missing.prod.test. 60 IN CNAME _acme-challenge.validation.example.org."); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Present(prodChallenge(cfg, "missing.prod.test", key(1))); err != nil {
		t.Fatalf("Present after the CNAME was fixed: %v", err)
	}
	if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); len(got) != 1 || got[0] != key(1) {
		t.Fatalf("zone holds %q", got)
	}
	// CleanUp must clean up even when the CNAME is gone again.
	if err := e.bind.Delete(ctx, "_acme-challenge.missing.prod.test. 60 IN CNAME _acme-challenge.validation.example.org."); err != nil {
		t.Fatal(err)
	}
	if err := e.s.CleanUp(prodChallenge(cfg, "missing.prod.test", key(1))); err != nil {
		t.Fatalf("CleanUp without the CNAME: %v", err)
	}
	if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); len(got) != 0 {
		t.Fatalf("zone still holds %q", got)
	}

	off := `{"verifyDelegation":"Off","domainAlias":"validation.example.org","aliasProvider":` + cloudflareBlock + `}`
	if err := e.s.Present(prodChallenge(off, "nothing.prod.test", key(2))); err != nil {
		t.Fatalf("verifyDelegation Off: %v", err)
	}
	if err := e.s.CleanUp(prodChallenge(off, "nothing.prod.test", key(2))); err != nil {
		t.Fatal(err)
	}
}

// TestFollowedCNAMENeedsNoLookup: with cnameStrategy: Follow cert-manager already proved the CNAME, so Present
// makes no lookup at all (here the resolver does not even exist).
func TestFollowedCNAMENeedsNoLookup(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(s *Solver) { s.DNS = &dnscheck.Resolver{} })
	cfg := `{"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + e.rfc2136() + `}`
	ch := challenge(cfg, key(1))
	ch.ResolvedFQDN, ch.ResolvedZone = "_acme-challenge.validation.example.org.", alias
	if err := e.s.Present(ch); err != nil {
		t.Fatalf("Present with a followed CNAME: %v", err)
	}
	if err := e.s.CleanUp(ch); err != nil {
		t.Fatal(err)
	}
	// The same resolver fails a check that is needed: the test above could have failed.
	if err := e.s.Present(challenge(cfg, key(1))); err == nil || !strings.Contains(err.Error(), "_acme-challenge.example.com. CNAME _acme-challenge.validation.example.org.") {
		t.Fatalf("unfollowed Present with no resolver: %v", err)
	}
}

// TestDirectModeRefusesToWriteBesideACNAME: when resolvedFQDN is itself a CNAME, direct mode would write a TXT
// record beside it; Present refuses and says what to set.
func TestDirectModeRefusesToWriteBesideACNAME(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := `{"provider":` + e.rfc2136() + `}`
	ch := challenge(cfg, key(1)) // _acme-challenge.example.com is a CNAME into validation.example.org
	err := e.s.Present(ch)
	if err == nil || !strings.Contains(err.Error(), "is a CNAME to _acme-challenge.validation.example.org.") ||
		!strings.Contains(err.Error(), "set domainAlias: validation.example.org") {
		t.Fatalf("error = %v", err)
	}
	if err := e.bind.Add(context.Background(), "_acme-challenge.elsewhere.prod.test. 60 IN CNAME target.example.org."); err != nil {
		t.Fatal(err)
	}
	err = e.s.Present(prodChallenge(cfg, "elsewhere.prod.test", key(1)))
	if err == nil || !strings.Contains(err.Error(), "set cnameStrategy: Follow") || strings.Contains(err.Error(), "set domainAlias") {
		t.Fatalf("error for a target without _acme-challenge: %v", err)
	}
	if got, _ := e.bind.ZoneTXT("prod.test."); len(got) != 0 {
		t.Fatalf("refused Presents wrote %v", got)
	}
	// A name without a CNAME is written directly.
	plain := prodChallenge(cfg, "plain.prod.test", key(2))
	if err := e.s.Present(plain); err != nil {
		t.Fatal(err)
	}
	if err := e.s.CleanUp(plain); err != nil {
		t.Fatal(err)
	}
}

// TestACMEDNSDelegationIsProvedToTheFulldomain: for ACME-DNS the CNAME must lead to the account's fulldomain
// exactly; nothing is pushed to ACME-DNS when it does not.
func TestACMEDNSDelegationIsProvedToTheFulldomain(t *testing.T) {
	t.Parallel()
	srv := fakeacmedns.Start(t, "auth.acme-dns.test")
	acct := srv.Register()
	sec := secret("acme-dns", map[string]string{"password": acct.Password})
	sec.Annotations = map[string]string{EndpointsAnnotation: srv.URL}
	e := newEnv(t, sec)
	if err := e.bind.Add(context.Background(), "_acme-challenge.good.prod.test. 60 IN CNAME "+acct.FullDomain+"."); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"domainAlias":%q,"provider":{"acmedns":{"username":%q,"subdomain":%q,"server_url":%q,"password":{"secretKeyRef":{"name":"acme-dns","key":"password"}}}}}`,
		acct.FullDomain, acct.Username, acct.Subdomain, srv.URL)
	err := e.s.Present(prodChallenge(cfg, "bad.prod.test", key(1)))
	if err == nil || !strings.Contains(err.Error(), "_acme-challenge.bad.prod.test. CNAME "+acct.FullDomain+".") {
		t.Fatalf("error = %v", err)
	}
	if srv.Updates() != 0 {
		t.Fatal("a refused Present updated ACME-DNS")
	}
	if err := e.s.Present(prodChallenge(cfg, "good.prod.test", key(2))); err != nil {
		t.Fatal(err)
	}
	if srv.Updates() != 1 {
		t.Fatalf("updates = %d, want 1", srv.Updates())
	}
}

// TestFenceRefusesEverythingOutsideAllowedZones: ALLOWED_ZONES wins over any issuer config, on the record name
// (before any Secret or lookup) and on the discovered zone (before the write); CleanUp outside the fence makes no
// provider call and succeeds.
func TestFenceRefusesEverythingOutsideAllowedZones(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(s *Solver) { s.AllowedZones = []string{"deep.validation.example.org."} })
	e.cf.AddZone("deep.validation.example.org") // a zone inside the fence, so that the webhook may write there
	before := e.cfRequests()

	outside := `{"domainAlias":"other.example.org","aliasProvider":` + cloudflareBlock + `}`
	for name, call := range map[string]func(*whapi.ChallengeRequest) error{"Present": e.s.Present} {
		err := call(challenge(outside, key(1)))
		if err == nil || !strings.Contains(err.Error(), "outside allowedZones (deep.validation.example.org)") ||
			!strings.Contains(err.Error(), "_acme-challenge.other.example.org.") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := e.s.CleanUp(challenge(outside, key(1))); err != nil {
		t.Fatalf("CleanUp outside the fence: %v", err)
	}
	direct := `{"provider":` + cloudflareBlock + `}`
	if err := e.s.Present(prodChallenge(direct, "x.prod.test", key(1))); err == nil || !strings.Contains(err.Error(), "allowedZones") {
		t.Fatalf("direct mode outside the fence: %v", err)
	}
	if n := e.cfRequests() - before; n != 0 {
		t.Fatalf("fenced calls made %d provider requests", n)
	}

	// Inside the fence by name, but the zone given is the parent, outside it: refused before the write.
	parent := `{"verifyDelegation":"Off","domainAlias":"deep.validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + cloudflareBlock + `}`
	if err := e.s.Present(challenge(parent, key(2))); err == nil || !strings.Contains(err.Error(), "in zone validation.example.org.") {
		t.Fatalf("zone outside the fence: %v", err)
	}
	if err := e.s.CleanUp(challenge(parent, key(2))); err != nil {
		t.Fatalf("CleanUp with the zone outside the fence: %v", err)
	}
	if n := len(e.cf.Records("validation.example.org")); n != 0 {
		t.Fatalf("the fenced zone holds %d records", n)
	}
	// Inside: discovered as deep.validation.example.org and written.
	inside := `{"verifyDelegation":"Off","domainAlias":"deep.validation.example.org","aliasProvider":` + cloudflareBlock + `}`
	if err := e.s.Present(challenge(inside, key(3))); err != nil {
		t.Fatalf("inside the fence: %v", err)
	}
	if n := len(e.cf.Records("deep.validation.example.org")); n != 1 {
		t.Fatalf("the zone inside the fence holds %d records, want 1", n)
	}
	if err := e.s.CleanUp(challenge(inside, key(3))); err != nil {
		t.Fatal(err)
	}
}

// TestSecretsMustOptIn: only Secrets labelled for the webhook are used; an unlabelled one gets the exact kubectl
// line, and its data is never fetched (the informer selects on the label; a miss is a metadata-only read).
func TestSecretsMustOptIn(t *testing.T) {
	t.Parallel()
	unlabelled := secret("plain", map[string]string{"api-token": cfToken})
	unlabelled.Labels = nil
	e := newEnv(t, unlabelled)
	cfg := `{"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":{"cloudflare":{"api_token":{"secretKeyRef":{"name":"plain","key":"api-token"}}}}}`
	err := e.s.Present(challenge(cfg, key(1)))
	if err == nil || !strings.Contains(err.Error(), "kubectl label secret -n issuer-ns plain cert-manager-webhook-delegate/use=true") ||
		!strings.Contains(err.Error(), "is not labelled for this webhook") {
		t.Fatalf("error = %v", err)
	}
	missing := strings.Replace(cfg, `"plain"`, `"absent"`, 1)
	if err := e.s.Present(challenge(missing, key(1))); err == nil || !strings.Contains(err.Error(), `Secret "absent" not found`) {
		t.Fatalf("missing Secret: %v", err)
	}
	for _, a := range e.client.Actions() {
		if a.GetResource().Resource != "secrets" {
			continue
		}
		switch a := a.(type) {
		case k8stesting.GetAction:
			t.Errorf("the webhook fetched Secret %s/%s", a.GetNamespace(), a.GetName())
		case k8stesting.ListAction:
			if sel := a.GetListRestrictions().Labels.String(); sel != SecretLabel+"=true" {
				t.Errorf("Secrets listed with label selector %q", sel)
			}
		}
	}

	// With the opt-in turned off (requireSecretLabel: false) the same Secret is used.
	open := newEnvWith(t, func(s *Solver) { s.AllowUnlabelledSecrets = true }, unlabelled.DeepCopy())
	if err := open.s.Present(challenge(cfg, key(1))); err != nil {
		t.Fatalf("with the label not required: %v", err)
	}
	if err := open.s.CleanUp(challenge(cfg, key(1))); err != nil {
		t.Fatal(err)
	}
}

// TestEndpointPin: a crafted config pointing an endpoint field (acmedns server_url, rfc2136 server) at a server
// of the issuer's choosing gets nothing sent there unless the Secret's owner listed it.
func TestEndpointPin(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(attacker.Close)
	victim := func(name string, labelled bool, endpoints string) *corev1.Secret {
		s := secret(name, map[string]string{"password": "the-password-of-" + name})
		if !labelled {
			s.Labels = nil
		}
		if endpoints != "" {
			s.Annotations = map[string]string{EndpointsAnnotation: endpoints}
		}
		return s
	}
	e := newEnv(t,
		secret("tsig-unpinned", map[string]string{"secret": "c2VjcmV0LXNlY3JldA=="}),
		victim("unlabelled", false, ""),
		victim("labelled", true, ""),
		victim("other-endpoint", true, "https://auth.acme-dns.io, 10.0.0.53:53"),
		victim("listed", true, "https://auth.acme-dns.io,"+attacker.URL),
	)
	cfg := func(secret string) string {
		return fmt.Sprintf(`{"verifyDelegation":"Off","domainAlias":"s.auth.acme-dns.test","provider":{"acmedns":{"username":"u","subdomain":"s","server_url":%q,"password":{"secretKeyRef":{"name":%q,"key":"password"}}}}}`,
			attacker.URL, secret)
	}
	for _, tc := range []struct{ secret, want string }{
		{"unlabelled", "kubectl label secret -n issuer-ns unlabelled"},
		{"labelled", "kubectl annotate secret -n issuer-ns labelled cert-manager-webhook-delegate/endpoints=" + attacker.URL},
		{"other-endpoint", "does not allow its values to be sent there"},
	} {
		err := e.s.Present(challenge(cfg(tc.secret), key(1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", tc.secret, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "the-password-of-") {
			t.Errorf("%s: the error shows the password: %v", tc.secret, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the issuer's server received %d requests", n)
	}
	// The Secret's owner listed it: the credential goes there (and the server refuses it).
	if err := e.s.Present(challenge(cfg("listed"), key(1))); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("listed endpoint: %v", err)
	}
	if hits.Load() == 0 {
		t.Fatal("the listed endpoint was never called")
	}

	// rfc2136: the server is an endpoint too.
	block := strings.Replace(e.rfc2136(), `"name":"tsig"`, `"name":"tsig-unpinned"`, 1)
	err := e.s.Present(challenge(`{"domainAlias":"validation.example.org","aliasProvider":`+block+`}`, key(1)))
	if err == nil || !strings.Contains(err.Error(), "config.aliasProvider.rfc2136.server: \""+e.bind.Addr+"\" is an endpoint the issuer chooses") {
		t.Fatalf("rfc2136 server not pinned: %v", err)
	}
	if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); len(got) != 0 {
		t.Fatalf("zone holds %q", got)
	}
}

func TestEndpointMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		allowed, endpoint string
		want              bool
	}{
		{"https://auth.acme-dns.io", "https://auth.acme-dns.io", true},
		{"https://auth.acme-dns.io", "https://AUTH.acme-dns.io:443/", true},
		{"https://auth.acme-dns.io/api", "https://auth.acme-dns.io/api/v1", true},
		{"https://auth.acme-dns.io/api", "https://auth.acme-dns.io/other", false},
		{"https://auth.acme-dns.io", "http://auth.acme-dns.io", false},
		{"https://auth.acme-dns.io", "https://auth.acme-dns.io.evil.test", false},
		{"auth.acme-dns.io:443", "https://auth.acme-dns.io", true},
		{"10.0.0.53", "10.0.0.53:53", true},
		{"10.0.0.53:53", "10.0.0.53:5353", false},
		{"", "10.0.0.53:53", false},
	} {
		if got := endpointMatches(tc.allowed, tc.endpoint); got != tc.want {
			t.Errorf("endpointMatches(%q, %q) = %v, want %v", tc.allowed, tc.endpoint, got, tc.want)
		}
	}
}

// TestRateLimitIsSharedAndHonoursRetryAfter: every call to one provider account shares its pacer, and a 429's
// Retry-After holds every call waiting, not just the one that got it. (Lower bounds on time only: a loaded
// machine makes them slower, never faster.)
func TestRateLimitIsSharedAndHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(s *Solver) { s.NoPacing = false })
	block := `{"cloudflare":{"api_token":{"secretKeyRef":{"name":"cloudflare","key":"api-token"}}},"rateLimit":{"perSecond":4,"burst":1}}`
	cfg := `{"verifyDelegation":"Off","domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + block + `}`
	before := e.cfRequests()
	e.cf.RateLimit(1, 2*time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = e.s.Present(challenge(cfg, key(i))) })
	}
	wg.Wait()
	took := time.Since(start)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Present %d: %v", i, err)
		}
	}
	n := e.cfRequests() - before
	// One 429 with Retry-After 2 s held everyone; then 4 requests/s with a burst of 1 (halved after the 429).
	if floor := 2*time.Second + time.Duration(n-2)*250*time.Millisecond; took < floor {
		t.Fatalf("%d requests in %s, want at least %s under the shared rate and the 429's Retry-After", n, took, floor)
	}
	if got := e.cf.CountRequests("", "/client/v4"); got-before != n {
		t.Fatalf("request count %d", got)
	}
	for i := range errs {
		if err := e.s.CleanUp(challenge(cfg, key(i))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFollowCleanUpAfterTheCNAMEChanged: with cnameStrategy: Follow, Present wrote below the alias where the CNAME
// led; once the CNAME is gone or repointed, cert-manager's CleanUp carries the canonical name, where nothing was
// written. CleanUp finds the value in the alias zone and deletes exactly it; the sibling value stays.
func TestFollowCleanUpAfterTheCNAMEChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cfg := `{"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + e.rfc2136() + `}`
	followed := "_acme-challenge.f.validation.example.org."
	if err := e.bind.Add(ctx, "_acme-challenge.f.prod.test. 60 IN CNAME "+followed); err != nil {
		t.Fatal(err)
	}
	sibling := prodChallenge(cfg, "g.prod.test", key(2))
	sibling.ResolvedFQDN, sibling.ResolvedZone = "_acme-challenge.validation.example.org.", alias
	if err := e.s.Present(sibling); err != nil {
		t.Fatal(err)
	}
	for i, after := range []func(ch *whapi.ChallengeRequest){
		func(ch *whapi.ChallengeRequest) {}, // the CNAME is gone: cert-manager resolves the canonical name
		func(ch *whapi.ChallengeRequest) { // repointed outside the alias
			ch.ResolvedFQDN, ch.ResolvedZone = "_acme-challenge.elsewhere.example.net.", "example.net."
		},
	} {
		v := key(10 + i)
		ch := prodChallenge(cfg, "f.prod.test", v)
		ch.ResolvedFQDN, ch.ResolvedZone = followed, alias
		if err := e.s.Present(ch); err != nil {
			t.Fatal(err)
		}
		if got := e.zoneTXT(t, alias, followed); !slices.Equal(got, []string{v}) {
			t.Fatalf("followed name holds %q", got)
		}
		later := prodChallenge(cfg, "f.prod.test", v)
		after(later)
		if err := e.s.CleanUp(later); err != nil {
			t.Fatalf("CleanUp after the CNAME changed: %v", err)
		}
		if got := e.zoneTXT(t, alias, followed); len(got) != 0 {
			t.Fatalf("case %d: the value Present wrote through the CNAME is still at %s: %q", i, followed, got)
		}
		if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); !slices.Equal(got, []string{key(2)}) {
			t.Fatalf("case %d: the sibling value at the canonical name: %q", i, got)
		}
	}
}

// TestCleanUpGivesUpOnlyWhenTheNamespaceIsBeingDeleted: a missing Secret fails CleanUp (cert-manager retries),
// unless a live read shows its namespace being deleted: then CleanUp succeeds and says what it left behind.
func TestCleanUpGivesUpOnlyWhenTheNamespaceIsBeingDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := `{"verifyDelegation":"Off","domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":{"cloudflare":{"api_token":{"secretKeyRef":{"name":"gone","key":"t"}}}}}`
	if err := e.s.CleanUp(challenge(cfg, key(1))); err == nil || !strings.Contains(err.Error(), `Secret "gone" not found`) {
		t.Fatalf("missing Secret in a live namespace: %v", err)
	}
	ns, err := e.client.CoreV1().Namespaces().Get(context.Background(), testNS, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	ns.DeletionTimestamp = &now
	if _, err := e.client.CoreV1().Namespaces().Update(context.Background(), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.CleanUp(challenge(cfg, key(1))); err != nil {
		t.Fatalf("missing Secret in a namespace being deleted: %v", err)
	}
	if err := e.s.Present(challenge(cfg, key(1))); err == nil {
		t.Fatal("Present without its Secret succeeded")
	}
}

// TestSecretInformersAreBounded: informers no call has used for a while stop, the least recently used one stops
// when too many run, and what runs is visible.
func TestSecretInformersAreBounded(t *testing.T) {
	t.Parallel()
	other := secret("cloudflare", map[string]string{"api-token": cfToken})
	other.Namespace = "other-ns"
	e := newEnv(t, other, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other-ns"}})
	cfg := `{"verifyDelegation":"Off","domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + cloudflareBlock + `}`
	for _, ns := range []string{testNS, "other-ns"} {
		ch := challenge(cfg, key(1))
		ch.ResourceNamespace = ns
		if err := e.s.Present(ch); err != nil {
			t.Fatal(err)
		}
		if err := e.s.CleanUp(ch); err != nil {
			t.Fatal(err)
		}
	}
	states := e.s.SecretInformers()
	if len(states) != 2 || !states[0].Synced || !states[1].Synced {
		t.Fatalf("informers: %+v", states)
	}
	store := e.s.state.Load().secrets
	store.mu.Lock()
	store.max = 2
	store.mu.Unlock()
	ch := challenge(cfg, key(1))
	ch.ResourceNamespace = "third-ns" // no such Secret there: the call fails, but it starts an informer
	_ = e.s.Present(ch)
	if got := e.s.SecretInformers(); len(got) != 2 || got[1].Namespace != "third-ns" && got[0].Namespace != "third-ns" {
		t.Fatalf("with at most 2 informers: %+v", got)
	}
	store.sweep(time.Now().Add(informerIdle + time.Minute))
	if got := e.s.SecretInformers(); len(got) != 0 {
		t.Fatalf("idle informers still run: %+v", got)
	}
	// The next call starts one again and works.
	if err := e.s.Present(challenge(cfg, key(2))); err != nil {
		t.Fatal(err)
	}
	if err := e.s.CleanUp(challenge(cfg, key(2))); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownLetsCleanUpsFinish: after the stop signal, a Present is refused at once, while a CleanUp in flight
// finishes and a CleanUp that starts then still reads its Secret and deletes its value.
func TestShutdownLetsCleanUpsFinish(t *testing.T) {
	t.Parallel()
	late := secret("cloudflare", map[string]string{"api-token": cfToken})
	late.Namespace = "late-ns"
	e := newEnv(t, late)
	stop := make(chan struct{})
	e.s.InitializeWithClients(Clients{Kube: e.client, Metadata: metadataFor()}, stop)
	cfg := `{"verifyDelegation":"Off","domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + cloudflareBlock + `}`
	for i := range 2 {
		if err := e.s.Present(challenge(cfg, key(i))); err != nil {
			t.Fatal(err)
		}
	}
	e.cf.Faults().Slow(1, time.Second, fakecloudflare.Match{Method: "DELETE"})
	done := make(chan error, 1)
	go func() { done <- e.s.CleanUp(challenge(cfg, key(0))) }()
	time.Sleep(200 * time.Millisecond) // the CleanUp is waiting on the slow DELETE
	close(stop)
	time.Sleep(100 * time.Millisecond)
	if err := e.s.Present(challenge(cfg, key(5))); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("Present after the stop signal: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the CleanUp in flight: %v", err)
	}
	// Its Secret is in a namespace no call has read yet: the informer must still start and sync.
	lateCh := challenge(cfg, key(1))
	lateCh.ResourceNamespace = "late-ns"
	if err := e.s.CleanUp(lateCh); err != nil {
		t.Fatalf("a CleanUp after the stop signal: %v", err)
	}
	if got := e.zoneTXT(t, alias, "_acme-challenge."+alias); len(got) != 0 {
		t.Fatalf("zone holds %q", got)
	}
}

// TestExplainMissLabelledButNotCached: a labelled Secret the informer has not delivered yet (created or labelled
// a moment ago) is not called unlabelled: the call says the cache is behind and that cert-manager retries.
func TestExplainMissLabelledButNotCached(t *testing.T) {
	t.Parallel()
	labelled := secret("late", map[string]string{"api-token": cfToken})
	plain := secret("plain", map[string]string{"api-token": cfToken})
	plain.Labels = nil
	s := &secretStore{client: fake.NewClientset(), meta: metadataFor(labelled, plain), requireLabel: true}
	err := s.explainMiss(context.Background(), testNS, "late")
	if err == nil || !strings.Contains(err.Error(), "the webhook's cache has not seen it yet; cert-manager will retry") ||
		strings.Contains(err.Error(), "not labelled") {
		t.Fatalf("labelled Secret not yet cached: %v", err)
	}
	if err := s.explainMiss(context.Background(), testNS, "plain"); err == nil || !strings.Contains(err.Error(), "is not labelled for this webhook") {
		t.Fatalf("unlabelled Secret: %v", err)
	}
}
