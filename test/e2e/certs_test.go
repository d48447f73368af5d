//go:build integration

package e2e

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testnet"
)

// keyPair is a certificate and its key, written to files for a process's flags.
type keyPair struct {
	certFile, keyFile string
}

// newCA makes a self-signed CA for one run.
func newCA(t testing.TB, cn string) *testnet.CA {
	t.Helper()
	ca, err := testnet.NewCA(cn, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// newLeaf makes a certificate signed by ca for a server (dnsNames, ips) or a client (cn), and writes it out.
func newLeaf(t testing.TB, ca *testnet.CA, cn string, dnsNames []string, ips []net.IP, usage x509.ExtKeyUsage) *keyPair {
	t.Helper()
	leaf, err := ca.Issue(cn, dnsNames, ips, usage)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kp := &keyPair{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	if err := os.WriteFile(kp.certFile, leaf.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kp.keyFile, leaf.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return kp
}
