//go:build !minimal

package providers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakegodaddy"
)

const (
	godaddyTestKey, godaddyTestSecret = "gd-unit-key-0123", "gd-unit-secret-0123456789"
	godaddyTestZone, godaddyTestFQDN  = "godaddy.test.", "_acme-challenge.godaddy.test."
)

func godaddyTestOps(t *testing.T, opts ...fakegodaddy.Option) (*fakegodaddy.Server, *godaddyOps) {
	t.Helper()
	s, err := fakegodaddy.Start(append([]fakegodaddy.Option{fakegodaddy.WithAPIKey(godaddyTestKey, godaddyTestSecret),
		fakegodaddy.WithDomain("godaddy.test")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	w, err := godaddyEntry().NewWriter(&godaddyConfig{APIToken: godaddyTestKey + ":" + godaddyTestSecret},
		Env{Path: "aliasProvider.godaddy", HTTPClient: s.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return s, w.(*setWriter).ops.(*godaddyOps)
}

func godaddyApply(ctx context.Context, o *godaddyOps, adds []Mutation, removes []string) error {
	if _, err := o.Values(ctx, godaddyTestZone, godaddyTestFQDN); err != nil {
		return err
	}
	addErr, removeErr := o.Write(ctx, godaddyTestZone, godaddyTestFQDN, nil, adds, removes)
	if addErr != nil {
		return addErr
	}
	return removeErr
}

// TestGoDaddyReadsEveryPage: the set written back is the whole set, so every page of it must be read first.
func TestGoDaddyReadsEveryPage(t *testing.T) {
	t.Parallel()
	s, o := godaddyTestOps(t)
	o.page = 2
	ctx := context.Background()
	var adds []Mutation
	var want []string
	for i := range 5 {
		v := fmt.Sprintf("value-%d", i)
		adds, want = append(adds, Mutation{Value: v, Add: true, TTL: time.Minute}), append(want, v)
	}
	if err := godaddyApply(ctx, o, adds, nil); err != nil {
		t.Fatal(err)
	}
	if err := godaddyApply(ctx, o, []Mutation{{Value: "value-5", Add: true, TTL: time.Minute}}, []string{"value-0"}); err != nil {
		t.Fatal(err)
	}
	want = append(want[1:], "value-5")
	if got := s.TXT(godaddyTestFQDN); !slices.Equal(got, want) {
		t.Fatalf("holds %q, want %q", got, want)
	}
	// A one-minute ttl becomes GoDaddy's minimum; the records already there keep theirs.
	for _, r := range s.Records("godaddy.test") {
		if r.Type == "TXT" && r.TTL != 600 {
			t.Errorf("record %+v: TTL %d, want 600", r, r.TTL)
		}
	}
	gets := 0
	for _, r := range s.Requests() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/records/TXT/") {
			gets++
		}
	}
	if gets != 1+3 { // no value yet: one (empty) page; five values: pages of 2, 2 and 1
		t.Errorf("%d GETs of the records, want 4", gets)
	}
}

// TestGoDaddyWaitsOutRetryAfter: GoDaddy's 429 says how long to wait; the write succeeds after it.
func TestGoDaddyWaitsOutRetryAfter(t *testing.T) {
	t.Parallel()
	s, o := godaddyTestOps(t)
	s.RateLimit(1, time.Second, fakeapi.Match{Method: http.MethodPut})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := godaddyApply(ctx, o, []Mutation{{Value: "after-429", Add: true, TTL: time.Minute}}, nil); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("took %v: the Retry-After of 1 s was not waited out", took)
	}
	if got := s.TXT(godaddyTestFQDN); !slices.Equal(got, []string{"after-429"}) {
		t.Errorf("holds %q", got)
	}
}

func TestGoDaddyErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, o := godaddyTestOps(t, fakegodaddy.WithAccessDenied())
	err := godaddyApply(ctx, o, []Mutation{{Value: "v", Add: true, TTL: time.Minute}}, nil)
	if err == nil || !strings.Contains(explainGoDaddy(err, Record{Zone: godaddyTestZone}).Error(), "10 or more domains") {
		t.Errorf("ACCESS_DENIED: %v", err)
	}
	// A token that is not key:secret is refused before any request.
	s2, o2 := godaddyTestOps(t)
	o2.token = "only-a-key-0123"
	err = godaddyApply(ctx, o2, []Mutation{{Value: "v", Add: true, TTL: time.Minute}}, nil)
	if err == nil || !strings.Contains(err.Error(), "aliasProvider.godaddy.api_token: is not key:secret") || strings.Contains(err.Error(), "only-a-key") {
		t.Errorf("malformed token: %v", err)
	}
	if n := len(s2.Requests()); n != 0 {
		t.Errorf("%d requests sent with a malformed token", n)
	}
	// A wrong secret: the fake echoes the header; neither key nor secret may show.
	_, o3 := godaddyTestOps(t)
	o3.token = godaddyTestKey + ":wrong-secret-0123456789"
	err = godaddyApply(ctx, o3, nil, []string{"v"})
	if err == nil || !strings.Contains(err.Error(), "UNABLE_TO_AUTHENTICATE") || strings.Contains(err.Error(), "wrong-secret") ||
		strings.Contains(err.Error(), godaddyTestKey) {
		t.Errorf("wrong secret: %v", err)
	}
	// An unknown domain is GoDaddy's 404 UNKNOWN_DOMAIN, explained.
	_, o4 := godaddyTestOps(t)
	_, err = o4.Values(ctx, "elsewhere.test.", "_acme-challenge.elsewhere.test.")
	if err == nil || !strings.Contains(explainGoDaddy(err, Record{Zone: "elsewhere.test."}).Error(), "not a domain of this GoDaddy account") {
		t.Errorf("unknown domain: %v", err)
	}
}
