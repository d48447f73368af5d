//go:build integration

package faults

import (
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
)

// rotation replaces a Secret's API token while lifecycles run, as an operator rotating a Cloudflare token does:
// Cloudflare (the gate in front of the fake) stops accepting the old token and accepts the new one, and then the
// Secret is updated. Between the two, calls fail saying Cloudflare refused the token (never showing it); after
// the update the webhook's next calls use the new token: a new Secret version builds a new provider, nothing
// cached from the old one is reused. A challenge presented with the old token is cleaned up with the new one.
func (w *world) rotation(t *testing.T) {
	oldToken, newToken := w.tokens["rotate-old"], w.tokens["rotate-new"]
	const alias = "rotate.example.net"
	w.cf.AddZone(alias)
	w.gate.allow(oldToken)
	d := w.cloudflareDelegate(t, gateGroup, "rotate", alias, "cf-rotate", oldToken)
	d.lifecycle(t)
	pending := newKey()
	if _, err := d.present(pending); err != nil {
		t.Fatalf("Present before the rotation: %v", err)
	}

	l := startLoad(d, 2, 100*time.Millisecond)
	if !l.waitFor(20*time.Second, func(c []loadCall) bool { return count(c, time.Time{}, false) >= 6 }) {
		t.Fatalf("the calls do not succeed before the rotation: %s", summary(l.Stop()))
	}
	refusedBefore := w.gate.refusals()
	w.gate.allow(newToken)
	revoked := time.Now()
	if !l.waitFor(20*time.Second, func(c []loadCall) bool { return count(c, revoked, true) >= 4 }) {
		t.Fatalf("no call failed once the old token was revoked: %s", summary(l.Stop()))
	}
	w.updateSecret(t, "cf-rotate", map[string]string{"api-token": newToken})
	updated := time.Now()
	// The Secret's new version reaches the webhook's informer within moments; allow half a second.
	settled := updated.Add(500 * time.Millisecond)
	if !l.waitFor(20*time.Second, func(c []loadCall) bool { return count(c, settled, false) >= 6 }) {
		t.Fatalf("the calls do not succeed after the Secret's update: %s", summary(l.Stop()))
	}
	calls := l.Stop()
	l.drain(t)
	in, spanning := phases(calls, revoked, updated, settled)
	t.Logf("before the rotation: %s", summary(in[0]))
	t.Logf("old token revoked, Secret not yet updated: %s", summary(in[1]))
	t.Logf("Secret updated, within %s: %s", settled.Sub(updated), summary(in[2]))
	t.Logf("after: %s", summary(in[3]))
	t.Logf("in flight at a boundary: %s", summary(spanning))
	firstOK := time.Duration(-1)
	for _, c := range calls {
		if !c.start.Before(updated) && c.err == nil {
			firstOK = c.start.Sub(updated)
			break
		}
	}
	t.Logf("the first call sent after the update to succeed was sent %s after it; the gate refused %d requests",
		firstOK.Round(time.Millisecond), w.gate.refusals()-refusedBefore)
	for _, c := range in[0] {
		if c.err != nil {
			t.Errorf("%s before the rotation failed: %v", c.op, c.err)
		}
	}
	if len(in[1]) == 0 {
		t.Errorf("no call started and ended between the revocation and the Secret's update")
	}
	for _, c := range in[1] {
		if c.err == nil {
			t.Errorf("%s with the revoked token succeeded", c.op)
			continue
		}
		// Present's error says what Cloudflare said and what to do. CleanUp's says only the status: the request
		// that failed is the lookup libdns/cloudflare drops the error of, and the webhook's record of it is not
		// explained (providers/exact.go, CleanUpFound).
		want := []string{d.record(), "HTTP 403"}
		if c.op == "present" {
			want = append(want, "Invalid access token", "Cloudflare refused the token; check the Secret's value")
		}
		wantMessage(t, c.op+"'s error with the revoked token", c.err.Error(), want, oldToken, newToken)
	}
	for _, c := range in[3] {
		if c.err != nil {
			t.Errorf("%s after the Secret's update failed: %v", c.op, c.err)
		}
	}
	for _, c := range append(in[2], spanning...) {
		if c.err != nil {
			testcluster.CheckNoSecrets(t, c.op+"'s error", c.err.Error(), oldToken, newToken)
		}
	}

	if _, err := d.cleanUp(pending); err != nil {
		t.Fatalf("CleanUp, with the new token, of the value presented with the old one: %v", err)
	}
	d.lifecycle(t)
	w.healthy(t, w.gateSvc, w.gateHook)
	if got := txtValues(w.cf, alias); len(got) != 0 {
		t.Fatalf("the zone ends with %q", got)
	}
}
