package solver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/cert-manager/cert-manager/pkg/acme/webhook"
	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

// Name is the solver name issuers write as solverName.
const Name = "delegate"

// DefaultCallTimeout bounds one Present or CleanUp, well under the kube-apiserver's 60 s proxy timeout so the
// caller reads our error instead of a gateway timeout.
const DefaultCallTimeout = 30 * time.Second

// Solver is the cert-manager webhook solver. The zero value is not usable before Initialize; fields must be set
// before Initialize and not changed after.
type Solver struct {
	// Registry lists the providers configs may name. Default: providers.Default().
	Registry providers.Registry
	// HTTPClient sends provider API requests. Default: a proxy-aware client with timeouts.
	HTTPClient *http.Client
	// DNS is the resolver of the delegation check and of ACME-DNS's value check (DNS_CHECK_NAMESERVERS,
	// DNS_CHECK_AUTHORITATIVE). Default: the nameservers of /etc/resolv.conf, asked for each zone's authoritative
	// servers. Nothing ever falls back to a public resolver.
	DNS *dnscheck.Resolver
	// AllowedZones is the operator's fence (ALLOWED_ZONES), canonical: when set, no record outside these zones is
	// ever written or deleted, whatever an issuer's config says. Empty: no fence.
	AllowedZones []string
	// AllowUnlabelledSecrets turns off the Secret opt-in (the chart's requireSecretLabel: false): the webhook then
	// uses any Secret an issuer names in its namespace, not only those labelled SecretLabel=true.
	AllowUnlabelledSecrets bool
	// CallTimeout bounds each Present and CleanUp. Default: DefaultCallTimeout.
	CallTimeout time.Duration
	// Namespace is the webhook's own namespace (POD_NAMESPACE), where it keeps its cross-replica locks and the
	// ACME-DNS slots as Leases. Empty: providers that need them fail saying so.
	Namespace string
	// Identity names this process as a lock holder. Default: the host name and a random suffix.
	Identity string
	// Replicas is how many replicas share each provider account's documented rate limit (REPLICAS); default 1.
	Replicas int
	// NoPacing turns the per-account rate limits off (PACING=off), for the storm harness's "before" run.
	NoPacing bool
	// Observer receives what the solver does, for the metrics; nil: nothing is recorded.
	Observer Observer

	state atomic.Pointer[state]
}

// state is everything tied to one Initialize: a new apiserver gets new clients, informers and caches.
type state struct {
	reg        providers.Registry
	timeout    time.Duration
	httpClient *http.Client
	check      *dnscheck.Checker
	fence      fence

	ctx     context.Context
	cancel  context.CancelFunc
	secrets *secretStore
	writers *writerCache
	configs configCache
	locks   providers.KeyedMutex
	limits  providers.Limiter
	leases  *providers.LeaseLocks
	slots   *providers.Slots
	pacers  *providers.Pacers
	// inflight counts the CleanUps running, which a shutdown waits for.
	inflight atomic.Int64
	obs      Observer
}

// Observer receives what the solver does, for the metrics. Label values are bounded sets; domain names go to
// the log and to DelegationCheck's name, which an Observer may count but must not use as a label.
type Observer interface {
	// Challenge is one Present or CleanUp: operation "present" or "cleanup"; provider the registry name ("" when
	// the request failed before it was mapped); mode "alias", "direct" or ""; result "ok", "config_error",
	// "secret_error", "delegation_missing", "fenced", "provider_error", "rate_limited" or "timeout".
	Challenge(operation, provider, mode, result string, d time.Duration)
	// DelegationCheck is one delegation check Present made for the production name: outcome "ok", "cached", or
	// why it failed (a dnscheck Kind: "no record", "nxdomain", "wrong target", …, or "error").
	DelegationCheck(name, outcome string)
	// LeftBehind is a CleanUp that gave up on a value (its namespace is being deleted with its Secret).
	LeftBehind(provider string)
}

type noObserver struct{}

func (noObserver) Challenge(string, string, string, string, time.Duration) {}
func (noObserver) DelegationCheck(string, string)                          {}
func (noObserver) LeftBehind(string)                                       {}

// drainTimeout bounds how long a shutdown keeps the Secret informers for CleanUps in flight: a call's deadline
// and a margin (the chart's grace period is longer still).
const drainTimeout = DefaultCallTimeout + 5*time.Second

// drainSettle is how long no CleanUp must have run before a shutdown stops the informers: requests the server
// accepted just before the signal may still be on their way to the solver.
const drainSettle = 2 * time.Second

// drain waits until no CleanUp has run for drainSettle, or timeout.
func (st *state) drain(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	quietSince := time.Now()
	for time.Now().Before(deadline) {
		if st.inflight.Load() > 0 {
			quietSince = time.Now()
		} else if time.Since(quietSince) >= drainSettle {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var _ webhook.Solver = (*Solver)(nil)

// Name implements webhook.Solver.
func (s *Solver) Name() string { return Name }

// Clients are the Kubernetes clients the solver reads Secrets with.
type Clients struct {
	// Kube reads Secrets through informers.
	Kube kubernetes.Interface
	// Metadata tells an unlabelled Secret from a missing one with a metadata-only read, so the data of a Secret
	// not meant for the webhook is never fetched. Nil: such errors cannot tell the two apart and say both fixes.
	Metadata metadata.Interface
}

// Initialize implements webhook.Solver. It may be called again with another apiserver: each call replaces the
// clients, the Secret informers, the caches and the base context, and stops those of the previous call.
func (s *Solver) Initialize(cfg *rest.Config, stopCh <-chan struct{}) error {
	if cfg == nil {
		return errors.New("initialize: no Kubernetes client config")
	}
	c := rest.CopyConfig(cfg)
	// Informers list once and then watch; the defaults (5 qps) only matter for bursts of new namespaces.
	c.QPS, c.Burst = 50, 100
	kube, err := kubernetes.NewForConfig(c)
	if err != nil {
		return fmt.Errorf("initialize: building the Kubernetes client: %w", err)
	}
	meta, err := metadata.NewForConfig(c)
	if err != nil {
		return fmt.Errorf("initialize: building the Kubernetes metadata client: %w", err)
	}
	s.InitializeWithClients(Clients{Kube: kube, Metadata: meta}, stopCh)
	return nil
}

// InitializeWithClient is Initialize for a caller that already has a client (an embedding program, the demo,
// tests) and no metadata client.
func (s *Solver) InitializeWithClient(client kubernetes.Interface, stopCh <-chan struct{}) {
	s.InitializeWithClients(Clients{Kube: client}, stopCh)
}

// InitializeWithClients is Initialize for a caller that already has clients. The previous state's informers and
// calls in flight are stopped.
func (s *Solver) InitializeWithClients(c Clients, stopCh <-chan struct{}) {
	st := &state{
		reg:        s.Registry,
		timeout:    s.CallTimeout,
		httpClient: s.HTTPClient,
		fence:      fence(s.AllowedZones),
		writers:    newWriterCache(256),
		pacers:     &providers.Pacers{Replicas: s.Replicas, Off: s.NoPacing},
		obs:        s.Observer,
	}
	if st.obs == nil {
		st.obs = noObserver{}
	}
	if st.reg == nil {
		st.reg = providers.Default()
	}
	if st.timeout <= 0 {
		st.timeout = DefaultCallTimeout
	}
	r := DefaultResolver()
	if s.DNS != nil {
		r = *s.DNS
	}
	st.check = dnscheck.NewChecker(r)
	// Two lifetimes: ctx ends at shutdown (SIGTERM closes stopCh), which refuses new Presents; the Secret
	// informers live on until the CleanUps in flight have drained (at most drainTimeout), since a CleanUp may
	// still need a Secret the cache has not seen.
	ctx, cancel := context.WithCancel(context.Background())
	infCtx, infCancel := context.WithCancel(context.Background())
	st.cancel = func() { cancel(); infCancel() }
	go func() {
		select {
		case <-stopCh:
			cancel()
			st.drain(drainTimeout)
			infCancel()
		case <-infCtx.Done():
			cancel()
		}
	}()
	st.ctx = ctx
	st.secrets = newSecretStore(infCtx, c, !s.AllowUnlabelledSecrets)
	if s.Namespace != "" && c.Kube != nil {
		identity := s.Identity
		if identity == "" {
			identity = defaultIdentity()
		}
		st.leases = &providers.LeaseLocks{Client: c.Kube.CoordinationV1(), Namespace: s.Namespace, Identity: identity}
		st.slots = &providers.Slots{Client: c.Kube.CoordinationV1(), Namespace: s.Namespace}
	}
	if old := s.state.Swap(st); old != nil {
		old.cancel()
	}
}

// SecretInformers lists the Secret informers running, for the metrics.
func (s *Solver) SecretInformers() []InformerState {
	if st := s.state.Load(); st != nil {
		return st.secrets.States()
	}
	return nil
}

// DefaultResolver is the delegation check's resolver when none is configured: the nameservers of
// /etc/resolv.conf, asked for each zone's authoritative servers. Without a readable resolv.conf it has no server,
// and every check fails saying so; it never falls back to a public resolver.
func DefaultResolver() dnscheck.Resolver {
	return dnscheck.Resolver{Servers: systemNameservers(), Authoritative: true}
}

// Present implements webhook.Solver: it adds the challenge's TXT value at its delegated name, after proving that
// the CA will find it there. An identical value already there is success; other values at that name are never
// touched.
func (s *Solver) Present(ch *whapi.ChallengeRequest) error {
	st := s.state.Load()
	if st == nil {
		return errors.New("the webhook is not initialised yet; cert-manager will retry")
	}
	if st.ctx.Err() != nil {
		return errors.New("the webhook is shutting down; cert-manager will retry, and another replica will answer")
	}
	ctx, cancel := context.WithTimeout(st.ctx, st.timeout)
	defer cancel()
	start := time.Now()
	op, err := st.present(ctx, ch)
	op.log(ctx, "present", start, err)
	st.obs.Challenge("present", op.provider(), op.mode(), outcome(err), time.Since(start))
	return err
}

// CleanUp implements webhook.Solver: it deletes exactly the challenge's TXT value; already gone is success. It
// needs nothing from Present, so any replica can clean up, and a shutdown does not cancel it. What it does in
// each situation is README.md's "CleanUp decisions" table (DESIGN.md has its reasons).
func (s *Solver) CleanUp(ch *whapi.ChallengeRequest) error {
	st := s.state.Load()
	if st == nil {
		return errors.New("the webhook is not initialised yet; cert-manager will retry")
	}
	st.inflight.Add(1)
	defer st.inflight.Add(-1)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(st.ctx), st.timeout)
	defer cancel()
	start := time.Now()
	op, err := st.cleanUp(ctx, ch)
	op.log(ctx, "cleanup", start, err)
	st.obs.Challenge("cleanup", op.provider(), op.mode(), outcome(err), time.Since(start))
	if op.leftBehind {
		st.obs.LeftBehind(op.provider())
	}
	return err
}

// operation is one Present or CleanUp as far as it got, for its log line.
type operation struct {
	ch     *whapi.ChallengeRequest
	cfg    *Config
	target Target
	zone   string
	// note is why a CleanUp succeeded without deleting anything, logged at the default level.
	note string
	// leftBehind marks a CleanUp that gave up on a value it could not delete (its namespace is being deleted).
	leftBehind bool
}

func (op *operation) provider() string {
	if op.target.Provider == nil {
		return ""
	}
	return op.target.Provider.Name
}

func (op *operation) mode() string {
	switch {
	case op.target.FQDN == "":
		return ""
	case op.target.Alias != "":
		return "alias"
	}
	return "direct"
}

// log writes the solver boundary's one line per call: every failure at the default level, with what the call
// was about (never a Secret: errors are redacted where they are made); successes at V(1).
func (op *operation) log(ctx context.Context, name string, start time.Time, err error) {
	if op.ch == nil {
		return
	}
	log := klog.FromContext(ctx).WithValues("op", name, "uid", op.ch.UID, "dnsName", op.ch.DNSName,
		"namespace", op.ch.ResourceNamespace, "duration", time.Since(start).Round(time.Millisecond))
	if op.target.FQDN != "" {
		provider := ""
		if op.target.Provider != nil {
			provider = op.target.Provider.Name
		}
		log = log.WithValues("provider", provider, "rule", op.target.Rule, "record", op.target.FQDN, "zone", op.zone)
	}
	switch {
	case err != nil:
		log.Error(err, name+" failed", "outcome", outcome(err))
	case op.note != "":
		log.Info(name+": nothing deleted", "reason", op.note)
	default:
		log.V(1).Info(name + " done")
	}
}

// prepare checks what the request alone decides (key, config, mapping, namespace). Its errors are invalid: the
// same request always fails the same way before any Secret or provider is read.
func (st *state) prepare(ch *whapi.ChallengeRequest) (*operation, error) {
	op := &operation{ch: ch}
	if ch == nil {
		return op, errors.New("empty challenge request")
	}
	if err := checkKey(ch.Key); err != nil {
		return op, invalid(err)
	}
	var raw []byte
	if ch.Config != nil {
		raw = ch.Config.Raw
	}
	cfg, err := st.configs.parse(raw, st.reg)
	if err != nil {
		return op, invalid(err)
	}
	op.cfg = cfg
	t, err := Resolve(cfg, st.reg, Challenge{DNSName: ch.DNSName, ResolvedFQDN: ch.ResolvedFQDN, ResolvedZone: ch.ResolvedZone})
	if err != nil {
		// cert-manager computes resolvedFQDN and resolvedZone from live DNS on every call: a CNAME changed
		// since Present can make this call fail where Present succeeded. Only a failure that does not depend on
		// them (the config and dnsName alone) marks the request invalid.
		if _, canonical := Resolve(cfg, st.reg, canonicalChallenge(ch.DNSName)); canonical != nil {
			return op, invalid(err)
		}
		return op, err
	}
	op.target, op.zone = t, t.Zone
	if ch.ResourceNamespace == "" {
		return op, invalid(errors.New("the challenge has no resourceNamespace, so its Secrets cannot be found; " +
			"this is a cert-manager bug or a hand-made request"))
	}
	return op, nil
}

// present follows DESIGN.md "Present's order": cheap and local first, so a refusal costs nothing and leaks
// nothing. The delegation check and the Secrets are both looked at before failing, so a user fixes both at once.
func (st *state) present(ctx context.Context, ch *whapi.ChallengeRequest) (*operation, error) {
	op, err := st.prepare(ch)
	if err != nil {
		return op, err
	}
	t := op.target
	if err := st.fence.check(t, t.Zone); err != nil {
		return op, err
	}
	checkErr := st.verify(ctx, op)
	cw, secretErr := st.writer(ctx, ch.ResourceNamespace, t.Provider, ch.AllowAmbientCredentials)
	if checkErr != nil || secretErr != nil {
		return op, errors.Join(checkErr, secretErr)
	}
	if err := st.findZone(ctx, op, cw); err != nil {
		return op, err
	}
	entry := st.reg[t.Provider.Name]
	rec := providers.Record{Zone: op.zone, FQDN: t.FQDN, Value: ch.Key, TTL: max(op.cfg.TTL, entry.MinTTL), DNSName: t.Domain}
	if err := cw.w.Present(ctx, rec); err != nil {
		return op, cw.redact(fmt.Errorf("adding the TXT record at %s in zone %s with %s (config.%s): %w%s", t.FQDN,
			op.zone, t.Provider.Name, t.Provider.Path, err, networkHint(err, entry, t.Provider)))
	}
	return op, nil
}

// cleanUp never verifies the delegation: it must clean up even when the CNAME is gone. What it does in each
// situation is DESIGN.md's "CleanUp decisions".
func (st *state) cleanUp(ctx context.Context, ch *whapi.ChallengeRequest) (*operation, error) {
	op, err := st.prepare(ch)
	if invalidErr := (*invalidChallenge)(nil); errors.As(err, &invalidErr) {
		// The Challenge carries its own copy of the issuer's config, so a config that cannot be parsed or mapped
		// stays that way: Present refused it before touching DNS, and failing here would keep the Challenge's
		// finalizer (and its namespace) forever.
		op.note = "Present refuses this challenge before any DNS call: " + err.Error()
		return op, nil
	}
	search := false
	if err != nil {
		// The CNAME that cnameStrategy: Follow followed at Present now leads outside the alias (cert-manager reads
		// it anew): clean up at the canonical alias name, and search the alias zone for the value.
		t, canonical := Resolve(op.cfg, st.reg, canonicalChallenge(ch.DNSName))
		if canonical != nil || t.Alias == "" {
			return op, err
		}
		op.target, op.zone, search = t, t.Zone, true
	}
	t := op.target
	if err := st.fence.check(t, t.Zone); err != nil {
		op.note = "outside the fence; the record may have been written before the fence was set: " + err.Error()
		return op, nil //nolint:nilerr // CleanUp decisions: nothing is deleted outside the fence, and that is success
	}
	if st.fixedName(t) {
		// ACME-DNS cannot delete: CleanUp only frees the value's slot, which needs no credential, so it reads no
		// Secret (one deleted with its namespace cannot keep the Challenge's finalizer).
		if err := st.slots.Release(ctx, t.FQDN, ch.Key); err != nil {
			return op, fmt.Errorf("freeing the ACME-DNS slot of %s: %w", t.FQDN, err)
		}
		return op, nil
	}
	cw, err := st.writer(ctx, ch.ResourceNamespace, t.Provider, ch.AllowAmbientCredentials)
	if gone := (*secretGoneError)(nil); errors.As(err, &gone) {
		// The namespace is being deleted and took its Secrets first: nothing can delete the value any more, and
		// waiting would keep the namespace Terminating forever. Say exactly what stays.
		op.note = fmt.Sprintf("left behind: TXT %q at %s (provider %s, config.%s): the namespace %s is being deleted "+
			"and its Secret %s is gone; delete the value by hand", ch.Key, t.FQDN, t.Provider.Name, t.Provider.Path,
			gone.namespace, gone.name)
		op.leftBehind = true
		return op, nil
	}
	if err != nil {
		return op, err
	}
	if err := st.findZone(ctx, op, cw); err != nil {
		var fenced *fencedError
		if errors.As(err, &fenced) {
			op.note = "outside the fence; the record may have been written before the fence was set: " + err.Error()
			return op, nil
		}
		return op, err
	}
	entry := st.reg[t.Provider.Name]
	rec := providers.Record{Zone: op.zone, FQDN: t.FQDN, Value: ch.Key, DNSName: t.Domain}
	fail := func(at string, err error) error {
		return cw.redact(fmt.Errorf("deleting the TXT record at %s in zone %s with %s (config.%s): %w%s", at,
			op.zone, t.Provider.Name, t.Provider.Path, err, networkHint(err, entry, t.Provider)))
	}
	finder, ok := cw.w.(providers.Finder)
	if !ok || t.Followed {
		if err := cw.w.CleanUp(ctx, rec); err != nil {
			return op, fail(t.FQDN, err)
		}
		return op, nil
	}
	found, err := finder.CleanUpFound(ctx, rec)
	if err != nil {
		return op, fail(t.FQDN, err)
	}
	if found || !search && !st.mayHaveFollowed(t) {
		return op, nil
	}
	// Nothing at the canonical name: a Present through a CNAME that has changed or vanished since wrote it below
	// the alias. Find the value itself (a random 43-character key) in the alias zone, and delete exactly that,
	// inside the alias and the fence.
	names, err := finder.FindValue(ctx, op.zone, ch.Key)
	if errors.Is(err, providers.ErrCannotRead) {
		return op, nil
	}
	if err != nil {
		return op, fail(op.zone, fmt.Errorf("searching the zone for the value: %w", err))
	}
	for _, name := range names {
		if !dnsname.Within(name, t.Alias) || st.fence.check(Target{FQDN: name, Rule: t.Rule}, op.zone) != nil {
			continue
		}
		r := rec
		r.FQDN = name
		if err := cw.w.CleanUp(ctx, r); err != nil {
			return op, fail(name, err)
		}
		op.note = fmt.Sprintf("deleted the value at %s, where a Present through a since-changed CNAME (cnameStrategy: Follow) wrote it", name)
	}
	return op, nil
}

// mayHaveFollowed reports whether a Present of t's challenge could have written below the alias rather than at
// _acme-challenge.<alias>: only through a CNAME that cnameStrategy: Follow followed, which is possible whenever
// an alias applies. A value the canonical delete did not find is then searched for.
func (st *state) mayHaveFollowed(t Target) bool { return t.Alias != "" }

// findZone sets op.zone, discovering it at the provider when the mapping left it open, and fences it.
func (st *state) findZone(ctx context.Context, op *operation, cw *cachedWriter) error {
	t := op.target
	if op.zone == "" {
		zone, err := cw.findZone(ctx, t.FQDN)
		if err != nil {
			if hint := networkHint(err, st.reg[t.Provider.Name], t.Provider); hint != "" {
				return cw.redact(fmt.Errorf("finding the zone of %s at %s (config.%s): %w%s", t.FQDN,
					t.Provider.Name, t.Provider.Path, err, hint))
			}
			return cw.redact(fmt.Errorf("finding the zone of %s at %s (config.%s): %w; set config.%s to that zone",
				t.FQDN, t.Provider.Name, t.Provider.Path, err, zoneField(t.Rule)))
		}
		if !dnsname.Within(t.FQDN, zone) {
			return fmt.Errorf("%s found the zone %s for %s, which does not contain it; set config.%s",
				t.Provider.Name, zone, t.FQDN, zoneField(t.Rule))
		}
		op.zone = zone
	}
	return st.fence.check(t, op.zone)
}

// invalidChallenge is an error decided by the challenge request alone (its config, dnsName and key; not the
// resolved names, which cert-manager reads from live DNS on every call), before any Secret or provider is read.
// Present always fails the same way for it, so nothing can have been written (by this version of the webhook).
type invalidChallenge struct{ err error }

func (e *invalidChallenge) Error() string { return e.err.Error() }
func (e *invalidChallenge) Unwrap() error { return e.err }

func invalid(err error) error {
	if err == nil {
		return nil
	}
	return &invalidChallenge{err}
}

// outcome names the kind of a failure for the log line (and, later, the metrics): a bounded set.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var (
		inv       *invalidChallenge
		fenced    *fencedError
		deleg     *dnscheck.DelegationError
		refused   *directCNAMEError
		secretErr *secretError
	)
	switch {
	case errors.As(err, &inv):
		return "config_error"
	case errors.As(err, &fenced):
		return "fenced"
	case errors.As(err, &deleg), errors.As(err, &refused):
		return "delegation_missing"
	case errors.As(err, &secretErr):
		return "secret_error"
	case errors.Is(err, providers.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "provider_error"
}

// networkHint says what to check when a provider call failed on the network (after the retries): a connection
// that could not be made, or no answer within the call's deadline. Other errors get no hint here.
func networkHint(err error, entry *providers.Entry, pc *ProviderConfig) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("; no answer within the webhook's per-call deadline (%s is slow, rate limiting, or "+
			"unreachable); cert-manager retries", pc.Name)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return ""
	}
	if entry != nil && entry.NetworkHint != nil {
		return entry.NetworkHint(pc.Path)
	}
	return fmt.Sprintf("; %s's API could not be reached: check that the webhook's pods may reach it (NetworkPolicy, "+
		"egress firewall, HTTPS_PROXY); cert-manager retries", pc.Name)
}

// checkKey refuses a challenge key that cannot be an ACME DNS-01 value before any provider call: an empty value
// would make some providers (RFC 2136) delete every TXT value at the name, the sibling challenge's included.
func checkKey(key string) error {
	if key == "" {
		return errors.New("the challenge key is empty; refusing to touch DNS (an empty value can match every " +
			"TXT record at the name)")
	}
	if len(key) > 255 {
		return fmt.Errorf("the challenge key is %d characters; a DNS-01 key is 43", len(key))
	}
	for _, r := range key {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
			return fmt.Errorf("the challenge key has the character %q; a DNS-01 key is base64url", r)
		}
	}
	return nil
}

// defaultIdentity names this process as a lock holder: the pod's name (its host name) and a random suffix, so a
// restarted pod with the same name is another holder.
func defaultIdentity() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%x", host, b)
}
