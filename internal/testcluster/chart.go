package testcluster

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cmwebhook "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/webhook"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// RenderChart renders the webhook's Helm chart (deploy/cert-manager-webhook-delegate) as the README's install
// command does, for release in Namespace serving API group group, plus any --set values (key=value). Helm is
// $HELM (make builds it into _bin/tools).
func RenderChart(t testing.TB, release, group string, set ...string) []byte {
	t.Helper()
	helm := os.Getenv("HELM")
	if helm == "" {
		t.Fatal("HELM is not set: run the integration tests through make (it builds Helm into _bin/tools)")
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"template", release, filepath.Join(root, "deploy", "cert-manager-webhook-delegate"),
		"--namespace", Namespace, "--set", "groupName=" + group}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.CommandContext(context.Background(), helm, args...).Output()
	if err != nil {
		t.Fatalf("helm template: %v%s", err, StderrOf(err))
	}
	return out
}

// ApplyChartIdentity applies a release's ServiceAccount and RBAC, rendered by Helm as the README installs it
// (the ServiceAccount is named after the release), so that the webhook and cert-manager act with exactly the
// permissions the chart grants.
func (c *Cluster) ApplyChartIdentity(t testing.TB, release, group string) []string {
	t.Helper()
	return c.ApplyManifests(t, RenderChart(t, release, group), func(o *unstructured.Unstructured) bool {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			return true
		}
		return false
	})
}

// CertManagerServiceAccount is cert-manager's controller's ServiceAccount in Namespace, which the chart's
// domain-solver ClusterRole is bound to.
const CertManagerServiceAccount = "cert-manager"

// CertManagerClient returns cert-manager's own webhook client (the code its controller calls webhooks with),
// acting as cert-manager's ServiceAccount (created if missing): its calls reach a webhook through the aggregation
// layer exactly as the controller's do, with the chart's RBAC.
func (c *Cluster) CertManagerClient(t testing.TB) *cmwebhook.Webhook {
	t.Helper()
	c.CreateServiceAccount(t, Namespace, CertManagerServiceAccount)
	_, cfg := c.KubeconfigFor(t, Namespace, CertManagerServiceAccount)
	client := &cmwebhook.Webhook{}
	if err := client.Initialize(cfg, make(chan struct{})); err != nil {
		t.Fatal(err)
	}
	return client
}

// The label and annotation a Secret's owner sets for the webhook (README "Fences"), spelled out as users write
// them rather than taken from the solver package, so that renaming them breaks the tests as it would break
// users' Secrets.
const (
	// SecretLabel opts a Secret in for the webhook's use.
	SecretLabel = "cert-manager-webhook-delegate/use"
	// EndpointsAnnotation lists the endpoints a Secret's values may be sent to.
	EndpointsAnnotation = "cert-manager-webhook-delegate/endpoints"
)

// WebhookSecret is a Secret in Namespace labelled for the webhook's use, allowing its values to be sent to
// endpoints (none: only to providers with a fixed endpoint).
func WebhookSecret(name string, data map[string]string, endpoints ...string) *corev1.Secret {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: map[string]string{SecretLabel: "true"}},
		StringData: data,
	}
	if len(endpoints) > 0 {
		sec.Annotations = map[string]string{EndpointsAnnotation: strings.Join(endpoints, ",")}
	}
	return sec
}

// CreateSecrets creates Secrets (WebhookSecret) in their namespaces.
func (c *Cluster) CreateSecrets(t testing.TB, secrets ...*corev1.Secret) {
	t.Helper()
	for _, sec := range secrets {
		if _, err := c.Admin.CoreV1().Secrets(sec.Namespace).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating Secret %s/%s: %v", sec.Namespace, sec.Name, err)
		}
	}
}

// StderrOf returns the standard error of a failed exec.Cmd.Output, on a new line, if there is any.
func StderrOf(err error) string {
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return "\n" + string(ee.Stderr)
	}
	return ""
}
