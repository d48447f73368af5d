//go:build !minimal

package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/httptransport"
	"google.golang.org/api/dns/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// googleConfig is the googleclouddns provider block: libdns/googleclouddns's name and gcp_project, but the webhook
// drives Cloud DNS v1 itself, because the library builds its client from a credentials file path (or ambient
// credentials) and lets no HTTP client in.
type googleConfig struct {
	// Project is the Google Cloud project ID that holds the managed zone.
	Project string `json:"gcp_project,omitempty"`
	// ServiceAccountJSON is a service account's JSON key (type service_account), from a Secret. Without it, and
	// only where cert-manager allows ambient credentials, the pod's Application Default Credentials are used.
	ServiceAccountJSON string `json:"service_account_json,omitempty"`
	// ApplicationDefault is libdns/googleclouddns's credentials file path. Refused: use ServiceAccountJSON.
	ApplicationDefault string `json:"gcp_application_default,omitempty"`
}

const (
	// googleAPI is Cloud DNS's endpoint, pinned so that no environment variable moves it (mTLS, universe).
	googleAPI = "https://dns.googleapis.com/"
	// googleTokenURL is where a service account signs in; a key naming another is refused.
	googleTokenURL = "https://oauth2.googleapis.com/token"
	// googleZonesTTL is how long the managed-zone map is trusted before a name missing from it lists the zones again.
	googleZonesTTL = 5 * time.Minute
	// googleAttempts bounds the writes of one batch that a concurrent change (409 on create, 404 on patch) can force
	// to start over.
	googleAttempts = 4
)

func googleclouddnsEntry() *Entry {
	return &Entry{
		Name:        "googleclouddns",
		Module:      "google.golang.org/api",
		New:         func() any { return new(googleConfig) },
		Credentials: []string{"service_account_json"},
		Required:    []Field{{"gcp_project", "the ID of the Google Cloud project that holds the managed zone"}},
		// Cloud DNS accepts any TTL from 1 s.
		MinTTL:   time.Second,
		Strategy: Set,
		Zones:    "lists the project's managed zones (all pages, public ones only) and takes the longest match; the managed zone of each DNS name is cached",
		Test:     FakeAPI,
		HTTP: "Cloud DNS v1 (google.golang.org/api) and the service account's token requests, both on the webhook's " +
			"client; the endpoint is pinned to dns.googleapis.com",
		Env: []string{
			"GOOGLE_APPLICATION_CREDENTIALS, CLOUDSDK_CONFIG, GCE_METADATA_HOST (Application Default Credentials; ambient credentials only)",
			"GOOGLE_SDK_GO_LOGGING_LEVEL (the auth library's debug log)",
		},
		Quirks: []string{
			"libdns/googleclouddns is not used: it takes its credentials from a file path (gcp_application_default, which also accepts external_account JSON that fetches URLs or runs programs) or ambient credentials, builds its client itself, and looks zones up without the call's context",
			"gcp_application_default is refused: put the service account's JSON key in a Secret and give it as service_account_json; only type service_account is accepted, signing in at oauth2.googleapis.com only",
			"without service_account_json the pod's Application Default Credentials (workload identity, metadata server) are used, only when cert-manager allows ambient credentials for the issuer",
			"every write replaces the whole TXT rrset (create, patch, or delete when the last value goes): the set is read and written back under the set strategy's Lease lock; a create that meets an rrset (409) or a patch that misses it (404) reads it again and redoes the change",
			"an rrset's TTL is kept when it is rewritten; TXT values are sent quoted, as Cloud DNS stores them",
			"errors are shortened to Google's code and message, with bearer tokens cut out",
		},
		Example: "gcp_project: my-dns-project\nservice_account_json: {secretKeyRef: {name: clouddns-key, key: key.json}}\n",
		Build:   buildGoogle,
	}
}

func buildGoogle(v any, env Env) (Writer, error) {
	c := v.(*googleConfig)
	if c.ApplicationDefault != "" {
		return nil, fmt.Errorf("config.%s.gcp_application_default: is not allowed: it is a path to a credentials file in the "+
			"webhook's pod; put the service account's JSON key in a Secret and give it as service_account_json: "+
			"{secretKeyRef: {name, key}}", env.Path)
	}
	if c.ServiceAccountJSON == "" && !env.AllowAmbientCredentials {
		return nil, fmt.Errorf("config.%s.service_account_json: is required: cert-manager does not allow ambient credentials "+
			"for this issuer (they are allowed for ClusterIssuers, or with --issuer-ambient-credentials); give a service "+
			"account's JSON key with the role DNS Administrator, as {secretKeyRef: {name, key}}", env.Path)
	}
	ops := &googleOps{project: c.Project, key: c.ServiceAccountJSON, path: env.Path, client: env.Client(),
		zones: map[string]string{}, seen: map[string]*dns.ResourceRecordSet{}}
	// Every request, the token's included, goes through env.Client, which paces it: no pacing per call on top.
	return googleclouddnsEntry().writer(&libdnsWriter{zones: ops.findZone, explain: explainGoogle, httpPaced: true}, env, ops, false), nil
}

// googleOps reads and writes TXT rrsets through Cloud DNS v1. Its service is built at first use: the key is
// checked then, so that a config is refused when a challenge uses it, with an error naming the field.
type googleOps struct {
	project, key, path string
	client             *http.Client

	mu  sync.Mutex
	svc *dns.Service
	// zones maps a managed zone's DNS name (canonical) to its name, the id the API takes; listed when it was filled.
	zones  map[string]string
	listed time.Time
	// seen holds, per (zone, name), the rrset as Values last read it (nil: none), for the Write of the same batch.
	seen map[string]*dns.ResourceRecordSet
}

// service returns the Cloud DNS client, building it on first use. A failure is not kept: the ambient path may
// fail for a passing reason (the metadata server), and a key's failure costs nothing to find again.
func (o *googleOps) service() (*dns.Service, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.svc != nil {
		return o.svc, nil
	}
	scopes := []string{dns.NdevClouddnsReadwriteScope}
	var creds *auth.Credentials
	var err error
	if o.key != "" {
		if err := checkServiceAccountKey([]byte(o.key)); err != nil {
			return nil, fmt.Errorf("config.%s.service_account_json: %w", o.path, err)
		}
		creds, err = credentials.NewCredentialsFromJSON(credentials.ServiceAccount, []byte(o.key),
			&credentials.DetectOptions{Scopes: scopes, Client: o.client})
		if err != nil {
			return nil, fmt.Errorf("config.%s.service_account_json: is not a usable service account key: %w", o.path, err)
		}
	} else {
		creds, err = credentials.DetectDefault(&credentials.DetectOptions{Scopes: scopes, Client: o.client})
		if err != nil {
			return nil, fmt.Errorf("config.%s: no service_account_json, and the pod's ambient Google credentials: %w", o.path, err)
		}
	}
	hc, err := httptransport.NewClient(&httptransport.Options{Credentials: creds, BaseRoundTripper: o.client.Transport})
	if err != nil {
		return nil, fmt.Errorf("config.%s: building the Cloud DNS client: %w", o.path, err)
	}
	svc, err := dns.NewService(context.Background(), option.WithHTTPClient(hc), option.WithEndpoint(googleAPI))
	if err != nil {
		return nil, fmt.Errorf("config.%s: building the Cloud DNS client: %w", o.path, err)
	}
	o.svc = svc
	return svc, nil
}

// checkServiceAccountKey accepts a service account's JSON key and nothing else: other credential types make the
// auth library fetch URLs, run programs or read files. Errors never quote the key.
func checkServiceAccountKey(raw []byte) error {
	var k struct {
		Type           string `json:"type"`
		ClientEmail    string `json:"client_email"`
		PrivateKey     string `json:"private_key"`
		TokenURI       string `json:"token_uri"`
		UniverseDomain string `json:"universe_domain"`
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return errors.New("is not JSON: give the service account's JSON key as the Cloud console downloads it (type service_account)")
	}
	switch {
	case k.Type != string(credentials.ServiceAccount):
		t := k.Type
		if len(t) > 40 {
			t = t[:40]
		}
		return fmt.Errorf("is a credential of type %q: only a service account's JSON key (type service_account) is accepted; "+
			"other types (external_account, authorized_user, impersonated_service_account) make the Google auth library "+
			"fetch URLs, run programs or read files in the webhook's pod", t)
	case k.ClientEmail == "" || k.PrivateKey == "":
		return errors.New("lacks client_email or private_key: give the whole JSON key of the service account")
	case k.TokenURI != "" && k.TokenURI != googleTokenURL:
		return fmt.Errorf("names the token_uri %q: the webhook signs in only at %s", k.TokenURI, googleTokenURL)
	case k.UniverseDomain != "" && k.UniverseDomain != "googleapis.com":
		return fmt.Errorf("names the universe %q: the webhook speaks only to googleapis.com", k.UniverseDomain)
	}
	return nil
}

// googleOwnErrors gives ctx a request-failure tracker of its own, which nobody reads: the webhook's transport notes
// every request that ends in 4xx or 5xx so that a library that drops an error cannot report success, but here
// every answer is checked, and a 404 (no rrset yet) or a 409 (created meanwhile) is an expected one.
func googleOwnErrors(ctx context.Context) context.Context {
	ctx, _ = withFailures(ctx)
	return ctx
}

// managedZone returns the name of the public managed zone whose DNS name is zone, listing the zones again when the
// map is old or lacks it.
func (o *googleOps) managedZone(ctx context.Context, zone string) (string, error) {
	o.mu.Lock()
	name, ok := o.zones[zone]
	fresh := time.Since(o.listed) < googleZonesTTL
	o.mu.Unlock()
	if ok && fresh {
		return name, nil
	}
	if _, err := o.listZones(ctx); err != nil {
		return "", err
	}
	o.mu.Lock()
	name, ok = o.zones[zone]
	o.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("project %s has no public managed zone for %s", o.project, zone)
	}
	return name, nil
}

// listZones lists every public managed zone of the project, all pages, and refills the map.
func (o *googleOps) listZones(ctx context.Context) ([]string, error) {
	svc, err := o.service()
	if err != nil {
		return nil, err
	}
	zones := map[string]string{}
	err = svc.ManagedZones.List(o.project).Context(ctx).Pages(ctx, func(page *dns.ManagedZonesListResponse) error {
		for _, z := range page.ManagedZones {
			if z.Visibility != "" && z.Visibility != "public" {
				continue // a private zone of the same name is not what the CA sees
			}
			if c, err := dnsname.Canonical(z.DnsName); err == nil {
				if _, dup := zones[c]; !dup {
					zones[c] = z.Name
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, googleError("listing the managed zones of project "+o.project, err)
	}
	o.mu.Lock()
	o.zones, o.listed = zones, time.Now()
	o.mu.Unlock()
	names := make([]string, 0, len(zones))
	for z := range zones {
		names = append(names, z)
	}
	return names, nil
}

func (o *googleOps) findZone(ctx context.Context, fqdn string) (string, error) {
	names, err := o.listZones(googleOwnErrors(ctx))
	if err != nil {
		return "", explainGoogle(err, Record{FQDN: fqdn})
	}
	return LongestZone(fqdn, names)
}

func (o *googleOps) remember(zone, fqdn string, set *dns.ResourceRecordSet) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen[zone+"\x00"+fqdn] = set
}

func (o *googleOps) recall(zone, fqdn string) *dns.ResourceRecordSet {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[zone+"\x00"+fqdn]
}

func (o *googleOps) forget(zone, fqdn string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.seen, zone+"\x00"+fqdn)
}

// Values implements SetOps: it GETs the TXT rrset.
func (o *googleOps) Values(ctx context.Context, zone, fqdn string) ([]string, error) {
	ctx = googleOwnErrors(ctx)
	svc, err := o.service()
	if err != nil {
		return nil, err
	}
	mz, err := o.managedZone(ctx, zone)
	if err != nil {
		return nil, err
	}
	set, err := svc.ResourceRecordSets.Get(o.project, mz, fqdn, "TXT").Context(ctx).Do()
	var ge *googleapi.Error
	switch {
	case errors.As(err, &ge) && ge.Code == http.StatusNotFound && strings.Contains(ge.Message, "managedZone"):
		// The managed zone went away: list the zones again next time.
		o.mu.Lock()
		o.listed = time.Time{}
		o.mu.Unlock()
		return nil, googleError("reading the TXT rrset", err)
	case errors.As(err, &ge) && ge.Code == http.StatusNotFound:
		o.remember(zone, fqdn, nil)
		return nil, nil
	case err != nil:
		return nil, googleError("reading the TXT rrset", err)
	}
	o.remember(zone, fqdn, set)
	out := make([]string, 0, len(set.Rrdatas))
	for _, d := range set.Rrdatas {
		out = append(out, googleText(d))
	}
	return out, nil
}

// Write implements SetOps: create, patch or delete the rrset. Cloud DNS has no precondition on rrsets; the Lease
// lock serialises the webhook's writers, and a create that meets an rrset (409) or a patch or delete that misses
// it (404) means a writer outside the webhook acted: the rrset is read again and the change redone.
func (o *googleOps) Write(ctx context.Context, zone, fqdn string, _ []string, adds []Mutation, removes []string) (addErr, removeErr error) {
	ctx = googleOwnErrors(ctx)
	defer o.forget(zone, fqdn)
	for attempt := 1; ; attempt++ {
		retry, err := o.write(ctx, zone, fqdn, o.recall(zone, fqdn), adds, removes)
		if err != nil {
			err = googleError("writing the TXT rrset", err)
		}
		if !retry || attempt == googleAttempts {
			return err, err
		}
		if _, err := o.Values(ctx, zone, fqdn); err != nil {
			return err, err
		}
	}
}

func (o *googleOps) write(ctx context.Context, zone, fqdn string, cur *dns.ResourceRecordSet, adds []Mutation, removes []string) (retry bool, err error) {
	svc, err := o.service()
	if err != nil {
		return false, err
	}
	mz, err := o.managedZone(ctx, zone)
	if err != nil {
		return false, err
	}
	var datas []string
	changed := false
	if cur != nil {
		for _, d := range cur.Rrdatas {
			if slices.Contains(removes, googleText(d)) {
				changed = true
				continue
			}
			datas = append(datas, d)
		}
	}
	ttl := int64(0)
	for _, m := range adds {
		if slices.ContainsFunc(datas, func(d string) bool { return googleText(d) == m.Value }) {
			continue
		}
		datas = append(datas, googleQuote(m.Value))
		changed = true
		if s := int64(m.TTL / time.Second); ttl == 0 || s < ttl {
			ttl = s
		}
	}
	var ge *googleapi.Error
	switch {
	case !changed:
		return false, nil
	case len(datas) == 0:
		_, err = svc.ResourceRecordSets.Delete(o.project, mz, fqdn, "TXT").Context(ctx).Do()
		if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
			return false, nil // gone already: what was asked
		}
		return false, err
	case cur == nil:
		set := &dns.ResourceRecordSet{Name: fqdn, Type: "TXT", Ttl: max(ttl, 1), Rrdatas: datas}
		_, err = svc.ResourceRecordSets.Create(o.project, mz, set).Context(ctx).Do()
		return errors.As(err, &ge) && ge.Code == http.StatusConflict, err
	default:
		set := &dns.ResourceRecordSet{Name: fqdn, Type: "TXT", Ttl: cur.Ttl, Rrdatas: datas}
		_, err = svc.ResourceRecordSets.Patch(o.project, mz, fqdn, "TXT", set).Context(ctx).Do()
		return errors.As(err, &ge) && ge.Code == http.StatusNotFound, err
	}
}

// googleText is the text of a TXT rrdata: its character-strings (quoted, with \" \\ and \DDD escapes, or bare
// words) joined, as DNS serves them.
func googleText(d string) string {
	var b strings.Builder
	s := strings.TrimSpace(d)
	for s != "" {
		if s[0] != '"' {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			b.WriteString(s[:end])
			s = strings.TrimLeft(s[end:], " \t")
			continue
		}
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			switch {
			case s[i] == '\\' && i+3 < len(s) && googleIsDigits(s[i+1:i+4]):
				n, _ := strconv.Atoi(s[i+1 : i+4])
				b.WriteByte(byte(n))
				i += 3
			case s[i] == '\\' && i+1 < len(s):
				i++
				b.WriteByte(s[i])
			default:
				b.WriteByte(s[i])
			}
		}
		s = strings.TrimLeft(s[min(i+1, len(s)):], " \t")
	}
	return b.String()
}

func googleIsDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// googleQuote is value as one quoted character-string, as Cloud DNS stores TXT data (zone-file escapes).
func googleQuote(value string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(value) {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// googleTokens matches OAuth access tokens an error body might carry.
var googleTokens = regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/=-]+|ya29\.[A-Za-z0-9._~+/=-]+`)

// googleError shortens the API's and the auth library's errors to one line: what was done, the status, and
// Google's reason and message, with access tokens cut out.
func googleError(what string, err error) error {
	var ge *googleapi.Error
	var ae *auth.Error
	var msg string
	switch {
	case errors.As(err, &ge):
		reason := ""
		if len(ge.Errors) > 0 {
			reason = ge.Errors[0].Reason
		}
		msg = fmt.Sprintf("Cloud DNS answered HTTP %d %s: %s", ge.Code, reason, ge.Message)
	case errors.As(err, &ae):
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(ae.Body, &body)
		status := 0
		if ae.Response != nil {
			status = ae.Response.StatusCode
		}
		msg = fmt.Sprintf("signing in at Google failed: HTTP %d %s: %s", status, body.Error, body.Description)
		if body.Error == "" {
			msg = "signing in at Google failed: " + strings.SplitN(ae.Error(), "\n", 2)[0]
		}
	default:
		msg = strings.SplitN(strings.TrimSpace(err.Error()), "\n", 2)[0]
	}
	return fmt.Errorf("%s: %s", what, googleTokens.ReplaceAllString(msg, "[redacted]"))
}

// explainGoogle adds what to do to the errors users meet most.
func explainGoogle(err error, rec Record) error {
	msg := err.Error()
	where := "the zone " + rec.Zone
	if rec.Zone == "" {
		where = "the zone of " + rec.FQDN
	}
	switch {
	case strings.Contains(msg, "invalid_grant"):
		return fmt.Errorf("%w: Google refused the service account key; check that it is current (not deleted or disabled) and belongs to the project", err)
	case strings.Contains(msg, "HTTP 403"):
		return fmt.Errorf("%w: give the service account the role DNS Administrator (roles/dns.admin), or a custom role with dns.resourceRecordSets.* and dns.managedZones.list, in the project gcp_project names, for %s", err, where)
	case strings.Contains(msg, "has no public managed zone"):
		return fmt.Errorf("%w: check gcp_project and that %s is a public managed zone there", err, where)
	}
	return err
}

var _ SetOps = (*googleOps)(nil)
