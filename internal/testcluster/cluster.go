// Package testcluster stands up, for integration tests, what a cluster gives the webhook: a real kube-apiserver
// and etcd (envtest) with the aggregation layer configured as kubeadm configures it, ServiceAccount identities
// with the RBAC the Helm chart ships, the webhook binary running as separate processes behind an APIService
// (one replica or several, on loopback addresses), and cert-manager's own webhook client calling it through the
// aggregator as cert-manager's ServiceAccount.
//
// Everything listens on loopback and is stopped by the cleanup of the test that started it. The control-plane
// binaries come from TEST_ASSET_ETCD, TEST_ASSET_KUBE_APISERVER (make exports them), Helm from HELM.
package testcluster

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testnet"
)

// Namespace is where the webhook and cert-manager run, as the chart's README installs them: Services,
// ServiceAccounts, the webhook's Secrets and the objects ApplyManifests creates without a namespace go there.
const Namespace = "cert-manager"

// Cluster is a real kube-apiserver + etcd with the aggregation layer configured. Its fields are for tests that
// need more than the methods give; do not change them.
type Cluster struct {
	// Env is the envtest environment running the control plane.
	Env *envtest.Environment
	// Config is an admin's client config.
	Config *rest.Config
	// Admin is an admin's client.
	Admin kubernetes.Interface
	// Aggregator is an admin's client of the APIService API.
	Aggregator aggregator.Interface
	// ServingCA signs the webhooks' serving certificates (the chart has cert-manager do this); each APIService
	// carries it as its caBundle.
	ServingCA *testnet.CA

	dir string
	// secrets are the values no webhook process started here may ever print (WatchSecrets).
	secrets *secretWatch
}

// Start starts kube-apiserver with the aggregator's front-proxy flags and aggregator routing to endpoints (there
// is no kube-proxy), and no endpoint reconciler (there is no controller-manager), and creates Namespace. The
// test's cleanup stops it.
func Start(t testing.TB) *Cluster {
	t.Helper()
	dir := t.TempDir()
	frontCA := NewCA(t, "front-proxy-ca")
	proxyClient := NewKeyPair(t, frontCA, "front-proxy-client", nil, nil, x509.ExtKeyUsageClientAuth)
	frontCAFile := filepath.Join(dir, "front-proxy-ca.crt")
	if err := os.WriteFile(frontCAFile, frontCA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{}
	args := env.ControlPlane.GetAPIServer().Configure()
	for k, v := range map[string]string{
		"requestheader-client-ca-file":       frontCAFile,
		"requestheader-allowed-names":        "front-proxy-client",
		"requestheader-username-headers":     "X-Remote-User",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",
		"proxy-client-cert-file":             proxyClient.CertFile,
		"proxy-client-key-file":              proxyClient.KeyFile,
		"enable-aggregator-routing":          "true",
		"endpoint-reconciler-type":           "none",
	} {
		args.Set(k, v)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c := &Cluster{Env: env, Config: cfg, dir: dir, secrets: &secretWatch{}}
	c.Admin = kubernetes.NewForConfigOrDie(cfg)
	c.Aggregator = aggregator.NewForConfigOrDie(cfg)
	c.ServingCA = NewCA(t, "webhook-serving-ca")
	if _, err := c.Admin.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// Dynamic returns an admin's dynamic client.
func (c *Cluster) Dynamic() dynamic.Interface { return dynamic.NewForConfigOrDie(c.Config) }

// ApplyManifests creates every object of a multi-document YAML that keep accepts (as an admin would run kubectl
// apply; objects that exist are left as they are), namespaced ones without a namespace in Namespace. It returns
// the objects applied as Kind/name.
func (c *Cluster) ApplyManifests(t testing.TB, manifests []byte, keep func(*unstructured.Unstructured) bool) []string {
	t.Helper()
	dc := discovery.NewDiscoveryClientForConfigOrDie(c.Config)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn := c.Dynamic()
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	var applied []string
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if obj.Object == nil || !keep(&obj) {
			continue
		}
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("mapping %s: %v", gvk, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if obj.GetNamespace() == "" {
				obj.SetNamespace(Namespace)
			}
			ri = dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
		}
		if _, err := ri.Create(context.Background(), &obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s/%s: %v", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
		}
		applied = append(applied, gvk.Kind+"/"+obj.GetName())
	}
	return applied
}

// CreateServiceAccount creates the ServiceAccount ns/name unless it exists.
func (c *Cluster) CreateServiceAccount(t testing.TB, ns, name string) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if _, err := c.Admin.CoreV1().ServiceAccounts(ns).Create(context.Background(), sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating ServiceAccount %s/%s: %v", ns, name, err)
	}
}

// KubeconfigFor mints a token for a ServiceAccount (it must exist) and writes a kubeconfig with it: a component
// given it acts with exactly that identity's RBAC. It returns the file and the client config read from it.
func (c *Cluster) KubeconfigFor(t testing.TB, ns, sa string) (string, *rest.Config) {
	t.Helper()
	tr, err := c.Admin.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, sa, err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: c.Config.CAData}
	kc.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: sa}
	kc.CurrentContext = "test"
	path := filepath.Join(c.dir, ns+"-"+sa+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	return path, rc
}
