// Package dnsserver is a small authoritative DNS server for `make demo`, so the demo needs nothing from apt: it
// serves zones from memory over UDP and TCP on loopback, accepts RFC 2136 updates of TXT records signed with TSIG,
// keeps several TXT values per name, and chases CNAMEs into its own zones for queries that ask for recursion (as
// an ACME CA's resolver does). The tests and the conformance suite use real BIND instead.
package dnsserver

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Server is a running server.
type Server struct {
	// Addr is 127.0.0.1:<port>, UDP and TCP.
	Addr string
	// KeyName and Secret are the TSIG key (hmac-sha256) updates must be signed with.
	KeyName, Secret string

	mu    sync.RWMutex
	zones map[string]*zone

	udp, tcp *dns.Server
}

type zone struct {
	name      string
	updatable bool
	rrs       map[string][]dns.RR // owner name → records
}

// Zone describes one zone to serve.
type Zone struct {
	// Name of the zone, e.g. "example.com.".
	Name string
	// Records in zone-file syntax with absolute names, e.g.
	// "_acme-challenge.example.com. 60 IN CNAME _acme-challenge.validation.example.org.".
	Records []string
	// Updatable lets the TSIG key add and delete TXT records in the zone (and nothing else).
	Updatable bool
}

// Start serves zones on a free loopback port. secret is the base64 TSIG secret for keyName.
func Start(keyName, secret string, zones ...Zone) (*Server, error) {
	s := &Server{KeyName: dns.Fqdn(keyName), Secret: secret, zones: map[string]*zone{}}
	for _, z := range zones {
		name := dns.Fqdn(strings.ToLower(z.Name))
		zn := &zone{name: name, updatable: z.Updatable, rrs: map[string][]dns.RR{}}
		soa, _ := dns.NewRR(fmt.Sprintf("%s 60 IN SOA ns.%s hostmaster.%s 1 3600 600 86400 0", name, name, name))
		ns, _ := dns.NewRR(fmt.Sprintf("%s 60 IN NS ns.%s", name, name))
		zn.add(soa)
		zn.add(ns)
		for _, r := range z.Records {
			rr, err := dns.NewRR(r)
			if err != nil {
				return nil, fmt.Errorf("zone %s: %w", name, err)
			}
			zn.add(rr)
		}
		s.zones[name] = zn
	}
	var lc net.ListenConfig
	tl, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	pc, err := lc.ListenPacket(context.Background(), "udp", tl.Addr().String())
	if err != nil {
		_ = tl.Close()
		return nil, err
	}
	s.Addr = tl.Addr().String()
	tsig := map[string]string{s.KeyName: secret}
	s.tcp = &dns.Server{Listener: tl, Handler: s, TsigSecret: tsig, MsgAcceptFunc: accept}
	s.udp = &dns.Server{PacketConn: pc, Handler: s, TsigSecret: tsig, MsgAcceptFunc: accept}
	for _, srv := range []*dns.Server{s.tcp, s.udp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
	}
	return s, nil
}

// accept admits queries and RFC 2136 updates; miekg/dns's default refuses updates.
func accept(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&(1<<15) != 0 { // a response
		return dns.MsgIgnore
	}
	switch opcode := int(dh.Bits>>11) & 0xF; {
	case opcode == dns.OpcodeUpdate:
		return dns.MsgAccept
	case opcode != dns.OpcodeQuery:
		return dns.MsgRejectNotImplemented
	case dh.Qdcount != 1:
		return dns.MsgReject
	}
	return dns.MsgAccept
}

// Close stops the server.
func (s *Server) Close() {
	_ = s.tcp.Shutdown()
	_ = s.udp.Shutdown()
}

// TXT returns the TXT values at name, sorted.
func (s *Server) TXT(name string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	name = dns.Fqdn(strings.ToLower(name))
	var out []string
	if z := s.zoneFor(name); z != nil {
		for _, rr := range z.rrs[name] {
			if t, ok := rr.(*dns.TXT); ok {
				out = append(out, strings.Join(t.Txt, ""))
			}
		}
	}
	slices.Sort(out)
	return out
}

func (z *zone) add(rr dns.RR) {
	h := rr.Header()
	h.Name = strings.ToLower(h.Name)
	for _, old := range z.rrs[h.Name] {
		if dns.IsDuplicate(old, rr) {
			return // RFC 2136 §3.4.2.2: adding an existing RR is a no-op
		}
	}
	z.rrs[h.Name] = append(z.rrs[h.Name], rr)
}

// zoneFor returns the most specific zone containing name, or nil. The caller holds s.mu.
func (s *Server) zoneFor(name string) *zone {
	var best *zone
	for zn, z := range s.zones {
		if (name == zn || strings.HasSuffix(name, "."+zn)) && (best == nil || len(zn) > len(best.name)) {
			best = z
		}
	}
	return best
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	var m *dns.Msg
	if req.Opcode == dns.OpcodeUpdate {
		m = s.update(w, req)
	} else {
		m = s.query(req)
	}
	if req.IsTsig() != nil && w.TsigStatus() == nil {
		t := req.IsTsig()
		m.SetTsig(t.Hdr.Name, t.Algorithm, 300, int64(t.TimeSigned))
	}
	_ = w.WriteMsg(m)
}

func (s *Server) query(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := req.Question[0]
	s.mu.RLock()
	defer s.mu.RUnlock()
	name := strings.ToLower(q.Name)
	for range 8 { // CNAME chain limit
		z := s.zoneFor(name)
		if z == nil {
			if len(m.Answer) == 0 {
				m.Rcode = dns.RcodeRefused
			}
			return m
		}
		m.Authoritative = len(m.Answer) == 0
		rrs := z.rrs[name]
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			if c, ok := rr.(*dns.CNAME); ok && q.Qtype != dns.TypeCNAME {
				cname = c
			}
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, dns.Copy(rr))
				found = true
			}
		}
		if cname != nil && !found {
			m.Answer = append(m.Answer, dns.Copy(cname))
			if req.RecursionDesired {
				m.RecursionAvailable = true
				name = strings.ToLower(cname.Target)
				continue
			}
			return m
		}
		if !found {
			if len(rrs) == 0 && !hasDescendant(z, name) {
				m.Rcode = dns.RcodeNameError
			}
			m.Ns = append(m.Ns, dns.Copy(z.rrs[z.name][0])) // the SOA
		}
		return m
	}
	m.Rcode = dns.RcodeServerFailure
	return m
}

func hasDescendant(z *zone, name string) bool {
	for owner := range z.rrs {
		if strings.HasSuffix(owner, "."+name) {
			return true
		}
	}
	return false
}

// update applies an RFC 2136 update: signed with the TSIG key, for exactly an updatable zone's apex, touching TXT
// records only (like BIND's `update-policy { grant <key> zonesub TXT; }`).
func (s *Server) update(w dns.ResponseWriter, req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	if req.IsTsig() == nil || w.TsigStatus() != nil || !strings.EqualFold(req.IsTsig().Hdr.Name, s.KeyName) {
		m.Rcode = dns.RcodeRefused
		return m
	}
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[strings.ToLower(req.Question[0].Name)]
	if !ok {
		m.Rcode = dns.RcodeNotAuth
		return m
	}
	if !z.updatable {
		m.Rcode = dns.RcodeRefused
		return m
	}
	// Check every change first, so a refused update changes nothing.
	for _, rr := range req.Ns {
		h := rr.Header()
		name := strings.ToLower(h.Name)
		if name != z.name && !strings.HasSuffix(name, "."+z.name) {
			m.Rcode = dns.RcodeNotZone
			return m
		}
		if h.Rrtype != dns.TypeTXT {
			m.Rcode = dns.RcodeRefused
			return m
		}
	}
	for _, rr := range req.Ns {
		h := rr.Header()
		name := strings.ToLower(h.Name)
		switch h.Class {
		case dns.ClassINET:
			z.add(rr)
		case dns.ClassNONE: // delete this exact RR
			z.rrs[name] = slices.DeleteFunc(z.rrs[name], func(old dns.RR) bool { return sameData(old, rr) })
		case dns.ClassANY: // delete the RRset
			z.rrs[name] = slices.DeleteFunc(z.rrs[name], func(old dns.RR) bool { return old.Header().Rrtype == h.Rrtype })
		}
		if len(z.rrs[name]) == 0 {
			delete(z.rrs, name)
		}
	}
	return m
}

// sameData compares two TXT records by owner and text, ignoring class and TTL (as RFC 2136 deletes do).
func sameData(a, b dns.RR) bool {
	ta, ok1 := a.(*dns.TXT)
	tb, ok2 := b.(*dns.TXT)
	return ok1 && ok2 && strings.EqualFold(ta.Hdr.Name, tb.Hdr.Name) && strings.Join(ta.Txt, "") == strings.Join(tb.Txt, "")
}
