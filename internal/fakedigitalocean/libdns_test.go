package fakedigitalocean

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libdns/digitalocean"
	"github.com/libdns/libdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

// These tests drive the fake with the real client the project will use, github.com/libdns/digitalocean at
// v0.0.0-20250606071607-dfa7af5c2e31 (with godo v1.197.0, which the module graph selects). Nothing of its HTTP
// can be injected: godo.NewFromToken builds a go-retryablehttp client on its own pooled transport, which takes
// its proxy from HTTPS_PROXY and trusts the system roots, both read once per process. So TestMain starts one
// Server for the package, points HTTPS_PROXY and SSL_CERT_FILE at it before any request, and every test works on
// a domain of its own, its faults matched to that domain's paths.

// shared is the Server the libdns tests reach through the proxy.
var shared *Server

// TestMain starts shared and sets the process's proxy environment before the tests run.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	s, err := Start(WithToken(token))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	dir, err := os.MkdirTemp("", "fakedigitalocean")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	caFile := filepath.Join(dir, "ca.pem")
	if err := s.WriteCAFile(caFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, kv := range append(s.ProxyEnv(caFile), "SSL_CERT_DIR="+dir) {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	shared = s
	return m.Run()
}

var (
	nonLabel = regexp.MustCompile(`[^a-z0-9-]+`)
	// domains numbers the domains handed out, so that -count=N runs, which share the Server, never share one.
	domains atomic.Int64
)

// domainFor adds a domain of the test's own to shared and returns its name (no trailing dot) and the path prefix
// of its records, for faults and counts.
func domainFor(t *testing.T) (string, string) {
	t.Helper()
	name := fmt.Sprintf("%s-%d.test", strings.Trim(nonLabel.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-"), domains.Add(1))
	shared.AddDomain(name)
	return name, BasePath + "/domains/" + name + "/records"
}

func provider() *digitalocean.Provider { return &digitalocean.Provider{APIToken: token} }

func txt(name, value string) []libdns.Record {
	return []libdns.Record{libdns.TXT{Name: name, Text: value, TTL: time.Minute}}
}

// idOf finds the record GetRecords returns for value at name: the provider's own DNS type, with the numeric ID
// that DeleteRecords needs.
func idOf(t *testing.T, recs []libdns.Record, name, value string) digitalocean.DNS {
	t.Helper()
	for _, r := range recs {
		if d, ok := r.(digitalocean.DNS); ok && d.Record.Type == "TXT" && d.Record.Name == name && d.Record.Data == value {
			return d
		}
	}
	t.Fatalf("no TXT %s=%s among %+v", name, value, recs)
	return digitalocean.DNS{}
}

func TestLibdnsTwoValuesAtOneName(t *testing.T) {
	t.Parallel()
	zone, prefix := domainFor(t)
	p := provider()
	ctx := context.Background()

	// AppendRecords POSTs one record per value: nothing is read, the sibling is not touched.
	first, err := p.AppendRecords(ctx, zone+".", txt("_acme-challenge", "apex-value"))
	if err != nil {
		t.Fatalf("append the first value: %v", err)
	}
	if _, err := p.AppendRecords(ctx, zone+".", txt("_acme-challenge", "wildcard-value")); err != nil {
		t.Fatalf("append the sibling: %v", err)
	}
	if got := shared.TXT(zone, "_acme-challenge"); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("after two appends %q, want both", got)
	}
	if n := shared.CountRequests("GET", prefix); n != 0 {
		t.Errorf("AppendRecords read the zone %d times, want never", n)
	}
	// The returned record carries the new ID: a caller that kept it could delete by it.
	if d, ok := first[0].(digitalocean.DNS); !ok || d.ID == "" {
		t.Errorf("AppendRecords returned %#v, want a digitalocean.DNS with the ID", first[0])
	}

	// An identical append creates a second, identical record: DigitalOcean accepts it.
	if _, err := p.AppendRecords(ctx, zone+".", txt("_acme-challenge", "apex-value")); err != nil {
		t.Fatalf("identical append: %v", err)
	}
	if got := shared.TXT(zone, "_acme-challenge"); !slices.Equal(got, []string{"apex-value", "apex-value", "wildcard-value"}) {
		t.Errorf("after an identical append %q, want the value twice", got)
	}

	// DeleteRecords with a plain libdns.TXT fails before any request: it needs the provider's ID.
	before := shared.CountRequests("DELETE", prefix)
	_, err = p.DeleteRecords(ctx, zone+".", txt("_acme-challenge", "apex-value"))
	if err == nil || !strings.Contains(err.Error(), "strconv.Atoi") {
		t.Errorf("delete by value: err %v, want the ID parse error", err)
	}
	if shared.CountRequests("DELETE", prefix) != before {
		t.Error("a delete by value reached the API")
	}

	// GetRecords, find the value's ID, delete by ID: exactly that record goes, the sibling stays.
	recs, err := p.GetRecords(ctx, zone+".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DeleteRecords(ctx, zone+".", []libdns.Record{idOf(t, recs, "_acme-challenge", "wildcard-value")}); err != nil {
		t.Fatalf("delete by ID: %v", err)
	}
	if got := shared.TXT(zone, "_acme-challenge"); !slices.Equal(got, []string{"apex-value", "apex-value"}) {
		t.Errorf("after deleting the wildcard value %q, want the apex records alone", got)
	}
	// Deleting that ID again: 404, as an error.
	_, err = p.DeleteRecords(ctx, zone+".", []libdns.Record{idOf(t, recs, "_acme-challenge", "wildcard-value")})
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "could not be found") {
		t.Errorf("delete of a deleted ID: err %v, want 404 not_found", err)
	}
}

func TestLibdnsGetRecordsPaginates(t *testing.T) {
	t.Parallel()
	zone, prefix := domainFor(t)
	p := provider()
	ctx := context.Background()
	var recs []libdns.Record
	for i := range 41 { // with 3 NS and the SOA: 45 records, three pages of 20
		recs = append(recs, libdns.TXT{Name: fmt.Sprintf("r%02d", i), Text: "v", TTL: time.Minute})
	}
	if _, err := p.AppendRecords(ctx, zone+".", recs); err != nil {
		t.Fatal(err)
	}
	got, err := p.GetRecords(ctx, zone+".")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 45 {
		t.Errorf("GetRecords returned %d records, want 45", len(got))
	}
	var pages []string
	for _, r := range shared.Requests() {
		if r.Method == http.MethodGet && r.Path == prefix {
			pages = append(pages, r.Query.Get("page"))
		}
	}
	if !slices.Equal(pages, []string{"", "2", "3"}) {
		t.Errorf("pages fetched %q, want the first, 2 and 3 (following links.pages)", pages)
	}
}

func TestLibdnsRateLimit(t *testing.T) {
	t.Parallel()
	zone, prefix := domainFor(t)
	p := provider()
	ctx := context.Background()
	// godo retries 429 on its own (go-retryablehttp, 4 retries), waiting Retry-After.
	shared.RateLimit(1, time.Second, fakeapi.Match{PathPrefix: prefix})
	began := time.Now()
	if _, err := p.AppendRecords(ctx, zone+".", txt("_acme-challenge", "v")); err != nil {
		t.Fatalf("append after one 429: %v", err)
	}
	if took := time.Since(began); took < time.Second {
		t.Errorf("took %v, want the Retry-After second waited", took)
	}
	if n := shared.CountRequests("POST", prefix); n != 2 {
		t.Errorf("%d POSTs, want 2", n)
	}
	// Past its retries, the 429 is the error, with the attempts counted.
	shared.RateLimit(5, time.Second, fakeapi.Match{PathPrefix: prefix})
	_, err := p.GetRecords(ctx, zone+".")
	if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "giving up after 5 attempt(s)") {
		t.Errorf("err %v, want 429 after 5 attempts", err)
	}
}

func TestLibdnsDeadlineBeatsRetries(t *testing.T) {
	t.Parallel()
	zone, prefix := domainFor(t)
	p := provider()
	shared.FailNext(10, 503, fakeapi.Match{PathPrefix: prefix})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := p.AppendRecords(ctx, zone+".", txt("_acme-challenge", "v"))
	if err == nil || time.Since(began) > 10*time.Second {
		t.Errorf("err %v after %v, want the deadline to end godo's retries", err, time.Since(began))
	}
}

func TestLibdnsWrongToken(t *testing.T) {
	t.Parallel()
	zone, _ := domainFor(t)
	p := &digitalocean.Provider{APIToken: "dop_v1_leaked_value"}
	_, err := p.GetRecords(context.Background(), zone+".")
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "dop_v1_leaked_value") {
		t.Errorf("err %v, want 401 echoing the token", err)
	}
}

func TestLibdnsThroughTheProxy(t *testing.T) {
	t.Parallel()
	zone, prefix := domainFor(t)
	if _, err := provider().GetRecords(context.Background(), zone+"."); err != nil {
		t.Fatal(err)
	}
	for _, r := range shared.Requests() {
		if strings.HasPrefix(r.Path, prefix) && (!r.ViaProxy || r.Host != APIHost) {
			t.Errorf("request %+v, want it through the proxy for %s", r, APIHost)
		}
	}
}

func TestLibdnsMirrorIntoBIND(t *testing.T) {
	t.Parallel()
	zone, _ := domainFor(t)
	bind := testdns.Start(t, testdns.Zone{Name: zone, Updatable: true})
	shared.MirrorDomain(zone, bind)
	t.Cleanup(func() { shared.MirrorDomain(zone, nil) })
	p := provider()
	ctx := context.Background()
	for _, v := range []string{"apex-value", "wildcard-value"} {
		if _, err := p.AppendRecords(ctx, zone+".", txt("_acme-challenge", v)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := bind.LookupTXT("_acme-challenge." + zone + ".")
	if err != nil || !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("DNS sees %q (%v), want both values", got, err)
	}
	recs, err := p.GetRecords(ctx, zone+".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DeleteRecords(ctx, zone+".", []libdns.Record{idOf(t, recs, "_acme-challenge", "apex-value")}); err != nil {
		t.Fatal(err)
	}
	got, err = bind.LookupTXT("_acme-challenge." + zone + ".")
	if err != nil || !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("DNS sees %q (%v) after one delete, want the sibling", got, err)
	}
}
