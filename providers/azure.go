//go:build !minimal

package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// azureConfig is the azure provider block. Its fields are libdns/azure's, but the webhook drives the Azure SDK's
// armdns record sets itself: libdns/azure v0.5.0 cannot hold two TXT values at one name (its append sends
// If-None-Match: *, which Azure refuses once the sibling's set exists; its delete removes the whole set).
type azureConfig struct {
	// TenantID is the Microsoft Entra tenant (directory) ID of the service principal.
	TenantID string `json:"tenant_id,omitempty"`
	// ClientID is the application (client) ID of the service principal. Without client_secret (ambient
	// credentials only), the client ID of the workload or user-assigned managed identity; optional there.
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret is the service principal's client secret: its value, not its ID. From a Secret.
	ClientSecret string `json:"client_secret,omitempty"`
	// SubscriptionID is the subscription that holds the DNS zone.
	SubscriptionID string `json:"subscription_id,omitempty"`
	// ResourceGroupName is the resource group that holds the DNS zone.
	ResourceGroupName string `json:"resource_group_name,omitempty"`
}

const (
	// azureMaxRecords is Azure DNS's limit of records in one record set.
	azureMaxRecords = 20
	// azureAttempts bounds the writes of one batch that another writer's change (412) can force to start over.
	azureAttempts = 4
)

func azureEntry() *Entry {
	return &Entry{
		Name:        "azure",
		Module:      "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns",
		New:         func() any { return new(azureConfig) },
		Credentials: []string{"client_secret"},
		Required: []Field{
			{"subscription_id", "the ID of the Azure subscription that holds the DNS zone"},
			{"resource_group_name", "the resource group that holds the DNS zone"},
		},
		// Azure DNS accepts any TTL from 1 s.
		MinTTL: time.Second,
		// Resource Manager allows a subscription 1200 writes and 12000 reads an hour; a batch is a read and a write.
		RateLimit: Rate{PerSecond: 1, Burst: 50},
		Strategy:  Set,
		Zones:     "lists the resource group's public DNS zones (all pages) and takes the longest match",
		Test:      FakeAPI,
		HTTP: "the Azure SDK (armdns, azidentity) with the webhook's client as its transport, for the token and every " +
			"ARM request; the SDK's own retries are off (the webhook's transport retries 429 and 5xx); the public cloud " +
			"is set explicitly, so AZURE_AUTHORITY_HOST is not read",
		Env: []string{
			"AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID (the pod's workload identity; ambient credentials only)",
			"IDENTITY_ENDPOINT, IMDS_ENDPOINT, MSI_ENDPOINT (managed identity; ambient credentials only)",
			"AZURE_REGIONAL_AUTHORITY_NAME (TryAutoDetect is refused: MSAL would ask instance metadata for the region)",
			"AZURE_SDK_GO_LOGGING (the SDK's request log to stderr)",
		},
		Quirks: []string{
			"libdns/azure is not used: it cannot hold two TXT values at one name (append is create-only with If-None-Match: *, delete removes the whole set) and prints every record with fmt.Println",
			"every write replaces the whole TXT record set: the set is read with its ETag and written back under the set strategy's Lease lock, with If-Match (If-None-Match: * when it did not exist); a 412 means another writer changed it, so it is read again and the change redone, a few times",
			"the set is deleted, with If-Match, when its last value goes; a set's TTL and metadata are kept when it is rewritten",
			"Azure DNS holds at most 20 records in one record set: more than 20 challenges pending at one alias name fail until some clean up (give busy domains their own domainAlias through delegations)",
			"without client_secret the pod's own identity is used (workload identity when AZURE_FEDERATED_TOKEN_FILE is set, else the managed identity through instance metadata), only when cert-manager allows ambient credentials for the issuer; it needs the pod's workload identity set up (service account annotation and federated credential)",
			"errors are shortened to the ARM or Entra code and message, with bearer tokens cut out",
		},
		Example: "tenant_id: 7e3f5a10-0000-4000-8000-00000000d0e5\nclient_id: 3c1f0d52-0000-4000-8000-0000000c11e7\n" +
			"client_secret: {secretKeyRef: {name: azure-dns, key: client-secret}}\n" +
			"subscription_id: 5b0c8a2e-0000-4000-8000-0000000005b5\nresource_group_name: dns-rg\n",
		Build: buildAzure,
	}
}

func buildAzure(v any, env Env) (Writer, error) {
	c := v.(*azureConfig)
	if strings.EqualFold(os.Getenv("AZURE_REGIONAL_AUTHORITY_NAME"), "TryAutoDetect") {
		return nil, fmt.Errorf("config.%s: the webhook's environment sets AZURE_REGIONAL_AUTHORITY_NAME=TryAutoDetect, which makes "+
			"the Azure SDK ask instance metadata (169.254.169.254) for its region outside the webhook's transport; unset it "+
			"or name the region", env.Path)
	}
	client := env.Client()
	// The cloud is set, not left to AZURE_AUTHORITY_HOST; retries are the webhook transport's, not the SDK's on top.
	opts := azcore.ClientOptions{Cloud: cloud.AzurePublic, Transport: client, Retry: policy.RetryOptions{MaxRetries: -1}}
	var cred azcore.TokenCredential
	var err error
	switch {
	case c.ClientSecret != "":
		var errs []error
		if strings.TrimSpace(c.TenantID) == "" {
			errs = append(errs, fmt.Errorf("config.%s.tenant_id: is required with client_secret: the Entra tenant (directory) ID", env.Path))
		}
		if strings.TrimSpace(c.ClientID) == "" {
			errs = append(errs, fmt.Errorf("config.%s.client_id: is required with client_secret: the application (client) ID of the service principal", env.Path))
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		cred, err = azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, c.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	case !env.AllowAmbientCredentials:
		return nil, fmt.Errorf("config.%s.client_secret: is required: cert-manager does not allow ambient credentials for "+
			"this issuer (they are allowed for ClusterIssuers, or with --issuer-ambient-credentials); set tenant_id, "+
			"client_id and client_secret (from a Secret) of a service principal with DNS Zone Contributor on the zone", env.Path)
	case os.Getenv("AZURE_FEDERATED_TOKEN_FILE") != "":
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: opts, ClientID: c.ClientID, TenantID: c.TenantID})
	default:
		mo := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if c.ClientID != "" {
			mo.ID = azidentity.ClientID(c.ClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(mo)
	}
	if err != nil {
		return nil, fmt.Errorf("config.%s: building the Azure credential: %w", env.Path, err)
	}
	armOpts := &arm.ClientOptions{ClientOptions: opts}
	sets, err := armdns.NewRecordSetsClient(c.SubscriptionID, cred, armOpts)
	if err != nil {
		return nil, fmt.Errorf("config.%s: %w", env.Path, err)
	}
	zones, err := armdns.NewZonesClient(c.SubscriptionID, cred, armOpts)
	if err != nil {
		return nil, fmt.Errorf("config.%s: %w", env.Path, err)
	}
	ops := &azureOps{sets: sets, zones: zones, group: c.ResourceGroupName, seen: map[string]azureSeen{}}
	// Every request, the token's included, goes through env.Client, which paces it: no pacing per call on top.
	return azureEntry().writer(&libdnsWriter{zones: ops.findZone, explain: explainAzure, httpPaced: true}, env, ops, false), nil
}

// azureOps reads and writes TXT record sets through armdns, with ARM's optimistic concurrency: each write names
// the ETag of the set it was computed from.
type azureOps struct {
	sets  *armdns.RecordSetsClient
	zones *armdns.ZonesClient
	group string

	mu sync.Mutex
	// seen holds, per (zone, name), the set as Values last read it, for the Write of the same batch.
	seen map[string]azureSeen
}

// azureSeen is a record set as read; a zero one means there was none.
type azureSeen struct {
	etag string
	set  *armdns.RecordSet
}

func (o *azureOps) remember(zone, fqdn string, s azureSeen) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen[zone+"\x00"+fqdn] = s
}

func (o *azureOps) recall(zone, fqdn string) azureSeen {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[zone+"\x00"+fqdn]
}

func (o *azureOps) forget(zone, fqdn string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.seen, zone+"\x00"+fqdn)
}

// Values implements SetOps: it GETs the TXT record set and remembers its ETag.
func (o *azureOps) Values(ctx context.Context, zone, fqdn string) ([]string, error) {
	ctx = azureOwnErrors(ctx)
	resp, err := o.sets.Get(ctx, o.group, dnsname.Bare(zone), dnsname.Relative(fqdn, zone), armdns.RecordTypeTXT, nil)
	var re *azcore.ResponseError
	switch {
	case errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode == "NotFound":
		// The record set does not exist (a missing zone is 404 too, with another code, and stays an error).
		o.remember(zone, fqdn, azureSeen{})
		return nil, nil
	case err != nil:
		return nil, azureError("reading the TXT record set", err)
	}
	etag := "*" // ARM always sends one; without it the write is still refused if the set went away
	if resp.Etag != nil {
		etag = *resp.Etag
	}
	set := resp.RecordSet
	o.remember(zone, fqdn, azureSeen{etag: etag, set: &set})
	return azureTexts(&set), nil
}

// Write implements SetOps: one PUT of the merged set (or DELETE of an emptied one), conditional on the ETag just
// read. A 412 means the set changed in between: it is read again and the change applied to what is there now.
func (o *azureOps) Write(ctx context.Context, zone, fqdn string, _ []string, adds []Mutation, removes []string) (addErr, removeErr error) {
	ctx = azureOwnErrors(ctx)
	defer o.forget(zone, fqdn)
	for attempt := 1; ; attempt++ {
		err := o.write(ctx, zone, fqdn, o.recall(zone, fqdn), adds, removes)
		var re *azcore.ResponseError
		if err == nil || !errors.As(err, &re) || re.StatusCode != http.StatusPreconditionFailed {
			if err != nil {
				err = azureError("writing the TXT record set", err)
			}
			return err, err
		}
		if attempt == azureAttempts {
			err = fmt.Errorf("the TXT record set at %s kept changing while the webhook wrote it (%d times HTTP 412): %w",
				fqdn, attempt, azureError("writing the TXT record set", err))
			return err, err
		}
		if _, err := o.Values(ctx, zone, fqdn); err != nil {
			return err, err
		}
	}
}

func (o *azureOps) write(ctx context.Context, zone, fqdn string, seen azureSeen, adds []Mutation, removes []string) error {
	zoneName, rel := dnsname.Bare(zone), dnsname.Relative(fqdn, zone)
	var recs []*armdns.TxtRecord
	props := &armdns.RecordSetProperties{}
	changed := false
	if seen.set != nil && seen.set.Properties != nil {
		props.TTL, props.Metadata = seen.set.Properties.TTL, seen.set.Properties.Metadata
		for _, r := range seen.set.Properties.TxtRecords {
			if slices.Contains(removes, azureText(r)) {
				changed = true
				continue
			}
			recs = append(recs, r)
		}
	}
	ttl := int64(0)
	for _, m := range adds {
		if slices.ContainsFunc(recs, func(r *armdns.TxtRecord) bool { return azureText(r) == m.Value }) {
			continue
		}
		v := m.Value
		recs = append(recs, &armdns.TxtRecord{Value: []*string{&v}})
		changed = true
		if s := int64(m.TTL / time.Second); ttl == 0 || s < ttl {
			ttl = s
		}
	}
	switch {
	case !changed:
		return nil
	case seen.etag != "" && len(recs) == 0:
		_, err := o.sets.Delete(ctx, o.group, zoneName, rel, armdns.RecordTypeTXT, &armdns.RecordSetsClientDeleteOptions{IfMatch: &seen.etag})
		return err
	case len(recs) > azureMaxRecords:
		return fmt.Errorf("%d TXT values would be at %s, and Azure DNS holds at most %d records in one record set", len(recs), fqdn, azureMaxRecords)
	}
	opts := &armdns.RecordSetsClientCreateOrUpdateOptions{}
	if seen.etag != "" {
		opts.IfMatch = &seen.etag
	} else {
		star := "*"
		opts.IfNoneMatch = &star
	}
	if props.TTL == nil {
		// A new set gets the ttl asked for; an existing one keeps its own, which the other values share.
		ttl = max(ttl, 1)
		props.TTL = &ttl
	}
	props.TxtRecords = recs
	_, err := o.sets.CreateOrUpdate(ctx, o.group, zoneName, rel, armdns.RecordTypeTXT, armdns.RecordSet{Properties: props}, opts)
	return err
}

// findZone lists the resource group's DNS zones, every page, and returns the longest that holds fqdn.
func (o *azureOps) findZone(ctx context.Context, fqdn string) (string, error) {
	ctx = azureOwnErrors(ctx)
	pager := o.zones.NewListByResourceGroupPager(o.group, nil)
	var names []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", azureHint(azureError("listing the DNS zones of resource group "+o.group, err), "the zone of "+fqdn)
		}
		for _, z := range page.Value {
			if z == nil || z.Name == nil {
				continue
			}
			if z.Properties != nil && z.Properties.ZoneType != nil && *z.Properties.ZoneType == armdns.ZoneTypePrivate {
				continue
			}
			names = append(names, *z.Name)
		}
	}
	return LongestZone(fqdn, names)
}

// azureOwnErrors gives ctx a request-failure tracker of its own, which nobody reads: the webhook's transport notes
// every request that ends in 4xx or 5xx so that a library that drops an error cannot report success, but here
// every answer is checked, and a 404 (no set yet) or a 412 (changed meanwhile) is an expected one.
func azureOwnErrors(ctx context.Context) context.Context {
	ctx, _ = withFailures(ctx)
	return ctx
}

// azureText is a TXT record's text: its strings joined, as DNS serves them.
func azureText(r *armdns.TxtRecord) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	for _, s := range r.Value {
		if s != nil {
			b.WriteString(*s)
		}
	}
	return b.String()
}

func azureTexts(set *armdns.RecordSet) []string {
	if set == nil || set.Properties == nil {
		return nil
	}
	out := make([]string, 0, len(set.Properties.TxtRecords))
	for _, r := range set.Properties.TxtRecords {
		out = append(out, azureText(r))
	}
	return out
}

// azureTokens matches bearer tokens (JWTs) an error body might carry.
var azureTokens = regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/=-]+|eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.~+/=-]+`)

// azureError shortens the SDK's multi-line errors (request, headers, whole body) to one line: what was done, the
// status, and ARM's or Entra's code and message, with bearer tokens cut out.
func azureError(what string, err error) error {
	var re *azcore.ResponseError
	var af *azidentity.AuthenticationFailedError
	var msg string
	switch {
	case errors.As(err, &re):
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if raw, perr := runtime.Payload(re.RawResponse); perr == nil {
			_ = json.Unmarshal(raw, &body)
		}
		code := re.ErrorCode
		if code == "" {
			code = body.Error.Code
		}
		msg = fmt.Sprintf("Azure answered HTTP %d %s: %s", re.StatusCode, code, body.Error.Message)
	case errors.As(err, &af):
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		status := 0
		if af.RawResponse != nil {
			status = af.RawResponse.StatusCode
			if raw, perr := runtime.Payload(af.RawResponse); perr == nil {
				_ = json.Unmarshal(raw, &body)
			}
		}
		if body.Error == "" {
			msg = "signing in at Microsoft Entra ID failed: " + azureFirstLine(af.Error())
		} else {
			desc, _, _ := strings.Cut(body.Description, " Trace ID:")
			msg = fmt.Sprintf("signing in at Microsoft Entra ID failed: HTTP %d %s: %s", status, body.Error, desc)
		}
	default:
		msg = azureFirstLine(err.Error())
	}
	return fmt.Errorf("%s: %s", what, azureTokens.ReplaceAllString(msg, "[redacted]"))
}

func azureFirstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// explainAzure adds what to do to the errors users meet most.
func explainAzure(err error, rec Record) error { return azureHint(err, "the zone "+rec.Zone) }

func azureHint(err error, where string) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "AADSTS7000215"), strings.Contains(msg, "invalid_client"):
		return fmt.Errorf("%w: Entra ID refused the client secret; check that the Secret holds the secret's value (not its ID) of client_id's application", err)
	case strings.Contains(msg, "AADSTS700016"), strings.Contains(msg, "unauthorized_client"):
		return fmt.Errorf("%w: client_id is not an application of tenant_id", err)
	case strings.Contains(msg, "AADSTS90002"):
		return fmt.Errorf("%w: tenant_id names no Entra tenant", err)
	case strings.Contains(msg, "AuthorizationFailed"), strings.Contains(msg, "HTTP 403"):
		return fmt.Errorf("%w: give the identity the role DNS Zone Contributor on %s (or its resource group)", err, where)
	case strings.Contains(msg, "ResourceNotFound"), strings.Contains(msg, "ResourceGroupNotFound"),
		strings.Contains(msg, "SubscriptionNotFound"), strings.Contains(msg, "ParentResourceNotFound"):
		return fmt.Errorf("%w: check subscription_id and resource_group_name, and that %s is in that resource group", err, where)
	case strings.Contains(msg, "at most 20 records"), strings.Contains(msg, "exceeds the limit"):
		return fmt.Errorf("%w: too many challenges are pending at one name; cert-manager retries as others clean up, or give busy domains their own domainAlias", err)
	}
	return err
}

var _ SetOps = (*azureOps)(nil)
