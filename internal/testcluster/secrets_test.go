package testcluster

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestLeaks(t *testing.T) {
	t.Parallel()
	// Its base64 differs between the alphabets (it has + and / in std), so both are looked for.
	const secret = "s3cret>>>???-token"
	std := base64.StdEncoding.EncodeToString([]byte(secret))
	url := base64.URLEncoding.EncodeToString([]byte(secret))
	if std == url {
		t.Fatal("test bug: the secret's encodings must differ")
	}
	for _, tc := range []struct {
		name, text, want string
	}{
		{"clean", "present failed: HTTP 403 (token: [redacted])\nok", ""},
		{"raw", "line one\nHTTP 403 (token: " + secret + ")", "secret #2 (raw) on 1 of 2 lines, first on line 2"},
		{"base64 std, padded", "Authorization: Basic " + std, "secret #2 (base64 std) on 1 of 1 lines, first on line 1"},
		{"base64 url, unpadded", "a\nb\n" + strings.TrimRight(url, "=") + "\n", "secret #2 (base64 url) on 1 of 4 lines, first on line 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := strings.Join(Leaks(tc.text, "unrelated-value", secret), "; ")
			if got != tc.want {
				t.Errorf("Leaks = %q, want %q", got, tc.want)
			}
			if strings.Contains(got, secret) {
				t.Errorf("the report shows the secret itself: %q", got)
			}
		})
	}
}
