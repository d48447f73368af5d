//go:build !minimal

package providers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
	"github.com/libdns/hetzner/v2"
	"github.com/libdns/libdns"
)

func hetznerEntry() *Entry {
	return &Entry{
		Name:        "hetzner",
		Module:      "github.com/libdns/hetzner/v2",
		New:         func() any { return new(hetzner.Provider) },
		Credentials: []string{"api_token"},
		// Required, so that an empty token never reaches the library: it would read LIBDNS_HETZNER_TOKEN from the
		// webhook's environment, or panic.
		Required: []Field{{"api_token", "a Hetzner Cloud API token (read & write) of the project that holds the zone, as {secretKeyRef: {name, key}}"}},
		// Hetzner Cloud DNS refuses a TTL under 60 s (the library raises it too).
		MinTTL: 60 * time.Second,
		// Hetzner Cloud allows a project 3600 requests an hour; a call (paced as one: the library's requests do not
		// go through env.Client) is an action and its poll, two requests or more.
		RateLimit: Rate{PerSecond: 0.5, Burst: 50},
		Strategy:  Exact,
		Zones:     "lists the project's zones (all pages) and takes the longest match",
		Test:      FakeAPI,
		HTTP:      "hcloud-go's zero http.Client, that is http.DefaultTransport, which the webhook replaces with its own; hcloud-go also retries conflict and rate_limit_exceeded itself",
		Env:       []string{"LIBDNS_HETZNER_TOKEN (never read: api_token is required)"},
		Quirks: []string{
			"Hetzner Cloud DNS (api.hetzner.cloud), not the legacy dns.hetzner.com API",
			"append and delete are server-side add_records and remove_records of exactly the one value, then the action is awaited: exact, no lock",
			"one TTL per RRset: a value with another ttl than the set's is refused (invalid_input), so two issuers with different ttl writing to one alias fail; give them the same ttl (or their own domainAlias)",
			"an empty token makes the library read LIBDNS_HETZNER_TOKEN or panic: api_token is required",
			"a change while another action runs on the zone may be refused as locked, which hcloud-go does not retry: the webhook retries it within the call's deadline",
			"a value already there (uniqueness_error) is success once a read confirms it",
		},
		Example: "api_token: {secretKeyRef: {name: hetzner-token, key: token}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*hetzner.Provider)
			return hetznerEntry().writer(&libdnsWriter{p: &hetznerProvider{p: p}, explain: explainHetzner}, env, nil, false), nil
		},
	}
}

// hetznerProvider is libdns/hetzner with the webhook's handling of its answers: a locked zone is retried, a value
// already there is success once confirmed, and expected 404s (remove_records of a set already gone, which the
// library skips) are not counted as failed requests.
type hetznerProvider struct{ p *hetzner.Provider }

// hetznerOwnErrors gives ctx a request-failure tracker of its own, which nobody reads: the webhook's transport
// (http.DefaultTransport, which hcloud-go uses) notes every request that ends in 4xx or 5xx, so that a library that
// drops an error cannot report success; hcloud-go returns every error, and the library skips a remove_records
// that finds no set (404), which is what CleanUp wants.
func hetznerOwnErrors(ctx context.Context) context.Context {
	ctx, _ = withFailures(ctx)
	return ctx
}

// AppendRecords implements libdns.RecordAppender.
func (h *hetznerProvider) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	ctx = hetznerOwnErrors(ctx)
	var out []libdns.Record
	err := hetznerRetryLocked(ctx, func() error {
		var err error
		out, err = h.p.AppendRecords(ctx, zone, recs)
		return err
	})
	if hcloud.IsError(err, hcloud.ErrorCodeUniquenessError) {
		// The value is there already (or a CNAME is in the way): success only if a read finds every value.
		have, gerr := h.p.GetRecords(ctx, zone)
		if gerr == nil && hetznerHasAll(have, recs) {
			return recs, nil
		}
	}
	return out, err
}

// DeleteRecords implements libdns.RecordDeleter.
func (h *hetznerProvider) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	ctx = hetznerOwnErrors(ctx)
	var out []libdns.Record
	// The library skips a remove_records answered 404 (no such set or value): already gone is success.
	err := hetznerRetryLocked(ctx, func() error {
		var err error
		out, err = h.p.DeleteRecords(ctx, zone, recs)
		return err
	})
	return out, err
}

// ListZones implements libdns.ZoneLister.
func (h *hetznerProvider) ListZones(ctx context.Context) ([]libdns.Zone, error) {
	return h.p.ListZones(hetznerOwnErrors(ctx))
}

// GetRecords implements libdns.RecordGetter, for a CleanUp that searches the zone for its value.
func (h *hetznerProvider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	return h.p.GetRecords(hetznerOwnErrors(ctx), zone)
}

// hetznerRetryLocked runs f again while the zone is locked by another action, with jittered backoff, while ctx
// allows. A locked request changed nothing, so trying it again is safe.
func hetznerRetryLocked(ctx context.Context, f func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := f()
		if !hcloud.IsError(err, hcloud.ErrorCodeLocked) {
			return err
		}
		wait := backoff/2 + rand.N(backoff)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait+time.Second {
			return err
		}
		select {
		case <-time.After(wait):
			backoff = min(2*backoff, 2*time.Second)
		case <-ctx.Done():
			return err
		}
	}
}

func hetznerHasAll(have, want []libdns.Record) bool {
	for _, w := range want {
		wr := w.RR()
		found := false
		for _, h := range have {
			hr := h.RR()
			if strings.EqualFold(hr.Type, wr.Type) && strings.EqualFold(hr.Name, wr.Name) && unquoteTXT(hr.Data) == unquoteTXT(wr.Data) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// explainHetzner adds what to do to the errors users meet most.
func explainHetzner(err error, rec Record) error {
	var he hcloud.Error
	if !errors.As(err, &he) {
		return err
	}
	switch he.Code {
	case hcloud.ErrorCodeInvalidInput:
		if d, ok := he.Details.(hcloud.ErrorDetailsInvalidInput); ok {
			for _, f := range d.Fields {
				if f.Name == "ttl" {
					return fmt.Errorf("%w: Hetzner keeps one TTL per RRset and the TXT set at %s already has another; "+
						"an issuer with a different ttl writes to the same alias: give every issuer that shares it the same ttl, "+
						"or each its own domainAlias", err, rec.FQDN)
				}
			}
		}
	case hcloud.ErrorCodeUnauthorized:
		return fmt.Errorf("%w: Hetzner refused the API token; check the Secret's value and that the token belongs to the project holding %s", err, rec.Zone)
	case hcloud.ErrorCodeTokenReadonly, hcloud.ErrorCodeForbidden:
		return fmt.Errorf("%w: the API token may only read; create one with read & write access", err)
	case hcloud.ErrorCodeNotFound:
		return fmt.Errorf("%w: the project of this token has no zone %s", err, rec.Zone)
	case hcloud.ErrorCodeLocked:
		return fmt.Errorf("%w: the zone stayed locked by other actions for the whole call; cert-manager will retry", err)
	}
	return err
}

var (
	_ recordProvider      = (*hetznerProvider)(nil)
	_ libdns.ZoneLister   = (*hetznerProvider)(nil)
	_ libdns.RecordGetter = (*hetznerProvider)(nil)
)
