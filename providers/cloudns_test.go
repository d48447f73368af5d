//go:build !minimal

package providers

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/libdns/cloudns"
)

func TestClouDNSGoesThroughTheWebhooksClientAndDeletesOnlyItsValue(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var deleted []string
	api := newVendorAPI(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Form.Get("auth-id") != "12345" || r.Form.Get("auth-password") != "cloudns-password" {
			_, _ = w.Write([]byte(`{"status":"Failed","statusDescription":"Invalid authentication, incorrect auth-id or auth-password."}`))
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/dns/records.json":
			_, _ = w.Write([]byte(`{"1":{"id":"1","type":"TXT","host":"_acme-challenge","record":"wildcard-key","ttl":"60"},` +
				`"2":{"id":"2","type":"TXT","host":"_acme-challenge","record":"apex-key","ttl":"60"}}`))
		case "/dns/delete-record.json":
			deleted = append(deleted, r.Form.Get("record-id"))
			_, _ = w.Write([]byte(`{"status":"Success","statusDescription":"The record was deleted successfully."}`))
		default:
			http.NotFound(w, r)
		}
	}, "api.cloudns.net")
	w := newTestWriter(t, cloudnsEntry(), &cloudns.Provider{AuthId: "12345", AuthPassword: "cloudns-password"}, testEnv(api))
	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(deleted, ",") != "2" {
		t.Errorf("deleted %v, want only 2", deleted)
	}
}

func TestClouDNSNeedsExactlyOneUser(t *testing.T) {
	t.Parallel()
	refused(t, cloudnsEntry(), &cloudns.Provider{AuthPassword: "p"}, "set exactly one of auth_id, sub_auth_id and sub_auth_user")
	refused(t, cloudnsEntry(), &cloudns.Provider{AuthId: "1", SubAuthUser: "u", AuthPassword: "p"}, "set exactly one of auth_id, sub_auth_id and sub_auth_user")
}
