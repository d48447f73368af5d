//go:build !minimal

package providers

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/libdns/linode"
)

// fakeLinode serves the Linode v4 domains API for one domain (ID 7, example.org).
type fakeLinode struct {
	mu      sync.Mutex
	records []map[string]any
	nextID  int
	deleted []int
}

func (f *fakeLinode) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer linode-token" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"reason":"Invalid Token"}]}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	page := func(data any) {
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "page": 1, "pages": 1, "results": 1})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v4/domains":
		page([]map[string]any{{"id": 6, "domain": "example.net"}, {"id": 7, "domain": "example.org"}})
	case r.Method == http.MethodGet && r.URL.Path == "/v4/domains/7/records":
		page(f.records)
	case r.Method == http.MethodPost && r.URL.Path == "/v4/domains/7/records":
		var rec map[string]any
		_ = json.NewDecoder(r.Body).Decode(&rec)
		f.nextID++
		rec["id"] = float64(f.nextID)
		f.records = append(f.records, rec)
		_ = json.NewEncoder(w).Encode(rec)
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v4/domains/7/records/"):
		id, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/v4/domains/7/records/"))
		for i, rec := range f.records {
			if rec["id"] == float64(id) {
				f.records = append(f.records[:i], f.records[i+1:]...)
				f.deleted = append(f.deleted, id)
				_, _ = w.Write([]byte(`{}`))
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
	default:
		http.NotFound(w, r)
	}
}

func TestLinodePresentAndCleanUpByID(t *testing.T) {
	t.Parallel()
	slogBefore, transportBefore := slog.Default(), http.DefaultClient.Transport
	f := &fakeLinode{nextID: 100, records: []map[string]any{
		{"id": 1.0, "type": "TXT", "name": "_acme-challenge", "target": "wildcard-key"},
		{"id": 2.0, "type": "A", "name": "", "target": "192.0.2.1"},
	}}
	api := newVendorAPI(t, f.serve, "api.linode.com")
	w := newTestWriter(t, linodeEntry(), &linode.Provider{APIToken: "linode-token"}, testEnv(api))
	ctx := testCtx(t)

	if err := w.Present(ctx, testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if zone, err := w.FindZone(ctx, "_acme-challenge.example.org."); err != nil || zone != "example.org." {
		t.Errorf("FindZone: %q, %v", zone, err)
	}
	if err := w.CleanUp(ctx, testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if len(f.deleted) != 1 || f.deleted[0] != 101 || len(f.records) != 2 {
		t.Errorf("deleted %v, records left %v: want only the presented record (101) gone", f.deleted, f.records)
	}
	api.everyRequestCarries("Authorization", "linode-token")
	// The library's first call replaces these process-wide defaults; the webhook never makes it.
	if slog.Default() != slogBefore || http.DefaultClient.Transport != transportBefore {
		t.Error("the process-wide slog default or http.DefaultClient's transport changed")
	}
}

func TestLinodeAppendErrorIsReturned(t *testing.T) {
	t.Parallel()
	api := newVendorAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"errors":[{"reason":"Record target is invalid"}]}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": []map[string]any{{"id": 7, "domain": "example.org"}}, "page": 1, "pages": 1})
	}, "api.linode.com")
	w2 := newTestWriter(t, linodeEntry(), &linode.Provider{APIToken: "linode-token"}, testEnv(api))
	if err := w2.Present(testCtx(t), testRecord("apex-key")); err == nil {
		t.Error("a refused create reported success (the library drops this error)")
	}
}

func TestLinodeRefuses(t *testing.T) {
	t.Parallel()
	refused(t, linodeEntry(), &linode.Provider{APIToken: "t", DebugLogsEnabled: true}, "debug_logs_enabled: is not allowed")
	refused(t, linodeEntry(), &linode.Provider{APIToken: "t", APIURL: "https://evil.example/%zz"}, "api_url")
	refused(t, linodeEntry(), &linode.Provider{APIToken: "t", APIURL: "api.linode.com/v4?x"}, "api_url")
	refused(t, linodeEntry(), &linode.Provider{APIToken: "t", APIVersion: "../v4"}, "api_version")
}
