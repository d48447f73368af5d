// Package fakegodaddy is an in-process fake of the parts of GoDaddy's Domains API v1 (https://api.godaddy.com) that
// DNS-01 solvers use: the account's domains and their DNS records, read, replaced and deleted per type and name.
// Tests use it because the real API cannot be reached.
//
// It follows what GoDaddy documents and what clients of it (lego, libdns/godaddy, terraform-provider-godaddy) rely
// on: requests carry "Authorization: sso-key <key>:<secret>"; GET /v1/domains lists the account's domains (limit at
// most 1000, marker: the domain to continue after); GET /v1/domains/{domain}/records[/{type}[/{name}]] returns the
// records as an array of {data, name, ttl, type}, paged by offset and limit; PUT
// /v1/domains/{domain}/records/{type}/{name} with an array replaces every record of that type and name by the
// ones given (so a one-element PUT drops a sibling value: the trap libdns/godaddy falls into); DELETE of the same
// path removes them all (204). Names are relative to the domain, "@" for the apex; the TTL of a record is at
// least 600 s. Errors are {"code", "message", "fields": [{"code", "message", "path"}]}: 401
// UNABLE_TO_AUTHENTICATE, 403 ACCESS_DENIED, 404 UNKNOWN_DOMAIN and NOT_FOUND, 422 INVALID_BODY, 429
// TOO_MANY_REQUESTS (with retryAfterSec in the body and a Retry-After header).
//
// Where GoDaddy documents nothing, the fake chooses, and says so:
//   - offset counts records to skip (GoDaddy documents "number of results to skip"; libdns/godaddy sends it as a
//     page number starting at 1, which this fake would answer with the records after the first); limit defaults
//     to 500 and is clamped to 500; a negative or non-numeric one is 422.
//   - a PUT whose array holds one data twice, an empty data, or a TTL under 600 is 422 INVALID_BODY naming the
//     field (records[i].data, records[i].ttl); a PUT of an empty array is 422 too (DELETE removes records).
//   - DELETE of a type and name that holds nothing is 404 NOT_FOUND.
//   - WithAccessDenied answers 403 ACCESS_DENIED to everything, as GoDaddy does since 2024 for accounts with fewer
//     than 10 domains and no Discount Domain Club Premier membership.
//   - an unknown key or secret is echoed in the 401 (GoDaddy does not), so that the webhook's redaction is tested
//     against it.
//
// How a client reaches it: a library that takes an *http.Client gets Client(); a separate process gets ProxyEnv.
package fakegodaddy

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
)

const (
	// APIHost is the host name of GoDaddy's production API.
	APIHost = "api.godaddy.com"
	// MinTTL is the smallest TTL GoDaddy accepts for a record.
	MinTTL = 600
	// DefaultTTL is what GoDaddy gives the zone's own records.
	DefaultTTL = 3600
	// maxRecordsPage is the largest page of records (limit is clamped to it) and the default one.
	maxRecordsPage = 500
	// maxDomainsPage is the largest page of domains.
	maxDomainsPage = 1000
)

// Option configures a Server created by Start.
type Option func(*config)

type config struct {
	keys    map[string]string // key → secret
	domains []string
	mirror  fakeapi.Mirror
	denied  bool
}

// WithAPIKey accepts the production API key and its secret ("sso-key key:secret").
func WithAPIKey(key, secret string) Option { return func(c *config) { c.keys[key] = secret } }

// WithDomain adds a domain of the account called name (trailing dot optional), with GoDaddy's NS and SOA records.
func WithDomain(name string) Option { return func(c *config) { c.domains = append(c.domains, name) } }

// WithMirror sends every TXT change to m before the store changes; a PUT that replaces a set mirrors only the
// difference.
func WithMirror(m fakeapi.Mirror) Option { return func(c *config) { c.mirror = m } }

// WithAccessDenied answers every authenticated request with 403 ACCESS_DENIED, as GoDaddy does for accounts that
// do not qualify for API access.
func WithAccessDenied() Option { return func(c *config) { c.denied = true } }

// Record is a DNS record as GoDaddy returns it.
type Record struct {
	// Data is the record's value; TXT data is the bare text.
	Data string `json:"data"`
	// Name is relative to the domain, lower case; "@" is the apex.
	Name string `json:"name"`
	// TTL is in seconds.
	TTL int `json:"ttl"`
	// Type is the record type, e.g. "TXT".
	Type string `json:"type"`
}

type domain struct {
	id      int
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

	mu      sync.Mutex
	domains map[string]*domain
	nextID  int
}

// Start listens on a free port of 127.0.0.1 and serves the API there, directly and as a CONNECT proxy for
// api.godaddy.com. Close stops it.
func Start(opts ...Option) (*Server, error) {
	s := &Server{cfg: config{keys: map[string]string{}}, domains: map[string]*domain{}, nextID: 401520}
	for _, o := range opts {
		o(&s.cfg)
	}
	for _, d := range s.cfg.domains {
		s.AddDomain(d)
	}
	api, err := fakeapi.Start(fakeapi.Config{
		Name:    "fakegodaddy",
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

// AddDomain adds a domain called name (trailing dot optional) with GoDaddy's NS and SOA records; adding one that
// exists does nothing.
func (s *Server) AddDomain(name string) {
	n := domainName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.domains[n] != nil {
		return
	}
	s.nextID++
	d := &domain{id: s.nextID, name: n}
	for _, ns := range []string{"ns41.domaincontrol.com", "ns42.domaincontrol.com"} {
		d.records = append(d.records, Record{Type: "NS", Name: "@", Data: ns, TTL: DefaultTTL})
	}
	d.records = append(d.records, Record{Type: "SOA", Name: "@", Data: "Primary nameserver: ns41.domaincontrol.com.", TTL: DefaultTTL})
	s.domains[n] = d
}

// Records returns a copy of the records of the domain called name, in the order GET records returns them; nil
// when there is no such domain.
func (s *Server) Records(name string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domains[domainName(name)]
	if d == nil {
		return nil
	}
	return slices.Clone(d.records)
}

// TXT returns the data of the TXT records at fqdn (absolute) in whichever domain holds it, sorted; nil when there
// are none.
func (s *Server) TXT(fqdn string) []string {
	n := domainName(fqdn)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.domains {
		for _, r := range d.records {
			if r.Type == "TXT" && absName(r.Name, d.name) == n {
				out = append(out, r.Data)
			}
		}
	}
	slices.Sort(out)
	return out
}

// absName is the owner name of a relative record name in domain, without the trailing dot.
func absName(name, domain string) string {
	if name == "@" {
		return domain
	}
	return name + "." + domain
}

func domainName(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

func sortedDomains(m map[string]*domain) []*domain {
	out := make([]*domain, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *domain) int { return cmp.Compare(a.name, b.name) })
	return out
}
