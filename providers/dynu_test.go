//go:build !minimal

package providers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libdns/dynu"
)

// fakeDynu serves the Dynu v2 API for one domain (ID 5, example.org), with an A record that has no address: the
// library's GetRecords panics on it.
type fakeDynu struct {
	mu      sync.Mutex
	records []dynu.DNSRecord
	deleted []string
}

func (f *fakeDynu) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("API-Key") != "dynu-key" {
		_ = json.NewEncoder(w).Encode(map[string]any{"statusCode": 401, "type": "Authentication Exception", "message": "invalid key"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v2/dns/getroot/example.org":
		_ = json.NewEncoder(w).Encode(map[string]any{"statusCode": 200, "id": 5, "domainName": "example.org"})
	case r.Method == http.MethodGet && r.URL.Path == "/v2/dns/5/record":
		_ = json.NewEncoder(w).Encode(map[string]any{"statusCode": 200, "dnsRecords": f.records})
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v2/dns/5/record/"):
		f.deleted = append(f.deleted, strings.TrimPrefix(r.URL.Path, "/v2/dns/5/record/"))
		_ = json.NewEncoder(w).Encode(map[string]any{"statusCode": 200})
	default:
		http.NotFound(w, r)
	}
}

func TestDynuCleanUpDeletesOnlyItsValueByID(t *testing.T) {
	t.Parallel()
	f := &fakeDynu{records: []dynu.DNSRecord{
		{ID: 11, Type: "TXT", DomainID: 5, Hostname: "_acme-challenge.example.org", NodeName: "_acme-challenge", TextData: "apex-key"},
		{ID: 12, Type: "TXT", DomainID: 5, Hostname: "_acme-challenge.example.org", NodeName: "_acme-challenge", TextData: "wildcard-key"},
		{ID: 13, Type: "A", DomainID: 5, Hostname: "www.example.org", NodeName: "www"},
	}}
	api := newVendorAPI(t, f.serve, "api.dynu.com")
	w := newTestWriter(t, dynuEntry(), &dynu.Provider{APIToken: "dynu-key", OwnDomain: "example.org"}, testEnv(api))
	if err := w.CleanUp(testCtx(t), testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.deleted, ",") != "11" {
		t.Errorf("deleted %v, want only 11 (a name-wide delete would take the sibling 12 too)", f.deleted)
	}
	api.everyRequestCarries("API-Key", "dynu-key")
}

func TestDynuEOFDoesNotOutliveTheDeadline(t *testing.T) {
	t.Parallel()
	api := newVendorAPI(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close() // no answer at all: the client sees EOF
	}, "api.dynu.com")
	w := newTestWriter(t, dynuEntry(), &dynu.Provider{APIToken: "dynu-key", OwnDomain: "example.org"}, testEnv(api))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	if err := w.CleanUp(ctx, testRecord("apex-key")); err == nil {
		t.Fatal("no answer from Dynu, and CleanUp succeeded")
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("CleanUp returned %s after its 2 s deadline began: the library's EOF retries outlived it", d)
	}
}

func TestDynuRefusesAClientInTheConfig(t *testing.T) {
	t.Parallel()
	refused(t, dynuEntry(), &dynu.Provider{APIToken: "k", OwnDomain: "example.org", Client: &dynu.Client{}}, "Client: is not a configuration field")
}
