//go:build !minimal

package providers

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/libdns/netcup"
)

// fakeNetcup serves login, infoDnsRecords, updateDnsRecords and logout of netcup's CCP JSON API for example.org.
type fakeNetcup struct {
	mu      sync.Mutex
	records []map[string]any
	deleted []string
	calls   []string
}

func (f *fakeNetcup) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Action string         `json:"action"`
		Param  map[string]any `json:"param"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req.Action)
	ok := func(data any) {
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "statuscode": 2000, "responsedata": data})
	}
	if req.Param["customernumber"] != "12345" || req.Param["apikey"] != "netcup-key" {
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "statuscode": 4013, "shortmessage": "Validation Error."})
		return
	}
	switch req.Action {
	case "login":
		if req.Param["apipassword"] != "netcup-password" {
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "statuscode": 4013, "shortmessage": "Login failed."})
			return
		}
		ok(map[string]any{"apisessionid": "session-1"})
	case "infoDnsRecords":
		ok(map[string]any{"dnsrecords": f.records})
	case "updateDnsRecords":
		set := req.Param["dnsrecordset"].(map[string]any)
		for _, rec := range set["dnsrecords"].([]any) {
			if m := rec.(map[string]any); m["deleterecord"] == true {
				f.deleted = append(f.deleted, m["id"].(string))
			}
		}
		ok(map[string]any{"dnsrecords": f.records})
	case "logout":
		ok(nil)
	}
}

func TestNetcupCleanUpDeletesOnlyItsValueByID(t *testing.T) {
	t.Parallel()
	f := &fakeNetcup{records: []map[string]any{
		// The sibling first: the library's delete takes the first record with the name and type.
		{"id": "1", "hostname": "_acme-challenge", "type": "TXT", "priority": "0", "destination": "wildcard-key", "deleterecord": false},
		{"id": "2", "hostname": "_acme-challenge", "type": "TXT", "priority": "0", "destination": "apex-key", "deleterecord": false},
		{"id": "3", "hostname": "_acme-challenge", "type": "TXT", "priority": "0", "destination": "apex-key", "deleterecord": false},
	}}
	api := newVendorAPI(t, f.serve, "ccp.netcup.net")
	w := newTestWriter(t, netcupEntry(), &netcup.Provider{CustomerNumber: "12345", APIKey: "netcup-key", APIPassword: "netcup-password"}, testEnv(api))
	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if len(f.deleted) != 2 || f.deleted[0] != "2" || f.deleted[1] != "3" {
		t.Errorf("deleted %v, want 2 and 3 and never the sibling 1", f.deleted)
	}
	if f.calls[len(f.calls)-1] != "logout" {
		t.Errorf("calls %v: the session was not closed", f.calls)
	}
	for _, r := range api.requests() {
		if r.Path != "/run/webservice/servers/endpoint.php" {
			t.Errorf("request to %s", r.Path)
		}
	}
}
