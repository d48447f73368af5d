//go:build integration

package chart

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testnet"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testproc"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// testWebhookServes runs the webhook binary (built as the Dockerfile builds it) as UID 65532 with the arguments and
// environment of the chart's Deployment, authenticated as the chart's ServiceAccount and holding only the chart's
// RBAC, and checks:
//   - it becomes ready (so the chart's RBAC is enough to start: the auth-delegator and authentication-reader grants);
//   - probes work without credentials, as the kubelet's do;
//   - /metrics answers an identity with Prometheus' usual RBAC and refuses others (delegated authz via
//     SubjectAccessReview);
//   - cert-manager's ServiceAccount may call the solver and another identity may not (the domain-solver
//     ClusterRole), and the solver reads Secrets in cert-manager's namespace with the chart's Role;
//   - it uses a Secret only once the chart README's `kubectl label` command has opted it in, and that README's
//     `kubectl annotate` command sets the endpoints annotation;
//   - the Lease and namespace grants allow what the locks and CleanUp need and nothing next to it;
//   - a renewed serving certificate, swapped in the way the kubelet updates a Secret volume, is served without a
//     restart.
func testWebhookServes(t *testing.T, env *envtest.Environment, k *kube, objs []*unstructured.Unstructured) {
	bin := imageBinary(t)
	var rbac []*unstructured.Unstructured
	for _, o := range objs {
		if isRBAC(o) {
			rbac = append(rbac, o)
		}
	}
	k.createForReal(t, rbac)

	dep := ofKindName(objs, "Deployment")[0]
	var d appsv1.Deployment
	convert(t, dep, &d)
	ns, c := d.Namespace, d.Spec.Template.Spec.Containers[0]
	envv := kubeletEnv(t, &d)
	groupName := envValue(envv, "GROUP_NAME")
	serving := find(t, objs, "Certificate", ns, d.Name+"-tls")
	dnsNames, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "dnsNames")
	serverName := dnsNames[len(dnsNames)-1] // <service>.<namespace>.svc, as the kube-apiserver verifies it

	base := rest.CopyConfig(k.cfg)
	base.WarningHandler = nil
	addUser := func(name string, groups ...string) *envtest.AuthenticatedUser {
		u, err := env.AddUser(envtest.User{Name: name, Groups: groups}, base)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	webhookUser := addUser("system:serviceaccount:"+ns+":"+d.Spec.Template.Spec.ServiceAccountName,
		"system:serviceaccounts", "system:serviceaccounts:"+ns)
	certManager := addUser("system:serviceaccount:cert-manager:cert-manager", "system:serviceaccounts",
		"system:serviceaccounts:cert-manager")
	prometheus := addUser("chart-test:prometheus")
	nobody := addUser("chart-test:nobody")
	grantMetrics(t, k, "chart-test:prometheus")

	// Files the unprivileged process reads: its kubeconfig and the serving certificate.
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	makeReadable(t, dir)
	kc, err := webhookUser.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	makeReadable(t, kubeconfig)
	ca := newTestCA(t)
	tlsDir, certDir := filepath.Join(dir, "tls"), filepath.Join(dir, "tmp")
	for _, p := range []string{tlsDir, certDir} {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		makeReadable(t, p)
	}
	first := ca.issue(t, dnsNames)
	first.writeLikeKubelet(t, tlsDir, "..first")

	port := freePort(t)
	var args []string
	for _, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "--tls-cert-file=/tls/"), strings.HasPrefix(a, "--tls-private-key-file=/tls/"):
			a = strings.Replace(a, "=/tls/", "="+tlsDir+"/", 1)
		case a == "--cert-dir=/tmp":
			a = "--cert-dir=" + certDir
		case strings.HasPrefix(a, "--secure-port="):
			a = "--secure-port=" + strconv.Itoa(port)
		case strings.Contains(a, "=/"):
			t.Fatalf("the chart passes a path the test does not map: %s", a)
		}
		args = append(args, a)
	}
	args = append(args, "--bind-address=127.0.0.1", "--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig, "--authorization-kubeconfig="+kubeconfig)
	logs := startWebhook(t, bin, args, envv)

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	url := "https://" + addr
	anonymous := ca.client(t, serverName, nil)
	start := time.Now()
	waitFor(t, 90*time.Second, logs, "the webhook to become ready", func() error {
		return expectStatus(anonymous, http.MethodGet, url+"/readyz", nil, http.StatusOK)
	})
	t.Logf("webhook ready in %s as UID %d", time.Since(start).Round(time.Millisecond), nonRootUID())
	// Client certificates authenticate once the webhook has loaded the client CA from the ConfigMap
	// kube-system/extension-apiserver-authentication, shortly after readiness; until then they count as anonymous.
	waitFor(t, 30*time.Second, logs, "client certificates to authenticate", func() error {
		return expectStatus(ca.client(t, serverName, prometheus), http.MethodGet, url+"/metrics", nil, http.StatusOK)
	})
	t.Logf("client certificates accepted %s after start", time.Since(start).Round(time.Millisecond))

	t.Run("probes need no credentials", func(t *testing.T) {
		// The kubelet neither verifies the serving certificate nor authenticates.
		insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		for _, p := range []string{"/livez", "/readyz"} {
			if err := expectStatus(insecure, http.MethodGet, url+p, nil, http.StatusOK); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("metrics need authorization", func(t *testing.T) {
		if err := expectStatus(ca.client(t, serverName, prometheus), http.MethodGet, url+"/metrics", nil, http.StatusOK); err != nil {
			t.Error(err)
		}
		if err := expectStatus(ca.client(t, serverName, nobody), http.MethodGet, url+"/metrics", nil, http.StatusForbidden); err != nil {
			t.Error(err)
		}
	})
	solverURL := url + "/apis/" + groupName + "/v1alpha1/delegate"
	// present posts the README's ClusterIssuer's challenge as cert-manager and returns the solver's answer.
	present := func(t *testing.T) (success bool, msg string) {
		t.Helper()
		body, err := challengePayload(issuerConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := do(ca.client(t, serverName, certManager), http.MethodPost, solverURL, body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.code != http.StatusCreated {
			t.Fatalf("cert-manager's call: HTTP %d: %s", resp.code, resp.body)
		}
		var payload struct {
			Response struct {
				Success bool `json:"success"`
				Status  struct {
					Message string `json:"message"`
				} `json:"status"`
			} `json:"response"`
		}
		if err := json.Unmarshal(resp.body, &payload); err != nil {
			t.Fatalf("%v: %s", err, resp.body)
		}
		return payload.Response.Success, payload.Response.Status.Message
	}
	t.Run("only cert-manager may call the solver", func(t *testing.T) {
		body, err := challengePayload(issuerConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := expectStatus(ca.client(t, serverName, nobody), http.MethodPost, solverURL, body, http.StatusForbidden); err != nil {
			t.Error(err)
		}
		// The README's ClusterIssuer names a Secret this test did not create: the solver looked in cert-manager's
		// namespace (the chart's Role allowed it) and says precisely what is missing.
		success, msg := present(t)
		if success || !strings.Contains(msg, `"cloudflare-validation" not found in namespace "cert-manager"`) {
			t.Errorf("want a failure naming the missing Secret, got success=%v %q", success, msg)
		}
	})
	t.Run("only labelled Secrets are used (the README's commands)", func(t *testing.T) {
		label, annotate := fenceCommands(t)
		secretNS, name := flagValue(t, label, "--namespace"), argAfter(t, label, "secret")
		kubectl, err := addUser("chart-test:admin", "system:masters").Kubectl()
		if err != nil {
			t.Fatal(err)
		}
		// The Secret the README's install steps create, before they label it.
		if _, err := k.client.CoreV1().Secrets(secretNS).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Data:       map[string][]byte{"api-token": []byte("chart-test-token")},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// REQUIRE_SECRET_LABEL defaults to true: the webhook refuses it, and says how to opt it in.
		want := fmt.Sprintf("label it: kubectl label secret -n %s %s %s=true", secretNS, name, solver.SecretLabel)
		if success, msg := present(t); success || !strings.Contains(msg, "is not labelled for this webhook") || !strings.Contains(msg, want) {
			t.Errorf("an unlabelled Secret: want a failure saying %q, got success=%v %q", want, success, msg)
		}
		if out, stderr, err := kubectl.Run(label[1:]...); err != nil {
			t.Fatalf("the README's %q: %v\n%s%s", strings.Join(label, " "), err, readAll(out), readAll(stderr))
		}
		// Labelled, the Secret reaches the webhook's informer; what remains is the delegation this test does not set
		// up, so Present still writes nothing.
		waitFor(t, 30*time.Second, logs, "the labelled Secret to be used", func() error {
			if success, msg := present(t); success || strings.Contains(msg, strconv.Quote(name)) {
				return fmt.Errorf("success=%v: %s", success, msg)
			}
			return nil
		})

		endpointSecret := argAfter(t, annotate, "secret")
		if _, err := k.client.CoreV1().Secrets(flagValue(t, annotate, "--namespace")).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: endpointSecret}, Data: map[string][]byte{"secret": []byte("c2VjcmV0")},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if out, stderr, err := kubectl.Run(annotate[1:]...); err != nil {
			t.Fatalf("the README's %q: %v\n%s%s", strings.Join(annotate, " "), err, readAll(out), readAll(stderr))
		}
		sec, err := k.client.CoreV1().Secrets(flagValue(t, annotate, "--namespace")).Get(context.Background(), endpointSecret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := strings.CutPrefix(annotate[len(annotate)-1], solver.EndpointsAnnotation+"="); sec.Annotations[solver.EndpointsAnnotation] != want {
			t.Errorf("the README's annotate command set %v, want %s=%s", sec.Annotations, solver.EndpointsAnnotation, want)
		}
	})
	t.Run("Leases and namespaces as the chart grants", func(t *testing.T) {
		var secretNamespaces []string
		for _, o := range ofKindName(objs, "Role") {
			if strings.HasSuffix(o.GetName(), ":secret-reader") {
				secretNamespaces = append(secretNamespaces, o.GetNamespace())
			}
		}
		testLeaseAndNamespaceGrants(t, webhookUser.Config(), ns, secretNamespaces, "team-a")
	})
	t.Run("serving certificate rotates without a restart", func(t *testing.T) {
		if got := servedSerial(t, addr, ca, serverName); got.Cmp(first.Cert.SerialNumber) != 0 {
			t.Fatalf("serving serial %s, want the first certificate's %s", got, first.Cert.SerialNumber)
		}
		second := ca.issue(t, dnsNames)
		start := time.Now()
		second.writeLikeKubelet(t, tlsDir, "..second")
		waitFor(t, 90*time.Second, logs, "the renewed certificate to be served", func() error {
			if got := servedSerial(t, addr, ca, serverName); got.Cmp(second.Cert.SerialNumber) != 0 {
				return fmt.Errorf("still serving serial %s", got)
			}
			return nil
		})
		t.Logf("renewed certificate served %s after the swap, same process", time.Since(start).Round(time.Millisecond))
		if err := expectStatus(anonymous, http.MethodGet, url+"/readyz", nil, http.StatusOK); err != nil {
			t.Error(err)
		}
	})
	// For the chart's resource defaults: the peak resident memory of an idle webhook.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", logs.Pid())); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				t.Logf("webhook peak RSS: %s", strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")))
			}
		}
	}
}

// testLeaseAndNamespaceGrants exercises, as the webhook's ServiceAccount, the grants its locks and CleanUp's
// namespace check use: get, create and update on Leases in its own namespace, get on the namespaces whose Secrets it
// reads. Each works, and the operations and namespaces next to them are refused, so the chart's rules are neither
// short of nor beyond what rbac.yaml documents. other is a namespace that exists but holds none of its Secrets.
func testLeaseAndNamespaceGrants(t *testing.T, cfg *rest.Config, ns string, secretNamespaces []string, other string) {
	t.Helper()
	if len(secretNamespaces) == 0 || slices.Contains(secretNamespaces, other) || ns == other {
		t.Fatalf("want Secret namespaces without %s, and %s apart from the release namespace %s: got %q", other, other, ns, secretNamespaces)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	forbidden := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: want Forbidden, got %v", what, err)
		}
	}

	leases := client.CoordinationV1().Leases(ns)
	holder := "chart-test-a"
	lease, err := leases.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "chart-test-lock"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create a Lease in %s: %v", ns, err)
	}
	lease, err = leases.Get(ctx, lease.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the Lease: %v", err)
	}
	holder = "chart-test-b"
	lease.Spec.HolderIdentity = &holder
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Errorf("update the Lease: %v", err)
	}
	_, err = leases.List(ctx, metav1.ListOptions{})
	forbidden("list Leases", err)
	forbidden("delete a Lease", leases.Delete(ctx, lease.Name, metav1.DeleteOptions{}))
	_, err = leases.Patch(ctx, lease.Name, types.MergePatchType, []byte(`{"spec":{"holderIdentity":"x"}}`), metav1.PatchOptions{})
	forbidden("patch a Lease", err)
	_, err = client.CoordinationV1().Leases(other).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "chart-test-lock"}}, metav1.CreateOptions{})
	forbidden("create a Lease in "+other, err)

	namespaces := client.CoreV1().Namespaces()
	for _, n := range secretNamespaces {
		if _, err := namespaces.Get(ctx, n, metav1.GetOptions{}); err != nil {
			t.Errorf("get namespace %s: %v", n, err)
		}
	}
	_, err = namespaces.Get(ctx, other, metav1.GetOptions{})
	forbidden("get namespace "+other, err)
	_, err = namespaces.List(ctx, metav1.ListOptions{})
	forbidden("list namespaces", err)
}

// kubeletEnv returns the environment the kubelet would give the Deployment's webhook container, plus a PATH.
func kubeletEnv(t *testing.T, d *appsv1.Deployment) []string {
	t.Helper()
	env := []string{"PATH=/usr/bin:/bin"}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env = append(env, e.Name+"="+d.Namespace) // POD_NAMESPACE
		case e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.cpu":
			// GOMAXPROCS: left to the Go runtime here, as the test sets no CPU limit on the process.
		default:
			t.Fatalf("env %s: the test does not know what the kubelet would set for %+v", e.Name, e.ValueFrom)
		}
	}
	return env
}

// envValue returns the value of name in env ("" when unset).
func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// argAfter returns the argument following word in args.
func argAfter(t *testing.T, args []string, word string) string {
	t.Helper()
	i := slices.Index(args, word)
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("no argument after %q in %q", word, args)
	}
	return args[i+1]
}

func readAll(r io.Reader) string {
	b, _ := io.ReadAll(r)
	return string(b)
}

func nonRootUID() int {
	if os.Geteuid() == 0 {
		return nonRootID
	}
	return os.Geteuid()
}

// grantMetrics gives user what Prometheus' ClusterRole usually grants: GET on the non-resource URL /metrics.
func grantMetrics(t *testing.T, k *kube, user string) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "chart-test:metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}
	if _, err := k.client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "chart-test:metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if _, err := k.client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// startWebhook starts the binary as the non-root user; the test's cleanup stops it (SIGTERM, then SIGKILL).
func startWebhook(t *testing.T, bin string, args, env []string) *testproc.Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Dir = "/"
	asNonRoot(cmd)
	p, err := testproc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.Stop(syscall.SIGTERM, 15*time.Second) {
			t.Errorf("the webhook did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("webhook output:\n%s", p.Out.String())
		}
	})
	return p
}

// waitFor polls check until it succeeds, failing the test at the deadline or when the process exits.
func waitFor(t *testing.T, timeout time.Duration, p *testproc.Process, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-p.Done():
			t.Fatalf("the webhook exited (%v) while waiting for %s; output:\n%s", p.Err(), what, p.Out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v after %s", what, err, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type response struct {
	code int
	body []byte
}

func do(c *http.Client, method, url string, body []byte) (*response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return &response{code: resp.StatusCode, body: b}, err
}

func expectStatus(c *http.Client, method, url string, body []byte, want int) error {
	r, err := do(c, method, url, body)
	if err != nil {
		return err
	}
	if r.code != want {
		return fmt.Errorf("%s %s: HTTP %d, want %d: %s", method, url, r.code, want, bytes.TrimSpace(r.body))
	}
	return nil
}

// freePort returns a port on 127.0.0.1 that was free a moment ago (the webhook takes a port, not a listener).
func freePort(t *testing.T) int {
	t.Helper()
	port, err := testnet.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// testCA stands in for the chart's CA Issuer.
type testCA struct{ *testnet.CA }

// leaf is a serving certificate the test CA signed.
type leaf struct{ *testnet.Leaf }

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca, err := testnet.NewCA("chart-test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{ca}
}

// issue signs a serving certificate for dnsNames, as the chart's serving Certificate asks cert-manager to.
func (ca *testCA) issue(t *testing.T, dnsNames []string) *leaf {
	t.Helper()
	l, err := ca.Issue("", dnsNames, nil, x509.ExtKeyUsageServerAuth)
	if err != nil {
		t.Fatal(err)
	}
	return &leaf{l}
}

// writeLikeKubelet updates dir the way the kubelet updates a Secret volume (its AtomicWriter): the files live in a
// timestamped directory, ..data links to it, tls.crt and tls.key link through ..data; an update writes a new
// directory, renames a new ..data link over the old one, and removes the old directory.
func (l *leaf) writeLikeKubelet(t *testing.T, dir, version string) {
	t.Helper()
	vdir := filepath.Join(dir, version)
	if err := os.Mkdir(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"tls.crt": l.CertPEM, "tls.key": l.KeyPEM} {
		p := filepath.Join(vdir, name)
		if err := os.WriteFile(p, b, 0o440); err != nil {
			t.Fatal(err)
		}
		makeReadable(t, p)
	}
	makeReadable(t, vdir)
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tls.crt", "tls.key"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// client returns an HTTPS client that verifies the webhook as serverName against the test CA and, when user is not
// nil, presents the user's client certificate.
func (ca *testCA) client(t *testing.T, serverName string, user *envtest.AuthenticatedUser) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.Pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if user != nil {
		rc := user.Config()
		pair, err := tls.X509KeyPair(rc.CertData, rc.KeyData)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// servedSerial opens a new TLS connection (verified as serverName) and returns the serving certificate's serial.
func servedSerial(t *testing.T, addr string, ca *testCA, serverName string) *big.Int {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{RootCAs: ca.Pool, ServerName: serverName, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("TLS handshake with the webhook: %v", err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber
}
