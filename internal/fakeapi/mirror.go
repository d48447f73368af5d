package fakeapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Mirror receives every TXT value a fake adds or removes, so that tests can make those records visible in a real
// DNS server; internal/testdns.BIND implements it. A fake calls it synchronously, before its store changes; when
// it fails, the API call fails with a 5xx and the store is left as it was.
type Mirror interface {
	// AppendTXT adds value (unquoted text) to the TXT RRset at fqdn (absolute, with trailing dot). ttl is in
	// seconds.
	AppendTXT(ctx context.Context, fqdn, value string, ttl int) error
	// DeleteTXT removes value (unquoted text) from the TXT RRset at fqdn (absolute, with trailing dot).
	DeleteTXT(ctx context.Context, fqdn, value string) error
}

// SyncTXT mirrors the replacement of the TXT values at fqdn: before → after, as an API that replaces whole
// RRsets does it. It adds the new values first and deletes the old ones second, so that a value present in both
// never disappears from DNS; a nil m does nothing. When a call fails it undoes, as far as it can, what it had
// done, and returns the error, so that DNS keeps matching a store that is left unchanged.
func SyncTXT(ctx context.Context, m Mirror, fqdn string, before, after []string, ttl int) error {
	if m == nil {
		return nil
	}
	var added, deleted []string
	undo := func(err error) error {
		var errs []error
		for _, v := range deleted {
			errs = append(errs, m.AppendTXT(ctx, fqdn, v, ttl))
		}
		for _, v := range added {
			errs = append(errs, m.DeleteTXT(ctx, fqdn, v))
		}
		if e := errors.Join(errs...); e != nil {
			return fmt.Errorf("%w (undoing the mirror's partial change also failed: %w)", err, e)
		}
		return err
	}
	for _, v := range after {
		if slices.Contains(before, v) || slices.Contains(added, v) {
			continue
		}
		if err := m.AppendTXT(ctx, fqdn, v, ttl); err != nil {
			return undo(err)
		}
		added = append(added, v)
	}
	for _, v := range before {
		if slices.Contains(after, v) || slices.Contains(deleted, v) {
			continue
		}
		if err := m.DeleteTXT(ctx, fqdn, v); err != nil {
			return undo(err)
		}
		deleted = append(deleted, v)
	}
	return nil
}
