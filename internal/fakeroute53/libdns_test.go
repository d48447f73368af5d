package fakeroute53

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"github.com/libdns/route53"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

// These tests drive the fake with the real client the project will use, github.com/libdns/route53 v1.6.2. It has
// no endpoint or HTTP client field, so in process it reaches the fake through AWS_ENDPOINT_URL_ROUTE_53, which
// the AWS SDK reads whenever libdns/route53 loads its config: t.Setenv, hence no t.Parallel here.

// awsEnv isolates the AWS SDK from the machine: no shared config or credentials files, no ambient keys, never
// instance metadata.
func awsEnv(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_PROFILE": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_ENDPOINT_URL": "", "AWS_CA_BUNDLE": "",
	} {
		t.Setenv(k, v)
	}
}

// provider returns a libdns/route53 provider whose SDK client goes to s.
func provider(t *testing.T, s *Server) *route53.Provider {
	t.Helper()
	awsEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_ROUTE_53", s.URL())
	return &route53.Provider{AccessKeyId: keyID, SecretAccessKey: secret, Region: "us-east-1"}
}

func texts(recs []libdns.Record) []string {
	var out []string
	for _, r := range recs {
		rr := r.RR()
		out = append(out, rr.Name+"="+rr.Data)
	}
	slices.Sort(out)
	return out
}

// changeCalls counts ChangeResourceRecordSets calls.
func changeCalls(s *Server) int { return s.CountRequests("POST", "/2013-04-01/hostedzone/") }

func TestLibdnsTwoValuesAtOneName(t *testing.T) {
	s := start(t)
	p := provider(t, s)
	ctx := context.Background()
	const name = "_acme-challenge.example.com."
	txt := func(v string, ttl time.Duration) []libdns.Record {
		return []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: v, TTL: ttl}}
	}

	if _, err := p.AppendRecords(ctx, "example.com.", txt("apex-value", time.Minute)); err != nil {
		t.Fatalf("append the first value: %v", err)
	}
	// AppendRecords reads the whole zone, merges and UPSERTs the set: the sibling survives because this
	// process read it (and libdns/route53 locks per name within the process; not across processes).
	created, err := p.AppendRecords(ctx, "example.com.", txt("wildcard-value", 2*time.Minute))
	if err != nil {
		t.Fatalf("append the sibling: %v", err)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("after two appends %q, want both", got)
	}
	if len(created) != 1 {
		t.Errorf("AppendRecords returned %d records, want the one added", len(created))
	}
	// The set keeps the TTL of its first value: the UPSERT takes the TTL of the first record, the existing one.
	if set := findSet(s, name); set.TTL != 60 {
		t.Errorf("set TTL %d, want 60 (the existing value's, not the appended 120)", set.TTL)
	}
	if n := s.CountRequests("GET", "/2013-04-01/hostedzonesbyname"); n != 2 {
		t.Errorf("%d zone lookups, want one per call (libdns/route53 does not cache the zone id)", n)
	}

	// An identical append sends a set holding the value twice: Route 53 refuses it.
	_, err = p.AppendRecords(ctx, "example.com.", txt("apex-value", time.Minute))
	if err == nil || !strings.Contains(err.Error(), "InvalidChangeBatch") || !strings.Contains(err.Error(), `Duplicate Resource Record: '"apex-value"'`) {
		t.Errorf("identical append: err %v, want InvalidChangeBatch Duplicate Resource Record", err)
	}

	// Deleting a value that is not there still writes: the set is UPSERTed unchanged.
	before := changeCalls(s)
	deleted, err := p.DeleteRecords(ctx, "example.com.", txt("never-written", 0))
	if err != nil || len(deleted) != 0 {
		t.Errorf("delete of an absent value: %d deleted, err %v", len(deleted), err)
	}
	if n := changeCalls(s) - before; n != 1 {
		t.Errorf("delete of an absent value sent %d changes, want 1 (the needless UPSERT)", n)
	}

	// Deleting one value UPSERTs the set without it; the TTL in the request does not matter.
	deleted, err = p.DeleteRecords(ctx, "example.com.", txt("apex-value", 5*time.Hour))
	if err != nil || len(deleted) != 1 {
		t.Fatalf("delete one value: %d deleted, err %v", len(deleted), err)
	}
	if got := s.TXT(name); !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("after deleting one value %q, want the sibling alone", got)
	}
	// Deleting the last value DELETEs the set, with the values and TTL it read: Route 53 accepts it.
	if _, err := p.DeleteRecords(ctx, "example.com.", txt("wildcard-value", 0)); err != nil {
		t.Fatalf("delete the last value: %v", err)
	}
	if got := s.TXT(name); got != nil {
		t.Errorf("after deleting both %q, want no set", got)
	}
	// A name with no set at all: no change is sent.
	before = changeCalls(s)
	if _, err := p.DeleteRecords(ctx, "example.com.", txt("apex-value", 0)); err != nil {
		t.Errorf("delete at an empty name: %v", err)
	}
	if n := changeCalls(s) - before; n != 0 {
		t.Errorf("delete at an empty name sent %d changes, want 0", n)
	}
}

func findSet(s *Server, name string) RRSet {
	for _, set := range s.Records("example.com") {
		if set.Name == name && set.Type == "TXT" {
			return set
		}
	}
	return RRSet{}
}

// TestLibdnsAppendRacesAcrossProviders shows why route53 needs the set strategy's lock across replicas: two
// provider instances (two processes, as far as libdns/route53's in-process lock is concerned) that read the set
// before either writes each UPSERT their own merge, and the later write drops the other's value.
func TestLibdnsAppendRacesAcrossProviders(t *testing.T) {
	s := start(t)
	p1, p2 := provider(t, s), &route53.Provider{AccessKeyId: keyID, SecretAccessKey: secret, Region: "us-east-1"}
	ctx := context.Background()
	// Both reads happen before either write: hold every change until two reads have been answered.
	s.Slow(1, 300*time.Millisecond, fakeapi.Match{Method: "POST"})
	errc := make(chan error, 1)
	go func() {
		_, err := p1.AppendRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "one", TTL: time.Minute}})
		errc <- err
	}()
	for s.CountRequests("GET", "/2013-04-01/hostedzone/") < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := p2.AppendRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "two", TTL: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := s.TXT("_acme-challenge.example.com."); len(got) != 1 {
		t.Errorf("after two racing appends %q, want one value lost (read-merge-UPSERT is not atomic)", got)
	}
}

func TestLibdnsGetRecordsPaginates(t *testing.T) {
	s := start(t, WithPageSizes(5, 0))
	p := provider(t, s)
	ctx := context.Background()
	var recs []libdns.Record
	for i := range 12 {
		recs = append(recs, libdns.TXT{Name: fmt.Sprintf("r%02d", i), Text: "v", TTL: time.Minute})
	}
	if _, err := p.AppendRecords(ctx, "example.com.", recs); err != nil {
		t.Fatal(err)
	}
	got, err := p.GetRecords(ctx, "example.com.")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 17 { // 12 TXT, 4 NS and the SOA
		t.Errorf("GetRecords returned %d records, want 17", len(got))
	}
	var pages []string
	for _, r := range s.Requests() {
		if strings.HasSuffix(r.Path, "/rrset") && r.Method == http.MethodGet {
			pages = append(pages, r.Query.Get("name"))
		}
	}
	// The last GetRecords: three pages, the 2nd and 3rd starting where the previous one stopped.
	last := pages[len(pages)-3:]
	if last[0] != "" || last[1] == "" || last[2] == "" {
		t.Errorf("last listing fetched pages starting at %q, want three pages", last)
	}
	if q := s.Requests()[1].Query.Get("maxitems"); q != "1000" {
		t.Errorf("libdns/route53 asked for maxitems %q, want 1000 (which the fake clamps to the page size)", q)
	}
}

func TestLibdnsZoneLookup(t *testing.T) {
	s := start(t, WithPrivateZone("example.com"), WithZone("example.org"))
	p := provider(t, s)
	ctx := context.Background()
	// A public and a private zone of one name: ListHostedZonesByName with maxitems 1 answers with the first in
	// its order, here the public zone (created first).
	if _, err := p.AppendRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "x", Text: "v", TTL: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	if got := s.TXT("x.example.com."); len(got) != 1 {
		t.Errorf("record not in the public zone: %q", got)
	}
	// libdns/route53 compares the zone name as given with Route 53's, which has a trailing dot.
	_, err := p.GetRecords(ctx, "example.org")
	if err == nil || !strings.Contains(err.Error(), "HostedZoneNotFound") {
		t.Errorf("zone without trailing dot: err %v, want HostedZoneNotFound", err)
	}
	_, err = p.GetRecords(ctx, "example.net.")
	if err == nil || !strings.Contains(err.Error(), "HostedZoneNotFound") {
		t.Errorf("unknown zone: err %v, want HostedZoneNotFound", err)
	}
	// HostedZoneID skips the lookup.
	id := zoneID(t, s, "example.org")
	p2 := &route53.Provider{AccessKeyId: keyID, SecretAccessKey: secret, Region: "us-east-1", HostedZoneID: id}
	before := s.CountRequests("GET", "/2013-04-01/hostedzonesbyname")
	if _, err := p2.GetRecords(ctx, "example.org."); err != nil {
		t.Fatal(err)
	}
	if s.CountRequests("GET", "/2013-04-01/hostedzonesbyname") != before {
		t.Error("HostedZoneID set, yet the zone was looked up")
	}
}

func TestLibdnsErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("wrong secret", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		p.SecretAccessKey = "wrong"
		_, err := p.GetRecords(ctx, "example.com.")
		if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") || strings.Contains(err.Error(), "wrong") {
			t.Errorf("err %v, want SignatureDoesNotMatch without the secret", err)
		}
	})
	t.Run("unknown key id is echoed", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		p.AccessKeyId = "AKIAECHOEDBACK"
		_, err := p.GetRecords(ctx, "example.com.")
		if err == nil || !strings.Contains(err.Error(), "InvalidClientTokenId") || !strings.Contains(err.Error(), "AKIAECHOEDBACK") {
			t.Errorf("err %v, want InvalidClientTokenId naming the key id", err)
		}
	})
	t.Run("no credentials: no instance metadata, no request", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		p.AccessKeyId, p.SecretAccessKey = "", ""
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		began := time.Now()
		_, err := p.GetRecords(ctx, "example.com.")
		if err == nil || !strings.Contains(err.Error(), "credentials") || time.Since(began) > 5*time.Second {
			t.Errorf("err %v after %v, want a prompt credentials error (AWS_EC2_METADATA_DISABLED)", err, time.Since(began))
		}
		if n := len(s.Requests()); n != 0 {
			t.Errorf("%d requests reached the fake without credentials", n)
		}
	})
	t.Run("throttled once, the SDK retries", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		s.RateLimit(1, 0)
		if _, err := p.GetRecords(ctx, "example.com."); err != nil {
			t.Errorf("GetRecords after one Throttling: %v", err)
		}
		if n := s.CountRequests("GET", "/2013-04-01/hostedzonesbyname"); n != 2 {
			t.Errorf("%d zone lookups, want 2 (the SDK's retry)", n)
		}
	})
	t.Run("throttled with retries off", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		p.MaxRetries = 1 // one attempt
		s.RateLimit(1, 0)
		_, err := p.GetRecords(ctx, "example.com.")
		if err == nil || !strings.Contains(err.Error(), "Throttling") || !strings.Contains(err.Error(), "StatusCode: 400") {
			t.Errorf("err %v, want HTTP 400 Throttling", err)
		}
	})
	t.Run("wait for sync past the deadline", func(t *testing.T) {
		s := start(t, WithSyncDelay(time.Hour))
		p := provider(t, s)
		p.WaitForRoute53Sync = true
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		began := time.Now()
		_, err := p.AppendRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "w", Text: "v", TTL: time.Minute}})
		if err == nil || time.Since(began) > 10*time.Second {
			t.Errorf("err %v after %v, want the deadline to end the wait", err, time.Since(began))
		}
		if s.CountRequests("GET", "/2013-04-01/change/") == 0 {
			t.Error("GetChange was never called")
		}
		// The change was made, though the call failed: a caller that retries must expect the value there.
		if got := s.TXT("w.example.com."); len(got) != 1 {
			t.Errorf("TXT %q, want the change made", got)
		}
	})
	t.Run("wait for sync, in sync at once", func(t *testing.T) {
		s := start(t)
		p := provider(t, s)
		p.WaitForRoute53Sync = true
		if _, err := p.AppendRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "w", Text: "v", TTL: time.Minute}}); err != nil {
			t.Fatal(err)
		}
		if n := s.CountRequests("GET", "/2013-04-01/change/"); n != 1 {
			t.Errorf("%d GetChange calls, want 1", n)
		}
	})
}

func TestLibdnsMirrorIntoBIND(t *testing.T) {
	bind := testdns.Start(t, testdns.Zone{Name: "validation.example.org.", Updatable: true})
	s := start(t, WithZone("validation.example.org"), WithMirror(bind))
	p := provider(t, s)
	ctx := context.Background()
	const zone = "validation.example.org."
	for _, v := range []string{"apex-value", "wildcard-value"} {
		if _, err := p.AppendRecords(ctx, zone, []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: v, TTL: time.Minute}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := bind.LookupTXT("_acme-challenge." + zone)
	if err != nil || !slices.Equal(got, []string{"apex-value", "wildcard-value"}) {
		t.Fatalf("DNS sees %q (%v), want both values", got, err)
	}
	if _, err := p.DeleteRecords(ctx, zone, []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "apex-value"}}); err != nil {
		t.Fatal(err)
	}
	got, err = bind.LookupTXT("_acme-challenge." + zone)
	if err != nil || !slices.Equal(got, []string{"wildcard-value"}) {
		t.Errorf("DNS sees %q (%v) after one delete, want the sibling", got, err)
	}
}

// childEnv marks the test binary re-executed as a separate process: it runs libdns/route53 with no endpoint
// override, so its SDK goes to route53.amazonaws.com through HTTPS_PROXY, as a separately started webhook would.
const childEnv = "FAKEROUTE53_CHILD"

// TestMain runs the child mode when asked.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func runChild() int {
	p := &route53.Provider{AccessKeyId: keyID, SecretAccessKey: secret, Region: "eu-central-1", MaxRetries: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := p.AppendRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "through-proxy", TTL: time.Minute}})
	if err == nil {
		var recs []libdns.Record
		recs, err = p.GetRecords(ctx, "example.com.")
		_ = json.NewEncoder(os.Stdout).Encode(texts(recs))
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
	none := filepath.Join(t.TempDir(), "none")
	cmd.Env = append(os.Environ(), s.ProxyEnv(caFile)...)
	cmd.Env = append(cmd.Env, childEnv+"=1", "SSL_CERT_DIR="+t.TempDir(),
		"AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none, "AWS_PROFILE=")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("child process: %v\n%s", err, stderr)
	}
	if !strings.Contains(string(out), "_acme-challenge=through-proxy") {
		t.Errorf("child read back %s", out)
	}
	if got := s.TXT("_acme-challenge.example.com."); !slices.Equal(got, []string{"through-proxy"}) {
		t.Errorf("TXT %q", got)
	}
	for _, r := range s.Requests() {
		// A region other than us-east-1 still signs for us-east-1: the SDK's endpoint rules for the global
		// endpoint say so, and the fake checks it.
		if !r.ViaProxy || r.Host != APIHost || r.Status != 200 {
			t.Errorf("request %+v, want it through the proxy for %s", r, APIHost)
		}
	}
}
