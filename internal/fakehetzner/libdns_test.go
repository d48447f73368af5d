package fakehetzner

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libdns/hetzner/v2"
	"github.com/libdns/libdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

// These tests drive the fake with github.com/libdns/hetzner/v2 v2.0.1. Its hcloud client has no HTTP client or
// endpoint set, so it uses a zero http.Client, that is http.DefaultTransport at each request: TestMain installs a
// guard there that refuses (and counts) everything, and each test swaps the fake's Transport in for its duration
// (useDefaultTransport), hence no t.Parallel in this file. The library polls each action every 500 ms, which
// sets the pace.

// guard is http.DefaultTransport outside useDefaultTransport.
var guard = &refusing{}

type refusing struct {
	mu    sync.Mutex
	hosts []string
}

func (g *refusing) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	g.hosts = append(g.hosts, r.URL.Host)
	g.mu.Unlock()
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return nil, fmt.Errorf("test guard: refusing %s: no fake is installed", r.URL.Host)
}

// TestMain keeps LIBDNS_HETZNER_TOKEN, which the library falls back to, out of the tests, and installs the guard.
func TestMain(m *testing.M) {
	_ = os.Unsetenv("LIBDNS_HETZNER_TOKEN")
	http.DefaultTransport = guard
	code := m.Run()
	if code == 0 && len(guard.hosts) > 0 {
		fmt.Fprintf(os.Stderr, "requests reached http.DefaultTransport outside a test: %q\n", guard.hosts)
		code = 1
	}
	os.Exit(code)
}

func useDefaultTransport(t *testing.T, s *Server) {
	t.Helper()
	http.DefaultTransport = s.Transport()
	t.Cleanup(func() { http.DefaultTransport = guard })
}

func provider(t *testing.T, s *Server) *hetzner.Provider {
	t.Helper()
	useDefaultTransport(t, s)
	return hetzner.New(token)
}

func txt(v string, ttl time.Duration) []libdns.Record {
	return []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: v, TTL: ttl}}
}

// calls lists the change requests after the first n logged, e.g. "add_records", "remove_records 404".
func calls(s *Server, n int) []string {
	var out []string
	for _, r := range s.Requests()[n:] {
		if r.Method != http.MethodPost && r.Method != http.MethodDelete {
			continue
		}
		parts := strings.Split(r.Path, "/")
		e := parts[len(parts)-1]
		if r.Method == http.MethodDelete {
			e = "delete"
		} else if e == "rrsets" {
			e = "create"
		}
		if r.Status/100 != 2 {
			e += fmt.Sprint(" ", r.Status)
		}
		out = append(out, e)
	}
	return out
}

func TestLibdnsTwoValuesAtOneName(t *testing.T) {
	s := start(t)
	p := provider(t, s)
	ctx := context.Background()
	const zone, fqdn = "example.com.", "_acme-challenge.example.com."

	n := len(s.Requests())
	if _, err := p.AppendRecords(ctx, zone, txt("apex-value", time.Minute)); err != nil {
		t.Fatalf("append the first value: %v", err)
	}
	if _, err := p.AppendRecords(ctx, zone, txt("wildcard-value", time.Minute)); err != nil {
		t.Fatalf("append the sibling: %v", err)
	}
	// Each append is one server-side add_records with exactly its value; no read, no set write.
	if got := calls(s, n); !slices.Equal(got, []string{"add_records", "add_records"}) {
		t.Errorf("appends sent %q, want two add_records", got)
	}
	if s.CountRequests(http.MethodGet, BasePath+"/actions") < 2 {
		t.Error("the library did not wait for its actions")
	}
	if got := s.TXT(fqdn); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("after two appends %q, want both", got)
	}
	if set := findRRSet(s.Records(zone), "_acme-challenge"); set.TTL == nil || *set.TTL != 60 || set.Records[0].Value != `"apex-value"` {
		t.Errorf("stored %+v, want TTL 60 and quoted values", set)
	}

	// An identical append succeeds and changes nothing.
	if _, err := p.AppendRecords(ctx, zone, txt("apex-value", time.Minute)); err != nil {
		t.Errorf("identical append: %v", err)
	}
	// Another TTL at the same name fails: the RRset has one TTL. (The apex and the wildcard challenge use the same.)
	if _, err := p.AppendRecords(ctx, zone, txt("other-ttl", 2*time.Minute)); err == nil || !strings.Contains(err.Error(), "invalid_input") {
		t.Errorf("append with another TTL: %v, want invalid_input", err)
	}

	// Delete removes exactly its value server-side: the sibling stays. An absent value is success.
	n = len(s.Requests())
	deleted, err := p.DeleteRecords(ctx, zone, txt("never-written", 0))
	if err != nil || len(deleted) != 1 {
		t.Errorf("delete of an absent value: %d deleted, err %v (the library reports it as deleted)", len(deleted), err)
	}
	if _, err := p.DeleteRecords(ctx, zone, txt("apex-value", 0)); err != nil {
		t.Fatal(err)
	}
	if got := calls(s, n); !slices.Equal(got, []string{"remove_records", "remove_records"}) {
		t.Errorf("deletes sent %q, want remove_records only", got)
	}
	if got := s.TXT(fqdn); !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("after deleting one %q, want the sibling", got)
	}

	// SetRecords deletes the RRset and creates it anew with the given values: the sibling is gone, and for a moment
	// the name has no TXT at all.
	n = len(s.Requests())
	if _, err := p.SetRecords(ctx, zone, txt("only-this", time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := calls(s, n); !slices.Equal(got, []string{"delete", "create"}) {
		t.Errorf("SetRecords sent %q, want delete, create", got)
	}
	if got := s.TXT(fqdn); !slices.Equal(got, []string{"only-this"}) {
		t.Errorf("after SetRecords %q", got)
	}

	// The last value: remove_records deletes the RRset; then at an empty name the 404 is skipped.
	n = len(s.Requests())
	if _, err := p.DeleteRecords(ctx, zone, txt("only-this", 0)); err != nil {
		t.Fatal(err)
	}
	deleted, err = p.DeleteRecords(ctx, zone, txt("only-this", 0))
	if err != nil || len(deleted) != 0 {
		t.Errorf("delete at an empty name: %d deleted, err %v, want 0 and no error", len(deleted), err)
	}
	if got := calls(s, n); !slices.Equal(got, []string{"remove_records", "remove_records 404"}) {
		t.Errorf("last deletes sent %q", got)
	}
	if got := s.TXT(fqdn); got != nil {
		t.Errorf("after deleting all %q", got)
	}
}

func TestLibdnsStrictRecords(t *testing.T) {
	s := start(t, WithStrictRecords())
	p := provider(t, s)
	ctx := context.Background()
	if _, err := p.AppendRecords(ctx, "example.com.", txt("v", time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Were Hetzner strict, an identical append would fail: the webhook would have to treat uniqueness_error as
	// "already there".
	if _, err := p.AppendRecords(ctx, "example.com.", txt("v", time.Minute)); err == nil || !strings.Contains(err.Error(), "uniqueness_error") {
		t.Errorf("strict identical append: %v, want uniqueness_error", err)
	}
	// And the library would skip the not_found of an absent value, reporting nothing deleted.
	deleted, err := p.DeleteRecords(ctx, "example.com.", txt("absent", 0))
	if err != nil || len(deleted) != 0 {
		t.Errorf("strict delete of an absent value: %d deleted, err %v", len(deleted), err)
	}
}

func TestLibdnsPagination(t *testing.T) {
	s := start(t, WithMaxPerPage(3), WithZone("example.org"), WithZone("example.net"), WithZone("example.info"))
	p := provider(t, s)
	ctx := context.Background()
	var recs []libdns.Record
	for i := range 7 {
		recs = append(recs, libdns.TXT{Name: fmt.Sprintf("r%d", i), Text: "v", TTL: time.Minute})
	}
	// Seven add_records, then one wait for all seven actions.
	if _, err := p.AppendRecords(ctx, "example.com.", recs); err != nil {
		t.Fatal(err)
	}
	got, err := p.GetRecords(ctx, "example.com.")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7+3+1 { // the TXT, 3 NS values, the SOA
		t.Errorf("GetRecords returned %d records, want 11", len(got))
	}
	zones, err := p.ListZones(ctx)
	if err != nil || len(zones) != 4 {
		t.Errorf("ListZones: %v, %d zones, want 4", err, len(zones))
	}
	var pages []string
	for _, r := range s.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/rrsets") {
			pages = append(pages, r.Query.Get("page"))
		}
	}
	if !slices.Equal(pages, []string{"1", "2", "3"}) { // 9 RRsets, 3 a page
		t.Errorf("RRset pages %q, want 1, 2, 3", pages)
	}
}

func TestLibdnsErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("429 is retried after hcloud-go's backoff", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		s.RateLimit(1, 0, fakeapi.Match{Method: http.MethodPost})
		began := time.Now()
		if _, err := p.AppendRecords(ctx, "example.com.", txt("v", time.Minute)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(began); d < time.Second {
			t.Errorf("the retry came after %v, want hcloud-go's backoff of at least 1 s", d)
		}
		if got := calls(s, 0); !slices.Equal(got, []string{"add_records 429", "add_records"}) {
			t.Errorf("sent %q", got)
		}
	})
	t.Run("a closed window ends with the deadline", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		s.Limit(1, time.Hour, 0, false)
		ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		_, err := p.GetRecords(ctx, "example.com.")
		if err == nil {
			t.Fatal("GetRecords succeeded past the rate window")
		}
	})
	t.Run("locked is not retried", func(t *testing.T) {
		s := start(t, WithActionDuration(2*time.Second), WithZoneLocking())
		p := provider(t, s)
		// Two records in one call: the second add_records arrives while the first action runs.
		_, err := p.AppendRecords(ctx, "example.com.", []libdns.Record{
			libdns.TXT{Name: "a", Text: "v", TTL: time.Minute}, libdns.TXT{Name: "b", Text: "v", TTL: time.Minute},
		})
		if err == nil || !strings.Contains(err.Error(), "locked") {
			t.Errorf("err %v, want locked", err)
		}
		if got := calls(s, 0); !slices.Equal(got, []string{"add_records", "add_records 423"}) {
			t.Errorf("sent %q", got)
		}
	})
	t.Run("unknown token is echoed", func(t *testing.T) {
		s := start(t)
		useDefaultTransport(t, s)
		p := hetzner.New("not-a-known-token")
		_, err := p.GetRecords(ctx, "example.com.")
		if err == nil || !strings.Contains(err.Error(), "unauthorized") || !strings.Contains(err.Error(), "not-a-known-token") {
			t.Errorf("err %v, want unauthorized echoing the token", err)
		}
	})
	t.Run("unknown zone", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		if _, err := p.GetRecords(ctx, "example.org."); err == nil || !strings.Contains(err.Error(), "not found at Hetzner") {
			t.Errorf("err %v, want the library's zone-not-found error", err)
		}
	})
	t.Run("no token panics, the environment is the fallback", func(t *testing.T) {
		s := start(t)
		useDefaultTransport(t, s)
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "API token missing") {
					t.Errorf("recovered %v, want the library's panic", r)
				}
			}()
			_, _ = (&hetzner.Provider{}).GetRecords(ctx, "example.com.")
		}()
		t.Setenv("LIBDNS_HETZNER_TOKEN", token)
		if _, err := (&hetzner.Provider{}).GetRecords(ctx, "example.com."); err != nil {
			t.Errorf("with LIBDNS_HETZNER_TOKEN set: %v, want the ambient token used", err)
		}
	})
}

func TestLibdnsMirrorIntoBIND(t *testing.T) {
	bind := testdns.Start(t, testdns.Zone{Name: "validation.example.org.", Updatable: true})
	s := start(t, WithZone("validation.example.org"), WithMirror(bind))
	p := provider(t, s)
	ctx := context.Background()
	const zone = "validation.example.org."
	for _, v := range []string{"apex-value", "wildcard-value"} {
		if _, err := p.AppendRecords(ctx, zone, txt(v, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := bind.LookupTXT("_acme-challenge." + zone)
	if err != nil || !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("DNS sees %q (%v), want both values", got, err)
	}
	if _, err := p.DeleteRecords(ctx, zone, txt("apex-value", 0)); err != nil {
		t.Fatal(err)
	}
	got, err = bind.LookupTXT("_acme-challenge." + zone)
	if err != nil || !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("DNS sees %q (%v) after one delete, want the sibling", got, err)
	}
}
