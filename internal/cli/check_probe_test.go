package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
)

const cfToken = "cf-token-0123456789abcdefghijklmnopqrstu"

// TestCheckProbeRFC2136 probes through BIND by RFC 2136 with the TSIG key from a file: the value is written and
// deleted, and a live value at the same name (a challenge in flight) is untouched.
func TestCheckProbeRFC2136(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	live := "live-challenge-value-0000000000000000000000"
	if err := w.bind.AppendTXT(t.Context(), "_acme-challenge."+alias, live, 60); err != nil {
		t.Fatal(err)
	}
	cfg := w.file(t, "config.yaml", w.bareConfig())
	tsig := w.file(t, "tsig.key", w.bind.Secret+"\n")
	code, reps, errOut := w.runJSON(t, nil, "--config", cfg, "--ca", "letsencrypt.org", "--probe",
		"--secret", "tsig/secret="+tsig, "example.com")
	p := reps[0].Probe
	if code != 0 || p == nil || !p.Removed || p.Error != "" || p.CleanUpAttempts != 1 || p.Record != "_acme-challenge."+alias ||
		len(p.Value) != 43 {
		t.Fatalf("exit %d, probe %+v; stderr:\n%s", code, p, errOut)
	}
	txt, err := w.bind.ZoneTXT(alias)
	if err != nil {
		t.Fatal(err)
	}
	if got := txt["_acme-challenge."+alias]; !slices.Equal(got, []string{live}) {
		t.Errorf("TXT at the alias after the probe: %q, want only the live value", got)
	}
	// The endpoint pin is the webhook's: the probe's Secret allows BIND's address because the config names it,
	// and a wrong key fails Present without leaving anything.
	bad := w.file(t, "bad.key", "c2VjcmV0LXRoYXQtaXMtd3Jvbmc=")
	code, reps, _ = w.runJSON(t, &CheckCmd{CleanupBackoff: time.Millisecond}, "--config", cfg, "--ca", "letsencrypt.org",
		"--probe", "--secret", "tsig/secret="+bad, "example.com")
	if p := reps[0].Probe; code != 1 || p == nil || !p.Removed ||
		!strings.Contains(p.Error, "the token could not write through rfc2136 (config.aliasProvider.rfc2136): ") ||
		!strings.HasSuffix(p.Error, "nothing is left behind (the deletes failed too, and DNS serves no such value at _acme-challenge.validation.example.org.)") {
		t.Errorf("wrong TSIG key: exit %d, probe %+v", code, p)
	}
}

// cloudflareWorld is a world whose delegation zone is at a fake Cloudflare, mirrored into BIND.
func cloudflareWorld(t *testing.T) (*world, *fakecloudflare.Server, string, string) {
	t.Helper()
	w := newWorld(t)
	cf := fakecloudflare.New(fakecloudflare.WithToken(cfToken), fakecloudflare.WithZone(alias))
	cf.Mirror = w.bind
	if err := cf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cf.Close)
	cfg := w.file(t, "config.yaml", "domainAlias: validation.example.org\naliasProvider:\n  cloudflare:\n    api_token: {secretKeyRef: {name: cloudflare, key: api-token}}\n")
	token := w.file(t, "token", cfToken+"\n")
	return w, cf, cfg, token
}

func txtRecords(cf *fakecloudflare.Server) []string {
	var out []string
	for _, r := range cf.Records(alias) {
		if r.Type == "TXT" {
			out = append(out, r.Name+" "+fakecloudflare.TXTText(r.Content))
		}
	}
	return out
}

// TestCheckProbeCloudflare probes through the fake Cloudflare API, with its token from a file, and proves the
// value is gone: after a clean run, after a delete that fails the first time (retried), and says exactly what is
// left when every delete fails.
func TestCheckProbeCloudflare(t *testing.T) {
	t.Parallel()
	w, cf, cfg, token := cloudflareWorld(t)
	cmd := func() *CheckCmd { return &CheckCmd{HTTPClient: cf.Client(), CleanupBackoff: 10 * time.Millisecond} }
	args := []string{"--config", cfg, "--ca", "letsencrypt.org", "--probe", "--secret", "cloudflare/api-token=" + token, "example.com"}

	code, reps, errOut := w.runJSON(t, cmd(), args...)
	if p := reps[0].Probe; code != 0 || p == nil || !p.Removed || p.CleanUpAttempts != 1 || p.Error != "" {
		t.Fatalf("exit %d, probe %+v; stderr:\n%s", code, p, errOut)
	}
	if left := txtRecords(cf); len(left) > 0 {
		t.Fatalf("TXT records left at Cloudflare: %q", left)
	}
	posts := cf.CountRequests(http.MethodPost, "/client/v4/zones/")
	if posts != 1 {
		t.Errorf("%d POSTs, want the probe's one", posts)
	}

	t.Run("the first delete fails", func(t *testing.T) {
		// A 4xx: the webhook's transport retries only 429 and 5xx itself, so this reaches the probe's retry.
		cf.FailNext(1, http.StatusBadRequest, fakecloudflare.Match{Method: http.MethodDelete})
		code, reps, errOut := w.runJSON(t, cmd(), args...)
		p := reps[0].Probe
		if code != 0 || p == nil || !p.Removed || p.CleanUpAttempts != 2 || p.Error != "" {
			t.Fatalf("exit %d, probe %+v; stderr:\n%s", code, p, errOut)
		}
		if !strings.Contains(errOut, "(attempt 1 of 4)") {
			t.Errorf("the failed delete was not reported: %s", errOut)
		}
		if left := txtRecords(cf); len(left) > 0 {
			t.Errorf("TXT records left at Cloudflare: %q", left)
		}
	})

	t.Run("every delete fails", func(t *testing.T) {
		cf.FailNext(probeCleanups, http.StatusForbidden, fakecloudflare.Match{Method: http.MethodDelete})
		code, out, errOut := w.run(t, cmd(), append([]string{"-o", "json"}, args...)...)
		if strings.Contains(out+errOut, cfToken) {
			t.Errorf("the token is in check's output:\n%s\n%s", out, errOut)
		}
		var reps []DomainReport
		if err := json.Unmarshal([]byte(out), &reps); err != nil {
			t.Fatal(err)
		}
		p := reps[0].Probe
		if code != 1 || p == nil || p.Removed || p.CleanUpAttempts != probeCleanups {
			t.Fatalf("exit %d, probe %+v", code, p)
		}
		want := `the TXT value "` + p.Value + `" is left at _acme-challenge.validation.example.org.`
		if !strings.Contains(p.Error, want) || !slices.ContainsFunc(reps[0].Problems, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("the problem does not say what is left where: %q", reps[0].Problems)
		}
		if left := txtRecords(cf); !slices.Equal(left, []string{"_acme-challenge.validation.example.org " + p.Value}) {
			t.Errorf("Cloudflare holds %q, want exactly the value the report names", left)
		}
		// The text says it too.
		cf.FailNext(probeCleanups, http.StatusForbidden, fakecloudflare.Match{Method: http.MethodDelete})
		code, out, _ = w.run(t, cmd(), args...)
		if code != 1 || !strings.Contains(out, "may be LEFT at _acme-challenge.validation.example.org.") {
			t.Errorf("text: exit %d:\n%s", code, out)
		}
	})
}

// interruptingTransport lets the probe's TXT create reach the fake, then delivers an interrupt and holds the
// response until the probe's context ends: the value is written, and Present is stopped mid-call.
type interruptingTransport struct {
	base  http.RoundTripper
	sigs  chan os.Signal
	fired atomic.Bool
}

func (it *interruptingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := it.base.RoundTrip(r)
	if r.Method != http.MethodPost || err != nil || it.fired.Swap(true) {
		return resp, err
	}
	_ = resp.Body.Close()
	it.sigs <- os.Interrupt
	select {
	case <-r.Context().Done():
		return nil, r.Context().Err()
	case <-time.After(20 * time.Second):
		return nil, context.DeadlineExceeded
	}
}

// TestCheckProbeInterrupt: an interrupt while Present is writing still runs the cleanup, with a fresh timeout,
// and the value is gone; the next domain's probe is skipped.
func TestCheckProbeInterrupt(t *testing.T) {
	t.Parallel()
	w, cf, cfg, token := cloudflareWorld(t)
	sigs := make(chan os.Signal, 1)
	it := &interruptingTransport{base: cf.Client().Transport, sigs: sigs}
	cmd := &CheckCmd{HTTPClient: &http.Client{Transport: it}, Interrupt: sigs, CleanupBackoff: 10 * time.Millisecond}
	start := time.Now()
	code, reps, errOut := w.runJSON(t, cmd, "--config", cfg, "--ca", "letsencrypt.org", "--probe",
		"--secret", "cloudflare/api-token="+token, "example.com", "sub.example.com")
	if !it.fired.Load() {
		t.Fatal("the probe never wrote")
	}
	p := reps[0].Probe
	if code != 1 || p == nil || !p.Interrupted || !p.Removed || !strings.Contains(p.Error, "interrupted") {
		t.Fatalf("exit %d, probe %+v; stderr:\n%s", code, p, errOut)
	}
	if !strings.Contains(errOut, "interrupt: stopping the probe of example.com and removing its value") {
		t.Errorf("stderr: %s", errOut)
	}
	if left := txtRecords(cf); len(left) > 0 {
		t.Errorf("TXT records left at Cloudflare after the interrupt: %q", left)
	}
	if reps[1].Probe != nil || !slices.Contains(reps[1].Problems, "probe skipped: interrupted") {
		t.Errorf("the second domain: probe %+v, problems %q", reps[1].Probe, reps[1].Problems)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the interrupt took %s to act on", d)
	}
}

// TestCheckProbeRefusals: ACME-DNS is refused (a probe would evict a live value), a set provider needs the
// cluster's Lease, and both exit 2 before anything is written.
func TestCheckProbeRefusals(t *testing.T) {
	t.Parallel()
	w := &world{dir: t.TempDir()}
	secret := w.file(t, "secret", "s3cr3t-value")
	acme := w.file(t, "acmedns.yaml", `domainAlias: 3c8f6b2e-0000-4000-8000-000000000001.auth.example.org
provider:
  acmedns:
    username: 3c8f6b2e-0000-4000-8000-000000000000
    password: {secretKeyRef: {name: acme-dns, key: password}}
    subdomain: 3c8f6b2e-0000-4000-8000-000000000001
    server_url: https://auth.example.org
`)
	desec := w.file(t, "desec.yaml", "domainAlias: validation.example.org\naliasProvider:\n  desec:\n    token: {secretKeyRef: {name: desec, key: token}}\n")
	var requests atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		requests.Add(1)
		return nil, context.Canceled
	})}
	nowhere := w.resolverNowhere()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", acme, "--probe", "--secret", "acme-dns/password=" + secret, "example.com"},
			"refused for example.com: config.provider.acmedns is acmedns (ACME-DNS), whose account keeps only its two latest values"},
		{[]string{"--config", desec, "--probe", "--secret", "desec/token=" + secret, "example.com"},
			"desec (config.aliasProvider.desec, for example.com) rewrites the whole record set, so the probe must take the same Lease as the webhook: pass --kubeconfig"},
	} {
		code, out, errOut := w.run(t, &CheckCmd{HTTPClient: client, Resolver: nowhere}, tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("check %q: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d provider requests were sent", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
