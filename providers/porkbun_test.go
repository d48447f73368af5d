//go:build !minimal

package providers

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/libdns/porkbun"
)

// fakePorkbun serves /dns/retrieve and /dns/delete of the Porkbun v3 API for one domain.
type fakePorkbun struct {
	mu      sync.Mutex
	records []porkbunRecord
	deleted []string
}

func (f *fakePorkbun) serve(w http.ResponseWriter, r *http.Request) {
	var creds struct{ APIKey, SecretAPIKey string }
	body := map[string]string{}
	_ = json.NewDecoder(r.Body).Decode(&body)
	creds.APIKey, creds.SecretAPIKey = body["apikey"], body["secretapikey"]
	if creds.APIKey != "pk1_key" || creds.SecretAPIKey != "sk1_secret" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"ERROR","message":"Invalid API key."}`))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/json/v3/dns/retrieve/example.org":
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "SUCCESS", "records": f.records})
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/json/v3/dns/delete/example.org/"):
		id := strings.TrimPrefix(r.URL.Path, "/api/json/v3/dns/delete/example.org/")
		for i, rec := range f.records {
			if rec.ID == id {
				f.records = append(f.records[:i], f.records[i+1:]...)
				f.deleted = append(f.deleted, id)
				_, _ = w.Write([]byte(`{"status":"SUCCESS"}`))
				return
			}
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"ERROR","message":"Invalid record ID."}`))
	default:
		http.NotFound(w, r)
	}
}

func TestPorkbunCleanUpDeletesOnlyItsValueByID(t *testing.T) {
	t.Parallel()
	f := &fakePorkbun{records: []porkbunRecord{
		{ID: "101", Name: "_acme-challenge.example.org", Type: "TXT", Content: "apex-key"},
		{ID: "102", Name: "_acme-challenge.example.org", Type: "TXT", Content: "wildcard-key"},
		{ID: "103", Name: "_acme-challenge.www.example.org", Type: "TXT", Content: "apex-key"},
		{ID: "104", Name: "example.org", Type: "A", Content: "192.0.2.1"},
	}}
	api := newVendorAPI(t, f.serve, "api.porkbun.com")
	w := newTestWriter(t, porkbunEntry(), &porkbun.Provider{APIKey: "pk1_key", APISecretKey: "sk1_secret"}, testEnv(api))

	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.deleted, ",") != "101" {
		t.Errorf("deleted %v, want only 101 (the sibling 102 and the other name's 103 stay)", f.deleted)
	}
	// Already gone is success, and deletes nothing more.
	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if len(f.deleted) != 1 || len(f.records) != 3 {
		t.Errorf("a second CleanUp deleted %v; records left %v", f.deleted, f.records)
	}
	api.everyRequestCarries("", "sk1_secret")
	for _, r := range api.requests() {
		if strings.Contains(r.Path, "deleteByNameType") || strings.Contains(r.Query, "sk1_secret") {
			t.Errorf("%s %s?%s: a name-wide delete, or the secret in the URL", r.Method, r.Path, r.Query)
		}
	}
}

func TestPorkbunCleanUpFailsOnAnAPIError(t *testing.T) {
	t.Parallel()
	f := &fakePorkbun{}
	api := newVendorAPI(t, f.serve, "api.porkbun.com")
	w := newTestWriter(t, porkbunEntry(), &porkbun.Provider{APIKey: "pk1_key", APISecretKey: "wrong"}, testEnv(api))
	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err == nil || strings.Contains(err.Error(), "wrong") {
		t.Errorf("a refused key: %v, want an error without the key", err)
	}
}
