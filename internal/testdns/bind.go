// Package testdns starts a real BIND 9 (named) for tests: production zones with static CNAMEs and delegation
// zones that accept TSIG-signed RFC 2136 updates of TXT records, on a free loopback port, stopped by the test
// that started it.
package testdns

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
}

// BIND is a running named.
type BIND struct {
	// Addr is 127.0.0.1:<port>, UDP and TCP.
	Addr string
	// KeyName, KeyAlg and Secret are the TSIG key updatable zones accept.
	KeyName, KeyAlg, Secret string

	zones  []string
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
	named, err := NamedPath()
	if err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 3 { // a free port can be taken between picking it and named binding it
		b, err := start(t, named, zones)
		if err == nil {
			return b
		}
		lastErr = err
	}
	t.Fatalf("starting BIND: %v", lastErr)
	return nil
}

func start(t testing.TB, named string, zones []Zone) (*BIND, error) {
	dir := t.TempDir()
	port, err := testnet.FreePort()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	b := &BIND{
		Addr:    fmt.Sprintf("127.0.0.1:%d", port),
		KeyName: "acme-update.",
		KeyAlg:  "hmac-sha256",
		Secret:  base64.StdEncoding.EncodeToString(secret),
		dir:     dir,
		stderr:  &testlog.Buffer{},
		done:    make(chan struct{}),
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, `options {
    directory "%[1]s";
    pid-file "%[1]s/named.pid";
    session-keyfile "%[1]s/session.key";
    listen-on port %[2]d { 127.0.0.1; };
    listen-on-v6 { none; };
    allow-query { any; };
    // BIND chases a CNAME into another zone it serves only for queries that may recurse. Recursion for loopback
    // only; the empty local root zone keeps it from ever leaving the machine.
    recursion yes;
    allow-recursion { 127.0.0.1; };
    dnssec-validation no;
    notify no;
    servfail-ttl 0;
    minimal-responses no;
};
controls { };
key "%[3]s" { algorithm %[4]s; secret "%[5]s"; };
zone "." { type primary; file "%[1]s/root.zone"; };
`, dir, port, b.KeyName, b.KeyAlg, b.Secret)
	if err := os.WriteFile(filepath.Join(dir, "root.zone"), []byte(zoneFile(".", []string{"localhost. IN A 127.0.0.1"})), 0o644); err != nil {
		return nil, err
	}
	for _, z := range zones {
		name := dns.Fqdn(strings.ToLower(z.Name))
		b.zones = append(b.zones, name)
		file := filepath.Join(dir, strings.TrimSuffix(name, ".")+".zone")
		if err := os.WriteFile(file, []byte(zoneFile(name, z.Records)), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(&conf, "zone %q { type primary; file %q;", strings.TrimSuffix(name, "."), file)
		if z.Updatable {
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
	if err := b.waitReady(15 * time.Second); err != nil {
		b.stop()
		return nil, fmt.Errorf("%w\nnamed output:\n%s", err, b.stderr.String())
	}
	return b, nil
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

func (b *BIND) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, z := range b.zones {
		for {
			m, err := b.Query(z, dns.TypeSOA)
			if err == nil && m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0 {
				break
			}
			select {
			case <-b.done:
				return errors.New("named exited")
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("zone %s did not load within %s (last: %w)", z, timeout, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// Query asks BIND for name/qtype with recursion desired, as a resolver or an ACME CA would.
func (b *BIND) Query(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Timeout: 2 * time.Second}
	in, _, err := c.Exchange(m, b.Addr)
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

func (b *BIND) update(ctx context.Context, fqdn, value string, ttl int, remove bool) error {
	fqdn = dns.Fqdn(strings.ToLower(fqdn))
	zone := ""
	for _, z := range b.zones {
		if (fqdn == z || strings.HasSuffix(fqdn, "."+z)) && len(z) > len(zone) {
			zone = z
		}
	}
	if zone == "" {
		return fmt.Errorf("no zone here holds %s", fqdn)
	}
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: uint32(ttl)}, Txt: []string{value}}
	m := new(dns.Msg)
	m.SetUpdate(zone)
	if remove {
		m.Remove([]dns.RR{rr})
	} else {
		m.Insert([]dns.RR{rr})
	}
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

func zoneFile(origin string, records []string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "$ORIGIN %s\n$TTL 60\n", origin)
	// Negative-caching TTL 0: a deleted record must not linger in BIND's own cache of its recursive answers.
	s.WriteString("@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 0\n@ IN NS localhost.\n")
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
