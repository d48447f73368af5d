package fakeazuredns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

// These tests drive the fake with the Azure SDK the webhook will use for TXT record sets: armdns's
// RecordSetsClient and azidentity's ClientSecretCredential, both given the fake's client as their transport.
// TestMain clears the Azure environment variables and installs a guard as http.DefaultTransport that records
// and refuses whatever escapes those transports (MSAL's IMDS region probe would).

const (
	clientID = "3c1f0d52-0000-4000-8000-0000000c11e7"
	secret   = "fake~client~secret~0123456789abcdefABCDEF"
	group    = "dns-rg"
)

// escaped records requests that reached http.DefaultTransport instead of the fake's transport.
var escaped = &guard{}

type guard struct {
	mu    sync.Mutex
	hosts []string
}

func (g *guard) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	g.hosts = append(g.hosts, r.URL.Host)
	g.mu.Unlock()
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return nil, fmt.Errorf("test guard: refusing %s %s: only the fake's transport may be used", r.Method, r.URL.Host)
}

func (g *guard) seen() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.hosts)
}

// azureEnv are the variables azidentity, MSAL and azcore read; none may come from the machine.
var azureEnv = []string{
	"AZURE_AUTHORITY_HOST", "AZURE_REGIONAL_AUTHORITY_NAME", "REGION_NAME", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
	"AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT",
	"MSI_SECRET", "IMDS_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_SDK_GO_LOGGING",
}

// expectedEscapes counts the escapes a test provoked on purpose; TestMain fails on any other.
var expectedEscapes int

// TestMain isolates the process from the machine's Azure configuration, or runs the child mode when asked.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	for _, k := range azureEnv {
		_ = os.Unsetenv(k)
	}
	http.DefaultTransport = escaped
	code := m.Run()
	if seen := escaped.seen(); code == 0 && len(seen) != expectedEscapes {
		fmt.Fprintf(os.Stderr, "requests escaped the fake's transport: %q\n", seen)
		code = 1
	}
	os.Exit(code)
}

func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := Start(append([]Option{WithClientSecret(clientID, secret), WithZone(group, "example.com")}, opts...)...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

type sdkOptions struct {
	secret           string
	retry            policy.RetryOptions
	disableDiscovery bool
}

// credential is the ClientSecretCredential a webhook builds from a Secret, with the fake's client as transport.
func credential(t *testing.T, s *Server, o sdkOptions) *azidentity.ClientSecretCredential {
	t.Helper()
	sec := secret
	if o.secret != "" {
		sec = o.secret
	}
	cred, err := azidentity.NewClientSecretCredential(s.Tenant(), clientID, sec, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Transport: s.Client()},
		DisableInstanceDiscovery: o.disableDiscovery,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// recordSets returns armdns's RecordSetsClient on the fake. Retries are quick, so that tests of them stay fast.
func recordSets(t *testing.T, s *Server, o sdkOptions) *armdns.RecordSetsClient {
	t.Helper()
	if o.retry.RetryDelay == 0 {
		o.retry.RetryDelay = 10 * time.Millisecond
	}
	c, err := armdns.NewRecordSetsClient(s.Subscription(), credential(t, s, o), &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{Transport: s.Client(), Retry: o.retry},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func txtSet(ttl int64, values ...string) armdns.RecordSet {
	set := armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: to.Ptr(ttl), TxtRecords: []*armdns.TxtRecord{}}}
	for _, v := range values {
		set.Properties.TxtRecords = append(set.Properties.TxtRecords, &armdns.TxtRecord{Value: []*string{to.Ptr(v)}})
	}
	return set
}

func respErr(err error) (int, string) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

func texts(set armdns.RecordSet) []string {
	var out []string
	for _, r := range set.Properties.TxtRecords {
		var b strings.Builder
		for _, v := range r.Value {
			b.WriteString(*v)
		}
		out = append(out, b.String())
	}
	slices.Sort(out)
	return out
}

// TestARMTwoValuesWithETags is the set strategy's write cycle: create both values under If-None-Match, replace
// the set under If-Match of the ETag read, lose to a stale ETag, delete under If-Match.
func TestARMTwoValuesWithETags(t *testing.T) {
	t.Parallel()
	s := start(t)
	rs := recordSets(t, s, sdkOptions{})
	ctx := context.Background()
	const name = "_acme-challenge"

	created, err := rs.CreateOrUpdate(ctx, group, "example.com", name, armdns.RecordTypeTXT, txtSet(60, "apex-value", "wildcard-value"), &armdns.RecordSetsClientCreateOrUpdateOptions{IfNoneMatch: to.Ptr("*")})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if got := texts(created.RecordSet); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Errorf("created %q", got)
	}
	if *created.Name != name || *created.Type != "Microsoft.Network/dnszones/TXT" || *created.Properties.Fqdn != "_acme-challenge.example.com." ||
		!strings.HasSuffix(*created.ID, "/resourceGroups/"+group+"/providers/Microsoft.Network/dnszones/example.com/TXT/_acme-challenge") {
		t.Errorf("created set %s %s %s %s", *created.Name, *created.Type, *created.Properties.Fqdn, *created.ID)
	}
	etag := *created.Etag
	if etag == "" || etag != s.ETag("example.com", name, "TXT") {
		t.Fatalf("ETag %q, store has %q", etag, s.ETag("example.com", name, "TXT"))
	}

	// A second create-only PUT fails: the set exists.
	_, err = rs.CreateOrUpdate(ctx, group, "example.com", name, armdns.RecordTypeTXT, txtSet(60, "other"), &armdns.RecordSetsClientCreateOrUpdateOptions{IfNoneMatch: to.Ptr("*")})
	if code, ec := respErr(err); code != 412 || ec != "PreconditionFailed" || !strings.Contains(err.Error(), "The condition '*' in the If-None-Match header was not satisfied") {
		t.Errorf("create over an existing set: %v, want 412 PreconditionFailed", err)
	}

	// Read, then write the set back with one value less under If-Match: the ETag changes.
	got, err := rs.Get(ctx, group, "example.com", name, armdns.RecordTypeTXT, nil)
	if err != nil || *got.Etag != etag {
		t.Fatalf("get: %v, ETag %v", err, got.Etag)
	}
	updated, err := rs.CreateOrUpdate(ctx, group, "example.com", name, armdns.RecordTypeTXT, txtSet(60, "wildcard-value"), &armdns.RecordSetsClientCreateOrUpdateOptions{IfMatch: got.Etag})
	if err != nil {
		t.Fatalf("update with the current ETag: %v", err)
	}
	if *updated.Etag == etag {
		t.Error("the ETag did not change on update")
	}
	if got := s.TXT("_acme-challenge.example.com."); !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("after the update %q", got)
	}

	// The writer that read before that update holds a stale ETag: its write and its delete fail.
	_, err = rs.CreateOrUpdate(ctx, group, "example.com", name, armdns.RecordTypeTXT, txtSet(60, "apex-value", "wildcard-value", "late"), &armdns.RecordSetsClientCreateOrUpdateOptions{IfMatch: to.Ptr(etag)})
	if code, ec := respErr(err); code != 412 || ec != "PreconditionFailed" {
		t.Errorf("update with a stale ETag: %v, want 412", err)
	}
	_, err = rs.Delete(ctx, group, "example.com", name, armdns.RecordTypeTXT, &armdns.RecordSetsClientDeleteOptions{IfMatch: to.Ptr(etag)})
	if code, _ := respErr(err); code != 412 {
		t.Errorf("delete with a stale ETag: %v, want 412", err)
	}
	if got := s.TXT("_acme-challenge.example.com."); !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("a refused write changed the set: %q", got)
	}

	// PATCH updates what it is given under If-Match; the records stay.
	patched, err := rs.Update(ctx, group, "example.com", name, armdns.RecordTypeTXT, armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: to.Ptr[int64](120)}}, &armdns.RecordSetsClientUpdateOptions{IfMatch: updated.Etag})
	if err != nil || *patched.Properties.TTL != 120 || !slices.Equal(texts(patched.RecordSet), []string{"wildcard-value"}) {
		t.Errorf("patch of the TTL: %v, %+v", err, patched.Properties)
	}

	// Delete with the current ETag; then the set is gone, a plain delete is 204 and no error, an If-Match one 412.
	if _, err := rs.Delete(ctx, group, "example.com", name, armdns.RecordTypeTXT, &armdns.RecordSetsClientDeleteOptions{IfMatch: patched.Etag}); err != nil {
		t.Fatalf("delete with the current ETag: %v", err)
	}
	if got := s.TXT("_acme-challenge.example.com."); got != nil {
		t.Errorf("after delete %q", got)
	}
	_, err = rs.Get(ctx, group, "example.com", name, armdns.RecordTypeTXT, nil)
	if code, ec := respErr(err); code != 404 || ec != "NotFound" {
		t.Errorf("get after delete: %v, want 404 NotFound", err)
	}
	if _, err := rs.Delete(ctx, group, "example.com", name, armdns.RecordTypeTXT, nil); err != nil {
		t.Errorf("delete of a missing set: %v, want success", err)
	}
	if n := len(s.Requests()); s.Requests()[n-1].Status != http.StatusNoContent {
		t.Errorf("delete of a missing set answered %d, want 204", s.Requests()[n-1].Status)
	}
	_, err = rs.Delete(ctx, group, "example.com", name, armdns.RecordTypeTXT, &armdns.RecordSetsClientDeleteOptions{IfMatch: patched.Etag})
	if code, _ := respErr(err); code != 412 {
		t.Errorf("If-Match delete of a missing set: %v, want 412", err)
	}
	_, err = rs.Update(ctx, group, "example.com", name, armdns.RecordTypeTXT, txtSet(60, "x"), nil)
	if code, _ := respErr(err); code != 404 {
		t.Errorf("patch of a missing set: %v, want 404", err)
	}
}

func TestARMValidation(t *testing.T) {
	t.Parallel()
	s := start(t)
	rs := recordSets(t, s, sdkOptions{})
	ctx := context.Background()
	_, err := rs.CreateOrUpdate(ctx, group, "example.com", "dup", armdns.RecordTypeTXT, txtSet(60, "same", "same"), nil)
	if code, ec := respErr(err); code != 400 || ec != "BadRequest" || !strings.Contains(err.Error(), "may not contain multiple entries with the same 'value'") {
		t.Errorf("duplicate values: %v, want 400", err)
	}
	// A value of several strings is one record; its text is the strings joined.
	multi := armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: to.Ptr[int64](60), TxtRecords: []*armdns.TxtRecord{{Value: []*string{to.Ptr("abc"), to.Ptr("def")}}}}}
	if _, err := rs.CreateOrUpdate(ctx, group, "example.com", "multi", armdns.RecordTypeTXT, multi, nil); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT("multi.example.com"); !slices.Equal(got, []string{"abcdef"}) {
		t.Errorf("multi-string record %q", got)
	}
	// An empty set is allowed, as in Azure: it holds no value.
	if _, err := rs.CreateOrUpdate(ctx, group, "example.com", "empty", armdns.RecordTypeTXT, txtSet(60), nil); err != nil {
		t.Errorf("empty set: %v", err)
	}
	if got := s.TXT("empty.example.com"); got == nil || len(got) != 0 {
		t.Errorf("empty set %q, want present and empty", got)
	}
	_, err = rs.CreateOrUpdate(ctx, group, "example.com", "nottl", armdns.RecordTypeTXT, armdns.RecordSet{Properties: &armdns.RecordSetProperties{}}, nil)
	if code, _ := respErr(err); code != 400 {
		t.Errorf("no TTL: %v, want 400", err)
	}
	_, err = rs.Get(ctx, group, "example.org", "x", armdns.RecordTypeTXT, nil)
	if code, ec := respErr(err); code != 404 || ec != "ResourceNotFound" || !strings.Contains(err.Error(), "example.org") {
		t.Errorf("unknown zone: %v, want 404 ResourceNotFound", err)
	}
	_, err = rs.Get(ctx, "other-rg", "example.com", "x", armdns.RecordTypeTXT, nil)
	if code, ec := respErr(err); code != 404 || ec != "ResourceGroupNotFound" {
		t.Errorf("unknown resource group: %v, want 404 ResourceGroupNotFound", err)
	}
	_, err = rs.Delete(ctx, group, "example.com", "@", armdns.RecordTypeSOA, nil)
	if code, _ := respErr(err); code != 400 {
		t.Errorf("delete of the apex SOA: %v, want 400", err)
	}
	cname := armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: to.Ptr[int64](60), CnameRecord: &armdns.CnameRecord{Cname: to.Ptr("x.example.org")}}}
	_, err = rs.CreateOrUpdate(ctx, group, "example.com", "multi", armdns.RecordTypeCNAME, cname, nil)
	if code, _ := respErr(err); code != 409 {
		t.Errorf("CNAME beside a TXT: %v, want 409", err)
	}
	// Another subscription, and no api-version (raw requests).
	other, err := armdns.NewRecordSetsClient("00000000-0000-0000-0000-000000000000", credential(t, s, sdkOptions{}), &arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: s.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Get(ctx, group, "example.com", "x", armdns.RecordTypeTXT, nil)
	if code, ec := respErr(err); code != 404 || ec != "SubscriptionNotFound" {
		t.Errorf("another subscription: %v, want 404 SubscriptionNotFound", err)
	}
}

func TestARMPagination(t *testing.T) {
	t.Parallel()
	s := start(t, WithPageSize(3), WithZone(group, "example.org"), WithZone("other-rg", "example.net"))
	rs := recordSets(t, s, sdkOptions{})
	ctx := context.Background()
	for i := range 7 {
		if _, err := rs.CreateOrUpdate(ctx, group, "example.com", fmt.Sprintf("r%d", i), armdns.RecordTypeTXT, txtSet(60, "v"), nil); err != nil {
			t.Fatal(err)
		}
	}
	count := func(p interface {
		More() bool
	}, next func() (int, error)) (int, int) {
		items, pages := 0, 0
		for p.More() {
			n, err := next()
			if err != nil {
				t.Fatal(err)
			}
			items += n
			pages++
		}
		return items, pages
	}
	byType := rs.NewListByTypePager(group, "example.com", armdns.RecordTypeTXT, nil)
	items, pages := count(byType, func() (int, error) {
		p, err := byType.NextPage(ctx)
		return len(p.Value), err
	})
	if items != 7 || pages != 3 {
		t.Errorf("ListByType: %d sets on %d pages, want 7 on 3", items, pages)
	}
	all := rs.NewListAllByDNSZonePager(group, "example.com", &armdns.RecordSetsClientListAllByDNSZoneOptions{Top: to.Ptr[int32](2)})
	items, pages = count(all, func() (int, error) {
		p, err := all.NextPage(ctx)
		return len(p.Value), err
	})
	if items != 9 || pages != 5 { // 7 TXT, NS, SOA; 2 a page
		t.Errorf("ListAllByDNSZone with $top 2: %d sets on %d pages, want 9 on 5", items, pages)
	}
	suffix := rs.NewListByDNSZonePager(group, "example.com", &armdns.RecordSetsClientListByDNSZoneOptions{Recordsetnamesuffix: to.Ptr("r3")})
	p, err := suffix.NextPage(ctx)
	if err != nil || len(p.Value) != 1 || *p.Value[0].Name != "r3" {
		t.Errorf("suffix filter: %v, %d sets", err, len(p.Value))
	}
	// The nextLink is an absolute URL on management.azure.com, which the SDK follows as is.
	for _, r := range s.Requests() {
		if r.Query.Get("$skiptoken") != "" && r.Host != ARMHost {
			t.Errorf("nextLink request went to %q", r.Host)
		}
	}
	zc, err := armdns.NewZonesClient(s.Subscription(), credential(t, s, sdkOptions{}), &arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: s.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	var zones []string
	for zp := zc.NewListPager(&armdns.ZonesClientListOptions{Top: to.Ptr[int32](1)}); zp.More(); {
		page, err := zp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range page.Value {
			zones = append(zones, *z.Name+"@"+strings.Split(*z.ID, "/")[4])
		}
	}
	if want := []string{"example.com@" + group, "example.org@" + group, "example.net@other-rg"}; !slices.Equal(zones, want) {
		t.Errorf("zones %q, want %q", zones, want)
	}
	z, err := zc.Get(ctx, group, "example.com", nil)
	if err != nil || len(z.Properties.NameServers) != 4 || *z.Properties.NumberOfRecordSets != 9 {
		t.Errorf("zone get: %v %+v", err, z.Properties)
	}
}

func TestARMThrottling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("429 with Retry-After is waited out and retried", func(t *testing.T) {
		s := start(t)
		rs := recordSets(t, s, sdkOptions{})
		if _, err := rs.Get(ctx, group, "example.com", "@", armdns.RecordTypeSOA, nil); err != nil { // the token first
			t.Fatal(err)
		}
		s.RateLimit(1, time.Second, fakeapi.Match{Method: http.MethodPut})
		began := time.Now()
		if _, err := rs.CreateOrUpdate(ctx, group, "example.com", "x", armdns.RecordTypeTXT, txtSet(60, "v"), nil); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(began); d < time.Second {
			t.Errorf("the retry came after %v, before the Retry-After of 1 s", d)
		}
		if n := s.CountRequests(http.MethodPut, "/subscriptions/"); n != 2 {
			t.Errorf("%d PUTs, want 2", n)
		}
	})
	t.Run("429 without retries", func(t *testing.T) {
		s := start(t)
		rs := recordSets(t, s, sdkOptions{retry: policy.RetryOptions{MaxRetries: -1}})
		s.RateLimit(1, 7*time.Second, fakeapi.Match{PathPrefix: "/subscriptions/"})
		_, err := rs.Get(ctx, group, "example.com", "@", armdns.RecordTypeSOA, nil)
		code, ec := respErr(err)
		var re *azcore.ResponseError
		if code != 429 || ec != "TooManyRequests" || !errors.As(err, &re) || re.RawResponse.Header.Get("Retry-After") != "7" {
			t.Errorf("err %v, want 429 TooManyRequests with Retry-After 7", err)
		}
	})
	t.Run("rate window headers", func(t *testing.T) {
		s := start(t)
		rs := recordSets(t, s, sdkOptions{retry: policy.RetryOptions{MaxRetries: -1}})
		if _, err := rs.Get(ctx, group, "example.com", "@", armdns.RecordTypeSOA, nil); err != nil { // the token first
			t.Fatal(err)
		}
		// The window counts every request, the token endpoint's too, as one front end would.
		s.Limit(2, time.Minute, 0, true)
		var last *http.Response
		cctx := policy.WithCaptureResponse(ctx, &last)
		if _, err := rs.Get(cctx, group, "example.com", "@", armdns.RecordTypeSOA, nil); err != nil {
			t.Fatal(err)
		}
		if got := last.Header.Get("x-ms-ratelimit-remaining-subscription-reads"); got != "1" {
			t.Errorf("remaining reads %q, want 1", got)
		}
		_, _ = rs.Get(ctx, group, "example.com", "@", armdns.RecordTypeSOA, nil)
		_, err := rs.Get(ctx, group, "example.com", "@", armdns.RecordTypeSOA, nil)
		var re *azcore.ResponseError
		if code, _ := respErr(err); code != 429 || !errors.As(err, &re) || re.RawResponse.Header.Get("Retry-After") == "" {
			t.Errorf("past the window: %v, want 429 with Retry-After", err)
		}
	})
}

// TestTrafficStaysOnTheFake: every request, token and ARM, goes through the given transport to the two hosts;
// nothing reaches http.DefaultTransport (TestMain's guard), so nothing tries IMDS.
func TestTrafficStaysOnTheFake(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, disable := range []bool{false, true} {
		s := start(t)
		rs := recordSets(t, s, sdkOptions{disableDiscovery: disable})
		for range 2 {
			if _, err := rs.Get(ctx, group, "example.com", "@", armdns.RecordTypeNS, nil); err != nil {
				t.Fatal(err)
			}
		}
		var paths []string
		for _, r := range s.Requests() {
			if r.Host != ARMHost && r.Host != LoginHost {
				t.Errorf("request to %q", r.Host)
			}
			if r.Host == LoginHost {
				paths = append(paths, r.Method+" "+r.Path)
			}
		}
		want := []string{"GET /" + s.Tenant() + "/v2.0/.well-known/openid-configuration", "POST /" + s.Tenant() + "/oauth2/v2.0/token"}
		if !disable {
			// MSAL looks the authority's aliases up when it stores and reads the token.
			want = append(want, "GET /common/discovery/instance")
		}
		slices.Sort(paths)
		paths = slices.Compact(paths)
		slices.Sort(want)
		if !slices.Equal(paths, want) {
			t.Errorf("DisableInstanceDiscovery %v: login requests %q, want %q", disable, paths, want)
		}
		if n := s.CountRequests(http.MethodPost, "/"+s.Tenant()+"/oauth2/v2.0/token"); n != 1 {
			t.Errorf("%d token requests, want 1 (cached)", n)
		}
	}
}

func TestEntraErrors(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := context.Background()
	opts := policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}}
	tests := []struct {
		name             string
		tenant, id, sec  string
		contains, hidden string
	}{
		{"wrong secret", s.Tenant(), clientID, "not-the-secret", "AADSTS7000215", "not-the-secret"},
		{"unknown client is echoed", s.Tenant(), "0d000000-0000-4000-8000-000000000bad", secret, "AADSTS700016: Application with identifier '0d000000-0000-4000-8000-000000000bad'", secret},
		{"unknown tenant is echoed", "0e000000-0000-4000-8000-00000000beef", clientID, secret, "0e000000-0000-4000-8000-00000000beef", secret},
	}
	for _, tt := range tests {
		cred, err := azidentity.NewClientSecretCredential(tt.tenant, tt.id, tt.sec, &azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: s.Client()}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cred.GetToken(ctx, opts)
		var afe *azidentity.AuthenticationFailedError
		if !errors.As(err, &afe) || !strings.Contains(err.Error(), tt.contains) || strings.Contains(err.Error(), tt.hidden) {
			t.Errorf("%s: %v, want an AuthenticationFailedError with %q and without %q", tt.name, err, tt.contains, tt.hidden)
		}
	}
	cred := credential(t, s, sdkOptions{})
	_, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS70011") {
		t.Errorf("another resource's scope: %v, want AADSTS70011", err)
	}

	// ARM itself: no token, an unknown one (echoed), an expired one; and no api-version.
	do := func(authz, query string) (int, string) {
		u := "https://" + ARMHost + "/subscriptions/" + s.Subscription() + "/resourceGroups/" + group + "/providers/Microsoft.Network/dnsZones/example.com" + query
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate") + " " + string(b)
	}
	q := "?api-version=" + APIVersion
	if code, body := do("", q); code != 401 || !strings.Contains(body, "AuthenticationFailed") || !strings.Contains(body, `authorization_uri="https://`+LoginHost) {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, body := do("Bearer eyJhbGciOi.not-issued.here", q); code != 401 || !strings.Contains(body, "InvalidAuthenticationToken") || !strings.Contains(body, "eyJhbGciOi.not-issued.here") {
		t.Errorf("unknown token: %d %s, want 401 echoing it", code, body)
	}
	tok, err := cred.GetToken(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := do("Bearer "+tok.Token, ""); code != 400 || !strings.Contains(body, "MissingApiVersionParameter") {
		t.Errorf("no api-version: %d %s", code, body)
	}
	if code, body := do("Bearer "+tok.Token, "?api-version=2016-04-01"); code != 400 || !strings.Contains(body, "NoRegisteredProviderFound") {
		t.Errorf("an old api-version: %d %s", code, body)
	}
	if code, body := do("Bearer "+tok.Token, q); code != 200 || !strings.Contains(body, `"nameServers"`) {
		t.Errorf("zone get: %d %s", code, body)
	}
}

func TestARMExpiredToken(t *testing.T) {
	t.Parallel()
	// Tokens of 1 s: azidentity refreshes a token minutes before it expires, so each call gets a fresh one.
	s := start(t, WithTokenLifetime(time.Second))
	rs := recordSets(t, s, sdkOptions{})
	ctx := context.Background()
	for i := range 2 {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond)
		}
		if _, err := rs.Get(ctx, group, "example.com", "@", armdns.RecordTypeNS, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.CountRequests(http.MethodPost, "/"+s.Tenant()+"/oauth2/v2.0/token"); n < 2 {
		t.Errorf("%d token requests, want a refresh", n)
	}
}

func TestARMMirror(t *testing.T) {
	t.Parallel()
	m := &recordingMirror{}
	s := start(t, WithMirror(m))
	rs := recordSets(t, s, sdkOptions{})
	ctx := context.Background()
	const fqdn = "_acme-challenge.example.com."
	if _, err := rs.CreateOrUpdate(ctx, group, "example.com", "_acme-challenge", armdns.RecordTypeTXT, txtSet(60, "one", "two"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.CreateOrUpdate(ctx, group, "example.com", "_acme-challenge", armdns.RecordTypeTXT, txtSet(60, "two", "three"), nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"append " + fqdn + " one", "append " + fqdn + " two", "append " + fqdn + " three", "delete " + fqdn + " one"}
	if got := m.log(); !slices.Equal(got, want) {
		t.Errorf("mirrored %q, want %q (a replace mirrors the difference)", got, want)
	}
	m.fail(true)
	_, err := rs.Delete(ctx, group, "example.com", "_acme-challenge", armdns.RecordTypeTXT, nil)
	if code, _ := respErr(err); code != 500 {
		t.Errorf("delete with a failing mirror: %v, want 500", err)
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

func (m *recordingMirror) AppendTXT(_ context.Context, fqdn, value string, _ int) error {
	return m.record("append " + fqdn + " " + value)
}

func (m *recordingMirror) DeleteTXT(_ context.Context, fqdn, value string) error {
	return m.record("delete " + fqdn + " " + value)
}

func TestARMMirrorIntoBIND(t *testing.T) {
	t.Parallel()
	bind := testdns.Start(t, testdns.Zone{Name: "validation.example.org.", Updatable: true})
	s := start(t, WithZone(group, "validation.example.org"), WithMirror(bind))
	rs := recordSets(t, s, sdkOptions{})
	ctx := context.Background()
	const fqdn = "_acme-challenge.validation.example.org."
	if _, err := rs.CreateOrUpdate(ctx, group, "validation.example.org", "_acme-challenge", armdns.RecordTypeTXT, txtSet(60, "apex-value", "wildcard-value"), &armdns.RecordSetsClientCreateOrUpdateOptions{IfNoneMatch: to.Ptr("*")}); err != nil {
		t.Fatal(err)
	}
	got, err := bind.LookupTXT(fqdn)
	if err != nil || !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("DNS sees %q (%v), want both values", got, err)
	}
	cur, err := rs.Get(ctx, group, "validation.example.org", "_acme-challenge", armdns.RecordTypeTXT, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.CreateOrUpdate(ctx, group, "validation.example.org", "_acme-challenge", armdns.RecordTypeTXT, txtSet(60, "wildcard-value"), &armdns.RecordSetsClientCreateOrUpdateOptions{IfMatch: cur.Etag}); err != nil {
		t.Fatal(err)
	}
	got, err = bind.LookupTXT(fqdn)
	if err != nil || !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("DNS sees %q (%v) after the set lost one value, want the sibling", got, err)
	}
}

// TestRegionAutodetectEscapesToIMDS is the trap behind "nothing may try 169.254.169.254": with
// AZURE_REGIONAL_AUTHORITY_NAME=TryAutoDetect, MSAL asks IMDS for the region through its own http.Client (so
// http.DefaultTransport), not the transport the credential was given. The webhook must clear that variable (or
// refuse to start with it). Not parallel: it sets the environment and expects one escape.
func TestRegionAutodetectEscapesToIMDS(t *testing.T) {
	t.Setenv("AZURE_REGIONAL_AUTHORITY_NAME", "TryAutoDetect")
	s := start(t)
	before := len(escaped.seen())
	cred := credential(t, s, sdkOptions{})
	_, _ = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}})
	seen := escaped.seen()[before:]
	expectedEscapes += len(seen)
	if !slices.Contains(seen, "169.254.169.254") {
		t.Errorf("escaped requests %q, want MSAL's IMDS region probe", seen)
	}
}

// recordingTransporter records the hosts it is asked for and refuses them all.
type recordingTransporter struct{ guard }

func (r *recordingTransporter) Do(req *http.Request) (*http.Response, error) { return r.RoundTrip(req) }

// TestManagedIdentityAsksIMDS: a credential without secret fields is what libdns/azure falls back to, and a
// ManagedIdentityCredential asks IMDS for its token, whatever transport it is given. The webhook must never build
// one unless the challenge allows ambient credentials.
func TestManagedIdentityAsksIMDS(t *testing.T) {
	t.Parallel()
	rt := &recordingTransporter{}
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: rt, Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.core.windows.net//.default"}}); err == nil {
		t.Fatal("a managed identity token without IMDS")
	}
	if seen := rt.seen(); !slices.Contains(seen, "169.254.169.254") {
		t.Errorf("managed identity asked %q, want IMDS at 169.254.169.254", seen)
	}
}
