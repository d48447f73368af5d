package fakecloudflare

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testnet"
)

type testCA struct {
	pem          []byte
	serverConfig *tls.Config
}

// newTestCA creates, in memory, a CA and a certificate for api.cloudflare.com
// signed by it. Nothing is written to disk unless WriteCAFile asks.
func newTestCA() (*testCA, error) {
	ca, err := testnet.NewCA("fakecloudflare test CA", 30*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("fakecloudflare: %w", err)
	}
	leaf, err := ca.Issue(APIHost, []string{APIHost}, nil, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, fmt.Errorf("fakecloudflare: %w", err)
	}
	return &testCA{
		pem: ca.PEM,
		serverConfig: &tls.Config{
			Certificates: []tls.Certificate{leaf.TLSCertificate()},
			MinVersion:   tls.VersionTLS12,
			// HTTP/1.1 only: the tunnel server is fed connections through a
			// listener, where HTTP/2 is not set up.
			NextProtos: []string{"http/1.1"},
		},
	}, nil
}

func writeFile(path string, data []byte) error {
	// The CA certificate is public; 0644 lets a child process under
	// another user read it.
	return os.WriteFile(path, data, 0o644)
}
