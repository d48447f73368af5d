//go:build !minimal

package providers

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/dns/v1"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakegoogledns"
)

const googleTestAccount = "dns-writer@fake-project.iam.gserviceaccount.com"

func startGoogle(t *testing.T) (*fakegoogledns.Server, string) {
	t.Helper()
	s, err := fakegoogledns.Start(fakegoogledns.WithServiceAccount(googleTestAccount), fakegoogledns.WithZone("google-test", "google.test."))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	key, err := s.CredentialsJSON(googleTestAccount)
	if err != nil {
		t.Fatal(err)
	}
	return s, string(key)
}

func googleTestOps(t *testing.T, s *fakegoogledns.Server, cfg googleConfig, ambient bool) (*googleOps, error) {
	t.Helper()
	w, err := googleclouddnsEntry().NewWriter(&cfg, Env{Path: "aliasProvider.googleclouddns", HTTPClient: s.Client(), AllowAmbientCredentials: ambient})
	if err != nil {
		return nil, err
	}
	return w.(*setWriter).ops.(*googleOps), nil
}

// TestGoogleAcceptsOnlyAServiceAccountKey: the credential types the library would accept besides a service
// account's key make the auth library fetch URLs, run programs or read files; the file path field reads the pod's
// files. Each is refused before any request, naming the field, without quoting the key.
func TestGoogleAcceptsOnlyAServiceAccountKey(t *testing.T) {
	t.Parallel()
	s, key := startGoogle(t)
	swap := func(old, repl string) string { return strings.Replace(key, old, repl, 1) }
	for _, tt := range []struct {
		name, json, want string
	}{
		{"external_account", `{"type":"external_account","audience":"x","subject_token_type":"x","token_url":"https://sts.googleapis.com/v1/token","credential_source":{"url":"http://169.254.169.254/x"}}`, `type "external_account"`},
		{"authorized_user", `{"type":"authorized_user","client_id":"x","client_secret":"private-client-secret","refresh_token":"y"}`, `type "authorized_user"`},
		{"not JSON", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", "is not JSON"},
		{"another token endpoint", swap(`"token_uri": "https://oauth2.googleapis.com/token"`, `"token_uri": "https://evil.example/token"`), "evil.example"},
		{"another universe", swap(`"universe_domain": "googleapis.com"`, `"universe_domain": "example.net"`), "example.net"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ops, err := googleTestOps(t, s, googleConfig{Project: s.Project(), ServiceAccountJSON: tt.json}, false)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ops.Values(context.Background(), "google.test.", "_acme-challenge.google.test.")
			if err == nil || !strings.Contains(err.Error(), "aliasProvider.googleclouddns.service_account_json: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to name the field and say %q", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), "private-client-secret") || strings.Contains(err.Error(), "PRIVATE KEY")) {
				t.Errorf("the error quotes the key: %v", err)
			}
		})
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests were sent with a refused key", n)
	}
	if _, err := googleTestOps(t, s, googleConfig{Project: s.Project(), ApplicationDefault: "/var/run/secrets/key.json"}, true); err == nil ||
		!strings.Contains(err.Error(), "gcp_application_default: is not allowed") || !strings.Contains(err.Error(), "service_account_json") {
		t.Errorf("the file path field: %v", err)
	}
	if _, err := googleTestOps(t, s, googleConfig{Project: s.Project()}, false); err == nil ||
		!strings.Contains(err.Error(), "service_account_json: is required") {
		t.Errorf("no key, no ambient credentials: %v", err)
	}
}

// TestGoogleRedoesACreateThatMetAnRRSet: Cloud DNS has no precondition on rrsets; a writer outside the webhook's
// lock that creates the rrset between the read and the create makes the create fail with 409, and the webhook
// reads again and patches, keeping that writer's value.
func TestGoogleRedoesACreateThatMetAnRRSet(t *testing.T) {
	t.Parallel()
	s, key := startGoogle(t)
	ops, err := googleTestOps(t, s, googleConfig{Project: s.Project(), ServiceAccountJSON: key}, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const zone, fqdn = "google.test.", "_acme-challenge.google.test."
	if _, err := ops.Values(ctx, zone, fqdn); err != nil {
		t.Fatal(err)
	}
	svc, err := ops.service()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ResourceRecordSets.Create(s.Project(), "google-test", &dns.ResourceRecordSet{Name: fqdn, Type: "TXT", Ttl: 300,
		Rrdatas: []string{`"foreign value"`}}).Do(); err != nil {
		t.Fatal(err)
	}
	if addErr, _ := ops.Write(ctx, zone, fqdn, nil, []Mutation{{Value: "mine", Add: true, TTL: time.Minute}}, nil); addErr != nil {
		t.Fatal(addErr)
	}
	if got := s.TXT(fqdn); !slices.Equal(got, []string{"foreign value", "mine"}) {
		t.Fatalf("holds %q, want the other writer's value and ours", got)
	}
	var conflicts, patches int
	for _, r := range s.Requests() {
		switch {
		case r.Method == http.MethodPost && r.Status == http.StatusConflict:
			conflicts++
		case r.Method == http.MethodPatch && r.Status == http.StatusOK:
			patches++
		}
	}
	if conflicts != 1 || patches != 1 {
		t.Errorf("%d creates met the rrset and %d patches followed, want 1 and 1", conflicts, patches)
	}
	// The zone map is kept: the managed zones were listed once for all of this.
	if n := googleCountRequests(s, http.MethodGet, "/managedZones"); n != 1 {
		t.Errorf("managed zones listed %d times, want 1", n)
	}
}

func googleCountRequests(s *fakegoogledns.Server, method, suffix string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

func TestGoogleTXTQuoting(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ rrdata, text string }{
		{`"abc"`, "abc"},
		{`abc`, "abc"},
		{`"a b" "c"`, "a bc"},
		{`"quote \" and \\ back"`, `quote " and \ back`},
		{`"\065\066"`, "AB"},
		{`"unterminated`, "unterminated"},
	} {
		if got := googleText(tt.rrdata); got != tt.text {
			t.Errorf("googleText(%s) = %q, want %q", tt.rrdata, got, tt.text)
		}
	}
	for _, v := range []string{"p0000000000000000000000000000000000000001", `with "quotes" and \ and a space`, "tab\there"} {
		if got := googleText(googleQuote(v)); got != v {
			t.Errorf("round trip of %q: %q (quoted %s)", v, got, googleQuote(v))
		}
	}
}
