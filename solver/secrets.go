package solver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// secretStore reads Secrets through informers, so a call costs no API request once the cache is warm (a GET per
// call would be capped by client-go's 5 requests/s default limiter). It runs one informer per namespace when the
// webhook may list all Secrets there, and one per (namespace, name) with a metadata.name field selector when its
// RBAC is narrowed to named Secrets: Kubernetes allows list/watch on resourceNames only with that selector.
type secretStore struct {
	client kubernetes.Interface
	// ctx stops every informer when the solver is re-initialised or stopped.
	ctx context.Context
	// syncTimeout bounds how long a call waits for a new informer's first list.
	syncTimeout time.Duration

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

	mu      sync.Mutex
	lastErr error
}

func newSecretStore(ctx context.Context, client kubernetes.Interface) *secretStore {
	return &secretStore{
		client:      client,
		ctx:         ctx,
		syncTimeout: 10 * time.Second,
		informers:   map[informerKey]*secretInformer{},
		narrowed:    map[string]bool{},
	}
}

// errSecret marks errors about a referenced Secret: missing, missing key, or unreadable.
var errSecret = errors.New("secret")

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
	if !ok {
		return nil, fmt.Errorf("%w %q not found in namespace %q (the issuer's namespace, or cert-manager's "+
			"cluster resource namespace for a ClusterIssuer): create it there", errSecret, name, namespace)
	}
	return obj.(*corev1.Secret), nil
}

func (s *secretStore) informerFor(ctx context.Context, namespace, name string) (*secretInformer, error) {
	s.mu.Lock()
	key := informerKey{namespace: namespace}
	if s.narrowed[namespace] {
		key.name = name
	}
	si, ok := s.informers[key]
	if !ok {
		si = s.start(key)
		s.informers[key] = si
	}
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
		return nil, fmt.Errorf("%w %q in namespace %q cannot be read: the webhook's service account may not "+
			"get, list and watch it; grant a Role in %q with those verbs on secrets (the chart does this for the "+
			"namespaces in secretNamespaces and the names in secretNames); the API server said: %s",
			errSecret, name, namespace, namespace, apiMessage(err))
	default:
		return nil, fmt.Errorf("%w %q in namespace %q: the Secret cache did not sync: %w", errSecret, name, namespace, err)
	}
}

func (s *secretStore) start(key informerKey) *secretInformer {
	var tweak func(*metav1.ListOptions)
	if key.name != "" {
		selector := fields.OneTermEqualSelector("metadata.name", key.name).String()
		tweak = func(o *metav1.ListOptions) { o.FieldSelector = selector }
	}
	ctx, cancel := context.WithCancel(s.ctx)
	si := &secretInformer{
		informer: coreinformers.NewFilteredSecretInformer(s.client, key.namespace, 0, cache.Indexers{}, tweak),
		cancel:   cancel,
	}
	// Keep only what the webhook reads: managed fields and annotations can be large, and a namespace-wide
	// informer in cert-manager's namespace also sees Helm's release Secrets (the whole chart, compressed), which
	// are never credentials.
	_ = si.informer.SetTransform(func(obj any) (any, error) {
		if sec, ok := obj.(*corev1.Secret); ok {
			sec.ManagedFields = nil
			sec.Annotations = nil
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

// apiMessage returns the API server's own message (it names the user that was refused), or the error.
func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}
