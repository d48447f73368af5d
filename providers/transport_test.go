package providers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRetryClient: 429 and 5xx are retried with backoff (a Retry-After of 0 does not turn the backoff off), the
// body is sent again, and the final failure is noted for the call.
func TestRetryClient(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var bodies []string
	var stamps []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		b := make([]byte, 16)
		k, _ := r.Body.Read(b)
		bodies = append(bodies, string(b[:k]))
		stamps = append(stamps, time.Now())
		if n == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	c := newRetryClient(srv.Client())
	c.attempts, c.backoff = 3, 20*time.Millisecond
	ctx, f := withFailures(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("payload"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || calls.Load() != 3 {
		t.Fatalf("status %d after %d calls, want 503 after 3", resp.StatusCode, calls.Load())
	}
	for i, b := range bodies {
		if b != "payload" {
			t.Fatalf("attempt %d sent body %q", i+1, b)
		}
	}
	if gap := stamps[2].Sub(stamps[1]); gap < 35*time.Millisecond {
		t.Fatalf("second wait %s: the backoff did not grow after Retry-After: 0", gap)
	}
	if f.err() == nil || !strings.Contains(f.err().Error(), "HTTP 503") {
		t.Fatalf("failure not noted: %v", f.err())
	}
}

// TestRetryClientDoesNotRetryBadRequests: a request that cannot be sent (a newline in a header) is tried once.
func TestRetryClientDoesNotRetryBadRequests(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	counting := &countingTransport{next: srv.Client().Transport}
	c := newRetryClient(&http.Client{Transport: counting})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	req.Header.Set("Authorization", "Bearer token\n")
	if _, err := c.Do(req); err == nil || transient(err) {
		t.Fatalf("err = %v", err)
	}
	if n := counting.n.Load(); n != 1 {
		t.Fatalf("tried %d times, want 1", n)
	}
	if !transient(&timeoutErr{}) || transient(errors.New("x")) {
		t.Fatal("transient misclassifies")
	}
}

type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestTransportIsTheDefault: main installs the webhook's transport as http.DefaultTransport; building a client
// afterwards must not assume net/http's own (it did, and every Cloudflare Present of the binary panicked).
func TestTransportIsTheDefault(t *testing.T) {
	old := http.DefaultTransport
	http.DefaultTransport = Transport(nil)
	defer func() { http.DefaultTransport = old }()
	c := defaultHTTPClient()
	if c.Transport == nil || c.Transport == http.DefaultTransport {
		t.Fatalf("default client transport %T", c.Transport)
	}
	e := cloudflareEntry()
	v := e.New()
	if err := json.Unmarshal([]byte(`{"api_token":"token-0123456789"}`), v); err != nil {
		t.Fatal(err)
	}
	if _, err := e.NewWriter(v, Env{Path: "provider.cloudflare"}); err != nil {
		t.Fatalf("building a provider with the webhook's transport as the default: %v", err)
	}
}
