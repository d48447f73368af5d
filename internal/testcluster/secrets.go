package testcluster

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// secretWatch holds the values no webhook process started through a Cluster may print.
type secretWatch struct {
	mu     sync.Mutex
	values []string
}

// WatchSecrets adds values (the data of the Secrets a test gives the webhook) that no webhook process started
// through this cluster may ever print, raw or base64-encoded: StartWebhook's cleanup checks the whole output of
// each process once it has stopped, and fails its owner, naming the process, the line and the encoding (never the
// value). Values shorter than 8 characters would match by chance and are refused.
func (c *Cluster) WatchSecrets(t testing.TB, values ...string) {
	t.Helper()
	for _, v := range values {
		if len(v) < 8 {
			t.Fatalf("WatchSecrets: a value of %d characters would match by chance; use 8 or more", len(v))
		}
	}
	c.secrets.mu.Lock()
	defer c.secrets.mu.Unlock()
	c.secrets.values = append(c.secrets.values, values...)
}

func (w *secretWatch) check(t testing.TB, what, text string) {
	w.mu.Lock()
	values := append([]string(nil), w.values...)
	w.mu.Unlock()
	CheckNoSecrets(t, what, text, values...)
}

// CheckNoSecrets fails t (Errorf, so it may run in a cleanup) for every one of secrets that text shows, raw or
// base64-encoded, saying what text is, the line and the encoding, never the value itself. It reports whether
// text was clean.
func CheckNoSecrets(t testing.TB, what, text string, secrets ...string) bool {
	t.Helper()
	leaks := Leaks(text, secrets...)
	for _, l := range leaks {
		t.Errorf("%s leaks a Secret value: %s", what, l)
	}
	return len(leaks) == 0
}

// Leaks describes where text shows one of secrets, raw or base64-encoded (standard and URL alphabets, with or
// without padding), line by line: "secret #2 (base64 std) on line 17 of 230". It is empty when text is clean.
func Leaks(text string, secrets ...string) []string {
	lines := strings.Split(text, "\n")
	var out []string
	for i, s := range secrets {
		if s == "" {
			continue
		}
		for _, f := range encodings(s) {
			n := 0
			first := 0
			for j, line := range lines {
				if strings.Contains(line, f.value) {
					if n == 0 {
						first = j + 1
					}
					n++
				}
			}
			if n > 0 {
				out = append(out, fmt.Sprintf("secret #%d (%s) on %d of %d lines, first on line %d", i+1, f.name, n, len(lines), first))
			}
		}
	}
	return out
}

type encoded struct{ name, value string }

// encodings are the forms a Secret value leaks in: raw, and base64 without padding (a prefix of the padded
// form, so it finds both) in both alphabets (the same string when the value's encoding has neither + nor /).
func encodings(s string) []encoded {
	forms := []encoded{{"raw", s}, {"base64 std", base64.RawStdEncoding.EncodeToString([]byte(s))}}
	if u := base64.RawURLEncoding.EncodeToString([]byte(s)); u != forms[1].value {
		forms = append(forms, encoded{"base64 url", u})
	}
	return forms
}
