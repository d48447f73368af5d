package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/watchlist"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// probeCleanups is how many deletes the probe tries, with a doubling wait between them, before it gives up and
// says exactly which value is left where.
const probeCleanups = 4

// ProbeReport is what --probe did for one domain (DomainReport.probe). Fields:
//
//   - record: the TXT record the probe wrote and deleted: the mapping of a random name under the domain, so the
//     same provider block and zone as the domain's own challenges
//   - value: the random TXT value
//   - presentMillis, cleanUpMillis: how long Present took, and CleanUp (all its attempts)
//   - cleanUpAttempts: how many deletes were tried
//   - removed: the value is gone (a CleanUp succeeded); false means it is left at record (see error)
//   - interrupted: SIGINT or SIGTERM arrived during the probe; the cleanup still ran
//   - error: why the probe failed; "" when the token wrote and deleted the value
type ProbeReport struct {
	Record          string `json:"record"`
	Value           string `json:"value"`
	PresentMillis   int64  `json:"presentMillis"`
	CleanUpMillis   int64  `json:"cleanUpMillis"`
	CleanUpAttempts int    `json:"cleanUpAttempts"`
	Removed         bool   `json:"removed"`
	Interrupted     bool   `json:"interrupted"`
	Error           string `json:"error"`
}

type probeOptions struct {
	secrets                               secretFlags
	kubeconfig, namespace, leaseNamespace string
	// files are the --secret values by Secret name and key, read before anything else runs.
	files map[string]map[string][]byte
	// kube is built from kubeconfig on first use.
	kube *kubeClients
}

type kubeClients struct {
	kube kubernetes.Interface
	meta metadata.Interface
	// namespace is the kubeconfig context's namespace, if it names one.
	namespace string
}

// probeDomain is a random name under the domain, so that the probe's challenge never is a live one's; the record
// it maps to is the same name a real challenge uses when the domain is delegated.
func probeDomain(domain string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "delegate-probe-" + hex.EncodeToString(b) + "." + strings.TrimSuffix(strings.TrimPrefix(domain, "*."), ".")
}

// probeChallenge is the challenge cert-manager would send for the probe's name, with verifyDelegation forced Off
// (the random name has no CNAME of its own; the domain's delegation is what check reports).
func probeChallenge(q nameQuery, zone, namespace string) (*whapi.ChallengeRequest, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(q.Solver.Raw, &top); err != nil {
		return nil, err
	}
	top["verifyDelegation"] = json.RawMessage(`"Off"`)
	raw, err := json.Marshal(top)
	if err != nil {
		return nil, err
	}
	name := probeDomain(q.Name)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	uid := make([]byte, 16)
	_, _ = rand.Read(uid)
	return &whapi.ChallengeRequest{
		UID: types.UID(hex.EncodeToString(uid)), Action: whapi.ChallengeActionPresent, Type: "dns-01",
		DNSName: name, Key: base64.RawURLEncoding.EncodeToString(key), ResourceNamespace: namespace,
		ResolvedFQDN: "_acme-challenge." + name + ".", ResolvedZone: zone,
		Config: &apiextensionsv1.JSON{Raw: raw},
	}, nil
}

// checkProbe refuses, before any DNS lookup or write, a probe that could do harm or cannot work: ACME-DNS (a
// probe would evict a live value), a set provider without the cluster's Lease, a Secret nobody gave.
func (c *CheckCmd) checkProbe(qs []nameQuery, opts *probeOptions) error {
	reg := c.registry()
	opts.files = map[string]map[string][]byte{}
	for _, f := range opts.secrets {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return fmt.Errorf("--secret %s/%s: %w", f.name, f.key, err)
		}
		if opts.files[f.name] == nil {
			opts.files[f.name] = map[string][]byte{}
		}
		opts.files[f.name][f.key] = b
	}
	for _, q := range qs {
		if q.Solver == nil {
			continue
		}
		if q.Solver.Config == nil {
			continue
		}
		name := probeDomain(q.Name)
		t, err := solver.Resolve(q.Solver.Config, reg, solver.Challenge{DNSName: name,
			ResolvedFQDN: "_acme-challenge." + name + ".", ResolvedZone: strings.TrimPrefix(q.Name, "*.") + "."})
		if err != nil {
			continue // the report says why the config maps this domain nowhere
		}
		entry := reg[t.Provider.Name]
		switch {
		case entry.Strategy == providers.Fixed:
			return fmt.Errorf("refused for %s: config.%s is %s (ACME-DNS), whose account keeps only its two latest "+
				"values, so a probe's value would evict a live challenge's; nothing was written", q.Name,
				t.Provider.Path, t.Provider.Name)
		case entry.Strategy == providers.Set && opts.kubeconfig == "":
			return fmt.Errorf("%s (config.%s, for %s) rewrites the whole record set, so the probe must take the "+
				"same Lease as the webhook: pass --kubeconfig (the Lease is in --lease-namespace, default cert-manager)",
				t.Provider.Name, t.Provider.Path, q.Name)
		}
		refs, _, err := blockRefs(q.Solver.Raw, t.Provider.Path, entry)
		if err != nil {
			return err
		}
		for _, r := range refs {
			switch {
			case len(opts.files) > 0 && opts.files[r.name][r.key] == nil:
				return fmt.Errorf("config.%s needs Secret %q key %q: pass --secret %s/%s=FILE", r.path, r.name, r.key,
					r.name, r.key)
			case len(opts.files) == 0 && opts.kubeconfig == "":
				return fmt.Errorf("config.%s reads Secret %q key %q: pass --secret %s/%s=FILE, or --kubeconfig to read "+
					"the Secrets from the cluster", r.path, r.name, r.key, r.name, r.key)
			}
		}
	}
	return nil
}

// runProbes probes each domain in turn. An interrupt stops the probe in flight, whose value is still removed,
// and skips the rest.
func (c *CheckCmd) runProbes(src *source, qs []nameQuery, reps []DomainReport, opts *probeOptions,
	resolver dnscheck.Resolver, reg providers.Registry) {
	sigs := c.Interrupt
	if sigs == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(ch)
		sigs = ch
	}
	stopped := false
	for i := range reps {
		if qs[i].Solver == nil || qs[i].Solver.Config == nil {
			continue
		}
		if !stopped {
			select {
			case <-sigs:
				stopped = true
			default:
			}
		}
		if stopped {
			reps[i].Problems = append(reps[i].Problems, "probe skipped: interrupted")
			reps[i].Ready = false
			continue
		}
		pr := c.probe(src, qs[i], &reps[i], opts, resolver, reg, sigs)
		reps[i].Probe = pr
		stopped = pr.Interrupted
		if pr.Error != "" {
			reps[i].Problems = append(reps[i].Problems, "probe: "+pr.Error)
			reps[i].Ready = false
		}
	}
}

// probe presents and cleans up one random value through the solver as the webhook builds it: the same parsing,
// Secret checks (label, endpoint pin), provider, zone discovery, strategy and fences; only the delegation check
// is off, for the probe's own random name.
func (c *CheckCmd) probe(src *source, q nameQuery, rep *DomainReport, opts *probeOptions, resolver dnscheck.Resolver,
	reg providers.Registry, sigs <-chan os.Signal) *ProbeReport {
	pr := &ProbeReport{}
	namespace := opts.namespace
	if namespace == "" && src.Issuer != nil && src.Issuer.Kind == "Issuer" {
		namespace = orDefault(src.Issuer.Namespace, "default")
	}
	namespace = orDefault(namespace, "cert-manager")
	zone := orDefault(rep.CNAME.Zone, strings.TrimPrefix(q.Name, "*.")+".")
	req, err := probeChallenge(q, zone, namespace)
	if err != nil {
		pr.Error = "building the probe's challenge: " + err.Error()
		return pr
	}
	pr.Value = req.Key
	t, err := solver.Resolve(q.Solver.Config, reg, solver.Challenge{DNSName: req.DNSName, ResolvedFQDN: req.ResolvedFQDN, ResolvedZone: zone})
	if err != nil {
		pr.Error = "the config maps the probe's name nowhere: " + oneLine(err)
		return pr
	}
	pr.Record = t.FQDN
	entry := reg[t.Provider.Name]
	clients, err := c.probeClients(q, t, entry, namespace, opts)
	if err != nil {
		pr.Error = err.Error()
		return pr
	}
	s := &solver.Solver{Registry: reg, HTTPClient: c.HTTPClient, DNS: &resolver}
	if opts.kubeconfig != "" {
		s.Namespace = opts.leaseNamespace
	}
	stop := make(chan struct{})
	s.InitializeWithClients(clients, stop)

	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Present(req) }()
	var presentErr error
	select {
	case presentErr = <-done:
	case sig := <-sigs:
		pr.Interrupted = true
		fmt.Fprintf(c.Stderr, "check: %v: stopping the probe of %s and removing its value\n", sig, q.Name)
		close(stop)
		presentErr = <-done
		// The stopped solver's informers are gone: clean up with a fresh one, as another replica would (CleanUp
		// needs nothing from Present), and with its own fresh timeout.
		stop = make(chan struct{})
		s.InitializeWithClients(clients, stop)
	}
	defer func() { close(stop) }()
	pr.PresentMillis = time.Since(start).Milliseconds()

	// Clean up whatever Present did, even when it failed or was interrupted: it may have written before that.
	// Further interrupts are not read: the cleanup finishes first.
	clean := *req
	clean.Action = whapi.ChallengeActionCleanUp
	backoff := c.CleanupBackoff
	if backoff <= 0 {
		backoff = time.Second
	}
	start = time.Now()
	var cleanErr error
	for attempt := 1; attempt <= probeCleanups; attempt++ {
		if attempt > 1 {
			time.Sleep(backoff << (attempt - 2))
		}
		pr.CleanUpAttempts = attempt
		if cleanErr = s.CleanUp(&clean); cleanErr == nil {
			break
		}
		fmt.Fprintf(c.Stderr, "check: probe of %s: deleting its TXT value at %s failed (attempt %d of %d): %s\n",
			q.Name, t.FQDN, attempt, probeCleanups, oneLine(cleanErr))
	}
	pr.CleanUpMillis = time.Since(start).Milliseconds()
	pr.Removed = cleanErr == nil
	via := fmt.Sprintf("%s (config.%s)", t.Provider.Name, t.Provider.Path)
	switch {
	case cleanErr != nil && presentErr != nil && !served(resolver, t.FQDN, req.Key):
		// Present failed before writing (a refused token fails its deletes the same way): DNS shows nothing.
		pr.Removed = true
		pr.Error = fmt.Sprintf("the token could not write through %s: %s; nothing is left behind (the deletes "+
			"failed too, and DNS serves no such value at %s)", via, oneLine(presentErr), t.FQDN)
	case cleanErr != nil && presentErr != nil:
		pr.Error = fmt.Sprintf("writing through %s failed (%s), and so did %d deletes (last: %s): if the write got "+
			"through before failing, the TXT value %q is left at %s; delete it there", via, oneLine(presentErr),
			probeCleanups, oneLine(cleanErr), req.Key, t.FQDN)
	case cleanErr != nil:
		pr.Error = fmt.Sprintf("the TXT value %q is left at %s: the token could write it but %d deletes through %s "+
			"failed (last: %s); delete it there, and check that the token may delete records", req.Key, t.FQDN,
			probeCleanups, via, oneLine(cleanErr))
	case presentErr != nil && pr.Interrupted:
		pr.Error = fmt.Sprintf("interrupted while writing through %s (%s); nothing is left behind", via, oneLine(presentErr))
	case presentErr != nil:
		pr.Error = fmt.Sprintf("the token could not write through %s: %s; nothing is left behind", via, oneLine(presentErr))
	case pr.Interrupted:
		pr.Error = "interrupted; the value was removed"
	}
	return pr
}

// served reports whether DNS serves value at fqdn, asked by the delegation check's rules (in authoritative mode,
// the zone's own servers). A failed lookup counts as served: it proves nothing is gone.
func served(r dnscheck.Resolver, fqdn, value string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dnscheck.NewChecker(r)
	c.CacheSize = -1
	vals, err := c.TXT(ctx, fqdn)
	return err != nil || slices.Contains(vals, value)
}

// probeClients returns the clients the probe's solver reads Secrets and takes Leases with: a fake clientset
// holding the --secret files as the webhook would see them (labelled, and annotated with the endpoints the
// provider block names), or the cluster's own Secrets; and the cluster's Leases for a set provider.
func (c *CheckCmd) probeClients(q nameQuery, t solver.Target, entry *providers.Entry, namespace string,
	opts *probeOptions) (solver.Clients, error) {
	var cluster *kubeClients
	if opts.kubeconfig != "" {
		if opts.kube == nil {
			k, err := loadKube(opts.kubeconfig, "")
			if err != nil {
				return solver.Clients{}, err
			}
			opts.kube = k
		}
		cluster = opts.kube
	}
	if len(opts.files) == 0 {
		if cluster == nil {
			// checkProbe made sure the block reads no Secret.
			return solver.Clients{Kube: fake.NewClientset()}, nil
		}
		return solver.Clients{Kube: cluster.kube, Metadata: cluster.meta}, nil
	}
	refs, endpoints, err := blockRefs(q.Solver.Raw, t.Provider.Path, entry)
	if err != nil {
		return solver.Clients{}, err
	}
	objs := map[string]*corev1.Secret{}
	for _, r := range refs {
		sec := objs[r.name]
		if sec == nil {
			sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: namespace, ResourceVersion: "1",
				Labels: map[string]string{solver.SecretLabel: "true"}}, Data: map[string][]byte{}}
			objs[r.name] = sec
		}
		sec.Data[r.key] = opts.files[r.name][r.key]
	}
	var list []runtime.Object
	for _, sec := range objs {
		var eps []string
		for _, ep := range endpoints {
			v := ep.value
			if ep.ref != nil {
				v = strings.TrimSpace(string(opts.files[ep.ref.name][ep.ref.key]))
			}
			if v != "" && !slices.Contains(eps, v) {
				eps = append(eps, v)
			}
		}
		if len(eps) > 0 {
			sec.Annotations = map[string]string{solver.EndpointsAnnotation: strings.Join(eps, ",")}
		}
		list = append(list, sec)
	}
	files := fake.NewClientset(list...)
	if entry.Strategy == providers.Set && cluster != nil {
		return solver.Clients{Kube: leaseRouter{Interface: files, leases: cluster.kube.CoordinationV1()}}, nil
	}
	return solver.Clients{Kube: files}, nil
}

// leaseRouter reads Secrets from the files and takes Leases in the cluster.
type leaseRouter struct {
	kubernetes.Interface
	leases coordinationv1.CoordinationV1Interface
}

// CoordinationV1 returns the cluster's Lease client.
func (r leaseRouter) CoordinationV1() coordinationv1.CoordinationV1Interface { return r.leases }

// IsWatchListSemanticsUnSupported passes on what the fake clientset tells client-go's reflector: it cannot
// stream a watch-list, so the Secret informers must list, then watch. Hidden behind the wrapper, the reflector
// would wait for a stream that never comes and the informers would never sync.
func (r leaseRouter) IsWatchListSemanticsUnSupported() bool {
	return watchlist.DoesClientNotSupportWatchListSemantics(r.Interface)
}

// loadKube builds clients from a kubeconfig file (and context), as kubectl reads it.
func loadKube(path, context string) (*kubeClients, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &kubeClients{kube: kube, meta: meta, namespace: ns}, nil
}

type blockRef struct{ name, key, path string }

type endpointValue struct {
	value string
	ref   *blockRef
}

// blockRefs finds, in the raw webhook config, the provider fields at path (ProviderConfig.Path, e.g.
// "delegations[1].aliasProvider.rfc2136"):
// every {secretKeyRef: {name, key}} at any depth, and the values of the entry's endpoint fields.
func blockRefs(raw []byte, path string, entry *providers.Entry) ([]blockRef, []endpointValue, error) {
	var root any
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil, nil, err
	}
	cur := root
	for part := range strings.SplitSeq(path, ".") {
		name, idx, indexed := strings.Cut(strings.TrimSuffix(part, "]"), "[")
		m, _ := cur.(map[string]any)
		cur = m[name]
		if indexed {
			i, err := strconv.Atoi(idx)
			list, _ := cur.([]any)
			if err != nil || i < 0 || i >= len(list) {
				return nil, nil, fmt.Errorf("config.%s not found", path)
			}
			cur = list[i]
		}
	}
	var refs []blockRef
	var eps []endpointValue
	var walk func(v any, at string, endpoint bool)
	walk = func(v any, at string, endpoint bool) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["secretKeyRef"].(map[string]any); ok {
				name, _ := ref["name"].(string)
				key, _ := ref["key"].(string)
				r := blockRef{name: name, key: key, path: at}
				refs = append(refs, r)
				if endpoint {
					eps = append(eps, endpointValue{ref: &r})
				}
				return
			}
			for k, c := range v {
				walk(c, at+"."+k, slices.Contains(entry.Endpoints, k))
			}
		case []any:
			for i, c := range v {
				walk(c, fmt.Sprintf("%s[%d]", at, i), false)
			}
		case string:
			if endpoint && v != "" {
				eps = append(eps, endpointValue{value: v})
			}
		}
	}
	walk(cur, path, false)
	slices.SortFunc(refs, func(a, b blockRef) int { return strings.Compare(a.path, b.path) })
	return refs, eps, nil
}
