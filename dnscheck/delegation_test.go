package dnscheck

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

// production holds one name per outcome; hop.example.net. holds the middle of the longer chains; the
// delegation zone is empty, as it is before the first challenge (RFC 6604).
func startProduction(t *testing.T) *testdns.BIND {
	t.Helper()
	prod := []string{
		"_acme-challenge.one IN CNAME " + target,
		"_acme-challenge.two IN CNAME _acme-challenge.two.hop.example.net.",
		`x._acme-challenge.nodata IN TXT "below"`, // the name exists (an empty non-terminal) without a CNAME
		"_acme-challenge.wrong IN CNAME _acme-challenge.elsewhere.example.net.",
		"_acme-challenge.wrongchain IN CNAME a.hop.example.net.",
		"*.wild IN CNAME " + target,
		"*.deep IN CNAME web.example.net.",
		"*.mixed IN CNAME " + target,
		"_acme-challenge.mixed IN CNAME web.example.net.",
		"_acme-challenge.loop IN CNAME l1.hop.example.net.",
		"_acme-challenge.long IN CNAME c1.hop.example.net.",
		"_acme-challenge.eight IN CNAME d1.hop.example.net.",
		`_acme-challenge.txt IN TXT "written-at-the-wrong-name"`,
		"sub IN NS localhost.",
	}
	hop := []string{
		"_acme-challenge.two IN CNAME " + target,
		"a IN CNAME b.hop.example.net.",
		"l1 IN CNAME l2.hop.example.net.",
		"l2 IN CNAME _acme-challenge.loop.example.com.",
	}
	for i := 1; i <= 9; i++ { // nine hops from _acme-challenge.long: one too many
		hop = append(hop, fmt.Sprintf("c%d IN CNAME c%d.hop.example.net.", i, i+1))
	}
	for i := 1; i <= 6; i++ { // exactly eight hops from _acme-challenge.eight
		hop = append(hop, fmt.Sprintf("d%d IN CNAME d%d.hop.example.net.", i, i+1))
	}
	hop = append(hop, "d7 IN CNAME "+target)
	return testdns.Start(t,
		testdns.Zone{Name: "example.com.", Records: prod},
		testdns.Zone{Name: "sub.example.com.", Records: []string{"_acme-challenge IN CNAME " + target}},
		testdns.Zone{Name: "hop.example.net.", Records: hop},
		testdns.Zone{Name: "validation.example.org.", Updatable: true},
	)
}

func TestDelegation(t *testing.T) {
	t.Parallel()
	b := startProduction(t)
	name := func(label string) string { return "_acme-challenge." + label + ".example.com." }
	record := func(label string) string { return fmt.Sprintf(recordFmt, label) }

	t.Run("one hop", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			res, err := checkerFor(b, auth).Delegation(ctxFor(t), name("one"), target)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Hops) != 1 || res.Hops[0].Owner != name("one") || res.Hops[0].Target != target ||
				res.Hops[0].TTL == 0 || len(res.Hops[0].Servers) == 0 || res.Hops[0].Synthesised || res.Cached {
				t.Fatalf("result = %+v", res)
			}
			if auth && res.Hops[0].Servers[0].Name != "localhost." {
				t.Errorf("authoritative hop answered by %v, want the zone's NS localhost.", res.Hops[0].Servers)
			}
		})
	})

	t.Run("two hops across zones", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			res, err := checkerFor(b, auth).Delegation(ctxFor(t), name("two"), target)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Hops) != 2 || res.Hops[0].Target != "_acme-challenge.two.hop.example.net." || res.Hops[1].Target != target {
				t.Fatalf("hops = %+v", res.Hops)
			}
		})
	})

	t.Run("exactly eight hops", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			res, err := checkerFor(b, auth).Delegation(ctxFor(t), name("eight"), target)
			if err != nil || len(res.Hops) != 8 {
				t.Fatalf("= %d hops, %v; want 8 hops", len(res.Hops), err)
			}
		})
	})

	t.Run("the empty delegation zone (RFC 6604)", func(t *testing.T) {
		t.Parallel()
		// The target does not exist yet: a resolver's TXT query at the production name answers NXDOMAIN with
		// the CNAME. The delegation holds, and there is no TXT value yet.
		m, err := b.Query(name("one"), dns.TypeTXT)
		if err != nil || m.Rcode != dns.RcodeNameError || len(m.Answer) == 0 {
			t.Fatalf("BIND's answer is not NXDOMAIN with the CNAME: %v, %v", m, err)
		}
		modes(t, func(t *testing.T, auth bool) {
			c := checkerFor(b, auth)
			if _, err := c.Delegation(ctxFor(t), name("one"), target); err != nil {
				t.Fatal(err)
			}
			if v, err := c.TXT(ctxFor(t), name("one")); err != nil || len(v) != 0 {
				t.Fatalf("TXT through the CNAME into the empty zone = %q, %v; want none", v, err)
			}
		})
	})

	t.Run("no record (NODATA)", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			_, err := checkerFor(b, auth).Delegation(ctxFor(t), name("nodata"), target)
			de := delegationError(t, err, NoRecord, record("nodata"), "example.com.")
			if len(de.Servers) == 0 || !strings.Contains(err.Error(), de.Servers[0].Addr) {
				t.Errorf("the error does not say which server answered: %v", err)
			}
		})
	})

	t.Run("NXDOMAIN", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			_, err := checkerFor(b, auth).Delegation(ctxFor(t), name("missing"), target)
			delegationError(t, err, NXDomain, record("missing"), "example.com.")
			t.Logf("NXDOMAIN: %v", err)
		})
	})

	t.Run("wrong target", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			_, err := checkerFor(b, auth).Delegation(ctxFor(t), name("wrong"), target)
			delegationError(t, err, WrongTarget, record("wrong"), "example.com.")
			if !strings.Contains(err.Error(), "points to _acme-challenge.elsewhere.example.net.") ||
				!strings.Contains(err.Error(), "replace the existing CNAME at "+name("wrong")) {
				t.Errorf("the error does not name the target found and the CNAME to replace: %v", err)
			}
			t.Logf("wrong target: %v", err)
		})
	})

	t.Run("wrong target after two hops", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			_, err := checkerFor(b, auth).Delegation(ctxFor(t), name("wrongchain"), target)
			de := delegationError(t, err, WrongTarget, record("wrongchain"), "example.com.")
			if len(de.Hops) != 2 || !strings.Contains(err.Error(), "ends at b.hop.example.net. after 2 hops") ||
				!strings.Contains(err.Error(), "NXDOMAIN there") ||
				!strings.Contains(err.Error(), "replace the existing CNAME at "+name("wrongchain")) {
				t.Errorf("hops %v; error: %v", de.Hops, err)
			}
		})
	})

	t.Run("wildcard to the right target", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			c := checkerFor(b, auth)
			res, err := c.Delegation(ctxFor(t), name("wild"), target)
			if err != nil {
				t.Fatal(err)
			}
			if h := res.Hops[0]; !h.Synthesised || h.Wildcard != "*.wild.example.com." {
				t.Fatalf("hop = %+v, want synthesised from *.wild.example.com.", h)
			}
			// A synthesised CNAME does not stop a direct write: a TXT there takes precedence.
			if got, err := c.CNAME(ctxFor(t), name("wild")); err != nil || got != "" {
				t.Fatalf("CNAME(synthesised) = %q, %v; want none", got, err)
			}
		})
	})

	t.Run("wildcard to a wrong target", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			// The wildcard sits two labels above the names between: *.deep answers for x.y.deep too.
			n := "_acme-challenge.x.y.deep.example.com."
			_, err := checkerFor(b, auth).Delegation(ctxFor(t), n, target)
			de := delegationError(t, err, WildcardWrongTarget, CNAMERecord(n, target), "example.com.")
			if de.Wildcard != "*.deep.example.com." || !strings.Contains(err.Error(), "the wildcard record *.deep.example.com.") ||
				!strings.Contains(err.Error(), "web.example.net.") {
				t.Errorf("the error does not name the wildcard and its target: %v", err)
			}
			t.Logf("wildcard: %v", err)
		})
	})

	t.Run("an explicit CNAME beside a wildcard is not the wildcard's", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			_, err := checkerFor(b, auth).Delegation(ctxFor(t), name("mixed"), target)
			delegationError(t, err, WrongTarget, record("mixed"), "example.com.")
		})
	})

	t.Run("loop", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			_, err := checkerFor(b, auth).Delegation(ctxFor(t), name("loop"), target)
			delegationError(t, err, Loop, record("loop"), "example.com.")
			if !strings.Contains(err.Error(), name("loop")+" -> l1.hop.example.net. -> l2.hop.example.net. -> "+name("loop")) {
				t.Errorf("the error does not show the loop: %v", err)
			}
		})
	})

	t.Run("more than eight hops", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			_, err := checkerFor(b, auth).Delegation(ctxFor(t), name("long"), target)
			de := delegationError(t, err, TooLong, record("long"), "example.com.")
			if len(de.Hops) != 8 {
				t.Errorf("%d hops followed, want 8", len(de.Hops))
			}
		})
	})

	t.Run("TXT at the production name", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			_, err := checkerFor(b, auth).Delegation(ctxFor(t), name("txt"), target)
			de := delegationError(t, err, TXTAtName, record("txt"), "example.com.")
			if !slices.Equal(de.TXT, []string{"written-at-the-wrong-name"}) || !strings.Contains(err.Error(), "delete the TXT records at "+name("txt")) {
				t.Errorf("TXT %q; error: %v", de.TXT, err)
			}
		})
	})

	t.Run("a name in a delegated child zone", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			c := checkerFor(b, auth)
			_, err := c.Delegation(ctxFor(t), "_acme-challenge.sub.example.com.", "_acme-challenge.other.example.org.")
			delegationError(t, err, WrongTarget, "_acme-challenge.sub.example.com. CNAME _acme-challenge.other.example.org.", "sub.example.com.")
			if z, err := c.Zone(ctxFor(t), "_acme-challenge.sub.example.com."); err != nil || z != "sub.example.com." {
				t.Errorf("Zone = %q, %v; want sub.example.com.", z, err)
			}
		})
	})

	t.Run("CNAME, TXT and Zone", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			c := checkerFor(b, auth)
			ctx := ctxFor(t)
			if got, err := c.CNAME(ctx, name("one")); err != nil || got != target {
				t.Errorf("CNAME(one) = %q, %v", got, err)
			}
			for _, n := range []string{name("missing"), name("nodata"), "example.com."} {
				if got, err := c.CNAME(ctx, n); err != nil || got != "" {
					t.Errorf("CNAME(%s) = %q, %v; want none", n, got, err)
				}
			}
			if got, err := c.TXT(ctx, name("txt")); err != nil || !slices.Equal(got, []string{"written-at-the-wrong-name"}) {
				t.Errorf("TXT(txt) = %q, %v", got, err)
			}
			// A CNAME at the name is no zone apex: its zone is its parent's, not the target's.
			for n, want := range map[string]string{name("one"): "example.com.", name("two"): "example.com.",
				"example.com.": "example.com.", "a.hop.example.net.": "hop.example.net.", name("missing"): "example.com."} {
				if got, err := c.Zone(ctx, n); err != nil || got != want {
					t.Errorf("Zone(%s) = %q, %v; want %s", n, got, err, want)
				}
			}
		})
	})
}

// TXT sees a value pushed a moment ago through the CNAME, as ACME-DNS's value check needs.
func TestTXTFollowsTheCNAME(t *testing.T) {
	t.Parallel()
	b := testdns.Start(t,
		testdns.Zone{Name: "example.com.", Records: []string{"_acme-challenge IN CNAME " + target}},
		testdns.Zone{Name: "validation.example.org.", Updatable: true},
	)
	if err := b.AppendTXT(context.Background(), target, "v1", 60); err != nil {
		t.Fatal(err)
	}
	if err := b.AppendTXT(context.Background(), target, "v2", 60); err != nil {
		t.Fatal(err)
	}
	modes(t, func(t *testing.T, auth bool) {
		got, err := checkerFor(b, auth).TXT(ctxFor(t), "_acme-challenge.example.com.")
		slices.Sort(got)
		if err != nil || !slices.Equal(got, []string{"v1", "v2"}) {
			t.Fatalf("TXT = %q, %v; want [v1 v2]", got, err)
		}
	})
}

func TestNoAnswer(t *testing.T) {
	t.Parallel()
	b := testdns.Start(t, testdns.Zone{Name: "example.com.", Records: []string{"_acme-challenge IN CNAME " + target}})
	closed, silent := closedPort(t), dropper(t)
	const n = "_acme-challenge.example.com."

	t.Run("configured servers", func(t *testing.T) {
		t.Parallel()
		modes(t, func(t *testing.T, auth bool) {
			c := &Checker{Resolver: Resolver{Servers: []string{closed, silent}, Authoritative: auth, Timeout: 200 * time.Millisecond}}
			start := time.Now()
			_, err := c.Delegation(ctxFor(t), n, target)
			de := delegationError(t, err, NoAnswer, CNAMERecord(n, target), "")
			msg := err.Error()
			if !strings.Contains(msg, closed+": connection refused") || !strings.Contains(msg, silent+": timed out (no answer within 200ms, twice)") ||
				!strings.Contains(msg, "the zone that holds example.com") {
				t.Errorf("the error does not name each server and how it failed: %s", msg)
			}
			if de.Unwrap() == nil {
				t.Error("no underlying error")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			t.Logf("no answer: %v", err)
		})
	})

	t.Run("authoritative servers", func(t *testing.T) {
		t.Parallel()
		// The resolver answers, the zone's own server (localhost. at the silent port) does not.
		c := checkerFor(b, true)
		_, port, _ := strings.Cut(silent, ":")
		c.Resolver.authPort = port
		c.Resolver.Timeout = 200 * time.Millisecond
		_, err := c.Delegation(ctxFor(t), n, target)
		// The resolver still knows the zone, so the message names it.
		delegationError(t, err, NoAnswer, CNAMERecord(n, target), "example.com.")
		if !strings.Contains(err.Error(), "localhost. ("+silent+"): timed out") {
			t.Errorf("the error does not name the authoritative server: %v", err)
		}
	})

	t.Run("no server configured", func(t *testing.T) {
		t.Parallel()
		_, err := (&Checker{}).Delegation(ctxFor(t), n, target)
		delegationError(t, err, NoAnswer, CNAMERecord(n, target), "")
		if !strings.Contains(err.Error(), "no DNS server to ask") {
			t.Errorf("error: %v", err)
		}
	})

	t.Run("the deadline bounds the check", func(t *testing.T) {
		t.Parallel()
		c := &Checker{Resolver: Resolver{Servers: []string{silent}, Timeout: 10 * time.Second}}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Delegation(ctx, n, target)
		if err == nil || time.Since(start) > 3*time.Second {
			t.Fatalf("= %v after %s; want an error within the deadline", err, time.Since(start))
		}
	})
}

// A user fixes DNS between two checks: the second sees the fix, since failures are never cached.
func TestFixedBetweenChecks(t *testing.T) {
	t.Parallel()
	b := testdns.Start(t, testdns.Zone{Name: "example.com.", Dynamic: true, Records: []string{
		"_acme-challenge.auth IN CNAME wrong.example.net.",
		"_acme-challenge.rec IN CNAME wrong.example.net.",
	}})
	modes(t, func(t *testing.T, auth bool) {
		label := map[bool]string{true: "auth", false: "rec"}[auth]
		n := "_acme-challenge." + label + ".example.com."
		c := checkerFor(b, auth)
		_, err := c.Delegation(ctxFor(t), n, target)
		delegationError(t, err, WrongTarget, CNAMERecord(n, target), "example.com.")
		if err := b.Replace(ctxFor(t), n+" 60 IN CNAME "+target); err != nil {
			t.Fatal(err)
		}
		res, err := c.Delegation(ctxFor(t), n, target)
		if err != nil || res.Cached {
			t.Fatalf("after the fix: %+v, %v; want a fresh success", res, err)
		}
		// A name that did not exist at all, created after the first check.
		n2 := "_acme-challenge.new" + label + ".example.com."
		_, err = c.Delegation(ctxFor(t), n2, target)
		delegationError(t, err, NXDomain, CNAMERecord(n2, target), "example.com.")
		if err := b.Add(ctxFor(t), n2+" 60 IN CNAME "+target); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Delegation(ctxFor(t), n2, target); err != nil {
			t.Fatalf("after creating the CNAME: %v", err)
		}
	})
}

// The second check is served from the cache: it succeeds with the server stopped, until the TTL runs out.
func TestPositiveCache(t *testing.T) {
	t.Parallel()
	b := testdns.Start(t,
		testdns.Zone{Name: "example.com.", Records: []string{
			"_acme-challenge 30 IN CNAME _acme-challenge.hop.example.com.",
			"_acme-challenge.hop IN CNAME " + target, // $TTL 60
		}},
	)
	const n = "_acme-challenge.example.com."
	now := time.Now()
	c := checkerFor(b, true)
	c.now = func() time.Time { return now }
	if res, err := c.Delegation(ctxFor(t), n, target); err != nil || res.Cached {
		t.Fatalf("first = %+v, %v", res, err)
	}
	b.Stop()
	res, err := c.Delegation(ctxFor(t), n, target)
	if err != nil || !res.Cached || len(res.Hops) != 2 {
		t.Fatalf("second = %+v, %v; want the cached result", res, err)
	}
	now = now.Add(29 * time.Second)
	if _, err := c.Delegation(ctxFor(t), n, target); err != nil {
		t.Fatalf("within the smallest TTL: %v", err)
	}
	now = now.Add(2 * time.Second) // past the 30 s of the first hop, within the 60 s of the second
	c.Resolver.Timeout = 200 * time.Millisecond
	if _, err := c.Delegation(ctxFor(t), n, target); err == nil {
		t.Fatal("served from the cache past the chain's smallest TTL")
	}
}

func TestCacheIsBoundedAndCapped(t *testing.T) {
	t.Parallel()
	now := time.Now()
	c := &Checker{CacheSize: 2, now: func() time.Time { return now }}
	for i := range 5 {
		c.store(cacheKey{fmt.Sprint(i), "t."}, Result{}, uint32(100+i))
	}
	if len(c.cache) != 2 {
		t.Fatalf("%d entries, want at most 2", len(c.cache))
	}
	if _, ok := c.cached(cacheKey{"4", "t."}); !ok {
		t.Error("the newest entry was evicted")
	}
	off := &Checker{CacheSize: -1}
	off.store(cacheKey{"a", "t."}, Result{}, 60)
	if _, ok := off.cached(cacheKey{"a", "t."}); ok {
		t.Error("a disabled cache served an entry")
	}
	// The Checker caps the TTL it is given at MaxCacheTTL.
	if _, ttl, _ := (&Checker{Resolver: Resolver{Servers: []string{"x:53"}}}).follow(context.Background(), "a.", "a."); ttl != uint32(MaxCacheTTL/time.Second) {
		t.Errorf("ttl of an empty chain = %d", ttl)
	}
}

// Some resolvers answer a CNAME query at a name whose chain ends nowhere with NXDOMAIN and the CNAME (RFC 6604
// §3); BIND does so only for other types, so this one shape comes from a tiny server in the test.
func TestNXDOMAINWithTheCNAMEIsADelegation(t *testing.T) {
	t.Parallel()
	const n = "_acme-challenge.example.com."
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.RecursionAvailable = true
		if strings.EqualFold(q.Question[0].Name, n) {
			m.Rcode = dns.RcodeNameError
			m.Answer = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: target}}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	c := &Checker{Resolver: Resolver{Servers: []string{pc.LocalAddr().String()}, Timeout: time.Second}}
	res, err := c.Delegation(ctxFor(t), n, target)
	if err != nil || len(res.Hops) != 1 {
		t.Fatalf("= %+v, %v; want a one-hop delegation", res, err)
	}
}
