package fakeionos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libdns/ionos"
	"github.com/libdns/libdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

// These tests drive the fake with github.com/libdns/ionos v1.2.0, which sends each request with a new zero
// http.Client (so http.DefaultTransport) to a constant base URL: TestMain installs a guard there that refuses
// (and counts) everything, and each test swaps the fake's Transport in for its duration (useDefaultTransport),
// hence no t.Parallel in this file.

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

// TestMain keeps LIBDNS_IONOS_DEBUG out of the tests and installs the guard.
func TestMain(m *testing.M) {
	_ = os.Unsetenv("LIBDNS_IONOS_DEBUG")
	http.DefaultTransport = guard
	code := m.Run()
	if code == 0 && len(guard.hosts) > 0 {
		fmt.Fprintf(os.Stderr, "requests reached http.DefaultTransport outside a test: %q\n", guard.hosts)
		code = 1
	}
	os.Exit(code)
}

func provider(t *testing.T, s *Server) *ionos.Provider {
	t.Helper()
	http.DefaultTransport = s.Transport()
	t.Cleanup(func() { http.DefaultTransport = guard })
	return &ionos.Provider{AuthAPIToken: apiKey}
}

func txt(v string) []libdns.Record {
	return []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: v, TTL: time.Minute}}
}

// calls lists the writes after the first n logged requests, e.g. "POST", "DELETE 404".
func calls(s *Server, n int) []string {
	var out []string
	for _, r := range s.Requests()[n:] {
		if r.Method == http.MethodGet {
			continue
		}
		e := r.Method
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

	// Append posts one record per value: two values at one name, each with its own ID.
	for _, v := range []string{"apex-value", "wildcard-value"} {
		added, err := p.AppendRecords(ctx, zone, txt(v))
		if err != nil {
			t.Fatalf("append %s: %v", v, err)
		}
		if len(added) != 1 || added[0].(libdns.TXT).Text != v {
			t.Errorf("AppendRecords returned %+v", added)
		}
	}
	if got := s.TXT(fqdn); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("after two appends %q", got)
	}
	got, err := p.GetRecords(ctx, zone)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range got {
		if tx, ok := r.(libdns.TXT); ok && tx.Name == "_acme-challenge" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("GetRecords found %d TXT values at the name, want 2 (the quotes are removed)", n)
	}

	// An identical append: IONOS refuses it, and the library drops the body, so the error says only the status.
	_, err = p.AppendRecords(ctx, zone, txt("apex-value"))
	if err == nil || !strings.Contains(err.Error(), "Bad Request (400)") || strings.Contains(err.Error(), "Record already exists") {
		t.Errorf("identical append: %v, want the bare status", err)
	}

	// SetRecords with two values at the name: refused ("expected 1, found 2"), nothing written.
	before := len(s.Requests())
	if _, err := p.SetRecords(ctx, zone, txt("only-this")); err == nil || !strings.Contains(err.Error(), "expected 1, found 2") {
		t.Errorf("SetRecords over two values: %v", err)
	}
	if got := calls(s, before); len(got) != 0 {
		t.Errorf("SetRecords over two values wrote %q", got)
	}

	// DeleteRecords of one value deletes every TXT at the name, the sibling included.
	before = len(s.Requests())
	deleted, err := p.DeleteRecords(ctx, zone, txt("apex-value"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(fqdn); got != nil {
		t.Errorf("after deleting one value %q: the library deletes the whole name", got)
	}
	if len(deleted) != 2 || !slices.Equal(calls(s, before), []string{"DELETE", "DELETE"}) {
		t.Errorf("delete of one value: %d deleted, writes %q, want both records deleted", len(deleted), calls(s, before))
	}
	// At an empty name the library fails: not idempotent.
	if _, err := p.DeleteRecords(ctx, zone, txt("apex-value")); err == nil || !strings.Contains(err.Error(), "record not found in zone") {
		t.Errorf("delete at an empty name: %v, want the library's not-found error", err)
	}

	// SetRecords with one or no value at the name: PUT the one in place (same ID), or POST a new one.
	if _, err := p.SetRecords(ctx, zone, txt("first")); err != nil {
		t.Fatal(err)
	}
	id := s.Records(zone)[len(s.Records(zone))-1].ID
	before = len(s.Requests())
	if _, err := p.SetRecords(ctx, zone, txt("second")); err != nil {
		t.Fatal(err)
	}
	if got := calls(s, before); !slices.Equal(got, []string{"PUT"}) {
		t.Errorf("SetRecords over one value sent %q, want PUT", got)
	}
	if got := s.TXT(fqdn); !slices.Equal(got, []string{"second"}) || s.Records(zone)[len(s.Records(zone))-1].ID != id {
		t.Errorf("after SetRecords %q, want the value replaced in place", got)
	}
}

func TestLibdnsZonesAndALargeZone(t *testing.T) {
	s := start(t, WithZone("example.org"), WithZone("sub.example.com"))
	p := provider(t, s)
	ctx := context.Background()
	zones, err := p.ListZones(ctx)
	if err != nil || len(zones) != 3 {
		t.Fatalf("ListZones: %v %v", err, zones)
	}
	// IONOS documents no paging: one POST of 150 records, one GET answering them all.
	var recs []libdns.Record
	for i := range 150 {
		recs = append(recs, libdns.TXT{Name: fmt.Sprintf("r%03d", i), Text: "v", TTL: time.Minute})
	}
	if _, err := p.AppendRecords(ctx, "example.com.", recs); err != nil {
		t.Fatal(err)
	}
	before := len(s.Requests())
	got, err := p.GetRecords(ctx, "example.com.")
	if err != nil || len(got) != 150+5 {
		t.Errorf("GetRecords: %v, %d records, want 155", err, len(got))
	}
	if n := len(s.Requests()) - before; n != 2 { // the zone list, the zone
		t.Errorf("GetRecords made %d requests, want 2", n)
	}
	// The zone is matched by its exact name.
	if _, err := p.GetRecords(ctx, "example.net."); err == nil || !strings.Contains(err.Error(), "zone named not found") {
		t.Errorf("unknown zone: %v", err)
	}
}

func TestLibdnsErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("429 is not retried and its body is dropped", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		s.RateLimit(1, 2*time.Second)
		_, err := p.AppendRecords(ctx, "example.com.", txt("v"))
		if err == nil || !strings.Contains(err.Error(), "Too Many Requests (429)") {
			t.Errorf("err %v, want the bare 429", err)
		}
		if _, err := p.AppendRecords(ctx, "example.com.", txt("v")); err != nil {
			t.Errorf("the next call: %v", err)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		s := start(t)
		provider(t, s)
		p := &ionos.Provider{AuthAPIToken: "prefix.not-known"}
		_, err := p.GetRecords(ctx, "example.com.")
		// The fake echoes the key in its body; the library drops bodies, so it never reaches the error.
		if err == nil || !strings.Contains(err.Error(), "Unauthorized (401)") || strings.Contains(err.Error(), "not-known") {
			t.Errorf("err %v, want the bare 401", err)
		}
	})
	t.Run("LIBDNS_IONOS_DEBUG prints answers to stdout", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		if _, err := p.AppendRecords(ctx, "example.com.", txt("printed-value")); err != nil {
			t.Fatal(err)
		}
		t.Setenv("LIBDNS_IONOS_DEBUG", "1")
		out := captureStdout(t, func() {
			if _, err := p.GetRecords(ctx, "example.com."); err != nil {
				t.Error(err)
			}
		})
		// The request is printed before the key is added; the answers, with every record value, are printed.
		if !strings.Contains(out, "libdns-ionos: HTTP req") || !strings.Contains(out, "printed-value") || strings.Contains(out, apiKey) {
			t.Errorf("debug output:\n%s", out)
		}
	})
}

// captureStdout runs f with os.Stdout sent to a pipe and returns what was written.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	f()
	os.Stdout = stdout
	_ = w.Close()
	out := <-done
	_ = r.Close()
	return out
}

func TestLibdnsMirrorIntoBIND(t *testing.T) {
	bind := testdns.Start(t, testdns.Zone{Name: "validation.example.org.", Updatable: true})
	s := start(t, WithZone("validation.example.org"), WithMirror(bind))
	p := provider(t, s)
	ctx := context.Background()
	const zone = "validation.example.org."
	for _, v := range []string{"apex-value", "wildcard-value"} {
		if _, err := p.AppendRecords(ctx, zone, txt(v)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := bind.LookupTXT("_acme-challenge." + zone)
	if err != nil || !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("DNS sees %q (%v), want both values", got, err)
	}
	// What the library's delete does, seen in DNS: both values gone.
	if _, err := p.DeleteRecords(ctx, zone, txt("apex-value")); err != nil {
		t.Fatal(err)
	}
	got, err = bind.LookupTXT("_acme-challenge." + zone)
	if err != nil || len(got) != 0 {
		t.Errorf("DNS sees %q (%v) after one delete, want nothing (the sibling went too)", got, err)
	}
}
