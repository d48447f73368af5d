package fakedigitalocean

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const token = "dop_v1_fake0123456789abcdef"

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

// call sends one request to https://api.digitalocean.com through Client(); auth is the whole Authorization
// header. It returns errors rather than failing, so goroutines may use it.
func call(s *Server, method, path, auth, body string) (answer, error) {
	req, err := http.NewRequest(method, "https://"+APIHost+path, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
}

func mustCall(t *testing.T, s *Server, method, path, body string) answer {
	t.Helper()
	a, err := call(s, method, path, "Bearer "+token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func wantError(t *testing.T, a answer, status int, id, msgPart string) {
	t.Helper()
	var e struct{ ID, Message string }
	if err := json.Unmarshal([]byte(a.body), &e); err != nil {
		t.Fatalf("body %q: %v", a.body, err)
	}
	if a.status != status || e.ID != id || !strings.Contains(e.Message, msgPart) {
		t.Errorf("%d %s, want %d %s containing %q", a.status, a.body, status, id, msgPart)
	}
}

func created(t *testing.T, a answer) Record {
	t.Helper()
	var root struct {
		Record Record `json:"domain_record"`
	}
	if err := json.Unmarshal([]byte(a.body), &root); err != nil || a.status != http.StatusCreated {
		t.Fatalf("create: %d %s (%v)", a.status, a.body, err)
	}
	return root.Record
}

const records = BasePath + "/domains/example.com/records"

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := start(t)
	for _, tt := range []struct{ name, auth, msg string }{
		{"none", "", "Unable to authenticate you"},
		{"not bearer", "Token " + token, "Unable to authenticate you"},
		{"unknown token is echoed", "Bearer dop_v1_leaked", `(token "dop_v1_leaked")`},
	} {
		a, err := call(s, "GET", records, tt.auth, "")
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, a, 401, "Unauthorized", tt.msg)
	}
	if a := mustCall(t, s, "GET", records, ""); a.status != 200 {
		t.Errorf("with the token: %d", a.status)
	}
}

func TestRecords(t *testing.T) {
	t.Parallel()
	s := start(t)
	a := created(t, mustCall(t, s, "POST", records, `{"type": "TXT", "name": "_acme-challenge", "data": "one", "priority": 0, "port": 0, "ttl": 0, "weight": 0, "flags": 0}`))
	b := created(t, mustCall(t, s, "POST", records, `{"type": "TXT", "name": "_acme-challenge.example.com.", "data": "two", "ttl": 60}`))
	dup := created(t, mustCall(t, s, "POST", records, `{"type": "TXT", "name": "_acme-challenge", "data": "one", "ttl": 60}`))
	if a.TTL != DefaultTTL || a.Priority != nil || b.Name != "_acme-challenge" || b.TTL != 60 || a.ID == b.ID || dup.ID == a.ID {
		t.Errorf("created %+v %+v %+v", a, b, dup)
	}
	// Two values at one name are two records; an identical one is a third.
	if got := s.TXT("example.com", "_acme-challenge"); !slices.Equal(got, []string{"one", "one", "two"}) {
		t.Errorf("TXT %q", got)
	}
	got := mustCall(t, s, "GET", records+"/"+strconv.Itoa(b.ID), "")
	if got.status != 200 || !strings.Contains(got.body, `"data":"two"`) || !strings.Contains(got.body, `"priority":null`) {
		t.Errorf("GET by id: %d %s", got.status, got.body)
	}
	if a := mustCall(t, s, "PUT", records+"/"+strconv.Itoa(b.ID), `{"type": "TXT", "name": "_acme-challenge", "data": "three", "ttl": 120}`); a.status != 200 || !strings.Contains(a.body, `"data":"three"`) {
		t.Errorf("PUT: %d %s", a.status, a.body)
	}
	// Delete by ID deletes exactly that record.
	if a := mustCall(t, s, "DELETE", records+"/"+strconv.Itoa(a.ID), ""); a.status != 204 || a.body != "" {
		t.Errorf("DELETE: %d %q", a.status, a.body)
	}
	if got := s.TXT("example.com", "_acme-challenge"); !slices.Equal(got, []string{"one", "three"}) {
		t.Errorf("after deleting one record %q", got)
	}
	wantError(t, mustCall(t, s, "DELETE", records+"/"+strconv.Itoa(a.ID), ""), 404, "not_found", "could not be found")
	wantError(t, mustCall(t, s, "DELETE", records+"/not-a-number", ""), 404, "not_found", "")
	wantError(t, mustCall(t, s, "DELETE", BasePath+"/domains/example.org/records/"+strconv.Itoa(b.ID), ""), 404, "not_found", "")
	wantError(t, mustCall(t, s, "GET", BasePath+"/domains/example.org/records", ""), 404, "not_found", "")

	wantError(t, mustCall(t, s, "POST", records, `{"type": "TXT", "name": "x", "data": "v", "ttl": 10}`), 422, "unprocessable_entity", "TTL must be at least 30")
	wantError(t, mustCall(t, s, "POST", records, `{"type": "BOGUS", "name": "x", "data": "v"}`), 422, "unprocessable_entity", "not a supported record type")
	wantError(t, mustCall(t, s, "POST", records, `{"type": "TXT", "name": "x"}`), 422, "unprocessable_entity", "Data can't be blank")
	wantError(t, mustCall(t, s, "POST", records, `{"type": "CNAME", "name": "_acme-challenge", "data": "t.example.net."}`), 422, "unprocessable_entity", "CNAME")
	wantError(t, mustCall(t, s, "POST", records, `{"type":`), 400, "bad_request", "")

	a2 := mustCall(t, s, "GET", records+"?type=TXT&name=_acme-challenge.example.com", "")
	if strings.Count(a2.body, `"type":"TXT"`) != 2 || !strings.Contains(a2.body, `"meta":{"total":2}`) {
		t.Errorf("filtered list: %s", a2.body)
	}
	if a := mustCall(t, s, "GET", BasePath+"/domains/example.com", ""); a.status != 200 || !strings.Contains(a.body, `"name":"example.com"`) {
		t.Errorf("domain: %d %s", a.status, a.body)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	s := start(t)
	for i := range 21 { // and 3 NS and the SOA: 25 records
		created(t, mustCall(t, s, "POST", records, fmt.Sprintf(`{"type": "TXT", "name": "r%d", "data": "v"}`, i)))
	}
	type listing struct {
		Records []Record `json:"domain_records"`
		Links   struct {
			Pages map[string]string `json:"pages"`
		} `json:"links"`
		Meta struct{ Total int } `json:"meta"`
	}
	get := func(path string) listing {
		var l listing
		a := mustCall(t, s, "GET", path, "")
		if err := json.Unmarshal([]byte(a.body), &l); err != nil || a.status != 200 {
			t.Fatalf("%s: %d %s", path, a.status, a.body)
		}
		return l
	}
	first := get(records)
	base := "https://" + APIHost + records
	if len(first.Records) != 20 || first.Meta.Total != 25 || first.Links.Pages["next"] != base+"?page=2&per_page=20" ||
		first.Links.Pages["last"] != base+"?page=2&per_page=20" || first.Links.Pages["prev"] != "" {
		t.Errorf("first page: %d records, links %v, total %d", len(first.Records), first.Links.Pages, first.Meta.Total)
	}
	second := get(records + "?page=2")
	if len(second.Records) != 5 || second.Links.Pages["prev"] != base+"?page=1&per_page=20" || second.Links.Pages["next"] != "" {
		t.Errorf("second page: %d records, links %v", len(second.Records), second.Links.Pages)
	}
	if l := get(records + "?per_page=500"); len(l.Records) != 25 || l.Links.Pages != nil {
		t.Errorf("per_page past 200 is clamped, one page: %d records, links %v", len(l.Records), l.Links.Pages)
	}
	if l := get(records + "?page=9"); len(l.Records) != 0 {
		t.Errorf("page past the end: %d records", len(l.Records))
	}
}

func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	s := start(t)
	a := mustCall(t, s, "GET", records, "")
	if a.header.Get("Ratelimit-Limit") != "5000" || a.header.Get("Ratelimit-Remaining") != "4999" || a.header.Get("Ratelimit-Reset") == "" {
		t.Errorf("headers %v", a.header)
	}
	s.RateLimit(1, 3*time.Second)
	a = mustCall(t, s, "GET", records, "")
	wantError(t, a, 429, "too_many_requests", "API Rate limit exceeded.")
	if a.header.Get("Retry-After") != "3" || a.header.Get("Ratelimit-Remaining") != "0" {
		t.Errorf("429 headers %v", a.header)
	}
	s.Limit(2, time.Minute, 0, true)
	mustCall(t, s, "GET", records, "")
	a = mustCall(t, s, "GET", records, "")
	if a.header.Get("Ratelimit-Limit") != "2" || a.header.Get("Ratelimit-Remaining") != "0" {
		t.Errorf("headers under a window %v", a.header)
	}
	a = mustCall(t, s, "GET", records, "")
	if a.status != 429 || a.header.Get("Retry-After") == "" {
		t.Errorf("past the window: %d %v", a.status, a.header)
	}
	s.Limit(0, 0, 0, false)
	s.FailNext(1, 503)
	wantError(t, mustCall(t, s, "GET", records, ""), 503, "server_error", "")
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
	const fqdn = "_acme-challenge.example.com."
	one := created(t, mustCall(t, s, "POST", records, `{"type": "TXT", "name": "_acme-challenge", "data": "one", "ttl": 60}`))
	dup := created(t, mustCall(t, s, "POST", records, `{"type": "TXT", "name": "_acme-challenge", "data": "one", "ttl": 60}`))
	apex := created(t, mustCall(t, s, "POST", records, `{"type": "TXT", "name": "@", "data": "at apex", "ttl": 60}`))
	if got, want := m.took(), []string{"append " + fqdn + " one 60", "append example.com. at apex 60"}; !slices.Equal(got, want) {
		t.Errorf("creates mirrored as %q, want %q (the duplicate is already in DNS)", got, want)
	}
	mustCall(t, s, "DELETE", records+"/"+strconv.Itoa(dup.ID), "")
	if got := m.took(); got != nil {
		t.Errorf("deleting one of two identical records mirrored %q, want nothing: the value is still there", got)
	}
	mustCall(t, s, "PUT", records+"/"+strconv.Itoa(one.ID), `{"data": "uno"}`)
	if got, want := m.took(), []string{"append " + fqdn + " uno 60", "delete " + fqdn + " one"}; !slices.Equal(got, want) {
		t.Errorf("edit mirrored as %q, want %q", got, want)
	}
	m.mu.Lock()
	m.fail = true
	m.mu.Unlock()
	wantError(t, mustCall(t, s, "DELETE", records+"/"+strconv.Itoa(apex.ID), ""), 500, "server_error", "dns server refused")
	wantError(t, mustCall(t, s, "POST", records, `{"type": "TXT", "name": "x", "data": "v"}`), 500, "server_error", "dns server refused")
	if got := s.TXT("example.com", "@"); !slices.Equal(got, []string{"at apex"}) || s.TXT("example.com", "x") != nil {
		t.Errorf("store after failed mirror calls: apex %q, x %q", got, s.TXT("example.com", "x"))
	}
}
