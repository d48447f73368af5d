package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	probeValue  = regexp.MustCompile(`"[A-Za-z0-9_-]{43}"`)
	millis      = regexp.MustCompile(`(present |cleanup )\d+ms`)
	jsonMillis  = regexp.MustCompile(`("(presentMillis|cleanUpMillis)": )\d+`)
	goldenPaths = map[string]string{"text": "check.golden.txt", "json": "check.golden.json"}
)

// normalise replaces what changes between runs: BIND's port, the probe's random value and its timings.
func normalise(s string, port int) string {
	s = strings.ReplaceAll(s, "127.0.0.1:"+strconv.Itoa(port), "127.0.0.1:PORT")
	s = probeValue.ReplaceAllString(s, `"VALUE"`)
	s = millis.ReplaceAllString(s, "${1}Nms")
	return jsonMillis.ReplaceAllString(s, "${1}0")
}

// golden compares got with testdata/name; UPDATE_GOLDEN=1 rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (UPDATE_GOLDEN=1 rewrites it); got:\n%s", path, got)
	}
}

// TestCheckGolden runs check on a ClusterIssuer manifest for a name in place, its wildcard, a missing CNAME and a
// CAA record forbidding the CA, with a probe through BIND, in both output formats.
func TestCheckGolden(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	m := w.file(t, "issuer.yaml", w.manifest())
	tsig := w.file(t, "tsig.key", w.bind.Secret+"\n")
	args := []string{"--config", m, "--group-name", testGroup, "--probe", "--secret", "tsig/secret=" + tsig,
		"example.com", "*.example.com", "shop.example.com", "forbid.example.com"}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := w.run(t, nil, append([]string{"-o", format}, args...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1 (a CNAME is missing, CAA forbids a name); stderr:\n%s", code, errOut)
			}
			golden(t, goldenPaths[format], normalise(out, w.bind.Port))
		})
	}
	// Every probe removed its value.
	txt, err := w.bind.ZoneTXT(alias)
	if err != nil {
		t.Fatal(err)
	}
	if len(txt) > 0 {
		t.Errorf("the probes left TXT records behind: %v", txt)
	}
}
