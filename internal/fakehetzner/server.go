// Package fakehetzner is an in-process fake of the DNS part of the Hetzner Cloud API (https://api.hetzner.cloud/v1:
// zones, their RRsets and the asynchronous actions that change them), as github.com/libdns/hetzner/v2 calls it
// through hcloud-go. Tests use it because the real API cannot be reached.
//
// It follows what Hetzner documents and hcloud-go encodes: zones are found by ID or name; RRsets are identified
// by (name, type) with ID "name/type", names relative and lower case, "@" for the apex; TXT values must be quoted
// strings; changes are actions (POST …/actions/add_records and …/actions/remove_records per RRset, creating and
// deleting RRsets) that answer with an Action whose status is "running" and turns "success" (polled at
// GET /actions?id=…); lists are paged with page/per_page (at most 50) and meta.pagination; errors are
// {"error": {"code", "message", "details"}} with Hetzner's codes (401 unauthorized, 404 not_found, 400
// invalid_input, 409 uniqueness_error and conflict, 423 locked, 429 rate_limit_exceeded); every answer carries the
// RateLimit-Limit/-Remaining/-Reset headers of a window of 3600 requests an hour.
//
// Where Hetzner documents nothing, the fake chooses, and says so:
//   - add_records of a value the RRset already holds succeeds and changes nothing (an RRset is a set); the request
//     itself must hold distinct values. WithStrictRecords makes it 409 uniqueness_error instead.
//   - remove_records of a value the RRset does not hold succeeds and changes nothing; of an RRset that does not
//     exist it is 404 not_found (libdns/hetzner skips that). WithStrictRecords makes an absent value 404 too.
//     Removing the last value deletes the RRset.
//   - add_records with a TTL different from the RRset's is 400 invalid_input (Hetzner: "if set, and the RRset
//     being updated already has a TTL, the values must be the same").
//   - a change is applied when it is requested; its action only reports it, running for WithActionDuration
//     (default: success at the first poll). With WithZoneLocking, a change to a zone while one of its actions is
//     running is 423 locked (hcloud-go's error code for "another action is running"; hcloud-go does not retry it).
//
// An unknown API token is echoed in the 401 (Hetzner does not), so that the webhook's redaction is tested
// against it.
//
// How the client reaches it: libdns/hetzner builds its hcloud client with neither an HTTP client nor an endpoint,
// and hcloud-go's default client is a zero http.Client, that is http.DefaultTransport, read on every request.
// In process, set http.DefaultTransport to Transport() for the duration of a test (tests doing so cannot run in
// parallel); a child process gets ProxyEnv.
package fakehetzner

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
)

const (
	// APIHost is the host name of the Hetzner Cloud API.
	APIHost = "api.hetzner.cloud"
	// BasePath is the path prefix of every request.
	BasePath = "/v1"
	// maxPerPage is the largest page Hetzner serves; per_page above it is clamped.
	maxPerPage = 50
	// defaultPerPage is the page size without per_page.
	defaultPerPage = 25
	// minTTL is the smallest TTL the API accepts.
	minTTL = 60
)

// Option configures a Server created by Start.
type Option func(*config)

type config struct {
	tokens         map[string]bool
	zones          []string
	mirror         fakeapi.Mirror
	maxPerPage     int
	actionDuration time.Duration
	locking        bool
	strict         bool
	zoneTTL        int
}

// WithToken accepts token as an API token with read and write access to the project's zones.
func WithToken(token string) Option { return func(c *config) { c.tokens[token] = true } }

// WithZone adds a primary zone called name (trailing dot optional), with its SOA and NS RRsets.
func WithZone(name string) Option { return func(c *config) { c.zones = append(c.zones, name) } }

// WithMirror sends every TXT change to m before the store changes.
func WithMirror(m fakeapi.Mirror) Option { return func(c *config) { c.mirror = m } }

// WithMaxPerPage lowers the largest page the lists serve (default and most 50), so that tests page through a few
// items rather than dozens.
func WithMaxPerPage(n int) Option {
	return func(c *config) {
		if n > 0 && n < maxPerPage {
			c.maxPerPage = n
		}
	}
}

// WithActionDuration keeps each action running for d before it reports success.
func WithActionDuration(d time.Duration) Option { return func(c *config) { c.actionDuration = d } }

// WithZoneLocking refuses a change to a zone with 423 locked while an earlier action on it is running.
func WithZoneLocking() Option { return func(c *config) { c.locking = true } }

// WithStrictRecords makes add_records of a value already present 409 uniqueness_error and remove_records of an
// absent value 404 not_found, the stricter of the answers Hetzner might give, for tests of a caller's handling.
func WithStrictRecords() Option { return func(c *config) { c.strict = true } }

// Record is one value of an RRset.
type Record struct {
	// Value is the record's data as the API holds it: TXT values are quoted strings.
	Value string
	// Comment is the record's comment.
	Comment string
}

// RRSet is an RRset as the fake stores it.
type RRSet struct {
	// ID is "name/type", as Hetzner forms it.
	ID string
	// Name is relative to the zone, lower case, "@" for the apex.
	Name string
	// Type is the record type, e.g. "TXT".
	Type string
	// TTL is in seconds; nil means the zone's default.
	TTL *int
	// Records are the values.
	Records []Record
	// Labels are the RRset's labels.
	Labels map[string]string
}

// Values returns the records' values.
func (r RRSet) Values() []string {
	out := make([]string, len(r.Records))
	for i, rec := range r.Records {
		out[i] = rec.Value
	}
	return out
}

func (r RRSet) clone() RRSet {
	out := r
	if r.TTL != nil {
		ttl := *r.TTL
		out.TTL = &ttl
	}
	out.Records = slices.Clone(r.Records)
	if r.Labels != nil {
		out.Labels = make(map[string]string, len(r.Labels))
		for k, v := range r.Labels {
			out.Labels[k] = v
		}
	}
	return out
}

type zone struct {
	id      int64
	name    string // lower case, no trailing dot
	created time.Time
	ttl     int
	sets    []RRSet // sorted by name, then type
}

// Action is an action as the fake reports it.
type Action struct {
	// ID identifies the action.
	ID int64
	// Command is e.g. "add_rrset_records".
	Command string
	// ZoneID is the zone the action changed.
	ZoneID int64
	// Started is when it was created.
	Started time.Time
	// Done is when it reports success.
	Done time.Time
}

// Server is the running fake. Its embedded fakeapi.Server gives the client, proxy, CA, request log and faults.
type Server struct {
	*fakeapi.Server

	cfg config

	// writeMu serialises changes, so that a change can be checked, mirrored (network I/O, outside mu) and stored
	// without another change slipping in between.
	writeMu sync.Mutex

	mu         sync.Mutex
	zones      []*zone // in creation order
	actions    []*Action
	nextZoneID int64
	nextAction int64
	now        func() time.Time
}

// Start listens on a free port of 127.0.0.1 and serves the API there, directly and as a CONNECT proxy for
// api.hetzner.cloud. Its rate window is Hetzner's: 3600 requests an hour (Limit replaces it). Close stops it.
func Start(opts ...Option) (*Server, error) {
	s := &Server{
		cfg:        config{tokens: map[string]bool{}, maxPerPage: maxPerPage, zoneTTL: 3600},
		nextZoneID: 200000,
		nextAction: 1000000,
		now:        time.Now,
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	for _, z := range s.cfg.zones {
		s.AddZone(z)
	}
	api, err := fakeapi.Start(fakeapi.Config{
		Name:    "fakehetzner",
		Hosts:   []string{APIHost},
		Handler: http.HandlerFunc(s.serve),
		Refuse:  s.refuse,
	})
	if err != nil {
		return nil, err
	}
	api.Limit(3600, time.Hour, 0, false)
	s.Server = api
	return s, nil
}

// ProxyEnv returns the environment entries that send a child process's hcloud client to the fake (fakeapi's:
// HTTPS_PROXY, NO_PROXY emptied, SSL_CERT_FILE=caFile), and LIBDNS_HETZNER_TOKEN emptied, so that a provider
// without a token panics as it would in production rather than use an inherited one.
func (s *Server) ProxyEnv(caFile string) []string {
	return append(s.Server.ProxyEnv(caFile), "LIBDNS_HETZNER_TOKEN=")
}

// AddZone adds a primary zone (see WithZone) and returns its ID; an existing zone's ID if it exists.
func (s *Server) AddZone(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	for _, z := range s.zones {
		if z.name == n {
			return z.id
		}
	}
	s.nextZoneID += 17
	z := &zone{id: s.nextZoneID, name: n, created: s.now().UTC(), ttl: s.cfg.zoneTTL}
	ns := []Record{{Value: "hydrogen.ns.hetzner.com."}, {Value: "oxygen.ns.hetzner.com."}, {Value: "helium.ns.hetzner.de."}}
	ttl := 3600
	z.sets = []RRSet{
		{ID: "@/NS", Name: "@", Type: "NS", TTL: &ttl, Records: ns},
		{ID: "@/SOA", Name: "@", Type: "SOA", TTL: &ttl, Records: []Record{{Value: "hydrogen.ns.hetzner.com. dns.hetzner.com. 2025010101 86400 10800 3600000 3600"}}},
	}
	s.zones = append(s.zones, z)
	return z.id
}

// ZoneID returns the ID of the zone called name.
func (s *Server) ZoneID(name string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneLocked(strings.ToLower(strings.TrimSuffix(name, ".")))
	if z == nil {
		return 0, false
	}
	return z.id, true
}

// zoneLocked finds a zone by ID or name, as the API's {id_or_name} does.
func (s *Server) zoneLocked(idOrName string) *zone {
	for _, z := range s.zones {
		if z.name == strings.ToLower(idOrName) || fmt.Sprint(z.id) == idOrName {
			return z
		}
	}
	return nil
}

// Records returns a copy of the RRsets of the zone called name, in list order; nil when there is none.
func (s *Server) Records(zoneName string) []RRSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneLocked(strings.ToLower(strings.TrimSuffix(zoneName, ".")))
	if z == nil {
		return nil
	}
	out := make([]RRSet, len(z.sets))
	for i, set := range z.sets {
		out[i] = set.clone()
	}
	return out
}

// TXT returns the texts (unquoted, strings joined) of the TXT RRset at fqdn in any zone, sorted; nil when there is
// none.
func (s *Server) TXT(fqdn string) []string {
	n := strings.ToLower(strings.TrimSuffix(fqdn, ".")) + "."
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, z := range s.zones {
		for _, set := range z.sets {
			if set.Type == "TXT" && absName(set.Name, z.name) == n {
				out := txtTexts(set.Values())
				slices.Sort(out)
				return out
			}
		}
	}
	return nil
}

// Actions returns a copy of the actions, oldest first.
func (s *Server) Actions() []Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Action, len(s.actions))
	for i, a := range s.actions {
		out[i] = *a
	}
	return out
}

// absName is the owner name of a relative RRset name in zone, with trailing dot.
func absName(name, zoneName string) string {
	if name == "@" {
		return zoneName + "."
	}
	return name + "." + zoneName + "."
}

func compareSets(a, b RRSet) int {
	switch {
	case a.Name == b.Name:
		return strings.Compare(a.Type, b.Type)
	case a.Name == "@":
		return -1
	case b.Name == "@":
		return 1
	}
	return strings.Compare(a.Name, b.Name)
}
