package fakeionos

import (
	"bytes"
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
)

// These tests speak HTTP to the fake directly, through its client, as libdns/ionos's requests look; they can run
// in parallel. libdns_test.go drives it with the library itself.

const apiKey = "0123456789abcdef0123456789abcdef.fakesecretfakesecretfakesecretfakesecretfakesecretfakesecretfakesecr"

func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := Start(append([]Option{WithAPIKey(apiKey), WithZone("example.com")}, opts...)...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// call sends method path with body (JSON-encoded unless nil) and decodes the answer into out, returning the
// status and the raw body.
func call(t *testing.T, s *Server, key, method, path string, body, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+APIHost+BasePath+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func zoneID(t *testing.T, s *Server) string {
	t.Helper()
	id, ok := s.ZoneID("example.com")
	if !ok {
		t.Fatal("no zone")
	}
	return id
}

type rec = map[string]any

func TestAPIRecords(t *testing.T) {
	t.Parallel()
	s := start(t)
	id := zoneID(t, s)
	const name = "_acme-challenge.example.com"

	var created []jsonRecord
	code, body := call(t, s, apiKey, http.MethodPost, "/zones/"+id+"/records", []rec{
		{"name": name, "type": "TXT", "content": "apex-value", "ttl": 60},
		{"name": name, "type": "TXT", "content": "wildcard-value"},
	}, &created)
	if code != http.StatusCreated || len(created) != 2 {
		t.Fatalf("create: %d %s", code, body)
	}
	// TXT content comes back quoted; an absent TTL is 3600; each record has its own ID.
	if created[0].Content != `"apex-value"` || created[0].TTL != 60 || created[1].TTL != 3600 || created[0].ID == created[1].ID || created[0].RootName != "example.com" {
		t.Errorf("created %+v", created)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Errorf("stored %q", got)
	}
	// An identical record is refused; a value sent quoted is the same value.
	code, body = call(t, s, apiKey, http.MethodPost, "/zones/"+id+"/records", []rec{{"name": name, "type": "TXT", "content": `"apex-value"`}}, nil)
	if code != http.StatusBadRequest || !strings.Contains(body, "INVALID_RECORD") || !strings.Contains(body, "Record already exists.") {
		t.Errorf("duplicate: %d %s", code, body)
	}

	// Filters: recordName exact, recordType, suffix.
	var z struct {
		Records []jsonRecord `json:"records"`
	}
	call(t, s, apiKey, http.MethodGet, "/zones/"+id+"?recordType=TXT&recordName="+name, nil, &z)
	if len(z.Records) != 2 {
		t.Errorf("filtered by name and type: %d records", len(z.Records))
	}
	call(t, s, apiKey, http.MethodGet, "/zones/"+id+"?recordType=NS,SOA", nil, &z)
	if len(z.Records) != 5 {
		t.Errorf("filtered by two types: %d records, want 5", len(z.Records))
	}
	call(t, s, apiKey, http.MethodGet, "/zones/"+id+"?suffix=acme-challenge.example.com", nil, &z)
	if len(z.Records) != 0 {
		t.Errorf("suffix on a label boundary: %d records, want 0", len(z.Records))
	}

	// Update one record in place: same ID, new content.
	code, body = call(t, s, apiKey, http.MethodPut, "/zones/"+id+"/records/"+created[0].ID, rec{"name": name, "type": "TXT", "content": "updated", "ttl": 120}, nil)
	if code != http.StatusOK || body != "" {
		t.Errorf("update: %d %q, want 200 without a body", code, body)
	}
	var one jsonRecord
	call(t, s, apiKey, http.MethodGet, "/zones/"+id+"/records/"+created[0].ID, nil, &one)
	if one.Content != `"updated"` || one.TTL != 120 || one.Name != name {
		t.Errorf("after update %+v", one)
	}

	// Delete by ID removes that record only; a missing ID is 404 RECORD_NOT_FOUND.
	if code, body := call(t, s, apiKey, http.MethodDelete, "/zones/"+id+"/records/"+created[0].ID, nil, nil); code != http.StatusOK {
		t.Errorf("delete: %d %s", code, body)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("after delete %q, want the sibling", got)
	}
	code, body = call(t, s, apiKey, http.MethodDelete, "/zones/"+id+"/records/"+created[0].ID, nil, nil)
	if code != http.StatusNotFound || !strings.Contains(body, "RECORD_NOT_FOUND") {
		t.Errorf("delete of a missing record: %d %s", code, body)
	}
}

func TestAPIPatchReplacesNameAndType(t *testing.T) {
	t.Parallel()
	s := start(t)
	id := zoneID(t, s)
	const name = "_acme-challenge.example.com"
	var created []jsonRecord
	call(t, s, apiKey, http.MethodPost, "/zones/"+id+"/records", []rec{
		{"name": name, "type": "TXT", "content": "one"}, {"name": name, "type": "TXT", "content": "two"},
		{"name": "other.example.com", "type": "TXT", "content": "untouched"},
	}, &created)
	code, body := call(t, s, apiKey, http.MethodPatch, "/zones/"+id, []rec{
		{"name": name, "type": "TXT", "content": "two"}, {"name": name, "type": "TXT", "content": "three"},
	}, nil)
	if code != http.StatusOK {
		t.Fatalf("patch: %d %s", code, body)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"three", "two"}) {
		t.Errorf("after patch %q, want the set replaced", got)
	}
	if got := s.TXT("other.example.com"); !slices.Equal(got, []string{"untouched"}) {
		t.Errorf("another name changed: %q", got)
	}
	for _, r := range s.Records("example.com") {
		if r.Content == `"two"` && r.ID != created[1].ID {
			t.Errorf("an unchanged record got a new ID")
		}
	}
}

func TestAPIValidationAndAuth(t *testing.T) {
	t.Parallel()
	s := start(t, WithZone("example.org"))
	id := zoneID(t, s)
	tests := []struct {
		name string
		r    rec
		want string
	}{
		{"outside the zone", rec{"name": "x.example.org", "type": "TXT", "content": "v"}, "INVALID_RECORD"},
		{"TTL below 60", rec{"name": "x.example.com", "type": "TXT", "content": "v", "ttl": 30}, "INVALID_RECORD"},
		{"empty content", rec{"name": "x.example.com", "type": "TXT", "content": ""}, "INVALID_RECORD"},
		{"unknown type", rec{"name": "x.example.com", "type": "BOGUS", "content": "v"}, "INVALID_RECORD"},
	}
	for _, tt := range tests {
		if code, body := call(t, s, apiKey, http.MethodPost, "/zones/"+id+"/records", []rec{tt.r}, nil); code != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s", tt.name, code, body)
		}
	}
	var zones []jsonZone
	if code, _ := call(t, s, apiKey, http.MethodGet, "/zones", nil, &zones); code != http.StatusOK || len(zones) != 2 || zones[0].Type != "NATIVE" {
		t.Errorf("zones: %d %+v", code, zones)
	}
	if code, body := call(t, s, apiKey, http.MethodGet, "/zones/11111111-0000-4000-8000-000000000000", nil, nil); code != http.StatusNotFound || !strings.Contains(body, "ZONE_NOT_FOUND") {
		t.Errorf("unknown zone: %d %s", code, body)
	}
	// An unknown key is echoed.
	if code, body := call(t, s, "prefix.wrong-secret", http.MethodGet, "/zones", nil, nil); code != http.StatusUnauthorized || !strings.Contains(body, "UNAUTHORIZED") || !strings.Contains(body, "prefix.wrong-secret") {
		t.Errorf("unknown key: %d %s", code, body)
	}
	s.RateLimit(1, 0)
	if code, body := call(t, s, apiKey, http.MethodGet, "/zones", nil, nil); code != http.StatusTooManyRequests || !strings.Contains(body, "TOO_MANY_REQUESTS") {
		t.Errorf("429: %d %s", code, body)
	}
}

func TestAPIMirror(t *testing.T) {
	t.Parallel()
	m := &recordingMirror{}
	s := start(t, WithMirror(m))
	id := zoneID(t, s)
	const name = "_acme-challenge.example.com"
	var created []jsonRecord
	call(t, s, apiKey, http.MethodPost, "/zones/"+id+"/records", []rec{{"name": name, "type": "TXT", "content": "one", "ttl": 60}}, &created)
	call(t, s, apiKey, http.MethodPut, "/zones/"+id+"/records/"+created[0].ID, rec{"content": "two", "ttl": 60}, nil)
	want := []string{"append " + name + ". one 60", "append " + name + ". two 60", "delete " + name + ". one"}
	if got := m.log(); !slices.Equal(got, want) {
		t.Errorf("mirrored %q, want %q", got, want)
	}
	m.fail(true)
	if code, _ := call(t, s, apiKey, http.MethodDelete, "/zones/"+id+"/records/"+created[0].ID, nil, nil); code != http.StatusInternalServerError {
		t.Errorf("delete with a failing mirror: %d, want 500", code)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"two"}) {
		t.Errorf("after a failed mirror %q", got)
	}
}

type recordingMirror struct {
	mu    sync.Mutex
	calls []string
	bad   bool
}

func (m *recordingMirror) fail(b bool) { m.mu.Lock(); m.bad = b; m.mu.Unlock() }

func (m *recordingMirror) log() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

func (m *recordingMirror) record(s string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bad {
		return errors.New("dns server refused")
	}
	m.calls = append(m.calls, s)
	return nil
}

func (m *recordingMirror) AppendTXT(_ context.Context, fqdn, value string, ttl int) error {
	return m.record(fmt.Sprintf("append %s %s %d", fqdn, value, ttl))
}

func (m *recordingMirror) DeleteTXT(_ context.Context, fqdn, value string) error {
	return m.record("delete " + fqdn + " " + value)
}
