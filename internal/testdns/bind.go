// Package testdns starts a real BIND 9 (named) for tests: production zones with static CNAMEs and delegation
// zones that accept TSIG-signed RFC 2136 updates of TXT records, on a free loopback port, stopped by the test
// that started it.
//
// Beyond that one-server setup (Start), StartWith and StartAll run a small DNS hierarchy the way the internet
// has one: authoritative-only servers for the root, a parent and a child zone on distinct loopback addresses
// (127.0.0.10, .11, …) sharing one free port, with NS records and glue, and a pure recursive resolver that starts
// from root hints and caches negative answers. NS records carry no port, so every server of a hierarchy listens
// on the same one and BIND's `port` option makes it query the others there too.
package testdns

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testlog"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testnet"
)

// Zone is one zone BIND serves.
type Zone struct {
	// Name of the zone, e.g. "example.com." (trailing dot optional).
	Name string
	// Records are zone-file lines added after the SOA and NS, e.g.
	// "_acme-challenge IN CNAME _acme-challenge.validation.example.org.".
	Records []string
	// Updatable lets the TSIG key add and delete TXT records anywhere in the zone (and only TXT), and read the
	// zone by AXFR; other zones are read-only.
	Updatable bool
	// Dynamic lets the TSIG key add and delete records of any type (CNAME, CAA, NS…) anywhere in the zone by
	// RFC 2136 (see Add, Delete, Replace), and read the zone by AXFR. It implies Updatable.
	Dynamic bool
	// NS are the zone's name servers (absolute names); default "localhost.". Their addresses (glue) go in
	// Records, of this zone or of the parent that delegates it.
	NS []string
	// NegativeTTL is the SOA minimum, which is how long a resolver caches NXDOMAIN and NODATA for the zone.
	// Default 0, so that a test adding a record sees it at once; set it to test a stale negative cache.
	NegativeTTL int
}

// Options say where and how a named runs. The zero value is what Start runs: 127.0.0.1 on a free port,
// authoritative for its zones (and an empty root zone) and recursive for loopback so that it chases a CNAME from
// one of its zones into another.
type Options struct {
	// IP is the loopback address to listen on, e.g. "127.0.0.10"; default 127.0.0.1. named itself always
	// listens on 127.0.0.1 (it binds only interface addresses); another IP is served by a relay in the test
	// process that forwards UDP and TCP to it.
	IP string
	// Port to listen on, and to send queries to other servers on; 0 picks a free one (and another one when it is
	// taken before named binds it). A given port is used as is: see StartAll.
	Port int
	// AuthoritativeOnly turns recursion off, so that the server answers only from its own zones and refers
	// everything else, as an internet authoritative server does.
	AuthoritativeOnly bool
	// RootHints makes named a pure recursive resolver, without zones of its own, whose root servers are these
	// addresses (on Port). It caches answers, negative ones included, as a cluster's resolver does.
	RootHints []string
}

// Server is one named of a hierarchy started by StartAll.
type Server struct {
	// Options of this server; Port is ignored (StartAll picks one for all).
	Options Options
	// Zones it serves.
	Zones []Zone
}

// BIND is a running named.
type BIND struct {
	// Addr is <ip>:<port> (127.0.0.1:<port> unless Options.IP says otherwise), UDP and TCP.
	Addr string
	// IP and Port are Addr's parts.
	IP   string
	Port int
	// KeyName, KeyAlg and Secret are the TSIG key updatable zones accept.
	KeyName, KeyAlg, Secret string

	zones []string
	relay *relay // nil when named itself listens on Addr
	// listen is where named itself listens: Addr, or behind a relay 127.0.0.1:<private port>. Readiness is
	// polled there, since a relay cannot pass on "connection refused" and a query through it would wait out its
	// timeout while named starts.
	listen string
	dir    string
	cmd    *exec.Cmd
	stderr *testlog.Buffer
	done   chan struct{}
}

// NamedPath returns the named binary to run, or an error saying how to install it.
func NamedPath() (string, error) {
	if p, err := exec.LookPath("named"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/named"); err == nil {
		return "/usr/sbin/named", nil
	}
	return "", errors.New("BIND's named is not installed: run 'apt-get install -y bind9 bind9-dnsutils' " +
		"(make test does this itself when run as root)")
}

// Start runs named serving zones and returns once every zone answers. The test fails if it cannot.
func Start(t testing.TB, zones ...Zone) *BIND {
	t.Helper()
	return StartWith(t, Options{}, zones...)
}

// StartWith is Start with Options: another loopback address, a given port, authoritative-only, or a recursive
// resolver. The test fails if named cannot start; with Options.Port 0 a port clash is retried on another port.
func StartWith(t testing.TB, opts Options, zones ...Zone) *BIND {
	t.Helper()
	b, err := TryStart(t, opts, zones...)
	if err != nil {
		t.Fatalf("starting BIND: %v", err)
	}
	return b
}

// TryStart is StartWith returning the error instead of failing the test, for callers that retry a whole set of
// servers on another port (StartAll does).
func TryStart(t testing.TB, opts Options, zones ...Zone) (*BIND, error) {
	t.Helper()
	named, err := NamedPath()
	if err != nil {
		return nil, err
	}
	var rl *relay
	if ip := cmp.Or(opts.IP, "127.0.0.1"); ip != "127.0.0.1" {
		if opts.Port == 0 {
			if opts.Port, err = FreePort(ip); err != nil {
				return nil, err
			}
		}
		// The relay holds the outward address for every attempt below; only named's own port changes.
		if rl, err = listenRelay(ip, opts.Port); err != nil {
			return nil, fmt.Errorf("listening on %s port %d: %w", ip, opts.Port, err)
		}
		t.Cleanup(rl.close)
	}
	var lastErr error
	for range 3 { // a free port can be taken between picking it and named binding it
		b, err := start(t, named, opts, zones, rl)
		if err == nil {
			return b, nil
		}
		lastErr = err
		if opts.Port != 0 && rl == nil {
			break // the caller chose the port; only it can choose another
		}
	}
	if rl != nil {
		rl.close()
	}
	return nil, lastErr
}

// StartAll starts servers in order (the root first, the resolver last), each on its own Options.IP and all on
// one port that was free on every one of those addresses, and returns them in the same order. A clash on that
// port stops what was started and retries the whole set on another. The test fails if it cannot.
func StartAll(t testing.TB, servers ...Server) []*BIND {
	t.Helper()
	ips := make([]string, len(servers))
	for i, s := range servers {
		ips[i] = cmp.Or(s.Options.IP, "127.0.0.1")
	}
	var lastErr error
	for range 3 {
		port, err := FreePort(ips...)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]*BIND, 0, len(servers))
		for _, s := range servers {
			opts := s.Options
			opts.Port = port
			b, err := TryStart(t, opts, s.Zones...)
			if err != nil {
				lastErr = err
				break
			}
			out = append(out, b)
		}
		if len(out) == len(servers) {
			return out
		}
		for _, b := range out {
			b.Stop()
		}
	}
	t.Fatalf("starting %d BIND servers on one port: %v", len(servers), lastErr)
	return nil
}

// FreePort returns a port that was free for both TCP and UDP on every one of ips (default 127.0.0.1) a moment
// ago, for a set of servers that must share one port.
func FreePort(ips ...string) (int, error) {
	if len(ips) == 0 {
		return testnet.FreePort()
	}
	var lc net.ListenConfig
	ctx := context.Background()
	for range 50 {
		first, err := lc.ListenPacket(ctx, "udp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			return 0, err
		}
		port := first.LocalAddr().(*net.UDPAddr).Port
		var held []io.Closer
		held = append(held, first)
		ok := true
		for i, ip := range ips {
			addr := net.JoinHostPort(ip, strconv.Itoa(port))
			if i > 0 {
				u, err := lc.ListenPacket(ctx, "udp", addr)
				if err != nil {
					ok = false
					break
				}
				held = append(held, u)
			}
			l, err := lc.Listen(ctx, "tcp", addr)
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		for _, c := range held {
			_ = c.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no port free on all of %s", strings.Join(ips, ", "))
}

func start(t testing.TB, named string, opts Options, zones []Zone, rl *relay) (*BIND, error) {
	dir := t.TempDir()
	ip := cmp.Or(opts.IP, "127.0.0.1")
	port := opts.Port
	if port == 0 {
		var err error
		if port, err = FreePort(ip); err != nil {
			return nil, err
		}
	}
	// named listens on 127.0.0.1:listen; with a relay that is a private port and port is the relay's.
	listen := port
	if rl != nil {
		var err error
		if listen, err = FreePort(); err != nil {
			return nil, err
		}
		rl.setBackend(net.JoinHostPort("127.0.0.1", strconv.Itoa(listen)))
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	b := &BIND{
		Addr:    net.JoinHostPort(ip, strconv.Itoa(port)),
		IP:      ip,
		Port:    port,
		KeyName: "acme-update.",
		KeyAlg:  "hmac-sha256",
		Secret:  base64.StdEncoding.EncodeToString(secret),
		dir:     dir,
		stderr:  &testlog.Buffer{},
		done:    make(chan struct{}),
		relay:   rl,
	}
	b.listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(listen))
	recursion := `    // BIND chases a CNAME into another zone it serves only for queries that may recurse. Recursion for loopback
    // only; the empty local root zone keeps it from ever leaving the machine.
    recursion yes;
    allow-recursion { 127.0.0.1; };`
	switch {
	case len(opts.RootHints) > 0:
		recursion = `    // A resolver: recursion for loopback clients, starting from the root hints below.
    recursion yes;
    allow-recursion { 127.0.0.0/8; };
    allow-query-cache { 127.0.0.0/8; };
    empty-zones-enable no;
    prefetch 0;`
	case opts.AuthoritativeOnly:
		recursion = "    recursion no;"
	}
	var conf strings.Builder
	// "port" sets the port named listens on and the one it sends queries to other servers on: a resolver in a
	// hierarchy sharing one port reaches the root there.
	fmt.Fprintf(&conf, `options {
    directory "%[1]s";
    pid-file "%[1]s/named.pid";
    session-keyfile "%[1]s/session.key";
    port %[2]d;
    listen-on port %[6]d { 127.0.0.1; };
    listen-on-v6 { none; };
    allow-query { any; };
%[7]s
    dnssec-validation no;
    notify no;
    servfail-ttl 0;
    minimal-responses no;
};
controls { };
key "%[3]s" { algorithm %[4]s; secret "%[5]s"; };
`, dir, port, b.KeyName, b.KeyAlg, b.Secret, listen, recursion)
	ownRoot := false
	for _, z := range zones {
		ownRoot = ownRoot || dns.Fqdn(z.Name) == "."
	}
	switch {
	case len(opts.RootHints) > 0:
		var hints strings.Builder
		for i, h := range opts.RootHints {
			fmt.Fprintf(&hints, ". 3600000 IN NS hint%[1]d.root.\nhint%[1]d.root. 3600000 IN A %[2]s\n", i, h)
		}
		if err := os.WriteFile(filepath.Join(dir, "root.hints"), []byte(hints.String()), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(&conf, "zone \".\" { type hint; file \"%s/root.hints\"; };\n", dir)
	case !ownRoot:
		if err := os.WriteFile(filepath.Join(dir, "root.zone"), []byte(zoneFile(Zone{Name: "."}, []string{"localhost. IN A 127.0.0.1"})), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(&conf, "zone \".\" { type primary; file \"%s/root.zone\"; };\n", dir)
	}
	for _, z := range zones {
		name := dns.Fqdn(strings.ToLower(z.Name))
		b.zones = append(b.zones, name)
		file := filepath.Join(dir, zoneConfName(name)+".zone")
		if name == "." {
			file = filepath.Join(dir, "root.zone")
		}
		if err := os.WriteFile(file, []byte(zoneFile(z, z.Records)), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(&conf, "zone %q { type primary; file %q;", zoneConfName(name), file)
		switch {
		case z.Dynamic:
			fmt.Fprintf(&conf, " update-policy { grant %s zonesub ANY; }; allow-transfer { key %s; };", b.KeyName, b.KeyName)
		case z.Updatable:
			fmt.Fprintf(&conf, " update-policy { grant %s zonesub TXT; }; allow-transfer { key %s; };", b.KeyName, b.KeyName)
		}
		conf.WriteString(" };\n")
	}
	confPath := filepath.Join(dir, "named.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		return nil, err
	}
	// A copy of the binary escapes AppArmor profiles that confine /usr/sbin/named to /etc/bind (Ubuntu).
	bin := filepath.Join(dir, "named")
	if err := copyFile(named, bin); err != nil {
		return nil, err
	}
	b.cmd = exec.CommandContext(context.Background(), bin, "-g", "-c", confPath)
	if os.Geteuid() == 0 {
		b.cmd.Args = append(b.cmd.Args, "-u", "root")
	}
	b.cmd.Stdout, b.cmd.Stderr = b.stderr, b.stderr
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("running %s: %w", named, err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(b.stop)
	if err := b.waitReady(15*time.Second, len(opts.RootHints) > 0); err != nil {
		b.stop()
		return nil, fmt.Errorf("%w\nnamed output:\n%s", err, b.stderr.String())
	}
	return b, nil
}

// zoneConfName is the zone's name as named.conf writes it.
func zoneConfName(zone string) string {
	if zone == "." {
		return "."
	}
	return strings.TrimSuffix(zone, ".")
}

// Stop stops named and waits for it to exit; a stopped server refuses every query (the port is closed). Tests
// use it to prove an answer came from a cache. It is also registered with t.Cleanup; calling it twice is fine.
func (b *BIND) Stop() {
	b.stop()
	if b.relay != nil {
		b.relay.close()
	}
}

func (b *BIND) stop() {
	if b.cmd.Process == nil {
		return
	}
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

func (b *BIND) waitReady(timeout time.Duration, resolver bool) error {
	deadline := time.Now().Add(timeout)
	if resolver {
		// A resolver has no zone of its own to load: ready when it answers at all.
		for {
			if _, err := b.queryAt(b.listen, ".", dns.TypeNS); err == nil {
				return nil
			}
			select {
			case <-b.done:
				return errors.New("named exited")
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the resolver did not answer within %s", timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, z := range b.zones {
		for {
			m, err := b.queryAt(b.listen, z, dns.TypeSOA)
			if err == nil && m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0 {
				break
			}
			select {
			case <-b.done:
				return errors.New("named exited")
			default:
			}
			if time.Now().After(deadline) {
				if err == nil {
					// Answered, but not with the SOA: named refused the zone file (see its output).
					err = fmt.Errorf("rcode %s", dns.RcodeToString[m.Rcode])
				}
				return fmt.Errorf("zone %s did not load within %s (last: %w)", z, timeout, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// Query asks BIND for name/qtype with recursion desired, as a resolver or an ACME CA would.
func (b *BIND) Query(name string, qtype uint16) (*dns.Msg, error) {
	return b.queryAt(b.Addr, name, qtype)
}

func (b *BIND) queryAt(addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Timeout: 2 * time.Second}
	in, _, err := c.Exchange(m, addr)
	return in, err
}

// LookupTXT returns the TXT values a recursive query for name sees, following CNAMEs.
func (b *BIND) LookupTXT(name string) ([]string, error) {
	m, err := b.Query(name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("TXT %s: %s", name, dns.RcodeToString[m.Rcode])
	}
	var out []string
	for _, rr := range m.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	sort.Strings(out)
	return out, nil
}

// ZoneTXT reads an updatable zone by TSIG-signed AXFR and returns its TXT records: owner name → sorted values.
// It reads what BIND holds, not what a resolver sees, so a CleanUp that left a value behind shows here even when
// the value is only reachable through a CNAME.
func (b *BIND) ZoneTXT(zone string) (map[string][]string, error) {
	zone = dns.Fqdn(strings.ToLower(zone))
	m := new(dns.Msg)
	m.SetAxfr(zone)
	m.SetTsig(b.KeyName, dns.Fqdn(b.KeyAlg), 300, time.Now().Unix())
	tr := &dns.Transfer{TsigSecret: map[string]string{b.KeyName: b.Secret}}
	ch, err := tr.In(m, b.Addr)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for env := range ch {
		if env.Error != nil {
			return nil, fmt.Errorf("AXFR %s: %w", zone, env.Error)
		}
		for _, rr := range env.RR {
			if txt, ok := rr.(*dns.TXT); ok {
				name := strings.ToLower(txt.Hdr.Name)
				out[name] = append(out[name], strings.Join(txt.Txt, ""))
			}
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out, nil
}

// AppendTXT adds a TXT value by RFC 2136, signed with the TSIG key. Tests use it to mirror a fake provider's
// records into real DNS.
func (b *BIND) AppendTXT(ctx context.Context, fqdn, value string, ttl int) error {
	return b.update(ctx, fqdn, value, ttl, false)
}

// DeleteTXT deletes one TXT value by RFC 2136, signed with the TSIG key.
func (b *BIND) DeleteTXT(ctx context.Context, fqdn, value string) error {
	return b.update(ctx, fqdn, value, 0, true)
}

// Add adds records, given as zone-file lines with absolute names ("x.example.com. 60 IN CNAME y.example.org."),
// by one RFC 2136 update signed with the TSIG key. Their zone must be Dynamic (or Updatable, for TXT).
func (b *BIND) Add(ctx context.Context, records ...string) error {
	return b.change(ctx, records, func(m *dns.Msg, rrs []dns.RR) { m.Insert(rrs) })
}

// Delete deletes exactly the records given (name, type and data; TTL ignored) by one RFC 2136 update.
func (b *BIND) Delete(ctx context.Context, records ...string) error {
	return b.change(ctx, records, func(m *dns.Msg, rrs []dns.RR) { m.Remove(rrs) })
}

// Replace replaces, in one RFC 2136 update, the whole RRset at each record's name and type by the records
// given: a CNAME pointed elsewhere in one step, as a user fixing DNS would.
func (b *BIND) Replace(ctx context.Context, records ...string) error {
	return b.change(ctx, records, func(m *dns.Msg, rrs []dns.RR) {
		for _, rr := range rrs {
			h := rr.Header()
			m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: h.Name, Rrtype: h.Rrtype, Class: dns.ClassINET}}})
		}
		m.Insert(rrs)
	})
}

func (b *BIND) change(ctx context.Context, records []string, apply func(*dns.Msg, []dns.RR)) error {
	if len(records) == 0 {
		return errors.New("no record given")
	}
	var rrs []dns.RR
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			return fmt.Errorf("record %q: %w", r, err)
		}
		rr.Header().Name = strings.ToLower(rr.Header().Name)
		rrs = append(rrs, rr)
	}
	zone, err := b.zoneOf(rrs[0].Header().Name)
	if err != nil {
		return err
	}
	m := new(dns.Msg)
	m.SetUpdate(zone)
	apply(m, rrs)
	return b.send(ctx, m, rrs[0].Header().Name)
}

// zoneOf returns the deepest zone this server holds fqdn in.
func (b *BIND) zoneOf(fqdn string) (string, error) {
	zone := ""
	for _, z := range b.zones {
		if (z == "." || fqdn == z || strings.HasSuffix(fqdn, "."+z)) && len(z) > len(zone) {
			zone = z
		}
	}
	if zone == "" {
		return "", fmt.Errorf("no zone here holds %s", fqdn)
	}
	return zone, nil
}

func (b *BIND) update(ctx context.Context, fqdn, value string, ttl int, remove bool) error {
	fqdn = dns.Fqdn(strings.ToLower(fqdn))
	zone, err := b.zoneOf(fqdn)
	if err != nil {
		return err
	}
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: uint32(ttl)}, Txt: []string{value}}
	m := new(dns.Msg)
	m.SetUpdate(zone)
	if remove {
		m.Remove([]dns.RR{rr})
	} else {
		m.Insert([]dns.RR{rr})
	}
	return b.send(ctx, m, fqdn)
}

func (b *BIND) send(ctx context.Context, m *dns.Msg, fqdn string) error {
	m.SetTsig(b.KeyName, dns.Fqdn(b.KeyAlg), 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{b.KeyName: b.Secret}}
	in, _, err := c.ExchangeContext(ctx, m, b.Addr)
	if err != nil {
		return err
	}
	if in.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("update of %s: %s", fqdn, dns.RcodeToString[in.Rcode])
	}
	return nil
}

func zoneFile(z Zone, records []string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "$ORIGIN %s\n$TTL 60\n", dns.Fqdn(strings.ToLower(z.Name)))
	// Negative-caching TTL 0 by default: a deleted record must not linger in BIND's own cache of its recursive
	// answers.
	fmt.Fprintf(&s, "@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 %d\n", z.NegativeTTL)
	ns := z.NS
	if len(ns) == 0 {
		ns = []string{"localhost."}
	}
	for _, n := range ns {
		fmt.Fprintf(&s, "@ IN NS %s\n", dns.Fqdn(n))
	}
	for _, r := range records {
		s.WriteString(r + "\n")
	}
	return s.String()
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o755)
}
