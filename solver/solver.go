package solver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cert-manager/cert-manager/pkg/acme/webhook"
	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	"github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	"github.com/miekg/dns"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

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
	// DNS is how the webhook queries DNS for its own checks. Default: /etc/resolv.conf, authoritative.
	DNS DNSCheck
	// CallTimeout bounds each Present and CleanUp. Default: DefaultCallTimeout.
	CallTimeout time.Duration

	state atomic.Pointer[state]
}

// state is everything tied to one Initialize: a new apiserver gets new clients, informers and caches.
type state struct {
	reg        providers.Registry
	timeout    time.Duration
	httpClient *http.Client
	dns        DNSCheck

	ctx     context.Context
	cancel  context.CancelFunc
	secrets *secretStore
	writers *writerCache
	configs configCache
	locks   providers.KeyedMutex
	limits  providers.Limiter
}

var _ webhook.Solver = (*Solver)(nil)

// Name implements webhook.Solver.
func (s *Solver) Name() string { return Name }

// Initialize implements webhook.Solver. It may be called again with another apiserver: each call replaces the
// client, the Secret informers, the caches and the base context, and stops those of the previous call.
func (s *Solver) Initialize(cfg *rest.Config, stopCh <-chan struct{}) error {
	if cfg == nil {
		return errors.New("initialize: no Kubernetes client config")
	}
	c := rest.CopyConfig(cfg)
	// Informers list once and then watch; the defaults (5 qps) only matter for bursts of new namespaces.
	c.QPS, c.Burst = 50, 100
	client, err := kubernetes.NewForConfig(c)
	if err != nil {
		return fmt.Errorf("initialize: building the Kubernetes client: %w", err)
	}
	s.InitializeWithClient(client, stopCh)
	return nil
}

// InitializeWithClient is Initialize for a caller that already has a client: an embedding program, the demo
// (which serves its one Secret from memory), tests. The previous state's informers and calls in flight are
// stopped.
func (s *Solver) InitializeWithClient(client kubernetes.Interface, stopCh <-chan struct{}) {
	st := &state{
		reg:        s.Registry,
		timeout:    s.CallTimeout,
		httpClient: s.HTTPClient,
		dns:        s.DNS,
		writers:    newWriterCache(256),
	}
	if st.reg == nil {
		st.reg = providers.Default()
	}
	if st.timeout <= 0 {
		st.timeout = DefaultCallTimeout
	}
	if st.dns.Nameservers == nil {
		st.dns = DNSCheck{Nameservers: resolvConfNameservers(), Authoritative: true}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	st.ctx, st.cancel = ctx, cancel
	st.secrets = newSecretStore(ctx, client)
	if old := s.state.Swap(st); old != nil {
		old.cancel()
	}
}

// Present implements webhook.Solver: it adds the challenge's TXT value at its delegated name. An identical
// value already there is success; other values at that name are never touched.
func (s *Solver) Present(ch *whapi.ChallengeRequest) error {
	st := s.state.Load()
	if st == nil {
		return errors.New("the webhook is not initialised yet; cert-manager will retry")
	}
	ctx, cancel := context.WithTimeout(st.ctx, st.timeout)
	defer cancel()
	return st.run(ctx, ch, true)
}

// CleanUp implements webhook.Solver: it deletes exactly the challenge's TXT value; already gone is success. It
// needs nothing from Present, so any replica can clean up, and a shutdown does not cancel it. A request that
// Present refuses on its own terms (config, dnsName, key) has nothing to clean up and succeeds; a missing Secret,
// a CNAME that now disagrees with the config, or a provider failure is an error, so cert-manager retries.
func (s *Solver) CleanUp(ch *whapi.ChallengeRequest) error {
	st := s.state.Load()
	if st == nil {
		return errors.New("the webhook is not initialised yet; cert-manager will retry")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(st.ctx), st.timeout)
	defer cancel()
	err := st.run(ctx, ch, false)
	var invalid *invalidChallenge
	if ch != nil && errors.As(err, &invalid) {
		// The Challenge carries its own copy of the issuer's config, so a config that cannot be parsed or mapped
		// stays that way: Present refused it before touching DNS, and failing here would keep the Challenge's
		// finalizer (and its namespace) forever.
		klog.FromContext(ctx).Error(err, "nothing to clean up: Present refuses this challenge before any DNS call",
			"uid", ch.UID, "dnsName", ch.DNSName, "resourceNamespace", ch.ResourceNamespace)
		return nil
	}
	return err
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

func (st *state) run(ctx context.Context, ch *whapi.ChallengeRequest, present bool) error {
	if ch == nil {
		return errors.New("empty challenge request")
	}
	action := "cleanup"
	if present {
		action = "present"
	}
	log := klog.FromContext(ctx).WithValues("uid", ch.UID, "action", action, "dnsName", ch.DNSName)
	if err := checkKey(ch.Key); err != nil {
		return invalid(err)
	}
	var raw []byte
	if ch.Config != nil {
		raw = ch.Config.Raw
	}
	cfg, err := st.configs.parse(raw, st.reg)
	if err != nil {
		return invalid(err)
	}
	t, err := Resolve(cfg, st.reg, Challenge{DNSName: ch.DNSName, ResolvedFQDN: ch.ResolvedFQDN, ResolvedZone: ch.ResolvedZone})
	if err != nil {
		// cert-manager computes resolvedFQDN and resolvedZone from live DNS on every call: a CNAME changed
		// since Present can make this call fail where Present succeeded. Only a failure that does not depend on
		// them (the config and dnsName alone) marks the request invalid.
		if _, canonical := Resolve(cfg, st.reg, canonicalChallenge(ch.DNSName)); canonical != nil {
			return invalid(err)
		}
		return err
	}
	if ch.ResourceNamespace == "" {
		return invalid(errors.New("the challenge has no resourceNamespace, so its Secrets cannot be found; this is " +
			"a cert-manager bug or a hand-made request"))
	}
	entry := st.reg[t.Provider.Name]
	cw, err := st.writer(ctx, ch.ResourceNamespace, t.Provider)
	if err != nil {
		return err
	}
	zone := t.Zone
	if zone == "" {
		if zone, err = cw.findZone(ctx, t.FQDN); err != nil {
			if hint := networkHint(err, entry, t.Provider); hint != "" {
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
	}
	domain, _ := dnsname.Canonical(strings.TrimPrefix(ch.DNSName, "*.")) // checked by Resolve
	rec := providers.Record{Zone: zone, FQDN: t.FQDN, Value: ch.Key, TTL: max(cfg.TTL, entry.MinTTL), DNSName: domain}
	if present {
		err = cw.w.Present(ctx, rec)
	} else {
		err = cw.w.CleanUp(ctx, rec)
	}
	if err != nil {
		verb := "adding the TXT record at"
		if !present {
			verb = "deleting the TXT record at"
		}
		return cw.redact(fmt.Errorf("%s %s in zone %s with %s (config.%s): %w%s", verb, t.FQDN, zone,
			t.Provider.Name, t.Provider.Path, err, networkHint(err, entry, t.Provider)))
	}
	log.V(1).Info("done", "fqdn", t.FQDN, "zone", zone, "provider", t.Provider.Name, "rule", t.Rule)
	return nil
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

// writer returns the cached writer for a provider config in a namespace, building it when the config or one of
// its Secrets changed.
func (st *state) writer(ctx context.Context, namespace string, pc *ProviderConfig) (*cachedWriter, error) {
	values := make([]string, len(pc.refs))
	h := sha256.New()
	h.Write([]byte(namespace + "\x00" + pc.Name + "\x00"))
	h.Write(pc.canonical)
	var errs []error
	for i, ref := range pc.refs {
		sec, err := st.secrets.get(ctx, namespace, ref.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("config.%s: %w", ref.jsonPath, err))
			continue
		}
		v, ok := sec.Data[ref.Key]
		if !ok {
			errs = append(errs, fmt.Errorf("config.%s: Secret %q in namespace %q has no key %q (its keys: %s); "+
				"correct secretKeyRef.key or add the key", ref.jsonPath, ref.Name, namespace, ref.Key,
				strings.Join(slices.Sorted(maps.Keys(sec.Data)), ", ")))
			continue
		}
		// A credential never starts or ends with whitespace; a trailing newline (echo into a file, then
		// --from-file) is the usual accident and would break an HTTP header or a TSIG secret.
		values[i] = strings.TrimSpace(string(v))
		if values[i] == "" {
			errs = append(errs, fmt.Errorf("config.%s: Secret %q in namespace %q has an empty value at key %q; put "+
				"the credential there", ref.jsonPath, ref.Name, namespace, ref.Key))
			continue
		}
		h.Write([]byte("\x00" + sec.Name + "@" + sec.ResourceVersion))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	key := hex.EncodeToString(h.Sum(nil))
	if cw := st.writers.get(key); cw != nil {
		return cw, nil
	}
	entry := st.reg[pc.Name]
	v := entry.New()
	if err := decodeStrict(substitute(pc.spec, pc.refs, func(i int) string { return values[i] }), v); err != nil {
		return nil, fmt.Errorf("config.%s: %w", pc.Path, redact(err, values))
	}
	w, err := entry.Build(v, providers.Env{
		Path: pc.Path, HTTPClient: st.httpClient, TXT: st.dns.txt, Locks: &st.locks, Limits: &st.limits,
	})
	if err != nil {
		return nil, redact(err, values)
	}
	return st.writers.add(&cachedWriter{key: key, w: w, secrets: values}), nil
}

func (cw *cachedWriter) redact(err error) error { return redact(err, cw.secrets) }

// redact replaces every Secret value in err's message, so that no provider library can leak one into a
// Challenge's status.
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if len(s) >= 4 && strings.Contains(msg, s) {
			msg, changed = strings.ReplaceAll(msg, s, "[redacted]"), true
		}
	}
	if !changed {
		return err
	}
	return errors.New(msg)
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

// resolvConfNameservers reads /etc/resolv.conf as cert-manager does (falling back to public resolvers).
func resolvConfNameservers() []string {
	return slices.Clone(util.RecursiveNameservers)
}

// DNSCheck says how the webhook queries DNS for its own checks.
type DNSCheck struct {
	// Nameservers are host:port of recursive resolvers. Default: /etc/resolv.conf.
	Nameservers []string
	// Authoritative makes the check ask the zone's authoritative servers (found through Nameservers) instead of
	// trusting a resolver's cache.
	Authoritative bool
}

// txt asks the first nameserver that answers for the TXT values at fqdn, recursively.
func (d DNSCheck) txt(ctx context.Context, fqdn string) ([]string, error) {
	var lastErr error
	for _, ns := range d.Nameservers {
		m := new(dns.Msg)
		m.SetQuestion(fqdn, dns.TypeTXT)
		in, _, err := (&dns.Client{Timeout: 2 * time.Second}).ExchangeContext(ctx, m, ns)
		if err != nil {
			lastErr = err
			continue
		}
		var out []string
		for _, rr := range in.Answer {
			if t, ok := rr.(*dns.TXT); ok {
				out = append(out, strings.Join(t.Txt, ""))
			}
		}
		return out, nil
	}
	return nil, lastErr
}
