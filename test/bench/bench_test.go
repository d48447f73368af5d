//go:build integration

// Package bench measures the webhook for BENCHMARKS.md, from one run of `make bench` (BenchmarkReport): the
// no-op solver on the same cmd.RunWebhookServer behind the same aggregation layer, the DNS server alone (libdns/
// rfc2136 straight to BIND) and the fake Cloudflare API alone (libdns/cloudflare through the same CONNECT proxy
// and TLS the webhook uses), and this webhook writing to BIND and to the fake Cloudflare, each at 1 and at 50
// calls in flight, in interleaved rounds; the provider API calls per challenge lifecycle of each fake provider;
// the idle and peak memory and the binary sizes of the webhook and the no-op; and the delegation check's cost
// (dnscheck's and solver's benchmarks). With BENCH_OUT set it writes the report there, otherwise to standard output; with
// BENCH_FIGURES set, the figures it was written from too, as JSON.
//
// The package has no Test functions: `make test` (-run .) compiles it and runs nothing; the report takes minutes.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	cmwebhook "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/webhook"
	"github.com/libdns/cloudflare"
	"github.com/libdns/libdns"
	"github.com/libdns/rfc2136"
	"github.com/miekg/dns"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

const (
	groupName = "acme.bench.test"
	// release as the chart's README installs it: the Service and ServiceAccount are named after it.
	release   = "cert-manager-webhook-delegate"
	namespace = testcluster.Namespace

	prodZone  = "example.com."
	alias     = "validation.example.org"
	aliasZone = alias + "."
	// aliasName is where every value goes: _acme-challenge.example.com is a CNAME to it.
	aliasName = "_acme-challenge." + aliasZone
	cfToken   = "bench-token-0123456789abcdefghijklmnopqr"
	// rfc2136Limit is how many updates the webhook's rfc2136 provider sends one server at once
	// (providers.rfc2136Concurrency).
	rfc2136Limit = 8
	// backgroundWindow is how long each process's CPU use with nothing in flight is measured, before the rounds.
	backgroundWindow = 5 * time.Second
)

func TestMain(m *testing.M) {
	if os.Getenv(callsChildEnv) != "" {
		os.Exit(providerCallsChild())
	}
	ctrllog.SetLogger(klog.NewKlogr())
	os.Exit(testcluster.Main(m))
}

// settings are the run's sizes, from the environment (the Makefile's defaults are these).
type settings struct {
	Rounds int
	// InFlight is the high concurrency; the low one is always 1.
	InFlight int
	// N1 and NHigh are the measured lifecycles per run at 1 and at InFlight.
	N1, NHigh int
	// Idle is how long a process runs before its idle memory is read.
	Idle time.Duration
}

func readSettings(tb testing.TB) settings {
	tb.Helper()
	s := settings{Rounds: 3, InFlight: 50, N1: 200, NHigh: 1500, Idle: 5 * time.Second}
	for name, p := range map[string]*int{"BENCH_ROUNDS": &s.Rounds, "BENCH_INFLIGHT": &s.InFlight, "BENCH_N1": &s.N1, "BENCH_N": &s.NHigh} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				tb.Fatalf("%s=%q is not a positive whole number", name, v)
			}
			*p = n
		}
	}
	return s
}

// BenchmarkReport measures everything BENCHMARKS.md shows, once (the framework's b.N is not used: one run takes
// minutes), and writes the report to $BENCH_OUT, or to standard output.
func BenchmarkReport(b *testing.B) {
	f := &figures{Machine: readMachine(), Date: time.Now().UTC(), LoadBefore: readLoad(), Settings: readSettings(b),
		Command: os.Getenv("BENCH_COMMAND"), GoCommand: os.Getenv("BENCH_GO_COMMAND")}
	began := time.Now()
	root, err := testcluster.ModuleRoot()
	if err != nil {
		b.Fatal(err)
	}
	// Quiet phases first, each alone on the machine: builds, the delegation-check benchmarks, the API-call counts.
	bins := buildBinaries(b, root)
	f.Sizes = bins.sizes
	b.Logf("binaries: %+v", f.Sizes)
	f.Delegation = delegationBenchmarks(b, root)
	f.Calls = countCalls(b)

	h := newHarness(b, bins, f.Settings)
	f.Idle, f.Background = h.idle, h.procs.background
	sides := h.sides(b)
	for round := 1; round <= f.Settings.Rounds; round++ {
		for _, s := range sides {
			if s.route != nil {
				s.route(b)
			}
			for _, inflight := range []int{1, f.Settings.InFlight} {
				n := f.Settings.NHigh
				if inflight == 1 {
					n = f.Settings.N1
				}
				r := measure(b, s, inflight, n, round, &h.procs)
				f.Runs = append(f.Runs, r)
				b.Logf("round %d %-18s %2d in flight: %7.1f req/s, p50 %6.2f ms, p99 %6.2f ms, %d provider calls",
					round, s.key, inflight, r.Throughput(), ms(percentile(r.all(), 0.5)), ms(percentile(r.all(), 0.99)), r.Calls)
			}
		}
	}
	h.checkEmpty(b)
	f.Peak = map[string]memory{}
	for role, w := range map[string]*testcluster.Webhook{"webhook": h.hook, "noop": h.noop} {
		m, err := readMemory(w.Pid())
		if err != nil {
			b.Fatal(err)
		}
		f.Peak[role] = m
	}
	f.LoadAfter = readLoad()
	f.Duration = time.Since(began)

	if out := os.Getenv("BENCH_FIGURES"); out != "" {
		data, err := json.Marshal(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(out, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	report := render(f)
	if out := os.Getenv("BENCH_OUT"); out != "" {
		if !filepath.IsAbs(out) {
			out = filepath.Join(root, out)
		}
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			b.Fatal(err)
		}
		b.Logf("wrote %s", out)
	} else {
		fmt.Print(report) // b.Log would truncate it
	}
}

// binaries are the three builds, made as the Makefile's build target makes the release binary.
type binaries struct {
	full, minimal, noop string
	sizes               map[string]int64
}

func buildBinaries(tb testing.TB, root string) binaries {
	tb.Helper()
	dir := tb.TempDir()
	bins := binaries{full: filepath.Join(dir, "webhook"), minimal: filepath.Join(dir, "webhook-minimal"),
		noop: filepath.Join(dir, "noop-webhook"), sizes: map[string]int64{}}
	for _, bld := range []struct {
		key, out, pkg string
		tags          []string
	}{
		{"full", bins.full, ".", nil},
		{"minimal", bins.minimal, ".", []string{"-tags", "minimal"}},
		{"noop", bins.noop, "./test/load/noop-webhook", nil},
	} {
		args := append([]string{"build", "-trimpath", "-ldflags", "-s -w"}, bld.tags...)
		args = append(args, "-o", bld.out, bld.pkg)
		cmd := exec.CommandContext(context.Background(), "go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("go %v: %v\n%s", args, err, out)
		}
		st, err := os.Stat(bld.out)
		if err != nil {
			tb.Fatal(err)
		}
		bins.sizes[bld.key] = st.Size()
	}
	return bins
}

// harness is the control plane, BIND, the fake Cloudflare, the processes and cert-manager's webhook client.
type harness struct {
	bind    *testdns.BIND
	cf      *fakecloudflare.Server
	cluster *testcluster.Cluster
	svc     *testcluster.Service
	client  *cmwebhook.Webhook
	// hook is the webhook (every provider compiled in), noop the no-op solver.
	hook, noop *testcluster.Webhook
	// idle is each process's memory before it served a challenge: webhook, minimal, noop.
	idle  map[string]memory
	procs procSet
	// proxied reaches the fake Cloudflare as the webhook process does: CONNECT proxy, TLS with the test CA.
	proxied *http.Client
	seq     atomic.Int64
}

func newHarness(tb testing.TB, bins binaries, set settings) *harness {
	tb.Helper()
	h := &harness{idle: map[string]memory{}}
	h.bind = testdns.Start(tb,
		testdns.Zone{Name: prodZone, Records: []string{"_acme-challenge IN CNAME " + aliasName}},
		testdns.Zone{Name: aliasZone, Updatable: true},
	)
	h.cf = fakecloudflare.New(fakecloudflare.WithToken(cfToken), fakecloudflare.WithZone(alias))
	if err := h.cf.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.cf.Close)
	caFile := filepath.Join(tb.TempDir(), "cloudflare-ca.pem")
	if err := h.cf.WriteCAFile(caFile); err != nil {
		tb.Fatal(err)
	}
	proxyURL, err := url.Parse(h.cf.ProxyURL())
	if err != nil {
		tb.Fatal(err)
	}
	// As the webhook's own client (providers' defaultHTTPClient): Go's transport, keep-alives, 64 idle connections
	// per host.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(proxyURL)
	tr.TLSClientConfig.RootCAs = h.cf.CAPool()
	tr.MaxIdleConnsPerHost, tr.MaxIdleConns = 64, 128
	h.proxied = &http.Client{Transport: tr, Timeout: 20 * time.Second}
	tb.Cleanup(tr.CloseIdleConnections)

	h.cluster = testcluster.Start(tb)
	h.svc = h.cluster.Service(tb, groupName, release)
	h.cluster.ApplyChartIdentity(tb, release, groupName)
	h.cluster.CreateServiceAccount(tb, namespace, testcluster.CertManagerServiceAccount)
	h.cluster.CreateSecrets(tb,
		testcluster.WebhookSecret("tsig", map[string]string{"secret": h.bind.Secret}, h.bind.Addr),
		testcluster.WebhookSecret("cloudflare", map[string]string{"api-token": cfToken}),
	)
	h.cluster.WatchSecrets(tb, h.bind.Secret, cfToken)
	kc, _ := h.cluster.KubeconfigFor(tb, namespace, release)
	env := []string{
		"GROUP_NAME=" + groupName,
		"HTTPS_PROXY=" + h.cf.ProxyURL(), "NO_PROXY=127.0.0.1,localhost", "SSL_CERT_FILE=" + caFile,
		"DNS_CHECK_NAMESERVERS=" + h.bind.Addr, "DNS_CHECK_AUTHORITATIVE=false",
		// Cloudflare's documented rate (3.5/s per account) would make the throughput that rate: measure the code.
		"PACING=off",
	}
	start := func(role, bin string) *testcluster.Webhook {
		w := h.svc.StartWebhook(tb, testcluster.WebhookOptions{Bin: bin, Kubeconfig: kc, Env: env})
		time.Sleep(set.Idle)
		m, err := readMemory(w.Pid())
		if err != nil {
			tb.Fatal(err)
		}
		h.idle[role] = m
		return w
	}
	// One at a time, so that each idles alone.
	h.noop = start("noop", bins.noop)
	minimal := start("minimal", bins.minimal)
	minimal.Stop(syscall.SIGTERM, testcluster.StopGrace)
	h.hook = start("webhook", bins.full)
	h.svc.Register(tb, h.noop.Port)
	h.svc.WaitAvailable(tb, 60*time.Second)
	h.client = h.cluster.CertManagerClient(tb)

	h.procs.add("harness", os.Getpid())
	kids := children("kube-apiserver", "etcd", "named")
	for _, role := range []string{"kube-apiserver", "etcd", "named"} {
		pid, ok := kids[role]
		if !ok {
			tb.Fatalf("no %s among this process's children: its CPU time could not be counted", role)
		}
		h.procs.add(role, pid)
	}
	h.procs.add("noop", h.noop.Pid())
	h.procs.add("webhook", h.hook.Pid())
	h.procs.measureBackground(backgroundWindow)
	return h
}

// config is the issuer's webhook block: groupName, solverName and the webhook's config, as cert-manager's
// client takes it.
func config(c map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"groupName": groupName, "solverName": "delegate", "config": c})
	if err != nil {
		panic(err)
	}
	return b
}

func (h *harness) request(cfg []byte, key string) *whapi.ChallengeRequest {
	return &whapi.ChallengeRequest{
		UID: types.UID(fmt.Sprintf("bench-%d", h.seq.Add(1))), Type: "dns-01",
		DNSName: "example.com", Key: key, ResolvedFQDN: "_acme-challenge.example.com.", ResolvedZone: prodZone,
		ResourceNamespace: namespace, Config: &apiextensionsv1.JSON{Raw: cfg},
	}
}

// sides are the things measured, in each round's order: the DNS server alone, the fake Cloudflare alone, the
// no-op, the webhook on BIND, the webhook on the fake Cloudflare.
func (h *harness) sides(tb testing.TB) []*side {
	rfcBlock := map[string]any{"rfc2136": map[string]any{
		"server": h.bind.Addr, "key_name": h.bind.KeyName, "key_alg": h.bind.KeyAlg,
		"key": map[string]any{"secretKeyRef": map[string]any{"name": "tsig", "key": "secret"}},
	}}
	cfBlock := map[string]any{"cloudflare": map[string]any{
		"api_token": map[string]any{"secretKeyRef": map[string]any{"name": "cloudflare", "key": "api-token"}},
	}}
	rfcConfig := config(map[string]any{"domainAlias": alias, "aliasZone": aliasZone, "aliasProvider": rfcBlock})
	cfConfig := config(map[string]any{"domainAlias": alias, "aliasZone": aliasZone, "aliasProvider": cfBlock})
	// A config only the real webhook refuses tells which process the aggregator routes to.
	probe := config(map[string]any{"bogus": true})
	route := func(port int, real bool) func(tb testing.TB) {
		return func(tb testing.TB) {
			tb.Helper()
			h.svc.SetEndpoints(tb, port)
			deadline := time.Now().Add(30 * time.Second)
			for (h.client.Present(h.request(probe, newKey())) != nil) != real {
				if time.Now().After(deadline) {
					tb.Fatalf("the aggregator did not switch to port %d", port)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	through := func(cfg []byte) (func(string) error, func(string) error) {
		return func(key string) error { return h.client.Present(h.request(cfg, key)) },
			func(key string) error { return h.client.CleanUp(h.request(cfg, key)) }
	}
	ctx := context.Background()
	// The DNS server alone: what the webhook's rfc2136 provider sends for a Present (one add) and a CleanUp (one
	// delete), through the same library, from this process, with at most rfc2136Limit updates to the server at once
	// as the provider sends them: BIND's TCP listen queue (tcp-listen-queue, 10) overflows when fifty connect at
	// once, and the library's reads time out.
	rfc := &rfc2136.Provider{Server: h.bind.Addr, KeyName: h.bind.KeyName, KeyAlg: dns.HmacSHA256, Key: h.bind.Secret}
	rel := "_acme-challenge"
	sem := make(chan struct{}, rfc2136Limit)
	limited := func(f func() error) error {
		sem <- struct{}{}
		defer func() { <-sem }()
		return f()
	}
	dnsAlone := &side{key: "dns",
		present: func(key string) error {
			return limited(func() error {
				_, err := rfc.AppendRecords(ctx, aliasZone, []libdns.Record{libdns.TXT{Name: rel, TTL: time.Minute, Text: key}})
				return err
			})
		},
		cleanUp: func(key string) error {
			return limited(func() error {
				_, err := rfc.DeleteRecords(ctx, aliasZone, []libdns.Record{libdns.TXT{Name: rel, Text: key}})
				return err
			})
		},
	}
	// The fake Cloudflare alone: the library the webhook drives, through the same proxy and TLS.
	cfp := &cloudflare.Provider{APIToken: cfToken, HTTPClient: h.proxied}
	calls := func() int { return len(h.cf.Requests()) }
	cfAlone := &side{key: "cloudflare-alone",
		present: func(key string) error {
			_, err := cfp.AppendRecords(ctx, alias, []libdns.Record{libdns.TXT{Name: rel, TTL: time.Minute, Text: key}})
			return err
		},
		cleanUp: func(key string) error {
			_, err := cfp.DeleteRecords(ctx, alias, []libdns.Record{libdns.TXT{Name: rel, Text: key}})
			return err
		},
		calls: calls,
	}
	// The solver in this process, with no Kubernetes in the path: the webhook's own code (config and Secret
	// caches, the delegation check against BIND, the rfc2136 provider) on the same BIND, without the framework.
	inproc, stop := newSolver(solverOptions{dns: &dnscheck.Resolver{Servers: []string{h.bind.Addr}}, endpoints: []string{h.bind.Addr},
		secrets: map[string]map[string]string{"tsig": {"secret": h.bind.Secret}}})
	tb.Cleanup(stop)
	inner, _ := json.Marshal(map[string]any{"domainAlias": alias, "aliasZone": aliasZone, "aliasProvider": rfcBlock})
	inprocReq := func(key string) *whapi.ChallengeRequest {
		r := h.request(nil, key)
		r.ResourceNamespace, r.Config = callsNamespace, &apiextensionsv1.JSON{Raw: inner}
		return r
	}
	solverInproc := &side{key: "solver-rfc2136",
		present: func(key string) error { return inproc.Present(inprocReq(key)) },
		cleanUp: func(key string) error { return inproc.CleanUp(inprocReq(key)) },
	}
	noop := &side{key: "noop", route: route(h.noop.Port, false)}
	noop.present, noop.cleanUp = through(rfcConfig)
	hookRFC := &side{key: "webhook-rfc2136", route: route(h.hook.Port, true)}
	hookRFC.present, hookRFC.cleanUp = through(rfcConfig)
	hookCF := &side{key: "webhook-cloudflare", route: route(h.hook.Port, true), calls: calls}
	hookCF.present, hookCF.cleanUp = through(cfConfig)
	return []*side{dnsAlone, solverInproc, cfAlone, noop, hookRFC, hookCF}
}

// checkEmpty fails if a value outlived its CleanUp, in BIND or in the fake.
func (h *harness) checkEmpty(tb testing.TB) {
	tb.Helper()
	txt, err := h.bind.ZoneTXT(aliasZone)
	if err != nil {
		tb.Fatal(err)
	}
	if len(txt) != 0 {
		tb.Fatalf("BIND still holds TXT records: %v", txt)
	}
	for _, r := range h.cf.Records(alias) {
		if r.Type == "TXT" {
			tb.Fatalf("the fake Cloudflare still holds TXT records, e.g. %+v", r)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
