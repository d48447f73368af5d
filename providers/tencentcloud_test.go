//go:build !minimal

package providers

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libdns/tencentcloud"
)

func TestTC3SignMatchesTheLibrarysSigner(t *testing.T) {
	t.Parallel()
	for {
		lib, _ := http.NewRequest(http.MethodPost, "https://dnspod.tencentcloudapi.com/", nil)
		mine, _ := http.NewRequest(http.MethodPost, "https://dnspod.tencentcloudapi.com/", nil)
		now := time.Now()
		tencentcloud.SignRequest("AKIDid", "secret", "token", lib, "DescribeRecordList", `{"Domain":"example.org"}`)
		tc3Sign(mine, "AKIDid", "secret", "token", "dnspod.tencentcloudapi.com", "DescribeRecordList", `{"Domain":"example.org"}`, now)
		if lib.Header.Get("X-TC-Timestamp") != mine.Header.Get("X-TC-Timestamp") {
			continue // a second boundary fell between the two
		}
		for _, h := range []string{"Authorization", "X-TC-Action", "X-TC-Token"} {
			if lib.Header.Get(h) != mine.Header.Get(h) {
				t.Errorf("%s: library %q, webhook %q", h, lib.Header.Get(h), mine.Header.Get(h))
			}
		}
		return
	}
}

// fakeDNSPod answers DescribeRecordList and DeleteRecord as the DNSPod API does: always HTTP 200, with errors in
// Response.Error.
type fakeDNSPod struct {
	mu      sync.Mutex
	hosts   []string
	records []map[string]any
	deleted []float64
}

func (f *fakeDNSPod) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts = append(f.hosts, r.Host)
	reply := func(resp map[string]any) { _ = json.NewEncoder(w).Encode(map[string]any{"Response": resp}) }
	if !strings.Contains(r.Header.Get("Authorization"), "Credential=AKIDid/") {
		reply(map[string]any{"Error": map[string]any{"Code": "AuthFailure.SecretIdNotFound", "Message": "no such SecretId"}})
		return
	}
	var req map[string]any
	_ = json.NewDecoder(r.Body).Decode(&req)
	switch r.Header.Get("X-TC-Action") {
	case "DescribeRecordList":
		reply(map[string]any{"RecordList": f.records})
	case "DeleteRecord":
		f.deleted = append(f.deleted, req["RecordId"].(float64))
		reply(map[string]any{})
	default:
		reply(map[string]any{"Error": map[string]any{"Code": "InvalidAction", "Message": "?"}})
	}
}

func TestTencentCloudCleanUpDeletesOnlyItsValueAndChecksErrors(t *testing.T) {
	t.Parallel()
	f := &fakeDNSPod{records: []map[string]any{
		{"RecordId": 1, "Name": "_acme-challenge", "Type": "TXT", "Value": "wildcard-key"},
		{"RecordId": 2, "Name": "_acme-challenge", "Type": "TXT", "Value": "apex-key"},
		{"RecordId": 3, "Name": "_acme-challenge", "Type": "TXT", "Value": "apex-key"},
	}}
	api := newVendorAPI(t, f.serve, "dnspod.ap-guangzhou.tencentcloudapi.com")
	w := newTestWriter(t, tencentcloudEntry(), &tencentcloud.Provider{SecretId: "AKIDid", SecretKey: "secret", Region: "ap-guangzhou"}, testEnv(api))
	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if len(f.deleted) != 2 || f.deleted[0] != 2 || f.deleted[1] != 3 {
		t.Errorf("deleted %v, want 2 and 3 (every record holding the value) and never 1", f.deleted)
	}
	// The library ignores this answer and reports success.
	bad := newTestWriter(t, tencentcloudEntry(), &tencentcloud.Provider{SecretId: "AKIDother", SecretKey: "secret", Region: "ap-guangzhou"}, testEnv(api))
	if err := bad.CleanUp(testCtx(t), testRecord("apex-key")); err == nil || !strings.Contains(err.Error(), "AuthFailure") {
		t.Errorf("a refused SecretId: %v, want the API's error", err)
	}
}

func TestTencentCloudRefusesARegionThatIsNotOne(t *testing.T) {
	t.Parallel()
	for _, r := range []string{"evil.example/", "attacker.example#", "ap-guangzhou.evil", "AP-GUANGZHOU"} {
		refused(t, tencentcloudEntry(), &tencentcloud.Provider{SecretId: "id", SecretKey: "k", Region: r}, "Region")
	}
}
