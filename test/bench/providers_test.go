//go:build integration

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakedesec"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakedigitalocean"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeroute53"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// callsChildEnv makes the test binary, re-executed, count the provider API calls per challenge lifecycle
// (providerCallsChild) and print them: a process of its own, because godo and the AWS SDK read HTTPS_PROXY,
// SSL_CERT_FILE and AWS_ENDPOINT_URL_ROUTE_53 once per process, before anything else may have.
const callsChildEnv = "BENCH_PROVIDER_CALLS_CHILD"

// callsMarker starts the child's one line of output the parent reads.
const callsMarker = "BENCH-PROVIDER-CALLS "

// callsSteady is how many lifecycles after the first one the steady-state count averages.
const callsSteady = 10

// providerCalls is one fake provider's API requests per challenge lifecycle (a Present and its CleanUp of one
// value, through the whole solver), as the fake counted them.
type providerCalls struct {
	Provider string
	// First is the first lifecycle's requests (the writer is new: zone IDs and clients not cached yet).
	First int
	// Steady is the mean over callsSteady lifecycles after it; ByMethod their requests by HTTP method, per
	// lifecycle.
	Steady   float64
	ByMethod map[string]float64
}

// countCalls runs the child and returns its counts.
func countCalls(tb testing.TB) []providerCalls {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), callsChildEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("counting provider calls: %v\n%s%s", err, out, stderr.Bytes())
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, callsMarker); ok {
			var res []providerCalls
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				tb.Fatal(err)
			}
			return res
		}
	}
	tb.Fatalf("the provider-calls child printed no result:\n%s%s", out, stderr.Bytes())
	return nil
}

// direct reaches servers on loopback (the Route 53 fake's endpoint URL), never through a proxy.
var direct = &http.Transport{}

// hostRouter sends each fake's API host to that fake and loopback addresses directly; it refuses the rest.
type hostRouter map[string]http.RoundTripper

func (r hostRouter) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt, ok := r[req.URL.Hostname()]; ok {
		return rt.RoundTrip(req)
	}
	if ip := net.ParseIP(req.URL.Hostname()); ip != nil && ip.IsLoopback() {
		return direct.RoundTrip(req)
	}
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return nil, fmt.Errorf("bench: no fake for %s", req.URL.Host)
}

// providerCallsChild starts the fakes, a solver reading its Secrets from a fake clientset, and counts each fake's
// requests over lifecycles; it prints the result on one line and returns the exit status.
func providerCallsChild() int {
	res, err := countProviderCalls()
	if err != nil {
		fmt.Fprintln(os.Stderr, "provider calls:", err)
		return 1
	}
	b, _ := json.Marshal(res)
	fmt.Println(callsMarker + string(b))
	return 0
}

func countProviderCalls() ([]providerCalls, error) {
	const (
		cfTok, doTok, desecTok = "bench-cf-token-0123456789abcdef", "bench-do-token-0123456789abcdef", "bench-desec-token-0123456789ab"
		r53Key, r53Secret      = "AKIABENCHMARK0000001", "route53-secret-0123456789abcdefghijklmnop"
	)
	cf := fakecloudflare.New(fakecloudflare.WithToken(cfTok), fakecloudflare.WithZone("cf.test"))
	if err := cf.Start(); err != nil {
		return nil, err
	}
	defer cf.Close()
	ds, err := fakedesec.Start(fakedesec.WithToken(desecTok), fakedesec.WithDomain("desec.test"))
	if err != nil {
		return nil, err
	}
	defer ds.Close()
	r53, err := fakeroute53.Start(fakeroute53.WithAccessKey(r53Key, r53Secret), fakeroute53.WithZone("r53.test"))
	if err != nil {
		return nil, err
	}
	defer r53.Close()
	do, err := fakedigitalocean.Start(fakedigitalocean.WithToken(doTok), fakedigitalocean.WithDomain("do.test"))
	if err != nil {
		return nil, err
	}
	defer do.Close()
	dir, err := os.MkdirTemp("", "bench-calls-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := do.WriteCAFile(filepath.Join(dir, "ca.pem")); err != nil {
		return nil, err
	}
	// godo's transport takes the proxy from the environment; the AWS SDK its endpoint. Nothing may reach for
	// instance metadata.
	for k, v := range map[string]string{
		"HTTPS_PROXY": do.ProxyURL(), "SSL_CERT_FILE": filepath.Join(dir, "ca.pem"),
		"AWS_ENDPOINT_URL_ROUTE_53": r53.URL(), "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		_ = os.Setenv(k, v)
	}
	routes := hostRouter{fakecloudflare.APIHost: cf.Client().Transport, fakedesec.APIHost: ds.Transport()}
	http.DefaultTransport = routes // deSEC's library uses http.DefaultClient, as main makes it the webhook's

	ref := func(name, key string) map[string]any {
		return map[string]any{"secretKeyRef": map[string]any{"name": name, "key": key}}
	}
	secrets := map[string]map[string]string{
		"cf": {"token": cfTok}, "do": {"token": doTok}, "desec": {"token": desecTok}, "r53": {"key": r53Secret},
	}
	cases := []struct {
		provider, zone string
		block          map[string]any
		log            func() []fakeapi.Request
		values         func(fqdn string) []string
	}{
		{"cloudflare", "cf.test.", map[string]any{"api_token": ref("cf", "token")}, cfRequests(cf), func(fqdn string) []string {
			var out []string
			for _, r := range cf.Records("cf.test") {
				if r.Type == "TXT" && r.Name+"." == fqdn {
					out = append(out, r.Content)
				}
			}
			return out
		}},
		{"digitalocean", "do.test.", map[string]any{"auth_token": ref("do", "token")}, do.Requests, func(fqdn string) []string {
			return do.TXT("do.test", strings.TrimSuffix(fqdn, ".do.test."))
		}},
		{"desec", "desec.test.", map[string]any{"token": ref("desec", "token")}, ds.Requests, ds.TXT},
		{"route53", "r53.test.", map[string]any{"region": "us-east-1", "access_key_id": r53Key, "secret_access_key": ref("r53", "key")}, r53.Requests, r53.TXT},
	}
	s, stop := newSolver(solverOptions{client: &http.Client{Transport: routes}, secrets: secrets})
	defer stop()
	var res []providerCalls
	for _, c := range cases {
		aliasName := "validation." + strings.TrimSuffix(c.zone, ".")
		raw, _ := json.Marshal(map[string]any{"verifyDelegation": "Off", "domainAlias": aliasName, "aliasZone": c.zone,
			"aliasProvider": map[string]any{c.provider: c.block}})
		lifecycle := func() error {
			ch := &whapi.ChallengeRequest{UID: "bench", Type: "dns-01", DNSName: "example.com", Key: newKey(),
				ResolvedFQDN: "_acme-challenge.example.com.", ResolvedZone: "example.com.", ResourceNamespace: callsNamespace,
				Config: &apiextensionsv1.JSON{Raw: raw}}
			if err := s.Present(ch); err != nil {
				return fmt.Errorf("%s: Present: %w", c.provider, err)
			}
			if err := s.CleanUp(ch); err != nil {
				return fmt.Errorf("%s: CleanUp: %w", c.provider, err)
			}
			return nil
		}
		before := len(c.log())
		if err := lifecycle(); err != nil {
			return nil, err
		}
		first := len(c.log())
		for range callsSteady {
			if err := lifecycle(); err != nil {
				return nil, err
			}
		}
		reqs := c.log()
		if left := c.values("_acme-challenge." + aliasName + "."); len(left) != 0 {
			return nil, fmt.Errorf("%s: values left after CleanUp: %q", c.provider, left)
		}
		pc := providerCalls{Provider: c.provider, First: first - before, ByMethod: map[string]float64{}}
		methods := map[string]int{}
		for _, r := range reqs[first:] {
			methods[strings.ToUpper(r.Method)]++
		}
		for m, n := range methods {
			pc.ByMethod[m] = float64(n) / callsSteady
		}
		pc.Steady = float64(len(reqs)-first) / callsSteady
		if pc.First == 0 || pc.Steady == 0 {
			return nil, fmt.Errorf("%s: the fake counted no requests (first %d, steady %.1f)", c.provider, pc.First, pc.Steady)
		}
		res = append(res, pc)
	}
	return res, nil
}

// cfRequests is the fake Cloudflare's request log in fakeapi's form.
func cfRequests(cf *fakecloudflare.Server) func() []fakeapi.Request {
	return func() []fakeapi.Request {
		var out []fakeapi.Request
		for _, r := range cf.Requests() {
			out = append(out, fakeapi.Request{Method: r.Method, Path: r.Path, Status: r.Status})
		}
		return out
	}
}

const callsNamespace = "issuer-ns"

// solverOptions say how newSolver builds an in-process solver.
type solverOptions struct {
	// client sends the providers' HTTP requests (nil: the solver's default).
	client *http.Client
	// dns is the delegation check's resolver (nil: the solver's default).
	dns *dnscheck.Resolver
	// endpoints are listed in every Secret's endpoints annotation.
	endpoints []string
	// secrets are the Secrets by name, their data by key, all in callsNamespace and labelled for the webhook.
	secrets map[string]map[string]string
}

// newSolver is an initialised solver reading its Secrets from a fake clientset, with its Leases (route53's set
// strategy) in namespace "webhook", pacing off (neither the counts nor the in-process runs depend on it).
func newSolver(o solverOptions) (*solver.Solver, func()) {
	var objs, partial []runtime.Object
	for _, name := range slices.Sorted(maps.Keys(o.secrets)) {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: callsNamespace, ResourceVersion: "1",
			Labels: map[string]string{solver.SecretLabel: "true"}}, Data: map[string][]byte{}}
		if len(o.endpoints) > 0 {
			sec.Annotations = map[string]string{solver.EndpointsAnnotation: strings.Join(o.endpoints, ",")}
		}
		for k, v := range o.secrets[name] {
			sec.Data[k] = []byte(v)
		}
		objs = append(objs, sec)
		partial = append(partial, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: sec.ObjectMeta})
	}
	scheme := runtime.NewScheme()
	_ = metav1.AddMetaToScheme(scheme)
	s := &solver.Solver{HTTPClient: o.client, DNS: o.dns, CallTimeout: 30 * time.Second, Namespace: "webhook", NoPacing: true}
	stop := make(chan struct{})
	s.InitializeWithClients(solver.Clients{Kube: fake.NewClientset(objs...), Metadata: metadatafake.NewSimpleMetadataClient(scheme, partial...)}, stop)
	return s, func() { close(stop) }
}
