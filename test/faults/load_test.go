//go:build integration

package faults

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// load keeps challenge lifecycles running through the aggregator while a fault comes and goes: the calls in
// flight. Each worker, round after round, presents a new value and then cleans up every value it presented whose
// CleanUp has not succeeded yet (as cert-manager retries a CleanUp), so that every round sends a Present however
// long the CleanUps keep failing. Every call is recorded.
type load struct {
	d    *delegate
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	calls []loadCall
	// pending are the values whose CleanUp had not succeeded when their worker stopped.
	pending []string
}

// loadCall is one call the load sent.
type loadCall struct {
	op         string
	start, end time.Time
	err        error
}

// startLoad starts workers running lifecycles of d, a pause apart.
func startLoad(d *delegate, workers int, pause time.Duration) *load {
	l := &load{d: d, stop: make(chan struct{})}
	for range workers {
		l.wg.Go(func() {
			var pending []string
			for !l.stopped() {
				key := newKey()
				l.call("present", func() error { _, err := d.present(key); return err })
				var still []string
				for _, k := range append(pending, key) {
					if l.call("cleanup", func() error { _, err := d.cleanUp(k); return err }) != nil {
						still = append(still, k)
					}
				}
				pending = still
				time.Sleep(pause)
			}
			l.mu.Lock()
			l.pending = append(l.pending, pending...)
			l.mu.Unlock()
		})
	}
	return l
}

// drain cleans up the values the workers left pending, retrying each for up to 30 s: the fault is gone by then.
func (l *load) drain(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	pending := append([]string(nil), l.pending...)
	l.mu.Unlock()
	for _, k := range pending {
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := l.d.cleanUp(k)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CleanUp of a value the load left pending still fails after 30s: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func (l *load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *load) call(op string, f func() error) error {
	start := time.Now()
	err := f()
	l.mu.Lock()
	l.calls = append(l.calls, loadCall{op: op, start: start, end: time.Now(), err: err})
	l.mu.Unlock()
	return err
}

// Stop stops the workers once their round has ended and returns every call, by start; drain then cleans up
// what they left.
func (l *load) Stop() []loadCall {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	calls := append([]loadCall(nil), l.calls...)
	sort.Slice(calls, func(i, j int) bool { return calls[i].start.Before(calls[j].start) })
	return calls
}

// waitFor waits until ok holds for the calls so far, at most timeout; it reports whether it did.
func (l *load) waitFor(timeout time.Duration, ok func([]loadCall) bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		l.mu.Lock()
		calls := append([]loadCall(nil), l.calls...)
		l.mu.Unlock()
		if ok(calls) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count returns how many of calls started at or after since and failed (failed true) or succeeded.
func count(calls []loadCall, since time.Time, failed bool) int {
	n := 0
	for _, c := range calls {
		if !c.start.Before(since) && (c.err != nil) == failed {
			n++
		}
	}
	return n
}

// phases sorts calls into the phases a fault gives them, by when they started and ended: marks are the phase
// boundaries in order (e.g. the fault's start and end). A call lies in phase i when it started at or after
// marks[i-1] and ended before marks[i] (phase 0: ended before marks[0]; the last phase: started at or after the
// last mark); one that spans a boundary is in no phase (it was in flight when the fault came or went).
func phases(calls []loadCall, marks ...time.Time) (in [][]loadCall, spanning []loadCall) {
	in = make([][]loadCall, len(marks)+1)
	for _, c := range calls {
		placed := false
		for i := 0; i <= len(marks); i++ {
			after := i == 0 || !c.start.Before(marks[i-1])
			before := i == len(marks) || c.end.Before(marks[i])
			if after && before {
				in[i] = append(in[i], c)
				placed = true
				break
			}
		}
		if !placed {
			spanning = append(spanning, c)
		}
	}
	return in, spanning
}

// summary describes calls for the log: how many, how many failed, and each distinct error once.
func summary(calls []loadCall) string {
	failed := 0
	seen := map[string]int{}
	var order []string
	for _, c := range calls {
		if c.err == nil {
			continue
		}
		failed++
		msg := c.err.Error()
		if seen[msg] == 0 {
			order = append(order, msg)
		}
		seen[msg]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d calls, %d failed", len(calls), failed)
	for _, m := range order {
		fmt.Fprintf(&b, "\n    %d× %s", seen[m], m)
	}
	return b.String()
}
