//go:build !minimal

package providers

import (
	"testing"

	"github.com/libdns/directadmin"
)

func TestDirectAdminRefuses(t *testing.T) {
	t.Parallel()
	refused(t, directadminEntry(), &directadmin.Provider{ServerURL: "https://da.example.org:2222", User: "u", LoginKey: "k", InsecureRequests: true}, "insecure_requests: is not allowed")
	refused(t, directadminEntry(), &directadmin.Provider{ServerURL: "da.example.org:2222", User: "u", LoginKey: "k"}, "host")
}

func TestDirectAdminGetsANoOpLogger(t *testing.T) {
	t.Parallel()
	p := &directadmin.Provider{ServerURL: "https://da.example.org:2222", User: "u", LoginKey: "k"}
	newTestWriter(t, directadminEntry(), p, testEnv(nil))
	// Without a logger the library builds a production zap logger, writing JSON to stderr, on every call.
	if p.Logger == nil || p.Logger.Core().Enabled(-1) || p.Logger.Core().Enabled(5) {
		t.Error("the provider has no logger, or one that writes")
	}
}
