//go:build integration

package faults

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	cmwebhook "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/webhook"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

const (
	// Two releases of the chart, each its own API group, Service and ServiceAccount: the first reaches the fake
	// Cloudflare API through its CONNECT proxy, the second through the token gate (rotation_test.go).
	groupName   = "acme.faults.test"
	release     = "cert-manager-webhook-delegate"
	gateGroup   = "gate.acme.faults.test"
	gateRelease = release + "-gate"

	// prodZone holds the production names' CNAMEs (BIND, Dynamic: each case adds its own).
	prodZone = "faults.test."
	// bindAlias is the delegation zone of the rfc2136 cases, served by its own BIND (which one case restarts).
	bindAlias = "validation.example.org"
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(klog.NewKlogr())
	os.Exit(testcluster.Main(m))
}

// world is what every case shares: one control plane with the chart's identities, BIND serving the production
// CNAMEs, the fake Cloudflare API, the webhook processes and cert-manager's webhook client.
type world struct {
	tb      testing.TB
	cluster *testcluster.Cluster
	// prod serves the production zone; every case's delegation check asks it.
	prod *testdns.BIND
	cf   *fakecloudflare.Server
	// svc and hook: the release whose webhook reaches the fake Cloudflare through its proxy (and BIND directly).
	svc  *testcluster.Service
	hook *testcluster.Webhook
	// gate, gateSvc and gateHook: the release whose webhook reaches the fake through the token gate.
	gate     *gate
	gateSvc  *testcluster.Service
	gateHook *testcluster.Webhook
	client   *cmwebhook.Webhook
	// dir outlives every case: the kube-apiserver's kept certificates go there.
	dir string
	// tokens are the API tokens the fake Cloudflare accepts, by the label of the case that uses them.
	tokens map[string]string

	seq atomic.Int64
	mu  sync.Mutex
	// errs are the messages of every failed call cert-manager's client saw, for the leak check; secrets every
	// Secret value the webhook was given.
	errs    []string
	secrets []string
}

func TestFaults(t *testing.T) {
	w := setup(t)
	t.Run("faults", func(t *testing.T) {
		for _, c := range cloudflareCases {
			t.Run("cloudflare "+c.name, func(t *testing.T) {
				t.Parallel()
				w.cloudflareFault(t, c)
			})
		}
		t.Run("BIND restarted on the same port while calls are in flight", func(t *testing.T) {
			t.Parallel()
			w.bindRestart(t)
		})
		t.Run("Secret rotated mid-run", func(t *testing.T) {
			t.Parallel()
			w.rotation(t)
		})
	})
	// Alone: every webhook loses its API server meanwhile.
	t.Run("kube-apiserver restarted on the same etcd and port while calls are in flight", w.apiserverRestart)
	w.checkErrorsClean(t)
}

func setup(t *testing.T) *world {
	t.Helper()
	w := &world{tb: t, dir: t.TempDir()}
	w.prod = testdns.Start(t, testdns.Zone{Name: prodZone, Dynamic: true})
	// The fake learns its tokens when it is made: one per Cloudflare case, two for the rotation, two for the
	// kube-apiserver restart.
	w.tokens = map[string]string{}
	var opts []fakecloudflare.Option
	for _, label := range tokenLabels() {
		w.tokens[label] = newToken(label)
		opts = append(opts, fakecloudflare.WithToken(w.tokens[label]))
	}
	w.cf = fakecloudflare.New(opts...)
	if err := w.cf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.cf.Close)
	caFile := filepath.Join(w.dir, "cloudflare-ca.pem")
	if err := w.cf.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	w.gate = startGate(t, w.cf)

	w.cluster = testcluster.Start(t)
	w.cluster.CreateServiceAccount(t, testcluster.Namespace, testcluster.CertManagerServiceAccount)
	bin := testcluster.WebhookBinary(t)
	env := []string{
		// The delegation check asks BIND recursively (its zones' NS is localhost., where nothing answers on 53).
		"DNS_CHECK_NAMESERVERS=" + w.prod.Addr, "DNS_CHECK_AUTHORITATIVE=false",
		"POD_NAMESPACE=" + testcluster.Namespace, "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
	}
	startRelease := func(group, rel string, proxyEnv ...string) (*testcluster.Service, *testcluster.Webhook) {
		w.cluster.ApplyChartIdentity(t, rel, group)
		kubeconfig, _ := w.cluster.KubeconfigFor(t, testcluster.Namespace, rel)
		svc := w.cluster.Service(t, group, rel)
		e := append(append([]string{"GROUP_NAME=" + group}, env...), proxyEnv...)
		hook := svc.StartWebhook(t, testcluster.WebhookOptions{Bin: bin, Kubeconfig: kubeconfig, Env: e})
		svc.Register(t, hook.Port)
		return svc, hook
	}
	// The fake Cloudflare API answers for api.cloudflare.com through a CONNECT proxy with a test CA, as a pod
	// reaches the real one through an egress proxy.
	w.svc, w.hook = startRelease(groupName, release, "HTTPS_PROXY="+w.cf.ProxyURL(), "https_proxy="+w.cf.ProxyURL(), "SSL_CERT_FILE="+caFile)
	w.gateSvc, w.gateHook = startRelease(gateGroup, gateRelease,
		"HTTPS_PROXY="+w.gate.URL(), "https_proxy="+w.gate.URL(), "SSL_CERT_FILE="+w.gate.caFile)
	w.svc.WaitAvailable(t, 60*time.Second)
	w.gateSvc.WaitAvailable(t, 60*time.Second)
	w.client = w.cluster.CertManagerClient(t)
	return w
}

// tokenLabels are the labels of the cases that use a Cloudflare token.
func tokenLabels() []string {
	labels := []string{"rotate-old", "rotate-new", "apiserver", "apiserver-new"}
	for _, c := range cloudflareCases {
		labels = append(labels, c.label)
	}
	return labels
}

// cloudflareDelegate is newDelegate for a Cloudflare zone, its token in the Secret secret (created here).
func (w *world) cloudflareDelegate(t testing.TB, group, label, alias, secret, token string) *delegate {
	t.Helper()
	w.webhookSecret(t, secret, map[string]string{"api-token": token})
	return w.newDelegate(t, group, label, alias, map[string]any{"cloudflare": map[string]any{
		"api_token": map[string]any{"secretKeyRef": map[string]any{"name": secret, "key": "api-token"}},
	}})
}

// watch adds Secret values that no webhook output and no error cert-manager's client sees may show.
func (w *world) watch(t testing.TB, values ...string) {
	t.Helper()
	w.cluster.WatchSecrets(t, values...)
	w.mu.Lock()
	w.secrets = append(w.secrets, values...)
	w.mu.Unlock()
}

// checkErrorsClean fails the test if an error cert-manager's client got shows a Secret value.
func (w *world) checkErrorsClean(t testing.TB) {
	t.Helper()
	w.mu.Lock()
	errs, secrets := append([]string(nil), w.errs...), append([]string(nil), w.secrets...)
	w.mu.Unlock()
	testcluster.CheckNoSecrets(t, fmt.Sprintf("the %d errors cert-manager's client got", len(errs)), strings.Join(errs, "\n"), secrets...)
	t.Logf("leak check: %d client errors and every webhook's whole output checked against %d Secret values", len(errs), len(secrets))
}

// delegate is one production name delegated to alias (its CNAME _acme-challenge.<name> → _acme-challenge.<alias>
// in BIND), written with provider in aliasZone, by the webhook of group.
type delegate struct {
	w      *world
	group  string
	domain string
	alias  string
	config map[string]any
}

// newDelegate adds the production CNAME for label.faults.test and returns its issuer config.
func (w *world) newDelegate(t testing.TB, group, label, alias string, provider map[string]any) *delegate {
	t.Helper()
	domain := label + "." + strings.TrimSuffix(prodZone, ".")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.prod.Add(ctx, fmt.Sprintf("_acme-challenge.%s. 60 IN CNAME _acme-challenge.%s.", domain, alias)); err != nil {
		t.Fatal(err)
	}
	return &delegate{w: w, group: group, domain: domain, alias: alias, config: map[string]any{
		"domainAlias": alias, "aliasZone": alias + ".", "aliasProvider": provider,
	}}
}

// record is where the delegate's values are written.
func (d *delegate) record() string { return "_acme-challenge." + d.alias + "." }

// request is the ChallengeRequest cert-manager sends (a new UID per call): resolvedZone is the production zone.
func (d *delegate) request(key string) *whapi.ChallengeRequest {
	full, err := json.Marshal(map[string]any{"groupName": d.group, "solverName": "delegate", "config": d.config})
	if err != nil {
		panic(err)
	}
	return &whapi.ChallengeRequest{
		UID: types.UID(fmt.Sprintf("faults-%d-%d", time.Now().UnixNano(), d.w.seq.Add(1))), Type: "dns-01",
		DNSName: d.domain, Key: key, ResolvedFQDN: "_acme-challenge." + d.domain + ".", ResolvedZone: prodZone,
		ResourceNamespace: testcluster.Namespace, Config: &apiextensionsv1.JSON{Raw: full},
	}
}

// present and cleanUp are one call through the aggregator, timed; a failure's message is kept for the leak check.
func (d *delegate) present(key string) (time.Duration, error) {
	start := time.Now()
	err := d.w.note(d.w.client.Present(d.request(key)))
	return time.Since(start), err
}

func (d *delegate) cleanUp(key string) (time.Duration, error) {
	start := time.Now()
	err := d.w.note(d.w.client.CleanUp(d.request(key)))
	return time.Since(start), err
}

func (w *world) note(err error) error {
	if err != nil {
		w.mu.Lock()
		w.errs = append(w.errs, err.Error())
		w.mu.Unlock()
	}
	return err
}

// lifecycle is one normal challenge: Present, then CleanUp, both must succeed. It is how each case proves the
// webhook still works after its fault.
func (d *delegate) lifecycle(t testing.TB) {
	t.Helper()
	key := newKey()
	if _, err := d.present(key); err != nil {
		t.Fatalf("the next normal Present failed: %v", err)
	}
	if _, err := d.cleanUp(key); err != nil {
		t.Fatalf("the next normal CleanUp failed: %v", err)
	}
}

// healthy fails the test unless the webhook process still runs and answers /livez and /healthz.
func (w *world) healthy(t testing.TB, svc *testcluster.Service, hook *testcluster.Webhook) {
	t.Helper()
	select {
	case <-hook.Done():
		t.Fatalf("the webhook process ended: %v\n%s", hook.Err(), hook.Out.Tail(40))
	default:
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: w.cluster.ServingCA.Pool, ServerName: svc.Name + "." + testcluster.Namespace + ".svc", MinVersion: tls.VersionTLS12},
	}}
	defer hc.CloseIdleConnections()
	for _, path := range []string{"/livez", "/healthz"} {
		url := "https://" + net.JoinHostPort(hook.Addr, strconv.Itoa(hook.Port)) + path
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d", path, resp.StatusCode)
		}
	}
}

// wantMessage fails the test unless msg contains every one of want and none of the Secret values given.
func wantMessage(t testing.TB, what, msg string, want []string, secrets ...string) {
	t.Helper()
	for _, s := range want {
		if !strings.Contains(msg, s) {
			t.Errorf("%s does not say %q:\n%s", what, s, msg)
		}
	}
	testcluster.CheckNoSecrets(t, what, msg, secrets...)
}

// newKey makes a random 43-character base64url value, as ACME's DNS-01 values are.
func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newToken makes a random API token of the characters Cloudflare's tokens use.
func newToken(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// webhookSecret creates a Secret labelled for the webhook (allowed to be sent to endpoints) and watches its
// values.
func (w *world) webhookSecret(t testing.TB, name string, data map[string]string, endpoints ...string) {
	t.Helper()
	w.cluster.CreateSecrets(t, testcluster.WebhookSecret(name, data, endpoints...))
	for _, v := range data {
		w.watch(t, v)
	}
}

// updateSecret replaces a Secret's data, as kubectl apply of a rotated credential does.
func (w *world) updateSecret(t testing.TB, name string, data map[string]string) {
	t.Helper()
	ctx := context.Background()
	secrets := w.cluster.Admin.CoreV1().Secrets(testcluster.Namespace)
	sec, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec.Data, sec.StringData = nil, data
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, v := range data {
		w.watch(t, v)
	}
}
