package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	cmfake "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/fake"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// planObjects reads testdata/plan-cluster.yaml with BIND's address filled in.
func planObjects(t *testing.T, bindAddr string) []runtime.Object {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "plan-cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := splitDocuments([]byte(strings.ReplaceAll(string(raw), "BIND_ADDR", bindAddr)))
	if err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for _, d := range docs {
		var head struct{ Kind string }
		if err := json.Unmarshal(d, &head); err != nil {
			t.Fatal(err)
		}
		var obj runtime.Object
		switch head.Kind {
		case "ClusterIssuer":
			obj = &cmapi.ClusterIssuer{}
		case "Issuer":
			obj = &cmapi.Issuer{}
		case "Certificate":
			obj = &cmapi.Certificate{}
		default:
			t.Fatalf("unexpected kind %q", head.Kind)
		}
		if err := yaml.UnmarshalStrict(d, obj); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, obj)
	}
	return objs
}

func runPlan(t *testing.T, cmd *PlanCmd, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if cmd.Getenv == nil {
		cmd.Getenv = func(string) string { return "" }
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	return cmd.Run(ctx, args), out.String(), errOut.String()
}

// TestPlan runs plan over a fake cluster (cert-manager's own fake clientset) and real BIND zones: several
// issuers with selectors, Certificates in two namespaces, names shared, left out, missing, wrong and in place.
func TestPlan(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	client := cmfake.NewClientset(planObjects(t, w.bind.Addr)...)
	cmd := func() *PlanCmd { return &PlanCmd{Client: client, Resolver: w.resolver()} }
	for _, format := range []string{"text", "json", "zonefile"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runPlan(t, cmd(), "-A", "--group-name", testGroup, "-o", format)
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr:\n%s", code, errOut)
			}
			golden(t, "plan.golden."+map[string]string{"text": "txt", "json": "json", "zonefile": "zone"}[format],
				normalise(out, w.bind.Port))
		})
	}
	t.Run("json fields", func(t *testing.T) {
		t.Parallel()
		_, out, _ := runPlan(t, cmd(), "-A", "--group-name", testGroup, "-o", "json")
		var r PlanReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		byName := map[string]PlanEntry{}
		for _, e := range r.Names {
			if _, dup := byName[e.Domain]; dup {
				t.Errorf("%s listed twice", e.Domain)
			}
			byName[e.Domain] = e
		}
		for name, want := range map[string]struct {
			certs  []string
			issuer string
			status string
			ready  bool
		}{
			"example.com":        {[]string{"apps/web", "apps/www"}, "ClusterIssuer/letsencrypt-delegated", "in-place", true},
			"*.example.com":      {[]string{"apps/web"}, "ClusterIssuer/letsencrypt-delegated", "in-place", true},
			"www.example.com":    {[]string{"apps/cn", "apps/www"}, "ClusterIssuer/letsencrypt-delegated", "nxdomain", false},
			"cn.example.com":     {[]string{"apps/cn"}, "ClusterIssuer/letsencrypt-delegated", "nxdomain", false},
			"wrong.example.com":  {[]string{"apps/wrong"}, "ClusterIssuer/letsencrypt-delegated", "wrong-target", false},
			"shop.example.com":   {[]string{"shop/store"}, "Issuer/shop/letsencrypt-shop", "nxdomain", false},
			"*.shop.example.com": {[]string{"shop/store"}, "Issuer/shop/letsencrypt-shop", "nxdomain", false},
			"eu.example.net":     {[]string{"shop/eu"}, "Issuer/shop/letsencrypt-shop", "nxdomain", false},
		} {
			e, ok := byName[name]
			if !ok || !slices.Equal(e.Certificates, want.certs) || e.Issuer != want.issuer || e.CNAME.Status != want.status || e.Ready != want.ready {
				t.Errorf("%s: %+v, want %+v", name, e, want)
			}
		}
		if len(byName) != 8 {
			t.Errorf("%d names, want 8", len(byName))
		}
		if e := byName["eu.example.net"]; e.Solver != "solvers[2]" || e.CNAME.Target != "_acme-challenge.eu.validation.example.org." ||
			e.CNAME.Zone != "example.net." {
			t.Errorf("eu.example.net went to %s, target %s, zone %s", e.Solver, e.CNAME.Target, e.CNAME.Zone)
		}
		if e := byName["cn.example.com"]; !slices.ContainsFunc(e.Problems, func(p string) bool {
			return strings.Contains(p, "apps/cn has cn.example.com as commonName but not among its dnsNames")
		}) {
			t.Errorf("cn.example.com: %q", e.Problems)
		}
		if e := byName["example.com"]; e.CAA.CA != "letsencrypt.org" || e.CAA.AccountURI != "https://acme-v02.api.letsencrypt.org/acme/acct/1001" {
			t.Errorf("example.com's CAA: %+v", e.CAA)
		}
		var left []string
		for _, l := range r.LeftOut {
			left = append(left, l.Certificate+" "+l.Name+": "+l.Reason)
		}
		wantLeft := []string{
			"apps/legacy legacy.example.com: ClusterIssuer/letsencrypt-delegated chooses solvers[0] (http-01)",
			"shop/payments pay.example.net: Issuer/shop/letsencrypt-shop chooses solvers[1] (dns-01 webhook acme.payments.example/pdns)",
		}
		if !slices.Equal(left, wantLeft) {
			t.Errorf("left out:\n%s\nwant:\n%s", strings.Join(left, "\n"), strings.Join(wantLeft, "\n"))
		}
		var zones []string
		for _, z := range r.Missing {
			zones = append(zones, fmt.Sprintf("%s %d", z.Zone, len(z.Records)))
		}
		if !slices.Equal(zones, []string{"example.com. 4", "example.net. 1"}) {
			t.Errorf("missing by zone: %q", zones)
		}
	})
	t.Run("one namespace", func(t *testing.T) {
		t.Parallel()
		code, out, _ := runPlan(t, cmd(), "-n", "apps", "--group-name", testGroup, "-o", "zonefile")
		if code != 1 || strings.Contains(out, "shop.example.com") || strings.Contains(out, "eu.example.net") ||
			!strings.Contains(out, "_acme-challenge.www.example.com. CNAME _acme-challenge.validation.example.org.") {
			t.Errorf("-n apps: exit %d:\n%s", code, out)
		}
	})
	t.Run("an issuer config the webhook refuses", func(t *testing.T) {
		t.Parallel()
		bad := `{"domainAlias": "validation.example.org", "aliasProvider": {"cloudflare": {"api_token": "inline"}}}`
		_, want := solver.ParseConfig([]byte(bad), providers.Default())
		objs := []runtime.Object{
			&cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "broken"}, Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{
				ACME: &cmacme.ACMEIssuer{Server: "https://acme-v02.api.letsencrypt.org/directory", Solvers: []cmacme.ACMEChallengeSolver{{
					DNS01: &cmacme.ACMEChallengeSolverDNS01{Webhook: &cmacme.ACMEIssuerDNS01ProviderWebhook{GroupName: testGroup,
						SolverName: "delegate", Config: &apiextensionsv1.JSON{Raw: []byte(bad)}}}}}}}}},
			&cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"}, Spec: cmapi.CertificateSpec{
				SecretName: "web-tls", DNSNames: []string{"example.com"}, IssuerRef: cmmeta.IssuerReference{Name: "broken", Kind: "ClusterIssuer"}}},
		}
		code, out, _ := runPlan(t, &PlanCmd{Client: cmfake.NewClientset(objs...), Resolver: w.resolver()}, "-A", "--group-name", testGroup, "-o", "json")
		var r PlanReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if code != 1 || len(r.Names) != 1 || r.Names[0].CNAME.Status != "error" ||
			!slices.Contains(r.Names[0].Problems, "the webhook config is invalid: "+oneLine(want)) {
			t.Errorf("exit %d: %+v", code, r.Names)
		}
	})
	t.Run("everything in place", func(t *testing.T) {
		t.Parallel()
		web := cmfake.NewClientset(append(planObjects(t, w.bind.Addr)[:1], &cmapi.Certificate{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"},
			Spec: cmapi.CertificateSpec{SecretName: "web-tls", DNSNames: []string{"example.com", "*.example.com", "sub.example.com", "chain.example.com"},
				IssuerRef: cmmeta.IssuerReference{Name: "letsencrypt-delegated", Kind: "ClusterIssuer"}},
		})...)
		code, out, errOut := runPlan(t, &PlanCmd{Client: web, Resolver: w.resolver()}, "-n", "apps", "--group-name", testGroup, "-o", "zonefile")
		if code != 0 || out != "; every CNAME is in place\n" {
			t.Errorf("exit %d:\n%s\n%s", code, out, errOut)
		}
	})
}

func TestPlanUsage(t *testing.T) {
	t.Parallel()
	client := cmfake.NewClientset()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-A"}, "pass --group-name"},
		{[]string{"-A", "-n", "x", "--group-name", testGroup}, "give -n NAMESPACE or -A, not both"},
		{[]string{"--group-name", testGroup, "-o", "yaml"}, `-o "yaml"`},
		{[]string{"--group-name", testGroup, "extra"}, `unexpected argument "extra"`},
		{[]string{"--group-name", testGroup, "--kubeconfig", filepath.Join(t.TempDir(), "absent")}, "reading the kubeconfig"},
	} {
		cmd := &PlanCmd{Resolver: (&world{}).resolverNowhere()}
		if !slices.Contains(tc.args, "--kubeconfig") {
			cmd.Client = client
		}
		code, _, errOut := runPlan(t, cmd, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("plan %q: exit %d, stderr:\n%s\nwant exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	var out bytes.Buffer
	if code := (&PlanCmd{Stdout: &out, Stderr: &out}).Run(t.Context(), []string{"--help"}); code != 0 ||
		!strings.Contains(out.String(), "only get and list on certificates, issuers and clusterissuers") {
		t.Errorf("--help: exit %d:\n%s", code, out.String())
	}
}

// TestPickSolver checks the wrapper around cert-manager's own selection: what it offers Pick for plain names and
// wildcards, that it reads the Certificate's labels as the Order's, and the index it returns.
func TestPickSolver(t *testing.T) {
	t.Parallel()
	ours := func(sel *cmacme.CertificateDNSNameSelector) cmacme.ACMEChallengeSolver {
		return cmacme.ACMEChallengeSolver{Selector: sel, DNS01: &cmacme.ACMEChallengeSolverDNS01{
			Webhook: &cmacme.ACMEIssuerDNS01ProviderWebhook{GroupName: testGroup, SolverName: "delegate"}}}
	}
	http := func(sel *cmacme.CertificateDNSNameSelector) cmacme.ACMEChallengeSolver {
		return cmacme.ACMEChallengeSolver{Selector: sel, HTTP01: &cmacme.ACMEChallengeSolverHTTP01{}}
	}
	zones := func(z ...string) *cmacme.CertificateDNSNameSelector {
		return &cmacme.CertificateDNSNameSelector{DNSZones: z}
	}
	names := func(n ...string) *cmacme.CertificateDNSNameSelector {
		return &cmacme.CertificateDNSNameSelector{DNSNames: n}
	}
	labels := func(kv ...string) *cmacme.CertificateDNSNameSelector {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return &cmacme.CertificateDNSNameSelector{MatchLabels: m}
	}
	for _, tc := range []struct {
		name    string
		domain  string
		labels  map[string]string
		solvers []cmacme.ACMEChallengeSolver
		want    int
	}{
		{"first of two catch-alls", "a.example.com", nil, []cmacme.ACMEChallengeSolver{http(nil), ours(nil)}, 0},
		{"a wildcard never goes to http-01", "*.example.com", nil, []cmacme.ACMEChallengeSolver{http(nil), ours(nil)}, 1},
		{"a wildcard with only http-01", "*.example.com", nil, []cmacme.ACMEChallengeSolver{http(nil)}, -1},
		{"dnsZones beat a catch-all", "a.example.com", nil, []cmacme.ACMEChallengeSolver{http(nil), ours(zones("example.com"))}, 1},
		{"the longest zone wins", "a.b.example.com", nil, []cmacme.ACMEChallengeSolver{ours(zones("example.com")), http(zones("b.example.com"))}, 1},
		{"dnsNames beat dnsZones", "a.example.com", nil, []cmacme.ACMEChallengeSolver{ours(zones("a.example.com")), http(names("a.example.com"))}, 1},
		{"a wildcard's dnsNames entry is the wildcard", "*.example.com", nil, []cmacme.ACMEChallengeSolver{ours(nil), ours(names("*.example.com"))}, 1},
		{"labels must all match", "a.example.com", map[string]string{"team": "a"}, []cmacme.ACMEChallengeSolver{ours(labels("team", "a", "env", "prod"))}, -1},
		{"more labels win", "a.example.com", map[string]string{"team": "a", "env": "prod"},
			[]cmacme.ACMEChallengeSolver{ours(labels("team", "a")), http(labels("team", "a", "env", "prod"))}, 1},
		{"a zone that only shares a suffix", "aexample.com", nil, []cmacme.ACMEChallengeSolver{ours(zones("example.com"))}, -1},
		{"identical solvers: the first", "a.example.com", nil, []cmacme.ACMEChallengeSolver{ours(zones("example.com")), ours(zones("example.com"))}, 0},
	} {
		if got := pickSolver(t.Context(), tc.domain, tc.labels, tc.solvers); got != tc.want {
			t.Errorf("%s: %s picks solvers[%d], want %d", tc.name, tc.domain, got, tc.want)
		}
	}
}

// TestPlanConflicts: two issuers that need different CNAMEs at one name cannot both be served; each entry says
// what the other needs.
func TestPlanConflicts(t *testing.T) {
	t.Parallel()
	entry := func(issuer, target string) PlanEntry {
		return PlanEntry{Issuer: issuer, DomainReport: DomainReport{Domain: "www.example.com", Ready: true, CNAME: CNAMEReport{
			Name: "_acme-challenge.www.example.com.", Record: "_acme-challenge.www.example.com. CNAME " + target}}}
	}
	es := []PlanEntry{
		entry("ClusterIssuer/a", "_acme-challenge.validation.example.org."),
		entry("Issuer/shop/b", "_acme-challenge.eu.validation.example.org."),
		entry("ClusterIssuer/c", "_acme-challenge.validation.example.org."),
	}
	markConflicts(es)
	want := "conflicting delegations: ClusterIssuer/a needs _acme-challenge.www.example.com. CNAME _acme-challenge.validation.example.org., " +
		"but for Issuer/shop/b it must be _acme-challenge.www.example.com. CNAME _acme-challenge.eu.validation.example.org.; one name holds one CNAME"
	if es[0].Ready || len(es[0].Problems) != 1 || !strings.HasPrefix(es[0].Problems[0], want) {
		t.Errorf("a: %q", es[0].Problems)
	}
	if es[1].Ready || !strings.Contains(es[1].Problems[0], "but for ClusterIssuer/a, ClusterIssuer/c it must be") {
		t.Errorf("b: %q", es[1].Problems)
	}
	agree := []PlanEntry{entry("ClusterIssuer/a", "x."), entry("ClusterIssuer/c", "x.")}
	if markConflicts(agree); !agree[0].Ready || !agree[1].Ready {
		t.Errorf("issuers that agree were flagged: %+v", agree)
	}
}
