package fakedesec

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libdns/desec"
	"github.com/libdns/libdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

// These tests drive the fake with the real client the project will use, github.com/libdns/desec v1.1.1. It sends
// every request with http.DefaultClient, so the fake's Transport is installed as http.DefaultTransport for the
// test: process wide, hence no t.Parallel in this file.

func provider(t *testing.T, s *Server) *desec.Provider {
	t.Helper()
	old := http.DefaultTransport
	http.DefaultTransport = s.Transport()
	t.Cleanup(func() { http.DefaultTransport = old })
	return &desec.Provider{Token: token}
}

func txt(name, value string, ttl time.Duration) []libdns.Record {
	return []libdns.Record{libdns.TXT{Name: name, Text: value, TTL: ttl}}
}

// writes counts the requests that can change something.
func writes(s *Server) int {
	return s.CountRequests("PUT", "") + s.CountRequests("PATCH", "") + s.CountRequests("POST", "") + s.CountRequests("DELETE", "")
}

func TestLibdnsTwoValuesAtOneName(t *testing.T) {
	s := start(t)
	p := provider(t, s)
	ctx := context.Background()
	const name = "_acme-challenge.example.com."

	// AppendRecords GETs the RRset (without the trailing slash: one 301 each), merges the value in and PUTs the
	// whole set in a bulk request. TTL 60 is raised to 3600 by libdns/desec itself.
	if _, err := p.AppendRecords(ctx, "example.com.", txt("_acme-challenge", "apex-value", time.Minute)); err != nil {
		t.Fatalf("append the first value: %v", err)
	}
	created, err := p.AppendRecords(ctx, "example.com.", txt("_acme-challenge", "wildcard-value", time.Minute))
	if err != nil {
		t.Fatalf("append the sibling: %v", err)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("after two appends %q, want both", got)
	}
	if len(created) != 1 || created[0].RR().TTL != time.Hour {
		t.Errorf("AppendRecords returned %+v, want the one value with the set's TTL (1h)", created)
	}
	recs := s.Records("example.com")
	if recs[0].TTL != 3600 || !slices.Equal(recs[0].Records, []string{`"apex-value"`, `"wildcard-value"`}) {
		t.Errorf("stored %+v", recs[0])
	}
	if n := s.CountRequests("PUT", rrsets); n != 2 {
		t.Errorf("%d bulk PUTs, want one per append", n)
	}
	redirects := 0
	for _, r := range s.Requests() {
		if r.Status == http.StatusMovedPermanently {
			redirects++
		}
	}
	if redirects != 2 {
		t.Errorf("%d redirects, want one per RRset lookup", redirects)
	}

	// An identical append finds the value in the set and writes nothing: success.
	before := writes(s)
	created, err = p.AppendRecords(ctx, "example.com.", txt("_acme-challenge", "apex-value", time.Minute))
	if err != nil || len(created) != 0 || writes(s) != before {
		t.Errorf("identical append: %d returned, err %v, %d writes, want a silent no-op", len(created), err, writes(s)-before)
	}

	// Deleting a value that is not there writes nothing either.
	deleted, err := p.DeleteRecords(ctx, "example.com.", txt("_acme-challenge", "never-written", 0))
	if err != nil || len(deleted) != 0 || writes(s) != before {
		t.Errorf("delete of an absent value: %d deleted, err %v, %d writes", len(deleted), err, writes(s)-before)
	}

	// Deleting one value PUTs the set without it: the sibling stays (read-modify-write; libdns/desec holds one
	// process-wide write lock, nothing across processes).
	deleted, err = p.DeleteRecords(ctx, "example.com.", txt("_acme-challenge", "apex-value", 0))
	if err != nil || len(deleted) != 1 {
		t.Fatalf("delete one value: %d deleted, err %v", len(deleted), err)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("after deleting one value %q, want the sibling alone", got)
	}
	// The last value: PUT with records [] deletes the RRset.
	if _, err := p.DeleteRecords(ctx, "example.com.", txt("_acme-challenge", "wildcard-value", 0)); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(name); got != nil {
		t.Errorf("after deleting both %q", got)
	}
	// A name with no RRset: the GET is 404, nothing is written.
	before = writes(s)
	if deleted, err := p.DeleteRecords(ctx, "example.com.", txt("_acme-challenge", "apex-value", 0)); err != nil || len(deleted) != 0 || writes(s) != before {
		t.Errorf("delete at an empty name: %d deleted, err %v", len(deleted), err)
	}
}

func TestLibdnsKeepsALongerTTL(t *testing.T) {
	s := start(t)
	p := provider(t, s)
	ctx := context.Background()
	if _, err := p.AppendRecords(ctx, "example.com.", txt("_acme-challenge", "one", 2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendRecords(ctx, "example.com.", txt("_acme-challenge", "two", time.Minute)); err != nil {
		t.Fatal(err)
	}
	if recs := s.Records("example.com"); recs[0].TTL != 7200 {
		t.Errorf("TTL %d, want the existing set's 7200: an append keeps the set's TTL", recs[0].TTL)
	}
}

func TestLibdnsZonesAndPagination(t *testing.T) {
	s := start(t, WithDomain("example.org"), WithPageSize(4))
	p := provider(t, s)
	ctx := context.Background()
	zones, err := p.ListZones(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, z := range zones {
		names = append(names, z.Name)
	}
	if !slices.Equal(names, []string{"example.com.", "example.org."}) {
		t.Errorf("ListZones %q", names)
	}
	for i := range 3 {
		if _, err := p.AppendRecords(ctx, "example.com.", txt(fmt.Sprintf("r%d", i), "v", 0)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := p.GetRecords(ctx, "example.com."); err != nil || len(got) != 5 { // 3 TXT, 2 NS
		t.Fatalf("GetRecords within one page: %d records, err %v", len(got), err)
	}
	// One RRset more than a page: libdns/desec sends no cursor, so deSEC refuses the listing.
	if _, err := p.AppendRecords(ctx, "example.com.", txt("r3", "v", 0)); err != nil {
		t.Fatal(err)
	}
	_, err = p.GetRecords(ctx, "example.com.")
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "Pagination required") {
		t.Errorf("GetRecords past one page: err %v, want deSEC's 400 Pagination required", err)
	}
	// Appends and deletes read single RRsets and keep working.
	if _, err := p.DeleteRecords(ctx, "example.com.", txt("r3", "v", 0)); err != nil {
		t.Errorf("delete in a large zone: %v", err)
	}
}

func TestLibdnsThrottling(t *testing.T) {
	ctx := context.Background()
	t.Run("Retry-After is waited out", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		s.RateLimit(1, time.Second, fakeapi.Match{Method: "PUT"})
		began := time.Now()
		if _, err := p.AppendRecords(ctx, "example.com.", txt("_acme-challenge", "v", 0)); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took < time.Second {
			t.Errorf("took %v, want the Retry-After second waited", took)
		}
		if n := s.CountRequests("PUT", ""); n != 2 {
			t.Errorf("%d PUTs, want 2", n)
		}
	})
	t.Run("no Retry-After is an error", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		s.RateLimit(1, 0)
		_, err := p.AppendRecords(ctx, "example.com.", txt("_acme-challenge", "v", 0))
		if err == nil || !strings.Contains(err.Error(), "Retry-After") {
			t.Errorf("err %v, want libdns/desec's Retry-After parse error", err)
		}
	})
	t.Run("a throttle longer than the deadline", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		s.Limit(1, time.Hour, 0, true) // deSEC's sliding window: one request, then an hour
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := p.AppendRecords(ctx, "example.com.", txt("_acme-challenge", "v", 0))
		if err == nil || !strings.Contains(err.Error(), "cooldown") {
			t.Errorf("err %v, want the deadline to end the wait", err)
		}
	})
	t.Run("wrong token is echoed", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		p.Token = "leaked-token-value"
		_, err := p.GetRecords(ctx, "example.com.")
		if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "leaked-token-value") {
			t.Errorf("err %v, want 401 echoing the token", err)
		}
	})
}

func TestLibdnsMirrorIntoBIND(t *testing.T) {
	bind := testdns.Start(t, testdns.Zone{Name: "validation.example.org.", Updatable: true})
	s := start(t, WithDomain("validation.example.org"), WithMirror(bind))
	p := provider(t, s)
	ctx := context.Background()
	const zone = "validation.example.org."
	for _, v := range []string{"apex-value", "wildcard-value"} {
		if _, err := p.AppendRecords(ctx, zone, txt("_acme-challenge", v, 0)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := bind.LookupTXT("_acme-challenge." + zone)
	if err != nil || !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("DNS sees %q (%v), want both values", got, err)
	}
	if _, err := p.DeleteRecords(ctx, zone, txt("_acme-challenge", "apex-value", 0)); err != nil {
		t.Fatal(err)
	}
	got, err = bind.LookupTXT("_acme-challenge." + zone)
	if err != nil || !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("DNS sees %q (%v) after one delete, want the sibling", got, err)
	}
}

// childEnv marks the test binary re-executed as a separate process that reaches the fake only through HTTPS_PROXY
// and SSL_CERT_FILE, as a separately started webhook does.
const childEnv = "FAKEDESEC_CHILD"

// TestMain runs the child mode when asked.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func runChild() int {
	p := &desec.Provider{Token: token}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := p.AppendRecords(ctx, "example.com.", txt("_acme-challenge", "through-proxy", 0))
	if err == nil {
		var recs []libdns.Record
		if recs, err = p.GetRecords(ctx, "example.com."); err == nil {
			_ = json.NewEncoder(os.Stdout).Encode(len(recs))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	return 0
}

func TestLibdnsThroughProxyInAChildProcess(t *testing.T) {
	s := start(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), s.ProxyEnv(caFile)...), childEnv+"=1", "SSL_CERT_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	if got := s.TXT("_acme-challenge.example.com."); !slices.Equal(got, []string{"through-proxy"}) {
		t.Errorf("TXT %q", got)
	}
	for _, r := range s.Requests() {
		if !r.ViaProxy || r.Host != APIHost {
			t.Errorf("request %+v, want it through the proxy for %s", r, APIHost)
		}
	}
}
