// Package fakedigitalocean is an in-process fake of the parts of the DigitalOcean API v2 that DNS-01 solvers use:
// domains and their records, listed (paginated), created, read, edited and deleted by numeric ID. Tests use it
// because the real API cannot be reached.
//
// It follows DigitalOcean's documented behaviour: records are individual (two TXT values at one name are two
// records with two IDs; an identical record is accepted again, as DigitalOcean does), a record is deleted by its
// ID (404 not_found when there is none), lists are paginated with links.pages.next (20 per page by default, 200
// at most), errors are {"id": …, "message": …}, every answer carries ratelimit-limit, ratelimit-remaining and
// ratelimit-reset (5000 requests per hour), and 429 adds Retry-After. Authentication is "Authorization: Bearer
// <token>".
//
// libdns/digitalocean builds its godo client with godo.NewFromToken, which uses go-retryablehttp's own pooled
// transport: no client, transport or base URL can be given to it. Only HTTPS_PROXY and the system roots reach it,
// and Go reads both once per process: a separate process gets ProxyEnv; in-process tests set them in TestMain,
// before the first request, for one Server that the package's tests share (each test on its own domain).
package fakedigitalocean

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
)

const (
	// APIHost is the host name the real API is served from.
	APIHost = "api.digitalocean.com"
	// BasePath is the path prefix of every endpoint.
	BasePath = "/v2"
	// HourlyLimit is DigitalOcean's documented request limit per hour, reported in ratelimit-limit.
	HourlyLimit = 5000
	// DefaultTTL is what DigitalOcean gives a record created without a TTL.
	DefaultTTL = 1800
	// MinimumTTL is the smallest TTL DigitalOcean accepts.
	MinimumTTL = 30
)

// Page sizes: DigitalOcean documents per_page with a default of 20 and a maximum of 200.
const (
	perPageDefault = 20
	perPageMax     = 200
)

// Option configures a Server created by Start.
type Option func(*config)

type config struct {
	tokens  map[string]bool
	domains []string
	mirror  fakeapi.Mirror
}

// WithToken accepts token in "Authorization: Bearer <token>".
func WithToken(token string) Option {
	return func(c *config) { c.tokens[token] = true }
}

// WithDomain adds a domain called name (trailing dot optional), with DigitalOcean's NS and SOA records.
func WithDomain(name string) Option {
	return func(c *config) { c.domains = append(c.domains, name) }
}

// WithMirror sends every TXT change to m before the store changes. MirrorDomain overrides it per domain.
func WithMirror(m fakeapi.Mirror) Option {
	return func(c *config) { c.mirror = m }
}

// Record is a domain record as DigitalOcean returns it.
type Record struct {
	// ID is the record's stable numeric identifier.
	ID int `json:"id"`
	// Type is the record type, e.g. "TXT".
	Type string `json:"type"`
	// Name is relative to the domain; "@" is the apex.
	Name string `json:"name"`
	// Data is the record's value; TXT data is the bare text.
	Data string `json:"data"`
	// Priority is set for MX and SRV records, null otherwise.
	Priority *int `json:"priority"`
	// Port is set for SRV records.
	Port *int `json:"port"`
	// TTL is in seconds.
	TTL int `json:"ttl"`
	// Weight is set for SRV records.
	Weight *int `json:"weight"`
	// Flags is set for CAA records.
	Flags *int `json:"flags"`
	// Tag is set for CAA records.
	Tag *string `json:"tag"`
}

// Domain is a domain as DigitalOcean returns it.
type Domain struct {
	// Name is the domain name, without trailing dot.
	Name string `json:"name"`
	// TTL is the domain's default TTL.
	TTL int `json:"ttl"`
	// ZoneFile is the zone in BIND format; the fake leaves it empty.
	ZoneFile string `json:"zone_file"`
}

type domain struct {
	info    Domain
	records []*Record // in creation order, which the list returns
	mirror  fakeapi.Mirror
}

// Server is the running fake. Its embedded fakeapi.Server gives the client, proxy, CA, request log and faults.
type Server struct {
	*fakeapi.Server

	cfg config

	// writeMu serialises writes, so that a change can be checked, mirrored (network I/O, outside mu) and stored
	// without another write slipping in between.
	writeMu sync.Mutex

	mu      sync.Mutex
	domains map[string]*domain
	nextID  int
	// hour holds the arrival times of the requests of the last hour, for the ratelimit headers.
	hour []time.Time
}

// Start listens on a free port of 127.0.0.1 and serves the API there, directly and as a CONNECT proxy for
// api.digitalocean.com. Close stops it.
func Start(opts ...Option) (*Server, error) {
	s := &Server{cfg: config{tokens: map[string]bool{}}, domains: map[string]*domain{}, nextID: 3352892}
	for _, o := range opts {
		o(&s.cfg)
	}
	for _, d := range s.cfg.domains {
		s.AddDomain(d)
	}
	api, err := fakeapi.Start(fakeapi.Config{
		Name:    "fakedigitalocean",
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

// AddDomain adds a domain called name (trailing dot optional) with DigitalOcean's NS and SOA records; adding one
// that exists does nothing.
func (s *Server) AddDomain(name string) {
	n := domainName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.domains[n] != nil {
		return
	}
	d := &domain{info: Domain{Name: n, TTL: DefaultTTL}}
	for _, ns := range []string{"ns1.digitalocean.com", "ns2.digitalocean.com", "ns3.digitalocean.com"} {
		d.records = append(d.records, s.newRecordLocked(Record{Type: "NS", Name: "@", Data: ns, TTL: 1800}))
	}
	d.records = append(d.records, s.newRecordLocked(Record{Type: "SOA", Name: "@", Data: "1800", TTL: 1800}))
	s.domains[n] = d
}

// MirrorDomain sends the TXT changes of the domain called name to m (nil: none), in place of WithMirror's, so
// that tests sharing one Server can each mirror their own domain.
func (s *Server) MirrorDomain(name string, m fakeapi.Mirror) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.domains[domainName(name)]; d != nil {
		d.mirror = m
	}
}

func (s *Server) newRecordLocked(r Record) *Record {
	s.nextID++
	r.ID = s.nextID
	return &r
}

// Records returns a copy of the records of the domain called name, in the order the list endpoint returns them.
func (s *Server) Records(name string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domains[domainName(name)]
	if d == nil {
		return nil
	}
	out := make([]Record, len(d.records))
	for i, r := range d.records {
		out[i] = *r
	}
	return out
}

// TXT returns the data of the TXT records named name (relative, "@" for the apex) in the domain called zone,
// sorted, duplicates included; nil when there are none.
func (s *Server) TXT(zone, name string) []string {
	var out []string
	for _, r := range s.Records(zone) {
		if r.Type == "TXT" && r.Name == name {
			out = append(out, r.Data)
		}
	}
	slices.Sort(out)
	return out
}

func domainName(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

func sortedDomains(m map[string]*domain) []*domain {
	out := make([]*domain, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *domain) int { return cmp.Compare(a.info.Name, b.info.Name) })
	return out
}
