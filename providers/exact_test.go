package providers

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libdns/libdns"
)

// flakyProvider fails its first calls with a network error, and records how many calls overlap.
type flakyProvider struct {
	failures          atomic.Int32
	inFlight, maxSeen atomic.Int32
	calls             atomic.Int32
}

func (f *flakyProvider) do() error {
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond)
	if f.failures.Add(-1) >= 0 {
		return &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")}
	}
	return nil
}

func (f *flakyProvider) AppendRecords(context.Context, string, []libdns.Record) ([]libdns.Record, error) {
	return nil, f.do()
}

func (f *flakyProvider) DeleteRecords(_ context.Context, _ string, recs []libdns.Record) ([]libdns.Record, error) {
	return recs, f.do()
}

func TestLibdnsWriterRetriesTransientErrorsWithinItsLimit(t *testing.T) {
	t.Parallel()
	p := &flakyProvider{}
	p.failures.Store(2)
	var lim Limiter
	w := &libdnsWriter{name: "flaky", p: p, retryTransient: true,
		limit: func(ctx context.Context) (func(), error) { return lim.Acquire(ctx, "server", 3) }}
	rec := Record{Zone: "example.org.", FQDN: "_acme-challenge.example.org.", Value: "v", TTL: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Present(ctx, rec); err != nil {
		t.Fatalf("present after two transient failures: %v", err)
	}
	if p.calls.Load() != 3 {
		t.Fatalf("calls = %d, want 3", p.calls.Load())
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { _ = w.CleanUp(ctx, rec) })
	}
	wg.Wait()
	if m := p.maxSeen.Load(); m > 3 {
		t.Fatalf("%d calls overlapped, limit 3", m)
	}
	// Without retryTransient, the first failure is final.
	p.failures.Store(1)
	w.retryTransient = false
	if err := w.Present(ctx, rec); err == nil {
		t.Fatal("present succeeded without retrying")
	}
}
