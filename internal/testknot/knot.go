// Package testknot starts a real Knot DNS (knotd) for tests: production zones that are read-only and delegation
// zones that accept TSIG-signed RFC 2136 updates of TXT records and TSIG-signed zone transfers, on a free
// loopback port, stopped by the test that started it. It is the second RFC 2136 implementation beside BIND
// (internal/testdns): what BIND happens to forgive, Knot may not.
package testknot

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

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testnet"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testproc"
)

// Zone is one zone Knot serves.
type Zone struct {
	// Name of the zone, e.g. "validation.example.org." (trailing dot optional).
	Name string
	// Records are zone-file lines added after the SOA and NS, e.g.
	// "_acme-challenge IN CNAME _acme-challenge.validation.example.org.".
	Records []string
	// Updatable lets the TSIG key add and delete TXT records anywhere in the zone (and only TXT), and read the
	// zone by AXFR; other zones are read-only.
	Updatable bool
}

// Knot is a running knotd.
type Knot struct {
	// Addr is 127.0.0.1:<port>, UDP and TCP.
	Addr string
	// KeyName, KeyAlg and Secret are the TSIG key updatable zones accept.
	KeyName, KeyAlg, Secret string

	zones []string
	proc  *testproc.Process
}

// KnotdPath returns the knotd binary to run, or an error saying how to install it.
func KnotdPath() (string, error) {
	if p, err := exec.LookPath("knotd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/knotd"); err == nil {
		return "/usr/sbin/knotd", nil
	}
	return "", errors.New("knotd (Knot DNS) is not installed: run 'apt-get install -y knot' " +
		"(make test does this itself when run as root: hack/ensure-servers.sh)")
}

// Start runs knotd serving zones and returns once every zone answers. The test fails if it cannot.
func Start(t testing.TB, zones ...Zone) *Knot {
	t.Helper()
	knotd, err := KnotdPath()
	if err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 3 { // a free port can be taken between picking it and knotd binding it
		k, err := start(t, knotd, zones)
		if err == nil {
			return k
		}
		lastErr = err
	}
	t.Fatalf("starting Knot: %v", lastErr)
	return nil
}

func start(t testing.TB, knotd string, zones []Zone) (*Knot, error) {
	dir := t.TempDir()
	port, err := testnet.FreePort()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	k := &Knot{
		Addr:    fmt.Sprintf("127.0.0.1:%d", port),
		KeyName: "acme-update.",
		KeyAlg:  "hmac-sha256",
		Secret:  base64.StdEncoding.EncodeToString(secret),
	}
	var conf strings.Builder
	// Everything knotd writes (control socket, PID file, zone files it flushes, journal, timers) stays in dir.
	// Two ACLs, because update-type restricts only updates: the key may change TXT records and nothing else, and
	// may read the zone by AXFR (libdns/rfc2136 reads records that way).
	fmt.Fprintf(&conf, `server:
    rundir: "%[1]s"
    pidfile: "%[1]s/knot.pid"
    listen: 127.0.0.1@%[2]d
log:
  - target: stderr
    any: info
database:
    storage: "%[1]s"
key:
  - id: %[3]s
    algorithm: %[4]s
    secret: %[5]s
acl:
  - id: acme_update
    key: %[3]s
    action: update
    update-type: TXT
    update-owner: zone
    update-owner-match: sub-or-equal
  - id: acme_transfer
    key: %[3]s
    action: transfer
template:
  - id: default
    storage: "%[1]s"
    file: "%[1]s/%%s.zone"
    semantic-checks: on
zone:
`, dir, port, k.KeyName, k.KeyAlg, k.Secret)
	for _, z := range zones {
		name := dns.Fqdn(strings.ToLower(z.Name))
		k.zones = append(k.zones, name)
		file := filepath.Join(dir, strings.TrimSuffix(name, ".")+".zone")
		if err := os.WriteFile(file, []byte(zoneFile(name, z.Records)), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(&conf, "  - domain: %s\n", name)
		if z.Updatable {
			conf.WriteString("    acl: [acme_update, acme_transfer]\n")
		}
	}
	confPath := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		return nil, err
	}
	// knotd stays in the foreground unless given -d, so it is the test's child and ends with it.
	proc, err := testproc.Start(exec.CommandContext(context.Background(), knotd, "-c", confPath))
	if err != nil {
		return nil, fmt.Errorf("running %s: %w", knotd, err)
	}
	k.proc = proc
	t.Cleanup(k.stop)
	if err := k.waitReady(15 * time.Second); err != nil {
		k.stop()
		return nil, fmt.Errorf("%w\nknotd output:\n%s", err, proc.Out.String())
	}
	return k, nil
}

// stop ends the knotd this package started, by its PID: SIGTERM, then a kill if it lingers.
func (k *Knot) stop() { k.proc.Stop(syscall.SIGTERM, 10*time.Second) }

// Output returns what knotd has logged so far, for a failing test to show.
func (k *Knot) Output() string { return k.proc.Out.String() }

func (k *Knot) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, z := range k.zones {
		for {
			m, err := k.Query(z, dns.TypeSOA)
			if err == nil && m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0 {
				break
			}
			select {
			case <-k.proc.Done():
				return fmt.Errorf("knotd exited: %w", k.proc.Err())
			default:
			}
			if time.Now().After(deadline) {
				if err == nil {
					err = fmt.Errorf("rcode %s", dns.RcodeToString[m.Rcode])
				}
				return fmt.Errorf("zone %s did not load within %s (last: %w)", z, timeout, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// Query asks Knot for name/qtype. Knot is authoritative only: it answers from the zone that holds name and
// does not chase a CNAME into another zone, as the authoritative servers a CA reaches do not either.
func (k *Knot) Query(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Timeout: 2 * time.Second}
	in, _, err := c.Exchange(m, k.Addr)
	return in, err
}

// LookupTXT returns the TXT values in Knot's answer for name (sorted). Knot follows a CNAME only inside the
// zone that holds it, so a production name delegated into another zone yields none here.
func (k *Knot) LookupTXT(name string) ([]string, error) {
	m, err := k.Query(name, dns.TypeTXT)
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
// It reads what Knot holds, so a CleanUp that left a value behind shows here wherever it is in the zone.
func (k *Knot) ZoneTXT(zone string) (map[string][]string, error) {
	zone = dns.Fqdn(strings.ToLower(zone))
	m := new(dns.Msg)
	m.SetAxfr(zone)
	m.SetTsig(k.KeyName, dns.Fqdn(k.KeyAlg), 300, time.Now().Unix())
	tr := &dns.Transfer{TsigSecret: map[string]string{k.KeyName: k.Secret}}
	ch, err := tr.In(m, k.Addr)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	soa := 0
	for env := range ch {
		if env.Error != nil {
			return nil, fmt.Errorf("AXFR %s: %w", zone, env.Error)
		}
		for _, rr := range env.RR {
			switch rr := rr.(type) {
			case *dns.SOA:
				soa++
			case *dns.TXT:
				name := strings.ToLower(rr.Hdr.Name)
				out[name] = append(out[name], strings.Join(rr.Txt, ""))
			}
		}
	}
	// A refused transfer comes back as an empty stream from miekg/dns, not an error: a real AXFR starts and ends
	// with the SOA.
	if soa < 2 {
		return nil, fmt.Errorf("AXFR %s: refused or incomplete (%d SOA records)", zone, soa)
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out, nil
}

// AppendTXT adds a TXT value by RFC 2136, signed with the TSIG key.
func (k *Knot) AppendTXT(ctx context.Context, fqdn, value string, ttl int) error {
	return k.update(ctx, fqdn, value, ttl, false, true)
}

// DeleteTXT deletes one TXT value by RFC 2136, signed with the TSIG key.
func (k *Knot) DeleteTXT(ctx context.Context, fqdn, value string) error {
	return k.update(ctx, fqdn, value, 0, true, true)
}

// AppendTXTUnsigned sends the same update as AppendTXT without a TSIG signature, to show Knot refuses it.
func (k *Knot) AppendTXTUnsigned(ctx context.Context, fqdn, value string, ttl int) error {
	return k.update(ctx, fqdn, value, ttl, false, false)
}

// Update sends m (an RFC 2136 update built by the caller, e.g. of a type the ACL does not allow) signed with
// the TSIG key and returns Knot's rcode. Knot answers an update its ACL denies with NOTAUTH and TSIG error
// BADKEY, unsigned, even though the key is right: the client then also reports "dns: bad authentication", so
// the rcode is returned together with that error.
func (k *Knot) Update(ctx context.Context, m *dns.Msg) (int, error) {
	m.SetTsig(k.KeyName, dns.Fqdn(k.KeyAlg), 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{k.KeyName: k.Secret}}
	in, _, err := c.ExchangeContext(ctx, m, k.Addr)
	if in == nil {
		return 0, err
	}
	return in.Rcode, err
}

func (k *Knot) update(ctx context.Context, fqdn, value string, ttl int, remove, sign bool) error {
	fqdn = dns.Fqdn(strings.ToLower(fqdn))
	zone := k.zoneOf(fqdn)
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
	var rcode int
	if sign {
		var err error
		if rcode, err = k.Update(ctx, m); err != nil {
			return fmt.Errorf("update of %s: %s: %w", fqdn, dns.RcodeToString[rcode], err)
		}
	} else {
		in, _, err := (&dns.Client{Net: "tcp"}).ExchangeContext(ctx, m, k.Addr)
		if err != nil {
			return err
		}
		rcode = in.Rcode
	}
	if rcode != dns.RcodeSuccess {
		return fmt.Errorf("update of %s: %s", fqdn, dns.RcodeToString[rcode])
	}
	return nil
}

// zoneOf returns the most specific zone served here that holds fqdn, on label boundaries.
func (k *Knot) zoneOf(fqdn string) string {
	zone := ""
	for _, z := range k.zones {
		if (fqdn == z || strings.HasSuffix(fqdn, "."+z)) && len(z) > len(zone) {
			zone = z
		}
	}
	return zone
}

func zoneFile(origin string, records []string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "$ORIGIN %s\n$TTL 60\n", origin)
	// Negative-caching TTL 0, as in testdns: a resolver in front must not remember a name before its first TXT.
	s.WriteString("@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 0\n@ IN NS localhost.\n")
	for _, r := range records {
		s.WriteString(r + "\n")
	}
	return s.String()
}
