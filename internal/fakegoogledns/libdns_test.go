package fakegoogledns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libdns/googleclouddns"
	"github.com/libdns/libdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

// These tests drive the fake with github.com/libdns/googleclouddns v1.2.0. It builds its dns.Service itself from
// a credentials file path, so it reaches the fake through http.DefaultTransport, which Google's libraries clone
// when they build their clients: each test installs the fake's ProxiedTransport before the Provider's first call
// (useDefaultTransport), hence no t.Parallel in this file. TestMain isolates the process from ambient Google
// credentials and points the metadata server at a loopback listener that counts what reaches it.

// childEnv marks the test binary re-executed as a separate process that reaches the fake through HTTPS_PROXY and
// SSL_CERT_FILE only, as a separately started webhook would.
const childEnv = "FAKEGOOGLEDNS_CHILD_CREDENTIALS"

// metadata counts requests to the GCE_METADATA_HOST this process was given.
var metadata = &metadataWatch{}

type metadataWatch struct {
	mu    sync.Mutex
	paths []string
}

func (m *metadataWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.paths = append(m.paths, r.URL.Path)
	m.mu.Unlock()
	http.Error(w, "not a metadata server", http.StatusNotFound)
}

func (m *metadataWatch) seen() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.paths)
}

// guard is the http.DefaultTransport outside the tests that install the fake's: an *http.Transport (which Google's
// libraries clone) that dials loopback only, so no request of this process can reach the internet.
var guard = &http.Transport{
	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("test guard: refusing to dial %s", addr)
		}
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	},
}

// TestMain isolates the process from ambient Google credentials, or runs the child mode when asked.
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: metadata, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	dir, err := os.MkdirTemp("", "fakegoogledns-gcloud")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// No ambient credential: no GOOGLE_APPLICATION_CREDENTIALS, an empty gcloud config directory, and the metadata
	// server on a loopback port this process watches (setting GCE_METADATA_HOST also makes the libraries believe
	// they run on GCE, which is what lets a test see the ambient fallback reach it).
	for k, v := range map[string]string{
		"GOOGLE_APPLICATION_CREDENTIALS": "", "CLOUDSDK_CONFIG": dir, "GCE_METADATA_HOST": ln.Addr().String(),
		"GOOGLE_API_USE_CLIENT_CERTIFICATE": "false", "GOOGLE_CLOUD_UNIVERSE_DOMAIN": "",
	} {
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	http.DefaultTransport = guard
	code := m.Run()
	if seen := metadata.seen(); code == 0 && int64(len(seen)) != expectedMetadataHits.Load() {
		fmt.Fprintf(os.Stderr, "unexpected requests reached the metadata server: %q\n", seen)
		return 1
	}
	return code
}

// useDefaultTransport installs the fake's transport as http.DefaultTransport until the test ends. Google's
// libraries clone it when a Provider builds its service, on its first call.
func useDefaultTransport(t *testing.T, s *Server) {
	t.Helper()
	http.DefaultTransport = s.ProxiedTransport()
	t.Cleanup(func() { http.DefaultTransport = guard })
}

func writeCreds(t *testing.T, s *Server, email string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, credsJSON(t, s, email), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// provider returns a libdns/googleclouddns provider that reaches s.
func provider(t *testing.T, s *Server) *googleclouddns.Provider {
	t.Helper()
	useDefaultTransport(t, s)
	return &googleclouddns.Provider{Project: s.Project(), ServiceAccountJSON: writeCreds(t, s, writer)}
}

func txt(v string) []libdns.Record {
	return []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: v, TTL: time.Minute}}
}

// writes lists the method of each rrset request after the first n logged, e.g. "GET", "POST 409".
func writes(s *Server, n int) []string {
	var out []string
	for _, r := range s.Requests()[n:] {
		if !strings.Contains(r.Path, "/rrsets") {
			continue
		}
		e := r.Method
		if r.Status != 200 {
			e += fmt.Sprint(" ", r.Status)
		}
		out = append(out, e)
	}
	return out
}

func TestLibdnsTwoValuesAtOneName(t *testing.T) {
	s := start(t)
	p := provider(t, s)
	ctx := context.Background()
	const name = "_acme-challenge.example.com."

	n := len(s.Requests())
	if _, err := p.AppendRecords(ctx, "example.com.", txt("apex-value")); err != nil {
		t.Fatalf("append the first value: %v", err)
	}
	if got := writes(s, n); !slices.Equal(got, []string{"GET 404", "POST"}) {
		t.Errorf("first append sent %q, want GET 404, POST (create)", got)
	}
	// The sibling: AppendRecords reads the set and writes it back merged. Create fails, Patch replaces the set.
	n = len(s.Requests())
	added, err := p.AppendRecords(ctx, "example.com.", txt("wildcard-value"))
	if err != nil {
		t.Fatalf("append the sibling: %v", err)
	}
	if got := writes(s, n); !slices.Equal(got, []string{"GET", "POST 409", "PATCH"}) {
		t.Errorf("second append sent %q, want GET, POST 409, PATCH", got)
	}
	if len(added) != 1 {
		t.Errorf("AppendRecords returned %d records, want the one added", len(added))
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("after two appends %q, want both", got)
	}

	// An identical append: the library sees the value and writes nothing.
	n = len(s.Requests())
	added, err = p.AppendRecords(ctx, "example.com.", txt("apex-value"))
	if err != nil || len(added) != 0 {
		t.Errorf("identical append: %d added, err %v, want 0 and no error", len(added), err)
	}
	if got := writes(s, n); !slices.Equal(got, []string{"GET"}) {
		t.Errorf("identical append sent %q, want a GET only", got)
	}

	// Deleting a value that is not there: a GET, no write.
	n = len(s.Requests())
	deleted, err := p.DeleteRecords(ctx, "example.com.", txt("never-written"))
	if err != nil || len(deleted) != 0 {
		t.Errorf("delete of an absent value: %d deleted, err %v", len(deleted), err)
	}
	if got := writes(s, n); !slices.Equal(got, []string{"GET"}) {
		t.Errorf("delete of an absent value sent %q, want a GET only", got)
	}

	// Deleting one value patches the set with the rest: the sibling stays (this process read it).
	n = len(s.Requests())
	if _, err := p.DeleteRecords(ctx, "example.com.", txt("apex-value")); err != nil {
		t.Fatal(err)
	}
	if got := writes(s, n); !slices.Equal(got, []string{"GET", "PATCH"}) {
		t.Errorf("delete of one value sent %q, want GET, PATCH", got)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("after deleting one value %q, want the sibling alone", got)
	}

	// SetRecords writes the given values as the whole set: the sibling is gone.
	if _, err := p.AppendRecords(ctx, "example.com.", txt("apex-value")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SetRecords(ctx, "example.com.", txt("only-this")); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"only-this"}) {
		t.Errorf("after SetRecords %q, want the set replaced", got)
	}

	// Deleting the last value deletes the rrset; at a name with no set it is a GET 404 and success.
	n = len(s.Requests())
	if _, err := p.DeleteRecords(ctx, "example.com.", txt("only-this")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DeleteRecords(ctx, "example.com.", txt("only-this")); err != nil {
		t.Errorf("delete at an empty name: %v", err)
	}
	if got := writes(s, n); !slices.Equal(got, []string{"GET", "DELETE", "GET 404"}) {
		t.Errorf("last deletes sent %q, want GET, DELETE, GET 404", got)
	}
	if got := s.TXT(name); got != nil {
		t.Errorf("after deleting all %q", got)
	}
}

// TestLibdnsAppendRacesAcrossProviders shows why googleclouddns needs the set strategy's lock across replicas:
// both read the set before either writes; one creates it, the other's create fails and it patches the set with
// its own merge, which drops the first value.
func TestLibdnsAppendRacesAcrossProviders(t *testing.T) {
	s := start(t)
	p1 := provider(t, s)
	p2 := &googleclouddns.Provider{Project: s.Project(), ServiceAccountJSON: p1.ServiceAccountJSON}
	ctx := context.Background()
	// p2 has its token and zone map before the race, so that its read-and-write fits in p1's held create.
	if _, err := p2.GetRecords(ctx, "example.com."); err != nil {
		t.Fatal(err)
	}
	s.Slow(1, time.Second, fakeapi.Match{Method: http.MethodPost, PathPrefix: APIPrefix})
	errc := make(chan error, 1)
	go func() {
		_, err := p1.AppendRecords(ctx, "example.com.", txt("one"))
		errc <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	// p1 has read the set (404) and sent its create, which the fake holds; p2 now reads before it lands.
	for s.CountRequests("GET", APIPrefix+s.Project()+"/managedZones/"+exampleZone+"/rrsets/") < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := p2.AppendRecords(ctx, "example.com.", txt("two")); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := s.TXT("_acme-challenge.example.com."); len(got) != 1 {
		t.Errorf("after two racing appends %q, want one value lost (read-merge-write is not atomic)", got)
	}
}

func TestLibdnsZonesAndPages(t *testing.T) {
	s := start(t, WithPageSizes(4, 1), WithPrivateZone("private-org", "example.org"), WithZone("example-net", "example.net"))
	p := provider(t, s)
	ctx := context.Background()
	// The zone map is built from every page of the zone list; example.net is on the third page.
	var recs []libdns.Record
	for i := range 9 {
		recs = append(recs, libdns.TXT{Name: fmt.Sprintf("r%d", i), Text: "v", TTL: time.Minute})
	}
	if _, err := p.AppendRecords(ctx, "example.net.", recs); err != nil {
		t.Fatal(err)
	}
	got, err := p.GetRecords(ctx, "example.net.")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 9+4+1 { // the TXT, 4 NS values, the SOA
		t.Errorf("GetRecords returned %d records, want 14", len(got))
	}
	var tokens []string
	for _, r := range s.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/rrsets") {
			tokens = append(tokens, r.Query.Get("pageToken"))
		}
	}
	if len(tokens) != 3 || tokens[0] != "" || tokens[1] == "" || tokens[2] == "" { // 11 rrsets, 4 a page
		t.Errorf("rrset list pages %q, want 3 pages", tokens)
	}
	if n := s.CountRequests("GET", APIPrefix+s.Project()+"/managedZones"); n < 3 {
		t.Errorf("%d requests under managedZones, want the 3 zone pages at least", n)
	}
	// Private zones are not mapped, and the zone needs its trailing dot.
	for _, z := range []string{"example.org.", "example.net"} {
		if _, err := p.GetRecords(ctx, z); err == nil || !strings.Contains(err.Error(), "unable to find Google managaged zone") {
			t.Errorf("GetRecords(%q): %v, want the library's zone-not-found error", z, err)
		}
	}
}

func TestLibdnsErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("429 is not retried", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		s.RateLimit(1, 0, fakeapi.Match{Method: "POST", PathPrefix: APIPrefix})
		_, err := p.AppendRecords(ctx, "example.com.", txt("v"))
		if code, reason := gerr(err); code != 429 || reason != "rateLimitExceeded" {
			t.Errorf("err %v, want 429 rateLimitExceeded", err)
		}
		if _, err := p.AppendRecords(ctx, "example.com.", txt("v")); err != nil {
			t.Errorf("the next call: %v", err)
		}
	})
	t.Run("unknown account is echoed", func(t *testing.T) {
		s := start(t)
		useDefaultTransport(t, s)
		var sa map[string]string
		if err := json.Unmarshal(credsJSON(t, s, writer), &sa); err != nil {
			t.Fatal(err)
		}
		sa["client_email"] = "stranger@other-project.iam.gserviceaccount.com"
		b, _ := json.Marshal(sa)
		path := filepath.Join(t.TempDir(), "sa.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		p := &googleclouddns.Provider{Project: s.Project(), ServiceAccountJSON: path}
		_, err := p.GetRecords(ctx, "example.com.")
		if err == nil || !strings.Contains(err.Error(), "stranger@other-project.iam.gserviceaccount.com") || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("err %v, want invalid_grant echoing the account", err)
		}
	})
	t.Run("a token refresh after the first call's context ended", func(t *testing.T) {
		// libdns/googleclouddns builds its service with the first call's context. With tokens that expire at once,
		// the second call must fetch a new token although that context is cancelled.
		s := start(t, WithTokenLifetime(time.Second))
		p := provider(t, s)
		first, cancel := context.WithCancel(ctx)
		if _, err := p.GetRecords(first, "example.com."); err != nil {
			t.Fatal(err)
		}
		cancel()
		time.Sleep(1100 * time.Millisecond) // past the token's expiry: the next call must refresh it, blocking
		if _, err := p.GetRecords(ctx, "example.com."); err != nil {
			t.Errorf("second call after the first context ended: %v", err)
		}
		if n := s.CountRequests("POST", "/token"); n < 2 {
			t.Errorf("%d token requests, want a refresh", n)
		}
	})
}

// expectedMetadataHits counts the metadata requests a test provoked on purpose; TestMain fails on any other.
var expectedMetadataHits atomic.Int64

// TestLibdnsEmptyPathFallsBackToMetadata is the hazard DESIGN.md names: with gcp_application_default empty, the
// library looks for Application Default Credentials and, on what it takes for GCE, asks the metadata server for a
// token. Here that server is a loopback listener; in a pod it would be 169.254.169.254.
func TestLibdnsEmptyPathFallsBackToMetadata(t *testing.T) {
	s := start(t)
	useDefaultTransport(t, s)
	before := len(metadata.seen())
	p := &googleclouddns.Provider{Project: s.Project()}
	_, err := p.GetRecords(context.Background(), "example.com.")
	seen := metadata.seen()[before:]
	expectedMetadataHits.Add(int64(len(seen)))
	if err == nil {
		t.Fatal("GetRecords with ambient credentials succeeded")
	}
	if !slices.ContainsFunc(seen, func(p string) bool { return strings.Contains(p, "/service-accounts/default/token") }) {
		t.Errorf("metadata server saw %q, want a token request", seen)
	}
	if n := s.CountRequests("POST", "/token"); n != 0 {
		t.Errorf("%d requests reached the token endpoint", n)
	}
}

func TestLibdnsMirrorIntoBIND(t *testing.T) {
	bind := testdns.Start(t, testdns.Zone{Name: "validation.example.org.", Updatable: true})
	s := start(t, WithZone("validation", "validation.example.org"), WithMirror(bind))
	p := provider(t, s)
	ctx := context.Background()
	const vzone = "validation.example.org."
	for _, v := range []string{"apex-value", "wildcard-value"} {
		if _, err := p.AppendRecords(ctx, vzone, txt(v)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := bind.LookupTXT("_acme-challenge." + vzone)
	if err != nil || !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("DNS sees %q (%v), want both values", got, err)
	}
	if _, err := p.DeleteRecords(ctx, vzone, txt("apex-value")); err != nil {
		t.Fatal(err)
	}
	got, err = bind.LookupTXT("_acme-challenge." + vzone)
	if err != nil || !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("DNS sees %q (%v) after one delete, want the sibling", got, err)
	}
}

// runChild appends a value with the library as a separately started process would: no transport installed, only
// HTTPS_PROXY and SSL_CERT_FILE from the environment.
func runChild(credsPath string) int {
	p := &googleclouddns.Provider{Project: DefaultProject, ServiceAccountJSON: credsPath}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := p.AppendRecords(ctx, "example.com.", txt("through-proxy"))
	if err == nil {
		var recs []libdns.Record
		recs, err = p.GetRecords(ctx, "example.com.")
		for _, r := range recs {
			fmt.Println(r.RR().Name + "=" + r.RR().Data)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	return 0
}

func TestLibdnsThroughProxyInAChildProcess(t *testing.T) {
	s := start(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), s.ProxyEnv(caFile)...)
	cmd.Env = append(cmd.Env, childEnv+"="+writeCreds(t, s, writer), "SSL_CERT_DIR="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("child process: %v\n%s", err, stderr)
	}
	if !strings.Contains(string(out), "_acme-challenge=through-proxy") {
		t.Errorf("child read back %s", out)
	}
	for _, r := range s.Requests() {
		if !r.ViaProxy || (r.Host != APIHost && r.Host != TokenHost) {
			t.Errorf("request %+v, want it through the proxy for %s or %s", r, APIHost, TokenHost)
		}
	}
	if n := s.CountRequests("POST", "/token"); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}
