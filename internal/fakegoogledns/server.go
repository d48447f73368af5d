// Package fakegoogledns is an in-process fake of the parts of the Google Cloud DNS v1 API that DNS-01 solvers
// use, and of the OAuth 2.0 token endpoint a `type: service_account` credential signs in at. Tests use it because
// the real APIs cannot be reached.
//
// It follows Cloud DNS's documented behaviour: resource record sets are the unit of change (create fails with 409
// alreadyExists when the name and type exist, patch replaces the rrdatas, delete removes the set; there is no
// per-value operation), TXT rrdatas are stored as quoted character-strings whatever the client sent (a value sent
// bare comes back quoted, as the recordings in libdns/googleclouddns's own tests show), lists are paginated with
// pageToken, every request needs a bearer token the token endpoint issued, and errors carry Google's JSON shape
// (404 notFound, 409 alreadyExists, 429 rateLimitExceeded, 401 authError).
//
// The token endpoint implements the JWT bearer grant (RFC 7523) as Google does for service accounts: the
// assertion must be an RS256 JWT whose iss is a service account the fake knows, signed with that account's key
// (CredentialsJSON hands out the key), with aud the token URL, a scope, and an iat/exp within an hour. An unknown
// iss, and an unknown bearer token at the DNS API, are echoed in the error (the webhook's redaction is tested
// against that).
//
// How the clients reach it. libdns/googleclouddns v1.2.0 builds its dns.Service itself, once per Provider, with
// option.WithCredentialsFile (its gcp_application_default field is a file path) and no other option: no HTTP
// client, transport or endpoint can be injected from outside the package (its own tests set the unexported
// service field). What does reach it: google.golang.org/api and cloud.google.com/go/auth clone
// http.DefaultTransport when it is an *http.Transport (the API client at NewService, the token client at the
// credential's detection), so in process a test sets http.DefaultTransport to ProxiedTransport() before the
// Provider's first call; a separately started process gets HTTPS_PROXY and SSL_CERT_FILE (ProxyEnv), which the
// clone honours. fakeapi's Transport() is not an *http.Transport, and the Google libraries then fall back to a
// transport of their own that goes to the real network: do not install it as http.DefaultTransport here.
//
// A webhook that takes the service account JSON from a Secret (in memory, never a file) builds the service itself:
// credentials.NewCredentialsFromJSON(credentials.ServiceAccount, json, &credentials.DetectOptions{Scopes: …,
// Client: &http.Client{Transport: rt}}), httptransport.NewClient(&httptransport.Options{Credentials: creds,
// BaseRoundTripper: rt}), then dns.NewService(ctx, option.WithHTTPClient(client)); with rt = Transport() every
// request (token and API) reaches the fake. The tests of this package prove both ways.
package fakegoogledns

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
)

const (
	// APIHost is the host name of the Cloud DNS API.
	APIHost = "dns.googleapis.com"
	// TokenHost is the host name of Google's OAuth 2.0 token endpoint.
	TokenHost = "oauth2.googleapis.com"
	// TokenURL is the token endpoint a service account's JSON names in token_uri, and the aud its JWTs carry.
	TokenURL = "https://" + TokenHost + "/token"
	// APIPrefix is the path prefix of every Cloud DNS v1 request.
	APIPrefix = "/dns/v1/projects/"
	// DefaultProject is the project the fake serves unless WithProject names another.
	DefaultProject = "fake-project"
)

// Scopes that grant access to Cloud DNS: reads need any of them, writes one of the last two.
const (
	scopeReadOnly      = "https://www.googleapis.com/auth/ndev.clouddns.readonly"
	scopeCloudReadOnly = "https://www.googleapis.com/auth/cloud-platform.read-only"
	scopeReadWrite     = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
	scopeCloud         = "https://www.googleapis.com/auth/cloud-platform"
)

// Page sizes: Cloud DNS caps maxResults; the fake uses these unless WithPageSizes lowers them, so that tests page
// through a few records rather than hundreds.
const (
	maxRRSetsPerPage = 1000
	maxZonesPerPage  = 1000
)

// Option configures a Server created by Start.
type Option func(*config)

type config struct {
	project   string
	accounts  []string
	zones     []zoneSpec
	mirror    fakeapi.Mirror
	rrsetPage int
	zonePage  int
	tokenLife time.Duration
}

type zoneSpec struct {
	name, dnsName, visibility string
}

// WithProject sets the project the fake's zones and service accounts belong to (default DefaultProject). A
// request for any other project is refused with 403 forbidden.
func WithProject(id string) Option { return func(c *config) { c.project = id } }

// WithServiceAccount creates a service account with a fresh RSA key; CredentialsJSON returns its JSON key file.
// email is its client_email, e.g. "dns-writer@fake-project.iam.gserviceaccount.com".
func WithServiceAccount(email string) Option {
	return func(c *config) { c.accounts = append(c.accounts, email) }
}

// WithZone adds a public managed zone called name (e.g. "example-com") for dnsName (trailing dot optional), with
// the NS and SOA rrsets Cloud DNS creates.
func WithZone(name, dnsName string) Option {
	return func(c *config) {
		c.zones = append(c.zones, zoneSpec{name: name, dnsName: dnsName, visibility: "public"})
	}
}

// WithPrivateZone adds a private managed zone. libdns/googleclouddns only maps public zones, which a test proves
// with one of these.
func WithPrivateZone(name, dnsName string) Option {
	return func(c *config) {
		c.zones = append(c.zones, zoneSpec{name: name, dnsName: dnsName, visibility: "private"})
	}
}

// WithMirror sends every TXT change to m before the store changes; a patch that replaces a set mirrors only the
// difference.
func WithMirror(m fakeapi.Mirror) Option { return func(c *config) { c.mirror = m } }

// WithPageSizes lowers the largest pages of the rrset and managed-zone lists. Zero keeps the default.
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

// WithTokenLifetime sets the expires_in of issued access tokens (default one hour less a second, as Google
// answers). A token is refused by the API once it has expired, so a short lifetime tests a client's refresh.
func WithTokenLifetime(d time.Duration) Option { return func(c *config) { c.tokenLife = d } }

// RRSet is a resource record set as Cloud DNS stores it.
type RRSet struct {
	// Name is the absolute owner name, lower case, with trailing dot.
	Name string
	// Type is the record type, e.g. "TXT".
	Type string
	// TTL is in seconds.
	TTL int64
	// Rrdatas are the values in Cloud DNS's form: TXT values are quoted character-strings.
	Rrdatas []string
}

// Zone describes a managed zone.
type Zone struct {
	// ID is the numeric ID Cloud DNS gives a zone.
	ID uint64
	// Name is the managed zone's name, e.g. "example-com"; API paths use it.
	Name string
	// DNSName is the zone's DNS name, lower case, with trailing dot.
	DNSName string
	// Visibility is "public" or "private".
	Visibility string
}

type zone struct {
	Zone
	created time.Time
	sets    []RRSet // sorted by name, then type
}

type account struct {
	email string
	keyID string
	key   *rsa.PrivateKey
}

type token struct {
	email   string
	scopes  []string
	expires time.Time
}

// Server is the running fake. Its embedded fakeapi.Server gives the client, proxy, CA, request log and faults.
type Server struct {
	*fakeapi.Server

	cfg config

	// writeMu serialises changes, so that a change can be checked, mirrored (network I/O, outside mu) and stored
	// without another change slipping in between.
	writeMu sync.Mutex

	mu       sync.Mutex
	zones    []*zone // in creation order
	accounts map[string]*account
	tokens   map[string]token
	nextID   uint64
	now      func() time.Time
}

// Start listens on a free port of 127.0.0.1 and serves the API and the token endpoint there, directly and as a
// CONNECT proxy for dns.googleapis.com and oauth2.googleapis.com. Close stops it.
func Start(opts ...Option) (*Server, error) {
	s := &Server{
		cfg: config{
			project:   DefaultProject,
			rrsetPage: maxRRSetsPerPage,
			zonePage:  maxZonesPerPage,
			tokenLife: time.Hour - time.Second,
		},
		accounts: map[string]*account{},
		tokens:   map[string]token{},
		nextID:   4611686018427387903, // Cloud DNS zone IDs are large numbers
		now:      time.Now,
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	for _, email := range s.cfg.accounts {
		// 2048 bits: what Google issues, and what the auth library's key parser expects of a real key.
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("fakegoogledns: service account key: %w", err)
		}
		s.accounts[email] = &account{email: email, keyID: randomHex(20), key: key}
	}
	for _, z := range s.cfg.zones {
		s.addZone(z)
	}
	api, err := fakeapi.Start(fakeapi.Config{
		Name:    "fakegoogledns",
		Hosts:   []string{APIHost, TokenHost},
		Handler: http.HandlerFunc(s.serve),
		Refuse:  s.refuse,
	})
	if err != nil {
		return nil, err
	}
	s.Server = api
	return s, nil
}

// Project returns the project the fake serves.
func (s *Server) Project() string { return s.cfg.project }

// CredentialsJSON returns the JSON key file of a service account created by WithServiceAccount, as the Cloud
// console downloads it: type service_account, the project, the private key and token_uri TokenURL.
func (s *Server) CredentialsJSON(email string) ([]byte, error) {
	s.mu.Lock()
	a := s.accounts[email]
	s.mu.Unlock()
	if a == nil {
		return nil, fmt.Errorf("fakegoogledns: no service account %q", email)
	}
	der, err := x509.MarshalPKCS8PrivateKey(a.key)
	if err != nil {
		return nil, fmt.Errorf("fakegoogledns: %w", err)
	}
	return json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  s.cfg.project,
		"private_key_id":              a.keyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                a.email,
		"client_id":                   "1" + randomDigits(20),
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   TokenURL,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
}

// ProxiedTransport returns an *http.Transport that sends requests for the fake's hosts through its CONNECT proxy
// and trusts only its CA, and dials nothing but loopback directly, so a mistake cannot reach the internet. Install
// it as http.DefaultTransport for libraries that clone the default transport (Google's do; they ignore one that
// is not an *http.Transport).
func (s *Server) ProxiedTransport() *http.Transport {
	proxy, _ := url.Parse(s.ProxyURL()) // ProxyURL is a URL fakeapi built
	hosts := s.Hosts()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) {
			if slices.Contains(hosts, strings.ToLower(r.URL.Hostname())) {
				return proxy, nil
			}
			return nil, nil
		},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("fakegoogledns: refusing to dial %s: only loopback is allowed in tests", addr)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: s.CAPool(), MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 16,
	}
}

// ProxyEnv returns the environment entries that send a child process's Google clients to the fake: fakeapi's
// (HTTPS_PROXY, NO_PROXY emptied, SSL_CERT_FILE=caFile), GOOGLE_APPLICATION_CREDENTIALS emptied so that no ambient
// credential is picked up, and GOOGLE_API_USE_CLIENT_CERTIFICATE=false so that no mTLS endpoint is chosen.
func (s *Server) ProxyEnv(caFile string) []string {
	return append(s.Server.ProxyEnv(caFile), "GOOGLE_APPLICATION_CREDENTIALS=", "GOOGLE_API_USE_CLIENT_CERTIFICATE=false")
}

// AddZone adds a public managed zone (see WithZone) and returns it.
func (s *Server) AddZone(name, dnsName string) Zone {
	return s.addZone(zoneSpec{name: name, dnsName: dnsName, visibility: "public"})
}

func (s *Server) addZone(spec zoneSpec) Zone {
	s.mu.Lock()
	defer s.mu.Unlock()
	dn := canonicalName(spec.dnsName)
	for _, z := range s.zones {
		if z.Name == spec.name {
			return z.Zone
		}
	}
	s.nextID += 7919
	z := &zone{Zone: Zone{ID: s.nextID, Name: spec.name, DNSName: dn, Visibility: spec.visibility}, created: s.now().UTC()}
	letter := string(rune('a' + int(z.ID%4)))
	var ns []string
	for i := 1; i <= 4; i++ {
		ns = append(ns, fmt.Sprintf("ns-cloud-%s%d.googledomains.com.", letter, i))
	}
	z.sets = []RRSet{
		{Name: dn, Type: "NS", TTL: 21600, Rrdatas: ns},
		{Name: dn, Type: "SOA", TTL: 21600, Rrdatas: []string{ns[0] + " cloud-dns-hostmaster.google.com. 1 21600 3600 259200 300"}},
	}
	s.zones = append(s.zones, z)
	return z.Zone
}

// Zones returns the managed zones in creation order.
func (s *Server) Zones() []Zone {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Zone, len(s.zones))
	for i, z := range s.zones {
		out[i] = z.Zone
	}
	return out
}

// Records returns a copy of the rrsets of the zone for dnsName (the public one if there are two), in list order;
// nil when there is no such zone.
func (s *Server) Records(dnsName string) []RRSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByDNSNameLocked(canonicalName(dnsName))
	if z == nil {
		return nil
	}
	return cloneSets(z.sets)
}

// TXT returns the texts (unquoted, character-strings joined) of the TXT rrset at fqdn in any zone, sorted; nil
// when there is none.
func (s *Server) TXT(fqdn string) []string {
	n := canonicalName(fqdn)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, z := range s.zones {
		for _, set := range z.sets {
			if set.Name == n && set.Type == "TXT" {
				out := txtTexts(set.Rrdatas)
				slices.Sort(out)
				return out
			}
		}
	}
	return nil
}

func (s *Server) zoneByDNSNameLocked(dn string) *zone {
	var found *zone
	for _, z := range s.zones {
		if z.DNSName == dn && (found == nil || found.Visibility != "public") {
			found = z
		}
	}
	return found
}

func (s *Server) zoneByNameLocked(name string) *zone {
	for _, z := range s.zones {
		if z.Name == name {
			return z
		}
	}
	return nil
}

func cloneSets(sets []RRSet) []RRSet {
	out := make([]RRSet, len(sets))
	for i, set := range sets {
		out[i] = set
		out[i].Rrdatas = slices.Clone(set.Rrdatas)
	}
	return out
}

// canonicalName lower-cases name and adds the trailing dot.
func canonicalName(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if !strings.HasSuffix(n, ".") {
		n += "."
	}
	return n
}

func compareSets(a, b RRSet) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.Type, b.Type)
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b) // never fails, see crypto/rand.Read
	return fmt.Sprintf("%x", b)[:n]
}

func randomDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}
