//go:build !minimal

package providers

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeazuredns"
)

const (
	azureTestClient = "3c1f0d52-0000-4000-8000-0000000c11e7"
	azureTestSecret = "azure~unit~secret~0123456789abcdef"
	azureTestZone   = "azure.test."
	azureTestFQDN   = "_acme-challenge.validation.azure.test."
)

func startAzure(t *testing.T) *fakeazuredns.Server {
	t.Helper()
	s, err := fakeazuredns.Start(fakeazuredns.WithClientSecret(azureTestClient, azureTestSecret), fakeazuredns.WithZone("dns-rg", "azure.test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// azureTestOps builds the azure writer on the fake and returns its SetOps.
func azureTestOps(t *testing.T, s *fakeazuredns.Server) *azureOps {
	t.Helper()
	w, err := azureEntry().NewWriter(&azureConfig{TenantID: s.Tenant(), ClientID: azureTestClient, ClientSecret: azureTestSecret,
		SubscriptionID: s.Subscription(), ResourceGroupName: "dns-rg"}, Env{Path: "aliasProvider.azure", HTTPClient: s.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return w.(*setWriter).ops.(*azureOps)
}

// TestAzureWriteRedoesAChangeAfter412 is the hazard the ETags close: a writer outside the webhook's lock (or a
// replica whose lock lapsed) changes the set between the read and the write; the write must not put back the
// set it read, dropping that change, but read again and apply its own change to what is there.
func TestAzureWriteRedoesAChangeAfter412(t *testing.T) {
	t.Parallel()
	s := startAzure(t)
	ops := azureTestOps(t, s)
	ctx := context.Background()
	if _, err := ops.Values(ctx, azureTestZone, azureTestFQDN); err != nil {
		t.Fatal(err)
	}
	// Meanwhile another writer creates the set with its own value, unconditionally.
	other, ttl := "foreign-value", int64(300)
	if _, err := ops.sets.CreateOrUpdate(ctx, "dns-rg", "azure.test", "_acme-challenge.validation", armdns.RecordTypeTXT,
		armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: &ttl, TxtRecords: []*armdns.TxtRecord{{Value: []*string{&other}}}}}, nil); err != nil {
		t.Fatal(err)
	}
	addErr, _ := ops.Write(ctx, azureTestZone, azureTestFQDN, nil, []Mutation{{Value: "mine", Add: true, TTL: time.Minute}}, nil)
	if addErr != nil {
		t.Fatal(addErr)
	}
	if got := s.TXT(azureTestFQDN); !slices.Equal(got, []string{"foreign-value", "mine"}) {
		t.Fatalf("holds %q, want the other writer's value and ours", got)
	}
	if n := azureCountStatus(s, http.MethodPut, http.StatusPreconditionFailed); n != 1 {
		t.Errorf("%d PUTs refused with 412, want 1 (If-None-Match: * on a set made meanwhile)", n)
	}
	// Now the same on delete: the set changes after the read, the delete must not remove the newcomer.
	if _, err := ops.Values(ctx, azureTestZone, azureTestFQDN); err != nil {
		t.Fatal(err)
	}
	cur, err := ops.sets.Get(ctx, "dns-rg", "azure.test", "_acme-challenge.validation", armdns.RecordTypeTXT, nil)
	if err != nil {
		t.Fatal(err)
	}
	late := "late-value"
	cur.Properties.TxtRecords = append(cur.Properties.TxtRecords, &armdns.TxtRecord{Value: []*string{&late}})
	if _, err := ops.sets.CreateOrUpdate(ctx, "dns-rg", "azure.test", "_acme-challenge.validation", armdns.RecordTypeTXT, cur.RecordSet, nil); err != nil {
		t.Fatal(err)
	}
	if _, removeErr := ops.Write(ctx, azureTestZone, azureTestFQDN, nil, nil, []string{"mine", "foreign-value"}); removeErr != nil {
		t.Fatal(removeErr)
	}
	if got := s.TXT(azureTestFQDN); !slices.Equal(got, []string{"late-value"}) {
		t.Fatalf("holds %q, want only the value written after the read", got)
	}
	// The stale read held only our two values: the write was a DELETE of the whole set, refused by its If-Match.
	if n := azureCountStatus(s, http.MethodDelete, http.StatusPreconditionFailed); n != 1 {
		t.Errorf("%d DELETEs refused with 412, want 1 (If-Match of a set changed meanwhile)", n)
	}
	// The last value goes: the set is deleted, with If-Match.
	if _, err := ops.Values(ctx, azureTestZone, azureTestFQDN); err != nil {
		t.Fatal(err)
	}
	if _, removeErr := ops.Write(ctx, azureTestZone, azureTestFQDN, nil, nil, []string{"late-value"}); removeErr != nil {
		t.Fatal(removeErr)
	}
	if got := s.TXT(azureTestFQDN); got != nil {
		t.Fatalf("the emptied set is still there: %q", got)
	}
}

func azureCountStatus(s *fakeazuredns.Server, method string, status int) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && r.Status == status {
			n++
		}
	}
	return n
}

// staticToken is a credential that hands out a token ARM does not know; the fake echoes it in its 401.
type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestAzureErrorsCarryNoBearerToken(t *testing.T) {
	t.Parallel()
	s := startAzure(t)
	const token = "eyJ0eXAiOiJKV1QifQ.not-a-token-arm-knows.c2lnbmF0dXJl"
	sets, err := armdns.NewRecordSetsClient(s.Subscription(), staticToken(token), &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{Transport: s.Client(), Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	ops := &azureOps{sets: sets, group: "dns-rg", seen: map[string]azureSeen{}}
	_, err = ops.Values(context.Background(), azureTestZone, azureTestFQDN)
	if err == nil {
		t.Fatal("an unknown token was accepted")
	}
	if strings.Contains(err.Error(), "not-a-token-arm-knows") || !strings.Contains(err.Error(), "InvalidAuthenticationToken") {
		t.Errorf("error %q: want ARM's code, and no token", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q spans lines", err)
	}
}

func TestAzureCredentialChoice(t *testing.T) {
	t.Parallel()
	base := azureConfig{SubscriptionID: fakeazuredns.DefaultSubscription, ResourceGroupName: "dns-rg"}
	env := Env{Path: "aliasProvider.azure"}
	// Without a secret, and cert-manager not allowing ambient credentials: refused, naming the field.
	if _, err := azureEntry().NewWriter(&base, env); err == nil || !strings.Contains(err.Error(), "aliasProvider.azure.client_secret: is required") {
		t.Errorf("no secret, no ambient credentials: %v", err)
	}
	// A secret without the tenant and client IDs: both named.
	withSecret := base
	withSecret.ClientSecret = "s3cr3t-value"
	_, err := azureEntry().NewWriter(&withSecret, env)
	if err == nil || !strings.Contains(err.Error(), ".tenant_id: is required") || !strings.Contains(err.Error(), ".client_id: is required") ||
		strings.Contains(err.Error(), "s3cr3t-value") {
		t.Errorf("secret without tenant_id and client_id: %v", err)
	}
	// Ambient credentials allowed: the pod's identity, built without any request (a managed identity asks for
	// its token only when used).
	env.AllowAmbientCredentials = true
	if _, err := azureEntry().NewWriter(&base, env); err != nil {
		t.Errorf("ambient credentials: %v", err)
	}
}

// TestAzureRefusesRegionAutodetect: with AZURE_REGIONAL_AUTHORITY_NAME=TryAutoDetect MSAL would ask instance
// metadata for its region through a client of its own. Not parallel: it sets the environment.
func TestAzureRefusesRegionAutodetect(t *testing.T) {
	t.Setenv("AZURE_REGIONAL_AUTHORITY_NAME", "TryAutoDetect")
	_, err := azureEntry().NewWriter(&azureConfig{TenantID: fakeazuredns.DefaultTenant, ClientID: azureTestClient, ClientSecret: "x",
		SubscriptionID: fakeazuredns.DefaultSubscription, ResourceGroupName: "dns-rg"}, Env{Path: "provider.azure"})
	if err == nil || !strings.Contains(err.Error(), "AZURE_REGIONAL_AUTHORITY_NAME") {
		t.Errorf("TryAutoDetect: %v", err)
	}
}

// TestAzureTwentyRecordsAtMost: Azure DNS holds 20 records in a set; the 21st is refused before any write, and
// the error says why and what to do.
func TestAzureTwentyRecordsAtMost(t *testing.T) {
	t.Parallel()
	s := startAzure(t)
	ops := azureTestOps(t, s)
	ctx := context.Background()
	var adds []Mutation
	for i := range 21 {
		adds = append(adds, Mutation{Value: strings.Repeat("v", 10) + string(rune('a'+i)), Add: true, TTL: time.Minute})
	}
	if _, err := ops.Values(ctx, azureTestZone, azureTestFQDN); err != nil {
		t.Fatal(err)
	}
	addErr, _ := ops.Write(ctx, azureTestZone, azureTestFQDN, nil, adds, nil)
	if addErr == nil {
		t.Fatal("21 records were written")
	}
	if err := explainAzure(addErr, Record{Zone: azureTestZone}); !strings.Contains(err.Error(), "domainAlias") {
		t.Errorf("not explained: %v", err)
	}
	if puts := azureRequests(s, http.MethodPut); len(puts) != 0 {
		t.Errorf("PUTs sent: %q", puts)
	}
}

func azureRequests(s *fakeazuredns.Server, method string) []string {
	var out []string
	for _, r := range s.Requests() {
		if r.Method == method {
			out = append(out, r.Path)
		}
	}
	return out
}
