package fakegoogledns

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/httptransport"
	"google.golang.org/api/dns/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

const (
	writer      = "dns-writer@fake-project.iam.gserviceaccount.com"
	exampleZone = "example-com"
)

func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := Start(append([]Option{WithServiceAccount(writer), WithZone(exampleZone, "example.com")}, opts...)...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func credsJSON(t *testing.T, s *Server, email string) []byte {
	t.Helper()
	b, err := s.CredentialsJSON(email)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sdk builds a Cloud DNS client the way a webhook that holds the service account JSON in memory would: the
// credential is parsed as type service_account only, and both its token requests and the API requests go through
// rt (here the fake's Transport), so nothing depends on http.DefaultTransport or the environment.
func sdk(t *testing.T, rt http.RoundTripper, json []byte, scopes ...string) *dns.Service {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{dns.NdevClouddnsReadwriteScope}
	}
	creds, err := credentials.NewCredentialsFromJSON(credentials.ServiceAccount, json, &credentials.DetectOptions{
		Scopes: scopes,
		Client: &http.Client{Transport: rt},
	})
	if err != nil {
		t.Fatalf("credentials: %v", err)
	}
	client, err := httptransport.NewClient(&httptransport.Options{Credentials: creds, BaseRoundTripper: rt})
	if err != nil {
		t.Fatalf("http client: %v", err)
	}
	svc, err := dns.NewService(context.Background(), option.WithHTTPClient(client))
	if err != nil {
		t.Fatalf("dns service: %v", err)
	}
	return svc
}

func gerr(err error) (int, string) {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		reason := ""
		if len(ge.Errors) > 0 {
			reason = ge.Errors[0].Reason
		}
		return ge.Code, reason
	}
	return 0, ""
}

func txtSet(name string, ttl int64, values ...string) *dns.ResourceRecordSet {
	return &dns.ResourceRecordSet{Name: name, Type: "TXT", Ttl: ttl, Rrdatas: values}
}

func TestSDKWholeRRSetSemantics(t *testing.T) {
	t.Parallel()
	s := start(t)
	svc := sdk(t, s.Transport(), credsJSON(t, s, writer))
	ctx := context.Background()
	p := s.Project()
	const name = "_acme-challenge.example.com."

	got, err := svc.ResourceRecordSets.Create(p, exampleZone, txtSet(name, 60, "apex-value", `"wildcard-value"`)).Context(ctx).Do()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	// A bare value is stored quoted, as Cloud DNS does.
	if want := []string{`"apex-value"`, `"wildcard-value"`}; !slices.Equal(got.Rrdatas, want) {
		t.Errorf("created rrdatas %q, want %q", got.Rrdatas, want)
	}
	_, err = svc.ResourceRecordSets.Create(p, exampleZone, txtSet(name, 60, "third")).Context(ctx).Do()
	if code, reason := gerr(err); code != 409 || reason != "alreadyExists" || !strings.Contains(err.Error(), "named '"+name+" (TXT)' already exists") {
		t.Errorf("create of an existing set: %v, want 409 alreadyExists", err)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Errorf("a refused create changed the set: %q", got)
	}

	// Patch replaces the rrdatas: the value not sent is gone.
	if _, err := svc.ResourceRecordSets.Patch(p, exampleZone, name, "TXT", txtSet(name, 0, "wildcard-value")).Context(ctx).Do(); err != nil {
		t.Fatalf("patch: %v", err)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("after patch %q, want the one value sent", got)
	}
	// The client omits a zero ttl, and a patch keeps what it does not send.
	if set := findTXT(s, name); set.TTL != 60 {
		t.Errorf("TTL %d after a patch without ttl, want 60 kept", set.TTL)
	}
	_, err = svc.ResourceRecordSets.Patch(p, exampleZone, "absent.example.com.", "TXT", txtSet("absent.example.com.", 60, "x")).Context(ctx).Do()
	if code, reason := gerr(err); code != 404 || reason != "notFound" {
		t.Errorf("patch of a missing set: %v, want 404 notFound", err)
	}

	if _, err := svc.ResourceRecordSets.Delete(p, exampleZone, name, "TXT").Context(ctx).Do(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := s.TXT(name); got != nil {
		t.Errorf("after delete %q, want no set", got)
	}
	_, err = svc.ResourceRecordSets.Delete(p, exampleZone, name, "TXT").Context(ctx).Do()
	if code, reason := gerr(err); code != 404 || reason != "notFound" || !strings.Contains(err.Error(), "'parameters.name' resource named '"+name+"' does not exist") {
		t.Errorf("delete of a missing set: %v, want 404 notFound", err)
	}
	_, err = svc.ResourceRecordSets.Get(p, exampleZone, name, "TXT").Context(ctx).Do()
	if code, _ := gerr(err); code != 404 {
		t.Errorf("get of a missing set: %v, want 404", err)
	}
	_, err = svc.ResourceRecordSets.Delete(p, exampleZone, "example.com.", "SOA").Context(ctx).Do()
	if code, _ := gerr(err); code != 400 {
		t.Errorf("delete of the apex SOA: %v, want 400", err)
	}
}

func findTXT(s *Server, name string) RRSet {
	for _, set := range s.Records("example.com") {
		if set.Name == name && set.Type == "TXT" {
			return set
		}
	}
	return RRSet{}
}

func TestSDKValidation(t *testing.T) {
	t.Parallel()
	s := start(t)
	svc := sdk(t, s.Transport(), credsJSON(t, s, writer))
	ctx := context.Background()
	p := s.Project()
	tests := []struct {
		name string
		set  *dns.ResourceRecordSet
		code int
		want []string // stored rrdatas on success
	}{
		{"duplicate values", txtSet("d.example.com.", 60, "a", `"a"`), 400, nil},
		{"outside the zone", txtSet("x.example.org.", 60, "a"), 400, nil},
		{"no values", txtSet("e.example.com.", 60), 400, nil},
		{"unknown type", &dns.ResourceRecordSet{Name: "t.example.com.", Type: "BOGUS", Rrdatas: []string{"a"}}, 400, nil},
		{"bare words are separate strings", txtSet("w.example.com.", 60, "two words"), 200, []string{`"two" "words"`}},
		{"quoted with a space", txtSet("q.example.com.", 60, `"one string"`), 200, []string{`"one string"`}},
		{"ttl 0 is allowed", txtSet("z.example.com.", 0, "v"), 200, []string{`"v"`}},
	}
	for _, tt := range tests {
		got, err := svc.ResourceRecordSets.Create(p, exampleZone, tt.set).Context(ctx).Do()
		if tt.code != 200 {
			if code, _ := gerr(err); code != tt.code {
				t.Errorf("%s: err %v, want %d", tt.name, err, tt.code)
			}
			continue
		}
		if err != nil || !slices.Equal(got.Rrdatas, tt.want) {
			t.Errorf("%s: got %v, err %v, want %q", tt.name, got, err, tt.want)
		}
	}
	// A CNAME excludes other data at its name.
	if _, err := svc.ResourceRecordSets.Create(p, exampleZone, &dns.ResourceRecordSet{Name: "w.example.com.", Type: "CNAME", Ttl: 60, Rrdatas: []string{"x.example.org."}}).Context(ctx).Do(); err == nil {
		t.Error("CNAME beside a TXT was accepted")
	}
	_, err := svc.ResourceRecordSets.List(p, "no-such-zone").Context(ctx).Do()
	if code, reason := gerr(err); code != 404 || reason != "notFound" || !strings.Contains(err.Error(), "no-such-zone") {
		t.Errorf("unknown zone: %v, want 404 naming it", err)
	}
}

func TestSDKPagination(t *testing.T) {
	t.Parallel()
	s := start(t, WithPageSizes(3, 1), WithZone("example-org", "example.org"), WithZone("example-net", "example.net"))
	svc := sdk(t, s.Transport(), credsJSON(t, s, writer))
	ctx := context.Background()
	p := s.Project()
	for i := range 8 {
		if _, err := svc.ResourceRecordSets.Create(p, exampleZone, txtSet(fmt.Sprintf("r%d.example.com.", i), 60, "v")).Context(ctx).Do(); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	pages := 0
	err := svc.ResourceRecordSets.List(p, exampleZone).Pages(ctx, func(r *dns.ResourceRecordSetsListResponse) error {
		pages++
		for _, set := range r.Rrsets {
			names = append(names, set.Name+"/"+set.Type)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 10 || pages != 4 { // 8 TXT + NS + SOA, 3 a page
		t.Errorf("listed %d rrsets on %d pages, want 10 on 4: %q", len(names), pages, names)
	}
	// maxResults below the page size is honoured; name and type filter.
	r, err := svc.ResourceRecordSets.List(p, exampleZone).Name("r3.example.com.").Type("TXT").Context(ctx).Do()
	if err != nil || len(r.Rrsets) != 1 || r.NextPageToken != "" {
		t.Errorf("filtered list: %v, %v", r, err)
	}
	var zones []string
	err = svc.ManagedZones.List(p).Pages(ctx, func(r *dns.ManagedZonesListResponse) error {
		for _, z := range r.ManagedZones {
			zones = append(zones, z.DnsName)
		}
		return nil
	})
	if err != nil || !slices.Equal(zones, []string{"example.com.", "example.org.", "example.net."}) {
		t.Errorf("zones %q, err %v", zones, err)
	}
	_, err = svc.ResourceRecordSets.List(p, exampleZone).PageToken("garbage").Context(ctx).Do()
	if code, _ := gerr(err); code != 400 {
		t.Errorf("bad page token: %v, want 400", err)
	}
}

// TestSDKTrafficStaysOnTheFake proves the in-memory credential path: one token request and the API calls, all
// through the given transport, to the fake's two hosts.
func TestSDKTrafficStaysOnTheFake(t *testing.T) {
	t.Parallel()
	s := start(t)
	svc := sdk(t, s.Transport(), credsJSON(t, s, writer))
	ctx := context.Background()
	for range 3 {
		if _, err := svc.ManagedZones.List(s.Project()).Context(ctx).Do(); err != nil {
			t.Fatal(err)
		}
	}
	reqs := s.Requests()
	if n := s.CountRequests("POST", "/token"); n != 1 {
		t.Errorf("%d token requests, want 1 (the token is cached)", n)
	}
	for _, r := range reqs {
		if r.Host != APIHost && r.Host != TokenHost {
			t.Errorf("request to %q", r.Host)
		}
	}
	// The type check of NewCredentialsFromJSON is what keeps an external_account JSON (which can make the auth
	// library fetch URLs and run programs) out.
	ext := []byte(`{"type":"external_account","audience":"x","subject_token_type":"x","token_url":"https://sts.googleapis.com/v1/token","credential_source":{"url":"http://169.254.169.254/x"}}`)
	if _, err := credentials.NewCredentialsFromJSON(credentials.ServiceAccount, ext, &credentials.DetectOptions{Scopes: []string{dns.NdevClouddnsReadwriteScope}}); err == nil {
		t.Error("an external_account JSON was accepted as a service account")
	}
}

func TestSDKAuthorization(t *testing.T) {
	t.Parallel()
	s := start(t, WithServiceAccount("reader@fake-project.iam.gserviceaccount.com"))
	ctx := context.Background()
	reader := sdk(t, s.Transport(), credsJSON(t, s, "reader@fake-project.iam.gserviceaccount.com"), dns.NdevClouddnsReadonlyScope)
	if _, err := reader.ResourceRecordSets.List(s.Project(), exampleZone).Context(ctx).Do(); err != nil {
		t.Errorf("read with the read-only scope: %v", err)
	}
	_, err := reader.ResourceRecordSets.Create(s.Project(), exampleZone, txtSet("x.example.com.", 60, "v")).Context(ctx).Do()
	if code, reason := gerr(err); code != 403 || reason != "insufficientPermissions" {
		t.Errorf("write with the read-only scope: %v, want 403 insufficientPermissions", err)
	}
	svc := sdk(t, s.Transport(), credsJSON(t, s, writer))
	_, err = svc.ResourceRecordSets.List("other-project", exampleZone).Context(ctx).Do()
	if code, reason := gerr(err); code != 403 || reason != "forbidden" {
		t.Errorf("another project: %v, want 403 forbidden", err)
	}

	// Raw requests: no token, and an unknown one, which is echoed.
	get := func(authz string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+APIHost+APIPrefix+s.Project()+"/managedZones", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(""); code != 401 || !strings.Contains(body, `"reason":"required"`) {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, body := get("Bearer ya29.not-issued-here"); code != 401 || !strings.Contains(body, "ya29.not-issued-here") || !strings.Contains(body, "UNAUTHENTICATED") {
		t.Errorf("unknown token: %d %s, want 401 echoing it", code, body)
	}
}

func TestSDKTokenExpiryAndRefresh(t *testing.T) {
	t.Parallel()
	// Tokens live 1 s: once one has expired, the fake refuses it and the auth library must fetch another before
	// the next request (before expiry it refreshes in the background and keeps using the old one).
	s := start(t, WithTokenLifetime(time.Second))
	svc := sdk(t, s.Transport(), credsJSON(t, s, writer))
	for i := range 2 {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond)
		}
		if _, err := svc.ManagedZones.List(s.Project()).Context(context.Background()).Do(); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.CountRequests("POST", "/token"); n < 2 {
		t.Errorf("%d token requests, want a refresh", n)
	}
}

// signJWT signs claims as a service account key would.
func signJWT(t *testing.T, keyPEM, kid string, claims map[string]any) string {
	t.Helper()
	block, _ := pem.Decode([]byte(keyPEM))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, k.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	s := start(t)
	var key struct {
		PrivateKey   string `json:"private_key"`
		PrivateKeyID string `json:"private_key_id"`
	}
	if err := json.Unmarshal(credsJSON(t, s, writer), &key); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": writer, "scope": dns.NdevClouddnsReadwriteScope, "aud": TokenURL, "iat": now, "exp": now + 3600}
		if mod != nil {
			mod(c)
		}
		return c
	}
	post := func(form url.Values) (int, map[string]any) {
		resp, err := s.Client().PostForm(TokenURL, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	grant := func(jwt string) url.Values {
		return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {jwt}}
	}
	// The other key: a JWT signed with it claims the writer but is not the writer's.
	other, err := Start(WithServiceAccount(writer))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var otherKey struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(credsJSON(t, other, writer), &otherKey); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		form     url.Values
		status   int
		errCode  string
		contains string
	}{
		{"valid", grant(signJWT(t, key.PrivateKey, key.PrivateKeyID, claims(nil))), 200, "", ""},
		{"unknown account is echoed", grant(signJWT(t, key.PrivateKey, key.PrivateKeyID, claims(func(c map[string]any) { c["iss"] = "stranger@evil.example" }))), 400, "invalid_grant", "stranger@evil.example"},
		{"signed by another key", grant(signJWT(t, otherKey.PrivateKey, "", claims(nil))), 400, "invalid_grant", "Invalid JWT Signature."},
		{"wrong key id", grant(signJWT(t, key.PrivateKey, "0000", claims(nil))), 400, "invalid_grant", "Invalid JWT Signature."},
		{"wrong audience", grant(signJWT(t, key.PrivateKey, key.PrivateKeyID, claims(func(c map[string]any) { c["aud"] = "https://example.org/token" }))), 400, "invalid_grant", "audience"},
		{"too long-lived", grant(signJWT(t, key.PrivateKey, key.PrivateKeyID, claims(func(c map[string]any) { c["exp"] = now + 7200 }))), 400, "invalid_grant", "short-lived"},
		{"expired", grant(signJWT(t, key.PrivateKey, key.PrivateKeyID, claims(func(c map[string]any) { c["iat"], c["exp"] = now-7200, now-3600 }))), 400, "invalid_grant", "short-lived"},
		{"no scope", grant(signJWT(t, key.PrivateKey, key.PrivateKeyID, claims(func(c map[string]any) { delete(c, "scope") }))), 400, "invalid_scope", ""},
		{"not a JWT", grant("abc"), 400, "invalid_request", ""},
		{"other grant", url.Values{"grant_type": {"client_credentials"}}, 400, "unsupported_grant_type", "client_credentials"},
	}
	for _, tt := range tests {
		status, out := post(tt.form)
		if status != tt.status || (tt.errCode != "" && out["error"] != tt.errCode) || !strings.Contains(fmt.Sprint(out["error_description"]), tt.contains) {
			t.Errorf("%s: %d %v, want %d %s containing %q", tt.name, status, out, tt.status, tt.errCode, tt.contains)
		}
		if tt.status == 200 && (!strings.HasPrefix(fmt.Sprint(out["access_token"]), "ya29.") || out["token_type"] != "Bearer") {
			t.Errorf("%s: token answer %v", tt.name, out)
		}
	}
}

func TestSDKRefusalsAndTheMirror(t *testing.T) {
	t.Parallel()
	m := &failingMirror{}
	s := start(t, WithMirror(m))
	svc := sdk(t, s.Transport(), credsJSON(t, s, writer))
	ctx := context.Background()
	p := s.Project()
	if _, err := svc.ManagedZones.List(p).Context(ctx).Do(); err != nil { // the token, fetched before the faults
		t.Fatal(err)
	}

	s.RateLimit(1, 0)
	_, err := svc.ManagedZones.List(p).Context(ctx).Do()
	if code, reason := gerr(err); code != 429 || reason != "rateLimitExceeded" {
		t.Errorf("429: %v, want rateLimitExceeded (the client does not retry)", err)
	}
	s.FailNext(1, http.StatusServiceUnavailable)
	_, err = svc.ManagedZones.List(p).Context(ctx).Do()
	if code, reason := gerr(err); code != 503 || reason != "backendError" {
		t.Errorf("503: %v, want backendError", err)
	}

	const name = "_acme-challenge.example.com."
	if _, err := svc.ResourceRecordSets.Create(p, exampleZone, txtSet(name, 60, "one", "two")).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ResourceRecordSets.Patch(p, exampleZone, name, "TXT", txtSet(name, 60, "two", "three")).Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	// A whole-set replace mirrors the difference only: three added, one deleted; two never left DNS.
	want := []string{"append " + name + " one", "append " + name + " two", "append " + name + " three", "delete " + name + " one"}
	if got := m.log(); !slices.Equal(got, want) {
		t.Errorf("mirrored %q, want %q", got, want)
	}
	m.fail(true)
	_, err = svc.ResourceRecordSets.Delete(p, exampleZone, name, "TXT").Context(ctx).Do()
	if code, _ := gerr(err); code != 500 {
		t.Errorf("delete with a failing mirror: %v, want 500", err)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"three", "two"}) {
		t.Errorf("after a failed mirror the store holds %q, want it unchanged", got)
	}
}

// failingMirror records the calls and fails them when told to.
type failingMirror struct {
	mu    sync.Mutex
	calls []string
	bad   bool
}

func (m *failingMirror) fail(b bool) { m.mu.Lock(); m.bad = b; m.mu.Unlock() }

func (m *failingMirror) log() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

func (m *failingMirror) record(s string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bad {
		return errors.New("dns server refused")
	}
	m.calls = append(m.calls, s)
	return nil
}

func (m *failingMirror) AppendTXT(_ context.Context, fqdn, value string, _ int) error {
	return m.record("append " + fqdn + " " + value)
}

func (m *failingMirror) DeleteTXT(_ context.Context, fqdn, value string) error {
	return m.record("delete " + fqdn + " " + value)
}

func TestNormalizeTXT(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, text string }{
		{"abc", `"abc"`, "abc"},
		{`"abc"`, `"abc"`, "abc"},
		{`"a b" c`, `"a b" "c"`, "a bc"},
		{`"q\"uote"`, `"q\"uote"`, `q"uote`},
		{`"\065"`, `"A"`, "A"},
	}
	for _, tt := range tests {
		got, err := normalizeTXT(tt.in)
		if err != nil || got != tt.want || txtText(got) != tt.text {
			t.Errorf("normalizeTXT(%q) = %q (%v), text %q; want %q, %q", tt.in, got, err, txtText(got), tt.want, tt.text)
		}
	}
	for _, bad := range []string{"", `"unterminated`, `"` + strings.Repeat("x", 256) + `"`} {
		if _, err := normalizeTXT(bad); err == nil {
			t.Errorf("normalizeTXT(%q) succeeded", bad)
		}
	}
}
