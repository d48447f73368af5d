//go:build !minimal

package providers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	dnssdk "github.com/G-Core/gcore-dns-sdk-go"
	"github.com/libdns/gcore"
)

// fakeGcore serves one RRset endpoint of the Gcore DNS API, keeping each record's meta.
type fakeGcore struct {
	mu     sync.Mutex
	set    *dnssdk.RRSet
	writes []string
}

func (f *fakeGcore) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "APIKey gcore-key" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/dns/v2/zones/example.org/_acme-challenge.example.org/TXT" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		if f.set == nil {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"record is not found"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(f.set)
	case http.MethodPut:
		var next dnssdk.RRSet
		_ = json.NewDecoder(r.Body).Decode(&next)
		f.set = &next
		f.writes = append(f.writes, "PUT")
	case http.MethodDelete:
		f.set = nil
		f.writes = append(f.writes, "DELETE")
	}
}

func (f *fakeGcore) values() []string {
	if f.set == nil {
		return nil
	}
	var out []string
	for _, r := range f.set.Records {
		out = append(out, fmt.Sprintf("%v/%v", r.ContentToString(), r.Meta["note"]))
	}
	return out
}

func TestGcoreSetWritesKeepTheSibling(t *testing.T) {
	t.Parallel()
	f := &fakeGcore{set: &dnssdk.RRSet{Type: "TXT", TTL: 120, Records: []dnssdk.ResourceRecord{
		{Content: []any{"apex-key"}, Enabled: true},
		{Content: []any{"wildcard-key"}, Enabled: true, Meta: map[string]any{"note": "kept"}},
	}}}
	api := newVendorAPI(t, f.serve, "api.gcore.com")
	w := newTestWriter(t, gcoreEntry(), &gcore.Provider{APIKey: "gcore-key"}, testEnv(api))
	ctx := testCtx(t)

	if err := w.CleanUp(ctx, testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.values()); got != "[wildcard-key/kept]" || f.set.TTL != 120 {
		t.Fatalf("after the apex's CleanUp: %s ttl %d, want the wildcard's record alone, meta and TTL kept", got, f.set.TTL)
	}
	// The library's append would add the value once per other value; re-presenting adds nothing.
	for _, v := range []string{"apex-key-2", "apex-key-2", "wildcard-key"} {
		if err := w.Present(ctx, testRecord(v)); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(f.values()); got != "[wildcard-key/kept apex-key-2/<nil>]" {
		t.Fatalf("after the Presents: %s", got)
	}
	for _, v := range []string{"wildcard-key", "apex-key-2", "apex-key-2"} {
		if err := w.CleanUp(ctx, testRecord(v)); err != nil {
			t.Fatal(err)
		}
	}
	if f.set != nil || f.writes[len(f.writes)-1] != "DELETE" {
		t.Errorf("the RRset %v is left, writes %v", f.set, f.writes)
	}
	api.everyRequestCarries("Authorization", "gcore-key")
}
