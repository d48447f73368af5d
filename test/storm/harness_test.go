//go:build integration

// Package storm runs the webhook binary behind a real kube-apiserver's aggregation layer, called by cert-manager's
// own webhook client as cert-manager's ServiceAccount, writing through the fake Cloudflare API (reached through
// HTTPS_PROXY, as a pod reaches the real one) under Cloudflare's rate window scaled down: a renewal storm of
// challenge lifecycles paced to the window (TestStorm), a SIGTERM while CleanUps are in flight (TestSIGTERM),
// Secret values that must never reach a log or an error (TestSecretsNeverLeak, and every webhook process the
// package starts), and replicas behind one Service (TestReplicasShareCalls). `make storm` runs it alone.
package storm

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	cmwebhook "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/webhook"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

const (
	groupName = "acme.storm.test"
	// release as the chart's README installs it: the Service and ServiceAccount are named after it.
	release = "cert-manager-webhook-delegate"
	// The production zone whose names are delegated (one CNAME per name) into the delegation zone, which the
	// fake Cloudflare serves.
	prodZone  = "storm.test."
	alias     = "validation.example.org"
	aliasZone = alias + "."
	aliasName = "_acme-challenge." + aliasZone
	// cfToken is the Cloudflare API token in the Secret the issuer names; the fake accepts it.
	cfToken = "storm-token-0123456789abcdefghijklmnopq"
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(klog.NewKlogr())
	os.Exit(testcluster.Main(m))
}

// harness is one control plane, the fake Cloudflare API, BIND serving the production zone's CNAMEs (for the
// delegation check Present runs), the chart's identities, and cert-manager's webhook client.
type harness struct {
	cluster *testcluster.Cluster
	svc     *testcluster.Service
	cf      *fakecloudflare.Server
	bind    *testdns.BIND
	// kubeconfig is the webhook's identity (the chart's ServiceAccount); env its environment.
	kubeconfig string
	env        []string
	client     *cmwebhook.Webhook

	seq atomic.Int64
	mu  sync.Mutex
	// errs are the messages of every failed call the client saw, for the leak check.
	errs []string
}

// newHarness starts everything but the webhook, for challenges of the given domains (each gets its CNAME) on a
// Service whose replicas serve on addrs (default 127.0.0.1).
func newHarness(t testing.TB, domains []string, addrs ...string) *harness {
	t.Helper()
	h := &harness{}
	var cnames []string
	for _, d := range append([]string{domain("warm", 0)}, domains...) {
		rel := strings.TrimSuffix(strings.TrimSuffix(d, "."), "."+strings.TrimSuffix(prodZone, "."))
		cnames = append(cnames, "_acme-challenge."+rel+" IN CNAME "+aliasName)
	}
	h.bind = testdns.Start(t, testdns.Zone{Name: prodZone, Records: cnames}, testdns.Zone{Name: aliasZone})
	h.cf = fakecloudflare.New(fakecloudflare.WithToken(cfToken), fakecloudflare.WithZone(alias))
	if err := h.cf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.cf.Close)
	caFile := filepath.Join(t.TempDir(), "cloudflare-ca.pem")
	if err := h.cf.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}

	h.cluster = testcluster.Start(t)
	h.svc = h.cluster.Service(t, groupName, release, addrs...)
	h.cluster.ApplyChartIdentity(t, release, groupName)
	h.cluster.CreateSecrets(t, testcluster.WebhookSecret("cloudflare", map[string]string{"api-token": cfToken}))
	h.cluster.WatchSecrets(t, cfToken)
	h.kubeconfig, _ = h.cluster.KubeconfigFor(t, testcluster.Namespace, release)
	h.env = []string{
		"GROUP_NAME=" + groupName,
		// The fake Cloudflare API answers for api.cloudflare.com through a CONNECT proxy with a test CA; the
		// kube-apiserver on loopback is reached directly.
		"HTTPS_PROXY=" + h.cf.ProxyURL(), "NO_PROXY=127.0.0.1,localhost", "SSL_CERT_FILE=" + caFile,
		// The delegation check asks BIND recursively (its zones' NS is localhost., where nothing answers on 53).
		"DNS_CHECK_NAMESERVERS=" + h.bind.Addr, "DNS_CHECK_AUTHORITATIVE=false",
	}
	h.client = h.cluster.CertManagerClient(t)
	return h
}

// startWebhook starts one webhook process on addr (default 127.0.0.1) and port (default free) with the
// harness's env plus env.
func (h *harness) startWebhook(t testing.TB, addr string, port int, env ...string) *testcluster.Webhook {
	t.Helper()
	return h.svc.StartWebhook(t, testcluster.WebhookOptions{
		Kubeconfig: h.kubeconfig, Addr: addr, Port: port, Env: append(append([]string(nil), h.env...), env...),
	})
}

// issuerConfig is the issuer's webhook config: every challenge delegated to the one alias name in the
// Cloudflare zone (given, so no zone is discovered), paced by rate (its rateLimit; nil: the registry's rate).
func issuerConfig(rate map[string]any) map[string]any {
	block := map[string]any{"cloudflare": map[string]any{
		"api_token": map[string]any{"secretKeyRef": map[string]any{"name": "cloudflare", "key": "api-token"}},
	}}
	if rate != nil {
		block["rateLimit"] = rate
	}
	return map[string]any{"domainAlias": alias, "aliasZone": aliasZone, "aliasProvider": block}
}

// challenge is one challenge of a lifecycle: its domain and TXT value.
type challenge struct {
	domain, key string
}

// newChallenge makes a challenge for domain with a random 43-character base64url value, as ACME's are.
func newChallenge(domain string) challenge {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return challenge{domain: domain, key: base64.RawURLEncoding.EncodeToString(b)}
}

// request builds the ChallengeRequest cert-manager sends for ch with config (a new UID per call, as cert-manager
// sends): resolvedZone is the production zone, although _acme-challenge.<domain> is a CNAME into another.
func (h *harness) request(ch challenge, config map[string]any) *whapi.ChallengeRequest {
	full, err := json.Marshal(map[string]any{"groupName": groupName, "solverName": "delegate", "config": config})
	if err != nil {
		panic(err)
	}
	return &whapi.ChallengeRequest{
		UID: types.UID(fmt.Sprintf("storm-%d-%d", time.Now().UnixNano(), h.seq.Add(1))), Type: "dns-01",
		DNSName: ch.domain, Key: ch.key, ResolvedFQDN: "_acme-challenge." + ch.domain + ".", ResolvedZone: prodZone,
		ResourceNamespace: testcluster.Namespace, Config: &apiextensionsv1.JSON{Raw: full},
	}
}

// present and cleanUp are one call each through the aggregator; a failure's message is kept for the leak check.
func (h *harness) present(ch challenge, config map[string]any) error {
	return h.note(h.client.Present(h.request(ch, config)))
}

func (h *harness) cleanUp(ch challenge, config map[string]any) error {
	return h.note(h.client.CleanUp(h.request(ch, config)))
}

func (h *harness) note(err error) error {
	if err != nil {
		h.mu.Lock()
		h.errs = append(h.errs, err.Error())
		h.mu.Unlock()
	}
	return err
}

// errors returns the messages of every failed call so far.
func (h *harness) errors() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.errs...)
}

// checkErrorsClean fails the test if a client error shows a Secret value.
func (h *harness) checkErrorsClean(t testing.TB, secrets ...string) {
	t.Helper()
	errs := h.errors()
	testcluster.CheckNoSecrets(t, fmt.Sprintf("the %d errors cert-manager's client got", len(errs)), strings.Join(errs, "\n"), secrets...)
}

// values returns the TXT values the fake holds in the delegation zone.
func (h *harness) values() []string {
	var out []string
	for _, r := range h.cf.Records(alias) {
		if r.Type == "TXT" {
			out = append(out, fakecloudflare.TXTText(r.Content))
		}
	}
	return out
}

// withTimeout runs f and fails (not from f's goroutine) if it takes longer than d: a call must never hang.
func withTimeout(t testing.TB, d time.Duration, what string, f func() error) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(d):
		t.Fatalf("%s hung: no answer after %s", what, d)
		return d, nil
	}
}

// domain is the i-th production name, e.g. d0042.storm.test.
func domain(prefix string, i int) string {
	return fmt.Sprintf("%s%04d.%s", prefix, i, strings.TrimSuffix(prodZone, "."))
}

func domains(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = domain(prefix, i)
	}
	return out
}

// warmUp runs one lifecycle, so that the webhook's Secret informer, provider cache and zone lookup are warm.
func (h *harness) warmUp(t testing.TB, config map[string]any) {
	t.Helper()
	ch := newChallenge(domain("warm", 0))
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := h.present(ch, config)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("warm-up Present: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := h.cleanUp(ch, config); err != nil {
		t.Fatalf("warm-up CleanUp: %v", err)
	}
}
