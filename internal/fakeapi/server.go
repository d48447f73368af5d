// Package fakeapi is the machinery every fake of a DNS provider's HTTP API shares, so that a fake is only its
// handlers: a loopback listener, an HTTPS CONNECT proxy for the vendor's host names with a throwaway CA, an
// [http.Client] and [http.RoundTripper] that send the vendor's URLs to the listener and refuse every other host,
// a request log, fault injection and a rate window.
//
// Three ways reach a fake, depending on what the client library lets a test change:
//   - a library that takes an *http.Client or a transport gets [Server.Client] or [Server.Transport];
//   - a library that uses [http.DefaultClient] can be given Transport() through http.DefaultTransport (process
//     wide: such tests cannot run in parallel with others that do the same);
//   - a library that builds its own transport (AWS SDK, godo's retrying client) honours HTTPS_PROXY and the system
//     roots, which Go reads once per process: give a child process [Server.ProxyEnv], or set the variables in
//     TestMain before the first request.
//
// Faults and the rate window apply before the fake's own handler, so before its authentication, as vendors'
// front ends throttle before they look at credentials. Each fake writes the body of such a refusal in its
// vendor's format through [Config.Refuse].
//
// Fakes echo what they receive (an unknown token, a key id) into their error bodies where the vendor would show
// it. That is on purpose: the webhook must redact secrets from the errors it returns, and tests prove it against
// these echoes.
package fakeapi

import (
	"bytes"
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
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testnet"
)

// maxBody bounds the request body the server reads on a handler's behalf (Slow); API bodies are small.
const maxBody = 8 << 20

// Config describes a fake API for [Start].
type Config struct {
	// Name identifies the fake in errors and in its CA's name, e.g. "fakeroute53".
	Name string
	// Hosts are the API host names the fake answers for, e.g. "route53.amazonaws.com". Client and Transport send
	// requests for them to the loopback listener; the proxy tunnels CONNECT <host>:443 for them. At least one.
	Hosts []string
	// Handler serves the API. It sees requests after the rate window and the faults let them through.
	Handler http.Handler
	// Refuse writes the answer to a request that the rate window, RateLimit or FailNext refuses, in the vendor's
	// format. Nil writes a small JSON body.
	Refuse RefuseFunc
}

// Request is one API request as the fake saw it. CONNECT requests are not logged; requests sent through a
// tunnel are, with ViaProxy set.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Host is the Host header as received, e.g. "api.digitalocean.com" or "127.0.0.1:41234".
	Host string
	// Path is the URL path as received.
	Path string
	// Query is the parsed query string.
	Query url.Values
	// Status is the HTTP status answered; 0 when no answer was sent (Reset, or the client gave up during Slow).
	Status int
	// ViaProxy is true when the request came through the CONNECT proxy.
	ViaProxy bool
	// Fault names what answered in place of the handler: "window", "rate-limit", "fail", "reset", or "" for the
	// handler. "slow" and "truncate" are set too, though the handler answered.
	Fault string
}

// Server is a running fake API. It is safe for concurrent use.
type Server struct {
	name    string
	hosts   []string
	handler http.Handler
	refuse  RefuseFunc

	listener  net.Listener
	baseURL   *url.URL
	apiSrv    *http.Server
	tunnels   *tunnelListener
	tunnelSrv *http.Server
	transport *http.Transport
	tlsConfig *tls.Config
	caPEM     []byte
	serving   sync.WaitGroup
	// inflight is read-locked by every API request being answered and write-locked by Close, so that Close
	// returns only once no handler can still reach the fake's store or Mirror; closed refuses latecomers.
	inflight  sync.RWMutex
	closed    bool
	closeOnce sync.Once

	mu       sync.Mutex
	requests []Request
	faults   []*fault
	window   *window
	// now is the clock of the rate window; tests of this package replace it.
	now func() time.Time
}

// Start listens on a free port of 127.0.0.1 and serves cfg.Handler there, both directly (plain HTTP) and inside
// CONNECT tunnels for cfg.Hosts (TLS with a certificate from a CA made for this server). Close stops it.
func Start(cfg Config) (*Server, error) {
	if cfg.Handler == nil || len(cfg.Hosts) == 0 {
		return nil, errors.New("fakeapi: Config needs a Handler and at least one host")
	}
	name := cfg.Name
	if name == "" {
		name = "fakeapi"
	}
	hosts := make([]string, len(cfg.Hosts))
	for i, h := range cfg.Hosts {
		hosts[i] = strings.ToLower(h)
	}
	ca, err := testnet.NewCA(name+" test CA", 30*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	leaf, err := ca.Issue(hosts[0], hosts, nil, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%s: listen: %w", name, err)
	}
	refuse := cfg.Refuse
	if refuse == nil {
		refuse = defaultRefuse
	}
	// http.Server logs TLS handshake failures and hijacked-connection errors through the log package; tests
	// provoke them on purpose and should not spam output.
	quiet := log.New(io.Discard, "", 0)
	s := &Server{
		name:     name,
		hosts:    hosts,
		handler:  cfg.Handler,
		refuse:   refuse,
		listener: ln,
		baseURL:  &url.URL{Scheme: "http", Host: ln.Addr().String()},
		caPEM:    ca.PEM,
		tlsConfig: &tls.Config{
			Certificates: []tls.Certificate{leaf.TLSCertificate()},
			MinVersion:   tls.VersionTLS12,
			// HTTP/1.1 only: the tunnel server is fed connections through a listener, where HTTP/2 is not set up.
			NextProtos: []string{"http/1.1"},
		},
		transport: &http.Transport{
			// Proxy stays nil: HTTPS_PROXY in the test's environment must not divert the loopback connection.
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
		},
		now: time.Now,
	}
	s.apiSrv = &http.Server{Handler: http.HandlerFunc(s.serveDirect), ReadHeaderTimeout: 30 * time.Second, ErrorLog: quiet}
	s.tunnels = newTunnelListener(ln.Addr())
	s.tunnelSrv = &http.Server{Handler: http.HandlerFunc(s.serveTunnelled), ReadHeaderTimeout: 30 * time.Second, ErrorLog: quiet}
	s.serving.Add(2)
	go func() { defer s.serving.Done(); _ = s.apiSrv.Serve(ln) }()
	go func() { defer s.serving.Done(); _ = s.tunnelSrv.Serve(s.tunnels) }()
	return s, nil
}

// Close stops serving, closes open connections (a Slow request in flight is cancelled) and waits for the serving
// goroutines to end. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		_ = s.apiSrv.Close()
		_ = s.tunnelSrv.Close()
		_ = s.tunnels.Close()
		s.transport.CloseIdleConnections()
		s.serving.Wait()
		s.inflight.Lock()
		s.closed = true
		s.inflight.Unlock()
	})
}

// Name returns the name given in Config.
func (s *Server) Name() string { return s.name }

// Hosts returns the API host names the fake answers for, lower case.
func (s *Server) Hosts() []string { return slices.Clone(s.hosts) }

// URL returns the base URL of the loopback listener, e.g. "http://127.0.0.1:41234", for libraries that take a
// base URL. Requests to it are served like requests for the API hosts.
func (s *Server) URL() string { return s.baseURL.String() }

// ProxyURL returns the URL to use as HTTPS_PROXY: the loopback listener, which answers CONNECT <host>:443 for the
// API hosts and refuses CONNECT to anything else.
func (s *Server) ProxyURL() string { return s.URL() }

// Client returns an HTTP client that sends requests for the API hosts (any scheme and port) and for URL() to the
// fake, and refuses every other host, so that a test cannot reach the real API by mistake.
func (s *Server) Client() *http.Client { return &http.Client{Transport: s.Transport()} }

// Transport returns the RoundTripper of Client, for libraries that take a transport, or to install as
// http.DefaultTransport for libraries that use http.DefaultClient.
func (s *Server) Transport() http.RoundTripper { return rewriteTransport{s: s} }

type rewriteTransport struct{ s *Server }

func (t rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.s.baseURL.Host && !t.s.isAPIHost(req.URL.Hostname()) {
		closeBody(req)
		return nil, fmt.Errorf("%s: refusing request to %q: only %s is faked", t.s.name, req.URL.Host, strings.Join(t.s.hosts, ", "))
	}
	out := req.Clone(req.Context())
	if out.Host == "" {
		// Requests built by hand (the AWS SDK's) leave Host empty, meaning URL.Host: keep the API host, so the
		// handler sees the Host header the real API would, and a signature over it (SigV4) still matches.
		out.Host = req.URL.Host
	}
	out.URL.Scheme = t.s.baseURL.Scheme
	out.URL.Host = t.s.baseURL.Host
	return t.s.transport.RoundTrip(out)
}

func (s *Server) isAPIHost(host string) bool {
	return slices.Contains(s.hosts, strings.ToLower(strings.TrimSuffix(host, ".")))
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// CAPEM returns the PEM certificate of the CA that signs the proxy's certificate.
func (s *Server) CAPEM() []byte { return slices.Clone(s.caPEM) }

// CAPool returns a certificate pool holding only the fake's CA, for a transport that goes through the proxy.
func (s *Server) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.caPEM)
	return pool
}

// WriteCAFile writes CAPEM to path, for SSL_CERT_FILE (or AWS_CA_BUNDLE) of a child process.
func (s *Server) WriteCAFile(path string) error {
	// The CA certificate is public; 0644 lets a child process under another user read it.
	if err := os.WriteFile(path, s.caPEM, 0o644); err != nil {
		return fmt.Errorf("%s: write CA file: %w", s.name, err)
	}
	return nil
}

// ProxyEnv returns the environment entries that send a child process's HTTPS requests for the API hosts through
// the proxy and make it trust caFile (written by WriteCAFile): HTTPS_PROXY and https_proxy, NO_PROXY and no_proxy
// emptied (so an inherited value cannot exempt the API host), and SSL_CERT_FILE. Append them to os.Environ().
func (s *Server) ProxyEnv(caFile string) []string {
	p := s.ProxyURL()
	return []string{"HTTPS_PROXY=" + p, "https_proxy=" + p, "NO_PROXY=", "no_proxy=", "SSL_CERT_FILE=" + caFile}
}

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r
		out[i].Query = cloneValues(r.Query)
	}
	return out
}

// CountRequests returns how many logged requests have the given method (any when empty) and a path starting with
// pathPrefix.
func (s *Server) CountRequests(method, pathPrefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if (method == "" || strings.EqualFold(r.Method, method)) && strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func (s *Server) logRequest(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// ServeHTTP serves r as the loopback listener does: CONNECT opens a tunnel, anything else is an API request. It
// lets a test mount the fake in a server of its own.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serveDirect(w, r) }

// serveDirect serves the loopback listener: CONNECT opens a tunnel, anything else is an API request.
func (s *Server) serveDirect(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		s.serveConnect(w, r)
		return
	}
	if r.URL.IsAbs() {
		// An absolute request URI is a plain-HTTP forward-proxy request: the fake is no open proxy.
		http.Error(w, s.name+": not a forward proxy; only CONNECT to "+strings.Join(s.hosts, ", ")+" is served", http.StatusForbidden)
		return
	}
	s.serveAPI(w, r, false)
}

func (s *Server) serveTunnelled(w http.ResponseWriter, r *http.Request) { s.serveAPI(w, r, true) }

// serveConnect accepts CONNECT <api host>:443 only, and hands the tunnel, wrapped in TLS with the test
// certificate, to the tunnel server.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || !s.isAPIHost(host) || port != "443" {
		http.Error(w, s.name+": CONNECT is only allowed to "+strings.Join(s.hosts, ":443, ")+":443", http.StatusForbidden)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, s.name+": cannot hijack connection", http.StatusInternalServerError)
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
		// The client may have sent its TLS ClientHello right behind the CONNECT request; those bytes are in brw,
		// not in conn.
		c = &bufferedConn{Conn: conn, r: brw.Reader}
	}
	if !s.tunnels.push(tls.Server(c, s.tlsConfig)) {
		_ = conn.Close()
	}
}

// serveAPI applies the rate window and the faults, then the handler, logging the request when its status is
// written, so that a test holding its response also finds the request in the log.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, viaProxy bool) {
	s.inflight.RLock()
	defer s.inflight.RUnlock()
	if s.closed {
		panic(http.ErrAbortHandler) // the server is closing: no answer, as from a server that is gone
	}
	entry := Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.Query(), ViaProxy: viaProxy}
	if ref, limited := s.checkWindow(); limited {
		entry.Fault = "window"
		s.writeRefusal(w, r, entry, ref)
		return
	}
	f := s.takeFault(r)
	if f != nil {
		entry.Fault = f.kind.String()
	}
	switch {
	case f == nil:
	case f.kind == kindRateLimit || f.kind == kindFail:
		s.writeRefusal(w, r, entry, Refusal{Status: f.status, RetryAfter: f.delay})
		return
	case f.kind == kindReset:
		s.logRequest(entry)
		s.reset(w)
		return
	case f.kind == kindSlow:
		// net/http notices a client that went away (and cancels r.Context) only once the request body has been
		// read to its end, so read it first and hand the handler a copy.
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			s.logRequest(entry)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			s.logRequest(entry) // status 0: nothing was answered
			return
		}
	case f.kind == kindTruncate:
		s.serveTruncated(w, r, entry)
		return
	}
	lw := &logWriter{ResponseWriter: w, s: s, entry: entry}
	s.handler.ServeHTTP(lw, r)
	lw.done()
}

// reset closes the client's connection without an answer. Through the proxy this closes the tunnel, which the
// client sees the same way.
func (s *Server) reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // net/http closes the connection without an answer
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// serveTruncated runs the handler (so a change it makes happens: the answer is lost on the way, not the request),
// then sends its status and headers with the first half of its body, the Content-Length set to match, so the
// client reads a complete HTTP response whose body does not parse.
func (s *Server) serveTruncated(w http.ResponseWriter, r *http.Request, entry Request) {
	rec := newRecorder()
	s.handler.ServeHTTP(rec, r)
	body := rec.body[:len(rec.body)/2]
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	entry.Status = rec.status
	s.logRequest(entry)
	w.WriteHeader(rec.status)
	_, _ = w.Write(body)
}

// logWriter logs the request when the status is written, before any byte reaches the client.
type logWriter struct {
	http.ResponseWriter
	s      *Server
	entry  Request
	logged bool
}

func (w *logWriter) WriteHeader(code int) {
	if !w.logged && code >= 200 {
		w.entry.Status = code
		w.s.logRequest(w.entry)
		w.logged = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	if !w.logged {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush, hijack).
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// done logs a handler that wrote nothing: net/http answers it with 200 and an empty body.
func (w *logWriter) done() {
	if !w.logged {
		w.WriteHeader(http.StatusOK)
	}
}

// recorder captures a handler's answer for Truncate.
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, b...)
	return len(b), nil
}

// tunnelListener hands the TLS connections of CONNECT tunnels to the http.Server that serves the API inside them.
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

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
