//go:build !minimal

package providers

import (
	"testing"

	libovh "github.com/libdns/ovh"
)

func TestOVHEndpoint(t *testing.T) {
	t.Parallel()
	keys := func(endpoint string) *libovh.Provider {
		return &libovh.Provider{Endpoint: endpoint, ApplicationKey: "a", ApplicationSecret: "s", ConsumerKey: "c"}
	}
	refused(t, ovhEntry(), keys("ovh-mars"), "endpoint")
	refused(t, ovhEntry(), keys("eu.api.ovh.com/1.0"), "endpoint")
	refused(t, ovhEntry(), keys("https://eu.api.ovh.com/1.0/"), "ends with a slash")
	// Empty: set to ovh-eu, so that OVH_ENDPOINT or an ovh.conf cannot choose where the keys go.
	p := keys("")
	newTestWriter(t, ovhEntry(), p, testEnv(nil))
	if p.Endpoint != "ovh-eu" {
		t.Errorf("endpoint %q, want ovh-eu", p.Endpoint)
	}
}
