// Package testpdns starts a real PowerDNS authoritative server (pdns_server with the gsqlite3 backend) for
// tests, with its HTTP API on: zones and records are created through the API, as a DNS operator's tooling and
// libdns/powerdns do, and answer over DNS at once. DNS and the API listen on free loopback ports; the server is
// stopped by the test that started it.
package testpdns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

// SchemaPath is the gsqlite3 schema Debian's pdns-backend-sqlite3 ships.
const SchemaPath = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"

// PowerDNS is a running pdns_server.
type PowerDNS struct {
	// Addr is the DNS side, 127.0.0.1:<port>, UDP and TCP.
	Addr string
	// URL is the webserver's base URL, http://127.0.0.1:<port> (the API is under /api/v1); what libdns/powerdns
	// takes as server_url.
	URL string
	// APIKey is the X-API-Key the API requires.
	APIKey string
	// ServerID is the API's server ID: always "localhost" for pdns_server.
	ServerID string

	proc *testproc.Process
	http *http.Client
}

// RRset is one name+type record set as the API writes it.
type RRset struct {
	// Name is absolute, e.g. "_acme-challenge.example.com." (a missing trailing dot is added).
	Name string
	// Type, e.g. "CNAME" or "TXT".
	Type string
	// TTL in seconds; 60 when zero.
	TTL int
	// Contents are the records in presentation format: a CNAME target "x.example.org.", a TXT value `"v"`.
	Contents []string
}

// binaries returns pdns_server and sqlite3, or an error saying what to install.
func binaries() (pdns, sqlite string, err error) {
	var missing []string
	pdns = lookPath("pdns_server", "/usr/sbin/pdns_server")
	if pdns == "" {
		missing = append(missing, "pdns-server")
	}
	if _, err := os.Stat(SchemaPath); err != nil {
		missing = append(missing, "pdns-backend-sqlite3")
	}
	sqlite = lookPath("sqlite3", "/usr/bin/sqlite3")
	if sqlite == "" {
		missing = append(missing, "sqlite3")
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("the PowerDNS test server needs %s: run 'apt-get install -y pdns-server pdns-backend-sqlite3 sqlite3' "+
			"(make test does this itself when run as root: hack/ensure-servers.sh)", strings.Join(missing, ", "))
	}
	return pdns, sqlite, nil
}

func lookPath(name, fallback string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	return ""
}

// Start runs pdns_server with an empty database and returns once DNS and the API answer. The test fails if
// it cannot.
func Start(t testing.TB) *PowerDNS {
	t.Helper()
	pdns, sqlite, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 3 { // a free port can be taken between picking it and pdns_server binding it
		p, err := start(t, pdns, sqlite)
		if err == nil {
			return p
		}
		lastErr = err
	}
	t.Fatalf("starting PowerDNS: %v", lastErr)
	return nil
}

func start(t testing.TB, pdns, sqlite string) (*PowerDNS, error) {
	dir := t.TempDir()
	dnsPort, err := testnet.FreePort()
	if err != nil {
		return nil, err
	}
	webPort, err := testnet.FreePort()
	if err != nil {
		return nil, err
	}
	if webPort == dnsPort {
		return nil, errors.New("the same free port twice")
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	p := &PowerDNS{
		Addr:     fmt.Sprintf("127.0.0.1:%d", dnsPort),
		URL:      fmt.Sprintf("http://127.0.0.1:%d", webPort),
		APIKey:   hex.EncodeToString(key),
		ServerID: "localhost",
		http:     &http.Client{Timeout: 10 * time.Second},
	}

	db := filepath.Join(dir, "pdns.sqlite3")
	schema, err := os.Open(SchemaPath)
	if err != nil {
		return nil, err
	}
	defer func() { _ = schema.Close() }()
	mk := exec.CommandContext(context.Background(), sqlite, db)
	mk.Stdin = schema
	if out, err := mk.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("creating the database with %s < %s: %w: %s", sqlite, SchemaPath, err, out)
	}
	// An empty pdns.conf: without one pdns_server complains, and it must not read the system's /etc/powerdns.
	if err := os.WriteFile(filepath.Join(dir, "pdns.conf"), nil, 0o644); err != nil {
		return nil, err
	}
	args := []string{
		"--daemon=no", "--guardian=no", "--disable-syslog", "--log-timestamp=no",
		"--config-dir=" + dir, "--socket-dir=" + dir,
		"--launch=gsqlite3", "--gsqlite3-database=" + db,
		"--local-address=127.0.0.1", fmt.Sprintf("--local-port=%d", dnsPort),
		"--api=yes", "--api-key=" + p.APIKey,
		"--webserver=yes", "--webserver-address=127.0.0.1", fmt.Sprintf("--webserver-port=%d", webPort),
		"--webserver-allow-from=127.0.0.1",
		// The security poll is a DNS query to secpoll.powerdns.com through the system resolver: nothing may leave
		// the machine.
		"--security-poll-suffix=",
		// No caches: a test reads what it just wrote or deleted, over DNS, and must see the database.
		"--cache-ttl=0", "--query-cache-ttl=0", "--negquery-cache-ttl=0",
		// SOA minimum (negative TTL) 0 for zones created without an SOA, as testdns does for BIND.
		"--default-soa-content=localhost. hostmaster.@ 0 3600 600 86400 0",
	}
	proc, err := testproc.Start(exec.CommandContext(context.Background(), pdns, args...))
	if err != nil {
		return nil, fmt.Errorf("running %s: %w", pdns, err)
	}
	p.proc = proc
	t.Cleanup(p.stop)
	if err := p.waitReady(15 * time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%w\npdns_server output:\n%s", err, proc.Out.String())
	}
	return p, nil
}

// stop ends the pdns_server this package started, by its PID: SIGTERM, then a kill if it lingers.
func (p *PowerDNS) stop() { p.proc.Stop(syscall.SIGTERM, 10*time.Second) }

// Output returns what pdns_server has logged so far, for a failing test to show.
func (p *PowerDNS) Output() string { return p.proc.Out.String() }

// waitReady waits for the API to answer an authenticated request and for DNS to answer at all (REFUSED for a
// name in no zone: the database is empty).
func (p *PowerDNS) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ctx := context.Background()
	for {
		status, _, err := p.Request(ctx, http.MethodGet, "/servers/"+p.ServerID, p.APIKey, nil)
		if err == nil && status == http.StatusOK {
			_, err = p.Query("localhost.", dns.TypeSOA)
			if err == nil {
				return nil
			}
		} else if err == nil {
			err = fmt.Errorf("API answered %d", status)
		}
		select {
		case <-p.proc.Done():
			return fmt.Errorf("pdns_server exited: %w", p.proc.Err())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("PowerDNS did not answer within %s (last: %w)", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Request sends one API request to path (below /api/v1) with apiKey as X-API-Key ("" for none) and body, when
// not nil, as JSON. It returns the status and the response body.
func (p *PowerDNS) Request(ctx context.Context, method, path, apiKey string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.URL+"/api/v1"+path, r)
	if err != nil {
		return 0, nil, err
	}
	if apiKey != "" {
		req.Header.Set("X-API-Key", apiKey)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// call is Request with the right key, failing on any status but want.
func (p *PowerDNS) call(ctx context.Context, method, path string, body any, want int) ([]byte, error) {
	status, out, err := p.Request(ctx, method, path, p.APIKey, body)
	if err != nil {
		return nil, err
	}
	if status != want {
		return nil, fmt.Errorf("%s %s: HTTP %d, want %d: %s", method, path, status, want, bytes.TrimSpace(out))
	}
	return out, nil
}

func (p *PowerDNS) zonePath(zone string) string {
	return "/servers/" + p.ServerID + "/zones/" + url.PathEscape(dns.Fqdn(strings.ToLower(zone)))
}

// CreateZone creates a Native zone with NS localhost. (and the default SOA) holding rrsets.
func (p *PowerDNS) CreateZone(ctx context.Context, name string, rrsets ...RRset) error {
	name = dns.Fqdn(strings.ToLower(name))
	body := map[string]any{
		"name":        name,
		"kind":        "Native",
		"nameservers": []string{"localhost."},
	}
	if len(rrsets) > 0 {
		body["rrsets"] = apiRRsets(rrsets, "")
	}
	_, err := p.call(ctx, http.MethodPost, "/servers/"+p.ServerID+"/zones", body, http.StatusCreated)
	return err
}

// AddRecords writes rrsets into zone by PATCH. The API has no append: each RRset replaces whatever was at its
// name and type (changetype REPLACE), e.g. the production CNAME a test adds.
func (p *PowerDNS) AddRecords(ctx context.Context, zone string, rrsets ...RRset) error {
	_, err := p.call(ctx, http.MethodPatch, p.zonePath(zone), map[string]any{"rrsets": apiRRsets(rrsets, "REPLACE")}, http.StatusNoContent)
	return err
}

func apiRRsets(rrsets []RRset, changetype string) []map[string]any {
	out := make([]map[string]any, 0, len(rrsets))
	for _, s := range rrsets {
		ttl := s.TTL
		if ttl == 0 {
			ttl = 60
		}
		records := make([]map[string]any, 0, len(s.Contents))
		for _, c := range s.Contents {
			records = append(records, map[string]any{"content": c, "disabled": false})
		}
		rs := map[string]any{"name": dns.Fqdn(strings.ToLower(s.Name)), "type": strings.ToUpper(s.Type), "ttl": ttl, "records": records}
		if changetype != "" {
			rs["changetype"] = changetype
		}
		out = append(out, rs)
	}
	return out
}

// ZoneTXT reads zone through the API and returns its TXT records: owner name → sorted values (unquoted). It
// reads what PowerDNS holds, so a value left behind shows here wherever it is in the zone.
func (p *PowerDNS) ZoneTXT(ctx context.Context, zone string) (map[string][]string, error) {
	out, err := p.call(ctx, http.MethodGet, p.zonePath(zone), nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var z struct {
		RRsets []struct {
			Name, Type string
			Records    []struct {
				Content  string
				Disabled bool
			}
		}
	}
	if err := json.Unmarshal(out, &z); err != nil {
		return nil, fmt.Errorf("zone %s: %w", zone, err)
	}
	txt := map[string][]string{}
	for _, s := range z.RRsets {
		if s.Type != "TXT" {
			continue
		}
		name := strings.ToLower(s.Name)
		for _, r := range s.Records {
			if r.Disabled {
				continue
			}
			// The API holds presentation format (quoted, escaped); the zone-file parser turns it into the value.
			rr, err := dns.NewRR(name + " 60 IN TXT " + r.Content)
			if err != nil {
				return nil, fmt.Errorf("TXT %s content %q: %w", name, r.Content, err)
			}
			txt[name] = append(txt[name], strings.Join(rr.(*dns.TXT).Txt, ""))
		}
	}
	for _, v := range txt {
		sort.Strings(v)
	}
	return txt, nil
}

// Query asks PowerDNS for name/qtype over DNS.
func (p *PowerDNS) Query(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Timeout: 2 * time.Second}
	in, _, err := c.Exchange(m, p.Addr)
	return in, err
}

// LookupTXT returns the TXT values in PowerDNS's answer for name (sorted), including those it reached by
// following a CNAME into another zone it serves.
func (p *PowerDNS) LookupTXT(name string) ([]string, error) {
	m, err := p.Query(name, dns.TypeTXT)
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
