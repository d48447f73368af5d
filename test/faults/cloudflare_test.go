//go:build integration

package faults

import (
	"net/http"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
)

// cfTarget is what a Cloudflare case's fault is put on: the record creation (Present's POST), the record
// deletion (CleanUp's DELETE) or the record list (the lookup before CleanUp's DELETE).
type cfTarget int

const (
	onCreate cfTarget = iota
	onDelete
	onList
)

// cfCase is one fault of the fake Cloudflare API, on its own zone, token and Secret (so that the cases run at
// once without sharing a fault, a rate limit or a cached provider), reached through the proxy.
type cfCase struct {
	// label names its zone (<label>.example.net), production name, token and Secret.
	label, name string
	// on is the request the fault applies to; inject puts it on the fake, matching only those requests.
	on     cfTarget
	inject func(f *fakecloudflare.Server, m fakecloudflare.Match)
	// want is what the call the fault hits returns: nil for success, else fragments of its error.
	want []string
	// tries is how many requests the fault's kind must have seen when the call returned (0: not checked).
	tries int
	// minTook and maxTook bound how long that call took (0: not checked).
	minTook, maxTook time.Duration
	// left is true when the failed call's change happened anyway (a truncated answer to a create that was made):
	// the retry must then find it.
	made bool
}

// cloudflareCases are the faults of the fake Cloudflare API. The webhook's HTTP client retries 429 and 5xx
// answers and network errors up to 5 tries per request (waits of 0.5, 1, 2, 4 s, or Retry-After when longer,
// while the call's 30 s deadline allows), and gives each try 20 s.
var cloudflareCases = []cfCase{
	{
		label: "burst",
		name:  "5xx burst on create (3× 503): retried, Present succeeds",
		on:    onCreate, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) {
			f.FailNext(3, http.StatusServiceUnavailable, m)
		},
		tries: 4, minTook: 3 * time.Second,
	},
	{
		label: "burstfail",
		name:  "5xx burst on create past the retries (5× 500): Present fails",
		on:    onCreate, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) {
			f.FailNext(5, http.StatusInternalServerError, m)
		},
		want:  []string{"500"},
		tries: 5,
	},
	{
		label: "delburst",
		name:  "5xx burst on delete (2× 502): retried, CleanUp succeeds",
		on:    onDelete, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) { f.FailNext(2, http.StatusBadGateway, m) },
		tries: 3,
	},
	{
		label: "retryafter",
		name:  "429 with Retry-After 3s on create: waited out, Present succeeds",
		on:    onCreate, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) { f.RateLimit(1, 3*time.Second, m) },
		tries: 2, minTook: 3 * time.Second,
	},
	{
		label: "retry0",
		name:  "429 without a wait (Retry-After 0) on create, twice: backoff, Present succeeds",
		on:    onCreate, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) { f.RateLimit(2, 0, m) },
		tries: 3,
	},
	{
		label: "ratefail",
		name:  "429 on create past the retries (5×): Present fails",
		on:    onCreate, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) { f.RateLimit(5, 0, m) },
		want:  []string{"429", "rate limit refused the call past the webhook's retries; cert-manager will retry", "rateLimit.perSecond"},
		tries: 5,
	},
	{
		label: "slow",
		name:  "slow create (one answer held 40s): that try times out at 20s, the retry succeeds",
		on:    onCreate, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) { f.Faults().Slow(1, 40*time.Second, m) },
		tries: 2, minTook: 19 * time.Second, maxTook: 29 * time.Second,
	},
	{
		label: "slowfail",
		name:  "slow create past the 30s call deadline (answers held 40s): Present fails at the deadline",
		on:    onCreate, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) { f.Faults().Slow(2, 40*time.Second, m) },
		want:    []string{"deadline", "no answer within the webhook's per-call deadline"},
		tries:   2,
		minTook: 29 * time.Second, maxTook: 40 * time.Second,
	},
	{
		label: "reset",
		name:  "connection reset on create, once: retried, Present succeeds",
		on:    onCreate, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) { f.Faults().Reset(1, m) },
		tries: 2,
	},
	{
		label: "resetfail",
		name:  "connection reset on every create (5×): Present fails",
		on:    onCreate, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) { f.Faults().Reset(5, m) },
		want:  []string{"EOF"},
		tries: 5,
	},
	{
		label: "trunc",
		name:  "truncated JSON answer to create (the record is made): Present fails, its retry finds the record",
		on:    onCreate, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) { f.Faults().Truncate(1, m) },
		want:  []string{"unexpected"},
		tries: 1, made: true,
	},
	{
		label: "trunclist",
		name:  "truncated JSON answer to CleanUp's record lookup: CleanUp fails, its retry deletes the record",
		on:    onList, inject: func(f *fakecloudflare.Server, m fakecloudflare.Match) { f.Faults().Truncate(1, m) },
		want: []string{"still"},
	},
}

// cloudflareFault runs one case: the fault on its request, the call it hits, then the same call again (which
// must succeed, the fault being spent), a whole normal lifecycle, the process's health, and an empty zone.
func (w *world) cloudflareFault(t *testing.T, c cfCase) {
	label := c.label
	alias := label + ".example.net"
	zoneID := w.cf.AddZone(alias)
	token := w.tokens[label]
	d := w.cloudflareDelegate(t, groupName, label, alias, "cf-"+label, token)
	records := "/client/v4/zones/" + zoneID + "/dns_records"
	m := map[cfTarget]fakecloudflare.Match{
		onCreate: {Method: http.MethodPost, PathPrefix: records},
		onDelete: {Method: http.MethodDelete, PathPrefix: records},
		onList:   {Method: http.MethodGet, PathPrefix: records},
	}[c.on]
	// Warm: the Secret cache, the provider, the zone ID and the delegation check, so that the fault meets the
	// call itself.
	d.lifecycle(t)

	key := newKey()
	if c.on != onCreate {
		if _, err := d.present(key); err != nil {
			t.Fatalf("Present before the fault: %v", err)
		}
	}
	before := w.cf.CountRequests(m.Method, m.PathPrefix)
	c.inject(w.cf, m)
	call := d.present
	what := "Present"
	if c.on != onCreate {
		call, what = d.cleanUp, "CleanUp"
	}
	took, err := call(key)
	tries := w.cf.CountRequests(m.Method, m.PathPrefix) - before
	t.Logf("%s under the fault: %d %s requests, %s, error: %v", what, tries, m.Method, took.Round(time.Millisecond), err)
	switch {
	case c.want == nil && err != nil:
		t.Fatalf("%s failed: %v", what, err)
	case c.want != nil && err == nil:
		t.Fatalf("%s succeeded; want an error saying %q", what, c.want)
	case c.want != nil:
		wantMessage(t, what+"'s error", err.Error(), append([]string{d.record(), "cloudflare", "config.aliasProvider.cloudflare"}, c.want...), token)
	}
	if c.tries > 0 && tries != c.tries {
		t.Errorf("the fake saw %d %s requests, want %d", tries, m.Method, c.tries)
	}
	if c.minTook > 0 && took < c.minTook || c.maxTook > 0 && took > c.maxTook {
		t.Errorf("%s took %s, want %s to %s", what, took.Round(time.Millisecond), c.minTook, c.maxTook)
	}
	// What cert-manager does next: the same call again, and the rest of the lifecycle.
	values := txtValues(w.cf, alias)
	if c.want != nil {
		if c.made != (len(values) == 1 && values[0] == key) && c.on == onCreate {
			t.Errorf("after the failed %s the zone holds %q; the change made = %v", what, values, c.made)
		}
		if _, err := call(key); err != nil {
			t.Fatalf("%s again, the fault spent: %v", what, err)
		}
	}
	if c.on == onCreate {
		if got := txtValues(w.cf, alias); len(got) != 1 || got[0] != key {
			t.Fatalf("after Present the zone holds %q, want the value", got)
		}
		if _, err := d.cleanUp(key); err != nil {
			t.Fatalf("CleanUp: %v", err)
		}
	}
	if got := txtValues(w.cf, alias); len(got) != 0 {
		t.Fatalf("after CleanUp the zone holds %q", got)
	}
	d.lifecycle(t)
	w.healthy(t, w.svc, w.hook)
	if got := txtValues(w.cf, alias); len(got) != 0 {
		t.Fatalf("the zone ends with %q", got)
	}
}

// txtValues returns the TXT contents the fake holds in zone.
func txtValues(f *fakecloudflare.Server, zone string) []string {
	var out []string
	for _, r := range f.Records(zone) {
		if r.Type == "TXT" {
			out = append(out, fakecloudflare.TXTText(r.Content))
		}
	}
	return out
}
