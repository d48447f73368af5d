//go:build !minimal

package providers

import (
	"testing"

	"github.com/libdns/bunny"
)

func TestBunnyRefusesDebug(t *testing.T) {
	t.Parallel()
	// debug prints every record to stdout.
	refused(t, bunnyEntry(), &bunny.Provider{AccessKey: "k", Debug: true}, "debug: is not allowed")
}
