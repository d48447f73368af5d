//go:build !minimal

package providers

import (
	"strings"
	"testing"

	"github.com/libdns/loopia"
)

func TestLoopiaAcceptsOnlyATwoLabelZone(t *testing.T) {
	t.Parallel()
	w := newTestWriter(t, loopiaEntry(), &loopia.Provider{Username: "u@loopiaapi", Password: "p"}, testEnv(nil))
	rec := Record{Zone: "validation.example.se.", FQDN: "_acme-challenge.validation.example.se.", Value: "apex-key"}
	// Adds go to the zone as given, deletes to its last two labels: refused before any call.
	for _, err := range []error{w.Present(testCtx(t), rec), w.CleanUp(testCtx(t), rec)} {
		if err == nil || !strings.Contains(err.Error(), "registered domains only") {
			t.Errorf("a three-label zone: %v", err)
		}
	}
	if err := loopiaZone("example.se."); err != nil {
		t.Error(err)
	}
}
