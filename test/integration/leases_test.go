//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeacmedns"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

const lockNS = "webhook"

func startAPIServer(t *testing.T) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin := kubernetes.NewForConfigOrDie(cfg)
	if _, err := admin.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: lockNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return cfg, admin
}

// TestLeaseLocksAcrossReplicas runs the set strategy's lock as two replicas would, each with its own client and
// identity, against a real kube-apiserver (whose optimistic concurrency the fake clientset does not have).
func TestLeaseLocksAcrossReplicas(t *testing.T) {
	cfg, admin := startAPIServer(t)
	replica := func(id string) *providers.LeaseLocks {
		return &providers.LeaseLocks{Client: kubernetes.NewForConfigOrDie(cfg).CoordinationV1(), Namespace: lockNS,
			Identity: id, Duration: 2 * time.Second}
	}
	a, b := replica("replica-a"), replica("replica-b")

	t.Run("mutual exclusion and coalescing", func(t *testing.T) {
		var inside, maxInside, batches atomic.Int32
		var mu sync.Mutex
		set := map[string]bool{}
		apply := func(_ context.Context, muts []providers.Mutation) []error {
			n := inside.Add(1)
			for {
				m := maxInside.Load()
				if n <= m || maxInside.CompareAndSwap(m, n) {
					break
				}
			}
			batches.Add(1)
			mu.Lock()
			for _, m := range muts {
				set[m.Value] = m.Add
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond) // a set write
			inside.Add(-1)
			return make([]error, len(muts))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		var failed atomic.Int32
		for i := range 200 {
			l := a
			if i%2 == 1 {
				l = b
			}
			wg.Go(func() {
				if err := l.Apply(ctx, "set\x00zone\x00name", providers.Mutation{Value: fmt.Sprint(i), Add: true}, apply); err != nil {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		if failed.Load() != 0 || len(set) != 200 {
			t.Fatalf("%d failed, %d values applied", failed.Load(), len(set))
		}
		if maxInside.Load() != 1 {
			t.Fatalf("%d batches ran at once across the two replicas", maxInside.Load())
		}
		if n := batches.Load(); n > 100 {
			t.Fatalf("%d batches for 200 changes: queued changes were not coalesced", n)
		}
		t.Logf("200 changes from two replicas in %d batches", batches.Load())
	})

	t.Run("a crashed holder's lease lapses; a live one with a skewed clock does not", func(t *testing.T) {
		leases := admin.CoordinationV1().Leases(lockNS)
		name := leaseNameFor(t, a, "dead")
		past := metav1.NewMicroTime(time.Now().Add(-time.Hour))
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: lockNS},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("crashed"), LeaseDurationSeconds: ptr.To[int32](2), RenewTime: &past}}
		if _, err := leases.Create(context.Background(), lease, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The "crashed" holder renews for 3 s with a clock an hour behind, then dies.
		done := make(chan struct{})
		go func() {
			defer close(done)
			end := time.Now().Add(3 * time.Second)
			for time.Now().Before(end) {
				time.Sleep(300 * time.Millisecond)
				cur, err := leases.Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				stamp := metav1.NewMicroTime(time.Now().Add(-time.Hour))
				cur.Spec.RenewTime = &stamp
				if _, err := leases.Update(context.Background(), cur, metav1.UpdateOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		start := time.Now()
		err := a.Apply(context.Background(), "dead", providers.Mutation{Value: "v"}, func(_ context.Context, m []providers.Mutation) []error {
			return make([]error, len(m))
		})
		<-done
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 4*time.Second || d > 12*time.Second {
			t.Fatalf("took the lock after %s; want after the holder's last renewal (3 s) plus its 2 s duration", d)
		}
	})
}

// leaseNameFor finds the Lease a key maps to, by taking it once.
func leaseNameFor(t *testing.T, l *providers.LeaseLocks, key string) string {
	t.Helper()
	before, err := l.Client.Leases(lockNS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(context.Background(), key, providers.Mutation{}, func(_ context.Context, m []providers.Mutation) []error {
		return make([]error, len(m))
	}); err != nil {
		t.Fatal(err)
	}
	after, err := l.Client.Leases(lockNS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, le := range after.Items {
		if !slices.ContainsFunc(before.Items, func(b coordinationv1.Lease) bool { return b.Name == le.Name }) {
			if err := l.Client.Leases(lockNS).Delete(context.Background(), le.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			return le.Name
		}
	}
	t.Fatal("taking a lock created no Lease")
	return ""
}

// TestACMEDNSSlotsAcrossReplicas: one ACME-DNS account serves three names (cert-manager#3610), through two
// webhook replicas. ACME-DNS keeps two values: a third Present must wait for a CleanUp instead of evicting a
// value the CA may be about to read.
func TestACMEDNSSlotsAcrossReplicas(t *testing.T) {
	cfg, admin := startAPIServer(t)
	srv := fakeacmedns.Start(t, "auth.acme-dns.test")
	acct := srv.Register()
	ctx := context.Background()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "issuer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "acme-dns", Namespace: "issuer",
		Labels:      map[string]string{solver.SecretLabel: "true"},
		Annotations: map[string]string{solver.EndpointsAnnotation: srv.URL}},
		StringData: map[string]string{"password": acct.Password}}
	if _, err := admin.CoreV1().Secrets("issuer").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	replicas := make([]*solver.Solver, 2)
	for i := range replicas {
		replicas[i] = &solver.Solver{Namespace: lockNS, Identity: fmt.Sprint("replica-", i)}
		stop := make(chan struct{})
		t.Cleanup(func() { close(stop) })
		if err := replicas[i].Initialize(cfg, stop); err != nil {
			t.Fatal(err)
		}
	}
	config := fmt.Sprintf(`{"verifyDelegation":"Off","domainAlias":%q,"provider":{"acmedns":{"username":%q,"subdomain":%q,"server_url":%q,"password":{"secretKeyRef":{"name":"acme-dns","key":"password"}}}}}`,
		acct.FullDomain, acct.Username, acct.Subdomain, srv.URL)
	ch := func(name, value string) *whapi.ChallengeRequest {
		return &whapi.ChallengeRequest{UID: "uid", DNSName: name, Key: value, ResolvedFQDN: "_acme-challenge." + name + ".",
			ResolvedZone: name + ".", ResourceNamespace: "issuer", Config: &apiextensionsv1.JSON{Raw: []byte(config)}}
	}
	key := func(i int) string { return fmt.Sprintf("k%042d", i) }

	if err := replicas[0].Present(ch("a.test", key(1))); err != nil {
		t.Fatal(err)
	}
	if err := replicas[1].Present(ch("b.test", key(2))); err != nil {
		t.Fatal(err)
	}
	// A repeat lands on the other replica: nothing is pushed (it would evict b.test's value).
	if err := replicas[1].Present(ch("a.test", key(1))); err != nil {
		t.Fatal(err)
	}
	err := replicas[0].Present(ch("c.test", key(3)))
	if err == nil || !strings.Contains(err.Error(), "already serves two values") || !strings.Contains(err.Error(), "cert-manager will retry") {
		t.Fatalf("third name on a full account: %v", err)
	}
	if got := srv.Values(acct.Subdomain); !slices.Equal(got, []string{key(1), key(2)}) || srv.Updates() != 2 {
		t.Fatalf("ACME-DNS holds %q after %d updates; want the first two values after 2", got, srv.Updates())
	}
	// a.test is done: its CleanUp, on the other replica, frees its slot without reading any Secret.
	if err := admin.CoreV1().Secrets("issuer").Delete(ctx, "acme-dns", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := replicas[1].CleanUp(ch("a.test", key(1))); err != nil {
		t.Fatalf("CleanUp without the Secret: %v", err)
	}
	if _, err := admin.CoreV1().Secrets("issuer").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err = replicas[0].Present(ch("c.test", key(3)))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the re-created Secret reaches the informer
	}
	if err != nil {
		t.Fatalf("third name after a CleanUp: %v", err)
	}
	// b.test's value, which the CA may still read, was never evicted.
	if got := srv.Values(acct.Subdomain); !slices.Equal(got, []string{key(2), key(3)}) {
		t.Fatalf("ACME-DNS holds %q, want b.test's and c.test's values", got)
	}
}
