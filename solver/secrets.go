package solver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// secretStore reads Secrets through informers, so a call costs no API request once the cache is warm (a GET per
// call would be capped by client-go's 5 requests/s default limiter). It runs one informer per namespace when the
// webhook may list all Secrets there, and one per (namespace, name) with a metadata.name field selector when its
// RBAC is narrowed to named Secrets: Kubernetes allows list/watch on resourceNames only with that selector.
//
// With requireLabel (the default), the informers select on SecretLabel=true: a Secret not labelled for the
// webhook is never even cached. On a miss, a metadata-only read tells "unlabelled" from "missing" without ever
// fetching the unlabelled Secret's data.
type secretStore struct {
	client       kubernetes.Interface
	meta         metadata.Interface
	requireLabel bool
	// ctx stops every informer when the solver is re-initialised or stopped.
	ctx context.Context
	// syncTimeout bounds how long a call waits for a new informer's first list.
	syncTimeout time.Duration
	// idle and max bound the informers (informerIdle, maxInformers).
	idle time.Duration
	max  int

	mu        sync.Mutex
	informers map[informerKey]*secretInformer
	// narrowed holds namespaces where listing all Secrets is forbidden.
	narrowed map[string]bool
}

type informerKey struct {
	namespace string
	// name is empty for a namespace-wide informer.
	name string
}

type secretInformer struct {
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
	// lastUsed is when a call last read through it (Unix nanoseconds): idle informers are stopped.
	lastUsed atomic.Int64

	mu      sync.Mutex
	lastErr error
}

// Informer bounds: every namespace an Issuer ever named would otherwise keep its informer (and its cache) for
// the life of the process.
const (
	// informerIdle is how long an informer no call has used is kept: longer than cert-manager's longest
	// backoff between retries of one challenge (30 minutes).
	informerIdle = 45 * time.Minute
	// maxInformers bounds the informers running at once; past it the least recently used one stops.
	maxInformers = 256
)

// InformerState is one Secret informer, for the metrics: where it watches and whether it has synced.
type InformerState struct {
	// Namespace it watches, and Name when it watches one Secret (RBAC narrowed to named Secrets).
	Namespace, Name string
	// Synced is true once its first list has arrived.
	Synced bool
}

func newSecretStore(ctx context.Context, c Clients, requireLabel bool) *secretStore {
	s := &secretStore{
		client:       c.Kube,
		meta:         c.Metadata,
		requireLabel: requireLabel,
		ctx:          ctx,
		syncTimeout:  10 * time.Second,
		idle:         informerIdle,
		max:          maxInformers,
		informers:    map[informerKey]*secretInformer{},
		narrowed:     map[string]bool{},
	}
	go s.janitor(time.Minute)
	return s
}

// janitor stops informers no call has used for s.idle, until the store's context ends.
func (s *secretStore) janitor(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.sweep(time.Now())
		}
	}
}

// sweep stops the informers idle since before now minus s.idle.
func (s *secretStore) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, si := range s.informers {
		if now.Sub(time.Unix(0, si.lastUsed.Load())) > s.idle {
			si.cancel()
			delete(s.informers, key)
		}
	}
}

// States lists the running informers, for the metrics.
func (s *secretStore) States() []InformerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]InformerState, 0, len(s.informers))
	for key, si := range s.informers {
		out = append(out, InformerState{Namespace: key.namespace, Name: key.name, Synced: si.informer.HasSynced()})
	}
	slices.SortFunc(out, func(a, b InformerState) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out
}

// secretError is a problem with a referenced Secret: missing, unlabelled, missing key, empty, or unreadable.
type secretError struct{ err error }

func (e *secretError) Error() string { return e.err.Error() }
func (e *secretError) Unwrap() error { return e.err }

func secretErrorf(format string, args ...any) error { return &secretError{fmt.Errorf(format, args...)} }

// get returns the Secret namespace/name from the informer cache, starting and syncing an informer if needed.
func (s *secretStore) get(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	si, err := s.informerFor(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	obj, ok, err := si.informer.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil {
		return nil, err
	}
	if ok {
		return obj.(*corev1.Secret), nil
	}
	return nil, s.explainMiss(ctx, namespace, name)
}

// explainMiss says why a Secret is not in the cache: missing, or (with the label required) not labelled. A live,
// metadata-only read decides, so the data of a Secret not meant for the webhook is never fetched. A Secret that is
// missing while its namespace is being deleted is a *secretGoneError: CleanUp may give up on it (DESIGN.md
// "CleanUp decisions").
func (s *secretStore) explainMiss(ctx context.Context, namespace, name string) error {
	label := fmt.Sprintf("kubectl label secret -n %s %s %s=true", namespace, name, SecretLabel)
	notFound := fmt.Sprintf("Secret %q not found in namespace %q (the issuer's namespace, or cert-manager's cluster "+
		"resource namespace for a ClusterIssuer): create it there", name, namespace)
	if s.requireLabel {
		notFound += "; once it exists, label it so the webhook may use it: " + label
	}
	if s.meta == nil {
		if !s.requireLabel {
			return secretErrorf("%s", notFound)
		}
		return secretErrorf("Secret %q in namespace %q is missing or not labelled for this webhook: create it there, and "+
			"label it so the webhook may use it: %s", name, namespace, label)
	}
	live, err := s.meta.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(namespace).
		Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if s.namespaceDeleting(ctx, namespace) {
			return &secretGoneError{secretError{errors.New(notFound)}, namespace, name}
		}
		return secretErrorf("%s", notFound)
	case err != nil:
		return secretErrorf("Secret %q in namespace %q is not among the Secrets the webhook has cached, and reading "+
			"its metadata failed (%s): if it exists, label it: %s", name, namespace, apiMessage(err), label)
	case !s.requireLabel || live.GetLabels()[SecretLabel] == "true":
		// Created or labelled a moment ago: the informer's watch has not delivered it yet.
		return secretErrorf("Secret %q in namespace %q exists, but the webhook's cache has not seen it yet; "+
			"cert-manager will retry", name, namespace)
	}
	return secretErrorf("Secret %q in namespace %q is not labelled for this webhook, which uses only Secrets labelled "+
		"%s=true (so that an issuer cannot make it read any Secret it can name); if it is meant for the webhook, "+
		"label it: %s", name, namespace, SecretLabel, label)
}

// namespaceDeleting reports whether namespace is being deleted (or is gone), by a live read: a namespace's
// Secrets go before cert-manager's finalizers run CleanUp, and waiting for them would keep the namespace
// Terminating forever. An unreadable namespace counts as not being deleted.
func (s *secretStore) namespaceDeleting(ctx context.Context, namespace string) bool {
	ns, err := s.client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	return err == nil && ns.DeletionTimestamp != nil
}

// secretGoneError is a Secret missing from a namespace being deleted.
type secretGoneError struct {
	secretError
	namespace, name string
}

func (e *secretGoneError) Unwrap() error { return &e.secretError }

func (s *secretStore) informerFor(ctx context.Context, namespace, name string) (*secretInformer, error) {
	s.mu.Lock()
	key := informerKey{namespace: namespace}
	if s.narrowed[namespace] {
		key.name = name
	}
	si, ok := s.informers[key]
	if !ok {
		if len(s.informers) >= s.max {
			s.evictLocked()
		}
		si = s.start(key)
		s.informers[key] = si
	}
	si.lastUsed.Store(time.Now().UnixNano())
	s.mu.Unlock()

	err := si.waitSynced(ctx, s.syncTimeout)
	switch {
	case err == nil:
		return si, nil
	case apierrors.IsForbidden(err) && key.name == "":
		// RBAC narrowed to named Secrets: fall back to per-name informers in this namespace for good.
		s.mu.Lock()
		if s.informers[key] == si {
			delete(s.informers, key)
			si.cancel()
		}
		s.narrowed[namespace] = true
		s.mu.Unlock()
		klog.FromContext(ctx).V(2).Info("listing all Secrets is forbidden; watching named Secrets only",
			"namespace", namespace)
		return s.informerFor(ctx, namespace, name)
	case apierrors.IsForbidden(err):
		// Final until someone grants the Role: stop it rather than let it retry its list forever; the next call
		// starts a new one and so sees a new grant at once.
		s.mu.Lock()
		if s.informers[key] == si {
			delete(s.informers, key)
			si.cancel()
		}
		s.mu.Unlock()
		return nil, secretErrorf("Secret %q in namespace %q cannot be read: the webhook's service account may not "+
			"get, list and watch it; grant a Role in %q with those verbs on secrets (the chart does this for the "+
			"namespaces in secretNamespaces and the names in secretNames); the API server said: %s",
			name, namespace, namespace, apiMessage(err))
	default:
		return nil, secretErrorf("Secret %q in namespace %q: the Secret cache did not sync: %w", name, namespace, err)
	}
}

// evictLocked stops the least recently used informer. The caller holds s.mu.
func (s *secretStore) evictLocked() {
	var oldest informerKey
	var at int64 = math.MaxInt64
	for key, si := range s.informers {
		if u := si.lastUsed.Load(); u < at {
			oldest, at = key, u
		}
	}
	if si, ok := s.informers[oldest]; ok {
		si.cancel()
		delete(s.informers, oldest)
	}
}

func (s *secretStore) start(key informerKey) *secretInformer {
	var fieldSelector, labelSelector string
	if key.name != "" {
		fieldSelector = fields.OneTermEqualSelector("metadata.name", key.name).String()
	}
	if s.requireLabel {
		labelSelector = labels.SelectorFromSet(labels.Set{SecretLabel: "true"}).String()
	}
	tweak := func(o *metav1.ListOptions) { o.FieldSelector, o.LabelSelector = fieldSelector, labelSelector }
	ctx, cancel := context.WithCancel(s.ctx)
	si := &secretInformer{
		informer: coreinformers.NewFilteredSecretInformer(s.client, key.namespace, 0, cache.Indexers{}, tweak),
		cancel:   cancel,
	}
	// Keep only what the webhook reads: managed fields and other annotations can be large, and a namespace-wide
	// informer in cert-manager's namespace without the label required also sees Helm's release Secrets (the
	// whole chart, compressed), which are never credentials.
	_ = si.informer.SetTransform(func(obj any) (any, error) {
		if sec, ok := obj.(*corev1.Secret); ok {
			sec.ManagedFields = nil
			if ep, ok := sec.Annotations[EndpointsAnnotation]; ok {
				sec.Annotations = map[string]string{EndpointsAnnotation: ep}
			} else {
				sec.Annotations = nil
			}
			if sec.Type == "helm.sh/release.v1" {
				sec.Data = nil
			}
		}
		return obj, nil
	})
	_ = si.informer.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		si.mu.Lock()
		si.lastErr = err
		si.mu.Unlock()
	})
	go si.informer.RunWithContext(ctx)
	return si
}

// waitSynced waits for the informer's first list. A Forbidden list ends the wait at once: it will not heal by
// itself, and the caller either falls back to per-name informers or tells the user which Role to grant.
func (si *secretInformer) waitSynced(ctx context.Context, timeout time.Duration) error {
	if si.informer.HasSynced() {
		return nil
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if si.informer.HasSynced() {
			return nil
		}
		si.mu.Lock()
		err := si.lastErr
		si.mu.Unlock()
		if apierrors.IsForbidden(err) {
			return err
		}
		select {
		case <-tick.C:
		case <-timer.C:
			if err == nil {
				err = errors.New("no answer from the Kubernetes API")
			}
			return fmt.Errorf("after %s: %w", timeout, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// resolved is a provider block's Secret references, read: their values, in the order of pc.refs, and the
// Secrets they came from.
type resolved struct {
	values  []string
	secrets map[string]*corev1.Secret
}

// resolve reads every Secret a provider block references, reporting every problem at once.
func (s *secretStore) resolve(ctx context.Context, namespace string, pc *ProviderConfig) (resolved, error) {
	r := resolved{values: make([]string, len(pc.refs)), secrets: map[string]*corev1.Secret{}}
	var errs []error
	for i, ref := range pc.refs {
		sec, err := s.get(ctx, namespace, ref.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("config.%s: %w", ref.jsonPath, err))
			continue
		}
		r.secrets[ref.Name] = sec
		v, ok := sec.Data[ref.Key]
		if !ok {
			errs = append(errs, secretErrorf("config.%s: Secret %q in namespace %q has no key %q (its keys: %s); "+
				"correct secretKeyRef.key or add the key", ref.jsonPath, ref.Name, namespace, ref.Key,
				strings.Join(slices.Sorted(maps.Keys(sec.Data)), ", ")))
			continue
		}
		// A credential never starts or ends with whitespace; a trailing newline (echo into a file, then
		// --from-file) is the usual accident and would break an HTTP header or a TSIG secret.
		r.values[i] = strings.TrimSpace(string(v))
		if r.values[i] == "" {
			errs = append(errs, secretErrorf("config.%s: Secret %q in namespace %q has an empty value at key %q; put "+
				"the credential there", ref.jsonPath, ref.Name, namespace, ref.Key))
		}
	}
	return r, errors.Join(errs...)
}

// redact replaces every Secret value in err's message, raw and base64-encoded, so that no provider library can
// leak one into a Challenge's status. The error chain stays inspectable with errors.Is and errors.As.
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if len(s) < 4 {
			continue
		}
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))} {
			if strings.Contains(msg, form) {
				msg, changed = strings.ReplaceAll(msg, form, "[redacted]"), true
			}
		}
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// apiMessage returns the API server's own message (it names the user that was refused), or the error.
func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
