//go:build !minimal

package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// godaddyConfig is the godaddy provider block, with libdns/godaddy's field name. The webhook speaks GoDaddy's API
// itself: libdns/godaddy v1.1.0's append PUTs a one-element array, which replaces (drops) the sibling value, its
// delete removes the whole set, its requests ignore the context, and it logs every call with the records.
type godaddyConfig struct {
	// APIToken is the production API key and its secret joined by a colon, "key:secret", as libdns/godaddy takes
	// it. From a Secret.
	APIToken string `json:"api_token,omitempty"`
}

const (
	// godaddyAPI is GoDaddy's production API; OTE keys are not accepted there.
	godaddyAPI = "https://api.godaddy.com"
	// godaddyPage is the largest page of records GoDaddy serves.
	godaddyPage = 500
	// godaddyDomainsPage is the largest page of domains GoDaddy serves.
	godaddyDomainsPage = 1000
)

func godaddyEntry() *Entry {
	return &Entry{
		Name: "godaddy",
		// The webhook's own client of the GoDaddy Domains API v1; no library is involved.
		Module:      "github.com/delegate01/cert-manager-webhook-delegate",
		New:         func() any { return new(godaddyConfig) },
		Credentials: []string{"api_token"},
		Required:    []Field{{"api_token", "the GoDaddy production API key and secret as key:secret, as {secretKeyRef: {name, key}}"}},
		// GoDaddy refuses a TTL under 600 s.
		MinTTL: 600 * time.Second,
		// GoDaddy allows 60 requests a minute per endpoint.
		RateLimit: Rate{PerSecond: 1, Burst: 30},
		Strategy:  Set,
		Zones:     "lists the account's domains (all pages) and takes the longest match",
		Test:      FakeAPI,
		HTTP:      "the webhook's client, every request bound to the call's context",
		Quirks: []string{
			"libdns/godaddy is not used: its append PUTs a one-element array, which replaces the sibling value; its delete removes the whole set; it ignores the context and logs every call with the records",
			"GoDaddy replaces every TXT record of a name on PUT and has no precondition: the set is read (every page) and the whole array PUT back under the set strategy's Lease lock, or the name DELETEd when the last value goes",
			"minimum TTL 600: a lower ttl is raised; the records already there keep theirs",
			"since 2024 GoDaddy answers 403 ACCESS_DENIED to accounts with fewer than 10 domains and no Discount Domain Club Premier membership",
			"429 carries Retry-After (and retryAfterSec), which the webhook's transport waits out within the call's deadline; GoDaddy allows 60 requests a minute per endpoint",
			"error bodies (code, message, fields) are passed on, with the key and secret cut out",
		},
		Example: "api_token: {secretKeyRef: {name: godaddy-key, key: key-and-secret}}\n",
		Build: func(v any, env Env) (Writer, error) {
			c := v.(*godaddyConfig)
			ops := &godaddyOps{token: strings.TrimSpace(c.APIToken), path: env.Path, client: env.Client(), page: godaddyPage,
				seen: map[string][]godaddyRecord{}}
			// Every request goes through env.Client, which paces it: no pacing per call on top.
			return godaddyEntry().writer(&libdnsWriter{zones: ops.findZone, explain: explainGoDaddy, httpPaced: true}, env, ops, false), nil
		},
	}
}

// godaddyRecord is a DNS record as GoDaddy's records endpoints carry it.
type godaddyRecord struct {
	Data string `json:"data"`
	Name string `json:"name,omitempty"`
	TTL  int    `json:"ttl,omitempty"`
	Type string `json:"type,omitempty"`
}

// godaddyOps reads and writes the TXT records of one name through the GoDaddy Domains API v1.
type godaddyOps struct {
	token, path string
	client      *http.Client
	// page is how many records one GET asks for; a shorter answer is the last page.
	page int

	mu sync.Mutex
	// seen holds, per (zone, name), the records as Values last read them, for the Write of the same batch.
	seen map[string][]godaddyRecord
}

// godaddyOwnErrors gives ctx a request-failure tracker of its own, which nobody reads: the webhook's transport
// notes every request that ends in 4xx or 5xx, so that a library that drops an error cannot report success; here
// every answer is checked, and a 404 of a name deleted meanwhile is an expected one.
func godaddyOwnErrors(ctx context.Context) context.Context {
	ctx, _ = withFailures(ctx)
	return ctx
}

// recordsPath is the path of the TXT records at fqdn in zone: /v1/domains/{domain}/records/TXT/{name}.
func godaddyRecordsPath(zone, fqdn string) string {
	return "/v1/domains/" + url.PathEscape(dnsname.Bare(zone)) + "/records/TXT/" + url.PathEscape(dnsname.Relative(fqdn, zone))
}

// Values implements SetOps: it GETs the TXT records of the name, every page.
func (o *godaddyOps) Values(ctx context.Context, zone, fqdn string) ([]string, error) {
	ctx = godaddyOwnErrors(ctx)
	var all []godaddyRecord
	for offset := 0; ; {
		var page []godaddyRecord
		q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(o.page)}}
		if err := o.do(ctx, http.MethodGet, godaddyRecordsPath(zone, fqdn)+"?"+q.Encode(), nil, &page); err != nil {
			return nil, fmt.Errorf("reading the TXT records at %s: %w", fqdn, err)
		}
		for _, r := range page {
			if r.Data != "" { // lego skips empty data too
				all = append(all, r)
			}
		}
		if len(page) < o.page {
			break
		}
		offset += len(page)
	}
	o.mu.Lock()
	o.seen[zone+"\x00"+fqdn] = all
	o.mu.Unlock()
	out := make([]string, len(all))
	for i, r := range all {
		out[i] = r.Data
	}
	return out, nil
}

// Write implements SetOps: the whole array PUT back with the change, or the name DELETEd when none remain.
func (o *godaddyOps) Write(ctx context.Context, zone, fqdn string, _ []string, adds []Mutation, removes []string) (addErr, removeErr error) {
	ctx = godaddyOwnErrors(ctx)
	o.mu.Lock()
	cur := o.seen[zone+"\x00"+fqdn]
	delete(o.seen, zone+"\x00"+fqdn)
	o.mu.Unlock()
	var recs []godaddyRecord
	changed := false
	for _, r := range cur {
		if slices.Contains(removes, r.Data) {
			changed = true
			continue
		}
		recs = append(recs, godaddyRecord{Data: r.Data, TTL: r.TTL})
	}
	for _, m := range adds {
		if slices.ContainsFunc(recs, func(r godaddyRecord) bool { return r.Data == m.Value }) {
			continue
		}
		recs = append(recs, godaddyRecord{Data: m.Value, TTL: max(int(m.TTL/time.Second), 600)})
		changed = true
	}
	var err error
	switch {
	case !changed:
	case len(recs) == 0:
		err = o.do(ctx, http.MethodDelete, godaddyRecordsPath(zone, fqdn), nil, nil)
		var ge *godaddyAPIError
		if errors.As(err, &ge) && ge.status == http.StatusNotFound && ge.code != "UNKNOWN_DOMAIN" {
			err = nil // gone already: what was asked
		}
	default:
		body, merr := json.Marshal(recs)
		if merr != nil {
			return merr, merr
		}
		err = o.do(ctx, http.MethodPut, godaddyRecordsPath(zone, fqdn), body, nil)
	}
	if err != nil {
		err = fmt.Errorf("writing the TXT records at %s: %w", fqdn, err)
	}
	return err, err
}

// findZone lists the account's domains, every page, and returns the longest that holds fqdn.
func (o *godaddyOps) findZone(ctx context.Context, fqdn string) (string, error) {
	ctx = godaddyOwnErrors(ctx)
	var names []string
	for marker := ""; ; {
		q := url.Values{"limit": {strconv.Itoa(godaddyDomainsPage)}}
		if marker != "" {
			q.Set("marker", marker)
		}
		var page []struct {
			Domain string `json:"domain"`
		}
		if err := o.do(ctx, http.MethodGet, "/v1/domains?"+q.Encode(), nil, &page); err != nil {
			return "", explainGoDaddy(fmt.Errorf("listing the account's domains: %w", err), Record{FQDN: fqdn})
		}
		for _, d := range page {
			names = append(names, d.Domain)
		}
		if len(page) < godaddyDomainsPage {
			break
		}
		marker = page[len(page)-1].Domain
	}
	return LongestZone(fqdn, names)
}

// do sends one request and decodes a 2xx answer into into (unless nil).
func (o *godaddyOps) do(ctx context.Context, method, path string, body []byte, into any) error {
	key, secret, ok := strings.Cut(o.token, ":")
	if !ok || key == "" || secret == "" {
		return fmt.Errorf("config.%s.api_token: is not key:secret: give the production API key and its secret joined by a colon, as GoDaddy's developer portal shows them", o.path)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, godaddyAPI+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "sso-key "+o.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return o.apiError(method, req.URL.Path, resp.StatusCode, raw)
	}
	if into == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("%s %s: HTTP %d with an unreadable body: %w", method, req.URL.Path, resp.StatusCode, err)
	}
	return nil
}

// godaddyAPIError is an answer outside 2xx: GoDaddy's code, message and fields.
type godaddyAPIError struct {
	method, path  string
	status        int
	code, message string
	fields        []string
}

func (e *godaddyAPIError) Error() string {
	s := fmt.Sprintf("%s %s: GoDaddy answered HTTP %d %s: %s", e.method, e.path, e.status, e.code, e.message)
	if len(e.fields) > 0 {
		s += " (" + strings.Join(e.fields, "; ") + ")"
	}
	return s
}

func (o *godaddyOps) apiError(method, path string, status int, raw []byte) error {
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Fields  []struct {
			Message string `json:"message"`
			Path    string `json:"path"`
		} `json:"fields"`
	}
	_ = json.Unmarshal(raw, &body)
	e := &godaddyAPIError{method: method, path: path, status: status, code: body.Code, message: o.redact(body.Message)}
	for _, f := range body.Fields {
		e.fields = append(e.fields, o.redact(f.Path+": "+f.Message))
	}
	return e
}

// redact cuts the key and the secret out of what the API echoes.
func (o *godaddyOps) redact(s string) string {
	key, secret, _ := strings.Cut(o.token, ":")
	for _, v := range []string{o.token, secret, key} {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// explainGoDaddy adds what to do to the errors users meet most.
func explainGoDaddy(err error, rec Record) error {
	var ge *godaddyAPIError
	if !errors.As(err, &ge) {
		return err
	}
	switch {
	case ge.status == http.StatusUnauthorized:
		return fmt.Errorf("%w: GoDaddy refused the key; api_token must be a production key and its secret as key:secret (OTE keys work only at the OTE API)", err)
	case ge.code == "ACCESS_DENIED":
		return fmt.Errorf("%w: GoDaddy gives API access only to accounts with 10 or more domains or a Discount Domain Club Premier membership", err)
	case ge.code == "UNKNOWN_DOMAIN":
		return fmt.Errorf("%w: the zone %s is not a domain of this GoDaddy account (or has no zone file there)", err, rec.Zone)
	case ge.status == http.StatusTooManyRequests:
		return fmt.Errorf("%w: GoDaddy allows 60 requests a minute; cert-manager will retry", err)
	}
	return err
}

var _ SetOps = (*godaddyOps)(nil)
