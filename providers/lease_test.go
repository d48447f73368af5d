package providers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func newLocks(client *fake.Clientset, id string) *LeaseLocks {
	return &LeaseLocks{Client: client.CoordinationV1(), Namespace: "webhook", Identity: id, Duration: 3 * time.Second}
}

// TestLeaseLocksCoalesce: changes queued while a batch runs are applied together in the next one, each caller
// gets its own mutation's error, and only one batch runs per key at a time.
func TestLeaseLocksCoalesce(t *testing.T) {
	t.Parallel()
	l := newLocks(fake.NewClientset(), "a")
	var mu sync.Mutex
	var batches [][]Mutation
	var inside atomic.Int32
	release := make(chan struct{})
	apply := func(_ context.Context, muts []Mutation) []error {
		if inside.Add(1) != 1 {
			t.Error("two batches of one key ran at once")
		}
		defer inside.Add(-1)
		mu.Lock()
		batches = append(batches, slices.Clone(muts))
		first := len(batches) == 1
		mu.Unlock()
		if first {
			<-release // hold the first batch so that the others queue up behind it
		}
		errs := make([]error, len(muts))
		for i, m := range muts {
			if m.Value == "bad" {
				errs[i] = errors.New("refused")
			}
		}
		return errs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	results := make([]error, 21)
	wg.Go(func() { results[0] = l.Apply(ctx, "k", Mutation{Value: "first", Add: true}, apply) })
	for !func() bool { mu.Lock(); defer mu.Unlock(); return len(batches) == 1 }() {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= 20; i++ {
		v := fmt.Sprint("v", i)
		if i == 7 {
			v = "bad"
		}
		wg.Go(func() { results[i] = l.Apply(ctx, "k", Mutation{Value: v, Add: true}, apply) })
	}
	time.Sleep(100 * time.Millisecond) // let them queue
	close(release)
	wg.Wait()
	for i, err := range results {
		if (err != nil) != (i == 7) {
			t.Errorf("result %d = %v", i, err)
		}
	}
	if len(batches) != 2 || len(batches[1]) != 20 {
		sizes := []int{}
		for _, b := range batches {
			sizes = append(sizes, len(b))
		}
		t.Fatalf("batch sizes %v, want [1 20]: the queued changes were not coalesced", sizes)
	}
}

// TestLeaseLocksPanicAndCancel: a panicking provider library fails its batch instead of the process; a caller
// whose context ends stops waiting, and its change is dropped if it was not taken yet.
func TestLeaseLocksPanicAndCancel(t *testing.T) {
	t.Parallel()
	l := newLocks(fake.NewClientset(), "a")
	err := l.Apply(context.Background(), "k", Mutation{Value: "v"}, func(context.Context, []Mutation) []error { panic("boom") })
	if err == nil || err.Error() != "the provider library failed (boom)" {
		t.Fatalf("panic: %v", err)
	}
	block := make(chan struct{})
	go func() {
		_ = l.Apply(context.Background(), "k", Mutation{Value: "slow"}, func(context.Context, []Mutation) []error { <-block; return []error{nil} })
	}()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var ran atomic.Bool
	err = l.Apply(ctx, "k", Mutation{Value: "late"}, func(_ context.Context, m []Mutation) []error { ran.Store(true); return make([]error, len(m)) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait: %v", err)
	}
	close(block)
	time.Sleep(100 * time.Millisecond)
	if ran.Load() {
		t.Fatal("a change whose caller gave up was applied")
	}
	if err := (&LeaseLocks{}).Apply(context.Background(), "k", Mutation{}, nil); err == nil {
		t.Fatal("no namespace: want an error naming POD_NAMESPACE")
	}
}

// TestLeaseLocksWaitForALiveHolderAndTakeOverADeadOne: another replica's Lease is respected while its holder
// renews it, whatever its renewTime says (clock skew), and taken over once it stops changing for the duration.
func TestLeaseLocksWaitForALiveHolderAndTakeOverADeadOne(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset()
	l := newLocks(client, "me")
	l.Duration = time.Second
	name := l.leaseName("k")
	leases := client.CoordinationV1().Leases("webhook")
	// The other replica's clock is an hour behind: comparing its renewTime with ours would call it expired.
	past := metav1.NewMicroTime(time.Now().Add(-time.Hour))
	other := newLocks(client, "other")
	other.Duration = time.Second
	lease := other.spec(past, 0)
	if _, err := leases.Create(context.Background(), leaseWith(name, lease), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() { // the other holder is alive: it renews (changes the Lease) every 200 ms, for 2 s
		defer close(renewed)
		for i := 0; i < 10; i++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			cur, err := leases.Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			cur.Spec.RenewTime = &past
			cur.ResourceVersion = fmt.Sprint(i + 100) // the fake does not bump it; an apiserver would
			if _, err := leases.Update(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	start := time.Now()
	var got time.Duration
	err := l.Apply(context.Background(), "k", Mutation{Value: "v"}, func(_ context.Context, m []Mutation) []error {
		got = time.Since(start)
		return make([]error, len(m))
	})
	close(stop)
	<-renewed
	if err != nil {
		t.Fatal(err)
	}
	// Renewed for 2 s, then dead for the 1 s duration: the lock is taken after about 3 s, not at once.
	if got < 2500*time.Millisecond {
		t.Fatalf("took a live holder's lock after %s", got)
	}
	// The worker releases the Lease once its queue is empty, just after the last caller returned.
	deadline := time.Now().Add(2 * time.Second)
	for {
		cur, _ := leases.Get(context.Background(), name, metav1.GetOptions{})
		h := ptr.Deref(cur.Spec.HolderIdentity, "?")
		if h == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the batch the Lease is held by %q, want it released", h)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func leaseWith(name string, spec coordinationSpec) *coordinationLease {
	return &coordinationLease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "webhook", ResourceVersion: "1"}, Spec: spec}
}

type (
	coordinationLease = coordinationv1.Lease
	coordinationSpec  = coordinationv1.LeaseSpec
)
