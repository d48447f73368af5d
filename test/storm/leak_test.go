//go:build integration

package storm

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
)

// wrongToken is a Cloudflare token the fake does not know, in a Secret of its own.
const wrongToken = "storm-wrong-token-9876543210zyxwvutsrq"

// TestSecretsNeverLeak provokes the provider errors that carry a token: the fake Cloudflare echoes the token a
// request carried into every error it answers (an unknown token, a 429 the webhook's retries cannot outlast, a
// 502 on a delete). Each call must fail with the token redacted, and neither the errors cert-manager's client got
// nor anything the webhook process wrote may show a Secret value, raw or base64. Every other test of the package
// checks its webhooks' output and its client's errors the same way. Proven once to fail with the webhook's
// redaction bypassed (solver/secrets.go's redact returning err as is).
func TestSecretsNeverLeak(t *testing.T) {
	names := domains("l", 3)
	h := newHarness(t, names)
	h.cluster.CreateSecrets(t, testcluster.WebhookSecret("cloudflare-wrong", map[string]string{"api-token": wrongToken}))
	h.cluster.WatchSecrets(t, wrongToken)
	hook := h.startWebhook(t, "", 0)
	h.svc.Register(t, hook.Port)
	h.svc.WaitAvailable(t, 60*time.Second)
	// The storm's rate: every 429 halves it for a minute, and the default Cloudflare rate (3.5/s) at a 16th would
	// make the calls after the 429s wait seconds per request.
	config := issuerConfig(map[string]any{"perSecond": ratePerSecond, "burst": rateBurst})
	h.warmUp(t, config)

	wrong := issuerConfig(nil)
	wrong["aliasProvider"].(map[string]any)["cloudflare"] = map[string]any{
		"api_token": map[string]any{"secretKeyRef": map[string]any{"name": "cloudflare-wrong", "key": "api-token"}},
	}
	post := fakecloudflare.Match{Method: http.MethodPost}
	del := fakecloudflare.Match{Method: http.MethodDelete}
	deleted, throttled := newChallenge(names[1]), newChallenge(names[2])
	if err := h.present(deleted, config); err != nil {
		t.Fatalf("Present: %v", err)
	}
	// The webhook tries each request 5 times (backoff 0.5 s doubling) within the call's 30 s deadline: 5 faults
	// outlast its retries.
	for _, tc := range []struct {
		name  string
		fault func()
		call  func() error
	}{
		{"unknown token", nil, func() error { return h.present(newChallenge(names[0]), wrong) }},
		{"502 on delete past the retries", func() { h.cf.FailNext(5, http.StatusBadGateway, del) }, func() error { return h.cleanUp(deleted, config) }},
		{"429 past the retries", func() { h.cf.RateLimit(5, 0, post) }, func() error { return h.present(throttled, config) }},
	} {
		if tc.fault != nil {
			tc.fault()
		}
		took, err := withTimeout(t, 40*time.Second, tc.name, tc.call)
		if err == nil {
			t.Fatalf("%s: the call succeeded, want it to fail", tc.name)
		}
		t.Logf("%s: cert-manager's client got, after %s: %v", tc.name, took.Round(time.Millisecond), err)
		// The fake echoed a token into the error: it reached the webhook's error path and was redacted there.
		if !strings.Contains(err.Error(), "(token: [redacted])") {
			t.Errorf("%s: the error does not show the fake's echo of the token as redacted; the check would prove nothing: %v", tc.name, err)
		}
	}
	// cert-manager retries the CleanUp that failed; the faults are spent.
	if err := h.cleanUp(deleted, config); err != nil {
		t.Fatalf("CleanUp once the faults are spent: %v", err)
	}
	if left := h.values(); len(left) != 0 {
		t.Errorf("values left in the zone: %q", left)
	}

	h.checkErrorsClean(t, cfToken, wrongToken)
	// What the webhook wrote, once it has stopped (its cleanup checks again, as for every webhook of the package).
	hook.Stop(syscall.SIGTERM, testcluster.StopGrace)
	out := hook.Out.String()
	if !strings.Contains(out, "(token: [redacted])") {
		t.Errorf("the webhook's log does not show the failed calls with the token redacted:\n%s", hook.Out.Tail(40))
	}
	testcluster.CheckNoSecrets(t, "the webhook's output", out, cfToken, wrongToken)
}
