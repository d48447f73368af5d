//go:build !minimal

package providers

import (
	"errors"
	"testing"
)

func TestNamesiloGoneMatchesTheLibrarysNotFoundOnly(t *testing.T) {
	t.Parallel()
	if !namesiloGone(errors.New("record not found: {Name:_acme-challenge TTL:0s Type:TXT Data:apex-key}")) {
		t.Error("the library's not-found error is not recognised")
	}
	if namesiloGone(errors.New("failed to perform API call: Namesilo API status code 110; Invalid API Key")) {
		t.Error("a refusal counts as gone")
	}
}
