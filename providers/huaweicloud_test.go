//go:build !minimal

package providers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/libdns/huaweicloud"
)

// fakeHuaweiDNS serves zones and one name's TXT record set of the Huawei Cloud DNS v2 API.
type fakeHuaweiDNS struct {
	mu     sync.Mutex
	set    *huaweiRecordSet
	writes []string
}

func (f *fakeHuaweiDNS) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "SDK-HMAC-SHA256 Access=HPUAKEY,") || r.Header.Get("X-Sdk-Date") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v2/zones" && q.Get("name") == "example.org":
		_ = json.NewEncoder(w).Encode(map[string]any{"zones": []map[string]any{{"id": "z1", "name": "example.org."}}})
	case r.Method == http.MethodGet && r.URL.Path == "/v2/zones/z1/recordsets":
		var sets []*huaweiRecordSet
		if f.set != nil && q.Get("name") == "_acme-challenge.example.org." && q.Get("type") == "TXT" {
			sets = append(sets, f.set)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"recordsets": sets})
	case r.Method == http.MethodPost && r.URL.Path == "/v2/zones/z1/recordsets":
		f.set = &huaweiRecordSet{}
		_ = json.NewDecoder(r.Body).Decode(f.set)
		f.set.ID = "rs1"
		f.writes = append(f.writes, "POST")
		_ = json.NewEncoder(w).Encode(f.set)
	case r.Method == http.MethodPut && r.URL.Path == "/v2/zones/z1/recordsets/rs1":
		_ = json.NewDecoder(r.Body).Decode(f.set)
		f.writes = append(f.writes, "PUT")
		_ = json.NewEncoder(w).Encode(f.set)
	case r.Method == http.MethodDelete && r.URL.Path == "/v2/zones/z1/recordsets/rs1":
		f.set = nil
		f.writes = append(f.writes, "DELETE")
		_, _ = w.Write([]byte(`{}`))
	default:
		http.NotFound(w, r)
	}
}

func TestHuaweiCloudKeepsBothValuesInOneRecordSet(t *testing.T) {
	t.Parallel()
	f := &fakeHuaweiDNS{}
	api := newVendorAPI(t, f.serve, "dns.cn-south-1.myhuaweicloud.com")
	w := newTestWriter(t, huaweicloudEntry(), &huaweicloud.Provider{AccessKeyId: "HPUAKEY", SecretAccessKey: "secret"}, testEnv(api))
	ctx := testCtx(t)
	for _, v := range []string{"apex-key", "wildcard-key", "apex-key"} {
		if err := w.Present(ctx, testRecord(v)); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(f.set.Records); got != `["apex-key" "wildcard-key"]` {
		t.Fatalf("after both Presents the record set holds %s", got)
	}
	if err := w.CleanUp(ctx, testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.set.Records); got != `["wildcard-key"]` {
		t.Fatalf("after the apex's CleanUp the record set holds %s", got)
	}
	if err := w.CleanUp(ctx, testRecord("wildcard-key")); err != nil {
		t.Fatal(err)
	}
	if f.set != nil || strings.Join(f.writes, ",") != "POST,PUT,PUT,DELETE" {
		t.Errorf("writes %v, record set %v", f.writes, f.set)
	}
}

func TestHuaweiCloudRefusesARegionThatIsNotOne(t *testing.T) {
	t.Parallel()
	for _, r := range []string{"attacker.example/", "cn-south-1.attacker.example#", "cn_south_1"} {
		refused(t, huaweicloudEntry(), &huaweicloud.Provider{AccessKeyId: "a", SecretAccessKey: "s", RegionId: r}, "region_id")
	}
}
