//go:build integration

// Package replicas runs three webhook processes (the binary) behind one APIService, as the chart's Deployment
// with replicaCount 3 does: one Service, one FQDN EndpointSlice with three loopback addresses (127.0.0.2, .3, .4)
// on one port, so that kube-apiserver's aggregator picks a replica at random for each call. cert-manager's own
// webhook client (as cert-manager's ServiceAccount, with the chart's RBAC) runs REPLICAS_PAIRS (default 500)
// apex + wildcard pairs through them, 60 challenges at a time as cert-manager's controller does, each challenge a
// Present, a short hold and a CleanUp, every failed call retried with backoff (1 s doubling to 5 s, at most
// maxAttempts tries), while one replica is SIGKILLed halfway and restarted on the same address and port.
//
// The two values of a pair sit at one name at once: four pairs in five at their own name
// (_acme-challenge.pNNNN.validation.example.org., as cert-manager hands it over with cnameStrategy: Follow), the
// fifth at the one shared alias name _acme-challenge.validation.example.org. (mapped by domainAlias after the
// delegation check, against BIND's production CNAMEs), where every such pair meets all the others.
//
// While it runs a sampler reads the delegation zone every ~100 ms (an AXFR from BIND; the fake Route 53's store)
// and the test checks afterwards that every value was in the zone, at its name, in every sample taken wholly
// between the end of its successful Present and the start of its first CleanUp (so neither its own pair's other
// CleanUp nor any concurrent write took it early), and that nothing is left once every CleanUp succeeded. It runs
// with the rfc2136 provider against BIND (exact strategy) and with the route53 provider against the fake
// (set strategy: the replicas share the Leases in POD_NAMESPACE, with the chart's lease RBAC).
//
// `make replicas` runs it alone.
package replicas

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	cmwebhook "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/webhook"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeroute53"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

const (
	groupName = "acme.replicas.test"
	// release as the chart's README installs it: the Service and ServiceAccount are named after it.
	release = "cert-manager-webhook-delegate"
	// prodZone holds the production names' CNAMEs (BIND); aliasZone is the delegation zone the webhook writes.
	prodZone   = "replicas.test."
	alias      = "validation.example.org"
	aliasZone  = alias + "."
	sharedName = "_acme-challenge." + aliasZone
	// sharedEvery: pair i with i%sharedEvery == 0 uses the shared alias name, the others their own.
	sharedEvery = 5

	// route53KeyID and route53Secret are the access key the fake Route 53 accepts; the secret is in a Secret.
	route53KeyID  = "AKIAREPLICASTEST0001"
	route53Secret = "replicas-route53-secret-0123456789abcdefghij"

	// concurrency is how many challenges run at once: cert-manager's default (--max-concurrent-challenges 60).
	concurrency = 60
	// The client's retries of a failed call, as cert-manager retries a challenge (from 5 s to 30 min there;
	// shorter here): first wait firstBackoff, doubling up to maxBackoff, at most maxAttempts tries.
	firstBackoff = time.Second
	maxBackoff   = 5 * time.Second
	maxAttempts  = 12
	// sampleEvery is the sampler's period.
	sampleEvery = 100 * time.Millisecond
	// holdMin and holdMax bound the random hold between a challenge's Present and its CleanUp.
	holdMin, holdMax = 200 * time.Millisecond, 600 * time.Millisecond
	// downFor is how long the killed replica stays down before it is started again.
	downFor = time.Second
)

// addrs are the replicas' addresses: one EndpointSlice, one port.
var addrs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}

// killed is the index in addrs of the replica SIGKILLed halfway.
const killed = 1

func TestMain(m *testing.M) {
	ctrllog.SetLogger(klog.NewKlogr())
	os.Exit(testcluster.Main(m))
}

// world is what both runs share: one control plane with the chart's identities, BIND serving the production
// CNAMEs (and the delegation zone for rfc2136), the fake Route 53, cert-manager's webhook client.
type world struct {
	pairs      int
	cluster    *testcluster.Cluster
	svc        *testcluster.Service
	bind       *testdns.BIND
	r53        *fakeroute53.Server
	client     *cmwebhook.Webhook
	kubeconfig string
	// env is every replica's environment, beside the run's own.
	env []string
	bin string
}

func TestReplicas(t *testing.T) {
	pairs := 500
	if v := os.Getenv("REPLICAS_PAIRS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			t.Fatalf("REPLICAS_PAIRS=%q: want a whole number of pairs, 10 or more", v)
		}
		pairs = n
	}
	w := setup(t, pairs)
	t.Run("rfc2136 against BIND", func(t *testing.T) {
		w.run(t, backend{
			name: "rfc2136",
			block: map[string]any{"rfc2136": map[string]any{
				"server": w.bind.Addr, "key_name": w.bind.KeyName, "key_alg": w.bind.KeyAlg,
				"key": map[string]any{"secretKeyRef": map[string]any{"name": "tsig", "key": "secret"}},
			}},
			snapshot: func() (map[string]string, error) {
				txt, err := w.bind.ZoneTXT(aliasZone)
				if err != nil {
					return nil, err
				}
				return byValue(txt), nil
			},
		})
	})
	t.Run("route53 fake, set strategy with shared Leases", func(t *testing.T) {
		w.run(t, backend{
			name: "route53",
			block: map[string]any{
				"route53": map[string]any{
					"region": "us-east-1", "access_key_id": route53KeyID,
					"secret_access_key": map[string]any{"secretKeyRef": map[string]any{"name": "route53", "key": "secret-access-key"}},
				},
				// Pacing off: Route 53's documented 5 requests/s (shared by the replicas) would make this run take
				// an hour, the fake has no rate window, and pacing is not what this harness tests.
				"rateLimit": map[string]any{"perSecond": 0},
			},
			env: []string{
				// libdns/route53 builds its SDK client itself; the SDK reads the endpoint from the environment.
				"AWS_ENDPOINT_URL_ROUTE_53=" + w.r53.URL(), "AWS_EC2_METADATA_DISABLED=true",
				"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(t.TempDir(), "none"),
			},
			snapshot: func() (map[string]string, error) {
				txt := map[string][]string{}
				for _, set := range w.r53.Records(aliasZone) {
					if set.Type == "TXT" {
						for _, v := range set.Values {
							txt[set.Name] = append(txt[set.Name], unquote(v))
						}
					}
				}
				return byValue(txt), nil
			},
		})
	})
}

func setup(t *testing.T, pairs int) *world {
	t.Helper()
	w := &world{pairs: pairs}
	cnames := make([]string, 0, pairs)
	for i := range pairs {
		cnames = append(cnames, fmt.Sprintf("_acme-challenge.%s IN CNAME %s", label(i), target(i)))
	}
	w.bind = testdns.Start(t, testdns.Zone{Name: prodZone, Records: cnames}, testdns.Zone{Name: aliasZone, Updatable: true})
	var err error
	w.r53, err = fakeroute53.Start(fakeroute53.WithAccessKey(route53KeyID, route53Secret), fakeroute53.WithZone(alias))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.r53.Close)

	w.cluster = testcluster.Start(t)
	w.svc = w.cluster.Service(t, groupName, release, addrs...)
	w.cluster.ApplyChartIdentity(t, release, groupName)
	w.cluster.CreateSecrets(t,
		testcluster.WebhookSecret("tsig", map[string]string{"secret": w.bind.Secret}, w.bind.Addr),
		testcluster.WebhookSecret("route53", map[string]string{"secret-access-key": route53Secret}),
	)
	w.cluster.WatchSecrets(t, w.bind.Secret, route53Secret)
	w.kubeconfig, _ = w.cluster.KubeconfigFor(t, testcluster.Namespace, release)
	w.client = w.cluster.CertManagerClient(t)
	w.bin = testcluster.WebhookBinary(t)
	w.env = []string{
		"GROUP_NAME=" + groupName,
		// The chart sets both: where the Leases go (its Role grants them there), and how many replicas share each
		// provider account's rate.
		"POD_NAMESPACE=" + testcluster.Namespace, "REPLICAS=" + strconv.Itoa(len(addrs)),
		// The delegation check of the shared-name pairs asks BIND, recursively (its zones' NS is localhost.).
		"DNS_CHECK_NAMESERVERS=" + w.bind.Addr, "DNS_CHECK_AUTHORITATIVE=false",
		"HTTPS_PROXY=", "https_proxy=", "NO_PROXY=127.0.0.1,localhost",
	}
	port := testcluster.FreePortOn(t, addrs...)
	w.svc.Register(t, port, addrs...)
	return w
}

// label is pair i's production name relative to prodZone; domain its absolute name without the dot.
func label(i int) string  { return fmt.Sprintf("p%04d", i) }
func domain(i int) string { return label(i) + "." + strings.TrimSuffix(prodZone, ".") }

// shared reports whether pair i uses the shared alias name.
func shared(i int) bool { return i%sharedEvery == 0 }

// target is where pair i's values live: its CNAME's target.
func target(i int) string {
	if shared(i) {
		return sharedName
	}
	return "_acme-challenge." + label(i) + "." + aliasZone
}

// backend is one provider the run writes through, and how to read what it holds.
type backend struct {
	name  string
	block map[string]any
	env   []string
	// snapshot returns the TXT values of the delegation zone: value → owner name.
	snapshot func() (map[string]string, error)
}

// challenge is one challenge's lifecycle and what the client saw of it.
type challenge struct {
	pair     int
	wildcard bool
	key      string
	name     string // where its value must be

	// presented is when its first successful Present returned; cleanupStart when its first CleanUp was sent;
	// zero when that never happened.
	presented, cleanupStart time.Time
	presentErr, cleanupErr  error
}

// call is one request cert-manager's client sent.
type call struct {
	uid  string
	op   string
	err  error
	at   time.Time
	took time.Duration
}

// sample is one read of the delegation zone, taken at some moment between start and end.
type sample struct {
	start, end time.Time
	values     map[string]string
}

// run is one run of the harness against one backend.
type run struct {
	w      *world
	b      backend
	config []byte

	mu    sync.Mutex
	calls []call
	seq   atomic.Int64
}

func (w *world) run(t *testing.T, b backend) {
	started := time.Now()
	r := &run{w: w, b: b}
	var err error
	r.config, err = json.Marshal(map[string]any{"groupName": groupName, "solverName": "delegate", "config": map[string]any{
		"domainAlias": alias, "aliasZone": aliasZone, "aliasProvider": b.block,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if left, err := b.snapshot(); err != nil || len(left) != 0 {
		t.Fatalf("the delegation zone holds %d TXT values before the run (err %v)", len(left), err)
	}

	// Three replicas on one port, behind the Service's one EndpointSlice.
	port := testcluster.FreePortOn(t, addrs...)
	env := append(slices.Clone(w.env), b.env...)
	start := func(addr string) *testcluster.Webhook {
		return w.svc.StartWebhook(t, testcluster.WebhookOptions{Bin: w.bin, Kubeconfig: w.kubeconfig, Addr: addr, Port: port, Env: env})
	}
	// procs are every process started, the killed one and its replacement included; byAddr the index in addrs.
	var procs []*testcluster.Webhook
	for _, a := range addrs {
		procs = append(procs, start(a))
	}
	w.svc.SetEndpoints(t, port, addrs...)
	w.svc.WaitAvailable(t, 60*time.Second)
	r.untilEveryReplicaServes(t, procs)

	chs := make([]*challenge, 0, 2*w.pairs)
	for i := range w.pairs {
		for _, wc := range []bool{false, true} {
			chs = append(chs, &challenge{pair: i, wildcard: wc, key: newKey(), name: target(i)})
		}
	}

	// The sampler, until every lifecycle has ended.
	var samples []sample
	var sampleErrs []error
	stopSampling := make(chan struct{})
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			s := sample{start: time.Now()}
			vals, err := b.snapshot()
			s.end = time.Now()
			if err != nil {
				sampleErrs = append(sampleErrs, err)
			} else {
				s.values = vals
				samples = append(samples, s)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()

	// The lifecycles, 60 challenges at a time; the two of a pair start together, so that they overlap at one name
	// and, through the aggregator, usually run on different replicas.
	runStart := time.Now()
	sem := make(chan struct{}, concurrency)
	var done atomic.Int64
	var wg sync.WaitGroup
	launched := make(chan struct{})
	go func() {
		defer close(launched)
		for _, ch := range chs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem; done.Add(1) }()
				r.lifecycle(ch)
			})
		}
	}()
	// Halfway, in the test's goroutine (StartWebhook may fail the test): SIGKILL one replica, leave it down for
	// downFor while the aggregator still routes to it, and start it again on the same address and port.
	for done.Load() < int64(len(chs)/2) {
		time.Sleep(10 * time.Millisecond)
	}
	victim := procs[killed]
	killedAt := time.Since(runStart)
	victim.Stop(syscall.SIGKILL, testcluster.StopGrace)
	t.Logf("%s: SIGKILLed replica %s (pid %d) at %s, with %d of %d challenges done", b.name, addrs[killed], victim.Pid(),
		killedAt.Round(time.Millisecond), done.Load(), len(chs))
	time.Sleep(downFor)
	restarting := time.Since(runStart)
	restarted := start(addrs[killed])
	procs = append(procs, restarted)
	restartedAt := time.Since(runStart)
	t.Logf("%s: replica %s started again at %s (pid %d) on the same address and port, healthy at %s", b.name, addrs[killed],
		restarting.Round(time.Millisecond), restarted.Pid(), restartedAt.Round(time.Millisecond))
	<-launched
	wg.Wait()
	close(stopSampling)
	<-sampling
	runWall := time.Since(runStart)

	// Every lifecycle ended; nothing may be left once every CleanUp succeeded.
	left, err := b.snapshot()
	if err != nil {
		t.Fatalf("reading the zone after the run: %v", err)
	}

	r.report(t, reportInput{chs: chs, samples: samples, sampleErrs: sampleErrs, left: left, procs: procs,
		killedAt: killedAt, restartedAt: restartedAt, runWall: runWall, wall: time.Since(started), runStart: runStart})
}

// untilEveryReplicaServes sends harmless calls (a CleanUp whose config maps nothing, which every replica answers
// with success and logs with its UID, touching no provider) until each replica has logged one: the aggregator
// routes to all three, and each has its client and informers up.
func (r *run) untilEveryReplicaServes(t *testing.T, procs []*testcluster.Webhook) {
	t.Helper()
	probe, _ := json.Marshal(map[string]any{"groupName": groupName, "solverName": "delegate", "config": map[string]any{"bogus": true}})
	deadline := time.Now().Add(60 * time.Second)
	for {
		var uids []string
		for range 30 {
			req := r.request(0, "probe-never-presented-0000000000000000000", probe)
			_ = r.w.client.CleanUp(req)
			uids = append(uids, string(req.UID))
		}
		all := true
		for _, p := range procs {
			seen := loggedUIDs(p.Out.String())
			n := 0
			for _, u := range uids {
				if seen[u] {
					n++
				}
			}
			all = all && n > 0
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s some replica has logged none of the probe calls sent through the aggregator")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lifecycle is one challenge: Present until it succeeds (or the client gives up), a short hold, CleanUp until it
// succeeds. It never fails the test itself (it runs in its own goroutine): report judges what it recorded.
func (r *run) lifecycle(ch *challenge) {
	if ch.wildcard {
		time.Sleep(time.Duration(mrand.IntN(40)) * time.Millisecond)
	}
	ch.presentErr = r.retry("present", ch)
	if ch.presentErr == nil {
		ch.presented = time.Now()
	}
	// Long enough for a few samples between the Present and the CleanUp, and for the pair's other CleanUp to run
	// inside this value's window as often as not.
	time.Sleep(holdMin + time.Duration(mrand.Int64N(int64(holdMax-holdMin))))
	ch.cleanupStart = time.Now()
	ch.cleanupErr = r.retry("cleanup", ch)
}

// retry sends one call as cert-manager's client would until it succeeds, waiting firstBackoff, doubling up to
// maxBackoff, between tries, at most maxAttempts tries. Each try is a new request with a new UID.
func (r *run) retry(op string, ch *challenge) error {
	wait := firstBackoff
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		req := r.request(ch.pair, ch.key, r.config)
		start := time.Now()
		if op == "present" {
			err = r.w.client.Present(req)
		} else {
			err = r.w.client.CleanUp(req)
		}
		r.mu.Lock()
		r.calls = append(r.calls, call{uid: string(req.UID), op: op, err: err, at: start, took: time.Since(start)})
		r.mu.Unlock()
		if err == nil {
			return nil
		}
		time.Sleep(wait)
		wait = min(2*wait, maxBackoff)
	}
	return err
}

// request builds the ChallengeRequest cert-manager sends for pair i: with cnameStrategy: Follow for the pairs at
// their own names (resolvedFQDN is the CNAME's target, resolvedZone the delegation zone), without it for the pairs
// at the shared name (resolvedFQDN is the production name, resolvedZone the production zone, which the webhook
// never writes: it maps the name by domainAlias after checking the CNAME).
func (r *run) request(i int, key string, config []byte) *whapi.ChallengeRequest {
	fqdn, zone := target(i), aliasZone
	if shared(i) {
		fqdn, zone = "_acme-challenge."+domain(i)+".", prodZone
	}
	return &whapi.ChallengeRequest{
		UID: types.UID(fmt.Sprintf("replicas-%s-%d-%d", r.b.name, time.Now().UnixNano(), r.seq.Add(1))), Type: "dns-01",
		DNSName: domain(i), Key: key, ResolvedFQDN: fqdn, ResolvedZone: zone,
		ResourceNamespace: testcluster.Namespace, Config: &apiextensionsv1.JSON{Raw: config},
	}
}

type reportInput struct {
	chs                            []*challenge
	samples                        []sample
	sampleErrs                     []error
	left                           map[string]string
	procs                          []*testcluster.Webhook
	killedAt, restartedAt, runWall time.Duration
	wall                           time.Duration
	runStart                       time.Time
}

// violation is a value missing from a sample taken while it had to be there.
type violation struct {
	ch *challenge
	s  sample
	// at is where the sample had the value instead ("" when missing); sibling says whether the pair's other
	// challenge had started its CleanUp before the sample ended (it may have taken this value with its own).
	at      string
	sibling bool
}

func (r *run) report(t *testing.T, in reportInput) {
	t.Helper()
	name := r.b.name
	// Calls per process, by the UIDs each logged (the webhook logs every call with its UID at --v=2).
	r.mu.Lock()
	calls := slices.Clone(r.calls)
	r.mu.Unlock()
	served := make([]int, len(in.procs))
	logged := map[string]int{} // uid → how many processes logged it
	for i, p := range in.procs {
		seen := loggedUIDs(p.Out.String())
		for _, c := range calls {
			if seen[c.uid] {
				served[i]++
				logged[c.uid]++
			}
		}
	}
	perAddr := make([]int, len(addrs))
	for i, n := range served {
		a := i
		if i >= len(addrs) {
			a = killed // the replacement
		}
		perAddr[a] += n
	}
	var failed, unlogged int
	type span struct {
		n           int
		first, last time.Duration
	}
	causes := map[string]*span{}
	for _, c := range calls {
		if c.err != nil {
			failed++
			at := c.at.Sub(in.runStart)
			sp := causes[cause(c.err)]
			if sp == nil {
				sp = &span{first: at}
				causes[cause(c.err)] = sp
			}
			sp.n++
			sp.first, sp.last = min(sp.first, at), max(sp.last, at)
		}
		if logged[c.uid] == 0 {
			unlogged++
		}
		if logged[c.uid] > 1 {
			t.Errorf("%s: call %s was logged by %d processes", name, c.uid, logged[c.uid])
		}
	}
	for i, a := range addrs {
		// Uniformly at random each replica gets a third; a replica with less than a tenth was not in the rotation.
		if perAddr[i] < len(calls)/10 {
			t.Errorf("%s: replica %s served %d of %d calls: the aggregator did not spread the calls over every replica", name, a, perAddr[i], len(calls))
		}
	}

	// The invariant, sample by sample.
	var violations []violation
	checked := 0
	type pairKey struct {
		pair     int
		wildcard bool
	}
	byPair := map[pairKey]*challenge{}
	for _, ch := range in.chs {
		byPair[pairKey{ch.pair, ch.wildcard}] = ch
	}
	for _, ch := range in.chs {
		if ch.presented.IsZero() {
			continue
		}
		sib := byPair[pairKey{ch.pair, !ch.wildcard}]
		for _, s := range in.samples {
			if !s.start.After(ch.presented) || !s.end.Before(ch.cleanupStart) {
				continue
			}
			checked++
			if at, ok := s.values[ch.key]; !ok || at != ch.name {
				violations = append(violations, violation{ch: ch, s: s, at: at,
					sibling: !sib.cleanupStart.IsZero() && sib.cleanupStart.Before(s.end)})
			}
		}
	}
	var gaveUp []string
	for _, ch := range in.chs {
		if ch.presentErr != nil {
			gaveUp = append(gaveUp, fmt.Sprintf("Present of pair %d (wildcard %v) after %d tries: %v", ch.pair, ch.wildcard, maxAttempts, ch.presentErr))
		}
		if ch.cleanupErr != nil {
			gaveUp = append(gaveUp, fmt.Sprintf("CleanUp of pair %d (wildcard %v) after %d tries: %v", ch.pair, ch.wildcard, maxAttempts, ch.cleanupErr))
		}
	}

	var perProc []string
	for i, p := range in.procs {
		what := addrs[min(i, len(addrs)-1)]
		switch {
		case i == killed:
			what += " (killed)"
		case i >= len(addrs):
			what = addrs[killed] + " (restarted)"
		}
		perProc = append(perProc, fmt.Sprintf("%s pid %d: %d", what, p.Pid(), served[i]))
	}
	var causeList []string
	for c, sp := range causes {
		causeList = append(causeList, fmt.Sprintf("%d× %s (sent from %s to %s)", sp.n, c,
			sp.first.Round(time.Millisecond), sp.last.Round(time.Millisecond)))
	}
	sort.Strings(causeList)
	t.Logf("%s: %d pairs (%d challenges, %d at the shared name), %d calls, %d failed and retried (%d never reached a replica); "+
		"calls per replica: %s; kill at %s, restart at %s; %d samples (%d failed reads), %d value-sample checks, "+
		"%d violations, %d values left; run %s, wall %s",
		name, r.w.pairs, len(in.chs), 2*countShared(r.w.pairs), len(calls), failed, unlogged, strings.Join(perProc, ", "),
		in.killedAt.Round(time.Millisecond), in.restartedAt.Round(time.Millisecond), len(in.samples), len(in.sampleErrs),
		checked, len(violations), len(in.left), in.runWall.Round(time.Millisecond), in.wall.Round(time.Millisecond))
	if len(causeList) > 0 {
		t.Logf("%s: why calls failed: %s", name, strings.Join(causeList, "; "))
	}

	if len(in.samples) < 20 || checked == 0 {
		t.Errorf("%s: %d samples and %d checks: the sampler did not see the run", name, len(in.samples), checked)
	}
	if len(in.sampleErrs) > len(in.samples)/10 {
		t.Errorf("%s: %d of the zone reads failed, first: %v", name, len(in.sampleErrs), in.sampleErrs[0])
	}
	for i, g := range gaveUp {
		if i == 10 {
			t.Errorf("%s: … and %d more calls the client gave up on", name, len(gaveUp)-10)
			break
		}
		t.Errorf("%s: the client gave up: %s", name, g)
	}
	// One line per lost value (the first sample that missed it), at most 20.
	reported := map[*challenge]bool{}
	lost := 0
	for _, v := range violations {
		if reported[v.ch] {
			continue
		}
		reported[v.ch] = true
		lost++
		if lost > 20 {
			continue
		}
		where := "missing"
		if v.at != "" {
			where = "at " + v.at
		}
		why := "no CleanUp of its pair had started: a concurrent write lost it"
		if v.sibling {
			why = "its pair's other CleanUp had started: that CleanUp took it"
		}
		t.Errorf("%s: pair %d (%s, wildcard %v) value %s %s in the sample of %s, %s after its Present succeeded and %s before its CleanUp; %s",
			name, v.ch.pair, v.ch.name, v.ch.wildcard, v.ch.key[:8]+"…", where, v.s.start.Format("15:04:05.000"),
			v.s.start.Sub(v.ch.presented).Round(time.Millisecond), v.ch.cleanupStart.Sub(v.s.end).Round(time.Millisecond), why)
	}
	if lost > 20 {
		t.Errorf("%s: %d values lost in all", name, lost)
	}
	if len(in.left) > 0 {
		n := 0
		for v, at := range in.left {
			if n++; n <= 10 {
				t.Errorf("%s: left in the zone after every CleanUp: %s… at %s", name, v[:8], at)
			}
		}
		t.Errorf("%s: %d values left in the zone", name, len(in.left))
	}
}

// cause names a failed call's error for the summary, without its details.
func cause(err error) string {
	msg := err.Error()
	for _, c := range []struct{ match, name string }{
		{"connect: connection refused", "the aggregator could not reach the replica (connection refused)"},
		{"no endpoints available", "no endpoints available"},
		{"waiting for the lock", "timed out waiting for the Lease lock"},
		{"taking the lock", "could not take the Lease lock"},
		{"deadline", "deadline exceeded"},
		{"EOF", "the connection to the replica ended (EOF)"},
		{"connection reset", "connection reset"},
		{"the server is currently unable to handle the request", "the aggregator answered 503"},
		{"shutting down", "the replica was shutting down"},
	} {
		if strings.Contains(msg, c.match) {
			return c.name
		}
	}
	if len(msg) > 160 {
		msg = msg[:160] + "…"
	}
	return msg
}

var uidRE = regexp.MustCompile(`uid="([^"]+)"`)

// loggedUIDs returns the UIDs of the calls a webhook's output logged.
func loggedUIDs(out string) map[string]bool {
	seen := map[string]bool{}
	for _, m := range uidRE.FindAllStringSubmatch(out, -1) {
		seen[m[1]] = true
	}
	return seen
}

// byValue turns owner name → values into value → owner name.
func byValue(txt map[string][]string) map[string]string {
	out := map[string]string{}
	for name, vals := range txt {
		for _, v := range vals {
			out[v] = strings.ToLower(name)
		}
	}
	return out
}

// unquote turns a Route 53 TXT value (one quoted character-string: ACME values need no escapes) into its text.
func unquote(v string) string {
	if s, err := strconv.Unquote(v); err == nil {
		return s
	}
	return strings.Trim(v, `"`)
}

// newKey makes a random 43-character base64url value, as ACME's DNS-01 values are.
func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func countShared(pairs int) int { return (pairs + sharedEvery - 1) / sharedEvery }
