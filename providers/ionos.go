//go:build !minimal

package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libdns/ionos"
	"github.com/libdns/libdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

func ionosEntry() *Entry {
	return &Entry{
		Name:        "ionos",
		Module:      "github.com/libdns/ionos",
		New:         func() any { return new(ionos.Provider) },
		Credentials: []string{"auth_api_token"},
		Required:    []Field{{"auth_api_token", "an IONOS Hosting API key (prefix.secret) of the account that holds the zone, as {secretKeyRef: {name, key}}"}},
		// IONOS refuses a TTL under 60 s.
		MinTTL:   60 * time.Second,
		Strategy: Exact,
		Zones:    "lists the account's zones and takes the longest match",
		Test:     FakeAPI,
		HTTP: "append: the library's zero http.Client, that is http.DefaultTransport, which the webhook replaces with its own; " +
			"reads, zone lookups and deletes: the webhook's client",
		Env: []string{"LIBDNS_IONOS_DEBUG (the library prints requests and responses, record values included, to stdout)"},
		Quirks: []string{
			"records are individual: the library's append creates one record per value (exact)",
			"the library's delete removes every TXT record at the name, the sibling challenge's included, and fails when there is none: never used; CleanUp reads the records at the name and deletes by ID exactly those holding the value, and nothing there is success",
			"the library drops IONOS's error bodies: an identical value already there is found by reading the name before and after the append",
			"TXT content comes back quoted: it is unquoted before it is compared",
		},
		Example: "auth_api_token: {secretKeyRef: {name: ionos-key, key: api-key}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*ionos.Provider)
			// The library's requests do not go through env.Client, so each call is paced (as one request): the
			// webhook's own requests within it are not paced again.
			unpaced := env
			unpaced.Pacer = nil
			ip := &ionosProvider{lib: p, client: unpaced.Client(), zoneIDs: map[string]string{}}
			return ionosEntry().writer(&libdnsWriter{p: ip, explain: explainIonos}, env, nil, false), nil
		},
	}
}

// ionosProvider appends through libdns/ionos and does everything else itself: the library's delete takes the
// sibling value with it.
type ionosProvider struct {
	lib    *ionos.Provider
	client *http.Client

	mu sync.Mutex
	// zoneIDs maps zone names (without the trailing dot) to IONOS zone IDs.
	zoneIDs map[string]string
}

// ionosRecord is a record as the API returns it.
type ionosRecord struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Content string `json:"content"`
}

// ionosOwnErrors gives ctx a request-failure tracker of its own, which nobody reads: the webhook's transport notes
// every request that ends in 4xx or 5xx, so that a library that drops an error cannot report success; here every
// answer is checked (the library's append returns its errors), and a refused duplicate or a 404 of a record
// deleted meanwhile is an expected one.
func ionosOwnErrors(ctx context.Context) context.Context {
	ctx, _ = withFailures(ctx)
	return ctx
}

// AppendRecords implements libdns.RecordAppender for the one TXT value the writer passes: a value already at the
// name is success, before the library's append (which would refuse it) or after it (a concurrent one won).
func (p *ionosProvider) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	ctx = ionosOwnErrors(ctx)
	if ok, err := p.hasAll(ctx, zone, recs); err != nil || ok {
		return recs, err
	}
	out, err := p.lib.AppendRecords(ctx, zone, recs)
	if err != nil {
		if ok, rerr := p.hasAll(ctx, zone, recs); rerr == nil && ok {
			return recs, nil
		}
		return nil, fmt.Errorf("IONOS refused the new TXT record (%w)", err)
	}
	return out, nil
}

func (p *ionosProvider) hasAll(ctx context.Context, zone string, recs []libdns.Record) (bool, error) {
	for _, r := range recs {
		rr := r.RR()
		have, err := p.txtRecords(ctx, zone, libdns.AbsoluteName(rr.Name, zone))
		if err != nil {
			return false, err
		}
		found := false
		for _, h := range have {
			if ionosText(h.Content) == rr.Data {
				found = true
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// DeleteRecords implements libdns.RecordDeleter: it deletes, by ID, the TXT records at each record's name whose
// text is that record's value, and nothing else.
func (p *ionosProvider) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	ctx = ionosOwnErrors(ctx)
	var deleted []libdns.Record
	for _, r := range recs {
		rr := r.RR()
		if rr.Data == "" {
			return deleted, errors.New("refusing to delete TXT records without a value: it would match every one at the name")
		}
		have, err := p.txtRecords(ctx, zone, libdns.AbsoluteName(rr.Name, zone))
		if err != nil {
			return deleted, err
		}
		for _, h := range have {
			if ionosText(h.Content) != rr.Data {
				continue
			}
			id, err := p.zoneID(ctx, zone)
			if err != nil {
				return deleted, err
			}
			err = p.do(ctx, http.MethodDelete, "/zones/"+url.PathEscape(id)+"/records/"+url.PathEscape(h.ID), nil)
			var ae *ionosAPIError
			if errors.As(err, &ae) && ae.status == http.StatusNotFound && ae.code == "RECORD_NOT_FOUND" {
				continue // deleted meanwhile: what was asked
			}
			if err != nil {
				return deleted, fmt.Errorf("deleting TXT record %s: %w", h.ID, err)
			}
			deleted = append(deleted, r)
		}
	}
	return deleted, nil
}

// GetRecords implements libdns.RecordGetter for the zone's TXT records (the only ones the webhook reads), for a
// CleanUp that searches the zone for its value.
func (p *ionosProvider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	ctx = ionosOwnErrors(ctx)
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	var body struct {
		Records []ionosRecord `json:"records"`
	}
	if err := p.get(ctx, "/zones/"+url.PathEscape(id)+"?recordType=TXT", &body); err != nil {
		return nil, fmt.Errorf("reading the TXT records of %s: %w", zone, err)
	}
	var out []libdns.Record
	for _, r := range body.Records {
		name, err := dnsname.Canonical(r.Name)
		if err != nil || !strings.EqualFold(r.Type, "TXT") || !dnsname.Within(name, dnsname.MustCanonical(zone)) {
			continue
		}
		out = append(out, libdns.TXT{Name: dnsname.Relative(name, dnsname.MustCanonical(zone)), Text: ionosText(r.Content)})
	}
	return out, nil
}

// ListZones implements libdns.ZoneLister.
func (p *ionosProvider) ListZones(ctx context.Context) ([]libdns.Zone, error) {
	ids, err := p.listZones(ionosOwnErrors(ctx))
	if err != nil {
		return nil, err
	}
	out := make([]libdns.Zone, 0, len(ids))
	for name := range ids {
		out = append(out, libdns.Zone{Name: name})
	}
	return out, nil
}

func (p *ionosProvider) listZones(ctx context.Context) (map[string]string, error) {
	var zones []struct{ ID, Name string }
	if err := p.get(ctx, "/zones", &zones); err != nil {
		return nil, err
	}
	ids := make(map[string]string, len(zones))
	for _, z := range zones {
		ids[strings.ToLower(dnsname.Bare(z.Name))] = z.ID
	}
	p.mu.Lock()
	p.zoneIDs = ids
	p.mu.Unlock()
	return ids, nil
}

// zoneID returns the IONOS ID of zone, listing the zones when it is not known yet.
func (p *ionosProvider) zoneID(ctx context.Context, zone string) (string, error) {
	name := strings.ToLower(dnsname.Bare(zone))
	p.mu.Lock()
	id, ok := p.zoneIDs[name]
	p.mu.Unlock()
	if ok {
		return id, nil
	}
	ids, err := p.listZones(ctx)
	if err != nil {
		return "", err
	}
	if id, ok := ids[name]; ok {
		return id, nil
	}
	return "", fmt.Errorf("the IONOS account has no zone %s", name)
}

// txtRecords returns the TXT records at fqdn (the API's recordName filter: absolute, without the trailing dot).
func (p *ionosProvider) txtRecords(ctx context.Context, zone, fqdn string) ([]ionosRecord, error) {
	for attempt := 1; ; attempt++ {
		id, err := p.zoneID(ctx, zone)
		if err != nil {
			return nil, err
		}
		q := url.Values{"recordName": {dnsname.Bare(fqdn)}, "recordType": {"TXT"}}
		var body struct {
			Records []ionosRecord `json:"records"`
		}
		err = p.get(ctx, "/zones/"+url.PathEscape(id)+"?"+q.Encode(), &body)
		var ae *ionosAPIError
		if attempt == 1 && errors.As(err, &ae) && ae.code == "ZONE_NOT_FOUND" {
			// The zone was deleted and made again under a new ID: look it up again.
			p.mu.Lock()
			delete(p.zoneIDs, strings.ToLower(dnsname.Bare(zone)))
			p.mu.Unlock()
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the TXT records at %s: %w", fqdn, err)
		}
		var out []ionosRecord
		for _, r := range body.Records {
			if strings.EqualFold(r.Type, "TXT") && strings.EqualFold(dnsname.Bare(r.Name), dnsname.Bare(fqdn)) {
				out = append(out, r)
			}
		}
		return out, nil
	}
}

func (p *ionosProvider) get(ctx context.Context, path string, into any) error {
	return p.do(ctx, http.MethodGet, path, into)
}

// do sends one request to the IONOS DNS API and decodes a 2xx answer into into (unless nil).
func (p *ionosProvider) do(ctx context.Context, method, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, method, ionos.APIEndpoint+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", p.lib.AuthAPIToken)
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return p.apiError(method, req.URL.Path, resp.StatusCode, raw)
	}
	if into == nil {
		return nil
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("%s %s: HTTP %d with an unreadable body: %w", method, req.URL.Path, resp.StatusCode, err)
	}
	return nil
}

// ionosAPIError is an answer of the IONOS DNS API outside 2xx: its status and first error's code and message.
type ionosAPIError struct {
	method, path  string
	status        int
	code, message string
}

func (e *ionosAPIError) Error() string {
	return strings.TrimSuffix(fmt.Sprintf("%s %s: IONOS answered HTTP %d %s: %s", e.method, e.path, e.status, e.code, e.message), ": ")
}

func (p *ionosProvider) apiError(method, path string, status int, raw []byte) error {
	e := &ionosAPIError{method: method, path: path, status: status}
	var list []struct{ Code, Message string }
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		e.code, e.message = list[0].Code, list[0].Message
	}
	if tok := p.lib.AuthAPIToken; len(tok) >= 4 {
		e.message = strings.ReplaceAll(e.message, tok, "[redacted]")
	}
	return e
}

// ionosText is a TXT record's text: IONOS stores the content quoted.
func ionosText(content string) string {
	if strings.HasPrefix(content, `"`) {
		if s, err := strconv.Unquote(content); err == nil {
			return s
		}
	}
	return content
}

// explainIonos adds what to do to the errors users meet most.
func explainIonos(err error, rec Record) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "HTTP 401"), strings.Contains(msg, "Unauthorized (401)"):
		return fmt.Errorf("%w: IONOS refused the API key; check that the Secret holds the whole key, prefix.secret", err)
	case strings.Contains(msg, "has no zone"), strings.Contains(msg, "zone named not found"):
		return fmt.Errorf("%w: the zone %s is not in this IONOS account", err, rec.Zone)
	}
	return err
}

var (
	_ recordProvider      = (*ionosProvider)(nil)
	_ libdns.ZoneLister   = (*ionosProvider)(nil)
	_ libdns.RecordGetter = (*ionosProvider)(nil)
)
