package providers

import (
	"errors"
	"testing"
)

func TestLooksThrottled(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]bool{
		"got error status: HTTP 429: [{Code:971}]":                 true,
		"429 Too Many Requests":                                    true,
		"Throttling: Rate exceeded":                                true,
		"DELETE /zones/5a1c429f08bf/dns_records/0429abc: HTTP 500": false,
		"record 1429 not found":                                    false,
		"too many requests, slow down":                             true,
	} {
		if got := looksThrottled(errors.New(msg)); got != want {
			t.Errorf("looksThrottled(%q) = %v, want %v", msg, got, want)
		}
	}
}
