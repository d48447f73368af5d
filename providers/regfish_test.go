//go:build !minimal

package providers

import (
	"errors"
	"testing"
)

func TestRegfishGoneMatchesTheLibrarysNotFoundOnly(t *testing.T) {
	t.Parallel()
	if !regfishGone(errors.New("record _acme-challenge of type TXT with data apex-key not found")) {
		t.Error("the library's not-found error is not recognised")
	}
	if regfishGone(errors.New("failed to get records for zone example.org.: request failed with status code 401")) {
		t.Error("a refusal counts as gone")
	}
}
