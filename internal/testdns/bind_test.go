package testdns

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/miekg/dns"
)

func TestBINDServesCNAMEIntoUpdatableZone(t *testing.T) {
	b := Start(t,
		Zone{Name: "example.com.", Records: []string{"_acme-challenge IN CNAME _acme-challenge.validation.example.org."}},
		Zone{Name: "validation.example.org.", Updatable: true},
	)
	ctx := context.Background()
	for _, v := range []string{"one", "two"} {
		if err := b.AppendTXT(ctx, "_acme-challenge.validation.example.org.", v, 60); err != nil {
			t.Fatal(err)
		}
	}
	// A resolver query at the production name follows the CNAME into the delegation zone.
	got, err := b.LookupTXT("_acme-challenge.example.com.")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("TXT through the CNAME = %q, want [one two]", got)
	}
	if err := b.DeleteTXT(ctx, "_acme-challenge.validation.example.org.", "one"); err != nil {
		t.Fatal(err)
	}
	zone, err := b.ZoneTXT("validation.example.org.")
	if err != nil {
		t.Fatal(err)
	}
	if v := zone["_acme-challenge.validation.example.org."]; !slices.Equal(v, []string{"two"}) {
		t.Fatalf("zone TXT after deleting one = %q, want [two]", v)
	}
	// The production zone is read-only: the key may not touch it.
	if err := b.AppendTXT(ctx, "x.example.com.", "nope", 60); err == nil {
		t.Fatal("update of the read-only production zone succeeded")
	}
}

// A hierarchy on one port: the resolver finds the child zone from the root down, caches a negative answer, and
// keeps serving it after the record appears, while the child's own server has it at once.
func TestHierarchyAndStaleNegativeCache(t *testing.T) {
	t.Parallel()
	servers := StartAll(t,
		Server{Options: Options{IP: "127.0.0.10", AuthoritativeOnly: true}, Zones: []Zone{{
			Name: ".", NS: []string{"a.root."},
			Records: []string{"a.root. IN A 127.0.0.10", "test. IN NS ns.test.", "ns.test. IN A 127.0.0.11"},
		}}},
		Server{Options: Options{IP: "127.0.0.11", AuthoritativeOnly: true}, Zones: []Zone{{
			Name: "test.", NS: []string{"ns.test."},
			Records: []string{"ns IN A 127.0.0.11", "child IN NS ns.child", "ns.child IN A 127.0.0.12"},
		}}},
		Server{Options: Options{IP: "127.0.0.12", AuthoritativeOnly: true}, Zones: []Zone{{
			Name: "child.test.", NS: []string{"ns.child.test."}, Dynamic: true, NegativeTTL: 60,
			Records: []string{"ns IN A 127.0.0.12"},
		}}},
		Server{Options: Options{IP: "127.0.0.13", RootHints: []string{"127.0.0.10"}}},
	)
	child, resolver := servers[2], servers[3]
	if resolver.Port != child.Port || resolver.Addr != "127.0.0.13:"+strconv.Itoa(child.Port) {
		t.Fatalf("servers do not share one port: %s, %s", child.Addr, resolver.Addr)
	}
	const name = "_acme-challenge.app.child.test."
	m, err := resolver.Query(name, dns.TypeCNAME)
	if err != nil || m.Rcode != dns.RcodeNameError {
		t.Fatalf("resolver before the record: %v %v, want NXDOMAIN", m, err)
	}
	ctx := context.Background()
	if err := child.Add(ctx, name+" 60 IN CNAME wrong.example."); err != nil {
		t.Fatal(err)
	}
	if err := child.Replace(ctx, name+" 60 IN CNAME right.example."); err != nil {
		t.Fatal(err)
	}
	m, err = child.Query(name, dns.TypeCNAME)
	if err != nil || len(m.Answer) != 1 || m.Answer[0].(*dns.CNAME).Target != "right.example." {
		t.Fatalf("child after Replace: %v %v, want one CNAME to right.example.", m, err)
	}
	m, err = resolver.Query(name, dns.TypeCNAME)
	if err != nil || m.Rcode != dns.RcodeNameError {
		t.Fatalf("resolver after the record: %v %v, want its cached NXDOMAIN", m, err)
	}
	if err := child.Delete(ctx, name+" 60 IN CNAME right.example."); err != nil {
		t.Fatal(err)
	}
	if m, err = child.Query(name, dns.TypeCNAME); err != nil || m.Rcode != dns.RcodeNameError {
		t.Fatalf("child after Delete: %v %v, want NXDOMAIN", m, err)
	}
	child.Stop()
	if _, err := child.Query(name, dns.TypeCNAME); err == nil {
		t.Fatal("a stopped server answered")
	}
}
