package metrics

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/metrics/testutil"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/metrics/metricstest"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// The tests here share the process's legacyregistry (as the webhook does) and so run one after the other; each
// compares what it changed (Snapshot.Sub), not absolute values.

// TestExposition drives every Observer method once, through the Recorder Register returns, and reads what
// /metrics serves: exact counts by label, values outside the bounded sets as other or none, names that promlint
// accepts, and exactly the names Names lists (the names make promcheck checks the dashboard and the alert rules
// against; with METRIC_NAMES set it writes them there).
func TestExposition(t *testing.T) {
	reg := providers.Default()
	r := Register(Build{Version: "v1.2.3-test", Registry: reg})
	if again := Register(Build{Version: "ignored"}); again != r {
		t.Fatal("a second Register returned another Recorder")
	}
	before := gather(t)
	r.Challenge("present", "rfc2136", "alias", "ok", 40*time.Millisecond)
	r.Challenge("present", "rfc2136", "alias", "ok", 60*time.Millisecond)
	r.Challenge("present", "", "", "config_error", time.Millisecond)
	r.Challenge("cleanup", "cloudflare", "direct", "provider_error", 2*time.Second)
	r.Challenge("bogus", "nosuch", "sideways", "exploded", time.Millisecond)
	r.ProviderCall("cloudflare", "http", "rate limited", 5*time.Millisecond)
	r.ProviderCall("cloudflare", "append", "ok", 5*time.Millisecond)
	r.ProviderCall("cloudflare", "mystery", "weird", 5*time.Millisecond)
	r.RateLimitWait("cloudflare", 300*time.Millisecond)
	r.Throttled("cloudflare")
	r.Retry("cloudflare")
	r.RateLimited("rfc2136")
	r.DelegationCheck("_acme-challenge.a.example.com.", "ok")
	r.DelegationCheck("_acme-challenge.b.example.com.", "no-record")
	r.DelegationCheck("_acme-challenge.b.example.com.", "no-record")
	r.DelegationCheck("_acme-challenge.c.example.com.", "cached")
	r.DelegationCheck("_acme-challenge.d.example.com.", "kind(99)")
	r.LeftBehind("cloudflare")
	r.SetSecretInformers(func() []solver.InformerState {
		return []solver.InformerState{{Namespace: "cert-manager", Synced: true}, {Namespace: "team-a", Name: "a", Synced: true},
			{Namespace: "team-a", Name: "b", Synced: false}}
	})
	got := gather(t).Sub(before)

	for name, want := range map[string]map[string]float64{
		"delegate_challenges_total": {
			`{mode="alias",operation="present",provider="rfc2136",result="ok"}`:                 2,
			`{mode="none",operation="present",provider="none",result="config_error"}`:           1,
			`{mode="direct",operation="cleanup",provider="cloudflare",result="provider_error"}`: 1,
			`{mode="other",operation="other",provider="other",result="other"}`:                  1,
		},
		"delegate_challenge_duration_seconds_count": {
			`{operation="present",result="ok"}`:             2,
			`{operation="cleanup",result="ok"}`:             0,
			`{operation="present",result="config_error"}`:   1,
			`{operation="cleanup",result="provider_error"}`: 1,
			`{operation="other",result="other"}`:            1,
		},
		"delegate_provider_calls_total": {
			`{call="http",outcome="rate_limited",provider="cloudflare"}`: 1,
			`{call="append",outcome="ok",provider="cloudflare"}`:         1,
			`{call="other",outcome="other",provider="cloudflare"}`:       1,
		},
		"delegate_provider_call_duration_seconds_count": {
			`{call="http",provider="cloudflare"}`:   1,
			`{call="append",provider="cloudflare"}`: 1,
			`{call="other",provider="cloudflare"}`:  1,
		},
		"delegate_pacer_wait_seconds_count":  {`{provider="cloudflare"}`: 1},
		"delegate_provider_throttled_total":  {`{provider="cloudflare"}`: 1},
		"delegate_provider_retries_total":    {`{provider="cloudflare"}`: 1},
		"delegate_rate_limited_calls_total":  {`{provider="rfc2136"}`: 1},
		"delegate_cleanup_left_behind_total": {`{provider="cloudflare"}`: 1},
		"delegate_delegation_checks_total":   {`{outcome="ok"}`: 1, `{outcome="no_record"}`: 2, `{outcome="cached"}`: 1, `{outcome="other"}`: 1},
		"delegate_delegation_failing_names":  {`{}`: 2}, // b and d; a and c succeeded
		"delegate_secret_informer_synced":    {`{namespace="cert-manager"}`: 1, `{namespace="team-a"}`: 0},
		"delegate_challenge_duration_seconds_sum": {
			`{operation="present",result="ok"}`:             0.1,
			`{operation="cleanup",result="ok"}`:             0,
			`{operation="present",result="config_error"}`:   0.001,
			`{operation="cleanup",result="provider_error"}`: 2,
			`{operation="other",result="other"}`:            0.001,
		},
	} {
		if d := diffRounded(got, name, want); d != "" {
			t.Errorf("%s:%s", name, d)
		}
	}
	// build_info and provider_info are 1 from the start, so the delta of their series is 0: read them whole.
	all := gather(t)
	if d := all.Diff("delegate_build_info", map[string]float64{
		fmt.Sprintf(`{go_version=%q,providers="%d",version="v1.2.3-test"}`, runtime.Version(), len(reg)): 1,
	}); d != "" {
		t.Errorf("delegate_build_info:%s", d)
	}
	wantInfo := map[string]float64{}
	for _, name := range reg.Names() {
		e := reg[name]
		wantInfo[fmt.Sprintf(`{provider=%q,strategy=%q,test_level=%q}`, name, e.Strategy, strings.ReplaceAll(strings.ToLower(string(e.Test)), " ", "_"))] = 1
	}
	if d := all.Diff("delegate_provider_info", wantInfo); d != "" {
		t.Errorf("delegate_provider_info:%s", d)
	}
	if v := all.Family("delegate_provider_info")[`{provider="cloudflare",strategy="exact",test_level="fake_api"}`]; v != 1 {
		t.Errorf("delegate_provider_info for cloudflare = %g, want 1 with strategy exact and test_level fake_api", v)
	}

	body := scrape(t)
	names, err := metricstest.Names(body, Prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, Names()) {
		t.Errorf("/metrics serves\n  %s\nNames() lists\n  %s", strings.Join(names, "\n  "), strings.Join(Names(), "\n  "))
	}
	var ours bytes.Buffer
	for _, l := range strings.SplitAfter(string(body), "\n") {
		if strings.HasPrefix(strings.TrimPrefix(strings.TrimPrefix(l, "# HELP "), "# TYPE "), Prefix) {
			ours.WriteString(l)
		}
	}
	problems, err := testutil.NewPromLinter(&ours).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s", p.String())
	}
	if out := os.Getenv("METRIC_NAMES"); out != "" {
		if err := os.WriteFile(out, []byte(strings.Join(Names(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFailingNamesExpire: a name counts from its failed check until a check of it succeeds here or FailingNameTTL
// passes without another failure; the count never grows past its bound.
func TestFailingNamesExpire(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &failingNames{ttl: FailingNameTTL, max: 3, now: func() time.Time { return now }, at: map[string]time.Time{}}
	step := func(d time.Duration, want int) {
		t.Helper()
		now = now.Add(d)
		if got := f.count(); got != want {
			t.Fatalf("at +%s: %d names failing, want %d", d, got, want)
		}
	}
	f.checked("a", true)
	step(0, 1)
	step(30*time.Minute, 1) // cert-manager's longest backoff: still counted
	f.checked("a", true)    // the retry failed again: counted anew
	f.checked("b", true)
	step(44*time.Minute, 2)
	f.checked("a", false) // fixed, and the retry landed here
	step(0, 1)
	step(time.Minute, 0) // b's failure is 45 minutes old: the retry that fixed it went to another replica
	f.checked("", true)  // no name: nothing to count
	step(0, 0)
	for i := range 5 {
		f.checked(strconv.Itoa(i), true)
		now = now.Add(time.Second)
	}
	step(0, 3)
	if _, ok := f.at["4"]; !ok {
		t.Fatalf("the newest failure was dropped at the bound: %v", f.at)
	}
	if _, ok := f.at["0"]; ok {
		t.Fatalf("the oldest failure was kept at the bound: %v", f.at)
	}
}

func gather(t *testing.T) metricstest.Snapshot {
	t.Helper()
	s, err := metricstest.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// diffRounded is Diff of the series that changed (or that want names), with values rounded to a microsecond, for
// the sums of durations.
func diffRounded(s metricstest.Snapshot, name string, want map[string]float64) string {
	r := metricstest.Snapshot{}
	for k, v := range s {
		labels, ok := strings.CutPrefix(k, name)
		if !ok || !strings.HasPrefix(labels, "{") {
			continue
		}
		if _, wanted := want[labels]; v == 0 && !wanted {
			continue
		}
		r[k] = float64(int64(v*1e6+0.5)) / 1e6
	}
	return r.Diff(name, want)
}

// scrape reads legacyregistry's handler, which the server's /metrics is.
func scrape(t *testing.T) []byte {
	t.Helper()
	srv := httptest.NewServer(legacyregistry.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
