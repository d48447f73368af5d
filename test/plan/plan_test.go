//go:build integration

// Package plan tests the plan subcommand against a real kube-apiserver with cert-manager's CRDs (envtest) and a
// real BIND: several issuers with selectors, Certificates in two namespaces, a name shared by two Certificates, one
// served by an http-01 solver, CNAMEs in place and missing; read by a user holding only the README's ClusterRole.
// It also runs check --probe with the cluster's Secrets, and with a set provider (PowerDNS) taking the webhook's
// Lease in the cluster.
//
// It needs the TEST_ASSET_* control-plane binaries (make exports them); without them it fails, it never skips.
package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmclient "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/cli"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testpdns"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testproc"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

const group = "acme.example.com"

var repoRoot string

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime; without a logger it prints a stack trace on first use.
	ctrllog.SetLogger(klog.NewKlogr())
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	os.Exit(m.Run())
}

// zones are the records of internal/cli's productionZones that plan-cluster.yaml's names meet, so that plan's
// output here is byte for byte its golden output there.
func zones() []testdns.Zone {
	return []testdns.Zone{
		{Name: "example.com.", Records: []string{
			`@ IN CAA 0 issue "letsencrypt.org"`,
			`_acme-challenge IN CNAME _acme-challenge.validation.example.org.`,
			`_acme-challenge.wrong IN CNAME _acme-challenge.elsewhere.example.net.`,
		}},
		{Name: "example.net."},
		{Name: "validation.example.org.", Updatable: true},
	}
}

type cluster struct {
	env   *envtest.Environment
	cfg   *rest.Config
	kube  kubernetes.Interface
	cm    cmclient.Interface
	bind  *testdns.BIND
	dir   string
	fixed string // plan-cluster.yaml with BIND's address
}

// startCluster runs kube-apiserver and etcd with cert-manager's CRDs from the module cache, and BIND, and
// creates the fixture's namespaces, issuers and Certificates.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	mod, err := testproc.ModuleDir(repoRoot, "github.com/cert-manager/cert-manager")
	if err != nil {
		t.Fatal(err)
	}
	crds := filepath.Join(mod, "deploy", "crds")
	start := time.Now()
	env := &envtest.Environment{CRDDirectoryPaths: []string{crds}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd (TEST_ASSET_KUBE_APISERVER, TEST_ASSET_ETCD): %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	t.Logf("control plane with cert-manager's CRDs up in %s", time.Since(start).Round(time.Millisecond))
	c := &cluster{env: env, cfg: cfg, kube: kubernetes.NewForConfigOrDie(cfg), cm: cmclient.NewForConfigOrDie(cfg),
		bind: testdns.Start(t, zones()...), dir: t.TempDir()}
	ctx := t.Context()
	for _, ns := range []string{"apps", "shop", "cert-manager", "webhook"} {
		if _, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "internal", "cli", "testdata", "plan-cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.fixed = strings.ReplaceAll(string(raw), "BIND_ADDR", c.bind.Addr)
	for _, doc := range strings.Split(c.fixed, "\n---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		switch head.Kind {
		case "ClusterIssuer":
			var o cmapi.ClusterIssuer
			mustDecode(t, doc, &o)
			created, err := c.cm.CertmanagerV1().ClusterIssuers().Create(ctx, &o, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// status is a subresource: cert-manager writes the account URI there once it registered.
			created.Status = o.Status
			if _, err := c.cm.CertmanagerV1().ClusterIssuers().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "Issuer":
			var o cmapi.Issuer
			mustDecode(t, doc, &o)
			if _, err := c.cm.CertmanagerV1().Issuers(o.Namespace).Create(ctx, &o, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "Certificate":
			var o cmapi.Certificate
			mustDecode(t, doc, &o)
			if _, err := c.cm.CertmanagerV1().Certificates(o.Namespace).Create(ctx, &o, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected kind %q in the fixture", head.Kind)
		}
	}
	return c
}

func mustDecode(t *testing.T, doc string, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
		t.Fatal(err)
	}
}

// user adds an authenticated user in groups and writes its kubeconfig.
func (c *cluster) user(t *testing.T, name string, groups ...string) string {
	t.Helper()
	u, err := c.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(c.dir, name+".kubeconfig")
	if err := os.WriteFile(p, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// applyReadmeRBAC creates the ClusterRole and ClusterRoleBinding of the README's check section, as written there.
func (c *cluster) applyReadmeRBAC(t *testing.T) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, "<!-- check:begin -->"), strings.Index(s, "<!-- check:end -->")
	if i < 0 || j < i {
		t.Fatal("README.md has no check section")
	}
	var block string
	for _, part := range strings.Split(s[i:j], "```yaml\n")[1:] {
		if b, _, _ := strings.Cut(part, "```"); strings.Contains(b, "kind: ClusterRole\n") {
			block = b
		}
	}
	if block == "" {
		t.Fatal("the README's check section has no ClusterRole")
	}
	n := 0
	for _, doc := range strings.Split(block, "\n---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		switch head.Kind {
		case "ClusterRole":
			var o rbacv1.ClusterRole
			mustDecode(t, doc, &o)
			if _, err := c.kube.RbacV1().ClusterRoles().Create(t.Context(), &o, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "ClusterRoleBinding":
			var o rbacv1.ClusterRoleBinding
			mustDecode(t, doc, &o)
			if _, err := c.kube.RbacV1().ClusterRoleBindings().Create(t.Context(), &o, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		n++
	}
	if n != 2 {
		t.Fatalf("the README's RBAC block has %d documents, want the ClusterRole and its binding", n)
	}
}

func (c *cluster) resolver() *dnscheck.Resolver {
	return &dnscheck.Resolver{Servers: []string{c.bind.Addr}, Timeout: 2 * time.Second}
}

func run(t *testing.T, f func(ctx context.Context, stdout, stderr *bytes.Buffer) int) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	code := f(ctx, &out, &errOut)
	return code, out.String(), errOut.String()
}

func (c *cluster) plan(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return run(t, func(ctx context.Context, stdout, stderr *bytes.Buffer) int {
		cmd := &cli.PlanCmd{Stdout: stdout, Stderr: stderr, Resolver: c.resolver(), Getenv: func(string) string { return "" }}
		return cmd.Run(ctx, args)
	})
}

// golden is internal/cli's golden output of plan over the same fixture on cert-manager's fake clientset.
func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "internal", "cli", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPlanOnAPIServer(t *testing.T) {
	c := startCluster(t)
	c.applyReadmeRBAC(t)
	planner := c.user(t, "alice", "platform-team")
	port := strconv.Itoa(c.bind.Port)
	normalise := func(s string) string { return strings.ReplaceAll(s, "127.0.0.1:"+port, "127.0.0.1:PORT") }

	for format, file := range map[string]string{"text": "plan.golden.txt", "json": "plan.golden.json", "zonefile": "plan.golden.zone"} {
		code, out, errOut := c.plan(t, "--kubeconfig", planner, "-A", "--group-name", group, "-o", format)
		if code != 1 {
			t.Errorf("-o %s: exit %d, want 1 (CNAMEs are missing); stderr:\n%s", format, code, errOut)
		}
		if got, want := normalise(out), golden(t, file); got != want {
			t.Errorf("-o %s on a real apiserver differs from internal/cli/testdata/%s:\n%s", format, file, got)
		}
		if format == "zonefile" {
			t.Logf("plan -A -o zonefile:\n%s", out)
		}
	}

	t.Run("one namespace", func(t *testing.T) {
		code, out, _ := c.plan(t, "--kubeconfig", planner, "-n", "shop", "--group-name", group, "-o", "json")
		var r cli.PlanReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range r.Names {
			names = append(names, e.Domain+" "+e.Issuer)
		}
		want := []string{"shop.example.com Issuer/shop/letsencrypt-shop", "*.shop.example.com Issuer/shop/letsencrypt-shop",
			"eu.example.net Issuer/shop/letsencrypt-shop"}
		if code != 1 || !slices.Equal(names, want) || len(r.LeftOut) != 1 || r.LeftOut[0].Certificate != "shop/payments" {
			t.Errorf("-n shop: exit %d, names %q, left out %+v", code, names, r.LeftOut)
		}
	})

	t.Run("without the ClusterRole", func(t *testing.T) {
		nobody := c.user(t, "mallory")
		code, out, errOut := c.plan(t, "--kubeconfig", nobody, "-A", "--group-name", group)
		if code != 2 || out != "" || !strings.Contains(errOut, "plan needs get and list on certificates, issuers and clusterissuers") ||
			!strings.Contains(errOut, `User "mallory" cannot list resource "certificates"`) {
			t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
		}
	})

	t.Run("the ClusterRole allows nothing else", func(t *testing.T) {
		kc, err := c.env.AddUser(envtest.User{Name: "bob", Groups: []string{"platform-team"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		alice := kubernetes.NewForConfigOrDie(kc.Config())
		if _, err := alice.CoreV1().Secrets("cert-manager").List(t.Context(), metav1.ListOptions{}); err == nil {
			t.Error("the plan ClusterRole lets its holder list Secrets")
		}
		if _, err := cmclient.NewForConfigOrDie(kc.Config()).AcmeV1().Challenges("apps").List(t.Context(), metav1.ListOptions{}); err == nil {
			t.Error("the plan ClusterRole lets its holder list Challenges")
		}
	})
}

// check runs check in process.
func (c *cluster) check(t *testing.T, cmd *cli.CheckCmd, args ...string) (int, []cli.DomainReport, string) {
	t.Helper()
	code, out, errOut := run(t, func(ctx context.Context, stdout, stderr *bytes.Buffer) int {
		cmd.Stdout, cmd.Stderr, cmd.Getenv = stdout, stderr, func(string) string { return "" }
		if cmd.Resolver == nil {
			cmd.Resolver = c.resolver()
		}
		return cmd.Run(ctx, append([]string{"-o", "json"}, args...))
	})
	var reps []cli.DomainReport
	if err := json.Unmarshal([]byte(out), &reps); err != nil {
		t.Fatalf("exit %d: %v\n%s\nstderr:\n%s", code, err, out, errOut)
	}
	return code, reps, errOut
}

// TestProbeWithClusterSecrets: --probe --kubeconfig reads the config's Secret from the cluster exactly as the
// webhook does, so a Secret without the opt-in label fails with the kubectl line to run, and a labelled one works.
func TestProbeWithClusterSecrets(t *testing.T) {
	c := startCluster(t)
	admin := c.user(t, "admin", "system:masters")
	issuer, _, _ := strings.Cut(c.fixed, "\n---\n")
	config := filepath.Join(c.dir, "clusterissuer.yaml")
	if err := os.WriteFile(config, []byte(issuer), 0o600); err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tsig", Namespace: "cert-manager",
		Annotations: map[string]string{solver.EndpointsAnnotation: c.bind.Addr}}, Data: map[string][]byte{"secret": []byte(c.bind.Secret)}}
	if _, err := c.kube.CoreV1().Secrets("cert-manager").Create(t.Context(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", config, "--group-name", group, "--probe", "--kubeconfig", admin, "example.com"}

	code, reps, errOut := c.check(t, &cli.CheckCmd{CleanupBackoff: time.Millisecond}, args...)
	p := reps[0].Probe
	if code != 1 || p == nil || !p.Removed || !strings.Contains(p.Error,
		"kubectl label secret -n cert-manager tsig "+solver.SecretLabel+"=true") {
		t.Fatalf("unlabelled Secret: exit %d, probe %+v; stderr:\n%s", code, p, errOut)
	}

	sec.Labels = map[string]string{solver.SecretLabel: "true"}
	if _, err := c.kube.CoreV1().Secrets("cert-manager").Update(t.Context(), sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, reps, errOut = c.check(t, &cli.CheckCmd{}, args...)
	if p := reps[0].Probe; code != 0 || p == nil || !p.Removed || p.Error != "" {
		t.Fatalf("labelled Secret: exit %d, probe %+v; stderr:\n%s", code, p, errOut)
	}
	if txt, err := c.bind.ZoneTXT("validation.example.org."); err != nil || len(txt) > 0 {
		t.Errorf("TXT left in the delegation zone: %v (%v)", txt, err)
	}
}

// TestProbeSetProviderTakesTheLease: a provider that rewrites the whole record set (PowerDNS) is probed under the
// webhook's own Lease lock in the cluster, with its token from a file; the value is gone afterwards.
func TestProbeSetProviderTakesTheLease(t *testing.T) {
	c := startCluster(t)
	admin := c.user(t, "admin", "system:masters")
	pdns := testpdns.Start(t)
	if err := pdns.CreateZone(t.Context(), "validation.example.org."); err != nil {
		t.Fatal(err)
	}
	if got := providers.Default()["powerdns"].Strategy; got != providers.Set {
		t.Fatalf("powerdns is %s, not set: this test no longer proves the Lease", got)
	}
	config := filepath.Join(c.dir, "powerdns.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, "domainAlias: validation.example.org\naliasZone: validation.example.org.\n"+
		"aliasProvider:\n  powerdns:\n    server_url: %s\n    server_id: localhost\n    api_token: {secretKeyRef: {name: powerdns, key: api-key}}\n",
		pdns.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(c.dir, "api-key")
	if err := os.WriteFile(key, []byte(pdns.APIKey), 0o600); err != nil {
		t.Fatal(err)
	}
	code, reps, errOut := c.check(t, &cli.CheckCmd{}, "--config", config, "--ca", "letsencrypt.org", "--probe",
		"--secret", "powerdns/api-key="+key, "--kubeconfig", admin, "--lease-namespace", "webhook", "example.com")
	if p := reps[0].Probe; code != 0 || p == nil || !p.Removed || p.Error != "" {
		t.Fatalf("exit %d, probe %+v; stderr:\n%s", code, p, errOut)
	}
	leases, err := c.kube.CoordinationV1().Leases("webhook").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range leases.Items {
		if strings.HasPrefix(l.Name, providers.LeaseNamePrefix) {
			names = append(names, l.Name)
		}
	}
	if len(names) == 0 {
		t.Errorf("the probe took no Lease in the webhook's namespace (found %d Leases)", len(leases.Items))
	}
	if txt, err := pdns.ZoneTXT(t.Context(), "validation.example.org."); err != nil || len(txt) > 0 {
		t.Errorf("TXT left at PowerDNS: %v (%v)", txt, err)
	}
}
