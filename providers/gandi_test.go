//go:build !minimal

package providers

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/libdns/gandi"
)

// fakeLiveDNS serves one domain's RRsets at /v5/livedns/domains/example.org/records/{name}/{type}, storing TXT
// values quoted as LiveDNS returns them.
type fakeLiveDNS struct {
	mu     sync.Mutex
	rrsets map[string]gandiRRset // name/type → set
	writes []string
}

func (f *fakeLiveDNS) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer pat-token" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":401,"message":"Unauthorized"}`))
		return
	}
	const prefix = "/v5/livedns/domains/example.org/records/"
	if len(r.URL.Path) <= len(prefix) || r.URL.Path[:len(prefix)] != prefix {
		http.NotFound(w, r)
		return
	}
	key := r.URL.Path[len(prefix):]
	f.mu.Lock()
	defer f.mu.Unlock()
	set, ok := f.rrsets[key]
	switch r.Method {
	case http.MethodGet:
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"code":404,"message":"Can't find such a DNS value"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(set)
	case http.MethodPut:
		var next gandiRRset
		_ = json.NewDecoder(r.Body).Decode(&next)
		f.rrsets[key] = next
		f.writes = append(f.writes, "PUT "+key)
		w.WriteHeader(http.StatusCreated)
	case http.MethodDelete:
		delete(f.rrsets, key)
		f.writes = append(f.writes, "DELETE "+key)
		w.WriteHeader(http.StatusNoContent)
	}
}

func TestGandiSetWritesKeepTheSibling(t *testing.T) {
	t.Parallel()
	f := &fakeLiveDNS{rrsets: map[string]gandiRRset{
		"_acme-challenge/TXT": {TTL: 300, Values: []string{`"apex-key"`, `"wildcard-key"`}},
	}}
	api := newVendorAPI(t, f.serve, "api.gandi.net")
	w := newTestWriter(t, gandiEntry(), &gandi.Provider{BearerToken: "pat-token"}, testEnv(api))
	ctx := testCtx(t)

	// The library's own delete would PUT both values back here and report success.
	if err := w.CleanUp(ctx, testRecord("apex-key")); err != nil {
		t.Fatal(err)
	}
	if got := f.rrsets["_acme-challenge/TXT"].Values; !slices.Equal(got, []string{`"wildcard-key"`}) {
		t.Fatalf("after the apex's CleanUp the set is %v, want the wildcard's value alone", got)
	}
	// Present of a value already there writes nothing; a new one joins the set.
	before := len(f.writes)
	if err := w.Present(ctx, testRecord("wildcard-key")); err != nil || len(f.writes) != before {
		t.Fatalf("presenting an existing value: %v, writes %v", err, f.writes[before:])
	}
	if err := w.Present(ctx, testRecord("apex-key-2")); err != nil {
		t.Fatal(err)
	}
	if got := f.rrsets["_acme-challenge/TXT"].Values; !slices.Equal(got, []string{`"wildcard-key"`, `"apex-key-2"`}) {
		t.Fatalf("after a Present the set is %v", got)
	}
	// The last value goes with a DELETE of the RRset; a CleanUp of what is gone is success.
	for _, v := range []string{"wildcard-key", "apex-key-2", "apex-key-2"} {
		if err := w.CleanUp(ctx, testRecord(v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := f.rrsets["_acme-challenge/TXT"]; ok || f.writes[len(f.writes)-1] != "DELETE _acme-challenge/TXT" {
		t.Errorf("the set is still there, or was not deleted last: %v", f.writes)
	}
	api.everyRequestCarries("Authorization", "pat-token")
}
