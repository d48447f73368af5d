//go:build integration

package faults

import (
	"context"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

// bindRestart stops the BIND that takes the rfc2136 updates while lifecycles run, and starts it again on the same
// port. While it is down every call fails saying the server in config.aliasProvider.rfc2136.server could not be
// reached; once it is back every call succeeds. A challenge presented before the stop is cleaned up after it.
//
// testdns cannot restart a named with its key and zone: StartWith(Options{Port}) runs a new one, with a new TSIG
// key and the zone as its file has it. So the Secret is updated with the new key as soon as the new BIND answers
// (calls in that short window fail on TSIG), and the value presented before the stop, which a restarted BIND
// keeps in its journal, is added to the new one before its CleanUp.
func (w *world) bindRestart(t *testing.T) {
	zone := testdns.Zone{Name: bindAlias + ".", Updatable: true}
	b := testdns.Start(t, zone)
	w.webhookSecret(t, "tsig-restart", map[string]string{"secret": b.Secret}, b.Addr)
	d := w.newDelegate(t, groupName, "bind", bindAlias, map[string]any{"rfc2136": map[string]any{
		"server": b.Addr, "key_name": b.KeyName, "key_alg": b.KeyAlg,
		"key": map[string]any{"secretKeyRef": map[string]any{"name": "tsig-restart", "key": "secret"}},
	}})
	d.lifecycle(t)
	pending := newKey()
	if _, err := d.present(pending); err != nil {
		t.Fatalf("Present before the stop: %v", err)
	}

	l := startLoad(d, 3, 100*time.Millisecond)
	if !l.waitFor(20*time.Second, func(c []loadCall) bool { return count(c, time.Time{}, false) >= 6 }) {
		t.Fatalf("the calls do not succeed before the fault: %s", summary(l.Stop()))
	}
	b.Stop()
	stopped := time.Now()
	t.Logf("BIND at %s stopped", b.Addr)
	if !l.waitFor(40*time.Second, func(c []loadCall) bool { return count(c, stopped, true) >= 6 }) {
		t.Fatalf("no calls failed while BIND was down: %s", summary(l.Stop()))
	}
	restarting := time.Now()
	b2 := testdns.StartWith(t, testdns.Options{Port: b.Port}, zone)
	restarted := time.Now()
	// The Secret still holds the old key for a moment, as when a server's key changes before its Secret does.
	if !l.waitFor(20*time.Second, func(c []loadCall) bool { return count(c, restarted, true) >= 3 }) {
		t.Fatalf("no call failed with the old key: %s", summary(l.Stop()))
	}
	w.updateSecret(t, "tsig-restart", map[string]string{"secret": b2.Secret})
	updated := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b2.AppendTXT(ctx, d.record(), pending, 60); err != nil {
		t.Fatal(err)
	}
	t.Logf("BIND down for %s, started again on %s in %s, Secret updated with its new key %s later",
		restarting.Sub(stopped).Round(time.Millisecond), b2.Addr, restarted.Sub(restarting).Round(time.Millisecond),
		updated.Sub(restarted).Round(time.Millisecond))
	// The Secret's new version reaches the webhook's informer within moments; allow a second.
	settled := updated.Add(time.Second)
	if !l.waitFor(40*time.Second, func(c []loadCall) bool { return count(c, settled, false) >= 6 }) {
		t.Fatalf("the calls do not succeed after BIND is back: %s", summary(l.Stop()))
	}
	calls := l.Stop()
	l.drain(t)
	in, spanning := phases(calls, stopped, restarting, restarted, updated, settled)
	t.Logf("before the stop: %s", summary(in[0]))
	t.Logf("while BIND was down: %s", summary(in[1]))
	t.Logf("while it started: %s", summary(in[2]))
	t.Logf("back, with a new key the Secret does not hold yet: %s", summary(in[3]))
	t.Logf("Secret updated, within %s: %s", settled.Sub(updated), summary(in[4]))
	t.Logf("after: %s", summary(in[5]))
	t.Logf("in flight when BIND stopped or came back: %s", summary(spanning))
	for _, c := range in[0] {
		if c.err != nil {
			t.Errorf("%s before the stop failed: %v", c.op, c.err)
		}
	}
	if len(in[1]) == 0 {
		t.Errorf("no call started and ended while BIND was down")
	}
	for _, c := range in[1] {
		if c.err == nil {
			t.Errorf("%s while BIND was down succeeded", c.op)
			continue
		}
		wantMessage(t, c.op+"'s error while BIND was down", c.err.Error(), []string{
			d.record(), "config.aliasProvider.rfc2136.server could not be reached", b.Addr, "cert-manager retries",
		}, b.Secret, b2.Secret)
	}
	for _, c := range in[3] {
		if c.err == nil {
			continue
		}
		// Both explain the refused key, CleanUp's also when it searches the zone by AXFR.
		want := []string{"rfc2136", "does not accept key " + b.KeyName, "check key_name, key_alg and the Secret's key"}
		if c.op == "present" {
			want = append(want, d.record())
		}
		wantMessage(t, c.op+"'s error with the old key", c.err.Error(), want, b.Secret, b2.Secret)
	}
	for _, c := range append(append(in[2], in[4]...), spanning...) {
		if c.err != nil {
			testcluster.CheckNoSecrets(t, c.op+"'s error", c.err.Error(), b.Secret, b2.Secret)
		}
	}
	for _, c := range in[5] {
		if c.err != nil {
			t.Errorf("%s after BIND was back failed: %v", c.op, c.err)
		}
	}

	if _, err := d.cleanUp(pending); err != nil {
		t.Fatalf("CleanUp of the value presented before the stop: %v", err)
	}
	d.lifecycle(t)
	w.healthy(t, w.svc, w.hook)
	txt, err := b2.ZoneTXT(bindAlias)
	if err != nil {
		t.Fatal(err)
	}
	if len(txt) != 0 {
		t.Fatalf("the zone ends with %v", txt)
	}
}
