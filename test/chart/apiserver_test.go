//go:build integration

package chart

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testproc"
)

// restrictedLabels make a namespace enforce, warn about and audit the restricted Pod Security Standard.
var restrictedLabels = map[string]string{
	"pod-security.kubernetes.io/enforce":         "restricted",
	"pod-security.kubernetes.io/enforce-version": "latest",
	"pod-security.kubernetes.io/warn":            "restricted",
	"pod-security.kubernetes.io/warn-version":    "latest",
	"pod-security.kubernetes.io/audit":           "restricted",
	"pod-security.kubernetes.io/audit-version":   "latest",
}

// TestManifestsOnAPIServer applies everything the chart renders, and the README's ClusterIssuer, to a real
// kube-apiserver (with cert-manager's CRDs and the ServiceMonitor CRD) with a server-side dry-run and strict field
// validation, in namespaces enforcing the restricted Pod Security Standard. Any error or warning fails it. Then it
// runs the webhook binary with the chart's arguments and RBAC (see testWebhookServes).
func TestManifestsOnAPIServer(t *testing.T) {
	t.Parallel()
	install, full := renderInstall(t), renderFull(t)
	issuer, err := decodeObjects(readFile(t, issuerFile))
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{certManagerCRDs(t), filepath.Join(repoRoot, "test/chart/testdata/crds")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd (TEST_ASSET_KUBE_APISERVER, TEST_ASSET_ETCD): %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	t.Logf("control plane with CRDs up in %s", time.Since(start).Round(time.Millisecond))
	k := newKube(t, cfg)
	// monitoring: where the full values put the dashboard and the PrometheusRule.
	for _, ns := range []string{"cert-manager", fullNamespace, "team-a", "monitoring"} {
		k.createNamespace(t, ns)
	}

	// First prove the checks can fail: a privileged pod template draws a warning, a privileged pod is refused.
	t.Run("pod security is enforced", func(t *testing.T) {
		k.wantPodSecurityRejected(t, "cert-manager")
	})
	t.Run("dry-run install", func(t *testing.T) {
		k.dryRun(t, install)
		k.dryRun(t, issuer)
	})
	t.Run("dry-run full", func(t *testing.T) {
		k.dryRun(t, full)
	})
	t.Run("pods admitted as restricted", func(t *testing.T) {
		for _, objs := range [][]*unstructured.Unstructured{install, full} {
			k.createForReal(t, ofKindName(objs, "ServiceAccount"))
			for _, d := range ofKindName(objs, "Deployment") {
				k.dryRunPod(t, d)
			}
		}
	})
	t.Run("webhook serves with the chart's RBAC", func(t *testing.T) {
		testWebhookServes(t, env, k, install)
	})
}

// kube is an admin connection to the test's kube-apiserver that records every warning the server sends.
type kube struct {
	cfg      *rest.Config
	client   kubernetes.Interface
	dynamic  dynamic.Interface
	mapper   *restmapper.DeferredDiscoveryRESTMapper
	warnings *warnings
}

type warnings struct {
	mu   sync.Mutex
	msgs []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

func newKube(t *testing.T, cfg *rest.Config) *kube {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	w := &warnings{}
	cfg.WarningHandler = w
	cfg.QPS, cfg.Burst = 100, 200
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &kube{cfg: cfg, client: client, dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), warnings: w}
}

func (k *kube) createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: restrictedLabels}}
	if _, err := k.client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// resource returns the dynamic client for obj's kind, in its namespace when it is namespaced.
func (k *kube) resource(t *testing.T, obj *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	gvk := obj.GroupVersionKind()
	m, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("%s %s: the API server does not serve %s: %v", obj.GetKind(), obj.GetName(), gvk, err)
	}
	if m.Scope.Name() == "namespace" {
		if obj.GetNamespace() == "" {
			t.Fatalf("%s %s is namespaced but the chart renders it without a namespace", gvk.Kind, obj.GetName())
		}
		return k.dynamic.Resource(m.Resource).Namespace(obj.GetNamespace())
	}
	if obj.GetNamespace() != "" {
		t.Errorf("%s %s is cluster-scoped but rendered with namespace %q", gvk.Kind, obj.GetName(), obj.GetNamespace())
	}
	return k.dynamic.Resource(m.Resource)
}

// dryRun creates every object with a server-side dry-run (admission, validation and defaulting run; nothing is
// stored) and strict field validation (an unknown or duplicate field is an error, not a warning). Any warning fails.
func (k *kube) dryRun(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	if len(objs) == 0 {
		t.Fatal("nothing to apply")
	}
	k.warnings.take()
	for _, o := range objs {
		_, err := k.resource(t, o).Create(context.Background(), o, metav1.CreateOptions{
			DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict, FieldManager: "chart-test",
		})
		if err != nil {
			t.Errorf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		for _, w := range k.warnings.take() {
			t.Errorf("%s %s/%s: warning: %s", o.GetKind(), o.GetNamespace(), o.GetName(), w)
		}
	}
}

// createForReal stores the objects (the webhook test needs its ServiceAccount and RBAC to exist).
func (k *kube) createForReal(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	k.warnings.take()
	for _, o := range objs {
		_, err := k.resource(t, o).Create(context.Background(), o, metav1.CreateOptions{
			FieldValidation: metav1.FieldValidationStrict, FieldManager: "chart-test",
		})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		for _, w := range k.warnings.take() {
			t.Errorf("%s %s/%s: warning: %s", o.GetKind(), o.GetNamespace(), o.GetName(), w)
		}
	}
}

// dryRunPod creates a Pod from the Deployment's template with a dry-run: Pod Security enforcement applies to pods
// only (for workloads it merely warns), so this is where `enforce: restricted` bites.
func (k *kube) dryRunPod(t *testing.T, deployment *unstructured.Unstructured) {
	t.Helper()
	var d appsv1.Deployment
	convert(t, deployment, &d)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-dry-run", Namespace: d.Namespace, Labels: d.Spec.Template.Labels},
		Spec:       d.Spec.Template.Spec,
	}
	k.warnings.take()
	_, err := k.client.CoreV1().Pods(d.Namespace).Create(context.Background(), pod, metav1.CreateOptions{
		DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict,
	})
	if err != nil {
		t.Errorf("a pod of Deployment %s/%s is not admitted: %v", d.Namespace, d.Name, err)
	}
	for _, w := range k.warnings.take() {
		t.Errorf("pod of Deployment %s/%s: warning: %s", d.Namespace, d.Name, w)
	}
}

// wantPodSecurityRejected shows the namespace really enforces (and warns about) the restricted level, so that the
// absence of errors and warnings above means something.
func (k *kube) wantPodSecurityRejected(t *testing.T, ns string) {
	t.Helper()
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.com/x"}}}
	k.warnings.take()
	_, err := k.client.AppsV1().Deployments(ns).Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: spec},
		},
	}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	if w := k.warnings.take(); len(w) == 0 || !strings.Contains(strings.Join(w, "\n"), "restricted") {
		t.Errorf("a non-restricted pod template drew no Pod Security warning (got %q): the warning check would be vacuous", w)
	}
	_, err = k.client.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: ns}, Spec: spec,
	}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Errorf("a non-restricted pod was not refused by Pod Security (err %v)", err)
	}
	k.warnings.take()
}

// certManagerCRDs finds cert-manager's CRDs in the module cache, at the version go.mod requires.
func certManagerCRDs(t *testing.T) string {
	t.Helper()
	mod, err := testproc.ModuleDir(repoRoot, "github.com/cert-manager/cert-manager")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mod, "deploy", "crds")
	if _, err := os.Stat(filepath.Join(dir, "cert-manager.io_certificates.yaml")); err != nil {
		t.Fatalf("cert-manager's CRDs are not in %s (go mod download github.com/cert-manager/cert-manager): %v", dir, err)
	}
	return dir
}

func ofKindName(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var r []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			r = append(r, o)
		}
	}
	return r
}

func isRBAC(o *unstructured.Unstructured) bool {
	return o.GroupVersionKind().Group == rbacv1.GroupName
}

// challengePayload is the body cert-manager posts to the solver: a ChallengePayload of cert-manager's webhook API
// group, sent to the solver's resource in the webhook's own group.
func challengePayload(config json.RawMessage) ([]byte, error) {
	return json.Marshal(map[string]any{
		"apiVersion": whapi.SchemeGroupVersion.String(),
		"kind":       "ChallengePayload",
		"request": map[string]any{
			"uid":                     "6e0e8b1e-0000-4000-8000-000000000001",
			"action":                  "Present",
			"type":                    "dns-01",
			"dnsName":                 "example.com",
			"key":                     "chart-test-key",
			"resourceNamespace":       "cert-manager",
			"resolvedFQDN":            "_acme-challenge.example.com.",
			"resolvedZone":            "example.com.",
			"allowAmbientCredentials": false,
			"config":                  config,
		},
	})
}

func issuerConfig(t *testing.T) json.RawMessage {
	t.Helper()
	objs, err := decodeObjects(readFile(t, issuerFile))
	if err != nil {
		t.Fatal(err)
	}
	solvers, _, _ := unstructured.NestedSlice(objs[0].Object, "spec", "acme", "solvers")
	cfg, _, _ := unstructured.NestedMap(solvers[0].(map[string]any), "dns01", "webhook", "config")
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
