// Package fakecloudflare is an in-process fake of the parts of the Cloudflare
// v4 API that DNS-01 solvers use: zone lookup and DNS record list, create,
// update and delete. Tests use it because the real API cannot be reached.
//
// It follows Cloudflare's documented behaviour, including the response
// envelope, pagination and error codes, so that a client that works against
// the fake has a fair chance of working against Cloudflare. Where Cloudflare
// documents nothing, the choice made is written next to the code.
//
// The fake is served two ways: on a loopback listener that an [http.Client]
// from [Server.Client] reaches in place of https://api.cloudflare.com, and as
// an HTTPS CONNECT proxy that answers for api.cloudflare.com with a
// certificate from a test CA, for a separate process that uses Go's default
// transport with HTTPS_PROXY and SSL_CERT_FILE.
package fakecloudflare

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
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
// with HTTP 500 and the store is left as it was.
type Mirror interface {
	// AppendTXT adds value (unquoted text) to the TXT RRset at fqdn
	// (absolute, with trailing dot). ttl is in seconds; Cloudflare's
	// "automatic" TTL (1) is passed as 300, which is what it means.
	AppendTXT(ctx context.Context, fqdn, value string, ttl int) error
	// DeleteTXT removes value (unquoted text) from the TXT RRset at fqdn
	// (absolute, with trailing dot).
	DeleteTXT(ctx context.Context, fqdn, value string) error
}

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
// anything.
type Match struct {
	// Method is the HTTP method, e.g. "POST".
	Method string
	// PathPrefix is compared with the URL path as received, which includes
	// BasePath, e.g. "/client/v4/zones".
	PathPrefix string
}

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

type fault struct {
	remaining  int
	status     int
	retryAfter time.Duration
	match      []Match
}

// Server is the fake API. Create it with New, then Start it; it is safe for
// concurrent use.
type Server struct {
	// Mirror, when set, receives every TXT create and delete. Set it before
	// Start; it is not guarded against concurrent change.
	Mirror Mirror

	mu       sync.Mutex
	tokens   map[string]scope
	zones    map[string]*zone // by ID
	faults   []*fault
	requests []Request
	now      func() time.Time

	// writeMu serialises record changes, so that a change can be checked,
	// mirrored (network I/O, outside mu) and stored without another change
	// slipping in between.
	writeMu sync.Mutex

	startOnce sync.Once
	closeOnce sync.Once
	started   bool
	baseURL   *url.URL
	listener  net.Listener
	apiSrv    *http.Server
	tunnels   *tunnelListener
	tunnelSrv *http.Server
	transport *http.Transport
	tlsConfig *tls.Config
	caPEM     []byte
	serving   sync.WaitGroup
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
	s.startOnce.Do(func() { err = s.start() })
	return err
}

func (s *Server) start() error {
	ca, err := newTestCA()
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("fakecloudflare: listen: %w", err)
	}
	// http.Server logs TLS handshake failures and the like through the log
	// package; tests that provoke them on purpose should not spam output.
	quiet := log.New(io.Discard, "", 0)

	s.mu.Lock()
	s.baseURL = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	s.listener = ln
	s.caPEM = ca.pem
	s.tlsConfig = ca.serverConfig
	s.apiSrv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, ErrorLog: quiet}
	s.tunnels = newTunnelListener(ln.Addr())
	s.tunnelSrv = &http.Server{
		Handler:           http.HandlerFunc(s.serveAPI),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          quiet,
	}
	s.transport = &http.Transport{
		// Proxy stays nil: HTTPS_PROXY in the test environment must not
		// divert the loopback connection.
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
	}
	s.started = true
	s.mu.Unlock()

	s.serving.Add(2)
	go func() { defer s.serving.Done(); _ = s.apiSrv.Serve(ln) }()
	go func() { defer s.serving.Done(); _ = s.tunnelSrv.Serve(s.tunnels) }()
	return nil
}

// Close stops serving, closes open connections and waits for the serving
// goroutines to end. It is safe to call more than once and before Start.
func (s *Server) Close() {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return
	}
	s.closeOnce.Do(func() {
		_ = s.apiSrv.Close()
		_ = s.tunnelSrv.Close()
		_ = s.tunnels.Close()
		s.transport.CloseIdleConnections()
		s.serving.Wait()
	})
}

// URL returns the base URL of the loopback listener, e.g.
// "http://127.0.0.1:41234"; the API is under URL()+BasePath. It is empty
// before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.baseURL == nil {
		return ""
	}
	return s.baseURL.String()
}

// Client returns an HTTP client that sends requests for
// https://api.cloudflare.com to the fake (and requests for URL() as they
// are), and refuses every other host so that a test cannot reach the real
// API by mistake. Use it after Start, e.g. as cloudflare.Provider.HTTPClient.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: rewriteTransport{s: s}}
}

type rewriteTransport struct{ s *Server }

func (t rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.s.mu.Lock()
	target, transport := t.s.baseURL, t.s.transport
	t.s.mu.Unlock()
	if target == nil {
		closeBody(req)
		return nil, errors.New("fakecloudflare: server not started")
	}
	if req.URL.Hostname() != APIHost && req.URL.Host != target.Host {
		closeBody(req)
		return nil, fmt.Errorf("fakecloudflare: refusing request to %q: only %s is faked", req.URL.Host, APIHost)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme = target.Scheme
	out.URL.Host = target.Host
	return transport.RoundTrip(out)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
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
// in the order they were added.
func (s *Server) RateLimit(n int, retryAfter time.Duration, match ...Match) {
	s.addFault(&fault{remaining: n, status: http.StatusTooManyRequests, retryAfter: retryAfter, match: match})
}

// FailNext makes the next n requests matching any of match (all requests
// when match is empty) fail with the given HTTP status, meant for 5xx.
func (s *Server) FailNext(n, status int, match ...Match) {
	s.addFault(&fault{remaining: n, status: status, match: match})
}

func (s *Server) addFault(f *fault) {
	if f.remaining <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Requests returns a copy of the log of API requests, oldest first. CONNECT
// requests are not logged; the requests sent through the tunnel are.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// CountRequests returns how many logged requests have the given method
// (any when empty) and a path starting with pathPrefix.
func (s *Server) CountRequests(method, pathPrefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

// WriteCAFile writes the PEM certificate of the test CA that signs the
// proxy's api.cloudflare.com certificate, for SSL_CERT_FILE. Call it after
// Start.
func (s *Server) WriteCAFile(path string) error {
	pem := s.CAPEM()
	if pem == nil {
		return errors.New("fakecloudflare: server not started")
	}
	if err := writeFile(path, pem); err != nil {
		return fmt.Errorf("fakecloudflare: write CA file: %w", err)
	}
	return nil
}

// CAPEM returns the PEM certificate of the test CA, or nil before Start.
func (s *Server) CAPEM() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.caPEM...)
}

// CAPool returns a certificate pool holding only the test CA, or nil before
// Start.
func (s *Server) CAPool() *x509.CertPool {
	pem := s.CAPEM()
	if pem == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

// ProxyURL returns the URL to use as HTTPS_PROXY, e.g.
// "http://127.0.0.1:41234". It is the loopback listener: it answers CONNECT
// api.cloudflare.com:443 and refuses CONNECT to anything else.
func (s *Server) ProxyURL() string { return s.URL() }

// ServeHTTP serves the API, and CONNECT requests as the proxy.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		s.serveConnect(w, r)
		return
	}
	s.serveAPI(w, r)
}

// serveAPI logs the request, computes the reply and only then writes it, so
// that a test that has its response also sees the request in the log.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	rep := s.handle(r)
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		Query:    r.URL.Query(),
		Status:   rep.status,
		ViaProxy: r.TLS != nil,
	})
	s.mu.Unlock()
	rep.write(w)
}

func (s *Server) handle(r *http.Request) reply {
	if rep, ok := s.takeFault(r); ok {
		return rep
	}
	if !strings.HasPrefix(r.URL.Path, BasePath+"/") {
		return noRoute(r.URL.Path)
	}
	sc, rep, ok := s.authenticate(r)
	if !ok {
		return rep
	}
	return s.route(r, sc)
}

func (s *Server) takeFault(r *http.Request) (reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !f.matches(r) {
			continue
		}
		f.remaining--
		if f.remaining == 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		if f.status == http.StatusTooManyRequests {
			return rateLimited(f.retryAfter), true
		}
		// Cloudflare does not document bodies for its 5xx answers; the
		// envelope is used so that clients exercise their status handling
		// rather than a JSON decoding error, with the status as the code.
		return failure(f.status, apiError(f.status, http.StatusText(f.status))), true
	}
	return reply{}, false
}

func (f *fault) matches(r *http.Request) bool {
	if len(f.match) == 0 {
		return true
	}
	for _, m := range f.match {
		if (m.Method == "" || strings.EqualFold(m.Method, r.Method)) && strings.HasPrefix(r.URL.Path, m.PathPrefix) {
			return true
		}
	}
	return false
}

// rateLimited is Cloudflare's answer past its API rate limit: HTTP 429,
// error 971, and (documented since 2025) Retry-After in whole seconds
// rounded up plus the Ratelimit header of the IETF draft.
func rateLimited(retryAfter time.Duration) reply {
	secs := int64(0)
	if retryAfter > 0 {
		secs = int64((retryAfter + time.Second - 1) / time.Second)
	}
	rep := failure(http.StatusTooManyRequests, apiError(971, "Please wait and consider throttling your request speed"))
	rep.header = http.Header{}
	rep.header.Set("Retry-After", strconv.FormatInt(secs, 10))
	rep.header.Set("Ratelimit", fmt.Sprintf(`"default";r=0;t=%d`, secs))
	return rep
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

// tunnelListener hands the TLS connections of CONNECT tunnels to the
// http.Server that serves the API inside them.
type tunnelListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newTunnelListener(addr net.Addr) *tunnelListener {
	return &tunnelListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *tunnelListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tunnelListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *tunnelListener) Addr() net.Addr { return l.addr }

func (l *tunnelListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// serveConnect accepts CONNECT api.cloudflare.com:443 only, and hands the
// tunnel, wrapped in TLS with the test certificate, to the tunnel server.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || !strings.EqualFold(host, APIHost) || port != "443" {
		http.Error(w, "fakecloudflare: CONNECT is only allowed to "+APIHost+":443", http.StatusForbidden)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "fakecloudflare: cannot hijack connection", http.StatusInternalServerError)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		_ = conn.Close()
		return
	}
	c := conn
	if brw.Reader.Buffered() > 0 {
		// The client may have sent its TLS ClientHello right behind the
		// CONNECT request; those bytes are in brw, not in conn.
		c = &bufferedConn{Conn: conn, r: brw.Reader}
	}
	if !s.tunnels.push(tls.Server(c, s.tlsConfig)) {
		_ = conn.Close()
	}
}

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
