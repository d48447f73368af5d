package dnscheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// DefaultTimeout is how long one query waits for an answer when Resolver.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// maxReferrals bounds the zone cuts followed below the zone the configured servers named; deeper delegation
// trees than this do not exist in practice, and a bound stops a referral loop between broken servers.
const maxReferrals = 8

// Resolver says which DNS servers the checks ask and how. The zero value has no server and every check fails
// saying so; nothing ever falls back to a public resolver.
type Resolver struct {
	// Servers are the resolvers to ask, as host:port (DNS_CHECK_NAMESERVERS, default /etc/resolv.conf's).
	Servers []string
	// Authoritative, when true (the webhook's default), uses Servers only to find each zone's authoritative
	// servers (NS and their addresses) and asks those without recursion (RD=0), following referrals below a zone
	// cut: a record created a minute ago counts at once and a resolver's stale negative cache does not. Every
	// authoritative server that answers must agree. When false, Servers are asked recursively (RD=1) and the
	// first one that answers is trusted.
	Authoritative bool
	// Timeout bounds each query (one UDP attempt and its TCP retry on truncation); default DefaultTimeout. The
	// caller's context bounds the whole check.
	Timeout time.Duration

	// authPort is the port the authoritative walk dials on servers found through NS records, which carry no
	// port; default "53". Tests run a whole hierarchy on one free port and set it.
	authPort string
}

// Server is a DNS server that answered or failed.
type Server struct {
	// Name is the server's name from an NS record; empty for a configured resolver.
	Name string
	// Addr is the address asked, host:port.
	Addr string
}

// String returns "ns1.example.com. (192.0.2.1:53)", or the address alone for a configured resolver.
func (s Server) String() string {
	switch {
	case s.Name == "":
		return s.Addr
	case s.Addr == "":
		return s.Name
	}
	return s.Name + " (" + s.Addr + ")"
}

// ServerFailure is a server that gave no usable answer, and why.
type ServerFailure struct {
	Server Server
	// Reason in a few words: "timed out (no answer within 2s, twice)", "connection refused", "answered SERVFAIL", "is not
	// authoritative for example.com. (lame delegation)".
	Reason string
}

// String returns "server: reason".
func (f ServerFailure) String() string { return f.Server.String() + ": " + f.Reason }

// QueryError is a question no server answered usably, or one the authoritative servers answered differently.
type QueryError struct {
	// Name and Type of the question, e.g. "_acme-challenge.example.com." and "CNAME".
	Name, Type string
	// Failures are the servers that gave no usable answer (all of them, when Disagreement is empty).
	Failures []ServerFailure
	// Disagreement, when set, is what each authoritative server said, e.g. "ns1.example.com. (192.0.2.1:53)
	// says CNAME a.example.org.": they must agree, since the CA may ask any of them.
	Disagreement []string
}

// Error names the question and each server with what it said or why it failed.
func (e *QueryError) Error() string {
	if len(e.Disagreement) > 0 {
		return fmt.Sprintf("the authoritative servers disagree about %s %s: %s", e.Type, e.Name,
			strings.Join(e.Disagreement, "; "))
	}
	if len(e.Failures) == 0 {
		return fmt.Sprintf("no DNS server to ask for %s %s: set the resolvers (DNS_CHECK_NAMESERVERS)", e.Type, e.Name)
	}
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = f.String()
	}
	return fmt.Sprintf("no DNS server answered %s %s: %s", e.Type, e.Name, strings.Join(parts, "; "))
}

// nameserver is a server to ask: a configured resolver (addrs set, host empty) or an authoritative server from an
// NS record, whose addresses come from glue or are looked up through the configured servers when first needed.
type nameserver struct {
	host  string
	addrs []string
}

// answer is the reply to one question that the checks go on: one message, and every server that gave it.
type answer struct {
	name    string
	qtype   uint16
	msg     *dns.Msg
	servers []Server
	// zone is the zone whose servers answered (authoritative mode), refined by an SOA in the reply; with
	// zoneServers it lets a follow-up question about the same zone (the wildcard probe) skip the walk.
	zone        string
	zoneServers []nameserver
}

// cnameAt returns the target of the CNAME owned by name in the answer section, or "" when there is none. It
// looks at the record whatever the rcode: RFC 6604 lets a chain whose end does not exist answer NXDOMAIN with
// the CNAME in it.
func cnameAt(m *dns.Msg, name string) (target string, ttl uint32) {
	for _, rr := range m.Answer {
		if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, name) {
			return dnsname.MustCanonical(c.Target), c.Hdr.Ttl
		}
	}
	return "", 0
}

// recordsAt returns the records of qtype owned by name in the answer section.
func recordsAt(m *dns.Msg, name string, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, name) {
			out = append(out, rr)
		}
	}
	return out
}

// chainEnd follows the CNAMEs the answer section itself holds from name (a recursive resolver, or a server
// chasing inside its own zones, includes them) and returns the last name reached.
func chainEnd(m *dns.Msg, name string) string {
	for range maxHops + 1 {
		t, _ := cnameAt(m, name)
		if t == "" {
			return name
		}
		name = t
	}
	return name
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

func (r *Resolver) port() string {
	if r.authPort != "" {
		return r.authPort
	}
	return "53"
}

// exchange asks addr one question over UDP (EDNS0, 1232 bytes) and again over TCP when the answer is truncated.
// A UDP timeout is tried once more, since a single lost datagram is common and cheap to retry.
func (r *Resolver) exchange(ctx context.Context, addr, name string, qtype uint16, recurse bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = recurse
	m.SetEdns0(1232, false)
	timeout := r.timeout()
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var in *dns.Msg
		in, err = r.exchangeOnce(ctx, "udp", m, addr, timeout)
		if err == nil && in.Truncated {
			in, err = r.exchangeOnce(ctx, "tcp", m, addr, timeout)
		}
		if err == nil {
			if len(in.Question) != 1 || !strings.EqualFold(in.Question[0].Name, name) || in.Question[0].Qtype != qtype {
				return nil, errors.New("answered another question")
			}
			return in, nil
		}
		var ne net.Error
		if ctx.Err() != nil || !errors.As(err, &ne) || !ne.Timeout() {
			break
		}
	}
	return nil, err
}

func (r *Resolver) exchangeOnce(ctx context.Context, network string, m *dns.Msg, addr string, timeout time.Duration) (*dns.Msg, error) {
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &dns.Client{Net: network, Timeout: timeout}
	in, _, err := c.ExchangeContext(qctx, m.Copy(), addr)
	return in, err
}

// reason says in a few words why a query to a server failed.
func (r *Resolver) reason(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return "no answer before the check's deadline"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out (no answer within " + r.timeout().String() + ", twice)"
	}
	return err.Error()
}

// usable reports whether a reply is an answer at all: NOERROR or NXDOMAIN. SERVFAIL, REFUSED and the like say
// the server could not or would not answer, which is a failure of that server, not a fact about the name.
func usable(m *dns.Msg) bool {
	return m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError
}

// query asks name/qtype by the resolver's rules.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*answer, error) {
	if !r.Authoritative {
		return r.recursive(ctx, name, qtype)
	}
	zone, err := r.findZone(ctx, name)
	if err != nil {
		return nil, err
	}
	servers, err := r.zoneNameservers(ctx, zone)
	if err != nil {
		return nil, err
	}
	return r.authoritative(ctx, zone, servers, name, qtype)
}

// recursive asks the configured servers in order, with recursion desired, and returns the first usable answer.
func (r *Resolver) recursive(ctx context.Context, name string, qtype uint16) (*answer, error) {
	qe := &QueryError{Name: name, Type: dns.TypeToString[qtype]}
	for _, addr := range r.Servers {
		s := Server{Addr: addr}
		m, err := r.exchange(ctx, addr, name, qtype, true)
		switch {
		case err != nil:
			qe.Failures = append(qe.Failures, ServerFailure{s, r.reason(ctx, err)})
		case !usable(m):
			qe.Failures = append(qe.Failures, ServerFailure{s, "answered " + dns.RcodeToString[m.Rcode]})
		default:
			return &answer{name: name, qtype: qtype, msg: m, servers: []Server{s}}, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, qe
}

// findZone returns the apex of the zone that holds name as the configured servers see it, by asking SOA at name
// and its parents. A negative answer names the zone in its authority section; a CNAME at a name says nothing
// about that name's own zone (the SOA after it is the target's), so the climb goes on above it.
func (r *Resolver) findZone(ctx context.Context, name string) (string, error) {
	for c := name; ; c = dnsname.Parent(c) {
		a, err := r.recursive(ctx, c, dns.TypeSOA)
		if err != nil {
			// A resolver chasing a CNAME loop or a broken target fails the SOA query at an alias; a CNAME query
			// is not chased, and an alias is never an apex, so the climb may go on above it.
			if cn, cerr := r.recursive(ctx, c, dns.TypeCNAME); cerr == nil {
				if t, _ := cnameAt(cn.msg, c); t != "" && c != "." {
					continue
				}
			}
			return "", err
		}
		if zone := zoneFromReply(a.msg, c); zone != "" {
			return zone, nil
		}
		if c == "." {
			return "", fmt.Errorf("no SOA record found for %s or any parent, up to the root", name)
		}
	}
}

// zoneFromReply returns the apex an SOA reply for name reveals: name itself when the SOA is owned by name, the
// owner of the SOA in the authority section of a negative answer when it encloses name, else "".
func zoneFromReply(m *dns.Msg, name string) string {
	if t, _ := cnameAt(m, name); t != "" {
		return ""
	}
	if len(recordsAt(m, name, dns.TypeSOA)) > 0 {
		return name
	}
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			owner := dnsname.MustCanonical(soa.Hdr.Name)
			if dnsname.Within(name, owner) {
				return owner
			}
		}
	}
	return ""
}

// zoneNameservers returns the authoritative servers of zone from its NS records, as the configured servers give
// them, with the glue they sent along.
func (r *Resolver) zoneNameservers(ctx context.Context, zone string) ([]nameserver, error) {
	a, err := r.recursive(ctx, zone, dns.TypeNS)
	if err != nil {
		return nil, err
	}
	var hosts []string
	for _, rr := range recordsAt(a.msg, zone, dns.TypeNS) {
		hosts = append(hosts, dnsname.MustCanonical(rr.(*dns.NS).Ns))
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("the zone %s has no NS records (asked %s)", zone, a.servers[0])
	}
	return r.withGlue(hosts, a.msg.Extra, "."), nil
}

// withGlue pairs NS host names with the addresses in a reply's additional section. Glue is taken only for hosts
// inside bailiwick (the zone whose server sent it), as resolvers do, so a server cannot redirect names it does
// not own.
func (r *Resolver) withGlue(hosts []string, extra []dns.RR, bailiwick string) []nameserver {
	sort.Strings(hosts)
	hosts = slices.Compact(hosts)
	out := make([]nameserver, 0, len(hosts))
	for _, h := range hosts {
		ns := nameserver{host: h}
		if dnsname.Within(h, bailiwick) {
			var v4, v6 []string
			for _, rr := range extra {
				if !strings.EqualFold(rr.Header().Name, h) {
					continue
				}
				switch a := rr.(type) {
				case *dns.A:
					v4 = append(v4, net.JoinHostPort(a.A.String(), r.port()))
				case *dns.AAAA:
					v6 = append(v6, net.JoinHostPort(a.AAAA.String(), r.port()))
				}
			}
			ns.addrs = slices.Concat(v4, v6)
		}
		out = append(out, ns)
	}
	return out
}

// addresses looks up an NS host's addresses through the configured servers, never the system resolver: IPv4
// first, since an IPv6 route is the one more often missing in a cluster.
func (r *Resolver) addresses(ctx context.Context, host string) ([]string, error) {
	var out []string
	var errs []error
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		a, err := r.recursive(ctx, host, qt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range recordsAt(a.msg, chainEnd(a.msg, host), qt) {
			switch v := rr.(type) {
			case *dns.A:
				out = append(out, net.JoinHostPort(v.A.String(), r.port()))
			case *dns.AAAA:
				out = append(out, net.JoinHostPort(v.AAAA.String(), r.port()))
			}
		}
	}
	if len(out) == 0 {
		if len(errs) > 0 {
			return nil, fmt.Errorf("looking up its address: %w", errors.Join(errs...))
		}
		return nil, errors.New("has no address (no A or AAAA record)")
	}
	return out, nil
}

// reply is one server's answer, or why there was none.
type reply struct {
	server Server
	msg    *dns.Msg
	fail   string
}

// askAll asks every server the question in parallel, each at its addresses in turn until one answers.
func (r *Resolver) askAll(ctx context.Context, servers []nameserver, name string, qtype uint16) []reply {
	out := make([]reply, len(servers))
	var wg sync.WaitGroup
	for i, ns := range servers {
		wg.Go(func() { out[i] = r.ask(ctx, ns, name, qtype) })
	}
	wg.Wait()
	return out
}

func (r *Resolver) ask(ctx context.Context, ns nameserver, name string, qtype uint16) reply {
	addrs := ns.addrs
	if len(addrs) == 0 {
		var err error
		if addrs, err = r.addresses(ctx, ns.host); err != nil {
			return reply{server: Server{Name: ns.host}, fail: err.Error()}
		}
	}
	var fails []string
	for _, addr := range addrs {
		s := Server{Name: ns.host, Addr: addr}
		m, err := r.exchange(ctx, addr, name, qtype, false)
		switch {
		case err != nil:
			fails = append(fails, addr+" "+r.reason(ctx, err))
		case !usable(m):
			fails = append(fails, addr+" answered "+dns.RcodeToString[m.Rcode])
		default:
			return reply{server: s, msg: m}
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(addrs) == 1 {
		return reply{server: Server{Name: ns.host, Addr: addrs[0]}, fail: strings.TrimPrefix(fails[0], addrs[0]+" ")}
	}
	return reply{server: Server{Name: ns.host}, fail: strings.Join(fails, ", ")}
}

// referral returns the zone a non-authoritative reply delegates name to, when it lies below zone; "" otherwise.
func referral(m *dns.Msg, name, zone string) (child string, hosts []string) {
	if m.Authoritative || m.Rcode != dns.RcodeSuccess || len(recordsAt(m, name, m.Question[0].Qtype)) > 0 {
		return "", nil
	}
	if t, _ := cnameAt(m, name); t != "" {
		return "", nil
	}
	for _, rr := range m.Ns {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		owner := dnsname.MustCanonical(ns.Hdr.Name)
		if owner == zone || !dnsname.Within(owner, zone) || !dnsname.Within(name, owner) {
			continue
		}
		if child != "" && owner != child {
			continue
		}
		child = owner
		hosts = append(hosts, dnsname.MustCanonical(ns.Ns))
	}
	return child, hosts
}

// authoritative asks every server of zone without recursion, following referrals into child zones, and returns
// the answer they all agree on.
func (r *Resolver) authoritative(ctx context.Context, zone string, servers []nameserver, name string, qtype uint16) (*answer, error) {
	qe := &QueryError{Name: name, Type: dns.TypeToString[qtype]}
	for range maxReferrals + 1 {
		replies := r.askAll(ctx, servers, name, qtype)
		var answers []reply
		child, childHosts, via := "", []string(nil), (*dns.Msg)(nil)
		qe.Failures = qe.Failures[:0]
		for _, rp := range replies {
			switch {
			case rp.msg == nil:
				qe.Failures = append(qe.Failures, ServerFailure{rp.server, rp.fail})
			case rp.msg.Authoritative:
				answers = append(answers, rp)
			default:
				if c, hosts := referral(rp.msg, name, zone); c != "" {
					// The child zone's own servers decide, as they do for a CA's resolver.
					if child == "" || len(c) > len(child) {
						child, childHosts, via = c, hosts, rp.msg
					}
					continue
				}
				qe.Failures = append(qe.Failures, ServerFailure{rp.server,
					"is not authoritative for " + zone + " (lame delegation)"})
			}
		}
		if child != "" {
			servers = r.withGlue(childHosts, via.Extra, zone)
			zone = child
			continue
		}
		if len(answers) == 0 {
			return nil, qe
		}
		if d := disagreement(answers, name, qtype); d != nil {
			return nil, &QueryError{Name: name, Type: qe.Type, Disagreement: d}
		}
		a := &answer{name: name, qtype: qtype, msg: answers[0].msg, zone: zone, zoneServers: servers}
		for _, rp := range answers {
			a.servers = append(a.servers, rp.server)
		}
		// A server may hold a zone below the one it was asked as (both zones on one provider); its SOA says so.
		if z := zoneFromReply(a.msg, name); z != "" && dnsname.Within(z, zone) {
			a.zone = z
		}
		return a, nil
	}
	return nil, fmt.Errorf("more than %d referrals below %s for %s", maxReferrals, zone, name)
}

// disagreement compares what each authoritative server says about name: the records at it (a CNAME, or records
// of qtype), or, when there are none, NXDOMAIN or NODATA. TTLs and order do not count. It returns one line per
// server when they differ, nil when they agree.
func disagreement(answers []reply, name string, qtype uint16) []string {
	says := make([]string, len(answers))
	same := true
	for i, rp := range answers {
		says[i] = summary(rp.msg, name, qtype)
		same = same && says[i] == says[0]
	}
	if same {
		return nil
	}
	out := make([]string, len(answers))
	for i, rp := range answers {
		out[i] = rp.server.String() + " says " + says[i]
	}
	return out
}

// summary says what a reply holds at name in a few words: "CNAME a.example.org.", "TXT \"v1\" \"v2\"",
// "NXDOMAIN", "no CNAME record (NODATA)".
func summary(m *dns.Msg, name string, qtype uint16) string {
	if t, _ := cnameAt(m, name); t != "" {
		return "CNAME " + t
	}
	var data []string
	for _, rr := range recordsAt(m, name, qtype) {
		data = append(data, strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	if len(data) > 0 {
		sort.Strings(data)
		return dns.TypeToString[qtype] + " " + strings.Join(data, " ")
	}
	if m.Rcode == dns.RcodeNameError {
		return "NXDOMAIN"
	}
	return "no " + dns.TypeToString[qtype] + " record (NODATA)"
}

// askZone asks a question about a name in a zone already walked to (the wildcard probe): the same servers in
// authoritative mode, the configured ones otherwise.
func (r *Resolver) askZone(ctx context.Context, near *answer, name string, qtype uint16) (*answer, error) {
	if !r.Authoritative || len(near.zoneServers) == 0 {
		return r.recursive(ctx, name, qtype)
	}
	return r.authoritative(ctx, near.zone, near.zoneServers, name, qtype)
}

// zone returns the apex of the zone holding fqdn by the resolver's rules: by SOA through the configured servers,
// and in authoritative mode confirmed by the zone's own servers (a cut the resolvers do not know yet shows as a
// referral).
func (r *Resolver) zone(ctx context.Context, fqdn string) (string, error) {
	if !r.Authoritative {
		return r.findZone(ctx, fqdn)
	}
	a, err := r.query(ctx, fqdn, dns.TypeSOA)
	if err != nil {
		return "", err
	}
	if z := zoneFromReply(a.msg, fqdn); z != "" {
		return z, nil
	}
	return a.zone, nil
}
