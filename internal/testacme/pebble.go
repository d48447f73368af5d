// Package testacme runs Pebble, Let's Encrypt's test ACME CA, in process on loopback, with its validation
// authority pointed at a DNS server of the caller's (BIND in the tests, the embedded server in the demo), and
// drives ACME orders against it with golang.org/x/crypto/acme.
package testacme

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// CA is a running Pebble.
type CA struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// HTTPClient trusts the ACME server's TLS certificate.
	HTTPClient *http.Client

	ca  *ca.CAImpl
	srv *httptest.Server
}

var envOnce sync.Once

// Start runs Pebble on 127.0.0.1 with its VA resolving through dnsAddr (host:port; Pebble queries over TCP with
// recursion desired, and accepts any TXT value in the answer, so the server must chase the CNAME). logw receives
// Pebble's log (io.Discard to drop it). Close stops it.
func Start(dnsAddr string, logw io.Writer) *CA {
	// Pebble reads its knobs from the environment. Real validation always: never PEBBLE_VA_ALWAYS_VALID.
	envOnce.Do(func() {
		for k, v := range map[string]string{
			"PEBBLE_VA_NOSLEEP":      "1", // no random 0-15 s sleep before each validation
			"PEBBLE_WFE_NONCEREJECT": "0", // no artificial badNonce errors
			"PEBBLE_AUTHZREUSE":      "0", // every order gets fresh authorizations, so every run validates
		} {
			_ = os.Setenv(k, v)
		}
		_ = os.Unsetenv("PEBBLE_VA_ALWAYS_VALID")
	})
	logger := log.New(logw, "pebble ", log.LstdFlags)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, 0, 0, false, dnsAddr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	return &CA{DirectoryURL: srv.URL + wfe.DirectoryPath, HTTPClient: srv.Client(), ca: authority, srv: srv}
}

// ServerCAPEM returns, PEM-encoded, the certificate the ACME server's TLS chain verifies against (the caBundle of
// an ACME issuer that talks to this Pebble).
func (c *CA) ServerCAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw})
}

// Close stops the ACME server.
func (c *CA) Close() { c.srv.Close() }

// Roots returns the pool of Pebble's root certificate, to verify issued chains against.
func (c *CA) Roots() (*x509.CertPool, error) {
	root := c.ca.GetRootCert(0)
	if root == nil {
		return nil, errors.New("pebble has no root certificate")
	}
	pool := x509.NewCertPool()
	block, _ := pem.Decode(root.PEM())
	if block == nil {
		return nil, errors.New("pebble root is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing pebble root: %w", err)
	}
	pool.AddCert(cert)
	return pool, nil
}
