//go:build !minimal

package providers

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	hetznerlegacy "github.com/libdns/hetzner"
)

// fakeHetznerDNS serves zones, records (paged) and record deletes of the legacy Hetzner DNS API.
type fakeHetznerDNS struct {
	mu      sync.Mutex
	records []map[string]any
	deleted []string
}

func (f *fakeHetznerDNS) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Auth-API-Token") != "hetzner-token" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.URL.Path == "/api/v1/zones" && r.URL.Query().Get("name") == "example.org":
		_ = json.NewEncoder(w).Encode(map[string]any{"zones": []map[string]any{{"id": "z1", "name": "example.org"}}})
	case r.URL.Path == "/api/v1/records" && r.URL.Query().Get("zone_id") == "z1":
		// Two records per page, to prove every page is read.
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		from, to := min((page-1)*2, len(f.records)), min(page*2, len(f.records))
		_ = json.NewEncoder(w).Encode(map[string]any{"records": f.records[from:to],
			"meta": map[string]any{"pagination": map[string]any{"page": page, "last_page": (len(f.records) + 1) / 2}}})
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/api/v1/records/"):
		f.deleted = append(f.deleted, strings.TrimPrefix(r.URL.Path, "/api/v1/records/"))
	default:
		http.NotFound(w, r)
	}
}

func TestHetznerLegacyCleanUpDeletesOnlyItsValueByID(t *testing.T) {
	t.Parallel()
	f := &fakeHetznerDNS{records: []map[string]any{
		{"id": "a", "type": "TXT", "name": "_acme-challenge", "value": "wildcard-key"},
		{"id": "b", "type": "A", "name": "www", "value": "192.0.2.1"},
		{"id": "c", "type": "TXT", "name": "_acme-challenge.www", "value": "apex-key"},
		{"id": "d", "type": "TXT", "name": "_acme-challenge", "value": "apex-key"},
	}}
	api := newVendorAPI(t, f.serve, "dns.hetzner.com")
	w := newTestWriter(t, hetznerlegacyEntry(), &hetznerlegacy.Provider{AuthAPIToken: "hetzner-token"}, testEnv(api))
	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.deleted, ",") != "d" {
		t.Errorf("deleted %v, want only d (on the second page; never the sibling a)", f.deleted)
	}
	api.everyRequestCarries("Auth-API-Token", "hetzner-token")
}
