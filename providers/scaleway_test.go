//go:build !minimal

package providers

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/libdns/scaleway"
)

const scalewayTestKey = "11111111-2222-3333-4444-555555555555"

// fakeScaleway serves the records endpoint of Scaleway's domain API (v2beta1) for example.org.
type fakeScaleway struct {
	mu      sync.Mutex
	records []map[string]any
	changes []string
}

func (f *fakeScaleway) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("X-Auth-Token") != scalewayTestKey {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"authentication is denied","type":"denied_authentication"}`))
		return
	}
	if r.URL.Path != "/domain/v2beta1/dns-zones/example.org/records" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		var txt []map[string]any
		for _, rec := range f.records {
			if r.URL.Query().Get("type") == "" || rec["type"] == r.URL.Query().Get("type") {
				txt = append(txt, rec)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"total_count": len(txt), "records": txt})
	case http.MethodPatch:
		var req struct {
			Changes []struct {
				Add *struct {
					Records []map[string]any `json:"records"`
				} `json:"add"`
				Delete *struct {
					ID string `json:"id"`
				} `json:"delete"`
			} `json:"changes"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		for _, c := range req.Changes {
			switch {
			case c.Add != nil:
				for _, rec := range c.Add.Records {
					rec["id"] = "new-" + rec["data"].(string)
					f.records = append(f.records, rec)
					f.changes = append(f.changes, "add "+rec["data"].(string))
				}
			case c.Delete != nil:
				for i, rec := range f.records {
					if rec["id"] == c.Delete.ID {
						f.records = append(f.records[:i], f.records[i+1:]...)
						break
					}
				}
				f.changes = append(f.changes, "delete "+c.Delete.ID)
			}
		}
		_, _ = w.Write([]byte(`{"records":[]}`))
	}
}

func TestScalewayCleanUpDeletesOnlyItsValueByID(t *testing.T) {
	t.Parallel()
	f := &fakeScaleway{records: []map[string]any{
		{"id": "r-apex", "name": "_acme-challenge", "type": "TXT", "data": `"apex-key"`, "ttl": 3600},
		{"id": "r-wild", "name": "_acme-challenge", "type": "TXT", "data": `"wildcard-key"`, "ttl": 3600},
	}}
	api := newVendorAPI(t, f.serve, "api.scaleway.com")
	w := newTestWriter(t, scalewayEntry(), &scaleway.Provider{SecretKey: scalewayTestKey}, testEnv(api))
	ctx := testCtx(t)
	// Stored with TTL 3600: the library's delete (name, type, data and a TTL of 0) would match nothing.
	if err := w.CleanUp(ctx, testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if err := w.Present(ctx, testRecord("wildcard-key")); err != nil {
		t.Fatal(err)
	}
	if err := w.Present(ctx, testRecord("apex-key-2")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.changes, ","); got != `delete r-apex,add "apex-key-2"` {
		t.Errorf("changes %s: want the apex's record deleted by ID, no second wildcard record, one new record", got)
	}
	api.everyRequestCarries("X-Auth-Token", scalewayTestKey)
}

func TestScalewayKeyErrorHidesTheKey(t *testing.T) {
	t.Parallel()
	w := newTestWriter(t, scalewayEntry(), &scaleway.Provider{SecretKey: "not-a-uuid-secret"}, testEnv(newVendorAPI(t, http.NotFound, "api.scaleway.com")))
	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err == nil || strings.Contains(err.Error(), "not-a-uuid-secret") {
		t.Errorf("a malformed key: %v, want an error without it", err)
	}
}
