//go:build !minimal

package providers

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/libdns/metaname"
)

// fakeMetaname serves dns_zone and delete_dns_record of Metaname's JSON-RPC API; a successful delete's result is
// null, as Metaname's is.
type fakeMetaname struct {
	mu      sync.Mutex
	records []map[string]any
	deleted []string
}

func (f *fakeMetaname) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Method string `json:"method"`
		Params []any  `json:"params"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	answer := func(result any, err map[string]any) {
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": "1", "result": result, "error": err})
	}
	if r.URL.Path != "/api/1.1" || len(req.Params) < 3 || req.Params[0] != "ab12" || req.Params[1] != "metaname-key" || req.Params[2] != "example.org" {
		answer(nil, map[string]any{"code": -4, "message": "authentication failed"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch req.Method {
	case "dns_zone":
		answer(f.records, nil)
	case "delete_dns_record":
		for i, rec := range f.records {
			if rec["reference"] == req.Params[3] {
				f.records = append(f.records[:i], f.records[i+1:]...)
				f.deleted = append(f.deleted, rec["reference"].(string))
				answer(nil, nil)
				return
			}
		}
		answer(nil, map[string]any{"code": -9, "message": "no such record"})
	default:
		answer(nil, map[string]any{"code": -32601, "message": "method not found"})
	}
}

func TestMetanameCleanUpDeletesOnlyItsValue(t *testing.T) {
	t.Parallel()
	f := &fakeMetaname{records: []map[string]any{
		{"reference": "r1", "name": "_acme-challenge", "type": "TXT", "data": "apex-key", "ttl": 300.0, "aux": nil},
		{"reference": "r2", "name": "_acme-challenge", "type": "TXT", "data": "wildcard-key", "ttl": 300.0, "aux": nil},
		{"reference": "r3", "name": "_acme-challenge.www", "type": "TXT", "data": "apex-key", "ttl": 300.0, "aux": nil},
	}}
	api := newVendorAPI(t, f.serve, "metaname.net")
	w := newTestWriter(t, metanameEntry(), &metaname.Provider{APIKey: "metaname-key", AccountReference: "ab12"}, testEnv(api))
	// The library reports this successful delete (result null) as a failure.
	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if len(f.deleted) != 1 || f.deleted[0] != "r1" {
		t.Errorf("deleted %v, want only r1", f.deleted)
	}
	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err != nil || len(f.deleted) != 1 {
		t.Errorf("already gone: %v, deleted %v", err, f.deleted)
	}
	api.everyRequestCarries("", "metaname-key")
}

func TestMetanameRefusesABadEndpoint(t *testing.T) {
	t.Parallel()
	refused(t, metanameEntry(), &metaname.Provider{APIKey: "k", AccountReference: "a", Endpoint: "metaname.net/api"}, "endpoint")
}
