package fakehetzner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"
)

// These tests drive the fake with hcloud-go itself, the client libdns/hetzner/v2 uses, given the fake's client
// (hcloud-go takes one; libdns/hetzner does not pass it on) and short poll and retry intervals, so they can run in
// parallel and fast.

const token = "hcloud-fake-token-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"

func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := Start(append([]Option{WithToken(token), WithZone("example.com")}, opts...)...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func client(s *Server, tok string) *hcloud.Client {
	return hcloud.NewClient(hcloud.WithToken(tok), hcloud.WithHTTPClient(s.Client()),
		hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(5 * time.Millisecond)}),
		hcloud.WithRetryOpts(hcloud.RetryOpts{BackoffFunc: hcloud.ConstantBackoff(5 * time.Millisecond), MaxRetries: 3}))
}

func rrset(name string) *hcloud.ZoneRRSet {
	return &hcloud.ZoneRRSet{Zone: &hcloud.Zone{Name: "example.com"}, Name: name, Type: hcloud.ZoneRRSetTypeTXT}
}

func recs(values ...string) []hcloud.ZoneRRSetRecord {
	var out []hcloud.ZoneRRSetRecord
	for _, v := range values {
		out = append(out, hcloud.ZoneRRSetRecord{Value: `"` + v + `"`})
	}
	return out
}

func code(err error) hcloud.ErrorCode {
	var he hcloud.Error
	if errors.As(err, &he) {
		return he.Code
	}
	return ""
}

// add runs add_records and waits for its action.
func add(ctx context.Context, c *hcloud.Client, name string, ttl *int, values ...string) error {
	a, _, err := c.Zone.AddRRSetRecords(ctx, rrset(name), hcloud.ZoneRRSetAddRecordsOpts{Records: recs(values...), TTL: ttl})
	if err != nil {
		return err
	}
	return c.Action.WaitFor(ctx, a)
}

func remove(ctx context.Context, c *hcloud.Client, name string, values ...string) error {
	a, _, err := c.Zone.RemoveRRSetRecords(ctx, rrset(name), hcloud.ZoneRRSetRemoveRecordsOpts{Records: recs(values...)})
	if err != nil {
		return err
	}
	return c.Action.WaitFor(ctx, a)
}

func TestAPIAddAndRemoveRecords(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := client(s, token)
	ctx := context.Background()
	const fqdn = "_acme-challenge.example.com."
	ttl := 60

	// add_records creates the RRset, then appends to it: two values at one name.
	if err := add(ctx, c, "_acme-challenge", &ttl, "apex-value"); err != nil {
		t.Fatal(err)
	}
	if err := add(ctx, c, "_acme-challenge", &ttl, "wildcard-value"); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(fqdn); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("after two adds %q", got)
	}
	// A value already there: success, nothing changes.
	if err := add(ctx, c, "_acme-challenge", &ttl, "apex-value"); err != nil {
		t.Errorf("add of a present value: %v, want success", err)
	}
	if got := s.Records("example.com"); len(findRRSet(got, "_acme-challenge").Records) != 2 {
		t.Errorf("add of a present value changed the set: %+v", findRRSet(got, "_acme-challenge"))
	}
	// Another TTL than the set's is refused.
	other := 120
	if err := add(ctx, c, "_acme-challenge", &other, "third"); code(err) != hcloud.ErrorCodeInvalidInput {
		t.Errorf("add with another TTL: %v, want invalid_input", err)
	}
	// remove_records removes exactly the value; an absent value is success and no change.
	if err := remove(ctx, c, "_acme-challenge", "never-written"); err != nil {
		t.Errorf("remove of an absent value: %v, want success", err)
	}
	if err := remove(ctx, c, "_acme-challenge", "apex-value"); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(fqdn); !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("after removing one %q, want the sibling", got)
	}
	// Removing the last value deletes the RRset; removing from an RRset that does not exist is 404.
	if err := remove(ctx, c, "_acme-challenge", "wildcard-value"); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(fqdn); got != nil {
		t.Errorf("after removing the last value %q, want no RRset", got)
	}
	if err := remove(ctx, c, "_acme-challenge", "wildcard-value"); code(err) != hcloud.ErrorCodeNotFound {
		t.Errorf("remove from a missing RRset: %v, want not_found", err)
	}
}

func findRRSet(sets []RRSet, name string) RRSet {
	for _, set := range sets {
		if set.Name == name && set.Type == "TXT" {
			return set
		}
	}
	return RRSet{}
}

func TestAPIValidation(t *testing.T) {
	t.Parallel()
	s := start(t)
	c := client(s, token)
	ctx := context.Background()
	tests := []struct {
		name string
		set  *hcloud.ZoneRRSet
		recs []hcloud.ZoneRRSetRecord
		want hcloud.ErrorCode
	}{
		{"unquoted TXT", rrset("a"), []hcloud.ZoneRRSetRecord{{Value: "bare"}}, hcloud.ErrorCodeInvalidInput},
		{"duplicate values in the request", rrset("a"), recs("x", "x"), hcloud.ErrorCodeInvalidInput},
		{"upper-case name", rrset("Upper"), recs("x"), hcloud.ErrorCodeInvalidInput},
		{"absolute name", rrset("a.example.com"), recs("x"), hcloud.ErrorCodeInvalidInput},
		{"no records", rrset("a"), nil, hcloud.ErrorCodeInvalidInput},
		{"unknown zone", &hcloud.ZoneRRSet{Zone: &hcloud.Zone{Name: "example.org"}, Name: "a", Type: "TXT"}, recs("x"), hcloud.ErrorCodeNotFound},
	}
	for _, tt := range tests {
		_, _, err := c.Zone.AddRRSetRecords(ctx, tt.set, hcloud.ZoneRRSetAddRecordsOpts{Records: tt.recs})
		if code(err) != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.want)
		}
	}
	small := 30
	if _, _, err := c.Zone.AddRRSetRecords(ctx, rrset("a"), hcloud.ZoneRRSetAddRecordsOpts{Records: recs("x"), TTL: &small}); code(err) != hcloud.ErrorCodeInvalidInput {
		t.Errorf("TTL below 60: %v", err)
	}
	// Create of an existing RRset is a uniqueness error; CNAME beside TXT is refused.
	z := &hcloud.Zone{Name: "example.com"}
	res, _, err := c.Zone.CreateRRSet(ctx, z, hcloud.ZoneRRSetCreateOpts{Name: "c", Type: "TXT", Records: recs("v")})
	if err != nil || res.RRSet.ID != "c/TXT" {
		t.Fatalf("create: %v %+v", err, res.RRSet)
	}
	_, _, err = c.Zone.CreateRRSet(ctx, z, hcloud.ZoneRRSetCreateOpts{Name: "c", Type: "TXT", Records: recs("w")})
	if code(err) != hcloud.ErrorCodeUniquenessError {
		t.Errorf("create of an existing RRset: %v, want uniqueness_error", err)
	}
	_, _, err = c.Zone.CreateRRSet(ctx, z, hcloud.ZoneRRSetCreateOpts{Name: "c", Type: "CNAME", Records: []hcloud.ZoneRRSetRecord{{Value: "x.example.org."}}})
	if code(err) != hcloud.ErrorCodeUniquenessError {
		t.Errorf("CNAME beside a TXT: %v", err)
	}
	got, _, err := c.Zone.GetRRSetByNameAndType(ctx, z, "c", "TXT")
	if err != nil || got == nil || len(got.Records) != 1 || got.Records[0].Value != `"v"` {
		t.Errorf("get: %v %+v", err, got)
	}
	_, _, err = c.Zone.DeleteRRSet(ctx, &hcloud.ZoneRRSet{Zone: z, Name: "@", Type: "SOA"})
	if code(err) != hcloud.ErrorCodeProtected {
		t.Errorf("delete of the apex SOA: %v, want protected", err)
	}
}

func TestAPIStrictRecords(t *testing.T) {
	t.Parallel()
	s := start(t, WithStrictRecords())
	c := client(s, token)
	ctx := context.Background()
	if err := add(ctx, c, "s", nil, "one", "two"); err != nil {
		t.Fatal(err)
	}
	if err := add(ctx, c, "s", nil, "one"); code(err) != hcloud.ErrorCodeUniquenessError {
		t.Errorf("strict add of a present value: %v, want uniqueness_error", err)
	}
	if err := remove(ctx, c, "s", "three"); code(err) != hcloud.ErrorCodeNotFound {
		t.Errorf("strict remove of an absent value: %v, want not_found", err)
	}
	if got := s.TXT("s.example.com"); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("refused changes changed the set: %q", got)
	}
}

func TestAPIActionsAndLocking(t *testing.T) {
	t.Parallel()
	s := start(t, WithActionDuration(300*time.Millisecond), WithZoneLocking())
	c := client(s, token)
	ctx := context.Background()
	a, _, err := c.Zone.AddRRSetRecords(ctx, rrset("l"), hcloud.ZoneRRSetAddRecordsOpts{Records: recs("one")})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != hcloud.ActionStatusRunning || a.Command != "add_rrset_records" || len(a.Resources) != 1 || a.Resources[0].Type != "zone" {
		t.Errorf("action %+v, want running add_rrset_records on the zone", a)
	}
	// While it runs the zone is locked, and hcloud-go does not retry that.
	_, _, err = c.Zone.AddRRSetRecords(ctx, rrset("l"), hcloud.ZoneRRSetAddRecordsOpts{Records: recs("two")})
	if code(err) != hcloud.ErrorCodeLocked {
		t.Errorf("change while an action runs: %v, want locked", err)
	}
	if n := s.CountRequests(http.MethodPost, BasePath+"/zones/example.com/rrsets/l/TXT/actions/add_records"); n != 2 {
		t.Errorf("%d add_records requests, want 2 (locked is not retried)", n)
	}
	got, _, err := c.Action.GetByID(ctx, a.ID)
	if err != nil || got.Status != hcloud.ActionStatusRunning {
		t.Errorf("action while running: %v %+v", err, got)
	}
	if err := c.Action.WaitFor(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, _, err = c.Action.GetByID(ctx, a.ID)
	if err != nil || got.Status != hcloud.ActionStatusSuccess || got.Progress != 100 || got.Finished.IsZero() {
		t.Errorf("action after it ran: %v %+v", err, got)
	}
	if err := add(ctx, c, "l", nil, "two"); err != nil {
		t.Errorf("change after the action ended: %v", err)
	}
}

func TestAPIPaginationAndErrors(t *testing.T) {
	t.Parallel()
	s := start(t, WithMaxPerPage(2), WithZone("example.org"), WithZone("example.net"))
	c := client(s, token)
	ctx := context.Background()
	zones, err := c.Zone.All(ctx)
	if err != nil || len(zones) != 3 {
		t.Fatalf("zones: %v, %d", err, len(zones))
	}
	for i := range 5 {
		if err := add(ctx, c, fmt.Sprintf("r%d", i), nil, "v"); err != nil {
			t.Fatal(err)
		}
	}
	sets, err := c.Zone.AllRRSets(ctx, &hcloud.Zone{Name: "example.com"})
	if err != nil || len(sets) != 7 {
		t.Errorf("rrsets: %v, %d, want 7", err, len(sets))
	}
	pages := 0
	for _, r := range s.Requests() {
		if strings.HasSuffix(r.Path, "/zones/example.com/rrsets") && r.Method == http.MethodGet {
			pages++
		}
	}
	if pages != 4 { // 7 RRsets, per_page 50 clamped to 2
		t.Errorf("%d pages of RRsets, want 4", pages)
	}

	// An unknown token is echoed; a known one sees the rate-limit headers.
	_, _, err = client(s, "wrong-token-value").Zone.Get(ctx, "example.com")
	if code(err) != hcloud.ErrorCodeUnauthorized || !strings.Contains(err.Error(), "wrong-token-value") {
		t.Errorf("unknown token: %v, want unauthorized echoing it", err)
	}
	z, resp, err := c.Zone.Get(ctx, "example.com")
	if err != nil || z == nil || resp.Meta.Ratelimit.Limit != 3600 || resp.Meta.Ratelimit.Remaining <= 0 || resp.Meta.Ratelimit.Reset.IsZero() {
		t.Errorf("zone get: %v, %+v", err, resp.Meta.Ratelimit)
	}
	if byID, _, err := c.Zone.GetByID(ctx, z.ID); err != nil || byID == nil || byID.Name != "example.com" {
		t.Errorf("zone by ID: %v %+v", err, byID)
	}
	if missing, _, err := c.Zone.Get(ctx, "example.invalid"); err != nil || missing != nil {
		t.Errorf("unknown zone: %v %+v, want nil, nil (hcloud-go turns not_found into nil)", err, missing)
	}

	// 429 and 409 conflict are retried by hcloud-go; a 429 carries Hetzner's body.
	s.RateLimit(1, 0)
	s.FailNext(1, http.StatusConflict)
	if _, _, err := c.Zone.Get(ctx, "example.com"); err != nil {
		t.Errorf("after a 429 and a 409: %v, want the retries to succeed", err)
	}
	s.RateLimit(1, 0)
	req, _ := http.NewRequest(http.MethodGet, "https://"+APIHost+BasePath+"/zones", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	raw, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Body.Close()
	var body ErrorBody
	b, _ := io.ReadAll(raw.Body)
	if err := json.Unmarshal(b, &body); err != nil || raw.StatusCode != http.StatusTooManyRequests || body.Error.Code != "rate_limit_exceeded" || raw.Header.Get("RateLimit-Limit") != "3600" {
		t.Errorf("429: %d %s %v", raw.StatusCode, b, raw.Header)
	}
}

func TestAPIMirror(t *testing.T) {
	t.Parallel()
	m := &recordingMirror{}
	s := start(t, WithMirror(m))
	c := client(s, token)
	ctx := context.Background()
	const fqdn = "_acme-challenge.example.com."
	if err := add(ctx, c, "_acme-challenge", nil, "one", "two"); err != nil {
		t.Fatal(err)
	}
	a, _, err := c.Zone.SetRRSetRecords(ctx, rrset("_acme-challenge"), hcloud.ZoneRRSetSetRecordsOpts{Records: recs("two", "three")})
	if err != nil || c.Action.WaitFor(ctx, a) != nil {
		t.Fatal(err)
	}
	want := []string{"append " + fqdn + " one 3600", "append " + fqdn + " two 3600", "append " + fqdn + " three 3600", "delete " + fqdn + " one"}
	if got := m.log(); !slices.Equal(got, want) {
		t.Errorf("mirrored %q, want %q (set_records mirrors the difference; no TTL means the zone's)", got, want)
	}
	m.fail(true)
	if err := remove(ctx, c, "_acme-challenge", "two"); code(err) != hcloud.ErrorCodeServerError {
		t.Errorf("remove with a failing mirror: %v, want server_error", err)
	}
	if got := s.TXT(fqdn); !slices.Equal(got, []string{"three", "two"}) {
		t.Errorf("after a failed mirror %q, want the set unchanged", got)
	}
}

type recordingMirror struct {
	mu    sync.Mutex
	calls []string
	bad   bool
}

func (m *recordingMirror) fail(b bool) { m.mu.Lock(); m.bad = b; m.mu.Unlock() }

func (m *recordingMirror) log() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

func (m *recordingMirror) record(s string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bad {
		return errors.New("dns server refused")
	}
	m.calls = append(m.calls, s)
	return nil
}

func (m *recordingMirror) AppendTXT(_ context.Context, fqdn, value string, ttl int) error {
	return m.record(fmt.Sprintf("append %s %s %d", fqdn, value, ttl))
}

func (m *recordingMirror) DeleteTXT(_ context.Context, fqdn, value string) error {
	return m.record("delete " + fqdn + " " + value)
}
