package metrics

import (
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// Prefix starts the name of every metric the webhook exports.
const Prefix = "delegate_"

// FailingNameTTL is how long a name whose delegation check failed stays counted in delegate_delegation_failing_names
// without a new check: longer than cert-manager's longest backoff between two attempts at a challenge (30 minutes),
// so a name that stays broken never drops out between retries, and short enough that a name fixed by a retry that
// another replica served stops counting here within the hour.
const FailingNameTTL = 45 * time.Minute

// maxFailingNames bounds the names remembered for delegate_delegation_failing_names; beyond it the oldest failure
// is forgotten first.
const maxFailingNames = 10000

// Label values outside the sets below are counted as other; an empty provider or mode as none.
const (
	other = "other"
	none  = "none"
)

var (
	challengeResults = []string{"ok", "config_error", "secret_error", "delegation_missing", "fenced", "provider_error",
		"rate_limited", "timeout"}
	operations = []string{"present", "cleanup"}
	modes      = []string{"alias", "direct"}
	calls      = []string{"append", "delete", "get", "zones", "http", "call"}
	// callOutcomes are the providers package's outcomes, which it spells with spaces ("rate limited").
	callOutcomes = []string{"ok", "error", "rate_limited", "timeout"}
)

// Buckets, in seconds. A challenge has a 30 s deadline (solver.DefaultCallTimeout); a provider request a 20 s one.
var (
	challengeBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30}
	callBuckets      = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20}
	waitBuckets      = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

var (
	challenges = metrics.NewCounterVec(&metrics.CounterOpts{
		Name: Prefix + "challenges_total",
		Help: "Present and CleanUp calls by operation (present, cleanup), provider (the registry name; none when the " +
			"call failed before its config was mapped), mode (alias, direct, none) and result (ok, config_error, " +
			"secret_error, delegation_missing, fenced, provider_error, rate_limited, timeout). The apiserver's request " +
			"metrics count every one of them as a success (HTTP 201).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"operation", "provider", "mode", "result"})
	challengeDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Name: Prefix + "challenge_duration_seconds",
		Help: "How long Present and CleanUp calls took, by operation and result. The series of result ok exist from " +
			"the start, at zero.",
		Buckets:        challengeBuckets,
		StabilityLevel: metrics.ALPHA,
	}, []string{"operation", "result"})
	providerCalls = metrics.NewCounterVec(&metrics.CounterOpts{
		Name: Prefix + "provider_calls_total",
		Help: "Calls to DNS providers by provider, call (append, delete, get, zones: a provider library call; http: " +
			"one HTTP request of it) and outcome (ok, error, rate_limited, timeout). An error here may be an answer " +
			"the webhook handles, such as a duplicate record on a repeated Present.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"provider", "call", "outcome"})
	providerCallDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Name:           Prefix + "provider_call_duration_seconds",
		Help:           "How long calls to DNS providers took, by provider and call.",
		Buckets:        callBuckets,
		StabilityLevel: metrics.ALPHA,
	}, []string{"provider", "call"})
	pacerWait = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Name: Prefix + "pacer_wait_seconds",
		Help: "How long calls waited for a request slot of their provider account's rate limit (the pacer), by " +
			"provider. Calls that did not wait are not observed.",
		Buckets:        waitBuckets,
		StabilityLevel: metrics.ALPHA,
	}, []string{"provider"})
	throttled = metrics.NewCounterVec(&metrics.CounterOpts{
		Name:           Prefix + "provider_throttled_total",
		Help:           "Answers from DNS providers saying to slow down (HTTP 429, or a library error saying so), by provider.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"provider"})
	retries = metrics.NewCounterVec(&metrics.CounterOpts{
		Name:           Prefix + "provider_retries_total",
		Help:           "Provider requests or calls sent again after a 429, a 5xx or a network failure, by provider.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"provider"})
	rateLimited = metrics.NewCounterVec(&metrics.CounterOpts{
		Name: Prefix + "rate_limited_calls_total",
		Help: "Provider calls refused because their account's rate limit had no request slot before the call's " +
			"deadline, by provider.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"provider"})
	delegationChecks = metrics.NewCounterVec(&metrics.CounterOpts{
		Name: Prefix + "delegation_checks_total",
		Help: "CNAME delegation checks Present made, by outcome: ok, cached, or why the delegation does not hold " +
			"(no_record, nxdomain, wrong_target, wildcard_wrong_target, loop, too_long, txt_at_name, no_answer, " +
			"inconsistent) or error (the check could not be made). The names are in the log.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"outcome"})
	leftBehind = metrics.NewCounterVec(&metrics.CounterOpts{
		Name: Prefix + "cleanup_left_behind_total",
		Help: "CleanUps that gave up on a TXT value because its namespace is being deleted and its Secret is gone, by " +
			"provider: each is a value left in DNS, named in the log, to delete by hand.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"provider"})
)

// Descriptions of what the collector computes at scrape time.
var (
	failingNamesDesc = metrics.NewDesc(Prefix+"delegation_failing_names",
		"Names whose last delegation check in this replica failed, counted for 45 minutes after that check unless "+
			"a check of the name succeeds here (the retry that succeeds may land on another replica): alert on the "+
			"max over replicas. The names are in the log.", nil, nil, metrics.ALPHA, "")
	informerSyncedDesc = metrics.NewDesc(Prefix+"secret_informer_synced",
		"1 when every Secret informer the webhook runs in the namespace has synced, 0 while one has not (its RBAC, "+
			"or the API server), by namespace.", []string{"namespace"}, nil, metrics.ALPHA, "")
	buildInfoDesc = metrics.NewDesc(Prefix+"build_info",
		"1, labelled with the webhook's version, the Go version it was built with and the number of providers "+
			"compiled in.", []string{"version", "go_version", "providers"}, nil, metrics.ALPHA, "")
	providerInfoDesc = metrics.NewDesc(Prefix+"provider_info",
		"1 per provider compiled in, labelled with its write strategy (exact, set, fixed) and how it is tested "+
			"(real_server, fake_api, constructed).", []string{"provider", "strategy", "test_level"}, nil, metrics.ALPHA, "")
)

// Build describes the binary, for delegate_build_info and delegate_provider_info.
type Build struct {
	// Version is the webhook's version (main.version).
	Version string
	// Registry is the providers compiled in; they are also the provider label's values. Default:
	// providers.Default().
	Registry providers.Registry
}

// Recorder turns what the solver and the providers report into the metrics. It implements solver.Observer and
// providers.Observer and is safe for concurrent use.
type Recorder struct {
	providers map[string]bool
	// delegationOutcomes are the outcomes DelegationCheck may report, as their label values.
	delegationOutcomes map[string]string
	failing            *failingNames

	mu        sync.Mutex
	informers func() []solver.InformerState
}

var (
	registerOnce sync.Once
	recorder     *Recorder
)

// Register registers the webhook's metrics in legacyregistry, which the server's /metrics serves, and returns
// their Recorder for solver.Solver.Observer and providers.SetObserver. Only the first call in a process
// registers; later ones return the same Recorder and ignore b.
func Register(b Build) *Recorder {
	registerOnce.Do(func() {
		if b.Registry == nil {
			b.Registry = providers.Default()
		}
		recorder = newRecorder(b, time.Now)
		legacyregistry.MustRegister(challenges, challengeDuration, providerCalls, providerCallDuration, pacerWait,
			throttled, retries, rateLimited, delegationChecks, leftBehind)
		legacyregistry.CustomMustRegister(&collector{r: recorder, build: b})
		// An alert on "no successful challenge" needs these series before the first success: a counter that
		// appears at 1 has no increase Prometheus can see.
		for _, op := range operations {
			challengeDuration.WithLabelValues(op, "ok")
		}
	})
	return recorder
}

func newRecorder(b Build, now func() time.Time) *Recorder {
	r := &Recorder{
		providers:          map[string]bool{},
		delegationOutcomes: map[string]string{"ok": "ok", "cached": "cached", "error": "error"},
		failing:            &failingNames{ttl: FailingNameTTL, max: maxFailingNames, now: now, at: map[string]time.Time{}},
	}
	for name := range b.Registry {
		r.providers[name] = true
	}
	for k := dnscheck.Kind(1); !strings.HasPrefix(k.String(), "kind("); k++ {
		r.delegationOutcomes[k.String()] = snake(k.String())
	}
	return r
}

// SetSecretInformers sets where delegate_secret_informer_synced reads the Secret informers from when scraped
// (Solver.SecretInformers, which follows every Initialize).
func (r *Recorder) SetSecretInformers(f func() []solver.InformerState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.informers = f
}

// Challenge implements solver.Observer.
func (r *Recorder) Challenge(operation, provider, mode, result string, d time.Duration) {
	op, res := oneOf(operation, operations), oneOf(result, challengeResults)
	challenges.WithLabelValues(op, r.provider(provider), orNone(mode, modes), res).Inc()
	challengeDuration.WithLabelValues(op, res).Observe(d.Seconds())
}

// DelegationCheck implements solver.Observer. The name is remembered, never used as a label.
func (r *Recorder) DelegationCheck(name, outcome string) {
	o, ok := r.delegationOutcomes[outcome]
	if !ok {
		o = other
	}
	delegationChecks.WithLabelValues(o).Inc()
	r.failing.checked(name, o != "ok" && o != "cached")
}

// LeftBehind implements solver.Observer.
func (r *Recorder) LeftBehind(provider string) {
	leftBehind.WithLabelValues(r.provider(provider)).Inc()
}

// ProviderCall implements providers.Observer.
func (r *Recorder) ProviderCall(provider, call, outcome string, d time.Duration) {
	p, c := r.provider(provider), oneOf(call, calls)
	providerCalls.WithLabelValues(p, c, oneOf(snake(outcome), callOutcomes)).Inc()
	providerCallDuration.WithLabelValues(p, c).Observe(d.Seconds())
}

// RateLimitWait implements providers.Observer.
func (r *Recorder) RateLimitWait(provider string, d time.Duration) {
	pacerWait.WithLabelValues(r.provider(provider)).Observe(d.Seconds())
}

// Throttled implements providers.Observer.
func (r *Recorder) Throttled(provider string) { throttled.WithLabelValues(r.provider(provider)).Inc() }

// Retry implements providers.Observer.
func (r *Recorder) Retry(provider string) { retries.WithLabelValues(r.provider(provider)).Inc() }

// RateLimited implements providers.Observer.
func (r *Recorder) RateLimited(provider string) {
	rateLimited.WithLabelValues(r.provider(provider)).Inc()
}

func (r *Recorder) provider(name string) string {
	switch {
	case name == "":
		return none
	case r.providers[name]:
		return name
	}
	return other
}

func oneOf(v string, set []string) string {
	if slices.Contains(set, v) {
		return v
	}
	return other
}

func orNone(v string, set []string) string {
	if v == "" {
		return none
	}
	return oneOf(v, set)
}

// snake turns "rate limited" and "no-record" into rate_limited and no_record.
func snake(s string) string {
	return strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(s))
}

// failingNames remembers when each name's last delegation check failed, until a check of it succeeds or ttl
// passes.
type failingNames struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	at map[string]time.Time
}

func (f *failingNames) checked(name string, failed bool) {
	if name == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !failed {
		delete(f.at, name)
		return
	}
	now := f.now()
	if _, ok := f.at[name]; !ok && len(f.at) >= f.max {
		f.expireLocked(now)
		if len(f.at) >= f.max {
			oldest, at := "", now
			for n, t := range f.at {
				if t.Before(at) {
					oldest, at = n, t
				}
			}
			delete(f.at, oldest)
		}
	}
	f.at[name] = now
}

// count returns how many names are failing, forgetting those whose failure is older than ttl.
func (f *failingNames) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expireLocked(f.now())
	return len(f.at)
}

func (f *failingNames) expireLocked(now time.Time) {
	for n, t := range f.at {
		if now.Sub(t) >= f.ttl {
			delete(f.at, n)
		}
	}
}

// collector computes, when scraped, what the webhook knows rather than counts.
type collector struct {
	metrics.BaseStableCollector
	r     *Recorder
	build Build
}

// DescribeWithStability implements metrics.StableCollector.
func (c *collector) DescribeWithStability(ch chan<- *metrics.Desc) {
	for _, d := range []*metrics.Desc{failingNamesDesc, informerSyncedDesc, buildInfoDesc, providerInfoDesc} {
		ch <- d
	}
}

// CollectWithStability implements metrics.StableCollector.
func (c *collector) CollectWithStability(ch chan<- metrics.Metric) {
	ch <- metrics.NewLazyConstMetric(failingNamesDesc, metrics.GaugeValue, float64(c.r.failing.count()))

	c.r.mu.Lock()
	informers := c.r.informers
	c.r.mu.Unlock()
	if informers != nil {
		synced := map[string]bool{}
		for _, in := range informers() {
			s, seen := synced[in.Namespace]
			synced[in.Namespace] = in.Synced && (s || !seen)
		}
		for ns, s := range synced {
			v := 0.0
			if s {
				v = 1
			}
			ch <- metrics.NewLazyConstMetric(informerSyncedDesc, metrics.GaugeValue, v, ns)
		}
	}

	reg := c.build.Registry
	ch <- metrics.NewLazyConstMetric(buildInfoDesc, metrics.GaugeValue, 1, c.build.Version, runtime.Version(),
		strconv.Itoa(len(reg)))
	for _, name := range reg.Names() {
		e := reg[name]
		ch <- metrics.NewLazyConstMetric(providerInfoDesc, metrics.GaugeValue, 1, name, string(e.Strategy), snake(string(e.Test)))
	}
}

// Names returns the name of every sample the webhook exports (for a histogram its _bucket, _sum and _count), sorted:
// the names dashboards and alert rules may use. A test checks them against what /metrics serves.
func Names() []string {
	var names []string
	for _, f := range families {
		if f.histogram {
			names = append(names, f.name+"_bucket", f.name+"_sum", f.name+"_count")
			continue
		}
		names = append(names, f.name)
	}
	slices.Sort(names)
	return names
}

// families are the metric families Register adds, by name and whether each is a histogram.
var families = []struct {
	name      string
	histogram bool
}{
	{Prefix + "challenges_total", false},
	{Prefix + "challenge_duration_seconds", true},
	{Prefix + "provider_calls_total", false},
	{Prefix + "provider_call_duration_seconds", true},
	{Prefix + "pacer_wait_seconds", true},
	{Prefix + "provider_throttled_total", false},
	{Prefix + "provider_retries_total", false},
	{Prefix + "rate_limited_calls_total", false},
	{Prefix + "delegation_checks_total", false},
	{Prefix + "cleanup_left_behind_total", false},
	{Prefix + "delegation_failing_names", false},
	{Prefix + "secret_informer_synced", false},
	{Prefix + "build_info", false},
	{Prefix + "provider_info", false},
}

var (
	_ solver.Observer    = (*Recorder)(nil)
	_ providers.Observer = (*Recorder)(nil)
)
