package providers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestPacerBucket(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	p := NewPacer("x", Rate{PerSecond: 2, Burst: 3})
	p.now = clock.Now
	ctx := context.Background()
	// The burst goes at once; then one slot every 500 ms, reserved in order.
	for i := range 3 {
		if w, err := p.reserve(ctx); err != nil || w != 0 {
			t.Fatalf("burst %d: wait %s, %v", i, w, err)
		}
	}
	for i, want := range []time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond} {
		if w, err := p.reserve(ctx); err != nil || w != want {
			t.Fatalf("queued %d: wait %s, %v; want %s", i, w, err, want)
		}
	}
	// A call whose deadline comes before its slot fails at once, saying the rate limit is why.
	short, cancel := context.WithDeadline(ctx, clock.Now().Add(2*time.Second))
	defer cancel()
	_, err := p.reserve(short)
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "cert-manager will retry") || !strings.Contains(err.Error(), "rateLimit") {
		t.Fatalf("past the deadline: %v", err)
	}
	// Time passes: the bucket refills up to its burst, no more.
	clock.Advance(time.Hour)
	for i := range 3 {
		if w, _ := p.reserve(ctx); w != 0 {
			t.Fatalf("after an hour, slot %d waits %s", i, w)
		}
	}
	if w, _ := p.reserve(ctx); w == 0 {
		t.Fatal("the bucket held more than its burst")
	}
}

func TestPacerThrottledHoldsEveryoneAndSlowsDown(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	p := NewPacer("x", Rate{PerSecond: 10, Burst: 10})
	p.now = clock.Now
	ctx := context.Background()
	p.Throttled(3 * time.Second)
	w, err := p.reserve(ctx)
	if err != nil || w < 3*time.Second {
		t.Fatalf("after a 429 with Retry-After 3 s, a new call waits %s, %v", w, err)
	}
	// After the hold, the rate is halved for a minute: slots come every 200 ms instead of 100 ms.
	clock.Advance(10 * time.Second)
	for range 10 { // drain the burst
		_, _ = p.reserve(ctx)
	}
	w1, _ := p.reserve(ctx)
	w2, _ := p.reserve(ctx)
	if d := w2 - w1; d < 150*time.Millisecond {
		t.Fatalf("slots %s apart right after a 429, want the rate halved", d)
	}
	clock.Advance(2 * time.Minute)
	for range 20 {
		_, _ = p.reserve(ctx)
	}
	clock.Advance(time.Hour)
	for range 10 {
		_, _ = p.reserve(ctx)
	}
	w1, _ = p.reserve(ctx)
	w2, _ = p.reserve(ctx)
	if d := w2 - w1; d > 120*time.Millisecond {
		t.Fatalf("slots %s apart long after the 429, want the rate recovered", d)
	}
}

func TestPacersShareAnAccount(t *testing.T) {
	t.Parallel()
	ps := &Pacers{Replicas: 2}
	a := ps.For("cloudflare", "account-1", Rate{PerSecond: 4, Burst: 100}, false)
	if a != ps.For("cloudflare", "account-1", Rate{PerSecond: 4, Burst: 100}, false) {
		t.Fatal("two calls to one account got two pacers")
	}
	if a == ps.For("cloudflare", "account-2", Rate{PerSecond: 4, Burst: 100}, false) {
		t.Fatal("two accounts share a pacer")
	}
	if a.rate.PerSecond != 2 || a.rate.Burst != 50 {
		t.Fatalf("documented rate over 2 replicas: %+v, want halved", a.rate)
	}
	if c := ps.For("cloudflare", "account-1", Rate{PerSecond: 4, Burst: 100}, true); c.rate.PerSecond != 4 {
		t.Fatalf("a configured rate is used as given: %+v", c.rate)
	}
	if (&Pacers{Off: true}).For("x", "y", Rate{PerSecond: 1}, false) != nil {
		t.Fatal("pacing off still paces")
	}
	var nilPacer *Pacer
	if err := nilPacer.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
