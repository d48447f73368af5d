//go:build integration

package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	cmclient "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testproc"
)

// TestCertManagerController drives the webhook binary with cert-manager's real controllers (v1.21.2's code,
// run by test/cmcontroller with the RBAC of cert-manager's own Helm chart): Issuer and Certificate objects in,
// a certificate Secret out, with the controller's own self-check through DNS, its 60 s wait after it, and its
// finalizers calling CleanUp.
func TestCertManagerController(t *testing.T) {
	w := setup(t)
	ctx := context.Background()

	// cert-manager's CRDs and its controller's RBAC, rendered from its own chart, as a cluster has them.
	manifests := renderCertManagerChart(t)
	crds := w.cluster.ApplyManifests(t, manifests, func(o *unstructured.Unstructured) bool {
		return o.GetKind() == "CustomResourceDefinition"
	})
	waitCRDsEstablished(t, w, len(crds))
	w.cluster.ApplyManifests(t, manifests, func(o *unstructured.Unstructured) bool {
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			return true
		}
		return false
	})
	cm := cmclient.NewForConfigOrDie(w.cluster.Config)

	ctrlKC, _ := w.cluster.KubeconfigFor(t, namespace, testcluster.CertManagerServiceAccount)
	startController(t, testcluster.Binary(t, "./test/cmcontroller"), ctrlKC, w.bind.Addr)

	// A ClusterIssuer: its Secrets live in the cluster resource namespace (cert-manager), where the chart lets
	// the webhook read them.
	webhookSolver := func(config map[string]any) cmacme.ACMEChallengeSolver {
		raw, err := json.Marshal(config)
		if err != nil {
			t.Fatal(err)
		}
		return cmacme.ACMEChallengeSolver{DNS01: &cmacme.ACMEChallengeSolverDNS01{Webhook: &cmacme.ACMEIssuerDNS01ProviderWebhook{
			GroupName: groupName, SolverName: "delegate", Config: &apiextensionsv1.JSON{Raw: raw},
		}}}
	}
	acmeSpec := func(account string, solver cmacme.ACMEChallengeSolver) cmapi.IssuerSpec {
		return cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{ACME: &cmacme.ACMEIssuer{
			Server:     w.ca.DirectoryURL,
			CABundle:   w.ca.ServerCAPEM(),
			PrivateKey: cmmeta.SecretKeySelector{LocalObjectReference: cmmeta.LocalObjectReference{Name: account}},
			Solvers:    []cmacme.ACMEChallengeSolver{solver},
		}}}
	}
	// ClusterIssuers: their Secrets live in the cluster resource namespace (cert-manager), where the chart lets
	// the webhook read them.
	follow := webhookSolver(w.delegation())
	follow.DNS01.CNAMEStrategy = cmacme.FollowStrategy
	for name, solver := range map[string]cmacme.ACMEChallengeSolver{
		"delegate": webhookSolver(w.delegation()),
		"follow":   follow,
		"direct":   webhookSolver(map[string]any{"provider": w.rfc2136}),
	} {
		ci := &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: acmeSpec(name+"-account", solver)}
		if _, err := cm.CertmanagerV1().ClusterIssuers().Create(ctx, ci, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	team := "team-a"
	if _, err := w.cluster.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: team}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A namespaced Issuer whose config Present must refuse: domainAlias names the record, not the alias.
	bad := map[string]any{"domainAlias": "_acme-challenge.validation.example.org", "aliasProvider": w.rfc2136}
	is := &cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Name: "bad-config", Namespace: team}, Spec: acmeSpec("bad-account", webhookSolver(bad))}
	if _, err := cm.CertmanagerV1().Issuers(team).Create(ctx, is, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Challenges for different names are solved at the same time, so the 60 s waits overlap.
	t.Run("issuers", func(t *testing.T) {
		t.Run("apex and wildcard through CNAME delegation", func(t *testing.T) {
			t.Parallel()
			// Two challenges at one name, one after the other (cert-manager never solves two at one name at
			// once), each with its 60 s wait after the self-check.
			issueWithController(t, w, cm, team, "delegate", "_acme-challenge.validation.example.org.", "example.com", "*.example.com")
		})
		t.Run("cnameStrategy Follow", func(t *testing.T) {
			t.Parallel()
			// cert-manager follows the CNAME itself and hands over the target: written as is.
			issueWithController(t, w, cm, team, "follow", "_acme-challenge.follow.validation.example.org.", "follow.test")
		})
		t.Run("direct mode, no delegation", func(t *testing.T) {
			t.Parallel()
			issueWithController(t, w, cm, team, "direct", "_acme-challenge.direct.example.net.", "direct.example.net")
		})
		t.Run("bad config is shown on the Challenge and does not hold its finalizer", func(t *testing.T) {
			t.Parallel()
			cert := certificate(team, "bad-config", "bad-config", cmapi.IssuerKind, "b.test")
			if _, err := cm.CertmanagerV1().Certificates(team).Create(ctx, cert, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			ch := waitChallengeReason(t, cm, team, "b.test", "the config error", "config.domainAlias")
			if !strings.Contains(ch.Status.Reason, "_acme-challenge.") || strings.Contains(ch.Status.Reason, w.bind.Secret) {
				t.Fatalf("the reason does not explain the prefix, or leaks the TSIG secret: %s", ch.Status.Reason)
			}
			deleteChallenge(t, w, cm, ch)
		})
		t.Run("missing CNAME is shown on the Challenge, nothing is written, and its finalizer runs", func(t *testing.T) {
			t.Parallel()
			// nocname.test is a production zone in BIND without _acme-challenge: someone forgot the CNAME. The
			// webhook refuses in Present, and the Challenge says which record to create where.
			cert := certificate(team, "nocname", "delegate", cmapi.ClusterIssuerKind, "nocname.test")
			if _, err := cm.CertmanagerV1().Certificates(team).Create(ctx, cert, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			line := "_acme-challenge.nocname.test. CNAME _acme-challenge.validation.example.org."
			ch := waitChallengeReason(t, cm, team, "nocname.test", "the missing CNAME", line)
			if !strings.Contains(ch.Status.Reason, line+" in the zone nocname.test") || strings.Contains(ch.Status.Reason, w.bind.Secret) {
				t.Fatalf("the reason does not name the production zone, or leaks the TSIG secret: %s", ch.Status.Reason)
			}
			if ch.Status.Presented {
				t.Fatalf("the Challenge is marked presented although Present failed: %+v", ch.Status)
			}
			deleteChallenge(t, w, cm, ch)
		})
	})
	w.zoneEmpty(t, delegationZone, "direct.example.net.")
}

// waitChallengeReason waits until the Challenge for dnsName in ns shows want in its status.reason (what kubectl
// describe challenge shows) and the controller has put its finalizer on it, and returns it.
func waitChallengeReason(t *testing.T, cm cmclient.Interface, ns, dnsName, what, want string) cmacme.Challenge {
	t.Helper()
	ctx := context.Background()
	var ch cmacme.Challenge
	waitFor(t, 2*time.Minute, "the Challenge of "+dnsName+" to show "+what, func() (bool, string) {
		chs, err := cm.AcmeV1().Challenges(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range chs.Items {
			if c.Spec.DNSName == dnsName {
				ch = c
				return strings.Contains(c.Status.Reason, want), "reason: " + c.Status.Reason
			}
		}
		return false, "no challenge yet; " + challengeStates(ctx, cm, ns, nil)
	})
	t.Logf("kubectl describe challenge shows: %s", ch.Status.Reason)
	if !slices.Contains(ch.Finalizers, cmacme.ACMEDomainQualifiedFinalizer) {
		t.Fatalf("challenge finalizers %v: the controller has not started processing it", ch.Finalizers)
	}
	return ch
}

// deleteChallenge deletes a Challenge whose Present failed and waits until it is gone: its finalizer runs
// CleanUp (with the same config), which must succeed rather than hold the Challenge, and its namespace, forever.
// Before and after, no TXT record in the delegation zone holds its value.
func deleteChallenge(t *testing.T, w *world, cm cmclient.Interface, ch cmacme.Challenge) {
	t.Helper()
	ctx := context.Background()
	noValue := func(when string) {
		t.Helper()
		for name, values := range w.zoneTXT(t, delegationZone) {
			if slices.Contains(values, ch.Spec.Key) {
				t.Fatalf("%s, %s holds the Challenge's value", when, name)
			}
		}
	}
	noValue("after the refused Present")
	// The Order is still pending, so its controller recreates the Challenge under the same name: watch the UID.
	if err := cm.AcmeV1().Challenges(ch.Namespace).Delete(ctx, ch.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the Challenge of "+ch.Spec.DNSName+" to be deleted", func() (bool, string) {
		c, err := cm.AcmeV1().Challenges(ch.Namespace).Get(ctx, ch.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && c.UID != ch.UID) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("finalizers %v, reason %q", c.Finalizers, c.Status.Reason)
	})
	noValue("after its CleanUp")
}

// issueWithController creates a Certificate for names with a ClusterIssuer and waits until it is Ready, its chain
// verifies, and the finished Challenges are gone (their finalizer ran CleanUp) with nothing left at record.
func issueWithController(t *testing.T, w *world, cm cmclient.Interface, ns, issuer, record string, names ...string) {
	t.Helper()
	ctx := context.Background()
	name := issuer + "-" + strings.ReplaceAll(strings.TrimPrefix(names[0], "*."), ".", "-")
	if _, err := cm.CertmanagerV1().Certificates(ns).Create(ctx, certificate(ns, name, issuer, cmapi.ClusterIssuerKind, names...), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mine := func(ch cmacme.Challenge) bool {
		return slices.Contains(names, ch.Spec.DNSName) || slices.Contains(names, "*."+ch.Spec.DNSName)
	}
	states := func() string { return challengeStates(ctx, cm, ns, mine) }
	waitFor(t, 6*time.Minute, "Certificate "+name+" Ready", func() (bool, string) {
		c, err := cm.CertmanagerV1().Certificates(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == cmapi.CertificateConditionReady {
				return cond.Status == cmmeta.ConditionTrue, cond.Reason + ": " + cond.Message + "; " + states()
			}
		}
		return false, "no Ready condition; " + states()
	})
	sec, err := w.cluster.Admin.CoreV1().Secrets(ns).Get(ctx, name+"-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf := verifyChain(t, w, sec.Data[corev1.TLSCertKey])
	if !sameSet(leaf.DNSNames, names) {
		t.Fatalf("certificate SANs %v, want %v", leaf.DNSNames, names)
	}
	t.Logf("issued %v by %s, valid until %s", leaf.DNSNames, leaf.Issuer, leaf.NotAfter.Format(time.RFC3339))
	// The Order controller deletes the finished Challenges; their finalizer lets them go only after CleanUp
	// succeeded.
	waitFor(t, time.Minute, "the Challenges of "+name+" cleaned up and deleted", func() (bool, string) {
		s := states()
		return s == "challenges: []", s
	})
	zone := delegationZone
	if !strings.HasSuffix(record, "."+delegationZone) {
		zone = "direct.example.net."
	}
	if got := w.zoneTXT(t, zone)[record]; len(got) != 0 {
		t.Fatalf("%s still holds %q after CleanUp", record, got)
	}
}

func certificate(ns, name, issuer, kind string, dnsNames ...string) *cmapi.Certificate {
	return &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: cmapi.CertificateSpec{
			SecretName: name + "-tls",
			DNSNames:   dnsNames,
			IssuerRef:  cmmeta.IssuerReference{Name: issuer, Kind: kind, Group: "cert-manager.io"},
			PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
		},
	}
}

// challengeStates summarises the namespace's Challenges (those keep accepts; nil: all) for progress and failure
// messages.
func challengeStates(ctx context.Context, cm cmclient.Interface, ns string, keep func(cmacme.Challenge) bool) string {
	chs, err := cm.AcmeV1().Challenges(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var s []string
	for _, ch := range chs.Items {
		if keep == nil || keep(ch) {
			s = append(s, fmt.Sprintf("%s %s presented=%t finalizers=%v %q", ch.Spec.DNSName, ch.Status.State,
				ch.Status.Presented, ch.Finalizers, ch.Status.Reason))
		}
	}
	return "challenges: [" + strings.Join(s, "; ") + "]"
}

// waitFor polls cond until it holds, logging each new status; it fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	start := time.Now()
	last := ""
	for {
		ok, status := cond()
		if ok {
			t.Logf("%s after %s", what, time.Since(start).Round(time.Second))
			return
		}
		if status != last {
			t.Logf("waiting for %s: %s", what, status)
			last = status
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %s: %s", what, timeout, status)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// verifyChain checks a PEM chain against Pebble's root and returns the leaf.
func verifyChain(t *testing.T, w *world, chainPEM []byte) *x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		t.Fatal("the certificate Secret holds no certificate")
	}
	roots, err := w.ca.Roots()
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("the issued chain does not verify against Pebble's root: %v", err)
	}
	return certs[0]
}

// waitCRDsEstablished waits until n cert-manager CRDs are Established, so their kinds can be created.
func waitCRDsEstablished(t *testing.T, w *world, n int) {
	t.Helper()
	dyn := w.cluster.Dynamic()
	waitFor(t, time.Minute, "cert-manager's CRDs established", func() (bool, string) {
		list, err := dyn.Resource(crdGVR).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		est := 0
		for _, item := range list.Items {
			conds, _, _ := unstructured.NestedSlice(item.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" && strings.HasSuffix(item.GetName(), "cert-manager.io") {
					est++
				}
			}
		}
		return est >= n, fmt.Sprintf("%d of %d established", est, n)
	})
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// startController runs cert-manager's controller (test/cmcontroller) with cert-manager's own ServiceAccount
// identity, solving DNS-01 with its self-check against BIND only (never the machine's resolvers).
func startController(t *testing.T, bin, kubeconfig, dnsAddr string) *testproc.Process {
	t.Helper()
	return testcluster.StartProcess(t, t, "controller", nil, bin,
		"--kubeconfig="+kubeconfig,
		"--cluster-resource-namespace="+namespace,
		"--dns01-recursive-nameservers="+dnsAddr,
		"--dns01-recursive-nameservers-only",
		"--v=2",
	)
}

// renderCertManagerChart renders cert-manager's own Helm chart (from the module cache, at go.mod's version) with
// its CRDs, as `helm install cert-manager --namespace cert-manager --set crds.enabled=true` would.
func renderCertManagerChart(t *testing.T) []byte {
	t.Helper()
	dir, err := testproc.ModuleDir(filepath.Join("..", ".."), "github.com/cert-manager/cert-manager")
	if err != nil {
		t.Fatalf("finding cert-manager in the module cache (go mod download): %v", err)
	}
	chart := filepath.Join(dir, "deploy", "charts", "cert-manager")
	if _, err := os.Stat(chart); err != nil {
		t.Fatal(err)
	}
	b, err := exec.CommandContext(context.Background(), os.Getenv("HELM"), "template", "cert-manager", chart,
		"--namespace", namespace, "--set", "crds.enabled=true").Output()
	if err != nil {
		t.Fatalf("helm template cert-manager: %v%s", err, testcluster.StderrOf(err))
	}
	return b
}
