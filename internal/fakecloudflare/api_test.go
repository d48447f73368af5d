package fakecloudflare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testToken = "test-token_0123456789"
	zoneToken = "zone-read-token"
)

func newServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := New(append([]Option{WithToken(testToken), WithZoneReadToken(zoneToken), WithZone("example.com")}, opts...)...)
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

type result struct {
	status int
	header http.Header
	resp   Response
}

func (r result) codes() []int {
	var out []int
	for _, e := range r.resp.Errors {
		out = append(out, e.Code)
		for _, c := range e.ErrorChain {
			out = append(out, c.Code)
		}
	}
	return out
}

func bearer(token string) string { return "Bearer " + token }

// echoed is what the fake appends to the first error message of a request that carried token.
func echoed(token string) string { return " (token: " + token + ")" }

// call sends one request to the fake through Client(), as a client of
// https://api.cloudflare.com would, and decodes the envelope. auth is the
// whole Authorization header; empty sends none. path is below BasePath.
func call(t *testing.T, s *Server, method, path, auth string, body any) result {
	t.Helper()
	r, err := send(s, method, path, auth, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// send is call for goroutines other than the test's, which must not use
// t.Fatal: it checks the envelope and returns what is wrong as an error.
func send(s *Server, method, path, auth string, body any) (result, error) {
	var r result
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return r, err
		}
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, "https://"+APIHost+BasePath+path, rd)
	if err != nil {
		return r, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	r.status, r.header = resp.StatusCode, resp.Header
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return r, fmt.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r.resp); err != nil {
		return r, fmt.Errorf("decode envelope: %w", err)
	}
	if r.resp.Success != (len(r.resp.Errors) == 0) {
		return r, fmt.Errorf("success=%v with errors %+v", r.resp.Success, r.resp.Errors)
	}
	if r.resp.Errors == nil || r.resp.Messages == nil {
		return r, fmt.Errorf("errors and messages must be arrays, got %+v", r.resp)
	}
	return r, nil
}

func recordsPath(t *testing.T, s *Server) string {
	t.Helper()
	id, ok := s.ZoneID("example.com")
	if !ok {
		t.Fatal("zone example.com missing")
	}
	return "/zones/" + id + "/dns_records"
}

func decodeResult[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.resp.Result, &v); err != nil {
		t.Fatalf("decode result %s: %v", r.resp.Result, err)
	}
	return v
}

func wantError(t *testing.T, r result, status int, codes ...int) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (errors %+v)", r.status, status, r.resp.Errors)
	}
	if got := fmt.Sprint(r.codes()); got != fmt.Sprint(codes) {
		t.Errorf("error codes %s, want %v (%+v)", got, codes, r.resp.Errors)
	}
	if string(r.resp.Result) != "null" {
		t.Errorf("result %s on error, want null", r.resp.Result)
	}
}

func TestAuthentication(t *testing.T) {
	s := newServer(t)
	records := recordsPath(t, s)
	tests := []struct {
		name   string
		method string
		path   string
		auth   string
		status int
		codes  []int
	}{
		{"no header", "GET", "/zones", "", 400, []int{9106}},
		{"not bearer", "GET", "/zones", "Basic dXNlcjpwYXNz", 400, []int{6003, 6111}},
		{"bearer without token", "GET", "/zones", "Bearer", 400, []int{6003, 6111}},
		{"malformed token", "GET", "/zones", "Bearer bad token!", 400, []int{6003, 6111}},
		{"unknown token", "GET", "/zones", bearer("wrong"), 403, []int{9109}},
		{"unknown token on records", "GET", records, bearer("wrong"), 403, []int{9109}},
		{"zone token lists zones", "GET", "/zones", bearer(zoneToken), 200, nil},
		{"zone token cannot list records", "GET", records, bearer(zoneToken), 403, []int{10000}},
		{"zone token cannot create records", "POST", records, bearer(zoneToken), 403, []int{10000}},
		{"api token lists zones", "GET", "/zones", bearer(testToken), 200, nil},
		{"api token lists records", "GET", records, bearer(testToken), 200, nil},
		{"scheme is case-insensitive", "GET", "/zones", "bearer " + testToken, 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, s, tt.method, tt.path, tt.auth, nil)
			if tt.status == 200 {
				if r.status != 200 || !r.resp.Success {
					t.Fatalf("status %d errors %+v, want success", r.status, r.resp.Errors)
				}
				return
			}
			wantError(t, r, tt.status, tt.codes...)
		})
	}
}

func TestRoutes(t *testing.T) {
	s := newServer(t)
	id, _ := s.ZoneID("example.com")
	tests := []struct {
		name   string
		method string
		path   string
		status int
		codes  []int
	}{
		{"unknown zone", "GET", "/zones/0000000000000000000000000000dead/dns_records", 400, []int{7003, 7000}},
		{"zone name instead of id", "GET", "/zones/example.com/dns_records", 400, []int{7003, 7000}},
		{"unknown endpoint", "GET", "/zones/" + id + "/settings", 400, []int{7003, 7000}},
		{"unknown top level", "GET", "/user/tokens/verify", 400, []int{7003, 7000}},
		{"post zones", "POST", "/zones", 405, []int{7001}},
		{"delete record list", "DELETE", "/zones/" + id + "/dns_records", 405, []int{7001}},
		{"unknown record", "GET", "/zones/" + id + "/dns_records/0123", 404, []int{81044}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, call(t, s, tt.method, tt.path, bearer(testToken), nil), tt.status, tt.codes...)
		})
	}
	t.Run("7003 names the path", func(t *testing.T) {
		r := call(t, s, "GET", "/zones/nope/dns_records", bearer(testToken), nil)
		want := "Could not route to /client/v4/zones/nope/dns_records, perhaps your object identifier is invalid?" + echoed(testToken)
		if r.resp.Errors[0].Message != want {
			t.Errorf("message %q, want %q", r.resp.Errors[0].Message, want)
		}
	})
	t.Run("get zone", func(t *testing.T) {
		r := call(t, s, "GET", "/zones/"+id, bearer(zoneToken), nil)
		z := decodeResult[Zone](t, r)
		if r.status != 200 || z.ID != id || z.Name != "example.com" || z.Status != "active" {
			t.Errorf("got %d %+v", r.status, z)
		}
	})
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestCreateRecord(t *testing.T) {
	tests := []struct {
		name     string
		body     any
		wantName string
		wantTTL  int
		status   int
		codes    []int
	}{
		{"relative name", map[string]any{"type": "TXT", "name": "_acme-challenge", "content": `"v1"`, "ttl": 120}, "_acme-challenge.example.com", 120, 200, nil},
		{"apex", map[string]any{"type": "TXT", "name": "@", "content": "v"}, "example.com", 1, 200, nil},
		{"absolute name", map[string]any{"type": "A", "name": "www.example.com", "content": "192.0.2.1", "ttl": 60}, "www.example.com", 60, 200, nil},
		{"absolute name with dot, upper case", map[string]any{"type": "a", "name": "WWW2.Example.COM.", "content": "192.0.2.1"}, "www2.example.com", 1, 200, nil},
		{"foreign suffix is made relative", map[string]any{"type": "TXT", "name": "x.example.org", "content": "v"}, "x.example.org.example.com", 1, 200, nil},
		{"ttl 0 is automatic", map[string]any{"type": "TXT", "name": "t0", "content": "v", "ttl": 0}, "t0.example.com", 1, 200, nil},
		{"ttl 86400", map[string]any{"type": "TXT", "name": "tmax", "content": "v", "ttl": 86400}, "tmax.example.com", 86400, 200, nil},
		{"ttl 59", map[string]any{"type": "TXT", "name": "t", "content": "v", "ttl": 59}, "", 0, 400, []int{1004, 9021}},
		{"ttl 86401", map[string]any{"type": "TXT", "name": "t", "content": "v", "ttl": 86401}, "", 0, 400, []int{1004, 9021}},
		{"bad A content", map[string]any{"type": "A", "name": "a", "content": "2001:db8::1"}, "", 0, 400, []int{1004, 9005}},
		{"bad AAAA content", map[string]any{"type": "AAAA", "name": "a", "content": "192.0.2.1"}, "", 0, 400, []int{1004, 9005}},
		{"empty TXT", map[string]any{"type": "TXT", "name": "a", "content": ""}, "", 0, 400, []int{1004, 9005}},
		{"proxied TXT", map[string]any{"type": "TXT", "name": "a", "content": "v", "proxied": true}, "", 0, 400, []int{1004, 9004}},
		{"unknown type", map[string]any{"type": "BOGUS", "name": "a", "content": "v"}, "", 0, 400, []int{1004, 9020}},
		{"missing name", map[string]any{"type": "TXT", "content": "v"}, "", 0, 400, []int{1004, 9000}},
		{"not JSON", `{"type":`, "", 0, 400, []int{9207}},
		{"wrong field type", `{"type":"TXT","name":"a","content":"v","ttl":"120"}`, "", 0, 400, []int{9207}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			r := call(t, s, "POST", recordsPath(t, s), bearer(testToken), tt.body)
			if tt.status != 200 {
				wantError(t, r, tt.status, tt.codes...)
				if n := len(s.Records("example.com")); n != 0 {
					t.Errorf("%d records stored after an error", n)
				}
				return
			}
			if r.status != 200 {
				t.Fatalf("status %d errors %+v", r.status, r.resp.Errors)
			}
			rec := decodeResult[Record](t, r)
			zoneID, _ := s.ZoneID("example.com")
			if rec.Name != tt.wantName || rec.TTL != tt.wantTTL || rec.ZoneID != zoneID || rec.ZoneName != "example.com" ||
				!hexID.MatchString(rec.ID) || rec.CreatedOn.IsZero() || rec.ModifiedOn.IsZero() {
				t.Errorf("created %+v, want name %q ttl %d", rec, tt.wantName, tt.wantTTL)
			}
			stored := s.Records("example.com")
			if len(stored) != 1 || stored[0].ID != rec.ID {
				t.Errorf("stored %+v", stored)
			}
		})
	}
	t.Run("TXT content is stored as sent", func(t *testing.T) {
		s := newServer(t)
		r := call(t, s, "POST", recordsPath(t, s), bearer(testToken), map[string]any{"type": "TXT", "name": "q", "content": `"quoted"`})
		if rec := decodeResult[Record](t, r); rec.Content != `"quoted"` || rec.Proxiable {
			t.Errorf("got %+v", rec)
		}
	})
}

func TestDuplicatesAndConflicts(t *testing.T) {
	seed := []map[string]any{
		{"type": "TXT", "name": "_acme-challenge", "content": `"abc"`},
		{"type": "CNAME", "name": "alias", "content": "target.example.net"},
		{"type": "A", "name": "host", "content": "192.0.2.1"},
		{"type": "MX", "name": "@", "content": "mx.example.com", "priority": 10},
	}
	tests := []struct {
		name   string
		body   map[string]any
		status int
		codes  []int
	}{
		{"identical TXT", map[string]any{"type": "TXT", "name": "_acme-challenge", "content": `"abc"`}, 400, []int{81058}},
		{"same TXT unquoted", map[string]any{"type": "TXT", "name": "_acme-challenge.example.com", "content": "abc"}, 400, []int{81058}},
		{"other TXT value", map[string]any{"type": "TXT", "name": "_acme-challenge", "content": `"abd"`}, 200, nil},
		{"TXT value differs in case", map[string]any{"type": "TXT", "name": "_acme-challenge", "content": `"ABC"`}, 200, nil},
		{"identical CNAME", map[string]any{"type": "CNAME", "name": "alias", "content": "Target.example.net."}, 400, []int{81058}},
		{"identical A", map[string]any{"type": "A", "name": "HOST", "content": "192.0.2.1"}, 400, []int{81058}},
		{"second A", map[string]any{"type": "A", "name": "host", "content": "192.0.2.2"}, 200, nil},
		{"MX other priority", map[string]any{"type": "MX", "name": "@", "content": "mx.example.com", "priority": 20}, 200, nil},
		{"CNAME over A", map[string]any{"type": "CNAME", "name": "host", "content": "x.example.net"}, 400, []int{81053}},
		{"CNAME over TXT", map[string]any{"type": "CNAME", "name": "_acme-challenge", "content": "x.example.net"}, 400, []int{81053}},
		{"other CNAME", map[string]any{"type": "CNAME", "name": "alias", "content": "other.example.net"}, 400, []int{81053}},
		{"A next to CNAME", map[string]any{"type": "A", "name": "alias", "content": "192.0.2.1"}, 400, []int{81054}},
		{"TXT next to CNAME", map[string]any{"type": "TXT", "name": "alias", "content": "v"}, 400, []int{81054}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			path := recordsPath(t, s)
			for _, b := range seed {
				if r := call(t, s, "POST", path, bearer(testToken), b); r.status != 200 {
					t.Fatalf("seed %v: %d %+v", b, r.status, r.resp.Errors)
				}
			}
			r := call(t, s, "POST", path, bearer(testToken), tt.body)
			if tt.status == 200 {
				if r.status != 200 {
					t.Fatalf("status %d errors %+v", r.status, r.resp.Errors)
				}
				return
			}
			wantError(t, r, tt.status, tt.codes...)
			if n := len(s.Records("example.com")); n != len(seed) {
				t.Errorf("%d records after a refused create, want %d", n, len(seed))
			}
		})
	}
	t.Run("81058 message", func(t *testing.T) {
		s := newServer(t)
		body := map[string]any{"type": "TXT", "name": "d", "content": "v"}
		call(t, s, "POST", recordsPath(t, s), bearer(testToken), body)
		r := call(t, s, "POST", recordsPath(t, s), bearer(testToken), body)
		if msg := r.resp.Errors[0].Message; msg != "An identical record already exists."+echoed(testToken) {
			t.Errorf("message %q", msg)
		}
	})
}

func TestListRecords(t *testing.T) {
	s := newServer(t)
	path := recordsPath(t, s)
	for _, b := range []map[string]any{
		{"type": "TXT", "name": "_acme-challenge", "content": `"token-One"`},
		{"type": "TXT", "name": "_acme-challenge", "content": `"token-two"`},
		{"type": "TXT", "name": "_acme-challenge.sub", "content": `"token-one"`},
		{"type": "TXT", "name": "other", "content": "plain"},
		{"type": "A", "name": "_acme-challenge", "content": "192.0.2.1"},
		{"type": "A", "name": "www", "content": "192.0.2.2"},
		{"type": "AAAA", "name": "www", "content": "2001:db8::1"},
	} {
		if r := call(t, s, "POST", path, bearer(testToken), b); r.status != 200 {
			t.Fatalf("seed %v: %d %+v", b, r.status, r.resp.Errors)
		}
	}
	tests := []struct {
		query string
		want  []string // "TYPE name content"
	}{
		{"type=TXT&name=_acme-challenge.example.com", []string{`TXT _acme-challenge.example.com "token-One"`, `TXT _acme-challenge.example.com "token-two"`}},
		{"type=TXT&name=_ACME-challenge.example.com.", []string{`TXT _acme-challenge.example.com "token-One"`, `TXT _acme-challenge.example.com "token-two"`}},
		{"name=_acme-challenge", nil},
		{"type=txt&name.exact=_acme-challenge.example.com&content.contains=token-one", []string{`TXT _acme-challenge.example.com "token-One"`}},
		{"type=TXT&content=plain", []string{"TXT other.example.com plain"}},
		{"type=TXT&content.exact=%22token-two%22", []string{`TXT _acme-challenge.example.com "token-two"`}},
		{"content.startswith=192.0.2.", []string{"A _acme-challenge.example.com 192.0.2.1", "A www.example.com 192.0.2.2"}},
		{"name.endswith=sub.example.com", []string{`TXT _acme-challenge.sub.example.com "token-one"`}},
		{"match=any&type=AAAA&content=plain", []string{"AAAA www.example.com 2001:db8::1", "TXT other.example.com plain"}},
		{"type=MX", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := call(t, s, "GET", path+"?"+tt.query, bearer(testToken), nil)
			var got []string
			for _, rec := range decodeResult[[]Record](t, r) {
				got = append(got, rec.Type+" "+rec.Name+" "+rec.Content)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
			if info := r.resp.ResultInfo; info == nil || info.Count != len(tt.want) || info.TotalCount != len(tt.want) || info.PerPage != 100 {
				t.Errorf("result_info %+v", info)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	s := newServer(t)
	path := recordsPath(t, s)
	for i := range 7 {
		call(t, s, "POST", path, bearer(testToken), map[string]any{"type": "TXT", "name": fmt.Sprintf("r%d", i), "content": "v"})
	}
	for i := range 23 {
		s.AddZone(fmt.Sprintf("zone%02d.test.", i))
	}
	tests := []struct {
		path     string
		wantInfo ResultInfo
	}{
		{path + "?per_page=3&page=1", ResultInfo{Page: 1, PerPage: 3, Count: 3, TotalCount: 7, TotalPages: 3}},
		{path + "?per_page=3&page=3", ResultInfo{Page: 3, PerPage: 3, Count: 1, TotalCount: 7, TotalPages: 3}},
		{path + "?per_page=3&page=4", ResultInfo{Page: 4, PerPage: 3, Count: 0, TotalCount: 7, TotalPages: 3}},
		{path + "?per_page=0", ResultInfo{Page: 1, PerPage: 1, Count: 1, TotalCount: 7, TotalPages: 7}},
		{path + "?page=zero", ResultInfo{Page: 1, PerPage: 100, Count: 7, TotalCount: 7, TotalPages: 1}},
		{path + "?type=MX", ResultInfo{Page: 1, PerPage: 100, Count: 0, TotalCount: 0, TotalPages: 0}},
		{"/zones", ResultInfo{Page: 1, PerPage: 20, Count: 20, TotalCount: 24, TotalPages: 2}},
		{"/zones?page=2", ResultInfo{Page: 2, PerPage: 20, Count: 4, TotalCount: 24, TotalPages: 2}},
		{"/zones?per_page=100", ResultInfo{Page: 1, PerPage: 50, Count: 24, TotalCount: 24, TotalPages: 1}},
		{"/zones?per_page=1", ResultInfo{Page: 1, PerPage: 5, Count: 5, TotalCount: 24, TotalPages: 5}},
		{"/zones?name=example.com.", ResultInfo{Page: 1, PerPage: 20, Count: 1, TotalCount: 1, TotalPages: 1}},
		{"/zones?name=EXAMPLE.com", ResultInfo{Page: 1, PerPage: 20, Count: 1, TotalCount: 1, TotalPages: 1}},
		{"/zones?name=example.org", ResultInfo{Page: 1, PerPage: 20, Count: 0, TotalCount: 0, TotalPages: 0}},
		{"/zones?status=pending", ResultInfo{Page: 1, PerPage: 20, Count: 0, TotalCount: 0, TotalPages: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := call(t, s, "GET", tt.path, bearer(testToken), nil)
			if r.resp.ResultInfo == nil || *r.resp.ResultInfo != tt.wantInfo {
				t.Errorf("result_info %+v, want %+v", r.resp.ResultInfo, tt.wantInfo)
			}
			if n := len(decodeResult[[]json.RawMessage](t, r)); n != tt.wantInfo.Count {
				t.Errorf("%d results, count %d", n, tt.wantInfo.Count)
			}
		})
	}
	t.Run("pages do not overlap", func(t *testing.T) {
		seen := map[string]bool{}
		for page := 1; page <= 3; page++ {
			r := call(t, s, "GET", fmt.Sprintf("%s?per_page=3&page=%d", path, page), bearer(testToken), nil)
			for _, rec := range decodeResult[[]Record](t, r) {
				if seen[rec.ID] {
					t.Errorf("record %s on two pages", rec.ID)
				}
				seen[rec.ID] = true
			}
		}
		if len(seen) != 7 {
			t.Errorf("saw %d records over all pages, want 7", len(seen))
		}
	})
	t.Run("zones are sorted and active", func(t *testing.T) {
		zones := decodeResult[[]Zone](t, call(t, s, "GET", "/zones?per_page=50", bearer(testToken), nil))
		for i, z := range zones {
			if z.Status != "active" || !hexID.MatchString(z.ID) || (i > 0 && zones[i-1].Name >= z.Name) {
				t.Errorf("zone %d: %+v", i, z)
			}
		}
	})
}

func TestDeleteRecord(t *testing.T) {
	s := newServer(t)
	path := recordsPath(t, s)
	rec := decodeResult[Record](t, call(t, s, "POST", path, bearer(testToken), map[string]any{"type": "TXT", "name": "d", "content": "v"}))

	r := call(t, s, "DELETE", path+"/"+rec.ID, bearer(testToken), nil)
	if got := decodeResult[map[string]string](t, r); r.status != 200 || len(got) != 1 || got["id"] != rec.ID {
		t.Errorf("delete: %d %s", r.status, r.resp.Result)
	}
	if n := len(s.Records("example.com")); n != 0 {
		t.Errorf("%d records after delete", n)
	}
	wantError(t, call(t, s, "DELETE", path+"/"+rec.ID, bearer(testToken), nil), 404, 81044)
	if msg := call(t, s, "DELETE", path+"/"+rec.ID, bearer(testToken), nil).resp.Errors[0].Message; msg != "Record does not exist."+echoed(testToken) {
		t.Errorf("message %q", msg)
	}
}

func TestUpdateRecord(t *testing.T) {
	s := newServer(t)
	path := recordsPath(t, s)
	a := decodeResult[Record](t, call(t, s, "POST", path, bearer(testToken), map[string]any{"type": "TXT", "name": "u", "content": "one", "ttl": 120}))
	call(t, s, "POST", path, bearer(testToken), map[string]any{"type": "TXT", "name": "u", "content": "two"})

	tests := []struct {
		name   string
		method string
		body   any
		check  func(Record) bool
		status int
		codes  []int
	}{
		{"patch content keeps the rest", "PATCH", map[string]any{"content": "three"}, func(r Record) bool {
			return r.Content == "three" && r.TTL == 120 && r.Name == "u.example.com" && r.ID == a.ID && r.CreatedOn.Equal(a.CreatedOn)
		}, 200, nil},
		{"patch ttl", "PATCH", map[string]any{"ttl": 300}, func(r Record) bool { return r.TTL == 300 }, 200, nil},
		{"patch into duplicate", "PATCH", map[string]any{"content": `"two"`}, nil, 400, []int{81058}},
		{"patch bad ttl", "PATCH", map[string]any{"ttl": 5}, nil, 400, []int{1004, 9021}},
		{"put replaces", "PUT", map[string]any{"type": "TXT", "name": "v", "content": "four"}, func(r Record) bool {
			return r.Content == "four" && r.Name == "v.example.com" && r.TTL == 1
		}, 200, nil},
		{"put needs name", "PUT", map[string]any{"type": "TXT", "content": "four"}, nil, 400, []int{1004, 9000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, s, tt.method, path+"/"+a.ID, bearer(testToken), tt.body)
			if tt.status != 200 {
				wantError(t, r, tt.status, tt.codes...)
				return
			}
			if rec := decodeResult[Record](t, r); r.status != 200 || !tt.check(rec) {
				t.Errorf("%d %+v", r.status, rec)
			}
		})
	}
	wantError(t, call(t, s, "PATCH", path+"/00000000000000000000000000000000", bearer(testToken), map[string]any{"ttl": 60}), 404, 81044)
}

func TestFaults(t *testing.T) {
	s := newServer(t)
	path := recordsPath(t, s)
	create := func(name string) result {
		return call(t, s, "POST", path, bearer(testToken), map[string]any{"type": "TXT", "name": name, "content": "v"})
	}

	s.RateLimit(2, 1500*time.Millisecond, Match{Method: "POST", PathPrefix: BasePath + "/zones/"})
	if r := call(t, s, "GET", "/zones", bearer(testToken), nil); r.status != 200 {
		t.Errorf("GET hit by a POST-only rate limit: %d", r.status)
	}
	for i := range 2 {
		r := create(fmt.Sprint("rl", i))
		wantError(t, r, 429, 971)
		if got := r.header.Get("Retry-After"); got != "2" {
			t.Errorf("Retry-After %q, want 2 (1.5s rounded up)", got)
		}
		if msg := r.resp.Errors[0].Message; msg != "Please wait and consider throttling your request speed"+echoed(testToken) {
			t.Errorf("message %q", msg)
		}
	}
	if r := create("rl-after"); r.status != 200 {
		t.Errorf("third POST: %d %+v", r.status, r.resp.Errors)
	}

	// Faults come before authentication, like Cloudflare's limiter.
	s.RateLimit(1, 0)
	r := call(t, s, "GET", "/zones", "", nil)
	wantError(t, r, 429, 971)
	if got := r.header.Get("Retry-After"); got != "0" {
		t.Errorf("Retry-After %q, want 0", got)
	}

	s.FailNext(2, http.StatusServiceUnavailable)
	wantError(t, call(t, s, "GET", "/zones", bearer(testToken), nil), 503, 503)
	wantError(t, create("fail"), 503, 503)
	if r := create("fail"); r.status != 200 {
		t.Errorf("after faults: %d", r.status)
	}
	if n := len(s.Records("example.com")); n != 2 {
		t.Errorf("%d records, want 2: faulted requests must not change the store", n)
	}

	// Faults apply in the order they were added.
	s.FailNext(1, 502)
	s.RateLimit(1, time.Second)
	wantError(t, call(t, s, "GET", "/zones", bearer(testToken), nil), 502, 502)
	wantError(t, call(t, s, "GET", "/zones", bearer(testToken), nil), 429, 971)
}

// TestErrorsEchoToken: every failed answer, the handler's and the faults' alike, shows the token the request
// carried, so that a client that fails to redact it is caught; successes and requests without a token show none.
func TestErrorsEchoToken(t *testing.T) {
	s := newServer(t)
	records := recordsPath(t, s)
	const stranger = "stranger-token-0123456789"
	first := func(r result) string {
		if len(r.resp.Errors) == 0 {
			return ""
		}
		return r.resp.Errors[0].Message
	}
	for _, tc := range []struct {
		name  string
		fault func()
		auth  string
		path  string
		want  string
	}{
		{"unknown token", nil, bearer(stranger), "/zones", "Invalid access token" + echoed(stranger)},
		{"not found", nil, bearer(testToken), records + "/0123456789abcdef0123456789abcdef", "Record does not exist." + echoed(testToken)},
		{"rate limited", func() { s.RateLimit(1, time.Second) }, bearer(testToken), "/zones", "Please wait and consider throttling your request speed" + echoed(testToken)},
		{"server error", func() { s.FailNext(1, http.StatusBadGateway) }, bearer(stranger), "/zones", "Bad Gateway" + echoed(stranger)},
		{"no token", nil, "", "/zones", "Missing X-Auth-Key, X-Auth-Email or Authorization headers"},
		{"success", nil, bearer(testToken), "/zones", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault != nil {
				tc.fault()
			}
			if got := first(call(t, s, "GET", tc.path, tc.auth, nil)); got != tc.want {
				t.Errorf("first error message %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRequestLog(t *testing.T) {
	s := newServer(t)
	path := recordsPath(t, s)
	call(t, s, "GET", "/zones?name=example.com", bearer(zoneToken), nil)
	call(t, s, "POST", path, bearer(testToken), map[string]any{"type": "TXT", "name": "l", "content": "v"})
	call(t, s, "GET", path+"?type=TXT&page=2", bearer(testToken), nil)
	call(t, s, "GET", "/zones", "", nil)

	reqs := s.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests logged: %+v", len(reqs), reqs)
	}
	want := []Request{
		{Method: "GET", Path: BasePath + "/zones", Query: url.Values{"name": {"example.com"}}, Status: 200},
		{Method: "POST", Path: BasePath + path, Query: url.Values{}, Status: 200},
		{Method: "GET", Path: BasePath + path, Query: url.Values{"type": {"TXT"}, "page": {"2"}}, Status: 200},
		{Method: "GET", Path: BasePath + "/zones", Query: url.Values{}, Status: 400},
	}
	for i := range want {
		if fmt.Sprint(reqs[i]) != fmt.Sprint(want[i]) {
			t.Errorf("request %d: %+v, want %+v", i, reqs[i], want[i])
		}
	}
	if n := s.CountRequests("GET", BasePath+"/zones/"); n != 1 {
		t.Errorf("CountRequests(GET, zones/) = %d, want 1", n)
	}
	if n := s.CountRequests("", BasePath); n != 4 {
		t.Errorf("CountRequests(all) = %d, want 4", n)
	}
}

type fakeMirror struct {
	mu     sync.Mutex
	calls  []string
	failOn string // "append" or "delete"
}

func (m *fakeMirror) AppendTXT(_ context.Context, fqdn, value string, ttl int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failOn == "append" {
		return errors.New("dns server refused")
	}
	m.calls = append(m.calls, fmt.Sprintf("append %s %q %d", fqdn, value, ttl))
	return nil
}

func (m *fakeMirror) DeleteTXT(_ context.Context, fqdn, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failOn == "delete" {
		return errors.New("dns server refused")
	}
	m.calls = append(m.calls, fmt.Sprintf("delete %s %q", fqdn, value))
	return nil
}

func (m *fakeMirror) set(failOn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failOn = failOn
}

func (m *fakeMirror) took() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.calls
	m.calls = nil
	return out
}

func TestMirror(t *testing.T) {
	m := &fakeMirror{}
	s := New(WithToken(testToken), WithZone("example.com"))
	s.Mirror = m
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	path := recordsPath(t, s)

	txt := decodeResult[Record](t, call(t, s, "POST", path, bearer(testToken), map[string]any{"type": "TXT", "name": "_acme-challenge", "content": `"val\"ue"`, "ttl": 120}))
	auto := decodeResult[Record](t, call(t, s, "POST", path, bearer(testToken), map[string]any{"type": "TXT", "name": "auto", "content": "bare"}))
	call(t, s, "POST", path, bearer(testToken), map[string]any{"type": "A", "name": "a", "content": "192.0.2.1"})
	want := []string{`append _acme-challenge.example.com. "val\"ue" 120`, `append auto.example.com. "bare" 300`}
	if got := m.took(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mirror calls %q, want %q", got, want)
	}

	call(t, s, "PATCH", path+"/"+auto.ID, bearer(testToken), map[string]any{"content": "new"})
	want = []string{`append auto.example.com. "new" 300`, `delete auto.example.com. "bare"`}
	if got := m.took(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mirror calls on update %q, want %q", got, want)
	}

	m.set("append")
	r := call(t, s, "POST", path, bearer(testToken), map[string]any{"type": "TXT", "name": "x", "content": "v"})
	wantError(t, r, 500, 500)
	if !strings.Contains(r.resp.Errors[0].Message, "dns server refused") {
		t.Errorf("message %q does not carry the mirror error", r.resp.Errors[0].Message)
	}
	if n := len(s.Records("example.com")); n != 3 {
		t.Errorf("%d records after failed mirror append, want 3", n)
	}

	m.set("delete")
	wantError(t, call(t, s, "DELETE", path+"/"+txt.ID, bearer(testToken), nil), 500, 500)
	if n := len(s.Records("example.com")); n != 3 {
		t.Errorf("%d records after failed mirror delete, want 3", n)
	}

	m.set("")
	if r := call(t, s, "DELETE", path+"/"+txt.ID, bearer(testToken), nil); r.status != 200 {
		t.Fatalf("delete: %d %+v", r.status, r.resp.Errors)
	}
	want = []string{`delete _acme-challenge.example.com. "val\"ue"`}
	if got := m.took(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mirror calls %q, want %q", got, want)
	}
}

func TestConcurrentRequests(t *testing.T) {
	s := newServer(t)
	path := recordsPath(t, s)
	s.RateLimit(10, time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 60 {
		wg.Go(func() {
			r, err := send(s, "POST", path, bearer(testToken), map[string]any{"type": "TXT", "name": "_acme-challenge", "content": fmt.Sprint("v", i)})
			if err != nil {
				t.Error(err)
			}
			if _, err := send(s, "GET", path+"?type=TXT", bearer(testToken), nil); err != nil {
				t.Error(err)
			}
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	n429 := 0
	for _, r := range s.Requests() {
		if r.Status == 429 {
			n429++
		}
	}
	if n429 != 10 {
		t.Errorf("%d rate-limited requests, want 10", n429)
	}
	if got := len(s.Records("example.com")); got != statuses[200] {
		t.Errorf("%d records stored, %d creates succeeded (%v)", got, statuses[200], statuses)
	}
	if s.CountRequests("", "") != 120 {
		t.Errorf("%d requests logged, want 120", s.CountRequests("", ""))
	}
}

func TestClientRefusesOtherHosts(t *testing.T) {
	s := newServer(t)
	_, err := s.Client().Get("https://example.com/")
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("err %v, want a refusal", err)
	}
	// The fake's own URL works too.
	resp, err := s.Client().Get(s.URL() + BasePath + "/zones")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unauthenticated request to URL(): %d, want 400", resp.StatusCode)
	}
}

func TestServerLifecycle(t *testing.T) {
	s := New()
	s.Close() // before Start: a no-op that must not spoil the later Close
	if s.URL() != "" || s.CAPEM() != nil {
		t.Error("URL and CA must be empty before Start")
	}
	if err := s.WriteCAFile(t.TempDir() + "/ca.pem"); err == nil {
		t.Error("WriteCAFile before Start must fail")
	}
	if _, err := s.Client().Get("https://" + APIHost + BasePath + "/zones"); err == nil {
		t.Error("Client before Start must fail")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Start(); err == nil {
		t.Error("second Start must fail")
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || s.ProxyURL() != s.URL() {
		t.Errorf("URL %q ProxyURL %q", s.URL(), s.ProxyURL())
	}
	id1 := s.AddZone("Example.NET.")
	if id2 := s.AddZone("example.net"); id2 != id1 {
		t.Errorf("AddZone twice gave %s and %s", id1, id2)
	}
	s.Close()
	s.Close()
	if resp, err := http.Get(s.URL() + BasePath + "/zones"); err == nil {
		resp.Body.Close()
		t.Error("server still answers after Close")
	}
}

func TestTXTText(t *testing.T) {
	tests := []struct{ in, want string }{
		{`abc`, `abc`},
		{`"abc"`, `abc`},
		{`"a\"b\\c"`, `a"b\c`},
		{`"part one" "part two"`, `part onepart two`},
		{`"\065\066"`, `AB`},
		{`"unterminated`, `"unterminated`},
		{`"a" b`, `"a" b`},
		{`""`, ``},
		{`plain "inner"`, `plain "inner"`},
	}
	for _, tt := range tests {
		if got := TXTText(tt.in); got != tt.want {
			t.Errorf("TXTText(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
