//go:build integration

// Package integration tests the solver against a real kube-apiserver (envtest, with RBAC) and a real BIND: how it
// reads Secrets under the RBAC shapes the Helm chart can grant.
package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(klog.NewKlogr())
	os.Exit(m.Run())
}

// TestSecretsUnderRBAC: the webhook's identity may list and watch all Secrets in one namespace, only a named
// Secret in another (RBAC resourceNames, which Kubernetes allows for list/watch only with a metadata.name field
// selector), and nothing in a third. Each must work, or fail fast with an error naming the Role to grant.
func TestSecretsUnderRBAC(t *testing.T) {
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()

	b := testdns.Start(t, testdns.Zone{Name: "validation.example.org.", Updatable: true})
	for _, ns := range []string{"wide", "narrow", "none"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"tsig", "other", "unlabelled"} {
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
				Labels:      map[string]string{solver.SecretLabel: "true"},
				Annotations: map[string]string{solver.EndpointsAnnotation: b.Addr},
			}, StringData: map[string]string{"secret": b.Secret}}
			if name == "unlabelled" {
				sec.Labels = nil
			}
			if _, err := admin.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	grant := func(ns string, names []string) {
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "webhook-secrets", Namespace: ns},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}, ResourceNames: names}},
		}
		if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "webhook-secrets", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "webhook-secrets"},
			Subjects:   []rbacv1.Subject{{Kind: "User", Name: "webhook"}},
		}
		if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	grant("wide", nil)
	grant("narrow", []string{"tsig", "unlabelled"})

	user, err := env.AddUser(envtest.User{Name: "webhook"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &solver.Solver{}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	if err := s.Initialize(user.Config(), stop); err != nil {
		t.Fatal(err)
	}

	call := func(ns, secretName, value string) error {
		// No production zone here: the test is about Secrets, not the CNAME.
		config := fmt.Sprintf(`{"verifyDelegation":"Off","domainAlias":"validation.example.org","provider":{"rfc2136":{"server":%q,"key_name":%q,"key":{"secretKeyRef":{"name":%q,"key":"secret"}}}}}`,
			b.Addr, b.KeyName, secretName)
		return s.Present(&whapi.ChallengeRequest{
			DNSName: "example.com", Key: value, ResolvedFQDN: "_acme-challenge.example.com.", ResolvedZone: "example.com.",
			ResourceNamespace: ns, Config: &apiextensionsv1.JSON{Raw: []byte(config)},
		})
	}
	value := func(i int) string { return fmt.Sprintf("v%042d", i) }

	if err := call("wide", "tsig", value(1)); err != nil {
		t.Fatalf("namespace-wide RBAC: %v", err)
	}
	if err := call("narrow", "tsig", value(2)); err != nil {
		t.Fatalf("RBAC narrowed to the named Secret: %v", err)
	}
	// A second call in the narrowed namespace reuses its per-name informer.
	if err := call("narrow", "tsig", value(3)); err != nil {
		t.Fatalf("second call under narrowed RBAC: %v", err)
	}
	// Unlabelled Secrets are never used, whether listed namespace-wide or watched by name, and the error tells
	// unlabelled from missing (a metadata-only read) and says what to run.
	for _, ns := range []string{"wide", "narrow"} {
		err := call(ns, "unlabelled", value(5))
		want := "kubectl label secret -n " + ns + " unlabelled cert-manager-webhook-delegate/use=true"
		if err == nil || !strings.Contains(err.Error(), "is not labelled for this webhook") || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s/unlabelled: %v", ns, err)
		}
		err = call(ns, "absent", value(5))
		if err == nil || !strings.Contains(err.Error(), `Secret "absent" not found`) && !strings.Contains(err.Error(), "grant a Role") {
			t.Fatalf("%s/absent: %v", ns, err)
		}
	}
	for _, tc := range []struct{ ns, name string }{{"narrow", "other"}, {"none", "tsig"}} {
		start := time.Now()
		err := call(tc.ns, tc.name, value(4))
		if err == nil {
			t.Fatalf("%s/%s: reading a Secret the webhook may not read succeeded", tc.ns, tc.name)
		}
		want := fmt.Sprintf("grant a Role in %q", tc.ns)
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.name) {
			t.Fatalf("%s/%s: error %q does not say which Role to grant", tc.ns, tc.name, err)
		}
		// Forbidden is final: the call must not wait for the informer's sync timeout, let alone hang.
		if d := time.Since(start); d > 8*time.Second {
			t.Fatalf("%s/%s: the RBAC error took %s", tc.ns, tc.name, d)
		}
	}
	txt, err := b.ZoneTXT("validation.example.org.")
	if err != nil {
		t.Fatal(err)
	}
	if got := txt["_acme-challenge.validation.example.org."]; !slices.Equal(got, []string{value(1), value(2), value(3)}) {
		t.Fatalf("TXT = %q", got)
	}
}
