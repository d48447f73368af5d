package providers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libdns/libdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// recordProvider is the smallest libdns surface the webhook needs.
type recordProvider interface {
	libdns.RecordAppender
	libdns.RecordDeleter
}

// libdnsWriter is the exact strategy: it drives a libdns provider with AppendRecords/DeleteRecords of one value,
// plus the provider's quirks. The set strategy reuses its plumbing (calls, zones, explanations).
type libdnsWriter struct {
	name string
	p    recordProvider
	// duplicate reports whether an AppendRecords error means the identical record already exists.
	duplicate func(error) bool
	// zones finds the zone for a name; nil: the provider's ListZones, if it has one.
	zones func(ctx context.Context, fqdn string) (string, error)
	// limit, if set, is taken around each provider call (e.g. a per-server concurrency bound).
	limit func(ctx context.Context) (func(), error)
	// retryTransient retries a call that failed on the network (dial timeout, reset) within the deadline. Only
	// for providers where a repeated append or delete is harmless (RFC 2136: both are no-ops when repeated).
	retryTransient bool
	// bareZone passes zone names without the trailing dot: libdns/cloudflare sends the zone as given in its
	// name= lookup, and Cloudflare stores names without one.
	bareZone bool
	// explain, if set, rewrites a provider error into one that says what to do.
	explain func(err error, rec Record) error
	// verifyDelete makes cleanUp read the zone when DeleteRecords reports that it deleted nothing, because
	// the provider may report success without having looked (libdns/cloudflare v0.2.2 drops lookup errors).
	verifyDelete bool
	// deleteByLookup makes cleanUp read the zone and delete the provider's own records that hold the value: the
	// library deletes only by its record ID (digitalocean, vultr, dynu, njalla), which a plain libdns.TXT lacks.
	deleteByLookup bool
	// skipPresent makes Present read the set first and succeed when the value is there: the provider would
	// otherwise create a duplicate record (digitalocean accepts identical records).
	skipPresent bool
	// pacer paces each library call, for libraries whose HTTP requests do not go through the account's paced
	// client (Env.Client); nil when they do, or for non-HTTP providers.
	pacer *Pacer
	// httpPaced says the library's requests go through Env.Client, which paces each request: no call pacing.
	httpPaced bool
	// deleteFunc, if set, replaces the library's DeleteRecords for CleanUp and says whether the value was there.
	deleteFunc func(ctx context.Context, rec Record) (found bool, err error)
}

func (w *libdnsWriter) zoneArg(zone string) string {
	if w.bareZone {
		return strings.TrimSuffix(zone, ".")
	}
	return zone
}

func (w *libdnsWriter) txt(rec Record, ttl time.Duration) libdns.TXT {
	return libdns.TXT{Name: dnsname.Relative(rec.FQDN, rec.Zone), TTL: ttl, Text: rec.Value}
}

// do runs one provider library call (op: append, delete, get, zones) under the writer's limit and its account's
// pacer, retrying transient network failures when allowed, and reports it to the Observer. A panic inside the
// provider library becomes an error: no issuer config may kill the webhook.
func (w *libdnsWriter) do(ctx context.Context, op string, f func() error) error {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if err := w.pacer.Wait(ctx); err != nil {
			observe().RateLimited(w.name)
			return err
		}
		start := time.Now()
		err := func() (err error) {
			if w.limit != nil {
				release, err := w.limit(ctx)
				if err != nil {
					return err
				}
				defer release()
			}
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("the %s provider library failed (%v)", w.name, r)
				}
			}()
			return f()
		}()
		observe().ProviderCall(w.name, op, callOutcome(err), time.Since(start))
		if looksThrottled(err) {
			// The library hid the response: all the webhook knows is that the provider asked it to slow down.
			observe().Throttled(w.name)
			w.pacer.Throttled(0)
		}
		if err == nil || !w.retryTransient || attempt == 4 || ctx.Err() != nil || !transient(err) {
			return err
		}
		observe().Retry(w.name)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < backoff+time.Second {
			return err
		}
		select {
		case <-time.After(backoff):
			backoff *= 2
		case <-ctx.Done():
			return err
		}
	}
}

// Present implements Writer.
func (w *libdnsWriter) Present(ctx context.Context, rec Record) error {
	ctx, failures := withFailures(ctx)
	if w.skipPresent {
		recs, err := w.records(ctx, rec)
		if err != nil {
			return w.explained(err, rec)
		}
		if len(recs) > 0 {
			return nil
		}
	}
	err := w.do(ctx, "append", func() error {
		_, err := w.p.AppendRecords(ctx, w.zoneArg(rec.Zone), []libdns.Record{w.txt(rec, rec.TTL)})
		return err
	})
	if err != nil && w.duplicate != nil && w.duplicate(err) {
		return nil
	}
	if err == nil {
		err = failures.err()
	}
	return w.explained(err, rec)
}

func (w *libdnsWriter) explained(err error, rec Record) error {
	if err == nil {
		return nil
	}
	if w.explain != nil {
		err = w.explain(err, rec)
	}
	if looksThrottled(err) && !errors.Is(err, ErrRateLimited) {
		// The pacer's own refusal says this already; a 429 the retries could not outlast does not.
		err = fmt.Errorf("%w: the %s API's rate limit refused the call past the webhook's retries; cert-manager "+
			"will retry. If it persists, another client shares the account's limit: lower rateLimit.perSecond "+
			"next to the provider in the issuer config", err, w.name)
	}
	return err
}

// CleanUp implements Writer.
func (w *libdnsWriter) CleanUp(ctx context.Context, rec Record) error {
	_, err := w.CleanUpFound(ctx, rec)
	return err
}

// CleanUpFound implements Finder: CleanUp, reporting whether the value was there to delete.
func (w *libdnsWriter) CleanUpFound(ctx context.Context, rec Record) (bool, error) {
	ctx, failures := withFailures(ctx)
	if w.deleteFunc != nil {
		var found bool
		err := w.do(ctx, "delete", func() error {
			var err error
			found, err = w.deleteFunc(ctx, rec)
			return err
		})
		return found, w.explained(err, rec)
	}
	// TTL 0 matches any TTL (libdns RecordDeleter contract): the record may have been written with another ttl.
	target := []libdns.Record{w.txt(rec, 0)}
	if w.deleteByLookup {
		recs, err := w.records(ctx, rec)
		if err != nil {
			return false, w.explained(err, rec)
		}
		if len(recs) == 0 {
			return false, nil
		}
		target = recs
	}
	var deleted []libdns.Record
	err := w.do(ctx, "delete", func() error {
		var err error
		deleted, err = w.p.DeleteRecords(ctx, w.zoneArg(rec.Zone), target)
		return err
	})
	if err != nil {
		return false, w.explained(err, rec)
	}
	if err := failures.err(); err != nil {
		return false, err
	}
	if len(deleted) > 0 || !w.verifyDelete {
		return len(deleted) > 0, nil
	}
	recs, err := w.records(ctx, rec)
	if err != nil {
		return false, fmt.Errorf("%s reported nothing to delete and reading the zone to confirm failed: %w", w.name, err)
	}
	if len(recs) > 0 {
		return false, fmt.Errorf("%s reported nothing to delete but the TXT value is still at %s", w.name, rec.FQDN)
	}
	return false, nil
}

// ErrCannotRead is a provider library without GetRecords: a value cannot be looked up by itself.
var ErrCannotRead = errors.New("the provider library cannot read records")

// FindValue implements Finder: the names in zone that hold value as a TXT record.
func (w *libdnsWriter) FindValue(ctx context.Context, zone, value string) ([]string, error) {
	getter, ok := w.p.(libdns.RecordGetter)
	if !ok {
		return nil, ErrCannotRead
	}
	var recs []libdns.Record
	err := w.do(ctx, "get", func() error {
		var err error
		recs, err = getter.GetRecords(ctx, w.zoneArg(zone))
		return err
	})
	if err != nil {
		return nil, w.explained(err, Record{Zone: zone})
	}
	var out []string
	for _, r := range recs {
		rr := r.RR()
		if strings.EqualFold(rr.Type, "TXT") && unquoteTXT(rr.Data) == value {
			out = append(out, strings.ToLower(libdns.AbsoluteName(rr.Name, zone)))
		}
	}
	return out, nil
}

// records returns the provider's own records that hold rec's value at rec's name.
func (w *libdnsWriter) records(ctx context.Context, rec Record) ([]libdns.Record, error) {
	getter, ok := w.p.(libdns.RecordGetter)
	if !ok {
		return nil, fmt.Errorf("%s cannot read records", w.name)
	}
	var recs []libdns.Record
	err := w.do(ctx, "get", func() error {
		var err error
		recs, err = getter.GetRecords(ctx, w.zoneArg(rec.Zone))
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, r := range recs {
		rr := r.RR()
		if strings.EqualFold(rr.Type, "TXT") && strings.EqualFold(libdns.AbsoluteName(rr.Name, rec.Zone), rec.FQDN) &&
			unquoteTXT(rr.Data) == rec.Value {
			out = append(out, r)
		}
	}
	return out, nil
}

// getRecords calls GetRecords, turning a panic inside the provider library into an error.
func getRecords(ctx context.Context, g libdns.RecordGetter, zone string) (recs []libdns.Record, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the provider library failed reading the zone (%v)", r)
		}
	}()
	return g.GetRecords(ctx, zone)
}

// FindZone implements Writer.
func (w *libdnsWriter) FindZone(ctx context.Context, fqdn string) (string, error) {
	if w.zones != nil {
		return w.zones(ctx, fqdn)
	}
	lister, ok := w.p.(libdns.ZoneLister)
	if !ok {
		return "", errNoZoneDiscovery
	}
	var zones []libdns.Zone
	err := w.do(ctx, "zones", func() error {
		var err error
		zones, err = lister.ListZones(ctx)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("listing zones: %w", err)
	}
	names := make([]string, 0, len(zones))
	for _, z := range zones {
		names = append(names, z.Name)
	}
	return LongestZone(fqdn, names)
}

// errNoZoneDiscovery says the provider cannot tell which of its zones holds a name.
var errNoZoneDiscovery = errors.New("the provider cannot list its zones")

// LongestZone returns the most specific of zones that contains fqdn on a label boundary.
func LongestZone(fqdn string, zones []string) (string, error) {
	best := ""
	for _, z := range zones {
		c, err := dnsname.Canonical(z)
		if err != nil || c == "." {
			continue
		}
		if dnsname.Within(fqdn, c) && len(c) > len(best) {
			best = c
		}
	}
	if best == "" {
		return "", fmt.Errorf("none of the %d zones this account can see holds %s", len(zones), fqdn)
	}
	return best, nil
}

var (
	_ Writer = (*libdnsWriter)(nil)
	_ Finder = (*libdnsWriter)(nil)
)
