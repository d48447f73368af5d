// Package fakeroute53 is an in-process fake of the parts of the Amazon Route 53 API (2013-04-01, REST with XML
// bodies) that DNS-01 solvers use: hosted zone lookup, ListResourceRecordSets, ChangeResourceRecordSets on whole
// RRsets (CREATE, DELETE, UPSERT) and GetChange. Tests use it because the real API cannot be reached.
//
// It follows Route 53's documented behaviour: RRsets are the unit of change (a DELETE must name the RRset exactly,
// TTL and values; a CREATE of an existing RRset fails; UPSERT replaces the set; a batch is atomic), TXT values are
// quoted character-strings, lists are paginated (300 RRsets, 100 zones at most per page) and sorted by name with
// the labels reversed, changes are PENDING until they are INSYNC, throttling is HTTP 400 with code Throttling, and
// every request carries a SigV4 signature, which the fake verifies against the access keys it knows.
//
// libdns/route53 v1.6.2 has no endpoint, HTTP client or transport field: its AWS SDK client is built by
// config.LoadDefaultConfig. Two ways reach the fake: AWS_ENDPOINT_URL_ROUTE_53 set to URL() (the SDK reads it on
// every LoadDefaultConfig; in-process tests use t.Setenv), or a child process with ProxyEnv (the SDK's transport
// honours HTTPS_PROXY and the system roots, so SSL_CERT_FILE, or AWS_CA_BUNDLE). Set AWS_EC2_METADATA_DISABLED=true
// as well, so that a missing credential can never send the SDK to instance metadata.
package fakeroute53

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
	// APIHost is the host name of Route 53's global endpoint in the aws partition, the one the fake answers
	// for through the proxy.
	APIHost = "route53.amazonaws.com"
	// APIVersion is the first path segment of every request.
	APIVersion = "2013-04-01"
	// Namespace is the XML namespace of every body.
	Namespace = "https://route53.amazonaws.com/doc/2013-04-01/"
	// SigningRegion is the region Route 53 requests are signed for in the aws partition.
	SigningRegion = "us-east-1"
	// SigningService is the service name in the SigV4 credential scope.
	SigningService = "route53"
)

// Page sizes: Route 53 documents maxitems up to 300 for RRsets and 100 for hosted zones. Larger values are
// clamped (libdns/route53 asks for 1000), which is how the real API answers them as far as clients can tell: they
// paginate on IsTruncated.
const (
	maxRRSetsPerPage = 300
	maxZonesPerPage  = 100
)

// Option configures a Server created by Start.
type Option func(*config)

type config struct {
	keys           map[string]accessKey
	zones          []zoneSpec
	mirror         fakeapi.Mirror
	throttleStatus int
	rrsetPage      int
	zonePage       int
	syncDelay      time.Duration
}

type accessKey struct {
	secret string
	token  string // session token of a temporary key; "" for a long-term key
}

type zoneSpec struct {
	name    string
	private bool
}

// WithAccessKey accepts requests signed with the long-term access key id and its secret.
func WithAccessKey(id, secret string) Option {
	return func(c *config) { c.keys[id] = accessKey{secret: secret} }
}

// WithTemporaryAccessKey accepts requests signed with a temporary key, which must carry sessionToken in
// X-Amz-Security-Token, as STS-issued credentials do.
func WithTemporaryAccessKey(id, secret, sessionToken string) Option {
	return func(c *config) { c.keys[id] = accessKey{secret: secret, token: sessionToken} }
}

// WithZone adds a public hosted zone called name (trailing dot optional), with its NS and SOA RRsets.
func WithZone(name string) Option {
	return func(c *config) { c.zones = append(c.zones, zoneSpec{name: name}) }
}

// WithPrivateZone adds a private hosted zone called name. Route 53 allows a private and a public zone of the
// same name, which is how ListHostedZonesByName can answer with two zones for one name.
func WithPrivateZone(name string) Option {
	return func(c *config) { c.zones = append(c.zones, zoneSpec{name: name, private: true}) }
}

// WithMirror sends every TXT change to m before the store changes.
func WithMirror(m fakeapi.Mirror) Option {
	return func(c *config) { c.mirror = m }
}

// WithThrottleStatus sets the HTTP status of throttling answers (RateLimit and the rate window). Route 53
// answers 400 with code Throttling, the default; 429 is what some other AWS front ends send.
func WithThrottleStatus(status int) Option {
	return func(c *config) { c.throttleStatus = status }
}

// WithPageSizes lowers the largest pages ListResourceRecordSets and the zone lists return, so that tests page
// through a few records rather than hundreds. Zero keeps Route 53's maximum.
func WithPageSizes(rrsets, zones int) Option {
	return func(c *config) {
		if rrsets > 0 {
			c.rrsetPage = rrsets
		}
		if zones > 0 {
			c.zonePage = zones
		}
	}
}

// WithSyncDelay keeps each change PENDING for d after it was submitted; GetChange answers INSYNC afterwards.
// The default, 0, answers INSYNC on the first GetChange (ChangeResourceRecordSets itself always answers
// PENDING, as Route 53 does).
func WithSyncDelay(d time.Duration) Option {
	return func(c *config) { c.syncDelay = d }
}

// RRSet is a resource record set as Route 53 stores it.
type RRSet struct {
	// Name is the absolute owner name, lower case, with trailing dot.
	Name string
	// Type is the record type, e.g. "TXT".
	Type string
	// TTL is in seconds.
	TTL int64
	// Values are the records' values in Route 53's presentation form: TXT values are quoted character-strings.
	Values []string
}

type zone struct {
	id        string // "Z…", without the /hostedzone/ prefix
	name      string // lower case, trailing dot
	private   bool
	callerRef string
	sets      []RRSet
}

type change struct {
	id        string
	submitted time.Time
	comment   string
}

// Server is the running fake. Its embedded fakeapi.Server gives the client, proxy, CA, request log and faults.
type Server struct {
	*fakeapi.Server

	cfg config

	clockMu sync.Mutex
	clockFn func() time.Time

	// writeMu serialises changes, so that a batch can be checked, mirrored (network I/O, outside mu) and stored
	// without another change slipping in between.
	writeMu sync.Mutex

	mu      sync.Mutex
	zones   []*zone // in creation order
	changes map[string]*change
}

// Start listens on a free port of 127.0.0.1 and serves the API there, directly and as a CONNECT proxy for
// route53.amazonaws.com. Close stops it.
func Start(opts ...Option) (*Server, error) {
	s := &Server{
		cfg: config{
			keys:           map[string]accessKey{},
			throttleStatus: http.StatusBadRequest,
			rrsetPage:      maxRRSetsPerPage,
			zonePage:       maxZonesPerPage,
		},
		clockFn: func() time.Time { return time.Now().UTC() },
		changes: map[string]*change{},
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	for _, z := range s.cfg.zones {
		s.addZone(z.name, z.private)
	}
	api, err := fakeapi.Start(fakeapi.Config{
		Name:    "fakeroute53",
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

// ProxyEnv returns the environment entries that send a child process's AWS SDK to the fake through the proxy:
// fakeapi's (HTTPS_PROXY, SSL_CERT_FILE) plus AWS_CA_BUNDLE=caFile, since the SDK trusts only that bundle when
// it is set (machines often set it to the system bundle), AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_ROUTE_53
// emptied so that the SDK uses route53.amazonaws.com, and AWS_EC2_METADATA_DISABLED=true.
func (s *Server) ProxyEnv(caFile string) []string {
	return append(s.Server.ProxyEnv(caFile), "AWS_CA_BUNDLE="+caFile, "AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_ROUTE_53=",
		"AWS_EC2_METADATA_DISABLED=true")
}

// now is the fake's clock: change sync times and the SigV4 date check.
func (s *Server) now() time.Time {
	s.clockMu.Lock()
	defer s.clockMu.Unlock()
	return s.clockFn()
}

// setClock replaces the clock, for tests of this package.
func (s *Server) setClock(f func() time.Time) {
	s.clockMu.Lock()
	defer s.clockMu.Unlock()
	s.clockFn = f
}

// AddZone adds a public hosted zone called name (trailing dot optional) and returns its ID (without the
// /hostedzone/ prefix). Unlike Route 53, which allows several zones of one name, adding a public zone whose name
// exists returns the existing one's ID.
func (s *Server) AddZone(name string) string { return s.addZone(name, false) }

func (s *Server) addZone(name string, private bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := canonicalName(name)
	for _, z := range s.zones {
		if z.name == n && z.private == private {
			return z.id
		}
	}
	z := &zone{id: "Z" + newID(20), name: n, private: private, callerRef: newID(12)}
	z.sets = []RRSet{
		{Name: n, Type: "NS", TTL: 172800, Values: nameServers(z.id)},
		{Name: n, Type: "SOA", TTL: 900, Values: []string{nameServers(z.id)[0] + " awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}},
	}
	s.zones = append(s.zones, z)
	return z.id
}

// nameServers are the four Route 53 name servers of a zone, picked from its ID as Route 53's delegation sets
// look (one in each of .com, .net, .org, .co.uk).
func nameServers(id string) []string {
	n := int(id[1]) % 512
	return []string{
		fmt.Sprintf("ns-%d.awsdns-%02d.com.", n, n%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.net.", n+512, n%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.org.", n+1024, n%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.co.uk.", n+1536, n%64),
	}
}

// ZoneID returns the ID (without the /hostedzone/ prefix) of the public zone called name, or of the private one
// if there is no public one.
func (s *Server) ZoneID(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := canonicalName(name)
	var found *zone
	for _, z := range s.zones {
		if z.name == n && (found == nil || found.private) {
			found = z
		}
	}
	if found == nil {
		return "", false
	}
	return found.id, true
}

// Records returns a copy of the RRsets of the zone called name (as ZoneID picks it), in the order
// ListResourceRecordSets returns them.
func (s *Server) Records(zoneName string) []RRSet {
	id, ok := s.ZoneID(zoneName)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByIDLocked(id)
	out := make([]RRSet, len(z.sets))
	for i, set := range z.sets {
		out[i] = set
		out[i].Values = slices.Clone(set.Values)
	}
	return out
}

// TXT returns the texts (unquoted, character-strings joined) of the TXT RRset at fqdn in any zone, sorted; nil
// when there is none.
func (s *Server) TXT(fqdn string) []string {
	n := canonicalName(fqdn)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, z := range s.zones {
		for _, set := range z.sets {
			if set.Name == n && set.Type == "TXT" {
				out := txtTexts(set.Values)
				slices.Sort(out)
				return out
			}
		}
	}
	return nil
}

func (s *Server) zoneByIDLocked(id string) *zone {
	for _, z := range s.zones {
		if z.id == id {
			return z
		}
	}
	return nil
}

// canonicalName lower-cases name, adds the trailing dot and decodes Route 53's \052 escape for a leading
// wildcard.
func canonicalName(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.ReplaceAll(n, `\052`, "*")
	if !strings.HasSuffix(n, ".") {
		n += "."
	}
	return n
}

// presentName is how Route 53 returns names: the wildcard as \052.
func presentName(name string) string { return strings.ReplaceAll(name, "*", `\052`) }

// sortKey orders names as Route 53 lists them: labels reversed, e.g. "com.example.www.".
func sortKey(name string) string {
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".") + "."
}

func compareSets(a, b RRSet) int {
	if c := strings.Compare(sortKey(a.Name), sortKey(b.Name)); c != 0 {
		return c
	}
	return strings.Compare(a.Type, b.Type)
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails, see crypto/rand.Read
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}
