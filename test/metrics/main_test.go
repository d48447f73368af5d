//go:build integration

// Package metrics tests what the webhook tells its operator: the delegate_* metrics after a scripted run of the
// solver (in process, against BIND and the fake Cloudflare API, with failures on purpose) read back from
// legacyregistry with exact counts by label; the one log line a failed call writes; and, with a real kube-apiserver
// and the webhook binary, that the chart's ServiceMonitor credentials are what /metrics lets in.
//
// The process shares one legacyregistry, one klog and one providers Observer, as the webhook does: the tests run
// one after the other and compare what each changed.
package metrics

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/metrics"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testlog"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

const (
	issuerNS = "issuer-ns"
	cfToken  = "cf-token-metrics-0123456789abcdefghijkl"
	alias    = "validation.example.org."
)

// logs is everything klog writes in this process, from TestMain on.
var logs = &testlog.Buffer{}

// logVerbosity is klog's -v flag, which the log test turns up and down.
var logVerbosity flag.Value

func TestMain(m *testing.M) {
	// klog as the webhook runs it at the default level, writing each line once (without one_output an error
	// line would be written for every severity up to it, three times to one writer).
	fs := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(fs)
	for k, v := range map[string]string{"logtostderr": "false", "alsologtostderr": "false", "one_output": "true",
		"stderrthreshold": "FATAL", "v": "0"} {
		if err := fs.Set(k, v); err != nil {
			panic(err)
		}
	}
	logVerbosity = fs.Lookup("v").Value
	klog.SetOutput(logs)
	// As main wires it.
	rec := metrics.Register(metrics.Build{Version: "metrics-test"})
	providers.SetObserver(rec)
	os.Exit(testcluster.Main(m))
}

// env is a Solver as main builds it (pacing on, the metrics as its Observer), with BIND serving the production
// zones and the delegation zone, the fake Cloudflare API writing into BIND, and a fake Kubernetes API holding the
// Secrets and namespaces the scenarios need.
type env struct {
	s      *solver.Solver
	bind   *testdns.BIND
	cf     *fakecloudflare.Server
	client *fake.Clientset
}

// Namespaces besides issuerNS: one being deleted with its Secrets gone, one whose Secrets cannot be listed (the
// API answers 500, so its informer never syncs).
const (
	dyingNS = "dying"
	stuckNS = "stuck"
)

func newEnv(t *testing.T, timeout time.Duration) *env {
	t.Helper()
	b := testdns.Start(t,
		testdns.Zone{Name: "example.com.", Records: []string{"_acme-challenge IN CNAME _acme-challenge.validation.example.org."}},
		testdns.Zone{Name: alias, Updatable: true},
		testdns.Zone{Name: "prod.test.", Dynamic: true},
		testdns.Zone{Name: "outside.test.", Updatable: true},
	)
	cf := fakecloudflare.New(fakecloudflare.WithToken(cfToken), fakecloudflare.WithZone(alias))
	cf.Mirror = b
	if err := cf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cf.Close)
	tsig := secret("tsig", map[string]string{"secret": b.Secret})
	tsig.Annotations = map[string]string{solver.EndpointsAnnotation: b.Addr}
	now := metav1.Now()
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: issuerNS}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dyingNS, DeletionTimestamp: &now, Finalizers: []string{"kubernetes"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stuckNS}},
		tsig,
		secret("cloudflare", map[string]string{"api-token": cfToken}),
	}
	// The same account under other names: the solver caches a provider by its config without rateLimit (and its
	// Secrets), so a block that differs only in rateLimit would reuse the first one's pacer.
	for _, name := range []string{"cloudflare-throttled", "cloudflare-paced", "cloudflare-limited"} {
		objs = append(objs, secret(name, map[string]string{"api-token": cfToken}))
	}
	client := fake.NewClientset(objs...)
	client.PrependReactor("list", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == stuckNS {
			return true, nil, apierrors.NewInternalError(errors.New("etcd is having a bad day"))
		}
		return false, nil, nil
	})
	scheme := runtime.NewScheme()
	_ = metav1.AddMetaToScheme(scheme)
	meta := metadatafake.NewSimpleMetadataClient(scheme, &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: *tsig.ObjectMeta.DeepCopy()})
	rec := metrics.Register(metrics.Build{})
	s := &solver.Solver{
		HTTPClient:   routed(cf),
		CallTimeout:  timeout,
		DNS:          &dnscheck.Resolver{Servers: []string{b.Addr}},
		Namespace:    "webhook-ns",
		AllowedZones: []string{alias, "prod.test."},
		Observer:     rec,
	}
	rec.SetSecretInformers(s.SecretInformers)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	s.InitializeWithClients(solver.Clients{Kube: client, Metadata: meta}, stop)
	return &env{s: s, bind: b, cf: cf, client: client}
}

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: issuerNS, ResourceVersion: "1",
		Labels: map[string]string{solver.SecretLabel: "true"}}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// routed sends Cloudflare's requests to the fake and everything else (nothing, here) out as it is.
func routed(cf *fakecloudflare.Server) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Hostname() == fakecloudflare.APIHost {
			return cf.Client().Transport.RoundTrip(r)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// challenge is a request for dnsName (its _acme-challenge name in zone) with an issuer config, in issuerNS.
func challenge(uid, dnsName, zone, cfg string, key int) *whapi.ChallengeRequest {
	return &whapi.ChallengeRequest{
		UID: types.UID(uid), DNSName: dnsName, Key: fmt.Sprintf("k%042d", key),
		ResolvedFQDN: "_acme-challenge." + dnsName + ".", ResolvedZone: zone,
		ResourceNamespace: issuerNS, Config: &apiextensionsv1.JSON{Raw: []byte(cfg)},
	}
}

func (e *env) rfc2136() string {
	return fmt.Sprintf(`{"rfc2136":{"server":%q,"key_name":%q,"key_alg":%q,"key":{"secretKeyRef":{"name":"tsig","key":"secret"}}}}`,
		e.bind.Addr, e.bind.KeyName, e.bind.KeyAlg)
}

// cloudflare is a Cloudflare provider block reading its token from secretName, with rateLimit (JSON, next to the
// provider's name) if given: each distinct rateLimit is an account with a pacer of its own.
func cloudflare(secretName, rateLimit string) string {
	rl := ""
	if rateLimit != "" {
		rl = `,"rateLimit":` + rateLimit
	}
	return `{"cloudflare":{"api_token":{"secretKeyRef":{"name":"` + secretName + `","key":"api-token"}}}` + rl + `}`
}
