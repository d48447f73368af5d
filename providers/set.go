package providers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/libdns/libdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// SetOps reads and writes the TXT set at one name, for a provider whose writes replace the whole set. The set
// writer calls them only while it holds the name's cross-replica lock.
type SetOps interface {
	// Values returns the TXT values at fqdn in zone (both canonical).
	Values(ctx context.Context, zone, fqdn string) ([]string, error)
	// Write adds and removes values at fqdn, given the set as just read; adds are not in current, removes are.
	// It returns the error of the additions and of the removals (nil for success).
	Write(ctx context.Context, zone, fqdn string, current []string, adds []Mutation, removes []string) (addErr, removeErr error)
}

// setWriter is the set strategy (DESIGN.md "Write strategies"): the provider replaces the whole name+type set
// on some write, so every change goes through the name's Lease lock, and the holder reads the set once and
// writes every queued change in one batch.
type setWriter struct {
	*libdnsWriter
	ops   SetOps
	locks *LeaseLocks
	// zoneLock makes the lock cover the whole zone, for providers that rewrite the zone on every change.
	zoneLock bool
}

func (w *setWriter) key(rec Record) string {
	// The provider, the zone and the name: a lock wider than one account (two accounts writing one zone at one
	// provider wait for each other), so that a rotated credential cannot split it in two.
	if w.zoneLock {
		return w.name + "\x00" + rec.Zone
	}
	return w.name + "\x00" + rec.Zone + "\x00" + rec.FQDN
}

// Present implements Writer.
func (w *setWriter) Present(ctx context.Context, rec Record) error {
	return w.explained(w.locks.Apply(ctx, w.key(rec), Mutation{Value: rec.Value, Add: true, TTL: rec.TTL}, w.batch(rec)), rec)
}

// CleanUp implements Writer.
func (w *setWriter) CleanUp(ctx context.Context, rec Record) error {
	_, err := w.CleanUpFound(ctx, rec)
	return err
}

// CleanUpFound implements Finder.
func (w *setWriter) CleanUpFound(ctx context.Context, rec Record) (bool, error) {
	err := w.locks.Apply(ctx, w.key(rec), Mutation{Value: rec.Value}, w.batch(rec))
	if errors.Is(err, errAbsent) {
		return false, nil
	}
	return err == nil, w.explained(err, rec)
}

// FindValue implements Finder, reading through the set's own reader when it has no zone-wide one.
func (w *setWriter) FindValue(ctx context.Context, zone, value string) ([]string, error) {
	return w.libdnsWriter.FindValue(ctx, zone, value)
}

// errAbsent is the batch result of a removal whose value was not in the set: success, but nothing was found.
var errAbsent = errors.New("the value was not there")

// batch applies the mutations queued for rec's name: it reads the set, drops what is already as asked (an
// identical value present, a value already gone), and writes the rest at once.
func (w *setWriter) batch(rec Record) BatchFunc {
	return func(ctx context.Context, muts []Mutation) []error {
		errs := make([]error, len(muts))
		ctx, failures := withFailures(ctx)
		var current []string
		err := w.do(ctx, "get", func() error {
			var err error
			current, err = w.ops.Values(ctx, rec.Zone, rec.FQDN)
			return err
		})
		if err == nil {
			err = failures.err()
		}
		if err != nil {
			err = fmt.Errorf("reading the TXT set at %s: %w", rec.FQDN, err)
			for i := range errs {
				errs[i] = err
			}
			return errs
		}
		// The last mutation of a value wins: a CleanUp queued after its Present removes it.
		final := map[string]Mutation{}
		for _, m := range muts {
			final[m.Value] = m
		}
		var adds []Mutation
		var removes []string
		for _, v := range slices.Sorted(maps.Keys(final)) {
			m := final[v]
			has := slices.Contains(current, v)
			switch {
			case m.Add && !has:
				adds = append(adds, m)
			case !m.Add && has:
				removes = append(removes, v)
			}
		}
		if len(adds) == 0 && len(removes) == 0 {
			return results(muts, final, removes, nil, nil)
		}
		addErr, removeErr := w.ops.Write(ctx, rec.Zone, rec.FQDN, current, adds, removes)
		if addErr == nil && removeErr == nil {
			if err := failures.err(); err != nil {
				addErr, removeErr = err, err
			}
		}
		return results(muts, final, removes, addErr, removeErr)
	}
}

// results gives each mutation of a batch its outcome: the additions' or the removals' error, nil for a change a
// later one in the same batch undid (a Present then its CleanUp), errAbsent for a removal of a value that was
// not there.
func results(muts []Mutation, final map[string]Mutation, removes []string, addErr, removeErr error) []error {
	errs := make([]error, len(muts))
	for i, m := range muts {
		f := final[m.Value]
		switch {
		case m.Add && f.Add:
			errs[i] = addErr
		case m.Add || f.Add:
			errs[i] = nil
		case slices.Contains(removes, m.Value):
			errs[i] = removeErr
		default:
			errs[i] = errAbsent
		}
	}
	return errs
}

// libraryOps drives a library whose AppendRecords and DeleteRecords already read the set, merge one value in or
// out, and write the set back (route53, googleclouddns, powerdns, desec, …): correct once serialised by the lock,
// which is what the set writer adds. Values come from GetRecords.
type libraryOps struct{ w *libdnsWriter }

func (o libraryOps) Values(ctx context.Context, zone, fqdn string) ([]string, error) {
	g, ok := o.w.p.(libdns.RecordGetter)
	if !ok {
		return nil, fmt.Errorf("%s cannot read records", o.w.name)
	}
	recs, err := getRecords(ctx, g, o.w.zoneArg(zone))
	if err != nil {
		return nil, err
	}
	return txtValues(recs, zone, fqdn), nil
}

func (o libraryOps) Write(ctx context.Context, zone, fqdn string, _ []string, adds []Mutation, removes []string) (addErr, removeErr error) {
	rel := dnsname.Relative(fqdn, zone)
	if len(adds) > 0 {
		recs := make([]libdns.Record, len(adds))
		for i, m := range adds {
			recs[i] = libdns.TXT{Name: rel, TTL: m.TTL, Text: m.Value}
		}
		addErr = o.w.do(ctx, "append", func() error {
			_, err := o.w.p.AppendRecords(ctx, o.w.zoneArg(zone), recs)
			return err
		})
	}
	if len(removes) > 0 {
		recs := make([]libdns.Record, len(removes))
		for i, v := range removes {
			recs[i] = libdns.TXT{Name: rel, Text: v}
		}
		removeErr = o.w.do(ctx, "delete", func() error {
			_, err := o.w.p.DeleteRecords(ctx, o.w.zoneArg(zone), recs)
			return err
		})
	}
	return addErr, removeErr
}

// txtValues returns the values of the TXT records at fqdn among recs (names relative to zone).
func txtValues(recs []libdns.Record, zone, fqdn string) []string {
	var out []string
	for _, r := range recs {
		rr := r.RR()
		if strings.EqualFold(rr.Type, "TXT") && strings.EqualFold(libdns.AbsoluteName(rr.Name, zone), fqdn) {
			out = append(out, unquoteTXT(rr.Data))
		}
	}
	return out
}

// unquoteTXT undoes the quoting some libraries leave on TXT data ("\"value\"").
func unquoteTXT(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && !strings.Contains(s[1:len(s)-1], `"`) {
		return s[1 : len(s)-1]
	}
	return s
}

var _ Finder = (*setWriter)(nil)
