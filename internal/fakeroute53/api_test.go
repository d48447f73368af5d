package fakeroute53

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	r53 "github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
)

const (
	keyID  = "AKIAFAKEROUTE53TEST1"
	secret = "fake-secret-access-key/0123456789abcdef"
)

func start(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := Start(append([]Option{WithAccessKey(keyID, secret), WithZone("example.com")}, opts...)...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// sdk returns the AWS SDK's own Route 53 client, pointed at the fake through its HTTPClient option (the SDK
// accepts one; libdns/route53 does not pass it on). Retries are off so that each call is one request.
func sdk(s *Server, id, sec, token string) *r53.Client {
	return r53.New(r53.Options{
		Region:           "us-east-1",
		HTTPClient:       s.Client(),
		Credentials:      credentials.NewStaticCredentialsProvider(id, sec, token),
		RetryMaxAttempts: 1,
	})
}

func zoneID(t *testing.T, s *Server, name string) string {
	t.Helper()
	id, ok := s.ZoneID(name)
	if !ok {
		t.Fatalf("zone %s missing", name)
	}
	return id
}

func txtSet(name string, ttl int64, values ...string) *types.ResourceRecordSet {
	set := &types.ResourceRecordSet{Name: aws.String(name), Type: types.RRTypeTxt, TTL: aws.Int64(ttl)}
	for _, v := range values {
		set.ResourceRecords = append(set.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	return set
}

func submit(ctx context.Context, c *r53.Client, zone string, changes ...types.Change) (*r53.ChangeResourceRecordSetsOutput, error) {
	return c.ChangeResourceRecordSets(ctx, &r53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zone),
		ChangeBatch:  &types.ChangeBatch{Changes: changes},
	})
}

func ch(action types.ChangeAction, set *types.ResourceRecordSet) types.Change {
	return types.Change{Action: action, ResourceRecordSet: set}
}

// apiCode returns the AWS error code and message of err.
func apiCode(err error) (string, string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

func wantCode(t *testing.T, err error, code, msgPart string) {
	t.Helper()
	got, msg := apiCode(err)
	if got != code || !strings.Contains(msg, msgPart) {
		t.Errorf("err %v: code %q message %q, want %q containing %q", err, got, msg, code, msgPart)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := start(t, WithTemporaryAccessKey("ASIATEMPORARYKEY", "temp-secret", "session-token-value"))
	ctx := context.Background()
	tests := []struct {
		name           string
		id, sec, token string
		code, msg      string
	}{
		{"long-term key", keyID, secret, "", "", ""},
		{"temporary key", "ASIATEMPORARYKEY", "temp-secret", "session-token-value", "", ""},
		{"unknown key id is echoed", "AKIAUNKNOWNKEY", secret, "", "InvalidClientTokenId", `"AKIAUNKNOWNKEY"`},
		{"wrong secret", keyID, "not-the-secret", "", "SignatureDoesNotMatch", "Check your AWS Secret Access Key"},
		{"temporary key without its token", "ASIATEMPORARYKEY", "temp-secret", "", "InvalidClientTokenId", "security token"},
		{"wrong session token is echoed", "ASIATEMPORARYKEY", "temp-secret", "stolen-token", "InvalidClientTokenId", `"stolen-token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sdk(s, tt.id, tt.sec, tt.token).ListHostedZones(ctx, &r53.ListHostedZonesInput{})
			if tt.code == "" {
				if err != nil {
					t.Fatalf("ListHostedZones: %v", err)
				}
				return
			}
			wantCode(t, err, tt.code, tt.msg)
		})
	}
	t.Run("region other than us-east-1", func(t *testing.T) {
		c := r53.New(r53.Options{Region: "eu-west-1", BaseEndpoint: aws.String(s.URL()), HTTPClient: s.Client(),
			Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, ""), RetryMaxAttempts: 1})
		_, err := c.ListHostedZones(ctx, &r53.ListHostedZonesInput{})
		wantCode(t, err, "SignatureDoesNotMatch", "valid region")
	})
	t.Run("no signature", func(t *testing.T) {
		resp, err := s.Client().Get("https://" + APIHost + "/2013-04-01/hostedzone")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>MissingAuthenticationToken</Code>") ||
			!strings.Contains(string(body), `<ErrorResponse xmlns="`+Namespace+`">`) {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("clock skew", func(t *testing.T) {
		s2 := start(t)
		s2.setClock(func() time.Time { return time.Now().Add(time.Hour) })
		_, err := sdk(s2, keyID, secret, "").ListHostedZones(ctx, &r53.ListHostedZonesInput{})
		wantCode(t, err, "SignatureDoesNotMatch", "Signature expired")
	})
}

func TestChangeSemantics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const name = "_acme-challenge.example.com."
	tests := []struct {
		name    string
		seed    []types.Change
		changes []types.Change
		code    string
		msg     string
		want    []string // TXT texts at name afterwards
	}{
		{"create", nil, []types.Change{ch("CREATE", txtSet(name, 60, `"a"`, `"b"`))}, "", "", []string{"a", "b"}},
		{"create of an existing set fails", []types.Change{ch("CREATE", txtSet(name, 60, `"a"`))},
			[]types.Change{ch("CREATE", txtSet(name, 60, `"b"`))}, "InvalidChangeBatch",
			"[Tried to create resource record set [name='_acme-challenge.example.com.', type='TXT'] but it already exists]", []string{"a"}},
		{"upsert replaces the set", []types.Change{ch("CREATE", txtSet(name, 60, `"a"`, `"b"`))},
			[]types.Change{ch("UPSERT", txtSet(name, 60, `"c"`))}, "", "", []string{"c"}},
		{"delete must match the values", []types.Change{ch("CREATE", txtSet(name, 60, `"a"`, `"b"`))},
			[]types.Change{ch("DELETE", txtSet(name, 60, `"a"`))}, "InvalidChangeBatch", "but the values provided do not match the current values", []string{"a", "b"}},
		{"delete must match the TTL", []types.Change{ch("CREATE", txtSet(name, 60, `"a"`))},
			[]types.Change{ch("DELETE", txtSet(name, 300, `"a"`))}, "InvalidChangeBatch", "do not match", []string{"a"}},
		{"delete of the exact set, any order", []types.Change{ch("CREATE", txtSet(name, 60, `"a"`, `"b"`))},
			[]types.Change{ch("DELETE", txtSet(name, 60, `"b"`, `"a"`))}, "", "", nil},
		{"delete of a missing set fails", nil, []types.Change{ch("DELETE", txtSet(name, 60, `"a"`))}, "InvalidChangeBatch", "but it was not found", nil},
		{"delete then create in one batch", []types.Change{ch("CREATE", txtSet(name, 60, `"a"`))},
			[]types.Change{ch("DELETE", txtSet(name, 60, `"a"`)), ch("CREATE", txtSet(name, 60, `"a"`, `"b"`))}, "", "", []string{"a", "b"}},
		{"a batch is atomic", nil, []types.Change{ch("CREATE", txtSet(name, 60, `"a"`)), ch("DELETE", txtSet("x.example.com.", 60, `"a"`))},
			"InvalidChangeBatch", "x.example.com.', type='TXT'] but it was not found", nil},
		{"duplicate values", nil, []types.Change{ch("UPSERT", txtSet(name, 60, `"a"`, `"a"`))}, "InvalidChangeBatch", `Duplicate Resource Record: '"a"'`, nil},
		{"unquoted TXT", nil, []types.Change{ch("UPSERT", txtSet(name, 60, `a`))}, "InvalidChangeBatch", "Value should be enclosed in quotation marks", nil},
		{"name outside the zone", nil, []types.Change{ch("UPSERT", txtSet("_acme-challenge.example.org.", 60, `"a"`))},
			"InvalidChangeBatch", "RRSet with DNS name _acme-challenge.example.org. is not permitted in zone example.com.", nil},
		{"missing TTL", nil, []types.Change{ch("UPSERT", &types.ResourceRecordSet{Name: aws.String(name), Type: types.RRTypeTxt,
			ResourceRecords: []types.ResourceRecord{{Value: aws.String(`"a"`)}}})}, "InvalidInput", "Expected exactly one of [AliasTarget", nil},
		{"names are case-insensitive, the dot optional", []types.Change{ch("CREATE", txtSet(name, 60, `"a"`))},
			[]types.Change{ch("UPSERT", txtSet("_ACME-Challenge.Example.com", 60, `"b" "c"`))}, "", "", []string{"bc"}},
		{"octal escapes", nil, []types.Change{ch("CREATE", txtSet(name, 60, `"ex\344mple \"q\""`))}, "", "", []string{"ex\xe4mple \"q\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t)
			c := sdk(s, keyID, secret, "")
			id := zoneID(t, s, "example.com")
			if len(tt.seed) > 0 {
				if _, err := submit(ctx, c, id, tt.seed...); err != nil {
					t.Fatalf("seed: %v", err)
				}
			}
			out, err := submit(ctx, c, id, tt.changes...)
			if tt.code != "" {
				wantCode(t, err, tt.code, tt.msg)
			} else if err != nil {
				t.Fatalf("change: %v", err)
			} else if out.ChangeInfo.Status != types.ChangeStatusPending || !strings.HasPrefix(aws.ToString(out.ChangeInfo.Id), "/change/C") {
				t.Errorf("ChangeInfo %+v, want PENDING with a /change/ id", out.ChangeInfo)
			}
			if got := s.TXT(name); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("TXT afterwards %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApexRecordsAndCNAME(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := start(t)
	c := sdk(s, keyID, secret, "")
	id := zoneID(t, s, "example.com")
	recs := s.Records("example.com")
	if len(recs) != 2 || recs[0].Type != "NS" || recs[1].Type != "SOA" || recs[0].Name != "example.com." {
		t.Fatalf("a new zone holds %+v, want its NS and SOA", recs)
	}
	ns := &types.ResourceRecordSet{Name: aws.String("example.com."), Type: types.RRTypeNs, TTL: aws.Int64(recs[0].TTL)}
	for _, v := range recs[0].Values {
		ns.ResourceRecords = append(ns.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	_, err := submit(ctx, c, id, ch("DELETE", ns))
	wantCode(t, err, "InvalidChangeBatch", "NS record set")

	cname := &types.ResourceRecordSet{Name: aws.String("_acme-challenge.example.com."), Type: types.RRTypeCname, TTL: aws.Int64(60),
		ResourceRecords: []types.ResourceRecord{{Value: aws.String("target.example.net.")}}}
	if _, err := submit(ctx, c, id, ch("CREATE", cname)); err != nil {
		t.Fatal(err)
	}
	_, err = submit(ctx, c, id, ch("CREATE", txtSet("_acme-challenge.example.com.", 60, `"a"`)))
	wantCode(t, err, "InvalidChangeBatch", "conflicting RRSet of type CNAME")
}

func TestListResourceRecordSetsPaginates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := start(t, WithPageSizes(4, 0))
	c := sdk(s, keyID, secret, "")
	id := zoneID(t, s, "example.com")
	var changes []types.Change
	for _, n := range []string{"b", "a.b", "a", "*", "z", "-x", "m"} {
		changes = append(changes, ch("CREATE", txtSet(n+".example.com.", 60, `"v"`)))
	}
	if _, err := submit(ctx, c, id, changes...); err != nil {
		t.Fatal(err)
	}
	var names []string
	in := &r53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id), MaxItems: aws.Int32(1000)}
	pages := 0
	for {
		out, err := c.ListResourceRecordSets(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.ResourceRecordSets) > 4 || aws.ToInt32(out.MaxItems) != 4 {
			t.Errorf("page of %d with MaxItems %d, want at most 4", len(out.ResourceRecordSets), aws.ToInt32(out.MaxItems))
		}
		for _, set := range out.ResourceRecordSets {
			names = append(names, aws.ToString(set.Name)+"/"+string(set.Type))
		}
		if !out.IsTruncated {
			break
		}
		in.StartRecordName, in.StartRecordType = out.NextRecordName, out.NextRecordType
	}
	// Labels reversed, byte order: com.example. < com.example.* < com.example.-x < com.example.a …; the
	// wildcard is returned as \052.
	want := []string{"example.com./NS", "example.com./SOA", `\052.example.com./TXT`, "-x.example.com./TXT", "a.example.com./TXT",
		"b.example.com./TXT", "a.b.example.com./TXT", "m.example.com./TXT", "z.example.com./TXT"}
	if !slices.Equal(names, want) || pages != 3 {
		t.Errorf("listed %q over %d pages, want %q over 3", names, pages, want)
	}
	_, err := c.ListResourceRecordSets(ctx, &r53.ListResourceRecordSetsInput{HostedZoneId: aws.String("ZNOSUCHZONE")})
	var nsz *types.NoSuchHostedZone
	if !errors.As(err, &nsz) {
		t.Errorf("unknown zone: %v, want NoSuchHostedZone", err)
	}
}

func TestHostedZoneLists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := start(t, WithPageSizes(0, 2), WithZone("b.example.org"), WithZone("example.org"), WithPrivateZone("example.com"), WithZone("a.test"))
	c := sdk(s, keyID, secret, "")

	var all []string
	in := &r53.ListHostedZonesInput{}
	for {
		out, err := c.ListHostedZones(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range out.HostedZones {
			all = append(all, aws.ToString(z.Name))
		}
		if !out.IsTruncated {
			break
		}
		in.Marker = out.NextMarker
	}
	if want := []string{"example.com.", "b.example.org.", "example.org.", "example.com.", "a.test."}; !slices.Equal(all, want) {
		t.Errorf("ListHostedZones %q, want %q", all, want)
	}

	out, err := c.ListHostedZonesByName(ctx, &r53.ListHostedZonesByNameInput{DNSName: aws.String("example.org"), MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.HostedZones) != 1 || aws.ToString(out.HostedZones[0].Name) != "example.org." || !out.IsTruncated ||
		aws.ToString(out.NextDNSName) != "b.example.org." {
		t.Errorf("by name from example.org: %+v next %v", out.HostedZones, aws.ToString(out.NextDNSName))
	}
	out, err = c.ListHostedZonesByName(ctx, &r53.ListHostedZonesByNameInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, z := range out.HostedZones {
		names = append(names, aws.ToString(z.Name))
	}
	if want := []string{"example.com.", "example.com."}; !slices.Equal(names, want) || !out.IsTruncated {
		t.Errorf("by name from the start: %q, want %q (com sorts before org and test)", names, want)
	}
	got, err := c.GetHostedZone(ctx, &r53.GetHostedZoneInput{Id: aws.String(zoneID(t, s, "example.com"))})
	if err != nil || got.HostedZone.Config.PrivateZone || got.DelegationSet == nil || len(got.DelegationSet.NameServers) != 4 {
		t.Errorf("GetHostedZone: %+v %v", got, err)
	}
}

func TestGetChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := start(t, WithSyncDelay(500*time.Millisecond))
	c := sdk(s, keyID, secret, "")
	out, err := submit(ctx, c, zoneID(t, s, "example.com"), ch("CREATE", txtSet("x.example.com.", 60, `"v"`)))
	if err != nil {
		t.Fatal(err)
	}
	get, err := c.GetChange(ctx, &r53.GetChangeInput{Id: out.ChangeInfo.Id})
	if err != nil || get.ChangeInfo.Status != types.ChangeStatusPending {
		t.Fatalf("GetChange within the delay: %+v %v, want PENDING", get, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for get.ChangeInfo.Status != types.ChangeStatusInsync && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if get, err = c.GetChange(ctx, &r53.GetChangeInput{Id: out.ChangeInfo.Id}); err != nil {
			t.Fatal(err)
		}
	}
	if get.ChangeInfo.Status != types.ChangeStatusInsync || aws.ToString(get.ChangeInfo.Id) != aws.ToString(out.ChangeInfo.Id) {
		t.Errorf("GetChange after the delay: %+v, want INSYNC", get.ChangeInfo)
	}
	_, err = c.GetChange(ctx, &r53.GetChangeInput{Id: aws.String("/change/CNOSUCHCHANGE")})
	wantCode(t, err, "NoSuchChange", "does not exist")
}

func TestThrottling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, status := range []int{0, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var opts []Option
			if status != 0 {
				opts = append(opts, WithThrottleStatus(status))
			}
			s := start(t, opts...)
			s.RateLimit(1, 5*time.Second)
			s.FailNext(1, http.StatusServiceUnavailable)
			c := sdk(s, keyID, secret, "")
			_, err := c.ListHostedZones(ctx, &r53.ListHostedZonesInput{})
			wantCode(t, err, "Throttling", "Rate exceeded")
			_, err = c.ListHostedZones(ctx, &r53.ListHostedZonesInput{})
			wantCode(t, err, "ServiceUnavailable", "")
			want := status
			if want == 0 {
				want = http.StatusBadRequest
			}
			reqs := s.Requests()
			if reqs[0].Status != want {
				t.Errorf("throttled with HTTP %d, want %d", reqs[0].Status, want)
			}
			if _, err := c.ListHostedZones(ctx, &r53.ListHostedZonesInput{}); err != nil {
				t.Errorf("after the faults: %v", err)
			}
		})
	}
}

type failingMirror struct {
	mu    sync.Mutex
	calls []string
	fail  bool
}

func (m *failingMirror) AppendTXT(_ context.Context, fqdn, value string, ttl int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("append %s %s %d", fqdn, value, ttl))
	if m.fail {
		return errors.New("dns server refused")
	}
	return nil
}

func (m *failingMirror) DeleteTXT(_ context.Context, fqdn, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("delete %s %s", fqdn, value))
	if m.fail {
		return errors.New("dns server refused")
	}
	return nil
}

func (m *failingMirror) took() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.calls
	m.calls = nil
	return out
}

func TestMirror(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := &failingMirror{}
	s := start(t, WithMirror(m))
	c := sdk(s, keyID, secret, "")
	id := zoneID(t, s, "example.com")
	const name = "_acme-challenge.example.com."
	steps := []struct {
		change types.Change
		want   []string
	}{
		{ch("CREATE", txtSet(name, 60, `"a"`)), []string{"append " + name + " a 60"}},
		{ch("UPSERT", txtSet(name, 60, `"a"`, `"b"`)), []string{"append " + name + " b 60"}},
		{ch("UPSERT", txtSet(name, 60, `"b"`)), []string{"delete " + name + " a"}},
		{ch("UPSERT", txtSet("www.example.com.", 60, `"not mirrored? yes, TXT"`)), []string{"append www.example.com. not mirrored? yes, TXT 60"}},
		{ch("DELETE", txtSet(name, 60, `"b"`)), []string{"delete " + name + " b"}},
	}
	for i, st := range steps {
		if _, err := submit(ctx, c, id, st.change); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := m.took(); !slices.Equal(got, st.want) {
			t.Errorf("step %d: mirror %q, want %q", i, got, st.want)
		}
	}
	m.mu.Lock()
	m.fail = true
	m.mu.Unlock()
	_, err := submit(ctx, c, id, ch("CREATE", txtSet(name, 60, `"c"`)))
	wantCode(t, err, "InternalFailure", "dns server refused")
	if got := s.TXT(name); got != nil {
		t.Errorf("store after a failed mirror: %q, want unchanged (no set)", got)
	}
}
