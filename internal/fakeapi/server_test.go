package fakeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const apiHost = "api.example.test"

// childEnv marks the test binary re-executed as a separate process that reaches the fake only through
// HTTPS_PROXY and SSL_CERT_FILE, as a separately started webhook does.
const childEnv = "FAKEAPI_CHILD_URL"

// TestMain runs the child mode when asked.
func TestMain(m *testing.M) {
	if u := os.Getenv(childEnv); u != "" {
		os.Exit(runChild(u))
	}
	os.Exit(m.Run())
}

// runChild fetches u with http.DefaultClient, whose transport takes the proxy from HTTPS_PROXY and trusts the CA
// in SSL_CERT_FILE.
func runChild(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	defer resp.Body.Close()
	var got echo
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "child:", resp.Status, err)
		return 3
	}
	return 0
}

// echo is what the test handler answers.
type echo struct {
	Host   string `json:"host"`
	Path   string `json:"path"`
	Method string `json:"method"`
	Body   string `json:"body"`
}

// counter is a handler that answers with an echo of the request and counts its calls.
type counter struct{ n atomic.Int64 }

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Handler", "yes")
	_ = json.NewEncoder(w).Encode(echo{Host: r.Host, Path: r.URL.Path, Method: r.Method, Body: string(body) + strings.Repeat(" ", 40)})
}

func (c *counter) calls() int { return int(c.n.Load()) }

func start(t *testing.T, cfg Config) (*Server, *counter) {
	t.Helper()
	h := &counter{}
	if cfg.Handler == nil {
		cfg.Handler = h
	}
	if cfg.Hosts == nil {
		cfg.Hosts = []string{apiHost, "other-api.example.test"}
	}
	if cfg.Name == "" {
		cfg.Name = "fakeapi-test"
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s, h
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request through client and reads the whole answer. It returns errors rather than failing, so
// goroutines can use it.
func do(client *http.Client, method, u, body string) (answer, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, err
}

func mustDo(t *testing.T, client *http.Client, method, u string) answer {
	t.Helper()
	a, err := do(client, method, u, "")
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return a
}

func TestStartNeedsHandlerAndHosts(t *testing.T) {
	if _, err := Start(Config{Hosts: []string{apiHost}}); err == nil {
		t.Error("Start without a handler succeeded")
	}
	if _, err := Start(Config{Handler: http.NotFoundHandler()}); err == nil {
		t.Error("Start without hosts succeeded")
	}
}

func TestClientReachesTheHandler(t *testing.T) {
	t.Parallel()
	s, h := start(t, Config{})
	tests := []struct {
		url      string
		wantHost string
	}{
		{"https://" + apiHost + "/v1/zones?name=a", apiHost},
		{"https://API.Example.TEST./v1/zones", "API.Example.TEST."},
		{"http://other-api.example.test:8443/x", "other-api.example.test:8443"},
		{s.URL() + "/direct", strings.TrimPrefix(s.URL(), "http://")},
	}
	for _, tt := range tests {
		a := mustDo(t, s.Client(), "POST", tt.url)
		var got echo
		if err := json.Unmarshal(a.body, &got); err != nil || a.status != 200 {
			t.Fatalf("%s: %d %s (%v)", tt.url, a.status, a.body, err)
		}
		if got.Host != tt.wantHost {
			t.Errorf("%s: handler saw Host %q, want %q (the API host, not the loopback address)", tt.url, got.Host, tt.wantHost)
		}
	}
	// A request built by hand, as the AWS SDK builds them, leaves Host empty: the handler must still see the API
	// host, which SigV4 signs.
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "https", Host: apiHost, Path: "/by-hand"}, Header: http.Header{}}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got echo
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || got.Host != apiHost {
		t.Errorf("request without Host: handler saw Host %q (%v), want %q", got.Host, err, apiHost)
	}
	if h.calls() != len(tests)+1 {
		t.Errorf("handler called %d times, want %d", h.calls(), len(tests)+1)
	}
	reqs := s.Requests()
	if len(reqs) != len(tests)+1 {
		t.Fatalf("%d requests logged: %+v", len(reqs), reqs)
	}
	want := Request{Method: "POST", Host: apiHost, Path: "/v1/zones", Query: url.Values{"name": {"a"}}, Status: 200}
	if fmt.Sprint(reqs[0]) != fmt.Sprint(want) {
		t.Errorf("logged %+v, want %+v", reqs[0], want)
	}
	if n := s.CountRequests("post", "/v1/"); n != 2 {
		t.Errorf("CountRequests(post, /v1/) = %d, want 2", n)
	}
	if n := s.CountRequests("", ""); n != 5 {
		t.Errorf("CountRequests() = %d, want 5", n)
	}
	// The log is a copy.
	reqs[0].Query.Set("name", "changed")
	if s.Requests()[0].Query.Get("name") != "a" {
		t.Error("Requests returned the log itself, not a copy")
	}
}

func TestClientRefusesOtherHosts(t *testing.T) {
	t.Parallel()
	s, h := start(t, Config{})
	for _, u := range []string{"https://example.com/", "https://api.example.test.evil.test/", "http://127.0.0.1:1/"} {
		_, err := s.Client().Get(u)
		if err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("%s: err %v, want a refusal", u, err)
		}
	}
	// Transport refuses the same way, for libraries that only take a transport.
	req, _ := http.NewRequest(http.MethodGet, "https://example.com/", nil)
	if _, err := s.Transport().RoundTrip(req); err == nil {
		t.Error("Transport sent a request to example.com")
	}
	if h.calls() != 0 || len(s.Requests()) != 0 {
		t.Errorf("refused requests reached the server: %d calls, log %+v", h.calls(), s.Requests())
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	var refused []Refusal
	var mu sync.Mutex
	s, h := start(t, Config{Refuse: func(w http.ResponseWriter, r *http.Request, ref Refusal) {
		mu.Lock()
		refused = append(refused, ref)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(ref.Status)
		fmt.Fprintf(w, "vendor says slow down on %s", r.URL.Path)
	}})
	c := s.Client()
	base := "https://" + apiHost

	s.RateLimit(2, 1500*time.Millisecond, Match{Method: "post", PathPrefix: "/records"})
	if a := mustDo(t, c, "GET", base+"/records"); a.status != 200 {
		t.Errorf("GET hit by a POST-only rate limit: %d", a.status)
	}
	if a := mustDo(t, c, "POST", base+"/zones"); a.status != 200 {
		t.Errorf("POST /zones hit by a /records rate limit: %d", a.status)
	}
	for range 2 {
		a := mustDo(t, c, "POST", base+"/records/1")
		if a.status != 429 || a.header.Get("Retry-After") != "2" || string(a.body) != "vendor says slow down on /records/1" {
			t.Errorf("got %d Retry-After %q body %q, want 429, 2 (1.5 s rounded up) and the vendor's body", a.status, a.header.Get("Retry-After"), a.body)
		}
	}
	if a := mustDo(t, c, "POST", base+"/records/1"); a.status != 200 {
		t.Errorf("third POST: %d, want the fault spent", a.status)
	}
	s.RateLimit(1, 0)
	if a := mustDo(t, c, "GET", base+"/"); a.status != 429 || a.header.Get("Retry-After") != "" {
		t.Errorf("retryAfter 0: %d with Retry-After %q, want 429 without the header", a.status, a.header.Get("Retry-After"))
	}
	if h.calls() != 3 {
		t.Errorf("handler called %d times, want 3: refused requests must not reach it", h.calls())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refused) != 3 || refused[0].RetryAfter != 1500*time.Millisecond || refused[0].Window || refused[2].RetryAfter != 0 {
		t.Errorf("Refuse saw %+v", refused)
	}
	var faults []string
	for _, r := range s.Requests() {
		faults = append(faults, fmt.Sprintf("%d %s", r.Status, r.Fault))
	}
	if want := "[200  200  429 rate-limit 429 rate-limit 200  429 rate-limit]"; fmt.Sprint(faults) != want {
		t.Errorf("log %v, want %s", faults, want)
	}
}

func TestFailNextAndOrder(t *testing.T) {
	t.Parallel()
	s, h := start(t, Config{}) // the default refusal body
	c := s.Client()
	u := "https://" + apiHost + "/x"
	s.FailNext(1, 502)
	s.RateLimit(1, time.Second)
	s.FailNext(2, 503, Match{PathPrefix: "/x"})
	var got []int
	for range 5 {
		got = append(got, mustDo(t, c, "GET", u).status)
	}
	if fmt.Sprint(got) != "[502 429 503 503 200]" {
		t.Errorf("statuses %v, want faults in the order added, then the handler", got)
	}
	a := mustDo(t, c, "GET", u)
	if a.status != 200 || a.header.Get("X-Handler") != "yes" || h.calls() != 2 {
		t.Errorf("after the faults: %d, %d handler calls", a.status, h.calls())
	}
	s.FailNext(1, 500)
	a = mustDo(t, c, "GET", u)
	var body map[string]string
	if err := json.Unmarshal(a.body, &body); err != nil || body["error"] != "Internal Server Error" {
		t.Errorf("default refusal body %q (%v)", a.body, err)
	}
	s.FailNext(0, 500) // n <= 0 adds nothing
	if a := mustDo(t, c, "GET", u); a.status != 200 {
		t.Errorf("FailNext(0) took effect: %d", a.status)
	}
}

func TestSlow(t *testing.T) {
	t.Parallel()
	s, h := start(t, Config{})
	u := "https://" + apiHost + "/slow"
	s.Slow(1, 300*time.Millisecond)
	began := time.Now()
	a := mustDo(t, s.Client(), "GET", u)
	if took := time.Since(began); a.status != 200 || took < 300*time.Millisecond {
		t.Errorf("slow request: %d after %v, want 200 after at least 300ms", a.status, took)
	}

	// A client that gives up gets nothing, and the handler does not run.
	s.Slow(1, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("change"))
	if _, err := s.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the client's deadline", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Requests()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the server notices the cancellation on its own time
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[1].Status != 0 || reqs[1].Fault != "slow" || reqs[0].Fault != "slow" || reqs[0].Status != 200 {
		t.Errorf("log %+v, want the abandoned request with status 0", reqs)
	}
	if h.calls() != 1 {
		t.Errorf("handler ran %d times, want 1: an abandoned slow request must not change anything", h.calls())
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	s, h := start(t, Config{})
	s.Reset(1, Match{Method: "POST"})
	if _, err := do(s.Client(), "POST", "https://"+apiHost+"/r", "body"); err == nil {
		t.Error("reset request succeeded")
	}
	if a := mustDo(t, s.Client(), "POST", "https://"+apiHost+"/r"); a.status != 200 {
		t.Errorf("after the reset: %d", a.status)
	}
	reqs := s.Requests()
	if h.calls() != 1 || len(reqs) != 2 || reqs[0].Status != 0 || reqs[0].Fault != "reset" {
		t.Errorf("%d handler calls, log %+v", h.calls(), reqs)
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	s, h := start(t, Config{})
	s.Truncate(1)
	a := mustDo(t, s.Client(), "POST", "https://"+apiHost+"/t")
	var got echo
	err := json.Unmarshal(a.body, &got)
	if a.status != 200 || err == nil || a.header.Get("X-Handler") != "yes" || a.header.Get("Content-Length") != fmt.Sprint(len(a.body)) {
		t.Errorf("truncated answer: %d, body %q, decode error %v, headers %v", a.status, a.body, err, a.header)
	}
	full := mustDo(t, s.Client(), "POST", "https://"+apiHost+"/t")
	if len(a.body) != len(full.body)/2 {
		t.Errorf("truncated body has %d bytes, want half of %d", len(a.body), len(full.body))
	}
	if h.calls() != 2 {
		t.Errorf("handler ran %d times, want 2: a truncated answer still makes the change", h.calls())
	}
	if r := s.Requests()[0]; r.Status != 200 || r.Fault != "truncate" {
		t.Errorf("logged %+v", r)
	}
}

// clock is a settable time source for the window tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func withClock(s *Server) *clock {
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.mu.Lock()
	s.now = c.now
	s.mu.Unlock()
	return c
}

func TestLimitWithPenalty(t *testing.T) {
	t.Parallel()
	var refused []Refusal
	var mu sync.Mutex
	s, h := start(t, Config{Refuse: func(w http.ResponseWriter, r *http.Request, ref Refusal) {
		mu.Lock()
		refused = append(refused, ref)
		mu.Unlock()
		defaultRefuse(w, r, ref)
	}})
	clk := withClock(s)
	c := s.Client()
	u := "https://" + apiHost + "/w"
	// Cloudflare's rule, scaled: 3 requests per 10 s, then blocked for 30 s.
	s.Limit(3, 10*time.Second, 30*time.Second, true)
	statuses := func(n int) string {
		var out []int
		for range n {
			out = append(out, mustDo(t, c, "GET", u).status)
		}
		return fmt.Sprint(out)
	}
	if got := statuses(3); got != "[200 200 200]" {
		t.Fatalf("within the limit: %s", got)
	}
	if limit, remaining, _, ok := s.WindowState(); !ok || limit != 3 || remaining != 0 {
		t.Errorf("WindowState = %d, %d, %v", limit, remaining, ok)
	}
	clk.advance(5 * time.Second)
	a := mustDo(t, c, "GET", u)
	if a.status != 429 || a.header.Get("Retry-After") != "30" {
		t.Errorf("fourth request: %d Retry-After %q, want 429 and the whole penalty", a.status, a.header.Get("Retry-After"))
	}
	// The window has slid past the first three requests, but the penalty holds.
	clk.advance(20 * time.Second)
	a = mustDo(t, c, "GET", u)
	if a.status != 429 || a.header.Get("Retry-After") != "10" {
		t.Errorf("during the penalty: %d Retry-After %q, want 429 and 10 s left", a.status, a.header.Get("Retry-After"))
	}
	if _, remaining, reset, _ := s.WindowState(); remaining != 0 || !reset.Equal(clk.now().Add(10*time.Second)) {
		t.Errorf("WindowState during the penalty: remaining %d reset %v", remaining, reset)
	}
	clk.advance(10 * time.Second)
	if got := statuses(3); got != "[200 200 200]" {
		t.Errorf("after the penalty: %s, want a fresh window (refused requests do not count)", got)
	}
	if h.calls() != 6 {
		t.Errorf("handler called %d times, want 6", h.calls())
	}
	mu.Lock()
	if len(refused) != 2 || !refused[0].Window || refused[0].Limit != 3 || refused[0].Remaining != 0 || refused[0].Status != 429 {
		t.Errorf("Refuse saw %+v", refused)
	}
	mu.Unlock()
	if r := s.Requests()[3]; r.Fault != "window" || r.Status != 429 {
		t.Errorf("logged %+v", r)
	}
	s.Limit(0, 0, 0, false)
	if _, _, _, ok := s.WindowState(); ok {
		t.Error("Limit(0) left a window")
	}
	if got := statuses(5); got != "[200 200 200 200 200]" {
		t.Errorf("without a window: %s", got)
	}
}

func TestLimitSliding(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Config{})
	clk := withClock(s)
	c := s.Client()
	u := "https://" + apiHost + "/w"
	// deSEC's rule, scaled: 2 per 10 s, sliding, no penalty; no Retry-After asked for.
	s.Limit(2, 10*time.Second, 0, false)
	mustDo(t, c, "GET", u)
	clk.advance(4 * time.Second)
	mustDo(t, c, "GET", u)
	clk.advance(2 * time.Second)
	a := mustDo(t, c, "GET", u)
	if a.status != 429 || a.header.Get("Retry-After") != "" {
		t.Errorf("third within 10 s: %d Retry-After %q, want 429 without the header", a.status, a.header.Get("Retry-After"))
	}
	if _, _, reset, _ := s.WindowState(); !reset.Equal(clk.now().Add(4 * time.Second)) {
		t.Errorf("reset %v, want when the first request ages out", reset)
	}
	clk.advance(4 * time.Second) // the first request ages out
	if a := mustDo(t, c, "GET", u); a.status != 200 {
		t.Errorf("after the oldest aged out: %d", a.status)
	}
	a = mustDo(t, c, "GET", u)
	if a.status != 429 {
		t.Errorf("the second request still counts: %d", a.status)
	}
	s.Limit(2, 10*time.Second, 0, true)
	clk.advance(time.Second)
	if a := mustDo(t, c, "GET", u); a.status != 200 {
		t.Errorf("a new Limit starts an empty window: %d", a.status)
	}
	mustDo(t, c, "GET", u)
	a = mustDo(t, c, "GET", u)
	if a.status != 429 || a.header.Get("Retry-After") != "10" {
		t.Errorf("sliding Retry-After %q (%d), want 10", a.header.Get("Retry-After"), a.status)
	}
}

func TestConcurrentFaults(t *testing.T) {
	t.Parallel()
	s, h := start(t, Config{})
	s.RateLimit(10, time.Second)
	s.FailNext(5, 503)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 60 {
		wg.Go(func() {
			a, err := do(s.Client(), "POST", fmt.Sprintf("https://%s/c/%d", apiHost, i), "x")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			statuses[a.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[429] != 10 || statuses[503] != 5 || statuses[200] != 45 || h.calls() != 45 {
		t.Errorf("statuses %v, %d handler calls", statuses, h.calls())
	}
	if n := s.CountRequests("POST", "/c/"); n != 60 {
		t.Errorf("%d requests logged, want 60", n)
	}
}

func TestCloseStopsServing(t *testing.T) {
	s, err := Start(Config{Hosts: []string{apiHost}, Handler: &counter{}})
	if err != nil {
		t.Fatal(err)
	}
	s.Slow(1, time.Hour)
	errc := make(chan error, 1)
	go func() {
		_, err := do(s.Client(), "GET", "https://"+apiHost+"/", "")
		errc <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); len(s.faultsLeft()) != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // until the request is being slowed
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a slow request was in flight")
	}
	if err := <-errc; err == nil {
		t.Error("the slow request got an answer from a closed server")
	}
	s.Close() // a second Close is harmless
	if resp, err := http.Get(s.URL()); err == nil {
		resp.Body.Close()
		t.Error("server still answers after Close")
	}
}

// faultsLeft returns the kinds of faults not yet spent.
func (s *Server) faultsLeft() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, f := range s.faults {
		out = append(out, f.kind.String())
	}
	return out
}

func TestProxyEnvInAChildProcess(t *testing.T) {
	t.Parallel()
	s, h := start(t, Config{})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), s.ProxyEnv(caFile)...)
	cmd.Env = append(cmd.Env, childEnv+"=https://"+apiHost+"/from-child", "SSL_CERT_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || !reqs[0].ViaProxy || reqs[0].Path != "/from-child" || reqs[0].Host != apiHost || h.calls() != 1 {
		t.Errorf("log %+v, want the child's request via the proxy", reqs)
	}
}

func TestServeHTTPMountsTheFake(t *testing.T) {
	t.Parallel()
	s, h := start(t, Config{})
	outer := httptest.NewServer(s)
	t.Cleanup(outer.Close)
	a := mustDo(t, outer.Client(), "GET", outer.URL+"/mounted")
	if a.status != 200 || h.calls() != 1 || s.CountRequests("GET", "/mounted") != 1 {
		t.Errorf("mounted: %d, %d handler calls, log %+v", a.status, h.calls(), s.Requests())
	}
}
