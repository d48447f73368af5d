package testpdns

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"github.com/libdns/powerdns"
	"github.com/miekg/dns"
)

// These tests pin down what libdns/powerdns v0.1.4 really does to the TXT RRset at one name, against a real
// PowerDNS: the provider's write strategy (DESIGN.md, "Write strategies") is chosen from it. If an upgrade
// changes the behaviour, these fail and the strategy must be re-judged.

const (
	zoneName = "validation.example.org."
	owner    = "_acme-challenge.validation.example.org."
)

func txt(value string, ttl time.Duration) libdns.Record {
	return libdns.TXT{Name: "_acme-challenge", TTL: ttl, Text: value}
}

func newZone(t *testing.T) *PowerDNS {
	t.Helper()
	p := Start(t)
	if err := p.CreateZone(context.Background(), zoneName); err != nil {
		t.Fatal(err)
	}
	return p
}

// zoneValues is the TXT at owner as PowerDNS holds it, and as DNS answers it; the two must agree.
func zoneValues(t *testing.T, p *PowerDNS) []string {
	t.Helper()
	zone, err := p.ZoneTXT(context.Background(), zoneName)
	if err != nil {
		t.Fatal(err)
	}
	dnsValues, err := p.LookupTXT(owner)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(zone[owner], dnsValues) {
		t.Fatalf("API holds %q but DNS answers %q", zone[owner], dnsValues)
	}
	return zone[owner]
}

func TestLibdnsPowerDNSAppendAndDeleteRewriteTheRRset(t *testing.T) {
	p := newZone(t)
	ctx := context.Background()
	prov := &powerdns.Provider{ServerURL: p.URL, APIToken: p.APIKey}
	steps := []struct {
		what   string
		delete bool
		value  string
		want   []string
	}{
		{"append one", false, "one", []string{"one"}},
		// AppendRecords reads the zone, merges, and REPLACEs the RRset: the first value survives.
		{"append a second value", false, "two", []string{"one", "two"}},
		// The merge drops a value that is already there: an identical append is a quiet success, no duplicate.
		{"append an identical value", false, "two", []string{"one", "two"}},
		// DeleteRecords reads the zone, removes the matching content, and REPLACEs the RRset with the rest.
		{"delete one of two", true, "one", []string{"two"}},
		{"delete what is already gone", true, "one", []string{"two"}},
		// The last value: REPLACE with no records (the library overwrites its own DELETE changetype with
		// REPLACE), which PowerDNS takes as removing the RRset.
		{"delete the last value", true, "two", nil},
		{"delete at a name with no TXT", true, "two", nil},
	}
	for _, s := range steps {
		var err error
		if s.delete {
			_, err = prov.DeleteRecords(ctx, zoneName, []libdns.Record{txt(s.value, 0)})
		} else {
			_, err = prov.AppendRecords(ctx, zoneName, []libdns.Record{txt(s.value, 60*time.Second)})
		}
		if err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		if got := zoneValues(t, p); !slices.Equal(got, s.want) {
			t.Fatalf("after %s: TXT = %q, want %q", s.what, got, s.want)
		}
	}
	m, err := p.Query(owner, dns.TypeTXT)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcode != dns.RcodeNameError {
		t.Fatalf("after deleting every value: rcode %s, want NXDOMAIN (the RRset is gone)", dns.RcodeToString[m.Rcode])
	}
}

func TestLibdnsPowerDNSAppendSetsTheTTLOfTheWholeRRset(t *testing.T) {
	p := newZone(t)
	ctx := context.Background()
	prov := &powerdns.Provider{ServerURL: p.URL, APIToken: p.APIKey}
	if _, err := prov.AppendRecords(ctx, zoneName, []libdns.Record{txt("one", 300*time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := prov.AppendRecords(ctx, zoneName, []libdns.Record{txt("two", 60*time.Second)}); err != nil {
		t.Fatal(err)
	}
	m, err := p.Query(owner, dns.TypeTXT)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range m.Answer {
		if rr.Header().Ttl != 60 {
			t.Fatalf("TTL of %v is %d; want 60: the merged RRset takes the TTL of the value appended last", rr, rr.Header().Ttl)
		}
	}
}

// gatedProxy forwards to PowerDNS's API but holds every PATCH until release is closed, telling arrived when the
// first one is held: a deterministic interleaving of two clients' read-modify-write.
func gatedProxy(t *testing.T, p *PowerDNS) (u string, arrived, release chan struct{}) {
	t.Helper()
	target, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	arrived, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			once.Do(func() { close(arrived) })
			<-release
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, arrived, release
}

// Two writers at one name, as the apex and wildcard challenges of one certificate (or two replicas) are: A reads
// the RRset, B writes, then A writes back what it read plus or minus its own value. B's change is lost, and both
// calls report success.
func TestLibdnsPowerDNSConcurrentWritesLoseAnUpdate(t *testing.T) {
	cases := []struct {
		name    string
		initial []string
		aDelete bool // A deletes "one" (else appends "a")
		want    []string
	}{
		{"append vs append", nil, false, []string{"a"}},            // B's "b" lost
		{"delete vs append", []string{"one"}, true, []string(nil)}, // B's "b" lost
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newZone(t)
			ctx := context.Background()
			direct := &powerdns.Provider{ServerURL: p.URL, APIToken: p.APIKey}
			for _, v := range c.initial {
				if _, err := direct.AppendRecords(ctx, zoneName, []libdns.Record{txt(v, 60*time.Second)}); err != nil {
					t.Fatal(err)
				}
			}
			u, arrived, release := gatedProxy(t, p)
			slow := &powerdns.Provider{ServerURL: u, APIToken: p.APIKey}
			aErr := make(chan error, 1)
			go func() {
				var err error
				if c.aDelete {
					_, err = slow.DeleteRecords(ctx, zoneName, []libdns.Record{txt("one", 0)})
				} else {
					_, err = slow.AppendRecords(ctx, zoneName, []libdns.Record{txt("a", 60*time.Second)})
				}
				aErr <- err
			}()
			select {
			case <-arrived: // A has read the zone and holds its PATCH
			case err := <-aErr:
				t.Fatalf("A finished without writing: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("A never sent its PATCH")
			}
			if _, err := direct.AppendRecords(ctx, zoneName, []libdns.Record{txt("b", 60*time.Second)}); err != nil {
				t.Fatalf("B: %v", err)
			}
			if got := zoneValues(t, p); !slices.Contains(got, "b") {
				t.Fatalf("after B's append: TXT = %q, want b among them", got)
			}
			close(release)
			if err := <-aErr; err != nil {
				t.Fatalf("A: %v", err)
			}
			if got := zoneValues(t, p); !slices.Equal(got, c.want) {
				t.Fatalf("after A's write: TXT = %q, want %q (B's value overwritten)", got, c.want)
			}
		})
	}
}

// libdns/powerdns builds its client on the first call, and mittwald/go-powerdns panics on a server_url that
// url.ParseRequestURI rejects: the webhook must validate server_url before any call.
func TestLibdnsPowerDNSPanicsOnABadServerURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8081", "not a url"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("server_url %q: no panic; the library changed, re-check the provider's validation", u)
				}
			}()
			prov := &powerdns.Provider{ServerURL: u, APIToken: "k"}
			_, _ = prov.GetRecords(context.Background(), zoneName)
		}()
	}
}
