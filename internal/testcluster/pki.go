package testcluster

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testnet"
)

// KeyPair is a certificate and its key, written to files for a process's flags.
type KeyPair struct {
	// CertFile and KeyFile are the PEM files.
	CertFile, KeyFile string
}

// NewCA makes a self-signed CA for one run.
func NewCA(t testing.TB, cn string) *testnet.CA {
	t.Helper()
	ca, err := testnet.NewCA(cn, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// NewKeyPair makes a certificate signed by ca for a server (dnsNames, ips) or a client (cn), and writes it out
// into a directory the test's cleanup removes.
func NewKeyPair(t testing.TB, ca *testnet.CA, cn string, dnsNames []string, ips []net.IP, usage x509.ExtKeyUsage) *KeyPair {
	t.Helper()
	leaf, err := ca.Issue(cn, dnsNames, ips, usage)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kp := &KeyPair{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	if err := os.WriteFile(kp.CertFile, leaf.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kp.KeyFile, leaf.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return kp
}
