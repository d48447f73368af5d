//go:build integration

package faults

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
)

// apiserverRestart stops kube-apiserver while lifecycles run and starts it again on the same etcd, port,
// certificates and service-account keys (every identity stays valid), as a control-plane upgrade or a crash does.
// While it is down cert-manager's client cannot reach any webhook (the aggregation layer is the API server);
// the webhook processes must live through it: once it is back, calls succeed, the Secret informers watch again (a
// Secret created after the restart resolves), and a challenge presented before the stop is cleaned up after it.
//
// testcluster has no restart; envtest's APIServer can Stop and Start again on its port, but removes its
// certificate directory on Stop, so the directory is kept aside first and given back before Start.
func (w *world) apiserverRestart(t *testing.T) {
	const alias = "apiserver.example.net"
	w.cf.AddZone(alias)
	d := w.cloudflareDelegate(t, groupName, "apiserver", alias, "cf-apiserver", w.tokens["apiserver"])
	d.lifecycle(t)
	w.gate.allow(w.tokens["rotate-new"], w.tokens["apiserver"])
	viaGate := w.newDelegate(t, gateGroup, "apiserver-gate", alias, d.config["aliasProvider"].(map[string]any))
	viaGate.lifecycle(t)
	pending := newKey()
	if _, err := d.present(pending); err != nil {
		t.Fatalf("Present before the stop: %v", err)
	}

	l := startLoad(d, 2, 100*time.Millisecond)
	if !l.waitFor(20*time.Second, func(c []loadCall) bool { return count(c, time.Time{}, false) >= 6 }) {
		t.Fatalf("the calls do not succeed before the restart: %s", summary(l.Stop()))
	}
	api := w.cluster.Env.ControlPlane.APIServer
	keep := filepath.Join(w.dir, "kube-apiserver")
	if err := copyDir(api.CertDir, keep); err != nil {
		t.Fatal(err)
	}
	stopping := time.Now()
	if err := api.Stop(); err != nil {
		// kube-apiserver closes its port at SIGTERM but here it does not exit within envtest's stop timeout (20 s),
		// and envtest then sends SIGKILL: a restart all the same.
		t.Logf("kube-apiserver did not exit within envtest's stop timeout after SIGTERM and was killed: %v", err)
	}
	host := api.SecureServing.URL("https", "").Host
	for deadline := time.Now().Add(30 * time.Second); ; {
		var d net.Dialer
		conn, err := d.DialContext(context.Background(), "tcp", host)
		if err != nil {
			break
		}
		_ = conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver still listens on %s 30s after it was stopped", host)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopped := time.Now()
	t.Logf("kube-apiserver stopped in %s", stopped.Sub(stopping).Round(time.Millisecond))
	if !l.waitFor(20*time.Second, func(c []loadCall) bool { return count(c, stopping, true) >= 4 }) {
		t.Fatalf("no call failed while kube-apiserver was down: %s", summary(l.Stop()))
	}
	time.Sleep(2 * time.Second)
	api.CertDir = keep
	api.StartTimeout = 2 * time.Minute
	starting := time.Now()
	if err := api.Start(); err != nil {
		t.Fatalf("starting kube-apiserver again: %v", err)
	}
	started := time.Now()
	t.Logf("kube-apiserver down for %s, started again on %s in %s", starting.Sub(stopping).Round(time.Millisecond),
		host, started.Sub(starting).Round(time.Millisecond))
	w.svc.WaitAvailable(t, 60*time.Second)
	w.gateSvc.WaitAvailable(t, 60*time.Second)
	if !l.waitFor(60*time.Second, func(c []loadCall) bool { return count(c, started, false) >= 6 }) {
		t.Fatalf("the calls do not succeed after the restart: %s", summary(l.Stop()))
	}
	recovered := time.Now()

	// A Secret the webhook has never seen, created after the restart, reaches it only through a watch that works
	// again.
	fresh := w.cloudflareDelegate(t, groupName, "apiserver-new", alias, "cf-apiserver-new", w.tokens["apiserver-new"])
	created := time.Now()
	var freshErrs []error
	key := newKey()
	for {
		_, err := fresh.present(key)
		if err == nil {
			break
		}
		freshErrs = append(freshErrs, err)
		if time.Since(created) > 30*time.Second {
			t.Fatalf("a Secret created after the restart does not resolve after 30s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("a Secret created after the restart (%s after it) resolved %s after its creation, %d failed tries before",
		created.Sub(started).Round(time.Millisecond), time.Since(created).Round(time.Millisecond), len(freshErrs))
	if len(freshErrs) > 0 {
		// The Secret is labelled; the cache has not seen it yet. The webhook says otherwise (solver/secrets.go,
		// explainMiss): recorded here, not asserted.
		t.Logf("what those tries said: %v", freshErrs[0])
	}
	for _, err := range freshErrs {
		testcluster.CheckNoSecrets(t, "a try with the new Secret", err.Error(), w.tokens["apiserver-new"])
	}
	if _, err := fresh.cleanUp(key); err != nil {
		t.Fatalf("CleanUp with the new Secret: %v", err)
	}

	calls := l.Stop()
	l.drain(t)
	in, spanning := phases(calls, stopping, starting, recovered)
	t.Logf("before the stop: %s", summary(in[0]))
	t.Logf("while kube-apiserver was down: %s", summary(in[1]))
	t.Logf("after the restart, until 6 calls had succeeded (%s): %s", recovered.Sub(started).Round(time.Millisecond), summary(in[2]))
	t.Logf("after: %s", summary(in[3]))
	t.Logf("in flight when it stopped or came back: %s", summary(spanning))
	for _, c := range in[0] {
		if c.err != nil {
			t.Errorf("%s before the stop failed: %v", c.op, c.err)
		}
	}
	for _, c := range in[3] {
		if c.err != nil {
			t.Errorf("%s after the recovery failed: %v", c.op, c.err)
		}
	}
	if _, err := d.cleanUp(pending); err != nil {
		t.Fatalf("CleanUp of the value presented before the stop: %v", err)
	}
	d.lifecycle(t)
	viaGate.lifecycle(t)
	w.healthy(t, w.svc, w.hook)
	w.healthy(t, w.gateSvc, w.gateHook)
	if got := txtValues(w.cf, alias); len(got) != 0 {
		t.Fatalf("the zone ends with %q", got)
	}
}

// copyDir copies the regular files of src, and its directories, into dst.
func copyDir(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer func() { _ = in.Close() }()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			_ = out.Close()
			return err
		}
		return out.Close()
	})
}
