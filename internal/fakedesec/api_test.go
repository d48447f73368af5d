package fakedesec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const token = "desec-test-token_0123456789"

func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := Start(append([]Option{WithToken(token), WithDomain("example.com")}, opts...)...)
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

// call sends one request to https://desec.io through Client() without following redirects. It returns errors
// rather than failing, so goroutines may use it.
func call(s *Server, method, path, auth, body string) (answer, error) {
	req, err := http.NewRequest(method, "https://"+APIHost+path, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c := s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
}

func mustCall(t *testing.T, s *Server, method, path, body string) answer {
	t.Helper()
	a, err := call(s, method, path, "Token "+token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func wantJSON(t *testing.T, a answer, status int, want string) {
	t.Helper()
	if a.status != status {
		t.Errorf("status %d, want %d (body %s)", a.status, status, a.body)
	}
	if want == "" {
		return
	}
	var got, exp any
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", a.body, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Errorf("body %s, want %s", a.body, want)
	}
}

const rrsets = BasePath + "/domains/example.com/rrsets/"

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := start(t)
	tests := []struct {
		name, auth string
		status     int
		want       string
	}{
		{"none", "", 401, `{"detail": "Authentication credentials were not provided."}`},
		{"bearer is not deSEC's scheme", "Bearer " + token, 401, `{"detail": "Authentication credentials were not provided."}`},
		{"empty token", "Token ", 401, `{"detail": "Invalid token header. No credentials provided."}`},
		{"unknown token is echoed", "Token not-the-token", 401, `{"detail": "Invalid token \"not-the-token\"."}`},
		{"known token", "Token " + token, 200, ""},
		{"scheme is case-insensitive", "token " + token, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := call(s, "GET", BasePath+"/domains/", tt.auth, "")
			if err != nil {
				t.Fatal(err)
			}
			wantJSON(t, a, tt.status, tt.want)
			if tt.status == 401 && a.header.Get("WWW-Authenticate") != "Token" {
				t.Errorf("WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestDomains(t *testing.T) {
	t.Parallel()
	s := start(t, WithDomain("sub.example.com"), WithDomain("example.org."), WithMinimumTTL(60))
	a := mustCall(t, s, "GET", BasePath+"/domains/", "")
	var got []Domain
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range got {
		names = append(names, d.Name)
		if d.MinimumTTL != 60 {
			t.Errorf("%s: minimum_ttl %d, want 60", d.Name, d.MinimumTTL)
		}
	}
	if want := []string{"example.com", "example.org", "sub.example.com"}; !slices.Equal(names, want) {
		t.Errorf("domains %q, want %q", names, want)
	}
	a = mustCall(t, s, "GET", BasePath+"/domains/?owns_qname=_acme-challenge.a.sub.example.com", "")
	if !strings.Contains(a.body, `"name":"sub.example.com"`) || strings.Count(a.body, `"name"`) != 1 {
		t.Errorf("owns_qname: %s, want sub.example.com alone", a.body)
	}
	if a := mustCall(t, s, "GET", BasePath+"/domains/?owns_qname=example.net", ""); a.body != "[]" {
		t.Errorf("owns_qname of a foreign name: %s", a.body)
	}
	wantJSON(t, mustCall(t, s, "GET", BasePath+"/domains/example.net/", ""), 404, `{"detail": "Not found."}`)
	wantJSON(t, mustCall(t, s, "GET", BasePath+"/domains/example.net/rrsets/", ""), 404, `{"detail": "Not found."}`)
	if a := mustCall(t, s, "GET", BasePath+"/domains/example.org/", ""); a.status != 200 || !strings.Contains(a.body, `"minimum_ttl":60`) {
		t.Errorf("domain detail: %d %s", a.status, a.body)
	}
}

func TestRRsetWrites(t *testing.T) {
	t.Parallel()
	s := start(t)
	acme := rrsets + "_acme-challenge/TXT/"

	// POST creates; records are canonicalised (quoted, escaped).
	a := mustCall(t, s, "POST", rrsets, `{"subname": "_acme-challenge", "type": "TXT", "ttl": 3600, "records": ["\"one\"", "two"]}`)
	if a.status != 201 || !strings.Contains(a.body, `"records":["\"one\"","\"two\""]`) || !strings.Contains(a.body, `"name":"_acme-challenge.example.com."`) {
		t.Fatalf("POST: %d %s", a.status, a.body)
	}
	wantJSON(t, mustCall(t, s, "POST", rrsets, `{"subname": "_acme-challenge", "type": "TXT", "ttl": 3600, "records": ["\"x\""]}`), 400,
		`{"non_field_errors": ["Another RRset with the same subdomain and type exists for this domain. (Try modifying it.)"]}`)

	// PATCH and PUT replace the whole record list.
	a = mustCall(t, s, "PATCH", acme, `{"records": ["\"three\""]}`)
	if a.status != 200 || !strings.Contains(a.body, `"records":["\"three\""]`) || !strings.Contains(a.body, `"ttl":3600`) {
		t.Errorf("PATCH: %d %s", a.status, a.body)
	}
	a = mustCall(t, s, "PUT", acme, `{"subname": "_acme-challenge", "type": "TXT", "ttl": 7200, "records": ["\"four\"", "\"five\""]}`)
	if a.status != 200 || s.TXT("_acme-challenge.example.com.") == nil || !slices.Equal(s.TXT("_acme-challenge.example.com."), []string{"five", "four"}) {
		t.Errorf("PUT: %d %s; stored %q", a.status, a.body, s.TXT("_acme-challenge.example.com."))
	}
	wantJSON(t, mustCall(t, s, "PUT", acme, `{"type": "TXT", "ttl": 7200, "records": ["\"x\""]}`), 400, `{"subname": ["This field is required and must match the URL."]}`)

	// The minimum TTL, and DRF's wording.
	wantJSON(t, mustCall(t, s, "PATCH", acme, `{"ttl": 60}`), 400, `{"ttl": ["Ensure this value is greater than or equal to 3600."]}`)
	wantJSON(t, mustCall(t, s, "PATCH", acme, `{"ttl": 604801}`), 400, `{"ttl": ["Ensure this value is less than or equal to 604800."]}`)
	wantJSON(t, mustCall(t, s, "PATCH", acme, `{"records": ["\"a\"", "a"]}`), 400, `{"non_field_errors": ["Duplicate: records must be semantically unique"]}`)
	wantJSON(t, mustCall(t, s, "PATCH", acme, `{"records": ["\"unterminated"]}`), 400,
		`{"non_field_errors": ["Record content for type TXT malformed: unterminated quoted string"]}`)
	wantJSON(t, mustCall(t, s, "POST", rrsets, `{"subname": "x", "type": "txt", "ttl": 3600, "records": ["\"a\""]}`), 400,
		`{"type": ["The txt RR set type is currently unsupported."]}`)
	wantJSON(t, mustCall(t, s, "POST", rrsets, `{"subname": "x", "type": "SOA", "ttl": 3600, "records": ["a"]}`), 400,
		`{"type": ["You cannot tinker with the SOA RR set. It is managed automatically."]}`)
	wantJSON(t, mustCall(t, s, "POST", rrsets, `{"subname": "x", "type": "TXT", "records": []}`), 400,
		`{"ttl": ["This field is required."], "records": ["This field must not be empty when using POST."]}`)
	wantJSON(t, mustCall(t, s, "POST", rrsets, `{"subname": "Upper", "type": "TXT", "ttl": 3600, "records": ["a"]}`), 400, "")
	wantJSON(t, mustCall(t, s, "PATCH", rrsets+"nothing/TXT/", `{"records": ["\"a\""]}`), 404, `{"detail": "Not found."}`)

	// An empty record list, or DELETE, deletes; deleting what is gone is 204 too.
	if a := mustCall(t, s, "PATCH", acme, `{"records": []}`); a.status != 204 || a.body != "" {
		t.Errorf("PATCH records []: %d %q", a.status, a.body)
	}
	if got := s.TXT("_acme-challenge.example.com."); got != nil {
		t.Errorf("after emptying: %q", got)
	}
	if a := mustCall(t, s, "DELETE", acme, ""); a.status != 204 {
		t.Errorf("DELETE of nothing: %d", a.status)
	}
	wantJSON(t, mustCall(t, s, "GET", acme, ""), 404, `{"detail": "Not found."}`)

	// The apex is @ (or ...), and the list is newest first.
	mustCall(t, s, "POST", rrsets, `{"type": "TXT", "ttl": 3600, "records": ["\"apex\""]}`)
	if a := mustCall(t, s, "GET", rrsets+"@/TXT/", ""); a.status != 200 || !strings.Contains(a.body, `"subname":""`) {
		t.Errorf("apex via @: %d %s", a.status, a.body)
	}
	if a := mustCall(t, s, "GET", rrsets+".../TXT/", ""); a.status != 200 {
		t.Errorf("apex via ...: %d %s", a.status, a.body)
	}
	recs := s.Records("example.com")
	if len(recs) != 2 || recs[0].Type != "TXT" || recs[1].Type != "NS" {
		t.Errorf("records %+v, want the TXT before the NS (newest first)", recs)
	}
	a = mustCall(t, s, "GET", rrsets+"?type=NS", "")
	if strings.Count(a.body, `"type"`) != 1 || !strings.Contains(a.body, `"ns1.desec.io."`) {
		t.Errorf("?type=NS: %s", a.body)
	}
}

func TestTrailingSlashRedirect(t *testing.T) {
	t.Parallel()
	s := start(t)
	// Before authentication, as Django's CommonMiddleware answers it.
	a, err := call(s, "GET", rrsets+"_acme-challenge/TXT?x=1", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if a.status != 301 || a.header.Get("Location") != rrsets+"_acme-challenge/TXT/?x=1" {
		t.Errorf("%d Location %q", a.status, a.header.Get("Location"))
	}
	if a := mustCall(t, s, "GET", BasePath+"/nowhere/", ""); a.status != 404 {
		t.Errorf("unknown path: %d", a.status)
	}
}

func TestBulk(t *testing.T) {
	t.Parallel()
	s := start(t)
	// Bulk PUT creates, replaces and deletes at once, atomically.
	a := mustCall(t, s, "PUT", rrsets, `[
		{"subname": "a", "type": "TXT", "ttl": 3600, "records": ["\"1\""]},
		{"subname": "b", "type": "TXT", "ttl": 3600, "records": ["\"2\""]}]`)
	if a.status != 200 || strings.Count(a.body, `"subname"`) != 2 {
		t.Fatalf("bulk PUT: %d %s", a.status, a.body)
	}
	a = mustCall(t, s, "PUT", rrsets, `[
		{"subname": "a", "type": "TXT", "ttl": 3600, "records": []},
		{"subname": "b", "type": "TXT", "ttl": 3600, "records": ["\"3\""]},
		{"subname": "c", "type": "TXT", "ttl": 3600, "records": []}]`)
	if a.status != 200 || strings.Count(a.body, `"subname"`) != 1 {
		t.Errorf("bulk PUT with deletions: %d %s", a.status, a.body)
	}
	if s.TXT("a.example.com.") != nil || !slices.Equal(s.TXT("b.example.com."), []string{"3"}) {
		t.Errorf("after bulk PUT: a %q b %q", s.TXT("a.example.com."), s.TXT("b.example.com."))
	}
	// One bad RRset refuses the whole request; errors are listed in request order, {} for the good ones.
	wantJSON(t, mustCall(t, s, "PUT", rrsets, `[
		{"subname": "b", "type": "TXT", "ttl": 3600, "records": ["\"4\""]},
		{"subname": "d", "type": "TXT", "ttl": 60, "records": ["\"5\""]}]`), 400,
		`[{}, {"ttl": ["Ensure this value is greater than or equal to 3600."]}]`)
	if !slices.Equal(s.TXT("b.example.com."), []string{"3"}) {
		t.Errorf("a refused bulk request changed b: %q", s.TXT("b.example.com."))
	}
	wantJSON(t, mustCall(t, s, "PATCH", rrsets, `[
		{"subname": "e", "type": "TXT", "ttl": 3600, "records": ["\"1\""]},
		{"subname": "e", "type": "TXT", "ttl": 3600, "records": ["\"2\""]}]`), 400,
		`[{"non_field_errors": ["Same subname and type as in position(s) 1, but must be unique."]}, {"non_field_errors": ["Same subname and type as in position(s) 0, but must be unique."]}]`)
	wantJSON(t, mustCall(t, s, "PUT", rrsets, `[{"type": "TXT", "ttl": 3600, "records": ["\"1\""]}]`), 400, `[{"subname": ["This field is required."]}]`)
	wantJSON(t, mustCall(t, s, "PUT", rrsets, `{"subname": "a", "type": "TXT", "ttl": 3600, "records": ["\"1\""]}`), 400,
		`{"non_field_errors": ["Expected a list of items but got dict."]}`)
	// CNAME exclusivity.
	wantJSON(t, mustCall(t, s, "POST", rrsets, `{"subname": "b", "type": "CNAME", "ttl": 3600, "records": ["target.example.net."]}`), 400,
		`{"non_field_errors": ["RRset with conflicting type present: database (TXT). (No other RRsets are allowed alongside CNAME.)"]}`)
	a = mustCall(t, s, "POST", rrsets, `[{"subname": "f", "type": "TXT", "ttl": 3600, "records": ["\"1\""]}]`)
	if a.status != 201 || !strings.HasPrefix(a.body, "[") {
		t.Errorf("bulk POST: %d %s", a.status, a.body)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	s := start(t, WithPageSize(3))
	var items []string
	for i := range 6 { // and the NS: 7 RRsets
		items = append(items, fmt.Sprintf(`{"subname": "r%d", "type": "TXT", "ttl": 3600, "records": ["\"v\""]}`, i))
	}
	mustCall(t, s, "POST", rrsets, "["+strings.Join(items, ",")+"]")
	a := mustCall(t, s, "GET", rrsets, "")
	wantJSON(t, a, 400, `{"detail": "Pagination required. You can query up to 3 items at a time (7 total). Please use the `+"`first`"+` page link (see Link header)."}`)
	if l := a.header.Get("Link"); l != `<https://desec.io`+rrsets+`?cursor=>; rel="first"` {
		t.Errorf("Link %q", l)
	}
	seen := map[string]bool{}
	next := rrsets + "?cursor="
	pages := 0
	for next != "" {
		a := mustCall(t, s, "GET", next, "")
		if a.status != 200 {
			t.Fatalf("page %s: %d %s", next, a.status, a.body)
		}
		pages++
		var page []RRset
		if err := json.Unmarshal([]byte(a.body), &page); err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if seen[r.Name+r.Type] {
				t.Errorf("%s on two pages", r.Name)
			}
			seen[r.Name+r.Type] = true
		}
		next = ""
		for _, l := range strings.Split(a.header.Get("Link"), ", ") {
			if u, ok := strings.CutSuffix(l, `>; rel="next"`); ok {
				next = strings.TrimPrefix(u, "<https://desec.io")
			}
		}
	}
	if len(seen) != 7 || pages != 3 {
		t.Errorf("saw %d RRsets over %d pages, want 7 over 3", len(seen), pages)
	}
	wantJSON(t, mustCall(t, s, "GET", rrsets+"?cursor=bogus", ""), 404, `{"detail": "Invalid cursor"}`)
	// Within one page, ?cursor= is not needed, and not answered with Links.
	if a := mustCall(t, s, "GET", rrsets+"?type=NS&cursor=", ""); a.status != 200 || a.header.Get("Link") != "" {
		t.Errorf("small filtered list: %d Link %q", a.status, a.header.Get("Link"))
	}
}

func TestThrottlingAndFailures(t *testing.T) {
	t.Parallel()
	s := start(t)
	s.RateLimit(1, 1500*time.Millisecond)
	a := mustCall(t, s, "GET", rrsets, "")
	wantJSON(t, a, 429, `{"detail": "Request was throttled. Expected available in 2 seconds."}`)
	if a.header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After %q", a.header.Get("Retry-After"))
	}
	s.RateLimit(1, time.Second)
	wantJSON(t, mustCall(t, s, "GET", rrsets, ""), 429, `{"detail": "Request was throttled. Expected available in 1 second."}`)
	s.RateLimit(1, 0)
	a = mustCall(t, s, "GET", rrsets, "")
	wantJSON(t, a, 429, `{"detail": "Request was throttled."}`)
	if a.header.Get("Retry-After") != "" {
		t.Errorf("Retry-After %q, want none", a.header.Get("Retry-After"))
	}
	s.FailNext(1, 502)
	if a := mustCall(t, s, "GET", rrsets, ""); a.status != 502 || !strings.Contains(a.body, "<h1>502 Bad Gateway</h1>") {
		t.Errorf("502: %s", a.body)
	}
}

type recordingMirror struct {
	mu    sync.Mutex
	calls []string
	fail  bool
}

func (m *recordingMirror) AppendTXT(_ context.Context, fqdn, value string, ttl int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("append %s %s %d", fqdn, value, ttl))
	if m.fail {
		return errors.New("dns server refused")
	}
	return nil
}

func (m *recordingMirror) DeleteTXT(_ context.Context, fqdn, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("delete %s %s", fqdn, value))
	if m.fail {
		return errors.New("dns server refused")
	}
	return nil
}

func (m *recordingMirror) took() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.calls
	m.calls = nil
	return out
}

func TestMirror(t *testing.T) {
	t.Parallel()
	m := &recordingMirror{}
	s := start(t, WithMirror(m))
	const name = "_acme-challenge.example.com."
	steps := []struct {
		method, path, body string
		want               []string
	}{
		{"POST", rrsets, `{"subname": "_acme-challenge", "type": "TXT", "ttl": 3600, "records": ["\"a\""]}`, []string{"append " + name + " a 3600"}},
		{"PUT", rrsets, `[{"subname": "_acme-challenge", "type": "TXT", "ttl": 3600, "records": ["\"a\"", "\"b\""]}]`, []string{"append " + name + " b 3600"}},
		{"PATCH", rrsets + "_acme-challenge/TXT/", `{"records": ["\"b\""]}`, []string{"delete " + name + " a"}},
		{"DELETE", rrsets + "_acme-challenge/TXT/", "", []string{"delete " + name + " b"}},
		{"POST", rrsets, `{"subname": "www", "type": "A", "ttl": 3600, "records": ["192.0.2.1"]}`, nil},
	}
	for i, st := range steps {
		if a := mustCall(t, s, st.method, st.path, st.body); a.status >= 300 {
			t.Fatalf("step %d: %d %s", i, a.status, a.body)
		}
		if got := m.took(); !slices.Equal(got, st.want) {
			t.Errorf("step %d: mirror %q, want %q", i, got, st.want)
		}
	}
	m.mu.Lock()
	m.fail = true
	m.mu.Unlock()
	a := mustCall(t, s, "POST", rrsets, `{"subname": "_acme-challenge", "type": "TXT", "ttl": 3600, "records": ["\"c\""]}`)
	if a.status != 500 || !strings.Contains(a.body, "dns server refused") {
		t.Errorf("failing mirror: %d %s", a.status, a.body)
	}
	if got := s.TXT(name); got != nil {
		t.Errorf("store after a failed mirror: %q", got)
	}
}

func TestCanonical(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, err string }{
		{`"abc"`, `"abc"`, ""},
		{`abc`, `"abc"`, ""},
		{`"a b" c`, `"a b" "c"`, ""},
		{`"q\"uote" "back\\slash"`, `"q\"uote" "back\\slash"`, ""},
		{`"\065\066"`, `"AB"`, ""},
		{"\"tab\there\"", `"tab\009here"`, ""},
		{`"ümlaut"`, `"\195\188mlaut"`, ""},
		{`""`, `""`, ""},
		{``, ``, "expected a string"},
		{`"open`, ``, "unterminated"},
		{`"` + strings.Repeat("x", 256) + `"`, ``, "too long"},
	}
	for _, tt := range tests {
		got, err := canonical("TXT", tt.in)
		if (err != nil) != (tt.err != "") || (err != nil && !strings.Contains(err.Error(), tt.err)) || got != tt.want {
			t.Errorf("canonical(%s) = %s, %v; want %s, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}
