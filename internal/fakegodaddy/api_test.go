package fakegodaddy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

const (
	key, secret = "gd-fake-key-0123", "gd-fake-secret-0123456789"
	auth        = "sso-key " + key + ":" + secret
	txtPath     = "/v1/domains/example.com/records/TXT/_acme-challenge"
)

func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := Start(append([]Option{WithAPIKey(key, secret), WithDomain("example.com")}, opts...)...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

type answer struct {
	status int
	header http.Header
	body   string
}

// call sends one request to https://api.godaddy.com through Client(); authz is the whole Authorization header.
func call(t *testing.T, s *Server, method, path, authz, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+APIHost+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func wantError(t *testing.T, a answer, status int, code string, fieldPaths ...string) ErrorBody {
	t.Helper()
	var e ErrorBody
	if err := json.Unmarshal([]byte(a.body), &e); err != nil {
		t.Fatalf("body %q: %v", a.body, err)
	}
	var paths []string
	for _, f := range e.Fields {
		paths = append(paths, f.Path)
	}
	if a.status != status || e.Code != code || e.Message == "" || !slices.Equal(paths, fieldPaths) {
		t.Errorf("%d %s, want %d %s with fields %q", a.status, a.body, status, code, fieldPaths)
	}
	return e
}

func records(t *testing.T, a answer) []Record {
	t.Helper()
	var out []Record
	if a.status != http.StatusOK {
		t.Fatalf("GET: %d %s", a.status, a.body)
	}
	if err := json.Unmarshal([]byte(a.body), &out); err != nil {
		t.Fatalf("body %q: %v", a.body, err)
	}
	return out
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := start(t)
	wantError(t, call(t, s, "GET", txtPath, "", ""), 401, "MALFORMED_CREDENTIALS")
	wantError(t, call(t, s, "GET", txtPath, "sso-key "+key, ""), 401, "MALFORMED_CREDENTIALS")
	e := wantError(t, call(t, s, "GET", txtPath, "sso-key "+key+":leaked-secret", ""), 401, "UNABLE_TO_AUTHENTICATE")
	if !strings.Contains(e.Message, "leaked-secret") {
		t.Errorf("the unknown secret is not echoed (the webhook's redaction is tested against it): %q", e.Message)
	}
	if a := call(t, s, "GET", txtPath, auth, ""); a.status != 200 {
		t.Errorf("with the key: %d %s", a.status, a.body)
	}
	denied := start(t, WithAccessDenied())
	wantError(t, call(t, denied, "GET", txtPath, auth, ""), 403, "ACCESS_DENIED")
}

// TestPutReplacesTheSet is GoDaddy's semantics, and the trap of a client that PUTs one value: the sibling goes.
func TestPutReplacesTheSet(t *testing.T) {
	t.Parallel()
	s := start(t)
	if a := call(t, s, "PUT", txtPath, auth, `[{"data":"apex","ttl":600},{"data":"wildcard","ttl":600}]`); a.status != 200 {
		t.Fatalf("PUT: %d %s", a.status, a.body)
	}
	got := records(t, call(t, s, "GET", txtPath, auth, ""))
	if len(got) != 2 || got[0] != (Record{Data: "apex", Name: "_acme-challenge", TTL: 600, Type: "TXT"}) || got[1].Data != "wildcard" {
		t.Fatalf("GET after PUT of two: %+v", got)
	}
	if a := call(t, s, "PUT", txtPath, auth, `[{"data":"third","ttl":600}]`); a.status != 200 {
		t.Fatalf("PUT: %d %s", a.status, a.body)
	}
	if got := s.TXT("_acme-challenge.example.com."); !slices.Equal(got, []string{"third"}) {
		t.Errorf("after a one-value PUT: %q, want only that value", got)
	}
	// Other names and types stay; the type endpoint lists them, the domain endpoint everything.
	if a := call(t, s, "PUT", "/v1/domains/example.com/records/TXT/other", auth, `[{"data":"x"}]`); a.status != 200 {
		t.Fatalf("PUT: %d %s", a.status, a.body)
	}
	if got := records(t, call(t, s, "GET", "/v1/domains/example.com/records/TXT", auth, "")); len(got) != 2 || got[1].TTL != DefaultTTL {
		t.Errorf("TXT records: %+v", got)
	}
	if got := records(t, call(t, s, "GET", "/v1/domains/example.com/records", auth, "")); len(got) != 5 {
		t.Errorf("all records: %+v", got)
	}
	if a := call(t, s, "DELETE", txtPath, auth, ""); a.status != 204 || a.body != "" {
		t.Errorf("DELETE: %d %q", a.status, a.body)
	}
	if got := records(t, call(t, s, "GET", txtPath, auth, "")); len(got) != 0 {
		t.Errorf("after DELETE: %+v", got)
	}
	wantError(t, call(t, s, "DELETE", txtPath, auth, ""), 404, "NOT_FOUND")
	if got := s.TXT("other.example.com."); !slices.Equal(got, []string{"x"}) {
		t.Errorf("another name: %q", got)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	s := start(t)
	wantError(t, call(t, s, "PUT", txtPath, auth, `[{"data":"v","ttl":60}]`), 422, "INVALID_BODY", "records[0].ttl")
	wantError(t, call(t, s, "PUT", txtPath, auth, `[{"data":"v","ttl":600},{"data":"v","ttl":600}]`), 422, "INVALID_BODY", "records[1].data")
	wantError(t, call(t, s, "PUT", txtPath, auth, `[{"ttl":600}]`), 422, "INVALID_BODY", "records[0].data")
	wantError(t, call(t, s, "PUT", txtPath, auth, `[]`), 422, "INVALID_BODY", "records")
	wantError(t, call(t, s, "PUT", txtPath, auth, `{"data":"v"}`), 422, "INVALID_BODY", "records")
	wantError(t, call(t, s, "PUT", "/v1/domains/example.com/records/BOGUS/x", auth, `[{"data":"v"}]`), 422, "INVALID_VALUE", "type")
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		wantError(t, call(t, s, m, "/v1/domains/unknown.test/records/TXT/x", auth, `[{"data":"v"}]`), 404, "UNKNOWN_DOMAIN")
	}
	wantError(t, call(t, s, "GET", txtPath+"?offset=-1", auth, ""), 422, "INVALID_QUERY", "offset")
	wantError(t, call(t, s, "GET", txtPath+"?limit=zero", auth, ""), 422, "INVALID_QUERY", "limit")
	if got := s.TXT("_acme-challenge.example.com."); got != nil {
		t.Errorf("a refused PUT changed the store: %q", got)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	s := start(t, WithDomain("b.test"), WithDomain("c.test"), WithDomain("a.test"))
	if a := call(t, s, "PUT", txtPath, auth, `[{"data":"v0"},{"data":"v1"},{"data":"v2"},{"data":"v3"},{"data":"v4"}]`); a.status != 200 {
		t.Fatalf("PUT: %d %s", a.status, a.body)
	}
	var seen []string
	for offset := 0; ; {
		page := records(t, call(t, s, "GET", txtPath+"?limit=2&offset="+strconv.Itoa(offset), auth, ""))
		for _, r := range page {
			seen = append(seen, r.Data)
		}
		if len(page) < 2 {
			break
		}
		offset += len(page)
	}
	if !slices.Equal(seen, []string{"v0", "v1", "v2", "v3", "v4"}) {
		t.Errorf("paged records: %q", seen)
	}
	if got := records(t, call(t, s, "GET", txtPath+"?limit=100000", auth, "")); len(got) != 5 {
		t.Errorf("limit clamped: %d records", len(got))
	}
	var domains []string
	for marker := ""; ; {
		var page []struct {
			Domain string `json:"domain"`
		}
		a := call(t, s, "GET", "/v1/domains?limit=2&marker="+marker, auth, "")
		if err := json.Unmarshal([]byte(a.body), &page); err != nil || a.status != 200 {
			t.Fatalf("domains: %d %s", a.status, a.body)
		}
		for _, d := range page {
			domains = append(domains, d.Domain)
		}
		if len(page) < 2 {
			break
		}
		marker = page[len(page)-1].Domain
	}
	if !slices.Equal(domains, []string{"a.test", "b.test", "c.test", "example.com"}) {
		t.Errorf("domains: %q", domains)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	s := start(t)
	s.RateLimit(1, 2*time.Second)
	a := call(t, s, "GET", txtPath, auth, "")
	e := wantError(t, a, 429, "TOO_MANY_REQUESTS")
	if a.header.Get("Retry-After") != "2" || e.RetryAfterSec != 2 {
		t.Errorf("Retry-After %q, retryAfterSec %d, want 2 and 2", a.header.Get("Retry-After"), e.RetryAfterSec)
	}
	if a := call(t, s, "GET", txtPath, auth, ""); a.status != 200 {
		t.Errorf("after the 429: %d", a.status)
	}
}

// mirrorLog records the mirror calls.
type mirrorLog struct{ calls []string }

func (m *mirrorLog) AppendTXT(_ context.Context, fqdn, value string, _ int) error {
	m.calls = append(m.calls, "append "+fqdn+" "+value)
	return nil
}

func (m *mirrorLog) DeleteTXT(_ context.Context, fqdn, value string) error {
	m.calls = append(m.calls, "delete "+fqdn+" "+value)
	return nil
}

func TestMirrorOnlyTheDifference(t *testing.T) {
	t.Parallel()
	m := &mirrorLog{}
	s := start(t, WithMirror(m))
	call(t, s, "PUT", txtPath, auth, `[{"data":"a"},{"data":"b"}]`)
	call(t, s, "PUT", txtPath, auth, `[{"data":"b"},{"data":"c"}]`)
	call(t, s, "DELETE", txtPath, auth, "")
	call(t, s, "PUT", "/v1/domains/example.com/records/A/www", auth, `[{"data":"192.0.2.1"}]`)
	const n = "_acme-challenge.example.com."
	want := []string{"append " + n + " a", "append " + n + " b", "append " + n + " c", "delete " + n + " a", "delete " + n + " b", "delete " + n + " c"}
	if !slices.Equal(m.calls, want) {
		t.Errorf("mirror calls %q, want %q", m.calls, want)
	}
}

// TestWebhookWriterIntoBIND drives the fake with the webhook's own GoDaddy writer (the set strategy, with its
// Lease lock on a fake clientset), mirrored into a real BIND: the apex and the wildcard value are both served by
// DNS at once, and each cleanup removes exactly its own.
func TestWebhookWriterIntoBIND(t *testing.T) {
	t.Parallel()
	bind := testdns.Start(t, testdns.Zone{Name: "example.com.", Updatable: true})
	s := start(t, WithMirror(bind))
	e := providers.Default()["godaddy"]
	cfg := e.New()
	if err := json.Unmarshal([]byte(`{"api_token":"`+key+":"+secret+`"}`), cfg); err != nil {
		t.Fatal(err)
	}
	w, err := e.NewWriter(cfg, providers.Env{Path: "provider.godaddy", HTTPClient: s.Client(),
		Leases: &providers.LeaseLocks{Client: fake.NewClientset().CoordinationV1(), Namespace: "webhook", Identity: "fakegodaddy-test"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const fqdn = "_acme-challenge.example.com."
	zone, err := w.FindZone(ctx, fqdn)
	if err != nil || zone != "example.com." {
		t.Fatalf("zone %q, %v", zone, err)
	}
	rec := func(v string) providers.Record {
		return providers.Record{Zone: zone, FQDN: fqdn, Value: v, TTL: 600 * time.Second, DNSName: "example.com."}
	}
	lookup := func() []string {
		t.Helper()
		got, err := bind.LookupTXT(fqdn)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	for _, v := range []string{"apex-value", "wildcard-value", "apex-value"} {
		if err := w.Present(ctx, rec(v)); err != nil {
			t.Fatalf("Present %s: %v", v, err)
		}
	}
	if got := lookup(); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("DNS serves %q, want both values", got)
	}
	if err := w.CleanUp(ctx, rec("apex-value")); err != nil {
		t.Fatal(err)
	}
	if got := lookup(); !slices.Equal(got, []string{"wildcard-value"}) {
		t.Fatalf("DNS serves %q after the apex's cleanup, want the wildcard's value", got)
	}
	for range 2 { // the second is a cleanup of what is gone
		if err := w.CleanUp(ctx, rec("wildcard-value")); err != nil {
			t.Fatal(err)
		}
	}
	if got := lookup(); len(got) != 0 {
		t.Fatalf("DNS serves %q after both cleanups", got)
	}
}
