// Package fakecloudflare is an in-process fake of the parts of the Cloudflare
// v4 API that DNS-01 solvers use: zone lookup and DNS record list, create,
// update and delete. Tests use it because the real API cannot be reached.
//
// It follows Cloudflare's documented behaviour, including the response
// envelope, pagination and error codes, so that a client that works against
// the fake has a fair chance of working against Cloudflare. Where Cloudflare
// documents nothing, the choice made is written next to the code.
//
// The fake is served two ways, by internal/fakeapi (which also keeps the
// request log and injects the faults): on a loopback listener that an [http.Client]
// from [Server.Client] reaches in place of https://api.cloudflare.com, and as
// an HTTPS CONNECT proxy that answers for api.cloudflare.com with a
// certificate from a test CA, for a separate process that uses Go's default
// transport with HTTPS_PROXY and SSL_CERT_FILE.
package fakecloudflare

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
)

const (
	// APIHost is the host name the real API is served from and the only one
	// the fake answers for.
	APIHost = "api.cloudflare.com"
	// BasePath is the path prefix of every v4 API endpoint.
	BasePath = "/client/v4"
)

// Mirror receives every TXT record the fake creates or deletes, so that tests
// can make those records visible in a real DNS server. It is called
// synchronously, before the store changes; if it fails, the API call fails
// with HTTP 500 and the store is left as it was. Cloudflare's "automatic" TTL
// (1) is passed as 300, which is what it means.
type Mirror = fakeapi.Mirror

// Option configures a Server created by New.
type Option func(*Server)

// WithToken accepts token as an API token allowed to read zones and edit DNS
// records, like a Cloudflare token with Zone:Read and DNS:Edit.
func WithToken(token string) Option {
	return func(s *Server) { s.tokens[token] = scopeEdit }
}

// WithZoneReadToken accepts token as a Zone:Read-only token, the kind
// libdns/cloudflare sends as ZoneToken on GET /zones?name=. It may list zones
// but gets 403 "Authentication error" on DNS record endpoints.
func WithZoneReadToken(token string) Option {
	return func(s *Server) { s.tokens[token] = scopeZoneRead }
}

// WithZone adds an active zone called name (trailing dot optional).
func WithZone(name string) Option {
	return func(s *Server) { s.addZoneLocked(name) }
}

// Match selects the requests a fault applies to. An empty field matches
// anything; PathPrefix is compared with the URL path as received, which
// includes BasePath, e.g. "/client/v4/zones".
type Match = fakeapi.Match

// Request is one API request as the fake saw it.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path as received, e.g. "/client/v4/zones".
	Path string
	// Query is the parsed query string.
	Query url.Values
	// Status is the HTTP status the fake answered with.
	Status int
	// ViaProxy is true when the request came through the CONNECT proxy.
	ViaProxy bool
}

type scope int

const (
	scopeZoneRead scope = iota + 1
	scopeEdit
)

// Server is the fake API. Create it with New, then Start it; it is safe for
// concurrent use.
type Server struct {
	// Mirror, when set, receives every TXT create and delete. Set it before
	// Start; it is not guarded against concurrent change.
	Mirror Mirror

	mu     sync.Mutex
	tokens map[string]scope
	zones  map[string]*zone // by ID
	now    func() time.Time

	// writeMu serialises record changes, so that a change can be checked,
	// mirrored (network I/O, outside mu) and stored without another change
	// slipping in between.
	writeMu sync.Mutex

	startOnce sync.Once
	// api serves the handlers, the proxy, the request log and the faults; nil
	// before Start.
	api *fakeapi.Server
}

// New returns a Server configured by opts. It does not listen until Start.
func New(opts ...Option) *Server {
	s := &Server{
		tokens: make(map[string]scope),
		zones:  make(map[string]*zone),
		now:    func() time.Time { return time.Now().UTC() },
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Start listens on a free port of 127.0.0.1 and serves the API there, both
// directly and as a CONNECT proxy. It generates the test CA used by the proxy.
func (s *Server) Start() error {
	err := errors.New("fakecloudflare: server already started")
	s.startOnce.Do(func() {
		var api *fakeapi.Server
		api, err = fakeapi.Start(fakeapi.Config{
			Name:    "fakecloudflare",
			Hosts:   []string{APIHost},
			Handler: http.HandlerFunc(s.serveAPI),
			Refuse:  refuse,
		})
		s.mu.Lock()
		s.api = api
		s.mu.Unlock()
	})
	return err
}

func (s *Server) server() *fakeapi.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.api
}

// Close stops serving, closes open connections and waits for the serving
// goroutines to end. It is safe to call more than once and before Start.
func (s *Server) Close() {
	if api := s.server(); api != nil {
		api.Close()
	}
}

// URL returns the base URL of the loopback listener, e.g.
// "http://127.0.0.1:41234"; the API is under URL()+BasePath. It is empty
// before Start.
func (s *Server) URL() string {
	if api := s.server(); api != nil {
		return api.URL()
	}
	return ""
}

// Client returns an HTTP client that sends requests for
// https://api.cloudflare.com to the fake (and requests for URL() as they
// are), and refuses every other host so that a test cannot reach the real
// API by mistake. Use it after Start, e.g. as cloudflare.Provider.HTTPClient.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: lateTransport{s: s}}
}

// lateTransport looks the fake up on every request, so that a client taken
// before Start fails rather than reaching anything.
type lateTransport struct{ s *Server }

func (t lateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	api := t.s.server()
	if api == nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errors.New("fakecloudflare: server not started")
	}
	return api.Transport().RoundTrip(req)
}

// AddZone adds an active zone called name (trailing dot optional) and returns
// its ID. Adding a zone that exists returns the existing ID.
func (s *Server) AddZone(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addZoneLocked(name)
}

// ZoneID returns the ID of the zone called name (trailing dot optional).
func (s *Server) ZoneID(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if z := s.zoneByNameLocked(name); z != nil {
		return z.info.ID, true
	}
	return "", false
}

// Records returns a copy of the records of the zone called name, in the
// order the list endpoint returns them.
func (s *Server) Records(zoneName string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByNameLocked(zoneName)
	if z == nil {
		return nil
	}
	return z.sorted()
}

// RateLimit makes the next n requests matching any of match (all requests
// when match is empty) fail with HTTP 429, a Retry-After header of
// retryAfter rounded up to whole seconds, and Cloudflare's rate-limit error
// 971. Faults apply before authentication, as Cloudflare's limiter does, and
// in the order they were added. Call it after Start.
func (s *Server) RateLimit(n int, retryAfter time.Duration, match ...Match) {
	s.server().RateLimit(n, retryAfter, match...)
}

// FailNext makes the next n requests matching any of match (all requests
// when match is empty) fail with the given HTTP status, meant for 5xx. Call
// it after Start.
func (s *Server) FailNext(n, status int, match ...Match) {
	s.server().FailNext(n, status, match...)
}

// Faults returns the fakeapi server behind the fake, for the faults and the
// rate window it has beyond RateLimit and FailNext (Slow, Reset, Truncate,
// Limit); nil before Start.
func (s *Server) Faults() *fakeapi.Server { return s.server() }

// Requests returns a copy of the log of API requests, oldest first. CONNECT
// requests are not logged; the requests sent through the tunnel are.
func (s *Server) Requests() []Request {
	api := s.server()
	if api == nil {
		return nil
	}
	var out []Request
	for _, r := range api.Requests() {
		out = append(out, Request{Method: r.Method, Path: r.Path, Query: r.Query, Status: r.Status, ViaProxy: r.ViaProxy})
	}
	return out
}

// CountRequests returns how many logged requests have the given method
// (any when empty) and a path starting with pathPrefix.
func (s *Server) CountRequests(method, pathPrefix string) int {
	if api := s.server(); api != nil {
		return api.CountRequests(method, pathPrefix)
	}
	return 0
}

// WriteCAFile writes the PEM certificate of the test CA that signs the
// proxy's api.cloudflare.com certificate, for SSL_CERT_FILE. Call it after
// Start.
func (s *Server) WriteCAFile(path string) error {
	api := s.server()
	if api == nil {
		return errors.New("fakecloudflare: server not started")
	}
	return api.WriteCAFile(path)
}

// CAPEM returns the PEM certificate of the test CA, or nil before Start.
func (s *Server) CAPEM() []byte {
	if api := s.server(); api != nil {
		return api.CAPEM()
	}
	return nil
}

// CAPool returns a certificate pool holding only the test CA, or nil before
// Start.
func (s *Server) CAPool() *x509.CertPool {
	if api := s.server(); api != nil {
		return api.CAPool()
	}
	return nil
}

// ProxyURL returns the URL to use as HTTPS_PROXY, e.g.
// "http://127.0.0.1:41234". It is the loopback listener: it answers CONNECT
// api.cloudflare.com:443 and refuses CONNECT to anything else.
func (s *Server) ProxyURL() string { return s.URL() }

// ServeHTTP serves the API, and CONNECT requests as the proxy, with the
// request log and faults, as the loopback listener does. Before Start it
// answers 503.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api := s.server()
	if api == nil {
		http.Error(w, "fakecloudflare: server not started", http.StatusServiceUnavailable)
		return
	}
	api.ServeHTTP(w, r)
}

// serveAPI computes the reply and writes it; fakeapi logs the request as the
// status is written, so a test that has its response also sees the request
// in the log.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	echoToken(s.handle(r), r).write(w)
}

// echoToken appends the API token a request carried (whatever follows
// "Bearer ", known or not) to the first error message of a failed answer,
// e.g. "Invalid access token (token: <token>)". Cloudflare is not known to
// echo tokens; the fake does, as internal/fakeapi's fakes do, so that a
// webhook that fails to redact Secret values from the errors it returns and
// logs is caught by the tests. Successful answers are left as they are.
func echoToken(rep reply, r *http.Request) reply {
	if rep.body.Success || len(rep.body.Errors) == 0 {
		return rep
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return rep
	}
	errs := append([]Error(nil), rep.body.Errors...)
	errs[0].Message += " (token: " + token + ")"
	rep.body.Errors = errs
	return rep
}

func (s *Server) handle(r *http.Request) reply {
	if !strings.HasPrefix(r.URL.Path, BasePath+"/") {
		return noRoute(r.URL.Path)
	}
	sc, rep, ok := s.authenticate(r)
	if !ok {
		return rep
	}
	return s.route(r, sc)
}

// refuse answers the fakeapi faults: a 429 is Cloudflare's rate-limit
// answer, error 971, and (documented since 2025) Retry-After in whole seconds
// rounded up, always present, plus the Ratelimit header of the IETF draft.
// Cloudflare does not document bodies for its 5xx answers; the envelope is
// used so that clients exercise their status handling rather than a JSON
// decoding error, with the status as the code. Both echo the request's token
// (echoToken).
func refuse(w http.ResponseWriter, r *http.Request, ref fakeapi.Refusal) {
	if ref.Status == http.StatusTooManyRequests {
		secs := fakeapi.RetryAfterSeconds(ref.RetryAfter)
		rep := failure(http.StatusTooManyRequests, apiError(971, "Please wait and consider throttling your request speed"))
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		w.Header().Set("Ratelimit", fmt.Sprintf(`"default";r=0;t=%d`, secs))
		echoToken(rep, r).write(w)
		return
	}
	echoToken(failure(ref.Status, apiError(ref.Status, http.StatusText(ref.Status))), r).write(w)
}

// authenticate implements API-token authentication as Cloudflare answers
// it: no credentials at all is 400/9106, an Authorization header that is not
// "Bearer <token>" is 400/6003 with 6111 in the chain, and a well-formed
// token Cloudflare does not know is 403/9109.
func (s *Server) authenticate(r *http.Request) (scope, reply, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return 0, failure(http.StatusBadRequest, apiError(9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")), false
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !wellFormedToken(token) {
		e := apiError(6003, "Invalid request headers")
		e.ErrorChain = []Error{apiError(6111, "Invalid format for Authorization header")}
		return 0, failure(http.StatusBadRequest, e), false
	}
	s.mu.Lock()
	sc, known := s.tokens[token]
	s.mu.Unlock()
	if !known {
		return 0, failure(http.StatusForbidden, apiError(9109, "Invalid access token")), false
	}
	return sc, reply{}, true
}

// wellFormedToken reports whether token has the characters Cloudflare API
// tokens are made of. Length is not checked (real tokens have 40
// characters) so that tests can use readable tokens.
func wellFormedToken(token string) bool {
	if token == "" {
		return false
	}
	for _, c := range token {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
