//go:build integration

// Package e2e issues real certificates from a real ACME CA (Pebble, in process) through CNAME delegation, with the
// project's webhook binary running as a separate process behind a real kube-apiserver's aggregation layer, called
// by cert-manager's own webhook client, writing into a real BIND. Each component acts with its own non-admin
// identity and only the RBAC the Helm chart ships.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	"github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	cmwebhook "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/webhook"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testacme"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testlog"
)

const (
	groupName = "acme.delegate.test"
	// release and namespace as the chart's README installs it: the Service and ServiceAccount names follow.
	release   = "cert-manager-webhook-delegate"
	namespace = testcluster.Namespace

	delegationZone = "validation.example.org."
	cfToken        = "e2e-token-0123456789abcdefghijklmnopqrs"
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(klog.NewKlogr())
	os.Exit(testcluster.Main(m))
}

// world is everything the scenarios share.
type world struct {
	// tb is the test that set the world up: what the scenarios share lives until it ends.
	tb      testing.TB
	cluster *testcluster.Cluster
	// hookSvc is the release the tests install first: groupName behind the Service release.
	hookSvc  *testcluster.Service
	bind     *testdns.BIND
	cf       *fakecloudflare.Server
	ca       *testacme.CA
	bin      string
	hookKC   string
	hookEnv  []string
	hook     *testcluster.Webhook
	client   *cmwebhook.Webhook
	rfc2136  map[string]any
	cfBlock  map[string]any
	hookPort int
}

func TestEndToEnd(t *testing.T) {
	w := setup(t)
	t.Run("1 apex and wildcard share one name", w.apexAndWildcard)
	t.Run("2 three zones delegated into one, concurrently", w.threeZonesConcurrently)
	t.Run("3 aliasProvider differs from provider", w.separateAliasProvider)
	t.Run("4 delegations table", w.delegationsTable)
	t.Run("5 cnameStrategy Follow", w.follow)
	t.Run("6 missing CNAME fails visibly and leaves nothing", w.missingCNAME)
	t.Run("7 another process cleans up after a restart", w.restart)
	t.Run("8 a fenced webhook writes only inside allowedZones", w.fenced)
}

func setup(t testing.TB) *world {
	t.Helper()
	w := &world{tb: t}
	cname := func(target string) []string { return []string{"_acme-challenge IN CNAME " + target} }
	w.bind = testdns.Start(t,
		testdns.Zone{Name: "example.com.", Records: cname("_acme-challenge.validation.example.org.")},
		testdns.Zone{Name: "a.test.", Records: cname("_acme-challenge.validation.example.org.")},
		testdns.Zone{Name: "b.test.", Records: cname("_acme-challenge.validation.example.org.")},
		testdns.Zone{Name: "c.test.", Records: cname("_acme-challenge.validation.example.org.")},
		testdns.Zone{Name: "d1.test.", Records: cname("_acme-challenge.one.validation.example.org.")},
		testdns.Zone{Name: "d2.test.", Records: cname("_acme-challenge.two.validation.example.org.")},
		testdns.Zone{Name: "follow.test.", Records: cname("_acme-challenge.follow.validation.example.org.")},
		testdns.Zone{Name: "restart.test.", Records: cname("_acme-challenge.validation.example.org.")},
		testdns.Zone{Name: "nocname.test."}, // someone forgot the CNAME
		// Delegated correctly, but into a zone a fenced webhook may not write.
		testdns.Zone{Name: "outside.test.", Records: cname("_acme-challenge.direct.example.net.")},
		testdns.Zone{Name: delegationZone, Updatable: true},
		testdns.Zone{Name: "direct.example.net.", Updatable: true},
	)
	w.cf = fakecloudflare.New(fakecloudflare.WithToken(cfToken), fakecloudflare.WithZone("direct.example.net"))
	w.cf.Mirror = w.bind
	if err := w.cf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.cf.Close)
	caFile := filepath.Join(t.TempDir(), "cloudflare-ca.pem")
	if err := w.cf.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	// Pebble logs from its own goroutines, also after a test ends: keep it, and show it when something failed.
	pebbleLog := &testlog.Buffer{}
	w.ca = testacme.Start(w.bind.Addr, pebbleLog)
	t.Cleanup(func() {
		w.ca.Close()
		if t.Failed() {
			t.Logf("pebble log:\n%s", pebbleLog.Tail(60))
		}
	})

	w.cluster = testcluster.Start(t)
	w.hookSvc = w.cluster.Service(t, groupName, release)
	// The chart's RBAC and ServiceAccount, rendered by Helm exactly as the README installs it.
	applied := w.cluster.ApplyChartIdentity(t, release, groupName)
	t.Logf("applied from the chart: %s", strings.Join(applied, ", "))
	// cert-manager's own ServiceAccount, which the chart's domain-solver ClusterRole is bound to.
	w.cluster.CreateServiceAccount(t, namespace, testcluster.CertManagerServiceAccount)
	// The webhook uses only Secrets labelled for it (REQUIRE_SECRET_LABEL defaults to true), and sends a credential
	// to an endpoint the issuer names (rfc2136's server) only if the Secret's owner listed it; Cloudflare's API
	// endpoint is fixed, so its Secret needs the label alone.
	w.cluster.CreateSecrets(t,
		testcluster.WebhookSecret("tsig-validation", map[string]string{"secret": w.bind.Secret}, w.bind.Addr),
		testcluster.WebhookSecret("cloudflare", map[string]string{"api-token": cfToken}),
	)
	// No webhook process may ever print them: each one's whole output is checked when it stops.
	w.cluster.WatchSecrets(t, w.bind.Secret, cfToken)

	w.bin = testcluster.WebhookBinary(t)
	w.hookKC, _ = w.cluster.KubeconfigFor(t, namespace, release)
	w.hookEnv = []string{
		"GROUP_NAME=" + groupName,
		// The fake Cloudflare API answers for api.cloudflare.com through a CONNECT proxy with a test CA.
		"HTTPS_PROXY=" + w.cf.ProxyURL(), "NO_PROXY=127.0.0.1,localhost", "SSL_CERT_FILE=" + caFile,
		// The delegation check asks BIND, recursively: its zones' NS is localhost., where nothing answers on
		// port 53, so the authoritative walk (the default) could not reach them.
		"DNS_CHECK_NAMESERVERS=" + w.bind.Addr, "DNS_CHECK_AUTHORITATIVE=false",
	}
	w.hookPort = testcluster.FreePort(t)
	w.hook = w.hookSvc.StartWebhook(t, testcluster.WebhookOptions{Bin: w.bin, Kubeconfig: w.hookKC, Port: w.hookPort, Env: w.hookEnv})
	w.hookSvc.Register(t, w.hookPort)
	w.hookSvc.WaitAvailable(t, 60*time.Second)

	w.client = w.cluster.CertManagerClient(t)
	w.rfc2136 = map[string]any{"rfc2136": map[string]any{
		"server": w.bind.Addr, "key_name": w.bind.KeyName, "key_alg": w.bind.KeyAlg,
		"key": map[string]any{"secretKeyRef": map[string]any{"name": "tsig-validation", "key": "secret"}},
	}}
	w.cfBlock = map[string]any{"cloudflare": map[string]any{
		"api_token": map[string]any{"secretKeyRef": map[string]any{"name": "cloudflare", "key": "api-token"}},
	}}
	return w
}

// issuer is one issuer's solver config plus how cert-manager resolves names for it.
type issuer struct {
	w *world
	// group is the webhook's API group (groupName in the issuer's solver): which webhook the call reaches.
	group  string
	config map[string]any
	// follow mimics cnameStrategy: Follow: cert-manager hands over the CNAME target and its zone.
	follow map[string][2]string
	// selfCheck waits for each value to be visible at the production name before the CA is asked, as
	// cert-manager does; off, the CA validates whatever DNS holds.
	selfCheck bool
	// beforeAccept runs after the self-check, before the CA validates.
	beforeAccept func(presented []testacme.Challenge)

	mu       sync.Mutex
	counts   map[string]int
	presents []presentCall
	// cleanups are the UIDs of the CleanUp requests sent, which the webhook logs.
	cleanups []types.UID
}

// presentCall is one Present as cert-manager's webhook client returned it.
type presentCall struct {
	ch  testacme.Challenge
	err error
}

func (w *world) issuer(config map[string]any) *issuer {
	return &issuer{w: w, group: groupName, config: config, selfCheck: true, counts: map[string]int{}}
}

// request builds the ChallengeRequest cert-manager sends: resolvedZone comes from an SOA walk and is the
// production zone even when _acme-challenge.<domain> is a CNAME into another zone.
func (is *issuer) request(ch testacme.Challenge) *whapi.ChallengeRequest {
	fqdn := "_acme-challenge." + ch.Domain + "."
	zone, err := util.FindZoneByFqdn(context.Background(), fqdn, []string{is.w.bind.Addr})
	if err != nil {
		zone = "unresolved."
	}
	if f, ok := is.follow[ch.Domain]; ok {
		fqdn, zone = f[0], f[1]
	}
	// cert-manager's webhook client takes the whole webhook block and sends only config on.
	full, _ := json.Marshal(map[string]any{"groupName": is.group, "solverName": "delegate", "config": is.config})
	return &whapi.ChallengeRequest{
		UID: types.UID(fmt.Sprintf("e2e-%d", time.Now().UnixNano())), Type: "dns-01",
		DNSName: ch.Domain, Key: ch.Value, ResolvedFQDN: fqdn, ResolvedZone: zone,
		ResourceNamespace: namespace, Config: &apiextensionsv1.JSON{Raw: full},
	}
}

func (is *issuer) Present(_ context.Context, ch testacme.Challenge) error {
	err := is.w.client.Present(is.request(ch))
	is.mu.Lock()
	is.counts["present"]++
	is.presents = append(is.presents, presentCall{ch: ch, err: err})
	is.mu.Unlock()
	return err
}

// refusedPresent returns the error of the issuer's only Present call, failing the test unless there was exactly
// one and it failed.
func (is *issuer) refusedPresent(t *testing.T) (testacme.Challenge, string) {
	t.Helper()
	is.mu.Lock()
	defer is.mu.Unlock()
	if len(is.presents) != 1 || is.presents[0].err == nil {
		t.Fatalf("Present calls %+v, want exactly one, refused", is.presents)
	}
	return is.presents[0].ch, is.presents[0].err.Error()
}

func (is *issuer) CleanUp(_ context.Context, ch testacme.Challenge) error {
	req := is.request(ch)
	is.mu.Lock()
	is.counts["cleanup"]++
	is.cleanups = append(is.cleanups, req.UID)
	is.mu.Unlock()
	return is.w.client.CleanUp(req)
}

func (is *issuer) Ready(ctx context.Context, presented []testacme.Challenge) error {
	if is.selfCheck {
		for _, ch := range presented {
			name := "_acme-challenge." + ch.Domain + "."
			deadline := time.Now().Add(10 * time.Second)
			for {
				got, err := is.w.bind.LookupTXT(name)
				if err == nil && slices.Contains(got, ch.Value) {
					break
				}
				if time.Now().After(deadline) {
					if err != nil {
						return fmt.Errorf("self-check: querying %s: %w", name, err)
					}
					return fmt.Errorf("self-check: %s does not show the value through DNS (got %q)", name, got)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	if is.beforeAccept != nil {
		is.beforeAccept(presented)
	}
	return nil
}

// issue runs one order and checks the chain; it fails the test on error.
func (w *world) issue(t *testing.T, is *issuer, names ...string) *testacme.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := w.ca.Issue(ctx, names, is, func(line string) { t.Log(line) })
	if err != nil {
		t.Fatalf("issuing %v: %v", names, err)
	}
	if got := res.Chain[0].DNSNames; !sameSet(got, names) {
		t.Fatalf("certificate SANs %v, want %v", got, names)
	}
	t.Logf("issued %v by %s, valid until %s", res.Chain[0].DNSNames, res.Chain[0].Issuer, res.Chain[0].NotAfter.Format(time.RFC3339))
	return res
}

// zoneTXT reads a zone by AXFR; zoneEmpty fails the test if it still holds TXT records.
func (w *world) zoneTXT(t testing.TB, zone string) map[string][]string {
	t.Helper()
	txt, err := w.bind.ZoneTXT(zone)
	if err != nil {
		t.Fatal(err)
	}
	return txt
}

func (w *world) zoneEmpty(t testing.TB, zones ...string) {
	t.Helper()
	for _, z := range zones {
		if txt := w.zoneTXT(t, z); len(txt) != 0 {
			t.Fatalf("zone %s holds TXT records: %v", z, txt)
		}
	}
}

func (w *world) delegation() map[string]any {
	return map[string]any{"domainAlias": "validation.example.org", "aliasProvider": w.rfc2136}
}

// 1. example.com and *.example.com in one order: one _acme-challenge name, both values present at once.
func (w *world) apexAndWildcard(t *testing.T) {
	is := w.issuer(w.delegation())
	is.beforeAccept = func(presented []testacme.Challenge) {
		got := w.zoneTXT(t, delegationZone)["_acme-challenge.validation.example.org."]
		if len(presented) != 2 || len(got) != 2 || !slices.Contains(got, presented[0].Value) || !slices.Contains(got, presented[1].Value) {
			t.Errorf("before validation the alias holds %q, want both values of %v", got, presented)
		}
	}
	w.issue(t, is, "example.com", "*.example.com")
	w.zoneEmpty(t, delegationZone)
}

// 2. Three production zones delegated into one delegation zone, ordered at the same time.
func (w *world) threeZonesConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for _, d := range []string{"a.test", "b.test", "c.test"} {
		wg.Go(func() {
			w.issue(t, w.issuer(w.delegation()), d, "*."+d)
		})
	}
	wg.Wait()
	w.zoneEmpty(t, delegationZone)
}

// 3. The delegation zone through one provider (rfc2136 to BIND), the non-delegated names through another (the
// fake Cloudflare, reached by the webhook process through HTTPS_PROXY), in the same issuer config.
func (w *world) separateAliasProvider(t *testing.T) {
	before := w.cf.CountRequests("POST", "/client/v4/zones/")
	is := w.issuer(map[string]any{
		"provider":      w.cfBlock,
		"aliasProvider": w.rfc2136,
		"delegations":   []any{map[string]any{"domains": []string{"example.com"}, "domainAlias": "validation.example.org"}},
	})
	is.beforeAccept = func([]testacme.Challenge) {
		if got := w.zoneTXT(t, "direct.example.net.")["_acme-challenge.direct.example.net."]; len(got) != 1 {
			t.Errorf("direct.example.net holds %q through Cloudflare, want one value", got)
		}
		if got := w.zoneTXT(t, delegationZone)["_acme-challenge.validation.example.org."]; len(got) != 1 {
			t.Errorf("the alias holds %q through rfc2136, want one value", got)
		}
	}
	w.issue(t, is, "example.com", "direct.example.net")
	if n := w.cf.CountRequests("POST", "/client/v4/zones/") - before; n != 1 {
		t.Fatalf("Cloudflare saw %d record creations, want 1 (the non-delegated name only)", n)
	}
	if n := len(w.cf.Records("direct.example.net")); n != 0 {
		t.Fatalf("Cloudflare still holds %d records", n)
	}
	w.zoneEmpty(t, delegationZone, "direct.example.net.")
}

// 4. A delegations table: two domains with different aliases in one config.
func (w *world) delegationsTable(t *testing.T) {
	is := w.issuer(map[string]any{
		"aliasProvider": w.rfc2136,
		"delegations": []any{
			map[string]any{"domains": []string{"d1.test"}, "domainAlias": "one.validation.example.org", "aliasZone": delegationZone},
			map[string]any{"domains": []string{"d2.test"}, "domainAlias": "two.validation.example.org"},
		},
		"provider": w.rfc2136, // direct mode for anything else; unused here
	})
	is.beforeAccept = func([]testacme.Challenge) {
		txt := w.zoneTXT(t, delegationZone)
		for _, name := range []string{"_acme-challenge.one.validation.example.org.", "_acme-challenge.two.validation.example.org."} {
			if len(txt[name]) != 1 {
				t.Errorf("%s holds %q, want one value", name, txt[name])
			}
		}
	}
	w.issue(t, is, "d1.test", "d2.test")
	w.zoneEmpty(t, delegationZone)
}

// 5. cnameStrategy: Follow: cert-manager already followed the CNAME, so resolvedFQDN is the alias name (or a
// name below the alias): written once, as is, not re-mapped.
func (w *world) follow(t *testing.T) {
	is := w.issuer(w.delegation())
	is.follow = map[string][2]string{
		"example.com": {"_acme-challenge.validation.example.org.", delegationZone},
		"follow.test": {"_acme-challenge.follow.validation.example.org.", delegationZone},
	}
	is.beforeAccept = func([]testacme.Challenge) {
		txt := w.zoneTXT(t, delegationZone)
		want := map[string]int{"_acme-challenge.validation.example.org.": 1, "_acme-challenge.follow.validation.example.org.": 1}
		if len(txt) != len(want) {
			t.Errorf("delegation zone TXT = %v, want exactly %v", txt, want)
		}
		for name, n := range want {
			if len(txt[name]) != n {
				t.Errorf("%s holds %q, want %d value", name, txt[name], n)
			}
		}
	}
	w.issue(t, is, "example.com", "follow.test")
	w.zoneEmpty(t, delegationZone)
}

// 6. The CNAME is missing in the production zone. Present proves the delegation before writing: it fails before
// any provider call with the record to create and the zone it belongs in, the delegation zone stays untouched,
// and CleanUp (which cert-manager runs when the Challenge goes) succeeds. With verifyDelegation: Off the webhook
// writes without looking, and the CA itself fails to see the value.
func (w *world) missingCNAME(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Run("refused in Present", func(t *testing.T) {
		is := w.issuer(w.delegation())
		_, err := w.ca.Issue(ctx, []string{"nocname.test"}, is, func(line string) { t.Log(line) })
		if err == nil {
			t.Fatal("a certificate was issued although _acme-challenge.nocname.test has no CNAME")
		}
		ch, msg := is.refusedPresent(t)
		t.Logf("cert-manager's webhook client returned: %s", msg)
		for _, want := range []string{
			"_acme-challenge.nocname.test. CNAME _acme-challenge.validation.example.org.", // the line to create
			"in the zone nocname.test", // where: the production zone
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("the Present error does not contain %q", want)
			}
		}
		if strings.Contains(msg, w.bind.Secret) {
			t.Errorf("the Present error leaks the TSIG secret")
		}
		// Read by zone transfer before any CleanUp, which could hide a write.
		w.zoneEmpty(t, delegationZone)
		if err := is.CleanUp(ctx, ch); err != nil {
			t.Fatalf("CleanUp after the refused Present: %v", err)
		}
		w.zoneEmpty(t, delegationZone)
	})
	t.Run("verifyDelegation Off: the CA fails", func(t *testing.T) {
		cfg := w.delegation()
		cfg["verifyDelegation"] = "Off"
		is := w.issuer(cfg)
		is.selfCheck = false // let the CA itself look, and fail
		is.beforeAccept = func(presented []testacme.Challenge) {
			if got := w.zoneTXT(t, delegationZone)["_acme-challenge.validation.example.org."]; len(presented) != 1 || !slices.Equal(got, []string{presented[0].Value}) {
				t.Errorf("with verifyDelegation: Off the alias holds %q, want the value of %v", got, presented)
			}
		}
		_, err := w.ca.Issue(ctx, []string{"nocname.test"}, is, func(line string) { t.Log(line) })
		if err == nil {
			t.Fatal("a certificate was issued although _acme-challenge.nocname.test has no CNAME")
		}
		if !strings.Contains(err.Error(), "authorization for nocname.test") {
			t.Fatalf("issuance failed, but not at validation: %v", err)
		}
		t.Logf("issuance failed as it must: %v", err)
		if is.counts["present"] != 1 || is.counts["cleanup"] != 1 {
			t.Fatalf("present/cleanup calls = %v, want one each", is.counts)
		}
		w.zoneEmpty(t, delegationZone)
	})
}

// 7. The webhook process is killed after Present; a new process performs CleanUp. Nothing is orphaned.
func (w *world) restart(t *testing.T) {
	is := w.issuer(w.delegation())
	is.beforeAccept = func([]testacme.Challenge) {
		if n := len(w.zoneTXT(t, delegationZone)["_acme-challenge.validation.example.org."]); n != 2 {
			t.Errorf("alias holds %d values before the restart, want 2", n)
		}
		old := w.hook
		old.Stop(syscall.SIGKILL, testcluster.StopGrace) // a crash: no graceful shutdown
		t.Logf("killed webhook pid %d after Present", old.Pid())
		port := testcluster.FreePort(t)
		// It replaces the shared webhook: it serves the scenarios after this one too.
		w.hook = w.hookSvc.StartWebhook(t, testcluster.WebhookOptions{Bin: w.bin, Kubeconfig: w.hookKC, Port: port, Env: w.hookEnv, Owner: w.tb})
		w.hookSvc.SetEndpoints(t, port)
		// The APIService still reads Available from before the kill; wait until a call really reaches the new
		// process (a CleanUp of a value never presented is a harmless no-op), as cert-manager's retries would.
		// The webhook logs every call with its request UID (at --v=2 successes too), which tells whom it reached.
		probe := is.request(testacme.Challenge{Domain: "restart.test", Value: "probe-never-presented"})
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(w.hook.Out.String(), string(probe.UID)) {
			err := is.w.client.CleanUp(probe)
			if time.Now().After(deadline) {
				t.Fatalf("the new webhook has not logged a CleanUp sent through the aggregator for 60s (last error: %v)", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("new webhook pid %d serves on port %d", w.hook.Pid(), port)
	}
	w.issue(t, is, "restart.test", "*.restart.test")
	w.zoneEmpty(t, delegationZone)
	// The CleanUps (all after the restart) were done by the new process, which never saw the Presents.
	out := w.hook.Out.String()
	if len(is.cleanups) != 2 {
		t.Fatalf("%d CleanUps sent, want 2", len(is.cleanups))
	}
	for _, uid := range is.cleanups {
		if !strings.Contains(out, string(uid)) {
			t.Fatalf("the new webhook did not log the CleanUp %s", uid)
		}
	}
}

// A second release of the chart, whose operator fenced it to the delegation zone: its own API group, Service,
// ServiceAccount and RBAC, so it runs beside the first webhook and issuers choose it by groupName.
const (
	fencedGroup   = "fenced.acme.delegate.test"
	fencedRelease = release + "-fenced"
)

// 8. A webhook started with ALLOWED_ZONES=<the delegation zone> (the chart's allowedZones). A challenge mapped
// outside the fence, in direct mode or through a correctly delegated domainAlias in another zone, is refused
// before any provider call (both write through the fake Cloudflare, which counts every request) with a message
// naming allowedZones; that zone stays untouched and CleanUp succeeds without a provider call. The same challenge
// through the unfenced webhook gets a certificate, so the fence is the only reason. A challenge inside the fence
// gets a real certificate from the fenced webhook.
func (w *world) fenced(t *testing.T) {
	applied := w.cluster.ApplyChartIdentity(t, fencedRelease, fencedGroup)
	t.Logf("applied from the chart (release %s): %s", fencedRelease, strings.Join(applied, ", "))
	kubeconfig, _ := w.cluster.KubeconfigFor(t, namespace, fencedRelease)
	svc := w.cluster.Service(t, fencedGroup, fencedRelease)
	env := slices.DeleteFunc(slices.Clone(w.hookEnv), func(v string) bool { return strings.HasPrefix(v, "GROUP_NAME=") })
	env = append(env, "GROUP_NAME="+fencedGroup, "ALLOWED_ZONES="+strings.TrimSuffix(delegationZone, "."))
	port := testcluster.FreePort(t)
	svc.StartWebhook(t, testcluster.WebhookOptions{Bin: w.bin, Kubeconfig: kubeconfig, Port: port, Env: env})
	svc.Register(t, port)
	svc.WaitAvailable(t, 60*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const outside = "direct.example.net."
	for _, tc := range []struct {
		name, domain string
		config       map[string]any
		// where the message says the record goes: in direct mode the resolved zone; for an alias without
		// aliasZone the zone is still to be discovered (at the provider), since the fence refuses on the record
		// name first.
		where string
	}{
		{"direct mode", "direct.example.net", map[string]any{"provider": w.cfBlock}, "in zone " + outside},
		{"domainAlias in another zone", "outside.test", map[string]any{"domainAlias": "direct.example.net", "aliasProvider": w.cfBlock}, "in zone to be discovered"},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			cfRequests := w.cf.CountRequests("", "")
			is := w.issuer(tc.config)
			is.group = fencedGroup
			if _, err := w.ca.Issue(ctx, []string{tc.domain}, is, func(line string) { t.Log(line) }); err == nil {
				t.Fatalf("a certificate was issued for %s although the webhook may write only in %s", tc.domain, delegationZone)
			}
			ch, msg := is.refusedPresent(t)
			t.Logf("cert-manager's webhook client returned: %s", msg)
			for _, want := range []string{
				"_acme-challenge." + outside + " " + tc.where,
				"outside allowedZones (validation.example.org)",
				"nothing was written",
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("the Present error does not contain %q", want)
				}
			}
			w.zoneEmpty(t, outside)
			if err := is.CleanUp(ctx, ch); err != nil {
				t.Fatalf("CleanUp outside the fence: %v", err)
			}
			w.zoneEmpty(t, outside)
			if n := w.cf.CountRequests("", "") - cfRequests; n != 0 {
				t.Fatalf("the fenced webhook sent %d requests to Cloudflare, want none", n)
			}
			// The control: without the fence, the same challenge is fine.
			w.issue(t, w.issuer(tc.config), tc.domain)
			w.zoneEmpty(t, outside)
		})
	}
	t.Run("inside the fence: issued", func(t *testing.T) {
		is := w.issuer(w.delegation())
		is.group = fencedGroup
		w.issue(t, is, "example.com", "*.example.com")
		w.zoneEmpty(t, delegationZone)
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
