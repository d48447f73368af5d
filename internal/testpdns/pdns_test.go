package testpdns

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

func TestPowerDNSServesWhatTheAPIWrites(t *testing.T) {
	p := Start(t)
	ctx := context.Background()
	const name = "_acme-challenge.validation.example.org."

	if err := p.CreateZone(ctx, "validation.example.org."); err != nil {
		t.Fatal(err)
	}
	if err := p.CreateZone(ctx, "example.com."); err != nil {
		t.Fatal(err)
	}
	m, err := p.Query("validation.example.org.", dns.TypeSOA)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || !m.Authoritative {
		t.Fatalf("SOA of the new zone: rcode %s, %d records, AA=%v; want one authoritative SOA", dns.RcodeToString[m.Rcode], len(m.Answer), m.Authoritative)
	}
	// The production CNAME, as an operator would add it.
	if err := p.AddRecords(ctx, "example.com.", RRset{Name: "_acme-challenge.example.com.", Type: "CNAME", Contents: []string{name}}); err != nil {
		t.Fatal(err)
	}
	if err := p.AddRecords(ctx, "validation.example.org.", RRset{Name: name, Type: "TXT", Contents: []string{`"one"`, `"two"`}}); err != nil {
		t.Fatal(err)
	}
	// At once, no waiting: the server runs without caches.
	got, err := p.LookupTXT(name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("TXT over DNS right after the PATCH = %q, want [one two]", got)
	}
	m, err = p.Query("_acme-challenge.example.com.", dns.TypeTXT)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answer) == 0 || m.Answer[0].Header().Rrtype != dns.TypeCNAME || m.Answer[0].(*dns.CNAME).Target != name {
		t.Fatalf("TXT query at the production name: answer %v, want the CNAME to %s first", m.Answer, name)
	}
	// PowerDNS, unlike Knot, follows the CNAME into the other zone it serves.
	if got, err := p.LookupTXT("_acme-challenge.example.com."); err != nil || !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("TXT through the CNAME = %q, %v; want [one two]", got, err)
	}
	zone, err := p.ZoneTXT(ctx, "validation.example.org.")
	if err != nil {
		t.Fatal(err)
	}
	if len(zone) != 1 || !slices.Equal(zone[name], []string{"one", "two"}) {
		t.Fatalf("zone TXT through the API = %q, want only %s [one two]", zone, name)
	}

	// A PATCH with a wrong key, or none, is refused and changes nothing.
	patch := map[string]any{"rrsets": apiRRsets([]RRset{{Name: name, Type: "TXT", Contents: []string{`"evil"`}}}, "REPLACE")}
	for _, key := range []string{"wrong-" + p.APIKey, ""} {
		status, body, err := p.Request(ctx, http.MethodPatch, p.zonePath("validation.example.org."), key, patch)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusUnauthorized {
			t.Fatalf("PATCH with key %q: HTTP %d (%s), want 401", key, status, body)
		}
	}
	got, err = p.LookupTXT(name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("TXT after the refused PATCHes = %q, want [one two]", got)
	}
}
