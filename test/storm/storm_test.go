//go:build integration

package storm

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Cloudflare allows 1200 requests per 5 minutes per user and blocks everything for 5 minutes past it. The storm's
// fake enforces the same window scaled down 30 times in time: 500 requests per 10 s, blocked 10 s past it
// (STORM_PENALTY changes the block: the webhook's 30 s call deadline is not scaled, so a 10 s block can be waited
// out within one call, where Cloudflare's 5 minutes cannot; a block over 30 s shows what that costs).
const (
	windowRequests = 500
	windowPer      = 10 * time.Second
	windowPenalty  = 10 * time.Second
)

// The issuer's rateLimit for the storm. A token bucket lets through at most burst + perSecond·T requests in any
// span T: 40 + 45·10 = 490 in any 10 s, 10 under the window. The margin is for the time between the webhook
// taking a token and the request reaching the fake (new tunnels, scheduling): with burst 50 the bucket would
// allow exactly 500, and any request that arrives later than its token would cost a 10 s block. The sustained
// 45/s is 90% of the window's 50/s, so the storm cannot take less than 1.11× the bound; 1.2× leaves room for
// the start and the tail.
const (
	ratePerSecond = 45
	rateBurst     = 40
)

// The client retries a failed call the way cert-manager does, with backoff from 5 s doubling (cert-manager caps
// it at 30 min; the test at 80 s), and gives up on a lifecycle (lost) at the storm's deadline.
const (
	retryFirst    = 5 * time.Second
	retryCap      = 80 * time.Second
	stormDeadline = 15 * time.Minute
)

// TestStorm is a renewal storm: STORM_N (default 1000) challenge lifecycles, Present then CleanUp, STORM_INFLIGHT
// (default 60, cert-manager's default concurrency) at a time, through the aggregation layer, against the webhook
// binary writing to the fake Cloudflare API under its rate window, with the issuer's rateLimit matched to it.
// It counts from the fake's request log, and fails if a lifecycle is lost or a value left, if any request got a
// 429, if a lifecycle cost more than 3 requests (Present's create; CleanUp's lookup and delete; the zone is
// looked up once, before the storm), or if the storm took more than 1.2× the time the window needs for the
// requests it let through. STORM_PACING=off runs the same storm with the webhook's pacing off (PACING=off), the
// "before" measurement: then only lost and left must be 0. STORM_PENALTY overrides the window's block.
func TestStorm(t *testing.T) {
	n := envInt(t, "STORM_N", 1000)
	inflight := envInt(t, "STORM_INFLIGHT", 60)
	penalty := windowPenalty
	if v := os.Getenv("STORM_PENALTY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			t.Fatalf("STORM_PENALTY=%q: want a duration, e.g. 60s", v)
		}
		penalty = d
	}
	pacing := true
	switch v := os.Getenv("STORM_PACING"); v {
	case "", "on":
	case "off":
		pacing = false
	default:
		t.Fatalf("STORM_PACING=%q: want on or off", v)
	}
	if peak := rateBurst + ratePerSecond*windowPer.Seconds(); peak > windowRequests {
		t.Fatalf("rateLimit {perSecond: %d, burst: %d} allows %.0f requests in %s, over the window's %d", ratePerSecond, rateBurst, peak, windowPer, windowRequests)
	}

	names := domains("d", n)
	h := newHarness(t, names)
	var env []string
	if !pacing {
		env = append(env, "PACING=off")
	}
	hook := h.startWebhook(t, "", 0, env...)
	h.svc.Register(t, hook.Port)
	h.svc.WaitAvailable(t, 60*time.Second)
	config := issuerConfig(map[string]any{"perSecond": ratePerSecond, "burst": rateBurst})
	h.warmUp(t, config)
	// The window starts now, empty; the warm-up took a few of the pacer's tokens, which it refills within 0.1 s.
	h.cf.Faults().Limit(windowRequests, windowPer, penalty, true)
	before := len(h.cf.Faults().Requests())

	var (
		lost, retried atomic.Int64
		work          = make(chan int)
		wg            sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(stormDeadline)
	for range inflight {
		wg.Go(func() {
			for i := range work {
				ch := newChallenge(names[i])
				again := false
				ok := h.retry(deadline, &again, func() error { return h.present(ch, config) }) &&
					h.retry(deadline, &again, func() error { return h.cleanUp(ch, config) })
				if !ok {
					lost.Add(1)
				}
				if again {
					retried.Add(1)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	wall := time.Since(start)

	reqs := h.cf.Faults().Requests()[before:]
	var throttled, admitted int
	for _, r := range reqs {
		switch {
		case r.Status == 429:
			throttled++
		case r.Fault != "window":
			admitted++
		}
	}
	left := len(h.values())
	perLifecycle := float64(len(reqs)) / float64(n)
	// The least time the window allows for the requests it let through: 500 per 10 s, nothing else counted.
	bound := time.Duration(float64(admitted) / windowRequests * float64(windowPer))
	ratio := wall.Seconds() / bound.Seconds()
	mode := "on"
	if !pacing {
		mode = "off"
	}
	t.Logf("pacing %s, window %d per %s blocking %s: %d lifecycles, %d in flight, in %s: %d requests to Cloudflare (%d let through, %d answered 429), "+
		"%d lifecycles needed a retry; the window's bound for %d requests is %s", mode, windowRequests, windowPer, penalty, n, inflight,
		wall.Round(time.Millisecond), len(reqs), admitted, throttled, retried.Load(), admitted, bound.Round(time.Millisecond))
	summary := fmt.Sprintf("storm: %d lifecycles, %d lost, %d left, %.1f requests/lifecycle, %d 429s, %.2fx bound",
		n, lost.Load(), left, perLifecycle, throttled, ratio)
	t.Log(summary)
	fmt.Println(summary)

	if lost.Load() != 0 || left != 0 {
		t.Errorf("%d lifecycles lost, %d values left in the zone, want none (%s)", lost.Load(), left, summary)
	}
	h.checkErrorsClean(t, cfToken)
	if !pacing {
		return
	}
	if throttled > 0 {
		t.Errorf("%d requests got 429 with pacing on, want none (%s)", throttled, summary)
	}
	if len(reqs) > 3*n {
		t.Errorf("%d requests for %d lifecycles (%.2f each), want at most 3 each (%s)", len(reqs), n, perLifecycle, summary)
	}
	if ratio > 1.2 {
		t.Errorf("the storm took %s, %.2f× the window's bound of %s for %d requests, want at most 1.2× (%s)",
			wall.Round(time.Millisecond), ratio, bound.Round(time.Millisecond), admitted, summary)
	}
}

// retry calls f until it succeeds, waiting as cert-manager does between tries (5 s, doubling, capped), and
// reports false when the next try would start after deadline. It sets *again when a try failed.
func (h *harness) retry(deadline time.Time, again *bool, f func() error) bool {
	wait := retryFirst
	for {
		if f() == nil {
			return true
		}
		*again = true
		if time.Now().Add(wait).After(deadline) {
			return false
		}
		time.Sleep(wait)
		wait = min(2*wait, retryCap)
	}
}

func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a whole number of 1 or more", name, v)
	}
	return n
}
