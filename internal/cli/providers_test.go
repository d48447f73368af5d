package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

func TestProvidersCommand(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := Providers([]string{"-o", "json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var infos []ProviderInfo
	if err := json.Unmarshal(out.Bytes(), &infos); err != nil {
		t.Fatal(err)
	}
	reg := providers.Default()
	if len(infos) != len(reg) {
		t.Fatalf("%d providers printed, the registry has %d", len(infos), len(reg))
	}
	for _, p := range infos {
		e := reg[p.Name]
		if e == nil || p.Strategy != string(e.Strategy) || p.TestLevel != string(e.Test) || p.Module != e.Module {
			t.Errorf("%+v does not match the registry", p)
		}
		// The version comes from the build, so it is the one go.mod resolves.
		if p.Module == "github.com/delegate01/cert-manager-webhook-delegate" && p.Version == OwnVersion {
			continue
		}
		if p.Version == "" || p.Version == "unknown" || !strings.HasPrefix(p.Version, "v") {
			t.Errorf("%s: version %q", p.Name, p.Version)
		}
	}
	out.Reset()
	if code := Providers(nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "rfc2136") || !strings.HasPrefix(out.String(), "NAME") {
		t.Fatalf("text output (exit %d):\n%s", code, out.String())
	}
	for _, bad := range [][]string{{"-o", "yaml"}, {"extra"}, {"-x"}} {
		if code := Providers(bad, &out, &errOut); code != 2 {
			t.Errorf("providers %q: exit %d, want 2", bad, code)
		}
	}
}
