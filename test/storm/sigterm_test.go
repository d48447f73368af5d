//go:build integration

package storm

import (
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
)

// grace is how long the webhook has between SIGTERM and SIGKILL in the chart: terminationGracePeriodSeconds (45)
// less the preStop pause (5) that comes before the signal (deploy/cert-manager-webhook-delegate/values.yaml).
const grace = 40 * time.Second

// TestSIGTERM stops the webhook process (SIGTERM, as the kubelet does) while CleanUps are in flight, held at the
// fake Cloudflare's DELETE: those CleanUps finish and succeed (their values are gone from the zone), calls sent
// after the signal are refused at once with an error (the webhook's own while it still listens, then the
// aggregator's 503 once it is gone), never left hanging, and the process exits 0 within the chart's grace.
func TestSIGTERM(t *testing.T) {
	const inflight = 20
	// How long the fake holds each DELETE: long enough that the signal lands while all are held.
	const held = 5 * time.Second
	names := domains("s", inflight+60)
	h := newHarness(t, names)
	hook := h.startWebhook(t, "", 0)
	h.svc.Register(t, hook.Port)
	h.svc.WaitAvailable(t, 60*time.Second)
	config := issuerConfig(nil)
	h.warmUp(t, config)

	chs := make([]challenge, inflight)
	for i := range chs {
		chs[i] = newChallenge(names[i])
		if err := h.present(chs[i], config); err != nil {
			t.Fatalf("Present %d: %v", i, err)
		}
	}
	if got := len(h.values()); got != inflight {
		t.Fatalf("the zone holds %d values after %d Presents", got, inflight)
	}

	h.cf.Faults().Slow(inflight, held, fakecloudflare.Match{Method: http.MethodDelete})
	mark := len(h.cf.Requests())
	type result struct {
		err  error
		done time.Time
	}
	results := make([]result, inflight)
	var wg sync.WaitGroup
	for i, ch := range chs {
		wg.Go(func() {
			err := h.cleanUp(ch, config)
			results[i] = result{err: err, done: time.Now()}
		})
	}
	// Each CleanUp looks its record up (answered at once, then logged) and then sends the DELETE the fake holds:
	// once every lookup is answered, the DELETEs are on their way.
	deadline := time.Now().Add(30 * time.Second)
	for lookups(h.cf.Requests()[mark:]) < inflight {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d CleanUps reached the fake in 30s", lookups(h.cf.Requests()[mark:]), inflight)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)

	if err := hook.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	t.Logf("SIGTERM to webhook pid %d with %d CleanUps held at the fake's DELETE", hook.Pid(), inflight)

	// New calls after the signal, one a second: each must come back with an error at once, from the webhook while
	// it still listens and from the aggregator once it is gone, until one has been sent after the process exited.
	for i, afterExit := inflight, false; !afterExit; i++ {
		if i == len(names) {
			t.Fatalf("the process has not exited after %d calls sent since the signal", i-inflight)
		}
		select {
		case <-hook.Done():
			afterExit = true
		default:
		}
		ch := newChallenge(names[i])
		took, err := withTimeout(t, 20*time.Second, "a Present sent after SIGTERM", func() error { return h.present(ch, config) })
		if err == nil {
			t.Fatalf("a Present sent %s after SIGTERM succeeded, want it refused", time.Since(signalled).Round(time.Millisecond))
		}
		if took > 10*time.Second {
			t.Errorf("a Present sent after SIGTERM took %s to be refused, want an answer at once", took.Round(time.Millisecond))
		}
		t.Logf("Present %s after SIGTERM (process exited: %v): refused in %s: %v", time.Since(signalled).Round(time.Millisecond), afterExit, took.Round(time.Millisecond), err)
		time.Sleep(time.Second)
	}

	wg.Wait()
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("CleanUp %d, in flight at SIGTERM, failed: %v", i, r.err)
		case r.done.Before(signalled):
			t.Errorf("CleanUp %d returned %s before the signal: the test did not hold it (test bug)", i, signalled.Sub(r.done))
		}
	}
	if left := h.values(); len(left) != 0 {
		t.Errorf("%d values in the zone after the CleanUps in flight at SIGTERM (and the Presents refused after it), want none: %q", len(left), left)
	}
	slowDeletes := 0
	for _, r := range h.cf.Faults().Requests()[mark:] {
		if r.Method == http.MethodDelete && r.Fault == "slow" && r.Status == http.StatusOK {
			slowDeletes++
		}
	}
	if slowDeletes != inflight {
		t.Errorf("the fake answered %d held DELETEs, want %d", slowDeletes, inflight)
	}

	select {
	case <-hook.Done():
	case <-time.After(time.Until(signalled.Add(grace))):
		t.Fatalf("the webhook has not exited %s after SIGTERM (the chart's grace)", grace)
	}
	exit := time.Since(signalled)
	if err := hook.Err(); err != nil {
		t.Errorf("the webhook exited with %v after SIGTERM, want exit status 0", err)
	}
	t.Logf("the webhook exited %s after SIGTERM: %v; last lines:\n%s", exit.Round(time.Millisecond), hook.Err(), hook.Out.Tail(8))
	h.checkErrorsClean(t, cfToken)
}

// lookups counts the record lookups (GET of dns_records by content) in reqs: a CleanUp's first request.
func lookups(reqs []fakecloudflare.Request) int {
	n := 0
	for _, r := range reqs {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/dns_records") && r.Query.Has("content.contains") {
			n++
		}
	}
	return n
}
