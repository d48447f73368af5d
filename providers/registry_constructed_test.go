//go:build !minimal

package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"k8s.io/client-go/kubernetes/fake"
)

// vendorAPI stands in for one vendor's API: a test server reached through the Env.HTTPClient it hands out, which
// sends requests for the vendor's hosts there and fails every other request, so a test sees every request the
// provider's own code makes and proves that none goes anywhere else.
type vendorAPI struct {
	t     *testing.T
	hosts []string
	srv   *httptest.Server

	mu   sync.Mutex
	reqs []seenRequest
}

// seenRequest is one request the provider sent, as the vendor received it.
type seenRequest struct {
	Method, Host, Path, Query string
	Header                    http.Header
	Body                      string
}

func newVendorAPI(t *testing.T, handler http.HandlerFunc, hosts ...string) *vendorAPI {
	t.Helper()
	v := &vendorAPI{t: t, hosts: hosts}
	v.srv = httptest.NewServer(handler)
	t.Cleanup(v.srv.Close)
	return v
}

// client is the Env.HTTPClient for the provider under test.
func (v *vendorAPI) client() *http.Client {
	target, _ := url.Parse(v.srv.URL)
	return &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		host := req.URL.Hostname()
		known := false
		for _, h := range v.hosts {
			known = known || strings.EqualFold(h, host)
		}
		var body []byte
		if req.Body != nil {
			body, _ = io.ReadAll(req.Body)
			_ = req.Body.Close()
		}
		v.mu.Lock()
		v.reqs = append(v.reqs, seenRequest{Method: req.Method, Host: host, Path: req.URL.Path, Query: req.URL.RawQuery, Header: req.Header.Clone(), Body: string(body)})
		v.mu.Unlock()
		if !known {
			v.t.Errorf("request to %s %s: not one of the vendor's hosts %v", req.Method, req.URL, v.hosts)
			return nil, fmt.Errorf("test: %s is not the vendor's host", host)
		}
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host, out.Host = target.Scheme, target.Host, host
		out.Body = io.NopCloser(strings.NewReader(string(body)))
		out.RequestURI = ""
		return http.DefaultTransport.RoundTrip(out)
	})}
}

// requests returns what the vendor has received so far.
func (v *vendorAPI) requests() []seenRequest {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]seenRequest(nil), v.reqs...)
}

// everyRequestCarries fails the test unless every request received carries secret in its header named header
// (or, with header "", somewhere in its body).
func (v *vendorAPI) everyRequestCarries(header, secret string) {
	v.t.Helper()
	for _, r := range v.requests() {
		if header == "" && !strings.Contains(r.Body, secret) || header != "" && !strings.Contains(r.Header.Get(header), secret) {
			v.t.Errorf("%s %s%s: the credential is not where the vendor expects it", r.Method, r.Host, r.Path)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// testEnv is an Env for a provider under test: its HTTP requests go to api, and set writers get a working Lease
// lock on a fake API server.
func testEnv(api *vendorAPI) Env {
	env := Env{Path: "aliasProvider.test", Leases: &LeaseLocks{Client: fake.NewClientset().CoordinationV1(), Namespace: "webhook", Identity: "test"}}
	if api != nil {
		env.HTTPClient = api.client()
	}
	return env
}

// testRecord is a challenge record at _acme-challenge.example.org.
func testRecord(value string) Record {
	return Record{Zone: "example.org.", FQDN: "_acme-challenge.example.org.", Value: value, TTL: time.Minute, DNSName: "example.org."}
}

// newTestWriter builds e's writer for cfg (the decoded provider config) the way the solver does.
func newTestWriter(t *testing.T, e *Entry, cfg any, env Env) Writer {
	t.Helper()
	w, err := e.NewWriter(cfg, env)
	if err != nil {
		t.Fatalf("building %s: %v", e.Name, err)
	}
	return w
}

// refused fails the test unless building e with cfg fails naming want.
func refused(t *testing.T, e *Entry, cfg any, want string) {
	t.Helper()
	_, err := e.NewWriter(cfg, testEnv(nil))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s with %+v: error %v, want one containing %q", e.Name, cfg, err, want)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestUntilDeadlineStopsWaitingAndRecoversPanics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	release := make(chan struct{})
	defer close(release)
	start := time.Now()
	_, err := untilDeadline(ctx, func() (int, error) { <-release; return 1, nil })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("a call that ignores its context: %v after %s, want the deadline's error at once", err, time.Since(start))
	}
	if _, err := untilDeadline(context.Background(), func() (int, error) { panic("library bug") }); err == nil || !strings.Contains(err.Error(), "library bug") {
		t.Errorf("a panic on the call's goroutine: %v, want it as an error", err)
	}
	if v, err := untilDeadline(context.Background(), func() (int, error) { return 7, nil }); v != 7 || err != nil {
		t.Errorf("a call that returns: %d, %v", v, err)
	}
}

func TestGoneIsDeletedOnlyForTheLibrarysNotFound(t *testing.T) {
	t.Parallel()
	gone := func(err error) bool { return strings.HasPrefix(err.Error(), "record not found") }
	for _, tc := range []struct {
		err     error
		wantErr bool
	}{{errors.New("record not found: x"), false}, {errors.New("HTTP 401"), true}, {nil, false}} {
		del := goneIsDeleted(func(context.Context, string, []libdns.Record) ([]libdns.Record, error) { return nil, tc.err }, gone)
		if _, err := del(context.Background(), "example.org.", nil); (err != nil) != tc.wantErr {
			t.Errorf("library error %v: got %v", tc.err, err)
		}
	}
}

func TestCheckHTTPURLAndRegion(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"https://api.example.net/v1", "http://127.0.0.1:8081"} {
		if err := checkHTTPURL("p", "f", u, "x"); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"api.example.net", "ftp://api.example.net", "https://user:pw@api.example.net", "https://%zz", "https://"} {
		if err := checkHTTPURL("p", "f", u, "x"); err == nil {
			t.Errorf("%s: accepted", u)
		}
	}
	re := regexp.MustCompile(`^[a-z]{2}-[a-z]+-[0-9]+$`)
	for _, r := range []string{"evil.example/", "cn-south-1.attacker.example#", "CN-SOUTH-1", "a-b-1/x"} {
		if err := checkRegion("p", "region", r, re, "cn-south-1"); err == nil {
			t.Errorf("region %q: accepted", r)
		}
	}
	if err := checkRegion("p", "region", "cn-south-1", re, "x"); err != nil {
		t.Error(err)
	}
}
