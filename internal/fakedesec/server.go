// Package fakedesec is an in-process fake of the parts of the deSEC DNS API (https://desec.io/api/v1/) that DNS-01
// solvers use: domains, and RRsets read one by one or listed, created, replaced and deleted, singly or in bulk.
// Tests use it because the real API cannot be reached.
//
// It follows deSEC's documented behaviour (desec.readthedocs.io, and its source where the documentation is
// silent): the RRset is the unit of every write, and a PUT or PATCH replaces its whole record list (an empty list
// deletes it); bulk writes are atomic and answer validation errors as a list in request order; the domain's
// minimum TTL (3600 s unless lowered) is enforced with Django REST framework's message; TXT records are stored in
// canonical presentation form (quoted); more than 500 RRsets require cursor pagination with Link headers; paths
// need their trailing slash and are otherwise redirected (301), as Django's APPEND_SLASH does; authentication is
// "Authorization: Token <token>"; throttling is 429 with Retry-After and DRF's "Request was throttled." body.
//
// libdns/desec v1.1.1 sends every request with http.DefaultClient to https://desec.io: in process, install
// Transport() as http.DefaultTransport (process wide, so such tests cannot run in parallel); a child process
// reaches the fake with ProxyEnv.
package fakedesec

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
	APIHost = "desec.io"
	// BasePath is the path prefix of every endpoint the fake serves.
	BasePath = "/api/v1"
	// DefaultMinimumTTL is deSEC's minimum TTL for a new domain, in seconds.
	DefaultMinimumTTL = 3600
	// MaximumTTL is deSEC's largest TTL, one week.
	MaximumTTL = 604800
	// DefaultPageSize is how many items deSEC returns at a time; more require cursor pagination.
	DefaultPageSize = 500
)

// Option configures a Server created by Start.
type Option func(*config)

type config struct {
	tokens   map[string]bool
	domains  []string
	mirror   fakeapi.Mirror
	pageSize int
	minTTL   int
}

// WithToken accepts token in "Authorization: Token <token>".
func WithToken(token string) Option {
	return func(c *config) { c.tokens[token] = true }
}

// WithDomain adds a domain called name (trailing dot optional), with deSEC's NS RRset at its apex.
func WithDomain(name string) Option {
	return func(c *config) { c.domains = append(c.domains, name) }
}

// WithMirror sends every TXT change to m before the store changes.
func WithMirror(m fakeapi.Mirror) Option {
	return func(c *config) { c.mirror = m }
}

// WithPageSize lowers the number of items per page (deSEC: 500), so tests reach pagination with a few RRsets.
func WithPageSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.pageSize = n
		}
	}
}

// WithMinimumTTL sets the minimum TTL of the domains the server creates (deSEC: 3600; its support lowers it for
// some accounts).
func WithMinimumTTL(seconds int) Option {
	return func(c *config) { c.minTTL = seconds }
}

// RRset is an RRset as deSEC returns it.
type RRset struct {
	// Created is when the RRset was created.
	Created time.Time `json:"created"`
	// Domain is the name of the domain holding it.
	Domain string `json:"domain"`
	// Subname is the name relative to the domain; empty at the apex.
	Subname string `json:"subname"`
	// Name is the absolute name with trailing dot.
	Name string `json:"name"`
	// Records are the record contents in canonical presentation form; TXT contents are quoted.
	Records []string `json:"records"`
	// TTL is in seconds.
	TTL int `json:"ttl"`
	// Type is the record type, upper case.
	Type string `json:"type"`
	// Touched is when the RRset was last written, even without a change.
	Touched time.Time `json:"touched"`
}

// Domain is a domain as deSEC returns it.
type Domain struct {
	// Created is when the domain was created.
	Created time.Time `json:"created"`
	// MinimumTTL is the smallest TTL its RRsets may have.
	MinimumTTL int `json:"minimum_ttl"`
	// Name is the domain name, without trailing dot.
	Name string `json:"name"`
	// Published is when its zone was last published.
	Published time.Time `json:"published"`
	// Touched is when any of its RRsets was last written.
	Touched time.Time `json:"touched"`
}

type domain struct {
	info   Domain
	rrsets []*RRset // in creation order
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
}

// Start listens on a free port of 127.0.0.1 and serves the API there, directly and as a CONNECT proxy for
// desec.io. Close stops it.
func Start(opts ...Option) (*Server, error) {
	s := &Server{
		cfg:     config{tokens: map[string]bool{}, pageSize: DefaultPageSize, minTTL: DefaultMinimumTTL},
		domains: map[string]*domain{},
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	for _, d := range s.cfg.domains {
		s.AddDomain(d)
	}
	api, err := fakeapi.Start(fakeapi.Config{
		Name:    "fakedesec",
		Hosts:   []string{APIHost},
		Handler: http.HandlerFunc(s.serve),
		Refuse:  refuse,
	})
	if err != nil {
		return nil, err
	}
	s.Server = api
	return s, nil
}

// AddDomain adds a domain called name (trailing dot optional) with deSEC's NS RRset at its apex; adding one that
// exists does nothing.
func (s *Server) AddDomain(name string) {
	n := domainName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.domains[n] != nil {
		return
	}
	now := time.Now().UTC()
	d := &domain{info: Domain{Created: now, MinimumTTL: s.cfg.minTTL, Name: n, Published: now, Touched: now}}
	d.rrsets = []*RRset{{Created: now, Domain: n, Name: n + ".", Records: []string{"ns1.desec.io.", "ns2.desec.org."}, TTL: 3600, Type: "NS", Touched: now}}
	s.domains[n] = d
}

// Records returns a copy of the RRsets of the domain called name, in the order the list endpoint returns them
// (newest first).
func (s *Server) Records(name string) []RRset {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domains[domainName(name)]
	if d == nil {
		return nil
	}
	return d.listLocked()
}

// TXT returns the texts (unquoted, strings joined) of the TXT RRset at fqdn, sorted; nil when there is none.
func (s *Server) TXT(fqdn string) []string {
	n := domainName(fqdn) + "."
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.domains {
		for _, r := range d.rrsets {
			if r.Name == n && r.Type == "TXT" {
				out := txtTexts(r.Records)
				slices.Sort(out)
				return out
			}
		}
	}
	return nil
}

func (d *domain) listLocked() []RRset {
	out := make([]RRset, 0, len(d.rrsets))
	for i := len(d.rrsets) - 1; i >= 0; i-- {
		r := *d.rrsets[i]
		r.Records = slices.Clone(r.Records)
		out = append(out, r)
	}
	return out
}

func (d *domain) find(subname, typ string) *RRset {
	for _, r := range d.rrsets {
		if r.Subname == subname && r.Type == typ {
			return r
		}
	}
	return nil
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
