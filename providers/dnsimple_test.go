//go:build !minimal

package providers

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/libdns/dnsimple"
)

// fakeDNSimple serves the records list (paged) and record deletes of DNSimple's v2 API for account 1010.
type fakeDNSimple struct {
	mu      sync.Mutex
	records []map[string]any
	deleted []string
}

func (f *fakeDNSimple) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer dnsimple-token" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"Authentication failed"}`))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	const base = "/v2/1010/zones/example.org/records"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == base:
		page := r.URL.Query().Get("page")
		data := f.records[:2]
		if page == "2" {
			data = f.records[2:]
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "pagination": map[string]any{"current_page": page, "total_pages": 2}})
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, base+"/"):
		f.deleted = append(f.deleted, strings.TrimPrefix(r.URL.Path, base+"/"))
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func TestDNSimpleCleanUpDeletesOnlyItsValueByID(t *testing.T) {
	t.Parallel()
	f := &fakeDNSimple{records: []map[string]any{
		// name_like=_acme-challenge would find all three; the library deletes the first.
		{"id": 1, "name": "_acme-challenge.www", "type": "TXT", "content": "apex-key"},
		{"id": 2, "name": "_acme-challenge", "type": "TXT", "content": "wildcard-key"},
		{"id": 3, "name": "_acme-challenge", "type": "TXT", "content": "apex-key"},
	}}
	api := newVendorAPI(t, f.serve, "api.dnsimple.com")
	w := newTestWriter(t, dnsimpleEntry(), &dnsimple.Provider{APIAccessToken: "dnsimple-token", AccountID: "1010"}, testEnv(api))
	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.deleted, ",") != "3" {
		t.Errorf("deleted %v, want only 3 (on the second page)", f.deleted)
	}
	api.everyRequestCarries("Authorization", "dnsimple-token")
}

func TestDNSimpleRequiresANumericAccountAndAGoodURL(t *testing.T) {
	t.Parallel()
	refused(t, dnsimpleEntry(), &dnsimple.Provider{APIAccessToken: "t", AccountID: "me"}, "account_id")
	refused(t, dnsimpleEntry(), &dnsimple.Provider{APIAccessToken: "t", AccountID: "1", APIURL: "api.sandbox.dnsimple.com"}, "api_url")
}
