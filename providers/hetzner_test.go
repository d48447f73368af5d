//go:build !minimal

package providers

import (
	"strings"
	"testing"

	"github.com/libdns/hetzner/v2"
)

// TestHetznerNeverFallsBackToItsEnvironment: with an empty api_token libdns/hetzner would use
// LIBDNS_HETZNER_TOKEN from the webhook's environment (an operator's token, for any issuer's config), or panic
// without it. The entry refuses the config before the library sees it. Not parallel: it sets the environment.
func TestHetznerNeverFallsBackToItsEnvironment(t *testing.T) {
	t.Setenv("LIBDNS_HETZNER_TOKEN", "operator-token-never-to-be-used")
	for _, token := range []string{"", "   "} {
		w, err := hetznerEntry().NewWriter(&hetzner.Provider{APIToken: token}, Env{Path: "provider.hetzner"})
		if w != nil || err == nil || !strings.Contains(err.Error(), "provider.hetzner.api_token: is required") {
			t.Errorf("api_token %q: writer %v, error %v", token, w, err)
		}
	}
}
