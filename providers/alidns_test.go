//go:build !minimal

package providers

import (
	"errors"
	"testing"
)

func TestAlidnsGoneMatchesTheLibrarysNotFoundOnly(t *testing.T) {
	t.Parallel()
	if !alidnsGone(errors.New("there is something error when 'DeleteRecords': caused at record named '_acme-challenge': the Record Name of the domain not found")) {
		t.Error("the library's not-found error is not recognised")
	}
	if alidnsGone(errors.New("there is something error when 'DeleteRecords': caused at record named '_acme-challenge': get error status: HTTP 403: Forbidden")) {
		t.Error("a refusal counts as gone")
	}
}
