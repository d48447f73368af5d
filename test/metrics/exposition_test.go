//go:build integration

package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/metrics"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/metrics/metricstest"
)

// callTimeout is the scripted Solver's per-call deadline: short, so the calls that run into it (a provider that
// does not answer, an informer that cannot sync) end soon.
const callTimeout = 4 * time.Second

// TestScriptedRun runs the solver through one of each thing an operator must see, failures on purpose, and
// checks what legacyregistry holds afterwards, series by series with exact counts: a missing CNAME (and the same
// name once its CNAME exists), a fenced record, a config error, a missing Secret, a Secret informer that cannot
// sync, a 429 the transport retries, a pacer that makes calls wait and one that refuses a call, a provider error,
// a provider that does not answer in time, and a CleanUp that leaves its value behind.
func TestScriptedRun(t *testing.T) {
	start := time.Now()
	e := newEnv(t, callTimeout)
	before := gather(t)
	rfc := e.rfc2136()
	aliasCfg := func(provider string, extra ...string) string {
		return `{"domainAlias":"validation.example.org","aliasZone":"validation.example.org",` +
			strings.Join(append(extra, `"aliasProvider":`+provider), ",") + `}`
	}
	unchecked := `"verifyDelegation":"Off"`
	want := func(what string, err error, wantErr string) {
		t.Helper()
		switch {
		case wantErr == "" && err != nil:
			t.Fatalf("%s: %v", what, err)
		case wantErr != "" && err == nil:
			t.Fatalf("%s succeeded, want an error saying %q", what, wantErr)
		case wantErr != "" && !strings.Contains(err.Error(), wantErr):
			t.Fatalf("%s: %v, want an error saying %q", what, err, wantErr)
		}
	}

	// An informer that cannot sync (the API answers its list with 500): the call waits for it until its deadline,
	// alongside everything else.
	var wg sync.WaitGroup
	wg.Go(func() {
		ch := challenge("stuck", "example.com", "example.com.", aliasCfg(cloudflare("cloudflare", ""), unchecked), 90)
		ch.ResourceNamespace = stuckNS
		want("Present with an informer that cannot sync", e.s.Present(ch), "the Secret cache did not sync")
	})
	waitFor(t, "the stuck informer", func() bool {
		for _, in := range e.s.SecretInformers() {
			if in.Namespace == stuckNS {
				return true
			}
		}
		return false
	})

	// rfc2136 through the CNAME: checked, written, written again (the check is cached), cleaned up.
	ok := challenge("ok", "example.com", "example.com.", aliasCfg(rfc), 1)
	want("Present", e.s.Present(ok), "")
	want("Present again", e.s.Present(ok), "")
	want("CleanUp", e.s.CleanUp(ok), "")

	// A missing CNAME, twice (failures are never cached); then the user creates it and the next try works. A
	// second name stays broken.
	fixed := challenge("missing", "missing.prod.test", "prod.test.", aliasCfg(rfc), 2)
	for range 2 {
		want("Present without the CNAME", e.s.Present(fixed), "create the record _acme-challenge.missing.prod.test. CNAME")
	}
	if err := e.bind.Add(context.Background(), "_acme-challenge.missing.prod.test. 60 IN CNAME _acme-challenge.validation.example.org."); err != nil {
		t.Fatal(err)
	}
	want("Present once the CNAME exists", e.s.Present(fixed), "")
	want("CleanUp", e.s.CleanUp(fixed), "")
	broken := challenge("broken", "broken.prod.test", "prod.test.", aliasCfg(rfc), 3)
	want("Present without the CNAME", e.s.Present(broken), "CNAME")

	// Direct mode into a zone outside ALLOWED_ZONES: refused before anything else; its CleanUp deletes nothing.
	fenced := challenge("fenced", "outside.test", "outside.test.", `{"provider":`+rfc+`}`, 4)
	want("Present outside the fence", e.s.Present(fenced), "ALLOWED_ZONES")
	want("CleanUp outside the fence", e.s.CleanUp(fenced), "")

	// A config error: refused before it is mapped, so with no provider and no mode; its CleanUp succeeds.
	bad := challenge("bad", "example.com", "example.com.", `{"domainAlias":"_acme-challenge.validation.example.org","aliasProvider":`+rfc+`}`, 5)
	want("Present with a bad config", e.s.Present(bad), "_acme-challenge")
	want("CleanUp with a bad config", e.s.CleanUp(bad), "")

	// A Secret that does not exist.
	absent := challenge("absent", "example.com", "example.com.", aliasCfg(cloudflare("absent", ""), unchecked), 6)
	want("Present without its Secret", e.s.Present(absent), `Secret "absent" not found`)

	// Cloudflare: one 429 on the write, which the transport retries after Retry-After.
	requests := e.cf.Requests()
	e.cf.RateLimit(1, time.Second, fakecloudflare.Match{Method: http.MethodPost})
	throttled := challenge("throttled", "example.com", "example.com.", aliasCfg(cloudflare("cloudflare-throttled", `{"perSecond":50,"burst":50}`), unchecked), 7)
	want("Present through a 429", e.s.Present(throttled), "")
	want("CleanUp", e.s.CleanUp(throttled), "")
	throttledRequests := e.cf.Requests()[len(requests):]

	// An account allowed 2 requests a second, one at a time: every request after the first waits for its slot.
	requests = e.cf.Requests()
	paced := challenge("paced", "example.com", "example.com.", aliasCfg(cloudflare("cloudflare-paced", `{"perSecond":2,"burst":1}`), unchecked), 8)
	want("Present at 2 requests/s", e.s.Present(paced), "")
	pacedRequests := len(e.cf.Requests()) - len(requests)

	// An account allowed one request every 100 s: the second request has no slot before the deadline.
	limited := challenge("limited", "example.com", "example.com.", aliasCfg(cloudflare("cloudflare-limited", `{"perSecond":0.01,"burst":1}`), unchecked), 9)
	want("Present at one request per 100 s", e.s.Present(limited), "rate limit")

	// The provider refuses the write (not retried), then does not answer within the deadline.
	e.cf.FailNext(1, http.StatusForbidden, fakecloudflare.Match{Method: http.MethodPost})
	refused := challenge("refused", "example.com", "example.com.", aliasCfg(cloudflare("cloudflare", ""), unchecked), 10)
	want("Present refused by Cloudflare", e.s.Present(refused), "403")
	e.cf.Faults().Slow(1, 2*callTimeout, fakecloudflare.Match{Method: http.MethodPost})
	slow := challenge("slow", "example.com", "example.com.", aliasCfg(cloudflare("cloudflare", ""), unchecked), 11)
	want("Present to a Cloudflare that does not answer", e.s.Present(slow), "deadline")

	// A CleanUp whose Secret went with its namespace: it succeeds and leaves the value behind.
	gone := challenge("gone", "example.com", "example.com.", aliasCfg(cloudflare("gone", ""), unchecked), 12)
	gone.ResourceNamespace = dyingNS
	want("CleanUp in a namespace being deleted", e.s.CleanUp(gone), "")

	wg.Wait()
	t.Logf("scripted run: %s", time.Since(start).Round(time.Millisecond))
	if n := len(throttledRequests); n != 5 {
		t.Fatalf("the throttled Present and CleanUp sent %d requests, want 5 (zone, 429, write, lookup, delete): %v", n, throttledRequests)
	}
	if pacedRequests != 2 {
		t.Fatalf("the paced Present sent %d requests, want 2 (zone, write)", pacedRequests)
	}
	got := gather(t).Sub(before)
	for _, c := range []struct {
		name string
		want map[string]float64
	}{
		{"delegate_challenges_total", map[string]float64{
			// ok, then ok again (the check cached), missing once its CNAME exists.
			`{mode="alias",operation="present",provider="rfc2136",result="ok"}`: 3,
			// missing.prod.test twice before its CNAME, broken.prod.test once.
			`{mode="alias",operation="present",provider="rfc2136",result="delegation_missing"}`: 3,
			`{mode="alias",operation="cleanup",provider="rfc2136",result="ok"}`:                 2,
			`{mode="direct",operation="present",provider="rfc2136",result="fenced"}`:            1,
			// Nothing is deleted outside the fence, and that is success.
			`{mode="direct",operation="cleanup",provider="rfc2136",result="ok"}`: 1,
			// A config that cannot be parsed is never mapped: no provider, no mode. Its CleanUp succeeds.
			`{mode="none",operation="present",provider="none",result="config_error"}`: 1,
			`{mode="none",operation="cleanup",provider="none",result="ok"}`:           1,
			// The absent Secret, and the informer that cannot sync.
			`{mode="alias",operation="present",provider="cloudflare",result="secret_error"}`: 2,
			// Through the 429, and at 2 requests/s.
			`{mode="alias",operation="present",provider="cloudflare",result="ok"}`:             2,
			`{mode="alias",operation="present",provider="cloudflare",result="rate_limited"}`:   1,
			`{mode="alias",operation="present",provider="cloudflare",result="provider_error"}`: 1,
			`{mode="alias",operation="present",provider="cloudflare",result="timeout"}`:        1,
			// After the 429, and the one that left its value behind.
			`{mode="alias",operation="cleanup",provider="cloudflare",result="ok"}`: 2,
		}},
		{"delegate_challenge_duration_seconds_count", map[string]float64{
			`{operation="present",result="ok"}`:                 5,
			`{operation="present",result="delegation_missing"}`: 3,
			`{operation="present",result="fenced"}`:             1,
			`{operation="present",result="config_error"}`:       1,
			`{operation="present",result="secret_error"}`:       2,
			`{operation="present",result="rate_limited"}`:       1,
			`{operation="present",result="provider_error"}`:     1,
			`{operation="present",result="timeout"}`:            1,
			`{operation="cleanup",result="ok"}`:                 6,
		}},
		{"delegate_delegation_checks_total", map[string]float64{
			`{outcome="ok"}`:       2, // example.com, then missing.prod.test once its CNAME exists
			`{outcome="cached"}`:   1, // example.com's second Present
			`{outcome="nxdomain"}`: 3, // missing.prod.test twice, broken.prod.test
		}},
		// broken.prod.test; missing.prod.test's later success took it off.
		{"delegate_delegation_failing_names", map[string]float64{`{}`: 1}},
		{"delegate_provider_calls_total", map[string]float64{
			// rfc2136: the three successful Presents and the two CleanUps that deleted something.
			`{call="append",outcome="ok",provider="rfc2136"}`: 3,
			`{call="delete",outcome="ok",provider="rfc2136"}`: 2,
			// Cloudflare's library calls (its zone lookup is inside them): the throttled and the paced Present,
			// the throttled one's CleanUp; the refused, the pacer-refused and the unanswered write.
			`{call="append",outcome="ok",provider="cloudflare"}`:           2,
			`{call="delete",outcome="ok",provider="cloudflare"}`:           1,
			`{call="append",outcome="error",provider="cloudflare"}`:        1,
			`{call="append",outcome="rate_limited",provider="cloudflare"}`: 1,
			`{call="append",outcome="timeout",provider="cloudflare"}`:      1,
			// Its HTTP requests: throttled Present and CleanUp 4 + paced 2 + the pacer-refused call's zone lookup 1
			// + the refused write's zone lookup 1 (the unanswered write reuses that provider and its zone).
			`{call="http",outcome="ok",provider="cloudflare"}`:           8,
			`{call="http",outcome="rate_limited",provider="cloudflare"}`: 1, // the 429
			`{call="http",outcome="error",provider="cloudflare"}`:        1, // the 403
			`{call="http",outcome="timeout",provider="cloudflare"}`:      1,
		}},
		{"delegate_provider_call_duration_seconds_count", map[string]float64{
			`{call="append",provider="rfc2136"}`:    3,
			`{call="delete",provider="rfc2136"}`:    2,
			`{call="append",provider="cloudflare"}`: 5,
			`{call="delete",provider="cloudflare"}`: 1,
			`{call="http",provider="cloudflare"}`:   11,
		}},
		// The paced Present's write waited for its slot; nothing else waited.
		{"delegate_pacer_wait_seconds_count", map[string]float64{`{provider="cloudflare"}`: 1}},
		{"delegate_provider_retries_total", map[string]float64{`{provider="cloudflare"}`: 1}},
		// One 429 from the API, plus the pacer's own refusal: providers' libdnsWriter.do takes any error saying
		// "rate limit" for the provider's (its looksThrottled), ErrRateLimited included.
		{"delegate_provider_throttled_total", map[string]float64{`{provider="cloudflare"}`: 2}},
		// One call refused, reported twice: by Pacer.Wait and again by its caller (retryClient.Do).
		{"delegate_rate_limited_calls_total", map[string]float64{`{provider="cloudflare"}`: 2}},
		{"delegate_cleanup_left_behind_total", map[string]float64{`{provider="cloudflare"}`: 1}},
		{"delegate_secret_informer_synced", map[string]float64{
			// stuck: its list keeps failing with 500 (transient, so its informer keeps retrying and is not stopped).
			`{namespace="issuer-ns"}`: 1, `{namespace="dying"}`: 1, `{namespace="stuck"}`: 0,
		}},
	} {
		if d := changed(got, c.name, c.want); d != "" {
			t.Errorf("%s:%s", c.name, d)
		}
	}
	if n := len(e.cf.Requests()); n != 11 {
		t.Errorf("the fake Cloudflare saw %d requests, want the 11 counted as call=\"http\"", n)
	}
	// The pacer's wait is the slot's: half a second at 2 requests/s, less the first request's time.
	if sum := got["delegate_pacer_wait_seconds_sum{provider=\"cloudflare\"}"]; sum < 0.3 || sum > 0.5 {
		t.Errorf("waited %.3fs for the paced slot, want about 0.5s", sum)
	}

	// What a scraper reads: every family of the webhook, and nothing Names does not list.
	names, err := metricstest.Names(scrape(t), metrics.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, metrics.Names()) {
		t.Errorf("the exposition has\n  %s\nmetrics.Names() lists\n  %s", strings.Join(names, "\n  "), strings.Join(metrics.Names(), "\n  "))
	}
}

// changed is Snapshot.Diff of the series of name that changed, and of those want names (a gauge that should read
// 0).
func changed(s metricstest.Snapshot, name string, want map[string]float64) string {
	f := metricstest.Snapshot{}
	for labels, v := range s.Family(name) {
		if _, wanted := want[labels]; v != 0 || wanted {
			f[name+labels] = v
		}
	}
	return f.Diff(name, want)
}

// scrape reads legacyregistry's handler, which is what the webhook's /metrics serves.
func scrape(t *testing.T) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	legacyregistry.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", rec.Code)
	}
	return rec.Body.Bytes()
}

func gather(t *testing.T) metricstest.Snapshot {
	t.Helper()
	s, err := metricstest.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
