package dnscheck

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

// hierarchy is the internet in small, every server on its own loopback address and all on one port, since NS
// records carry none: the root (127.0.0.10) delegates test. (127.0.0.11), which delegates child.test. to two
// servers of its own (127.0.0.12, 127.0.0.13); a recursive resolver (127.0.0.14) starts from the root and caches
// negative answers for a minute, as a cluster's resolver does.
type hierarchy struct {
	root, parent, ns1, ns2, resolver *testdns.BIND
}

func startHierarchy(t *testing.T) hierarchy {
	t.Helper()
	auth := func(ip string) testdns.Options { return testdns.Options{IP: ip, AuthoritativeOnly: true} }
	child := testdns.Zone{
		Name: "child.test.", NS: []string{"ns1.child.test.", "ns2.child.test."}, Dynamic: true, NegativeTTL: 60,
		Records: []string{"ns1 IN A 127.0.0.12", "ns2 IN A 127.0.0.13"},
	}
	s := testdns.StartAll(t,
		testdns.Server{Options: auth("127.0.0.10"), Zones: []testdns.Zone{{
			Name: ".", NS: []string{"a.root."},
			Records: []string{"a.root. IN A 127.0.0.10", "test. IN NS ns.test.", "ns.test. IN A 127.0.0.11"},
		}}},
		testdns.Server{Options: auth("127.0.0.11"), Zones: []testdns.Zone{{
			Name: "test.", NS: []string{"ns.test."}, NegativeTTL: 60,
			Records: []string{"ns IN A 127.0.0.11",
				"child IN NS ns1.child", "child IN NS ns2.child", "ns1.child IN A 127.0.0.12", "ns2.child IN A 127.0.0.13"},
		}}},
		testdns.Server{Options: auth("127.0.0.12"), Zones: []testdns.Zone{child}},
		testdns.Server{Options: auth("127.0.0.13"), Zones: []testdns.Zone{child}},
		testdns.Server{Options: testdns.Options{IP: "127.0.0.14", RootHints: []string{"127.0.0.10"}}},
	)
	return hierarchy{s[0], s[1], s[2], s[3], s[4]}
}

func (h hierarchy) checker(servers *testdns.BIND, authoritative bool) *Checker {
	return &Checker{Resolver: Resolver{
		Servers: []string{servers.Addr}, Authoritative: authoritative, Timeout: time.Second,
		authPort: strconv.Itoa(h.root.Port),
	}}
}

// addBoth creates a record on both child servers, as a zone's primary and its secondary would serve it.
func (h hierarchy) addBoth(t *testing.T, rr string) {
	t.Helper()
	for _, b := range []*testdns.BIND{h.ns1, h.ns2} {
		if err := b.Add(context.Background(), rr); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuthoritativeWalk(t *testing.T) {
	t.Parallel()
	h := startHierarchy(t)
	const tgt = "_acme-challenge.validation.example.org."

	t.Run("the walk asks the child's own servers", func(t *testing.T) {
		const n = "_acme-challenge.app.child.test."
		h.addBoth(t, n+" 60 IN CNAME "+tgt)
		res, err := h.checker(h.resolver, true).Delegation(ctxFor(t), n, tgt)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range res.Hops[0].Servers {
			got[s.Name] = s.Addr
		}
		port := strconv.Itoa(h.root.Port)
		if len(got) != 2 || got["ns1.child.test."] != "127.0.0.12:"+port || got["ns2.child.test."] != "127.0.0.13:"+port {
			t.Fatalf("answered by %v, want ns1.child.test. and ns2.child.test. on port %s", res.Hops[0].Servers, port)
		}
	})

	t.Run("referrals from the root down", func(t *testing.T) {
		// Asking the root itself, which only refers: the walk follows test. and child.test. down to the child.
		const n = "_acme-challenge.www.child.test."
		h.addBoth(t, n+" 60 IN CNAME "+tgt)
		res, err := h.checker(h.root, true).Delegation(ctxFor(t), n, tgt)
		if err != nil {
			t.Fatal(err)
		}
		if s := res.Hops[0].Servers[0]; !strings.HasSuffix(s.Name, ".child.test.") {
			t.Fatalf("answered by %v", res.Hops[0].Servers)
		}
		if z, err := h.checker(h.root, true).Zone(ctxFor(t), n); err != nil || z != "child.test." {
			t.Fatalf("Zone = %q, %v", z, err)
		}
	})

	t.Run("a stale negative cache fools only the recursive mode", func(t *testing.T) {
		const n = "_acme-challenge.new.child.test."
		// The resolver learns that the name does not exist, and keeps that for a minute.
		if m, err := h.resolver.Query(n, dns.TypeCNAME); err != nil || m.Rcode != dns.RcodeNameError {
			t.Fatalf("resolver before the CNAME: %v, %v", m, err)
		}
		h.addBoth(t, n+" 60 IN CNAME "+tgt)
		_, err := h.checker(h.resolver, false).Delegation(ctxFor(t), n, tgt)
		delegationError(t, err, NXDomain, CNAMERecord(n, tgt), "child.test.")
		res, err := h.checker(h.resolver, true).Delegation(ctxFor(t), n, tgt)
		if err != nil {
			t.Fatalf("authoritative mode, fooled by the resolver's cache: %v", err)
		}
		if len(res.Hops) != 1 || res.Hops[0].Target != tgt {
			t.Fatalf("hops = %+v", res.Hops)
		}
	})

	t.Run("the child's servers disagree", func(t *testing.T) {
		const n = "_acme-challenge.half.child.test."
		if err := h.ns1.Add(context.Background(), n+" 60 IN CNAME "+tgt); err != nil {
			t.Fatal(err)
		}
		_, err := h.checker(h.resolver, true).Delegation(ctxFor(t), n, tgt)
		delegationError(t, err, Inconsistent, CNAMERecord(n, tgt), "child.test.")
		msg := err.Error()
		if !strings.Contains(msg, "ns1.child.test. (127.0.0.12:") || !strings.Contains(msg, "says CNAME "+tgt) ||
			!strings.Contains(msg, "ns2.child.test. (127.0.0.13:") || !strings.Contains(msg, "says NXDOMAIN") {
			t.Errorf("the error does not say what each server said: %s", msg)
		}
		t.Logf("inconsistent: %s", msg)
	})

	t.Run("one child server down", func(t *testing.T) {
		// Servers that do not answer are named, and the ones that do still decide.
		const n = "_acme-challenge.app.child.test."
		c := h.checker(h.resolver, true)
		c.Resolver.Timeout = 300 * time.Millisecond
		c.CacheSize = -1
		h.ns2.Stop()
		res, err := c.Delegation(ctxFor(t), n, tgt)
		if err != nil || len(res.Hops[0].Servers) != 1 || res.Hops[0].Servers[0].Name != "ns1.child.test." {
			t.Fatalf("= %+v, %v; want the answer of ns1 alone", res, err)
		}
		h.ns1.Stop()
		_, err = c.Delegation(ctxFor(t), n, tgt)
		de := delegationError(t, err, NoAnswer, CNAMERecord(n, tgt), "child.test.")
		var qe *QueryError
		if !errors.As(de, &qe) || len(qe.Failures) != 2 ||
			!strings.Contains(err.Error(), "ns1.child.test. (127.0.0.12:") || !strings.Contains(err.Error(), "ns2.child.test. (127.0.0.13:") {
			t.Errorf("the error does not name both servers: %v", err)
		}
	})
}
