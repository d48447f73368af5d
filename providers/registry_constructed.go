//go:build !minimal

package providers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"

	"github.com/libdns/libdns"
)

// constructedEntries are the providers that cannot be exercised against their API here (see TestLevel).
func constructedEntries() []*Entry {
	return []*Entry{
		alidnsEntry(),
		bunnyEntry(),
		cloudnsEntry(),
		directadminEntry(),
		dnsimpleEntry(),
		dynuEntry(),
		gandiEntry(),
		gcoreEntry(),
		glesysEntry(),
		hetznerlegacyEntry(),
		huaweicloudEntry(),
		infomaniakEntry(),
		inwxEntry(),
		linodeEntry(),
		loopiaEntry(),
		luadnsEntry(),
		metanameEntry(),
		mijnhostEntry(),
		mythicbeastsEntry(),
		namecheapEntry(),
		namesiloEntry(),
		netcupEntry(),
		njallaEntry(),
		oraclecloudEntry(),
		ovhEntry(),
		porkbunEntry(),
		regfishEntry(),
		scalewayEntry(),
		tencentcloudEntry(),
		transipEntry(),
		vultrEntry(),
		westcnEntry(),
	}
}

// What follows is shared by the constructed providers' files: the same trap met in several libraries gets one
// answer here, named by the trap; each provider's file says which of its calls need it and why.

// Zone discovery as the docs describe it.
const (
	zonesListed = "lists the account's zones and takes the longest match"
	zonesNone   = "none: set aliasZone (or cert-manager's resolvedZone is used with Follow)"
)

// How a library's HTTP traffic reaches the webhook's transport, for the docs.
const (
	httpDefaultClient    = "http.DefaultClient, which goes through the webhook's transport"
	httpDefaultTransport = "http.DefaultTransport (the library builds a plain http.Client), which the webhook replaces with its own"
	httpOwnClient        = "the webhook's own client for the calls it makes itself (timeouts, retries, proxy)"
)

// adapter stands in for a library's provider where some of its calls get two values at one name, the context
// or the process wrong: each non-nil function replaces the library's call of that name; lib serves the others.
type adapter struct {
	lib        recordProvider
	get        func(ctx context.Context, zone string) ([]libdns.Record, error)
	appendRecs func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error)
	deleteRecs func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error)
}

// AppendRecords implements libdns.RecordAppender.
func (a *adapter) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	if a.appendRecs != nil {
		return a.appendRecs(ctx, zone, recs)
	}
	return a.lib.AppendRecords(ctx, zone, recs)
}

// DeleteRecords implements libdns.RecordDeleter.
func (a *adapter) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	if a.deleteRecs != nil {
		return a.deleteRecs(ctx, zone, recs)
	}
	return a.lib.DeleteRecords(ctx, zone, recs)
}

// GetRecords implements libdns.RecordGetter.
func (a *adapter) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	if a.get != nil {
		return a.get(ctx, zone)
	}
	if g, ok := a.lib.(libdns.RecordGetter); ok {
		return g.GetRecords(ctx, zone)
	}
	return nil, errors.New("the provider cannot read records")
}

// deadlineBound is for a library whose calls ignore the context (no deadline on its requests, or none that
// the webhook can reach): each call runs in its own goroutine and the webhook stops waiting when the call's
// deadline passes. The library's request then finishes in the background, bounded only by the webhook's
// transport (20 s per attempt) when the library goes through it.
func deadlineBound(lib recordProvider) *adapter {
	a := &adapter{lib: lib}
	a.appendRecs = func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
		return untilDeadline(ctx, func() ([]libdns.Record, error) { return lib.AppendRecords(ctx, zone, recs) })
	}
	a.deleteRecs = func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
		return untilDeadline(ctx, func() ([]libdns.Record, error) { return lib.DeleteRecords(ctx, zone, recs) })
	}
	if g, ok := lib.(libdns.RecordGetter); ok {
		a.get = func(ctx context.Context, zone string) ([]libdns.Record, error) {
			return untilDeadline(ctx, func() ([]libdns.Record, error) { return g.GetRecords(ctx, zone) })
		}
	}
	return a
}

// untilDeadline runs f, a call of a library that ignores ctx, and returns its result, or ctx's error once ctx
// is done. A panic of f becomes an error: it happens on another goroutine than the writer's own recovery.
func untilDeadline[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("the provider library failed (%v)", p)
			}
			done <- r
		}()
		r.v, r.err = f()
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("the provider library ignores the deadline; the webhook stopped waiting for it (its request may still complete): %w", ctx.Err())
	}
}

// goneIsDeleted turns a delete's "no such record" error into an empty result: already gone is success, and the
// writer's verifyDelete then reads the zone to confirm that the value is really not there.
func goneIsDeleted(del func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error), gone func(error) bool) func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return func(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
		deleted, err := del(ctx, zone, recs)
		if err != nil && gone(err) {
			return nil, nil
		}
		return deleted, err
	}
}

// listedZones finds a name's zone through a library's ListZones, for providers wrapped in an adapter (which
// does not list zones itself).
func listedZones(list func(ctx context.Context) ([]libdns.Zone, error)) func(ctx context.Context, fqdn string) (string, error) {
	return func(ctx context.Context, fqdn string) (name string, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("the provider library failed listing zones (%v)", p)
			}
		}()
		zones, err := list(ctx)
		if err != nil {
			return "", fmt.Errorf("listing zones: %w", err)
		}
		names := make([]string, 0, len(zones))
		for _, z := range zones {
			names = append(names, z.Name)
		}
		return LongestZone(fqdn, names)
	}
}

// checkHTTPURL checks a field naming an API base URL: a library panics on some URLs net/url cannot parse, and
// one with user info would send credentials of its own.
func checkHTTPURL(path, field, value, example string) error {
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("config.%s.%s: %q is not an http(s) URL such as %s", path, field, value, example)
	}
	return nil
}

// checkRegion checks a region that the library pastes into the API's host name: anything but the vendor's
// region names could point the signed requests at another host.
func checkRegion(path, field, value string, re *regexp.Regexp, example string) error {
	if value != "" && !re.MatchString(value) {
		return fmt.Errorf("config.%s.%s: %q is not a region name such as %s (it becomes part of the API's host name)", path, field, value, example)
	}
	return nil
}

// answeredItself is for the webhook's own API calls where an HTTP error status is an answer the code handles
// (a 404 for "no such record set"): such requests are kept out of the call's failure tracking, which exists for
// libraries that drop errors. Everything else the code checks and returns itself.
func answeredItself(ctx context.Context) context.Context {
	ctx, _ = withFailures(ctx)
	return ctx
}
