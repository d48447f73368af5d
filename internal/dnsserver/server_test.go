package dnsserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"github.com/libdns/rfc2136"
	"github.com/miekg/dns"
)

func start(t *testing.T) (*Server, string) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret := base64.StdEncoding.EncodeToString(b)
	s, err := Start("acme-update.", secret,
		Zone{Name: "example.com.", Records: []string{"_acme-challenge.example.com. 60 IN CNAME _acme-challenge.validation.example.org."}},
		Zone{Name: "validation.example.org.", Updatable: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, secret
}

func txt(t *testing.T, addr, name string, rd bool) (*dns.Msg, []string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	m.RecursionDesired = rd
	in, _, err := (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range in.Answer {
		if x, ok := rr.(*dns.TXT); ok {
			out = append(out, x.Txt[0])
		}
	}
	slices.Sort(out)
	return in, out
}

// TestWithRFC2136Provider drives the server with the same libdns client the webhook uses.
func TestWithRFC2136Provider(t *testing.T) {
	s, secret := start(t)
	ctx := context.Background()
	p := &rfc2136.Provider{KeyName: "acme-update.", KeyAlg: "hmac-sha256", Key: secret, Server: s.Addr}
	for _, v := range []string{"one", "two", "two"} {
		if _, err := p.AppendRecords(ctx, "validation.example.org.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", TTL: time.Minute, Text: v}}); err != nil {
			t.Fatal(err)
		}
	}
	// A resolver-style query at the production name follows the CNAME into the delegation zone.
	_, got := txt(t, s.Addr, "_acme-challenge.example.com.", true)
	if !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("TXT through CNAME = %q", got)
	}
	// Without recursion the answer is the CNAME alone, as BIND answers.
	in, got := txt(t, s.Addr, "_acme-challenge.example.com.", false)
	if len(got) != 0 || len(in.Answer) != 1 {
		t.Fatalf("RD=0 answer = %v", in.Answer)
	}
	if _, err := p.DeleteRecords(ctx, "validation.example.org.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "one"}}); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT("_acme-challenge.validation.example.org."); !slices.Equal(got, []string{"two"}) {
		t.Fatalf("after delete = %q", got)
	}
	// The production zone is read-only, a wrong key is refused, and only TXT may change.
	if _, err := p.AppendRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "x", Text: "no"}}); err == nil {
		t.Fatal("update of the read-only zone succeeded")
	}
	bad := *p
	bad.Key = base64.StdEncoding.EncodeToString([]byte("wrong-secret-wrong-secret-wrong!"))
	if _, err := bad.AppendRecords(ctx, "validation.example.org.", []libdns.Record{libdns.TXT{Name: "x", Text: "no"}}); err == nil {
		t.Fatal("update with a wrong key succeeded")
	}
	if _, err := p.AppendRecords(ctx, "validation.example.org.", []libdns.Record{libdns.CNAME{Name: "x", Target: "y."}}); err == nil {
		t.Fatal("non-TXT update succeeded")
	}
	// SOA for a name below the apex comes back in the authority section (zone discovery relies on it).
	m := new(dns.Msg)
	m.SetQuestion("_acme-challenge.validation.example.org.", dns.TypeSOA)
	in, err := dns.Exchange(m, s.Addr)
	if err != nil || len(in.Ns) != 1 || in.Ns[0].Header().Name != "validation.example.org." {
		t.Fatalf("SOA below apex: %v %v", in, err)
	}
}
