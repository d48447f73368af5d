//go:build !minimal

package providers

import (
	"io"
	"strings"
	"testing"

	"github.com/libdns/transip"
	"github.com/libdns/transip/client"
)

func TestTransIPRefuses(t *testing.T) {
	t.Parallel()
	refused(t, transipEntry(), &transip.Provider{AuthLogin: "u", PrivateKey: "k", DebugLevel: 2}, "debug_level: is not allowed")
	refused(t, transipEntry(), &transip.Provider{AuthLogin: "u", PrivateKey: "k", TokenStorage: "/var/tmp/tokens"}, "token_storage")
	refused(t, transipEntry(), &transip.Provider{AuthLogin: "u", PrivateKey: "k", ClientControl: client.FullZoneControl}, "client_control_mode")
}

func TestTransIPNeverReadsAKeyFile(t *testing.T) {
	t.Parallel()
	p := &transip.Provider{AuthLogin: "u", PrivateKey: "/var/run/secrets/kubernetes.io/serviceaccount/token"}
	w := newTestWriter(t, transipEntry(), p, testEnv(nil))
	// The library would os.ReadFile a key that is not PEM; the webhook refuses it before any call.
	for _, call := range []func() error{
		func() error { return w.Present(testCtx(t), testRecord("apex-key")) },
		func() error { return w.CleanUp(testCtx(t), testRecord("apex-key")) },
		func() error { _, err := w.FindZone(testCtx(t), "_acme-challenge.example.org."); return err },
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "private_key: is not a PEM private key") {
			t.Errorf("a key that is a file path: %v", err)
		}
	}
	if p.TokenStorage != "memory" || p.DebugOut != io.Discard {
		t.Errorf("token storage %q, debug output %v: want memory and discarded", p.TokenStorage, p.DebugOut)
	}
}
