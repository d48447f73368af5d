// Package fakeacmedns is an in-process fake of an acme-dns server (github.com/joohoi/acme-dns): its /update API
// and its DNS side, which serves the two latest TXT values of each account at the account's fulldomain. Tests use
// it because the webhook must keep acme-dns's quirks in mind: no delete, no read, a rolling pair of values.
package fakeacmedns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Account is what acme-dns's /register returns.
type Account struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	Subdomain  string `json:"subdomain"`
	FullDomain string `json:"fulldomain"`
}

// Server is a running fake acme-dns.
type Server struct {
	// URL of the HTTP API, e.g. http://127.0.0.1:1234.
	URL string
	// DNSAddr is 127.0.0.1:<port> (UDP) where the zone is served.
	DNSAddr string
	// Zone is the acme-dns zone, e.g. "auth.acme-dns.test.".
	Zone string

	mu       sync.Mutex
	accounts map[string]*account // by subdomain
	updates  int
	seq      int
}

type account struct {
	Account
	// values are the two latest values, each with the sequence number of its update.
	values [2]struct {
		text string
		seq  int
	}
}

// Start runs the API and the DNS server on loopback; the test's cleanup stops both.
func Start(t testing.TB, zone string) *Server {
	t.Helper()
	s := &Server{Zone: dns.Fqdn(strings.ToLower(zone)), accounts: map[string]*account{}}
	api := httptest.NewServer(http.HandlerFunc(s.update))
	t.Cleanup(api.Close)
	s.URL = api.URL

	var lc net.ListenConfig
	pc, err := lc.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serveDNS), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	s.DNSAddr = pc.LocalAddr().String()
	return s
}

// Register creates an account, like POST /register.
func (s *Server) Register() Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := randomHex(8)
	a := &account{Account: Account{Username: randomHex(8), Password: randomHex(20), Subdomain: sub, FullDomain: sub + "." + strings.TrimSuffix(s.Zone, ".")}}
	s.accounts[sub] = a
	return a.Account
}

// Values returns the values the account serves, oldest first, without empty slots.
func (s *Server) Values(subdomain string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[subdomain]
	if !ok {
		return nil
	}
	return a.current()
}

// Updates counts successful /update calls.
func (s *Server) Updates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates
}

func (a *account) current() []string {
	v := a.values
	if v[0].seq > v[1].seq {
		v[0], v[1] = v[1], v[0]
	}
	var out []string
	for _, x := range v {
		if x.seq > 0 {
			out = append(out, x.text)
		}
	}
	return out
}

// update implements POST /update as acme-dns does: X-Api-User/X-Api-Key must match the account owning the
// subdomain (401 otherwise), the value must be 43 characters (400 bad_txt), and the older of the two values is
// replaced.
func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/update" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	var body struct {
		Subdomain string `json:"subdomain"`
		TXT       string `json:"txt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error": "malformed_json_payload"}`))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[body.Subdomain]
	if !ok || a.Username != r.Header.Get("X-Api-User") || a.Password != r.Header.Get("X-Api-Key") {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error": "forbidden"}`))
		return
	}
	if len(body.TXT) != 43 {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error": "bad_txt"}`))
		return
	}
	s.seq++
	s.updates++
	oldest := 0
	if a.values[1].seq < a.values[0].seq {
		oldest = 1
	}
	a.values[oldest].text, a.values[oldest].seq = body.TXT, s.seq
	_, _ = fmt.Fprintf(w, `{"txt": %q}`, body.TXT)
}

func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: s.Zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 1},
		Ns: "ns." + s.Zone, Mbox: "admin." + s.Zone, Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 0}
	s.mu.Lock()
	var values []string
	found := false
	if strings.HasSuffix(name, "."+s.Zone) {
		if a, ok := s.accounts[strings.TrimSuffix(name, "."+s.Zone)]; ok {
			found, values = true, a.current()
		}
	}
	s.mu.Unlock()
	switch {
	case name == s.Zone && q.Qtype == dns.TypeSOA:
		m.Answer = append(m.Answer, soa)
	case found && q.Qtype == dns.TypeTXT:
		for _, v := range values {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}, Txt: []string{v}})
		}
	case found || name == s.Zone:
		m.Ns = append(m.Ns, soa)
	default:
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, soa)
	}
	_ = w.WriteMsg(m)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
