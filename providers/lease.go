package providers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// LeaseLocks serialises changes per key across every replica of the webhook, for the set strategy, whose writes
// replace a whole record set: without it, two replicas presenting the apex and the wildcard at once could each
// read the set and write it back without the other's value.
//
// A lock is a coordination.k8s.io/v1 Lease in Namespace, from a fixed pool of names chosen by hashing the key,
// so Leases never pile up (two keys that share a Lease only wait for each other). Within a process, one worker
// per Lease takes it, and applies every change queued for it meanwhile in one batch per key: with a top-level
// domainAlias every challenge shares one name, and sixty challenges queued one by one would run past their
// deadline. Expiry is judged by local observation of the holder's renewals, as client-go's leader election does,
// never by comparing the holder's renewTime with the local clock, so clock skew cannot steal a live lock.
type LeaseLocks struct {
	// Client reads and writes the Leases.
	Client coordinationclient.LeasesGetter
	// Namespace holds the Leases: the webhook's own (POD_NAMESPACE).
	Namespace string
	// Identity names this process as the holder; unique per process.
	Identity string
	// Pool is the number of Lease names; default 64.
	Pool int
	// Duration is how long a Lease is held without renewal before another replica may take it; default 10 s.
	// The holder renews it every Duration/3 while it works, so it bounds only how long a crashed holder blocks.
	Duration time.Duration

	mu      sync.Mutex
	workers map[string]*leaseWorker
}

// Mutation is one change to a key's set: add or remove one value.
type Mutation struct {
	// Value is the TXT value.
	Value string
	// Add is true for Present, false for CleanUp.
	Add bool
	// TTL of an added value.
	TTL time.Duration
}

// BatchFunc applies every mutation queued for one key in one set write, holding the key's lock, and returns one
// error per mutation (nil for success). ctx is the worker's, not any single caller's.
type BatchFunc func(ctx context.Context, muts []Mutation) []error

type leaseOp struct {
	key   string
	mut   Mutation
	apply BatchFunc
	ctx   context.Context
	done  chan error
}

type leaseWorker struct {
	name    string
	queue   []*leaseOp
	running bool
}

// LeaseNamePrefix starts the name of every Lease the webhook takes.
const LeaseNamePrefix = "cert-manager-webhook-delegate-lock-"

func (l *LeaseLocks) pool() int {
	if l.Pool > 0 {
		return l.Pool
	}
	return 64
}

func (l *LeaseLocks) duration() time.Duration {
	if l.Duration > 0 {
		return l.Duration
	}
	return 10 * time.Second
}

// leaseName maps a key onto one of the pool's Lease names.
func (l *LeaseLocks) leaseName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return fmt.Sprintf("%s%02d", LeaseNamePrefix, binary.BigEndian.Uint64(sum[:8])%uint64(l.pool()))
}

// Apply queues m for key and waits until the holder of key's Lease has applied it, or until ctx ends. apply is
// used for the batch m ends up in (every caller of one key passes an equivalent one).
func (l *LeaseLocks) Apply(ctx context.Context, key string, m Mutation, apply BatchFunc) error {
	if l == nil || l.Client == nil || l.Namespace == "" {
		return errors.New("this provider's writes replace a whole record set, so they need a lock that holds across " +
			"the webhook's replicas, a Lease in the webhook's namespace, and that namespace is not known: set the " +
			"environment variable POD_NAMESPACE (the Helm chart does)")
	}
	op := &leaseOp{key: key, mut: m, apply: apply, ctx: ctx, done: make(chan error, 1)}
	name := l.leaseName(key)
	l.mu.Lock()
	if l.workers == nil {
		l.workers = map[string]*leaseWorker{}
	}
	w, ok := l.workers[name]
	if !ok {
		w = &leaseWorker{name: name}
		l.workers[name] = w
	}
	w.queue = append(w.queue, op)
	if !w.running {
		w.running = true
		go l.work(w)
	}
	l.mu.Unlock()
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the lock on %s (another change to the same record set is in progress, here "+
			"or in another replica): %w", key, ctx.Err())
	}
}

// take removes and returns the queued operations whose callers still wait; when none is left it marks the worker
// idle and returns nil, under the same lock Apply takes, so no operation is ever stranded.
func (l *LeaseLocks) take(w *leaseWorker) []*leaseOp {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ops []*leaseOp
	for _, op := range w.queue {
		if op.ctx.Err() == nil {
			ops = append(ops, op)
		}
	}
	w.queue = nil
	if len(ops) == 0 {
		w.running = false
		delete(l.workers, w.name)
	}
	return ops
}

// batchTimeout bounds one worker turn (taking the Lease and applying a batch), under the callers' 30 s deadline.
const batchTimeout = 25 * time.Second

func (l *LeaseLocks) work(w *leaseWorker) {
	var held *heldLease
	defer func() {
		if held != nil {
			held.release()
		}
	}()
	for {
		ops := l.take(w)
		if len(ops) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		if held == nil {
			var err error
			held, err = l.acquire(ctx, w.name, ops)
			if err != nil {
				cancel()
				for _, op := range ops {
					op.done <- fmt.Errorf("taking the lock %s/%s: %w", l.Namespace, w.name, err)
				}
				continue
			}
		}
		order, byKey := []string{}, map[string][]*leaseOp{}
		for _, op := range ops {
			if _, ok := byKey[op.key]; !ok {
				order = append(order, op.key)
			}
			byKey[op.key] = append(byKey[op.key], op)
		}
		for _, key := range order {
			group := byKey[key]
			muts := make([]Mutation, len(group))
			for i, op := range group {
				muts[i] = op.mut
			}
			errs := runBatch(ctx, group[0].apply, muts)
			for i, op := range group {
				op.done <- errs[i]
			}
		}
		cancel()
	}
}

// runBatch calls apply, turning a panic in a provider library into an error for every mutation.
func runBatch(ctx context.Context, apply BatchFunc, muts []Mutation) (errs []error) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("the provider library failed (%v)", r)
			errs = make([]error, len(muts))
			for i := range errs {
				errs[i] = err
			}
		}
	}()
	errs = apply(ctx, muts)
	if len(errs) != len(muts) {
		panic(fmt.Sprintf("BatchFunc returned %d errors for %d mutations", len(errs), len(muts)))
	}
	return errs
}

// heldLease is a Lease this process holds, renewed in the background until released.
type heldLease struct {
	l     *LeaseLocks
	mu    sync.Mutex
	lease *coordinationv1.Lease
	stop  chan struct{}
	wg    sync.WaitGroup
}

// acquire takes the Lease name, waiting while another holder keeps renewing it, until ctx ends or every op's
// caller has stopped waiting.
func (l *LeaseLocks) acquire(ctx context.Context, name string, ops []*leaseOp) (*heldLease, error) {
	leases := l.Client.Leases(l.Namespace)
	var observed string // the holder's resourceVersion when last seen to change
	var observedAt time.Time
	for attempt := 0; ; attempt++ {
		now := metav1.NewMicroTime(time.Now())
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			lease = &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: l.Namespace,
					Labels: map[string]string{"app.kubernetes.io/managed-by": "cert-manager-webhook-delegate"}},
				Spec: l.spec(now, 0),
			}
			created, err := leases.Create(ctx, lease, metav1.CreateOptions{})
			if err == nil {
				return l.hold(created), nil
			}
			if !apierrors.IsAlreadyExists(err) {
				return nil, err
			}
		case err != nil:
			return nil, err
		default:
			holder := ptr.Deref(lease.Spec.HolderIdentity, "")
			if lease.ResourceVersion != observed {
				observed, observedAt = lease.ResourceVersion, time.Now()
			}
			held := time.Duration(ptr.Deref(lease.Spec.LeaseDurationSeconds, 0)) * time.Second
			if holder == "" || holder == l.Identity || time.Since(observedAt) > held {
				if holder != "" && holder != l.Identity {
					klog.FromContext(ctx).Info("taking over a lock whose holder stopped renewing it", "lease", name,
						"holder", holder, "unchangedFor", time.Since(observedAt).Round(time.Millisecond))
				}
				lease.Spec = l.spec(now, ptr.Deref(lease.Spec.LeaseTransitions, 0)+1)
				updated, err := leases.Update(ctx, lease, metav1.UpdateOptions{})
				if err == nil {
					return l.hold(updated), nil
				}
				if !apierrors.IsConflict(err) {
					return nil, err
				}
			}
		}
		if !anyWaiting(ops) {
			return nil, context.Canceled
		}
		// Poll with jitter: one waiter per Lease per process, so a handful of replicas poll at most.
		wait := time.Duration(50+rand.IntN(100)) * time.Millisecond
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, fmt.Errorf("held by another replica for longer than this call could wait: %w", ctx.Err())
		}
	}
}

func anyWaiting(ops []*leaseOp) bool {
	for _, op := range ops {
		if op.ctx.Err() == nil {
			return true
		}
	}
	return false
}

func (l *LeaseLocks) spec(now metav1.MicroTime, transitions int32) coordinationv1.LeaseSpec {
	return coordinationv1.LeaseSpec{
		HolderIdentity:       ptr.To(l.Identity),
		LeaseDurationSeconds: ptr.To(int32(l.duration().Round(time.Second) / time.Second)),
		AcquireTime:          &now,
		RenewTime:            &now,
		LeaseTransitions:     ptr.To(transitions),
	}
}

func (l *LeaseLocks) hold(lease *coordinationv1.Lease) *heldLease {
	h := &heldLease{l: l, lease: lease, stop: make(chan struct{})}
	h.wg.Add(1)
	go h.renew()
	return h
}

// renew keeps the Lease while this process works: every change of its resourceVersion tells the waiting replicas
// that the holder is alive.
func (h *heldLease) renew() {
	defer h.wg.Done()
	t := time.NewTicker(h.l.duration() / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.mu.Lock()
		lease := h.lease.DeepCopy()
		h.mu.Unlock()
		now := metav1.NewMicroTime(time.Now())
		lease.Spec.RenewTime = &now
		ctx, cancel := context.WithTimeout(context.Background(), h.l.duration()/3)
		updated, err := h.l.Client.Leases(h.l.Namespace).Update(ctx, lease, metav1.UpdateOptions{})
		cancel()
		if err != nil {
			klog.Background().Error(err, "renewing a lock failed; another replica may take it", "lease", lease.Name)
			continue
		}
		h.mu.Lock()
		h.lease = updated
		h.mu.Unlock()
	}
}

// release stops renewing and frees the Lease for the next holder at once.
func (h *heldLease) release() {
	close(h.stop)
	h.wg.Wait()
	h.mu.Lock()
	lease := h.lease.DeepCopy()
	h.mu.Unlock()
	lease.Spec.HolderIdentity = ptr.To("")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.l.Client.Leases(h.l.Namespace).Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		// It lapses by itself after Duration.
		klog.Background().V(2).Info("releasing a lock failed; it lapses by itself", "lease", lease.Name, "err", err)
	}
}
