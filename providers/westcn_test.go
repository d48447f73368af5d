//go:build !minimal

package providers

import (
	"errors"
	"testing"
)

func TestWestcnGoneMatchesTheLibrarysNotFoundOnly(t *testing.T) {
	t.Parallel()
	if !westcnGone(errors.New(`record "_acme-challenge" not found`)) {
		t.Error("the library's not-found error is not recognised")
	}
	if westcnGone(errors.New("API error: 500 身份验证失败")) {
		t.Error("a refusal counts as gone")
	}
}
