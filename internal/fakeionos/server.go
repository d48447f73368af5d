// Package fakeionos is an in-process fake of the IONOS Hosting DNS API (https://api.hosting.ionos.com/dns/v1) as
// github.com/libdns/ionos v1.2.0 calls it. Tests use it because the real API cannot be reached.
//
// It follows what IONOS documents and what clients of it (libdns/ionos, lego) rely on: requests carry the API key
// ("prefix.secret") in X-API-Key; zones are listed at GET /zones (an array, no paging) and read with their
// records at GET /zones/{zoneId}, filtered by recordName (an exact absolute name without trailing dot), recordType
// (comma-separated) and suffix; records are individual, each with its own ID: POST /zones/{zoneId}/records
// creates an array of them (201, answering the created records), GET, PUT and DELETE
// /zones/{zoneId}/records/{recordId} read, update and delete one, and PATCH /zones/{zoneId} replaces every record
// of each name and type it is given. Names are absolute without the trailing dot, TXT content is stored and
// returned quoted whatever the client sent, a TTL below 60 is refused and an absent one is 3600. Errors are an
// array of {"code", "message"} (401 UNAUTHORIZED, 404 ZONE_NOT_FOUND / RECORD_NOT_FOUND, 400 INVALID_RECORD).
//
// Where IONOS documents nothing, the fake chooses and says so: creating a record identical (name, type, content)
// to an existing one is 400 INVALID_RECORD "Record already exists."; a 429 carries [{"code": "TOO_MANY_REQUESTS"}]
// and the Retry-After fakeapi sets; an unknown API key is echoed in the 401 (IONOS does not), so that the
// webhook's redaction is tested against it. IONOS documents no paging for zones or records: a zone comes whole.
//
// How the client reaches it: libdns/ionos sends every request with a new zero http.Client, that is
// http.DefaultTransport, to a constant base URL. In process, set http.DefaultTransport to Transport() for the
// duration of a test (tests doing so cannot run in parallel); a child process gets ProxyEnv.
package fakeionos

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
)

const (
	// APIHost is the host name of the IONOS Hosting API.
	APIHost = "api.hosting.ionos.com"
	// BasePath is the path prefix of every DNS API request.
	BasePath = "/dns/v1"
	// defaultTTL is the TTL of a record created without one.
	defaultTTL = 3600
	// minTTL is the smallest TTL IONOS accepts.
	minTTL = 60
)

// Option configures a Server created by Start.
type Option func(*config)

type config struct {
	keys   map[string]bool
	zones  []string
	mirror fakeapi.Mirror
}

// WithAPIKey accepts key ("prefix.secret", as IONOS issues it) in X-API-Key.
func WithAPIKey(key string) Option { return func(c *config) { c.keys[key] = true } }

// WithZone adds a zone called name (trailing dot optional), with its NS and SOA records.
func WithZone(name string) Option { return func(c *config) { c.zones = append(c.zones, name) } }

// WithMirror sends every TXT change to m before the store changes.
func WithMirror(m fakeapi.Mirror) Option { return func(c *config) { c.mirror = m } }

// Record is a record as IONOS stores it.
type Record struct {
	// ID identifies the record; it stays the same across updates.
	ID string
	// Name is absolute without the trailing dot, lower case, e.g. "_acme-challenge.example.com".
	Name string
	// Type is the record type, e.g. "TXT".
	Type string
	// Content is the data; TXT content is quoted.
	Content string
	// TTL is in seconds.
	TTL int
	// Prio is the priority of MX and SRV records.
	Prio int
	// Disabled hides the record from DNS.
	Disabled bool
	// ChangeDate is when it was last written.
	ChangeDate time.Time
}

type zone struct {
	id      string
	name    string // lower case, no trailing dot
	records []Record
}

// Server is the running fake. Its embedded fakeapi.Server gives the client, proxy, CA, request log and faults.
type Server struct {
	*fakeapi.Server

	cfg config

	// writeMu serialises changes, so that a change can be checked, mirrored (network I/O, outside mu) and stored
	// without another change slipping in between.
	writeMu sync.Mutex

	mu    sync.Mutex
	zones []*zone // in creation order
	now   func() time.Time
}

// Start listens on a free port of 127.0.0.1 and serves the API there, directly and as a CONNECT proxy for
// api.hosting.ionos.com. Close stops it.
func Start(opts ...Option) (*Server, error) {
	s := &Server{cfg: config{keys: map[string]bool{}}, now: time.Now}
	for _, o := range opts {
		o(&s.cfg)
	}
	for _, z := range s.cfg.zones {
		s.AddZone(z)
	}
	api, err := fakeapi.Start(fakeapi.Config{
		Name:    "fakeionos",
		Hosts:   []string{APIHost},
		Handler: http.HandlerFunc(s.serve),
		Refuse:  s.refuse,
	})
	if err != nil {
		return nil, err
	}
	s.Server = api
	return s, nil
}

// ProxyEnv returns the environment entries that send a child process's libdns/ionos to the fake (fakeapi's:
// HTTPS_PROXY, NO_PROXY emptied, SSL_CERT_FILE=caFile), and LIBDNS_IONOS_DEBUG emptied, which would print requests
// and answers to stdout.
func (s *Server) ProxyEnv(caFile string) []string {
	return append(s.Server.ProxyEnv(caFile), "LIBDNS_IONOS_DEBUG=")
}

// AddZone adds a zone (see WithZone) and returns its ID; an existing zone's ID if it exists.
func (s *Server) AddZone(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	for _, z := range s.zones {
		if z.name == n {
			return z.id
		}
	}
	z := &zone{id: newID(), name: n}
	now := s.now().UTC()
	for _, ns := range []string{"ns1045.ui-dns.com", "ns1116.ui-dns.biz", "ns1074.ui-dns.org", "ns1084.ui-dns.de"} {
		z.records = append(z.records, Record{ID: newID(), Name: n, Type: "NS", Content: ns, TTL: 86400, ChangeDate: now})
	}
	z.records = append(z.records, Record{ID: newID(), Name: n, Type: "SOA", Content: "ns1045.ui-dns.com hostmaster.1und1.com 2025010101 28800 7200 604800 300", TTL: 3600, ChangeDate: now})
	s.zones = append(s.zones, z)
	return z.id
}

// ZoneID returns the ID of the zone called name.
func (s *Server) ZoneID(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, z := range s.zones {
		if z.name == strings.ToLower(strings.TrimSuffix(name, ".")) {
			return z.id, true
		}
	}
	return "", false
}

// Records returns a copy of the records of the zone called name, in the order the API lists them; nil when there
// is no such zone.
func (s *Server) Records(zoneName string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, z := range s.zones {
		if z.name == strings.ToLower(strings.TrimSuffix(zoneName, ".")) {
			return slices.Clone(z.records)
		}
	}
	return nil
}

// TXT returns the texts (unquoted) of the TXT records at fqdn in any zone, sorted; nil when there are none.
func (s *Server) TXT(fqdn string) []string {
	n := strings.ToLower(strings.TrimSuffix(fqdn, "."))
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, z := range s.zones {
		for _, r := range z.records {
			if r.Type == "TXT" && r.Name == n {
				out = append(out, unquote(r.Content))
			}
		}
	}
	slices.Sort(out)
	return out
}

func (s *Server) zoneByIDLocked(id string) *zone {
	for _, z := range s.zones {
		if z.id == id {
			return z
		}
	}
	return nil
}

// newID is a record or zone ID in IONOS's form, a UUID.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails, see crypto/rand.Read
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
