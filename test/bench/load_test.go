//go:build integration

package bench

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// side is one thing measured: a Present-equivalent and a CleanUp-equivalent of one value.
type side struct {
	// key names the side in the figures.
	key     string
	present func(key string) error
	cleanUp func(key string) error
	// route, when set, points the aggregator at this side's process before its runs.
	route func(tb testing.TB)
	// calls, when set, counts the provider API requests the side's fake has answered so far.
	calls func() int
}

// run is one measured run of a side at one concurrency.
type run struct {
	Side       string
	InFlight   int
	Round      int
	Lifecycles int
	Elapsed    time.Duration
	// Present and CleanUp are every call's latency, by operation.
	Present, CleanUp []time.Duration
	// CPU is the CPU time each process used during the run, by role, less its background use (procSet).
	CPU map[string]time.Duration
	// Calls is how many provider API requests the side's fake answered during the run (-1: not counted).
	Calls int
}

// Requests is how many calls the run made: a Present and a CleanUp per lifecycle.
func (r run) Requests() int { return 2 * r.Lifecycles }

// Throughput is calls per second.
func (r run) Throughput() float64 { return float64(r.Requests()) / r.Elapsed.Seconds() }

// all is every call's latency, both operations.
func (r run) all() []time.Duration { return append(slices.Clone(r.Present), r.CleanUp...) }

// CPUPerRequest is the CPU time one call cost a process role, and all of them together ("total").
func (r run) CPUPerRequest(role string) time.Duration {
	var d time.Duration
	if role == "total" {
		for _, v := range r.CPU {
			d += v
		}
	} else {
		d = r.CPU[role]
	}
	return d / time.Duration(r.Requests())
}

// drive runs n lifecycles of s, inflight at a time, and returns each call's latency by operation. Each lifecycle
// presents a new random value and cleans it up, as a challenge does.
func drive(tb testing.TB, s *side, inflight, n int) (present, cleanUp []time.Duration) {
	tb.Helper()
	present, cleanUp = make([]time.Duration, n), make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Bool
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		failed.Store(true)
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range inflight {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				key := newKey()
				t0 := time.Now()
				if err := s.present(key); err != nil {
					fail(fmt.Errorf("%s: Present: %w", s.key, err))
					return
				}
				t1 := time.Now()
				if err := s.cleanUp(key); err != nil {
					fail(fmt.Errorf("%s: CleanUp: %w", s.key, err))
					return
				}
				present[i], cleanUp[i] = t1.Sub(t0), time.Since(t1)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		tb.Fatalf("%d lifecycles failed, first: %v", len(errs), errs[0])
	}
	return present, cleanUp
}

// measure warms s up at the concurrency (new connections, caches) and then measures n lifecycles.
func measure(tb testing.TB, s *side, inflight, n, round int, procs *procSet) run {
	tb.Helper()
	drive(tb, s, inflight, max(2*inflight, 20))
	calls0 := -1
	if s.calls != nil {
		calls0 = s.calls()
	}
	cpu0 := procs.cpu()
	start := time.Now()
	present, cleanUp := drive(tb, s, inflight, n)
	elapsed := time.Since(start)
	cpu1 := procs.cpu()
	r := run{Side: s.key, InFlight: inflight, Round: round, Lifecycles: n, Elapsed: elapsed,
		Present: present, CleanUp: cleanUp, CPU: map[string]time.Duration{}, Calls: -1}
	for role, d := range cpu1 {
		idle := time.Duration(procs.background[role] * float64(elapsed))
		r.CPU[role] = max(d-cpu0[role]-idle, 0)
	}
	if s.calls != nil {
		r.Calls = s.calls() - calls0
	}
	return r
}

// newKey is a random 43-character base64url value, as an ACME DNS-01 value is.
func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// percentile is the q-quantile (0..1) of ds by the nearest-rank method.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
