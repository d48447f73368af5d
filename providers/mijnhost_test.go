//go:build !minimal

package providers

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/libdns/mijnhost"
)

func TestMijnhostRefuses(t *testing.T) {
	t.Parallel()
	// Level 2 and up dumps every request, api-key header included, to stdout.
	refused(t, mijnhostEntry(), &mijnhost.Provider{ApiKey: "k", DebugLevel: 2}, "debug_level: is not allowed")
	var bad mijnhost.Provider
	if err := json.Unmarshal([]byte(`{"api_key":"k","base_uri":"ftp://mijn.host/api/v2/"}`), &bad); err != nil {
		t.Fatal(err)
	}
	refused(t, mijnhostEntry(), &bad, "base_uri")
}

func TestMijnhostDiscardsDebugOutput(t *testing.T) {
	t.Parallel()
	p := &mijnhost.Provider{ApiKey: "k"}
	newTestWriter(t, mijnhostEntry(), p, testEnv(nil))
	if p.DebugOut != io.Discard {
		t.Error("the library's debug output still goes to stdout")
	}
}
