//go:build integration

package faults

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
)

// gate is an HTTPS CONNECT proxy for api.cloudflare.com in front of the fake Cloudflare API that lets through
// only the API tokens it currently accepts, for the rotation case: the fake accepts a fixed set of tokens for its
// whole life and has no way to revoke one, while a rotation means that the old token stops working at Cloudflare.
// A refused request gets Cloudflare's answer to an unknown token (HTTP 403, error 9109, "Invalid access token"),
// with the token echoed into the message as the fake echoes it, so that the webhook's redaction is tested as well.
// Everything else is passed to the fake unchanged.
type gate struct {
	cf     *fakecloudflare.Server
	caFile string
	ln     net.Listener
	srv    *http.Server
	inner  *http.Server
	tunnel *connListener

	mu      sync.Mutex
	allowed map[string]bool
	refused int
}

func startGate(t testing.TB, cf *fakecloudflare.Server) *gate {
	t.Helper()
	ca := testcluster.NewCA(t, "faults-gate-ca")
	leaf, err := ca.Issue(fakecloudflare.APIHost, []string{fakecloudflare.APIHost}, nil, x509.ExtKeyUsageServerAuth)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{cf: cf, caFile: filepath.Join(t.TempDir(), "gate-ca.pem"), allowed: map[string]bool{}}
	if err := os.WriteFile(g.caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	var lc net.ListenConfig
	g.ln, err = lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.tunnel = &connListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: g.ln.Addr()}
	cert := leaf.TLSCertificate()
	g.inner = &http.Server{
		Handler:           http.HandlerFunc(g.serveAPI),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	g.srv = &http.Server{Handler: http.HandlerFunc(g.serveConnect), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.inner.ServeTLS(g.tunnel, "", "") }()
	go func() { _ = g.srv.Serve(g.ln) }()
	t.Cleanup(func() {
		_ = g.srv.Close()
		_ = g.inner.Close()
	})
	return g
}

// URL is the proxy's URL, for HTTPS_PROXY.
func (g *gate) URL() string { return "http://" + g.ln.Addr().String() }

// allow makes tokens the only ones the gate lets through.
func (g *gate) allow(tokens ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.allowed = map[string]bool{}
	for _, tok := range tokens {
		g.allowed[tok] = true
	}
}

// refusals is how many requests the gate has refused.
func (g *gate) refusals() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused
}

// serveConnect opens a tunnel for CONNECT api.cloudflare.com:443 and hands it to the inner TLS server.
func (g *gate) serveConnect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect || r.Host != fakecloudflare.APIHost+":443" {
		http.Error(w, "this proxy only tunnels to "+fakecloudflare.APIHost+":443", http.StatusForbidden)
		return
	}
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = conn.Close()
		return
	}
	g.tunnel.push(&bufferedConn{Conn: conn, r: buf.Reader})
}

// serveAPI refuses a token the gate does not allow, and passes every other request to the fake.
func (g *gate) serveAPI(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	g.mu.Lock()
	ok := g.allowed[token]
	if !ok {
		g.refused++
	}
	g.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"success": false, "messages": []any{}, "result": nil,
			"errors": []any{map[string]any{"code": 9109, "message": "Invalid access token (token: " + token + ")"}},
		})
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "https://"+fakecloudflare.APIHost+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	resp, err := g.cf.Client().Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// connListener hands the tunnels' connections to the inner server.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errors.New("gate closed")
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

func (l *connListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// bufferedConn reads what the CONNECT request's reader already buffered before the connection itself.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
