package testknot

import (
	"context"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

func TestKnotTakesSignedTXTUpdatesOnly(t *testing.T) {
	k := Start(t,
		Zone{Name: "example.com.", Records: []string{"_acme-challenge IN CNAME _acme-challenge.validation.example.org."}},
		Zone{Name: "validation.example.org.", Updatable: true},
	)
	ctx := context.Background()
	const name = "_acme-challenge.validation.example.org."

	m, err := k.Query("validation.example.org.", dns.TypeSOA)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || !m.Authoritative {
		t.Fatalf("SOA answer: rcode %s, %d records, AA=%v; want one authoritative SOA", dns.RcodeToString[m.Rcode], len(m.Answer), m.Authoritative)
	}
	// The production zone serves its static CNAME.
	m, err = k.Query("_acme-challenge.example.com.", dns.TypeCNAME)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answer) != 1 || m.Answer[0].(*dns.CNAME).Target != name {
		t.Fatalf("CNAME at the production name = %v, want one to %s", m.Answer, name)
	}

	for _, v := range []string{"one", "two"} {
		if err := k.AppendTXT(ctx, name, v, 60); err != nil {
			t.Fatalf("signed update: %v\n%s", err, k.Output())
		}
	}
	zone, err := k.ZoneTXT("validation.example.org.")
	if err != nil {
		t.Fatal(err)
	}
	if v := zone[name]; !slices.Equal(v, []string{"one", "two"}) {
		t.Fatalf("zone TXT by AXFR = %q, want [one two]", v)
	}
	if err := k.DeleteTXT(ctx, name, "one"); err != nil {
		t.Fatal(err)
	}
	got, err := k.LookupTXT(name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"two"}) {
		t.Fatalf("TXT after deleting one = %q, want [two]: the sibling value must stay", got)
	}

	// Unsigned: refused, and nothing written.
	if err := k.AppendTXTUnsigned(ctx, name, "unsigned", 60); err == nil {
		t.Fatal("an unsigned update was accepted")
	}
	// Signed, but not TXT: the ACL's update-type refuses it (NOTAUTH, see Update).
	a := new(dns.Msg)
	a.SetUpdate("validation.example.org.")
	rr, err := dns.NewRR("evil.validation.example.org. 60 IN A 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	a.Insert([]dns.RR{rr})
	if rcode, err := k.Update(ctx, a); rcode != dns.RcodeNotAuth {
		t.Fatalf("signed A update: rcode %s, err %v; want NOTAUTH", dns.RcodeToString[rcode], err)
	}
	// Signed, but in the read-only production zone.
	if err := k.AppendTXT(ctx, "x.example.com.", "nope", 60); err == nil {
		t.Fatal("update of the read-only production zone succeeded")
	}
	zone, err = k.ZoneTXT("validation.example.org.")
	if err != nil {
		t.Fatal(err)
	}
	if len(zone) != 1 || !slices.Equal(zone[name], []string{"two"}) {
		t.Fatalf("zone TXT after the refused updates = %q, want only %s [two]", zone, name)
	}
	if _, err := k.ZoneTXT("example.com."); err == nil {
		t.Fatal("AXFR of the read-only production zone succeeded; only updatable zones allow it")
	}
}
