//go:build integration

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
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
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testnet"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testproc"
)

const (
	groupName = "acme.delegate.test"
	// release and namespace as the chart's README installs it: the Service and ServiceAccount names follow.
	release   = "cert-manager-webhook-delegate"
	namespace = "cert-manager"
)

// cluster is a real kube-apiserver + etcd with the aggregation layer configured, as a kubeadm cluster has it.
type cluster struct {
	env    *envtest.Environment
	admin  kubernetes.Interface
	agg    aggregator.Interface
	config *rest.Config
	dir    string
	// servingCA signs the webhooks' serving certificates (the chart has cert-manager do this).
	servingCA *testnet.CA
	// hook is the release the tests install first: groupName behind the Service release.
	hook *webhookService
}

// webhookService is what one release of the chart registers with the aggregator: its API group, the Service the
// APIService sends the group's calls to, and the serving certificate the aggregator verifies there.
type webhookService struct {
	c       *cluster
	group   string
	service string
	serving *keyPair
}

// startCluster starts kube-apiserver with the aggregator's front-proxy flags and aggregator routing to
// endpoints (there is no kube-proxy), and no endpoint reconciler (there is no controller-manager).
func startCluster(t testing.TB) *cluster {
	t.Helper()
	dir := t.TempDir()
	frontCA := newCA(t, "front-proxy-ca")
	proxyClient := newLeaf(t, frontCA, "front-proxy-client", nil, nil, x509.ExtKeyUsageClientAuth)
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
		"proxy-client-cert-file":             proxyClient.certFile,
		"proxy-client-key-file":              proxyClient.keyFile,
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
	c := &cluster{env: env, config: cfg, dir: dir}
	c.admin = kubernetes.NewForConfigOrDie(cfg)
	c.agg = aggregator.NewForConfigOrDie(cfg)
	c.servingCA = newCA(t, "webhook-serving-ca")
	c.hook = c.webhookService(t, groupName, release)
	if _, err := c.admin.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// applyManifests creates every object of a multi-document YAML (as an admin would run kubectl apply).
func (c *cluster) applyManifests(t testing.TB, manifests []byte, keep func(*unstructured.Unstructured) bool) []string {
	t.Helper()
	dc := discovery.NewDiscoveryClientForConfigOrDie(c.config)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn := dynamic.NewForConfigOrDie(c.config)
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
				obj.SetNamespace(namespace)
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

// kubeconfigFor mints a token for a ServiceAccount (it must exist) and writes a kubeconfig with it: the
// component then acts with exactly that identity's RBAC.
func (c *cluster) kubeconfigFor(t testing.TB, ns, sa string) (string, *rest.Config) {
	t.Helper()
	tr, err := c.admin.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, sa, err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: c.config.Host, CertificateAuthorityData: c.config.CAData}
	kc.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: sa}
	kc.CurrentContext = "e2e"
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

// webhookService makes the serving certificate of a release whose Service is service (the chart names it after
// the release) serving group; register then points the group at a webhook.
func (c *cluster) webhookService(t testing.TB, group, service string) *webhookService {
	t.Helper()
	svc := service + "." + namespace + ".svc"
	// The aggregator verifies the serving certificate against <service>.<namespace>.svc, as in a cluster.
	serving := newLeaf(t, c.servingCA, svc, []string{service, service + "." + namespace, svc}, []net.IP{net.ParseIP("127.0.0.1")}, x509.ExtKeyUsageServerAuth)
	return &webhookService{c: c, group: group, service: service, serving: serving}
}

// register creates what the chart's Service and APIService amount to, pointed at a webhook on 127.0.0.1:port.
// Kubernetes refuses 127.0.0.1 in Endpoints and IPv4 EndpointSlices; a headless Service with a named port and an
// FQDN EndpointSlice whose address is "127.0.0.1" is what the aggregator accepts and dials. The test's cleanup
// deletes the APIService, so that a group whose webhook the test stopped does not linger as unavailable.
func (s *webhookService) register(t testing.TB, port int) {
	t.Helper()
	c := s.c
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.service, Namespace: namespace},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}},
		},
	}
	if _, err := c.admin.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.setEndpoint(t, port)
	api := &apiregv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: s.apiService()},
		Spec: apiregv1.APIServiceSpec{
			Group: s.group, Version: "v1alpha1",
			Service:              &apiregv1.ServiceReference{Namespace: namespace, Name: s.service, Port: ptr.To[int32](443)},
			CABundle:             c.servingCA.PEM,
			GroupPriorityMinimum: 1000, VersionPriority: 15,
		},
	}
	if _, err := c.agg.ApiregistrationV1().APIServices().Create(ctx, api, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.agg.ApiregistrationV1().APIServices().Delete(ctx, api.Name, metav1.DeleteOptions{}) })
}

func (s *webhookService) apiService() string { return "v1alpha1." + s.group }

// setEndpoint points the Service at 127.0.0.1:port (create or update).
func (s *webhookService) setEndpoint(t testing.TB, port int) {
	t.Helper()
	c := s.c
	ctx := context.Background()
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: s.service + "-local", Namespace: namespace, Labels: map[string]string{discoveryv1.LabelServiceName: s.service}},
		AddressType: discoveryv1.AddressTypeFQDN,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	cur, err := c.admin.DiscoveryV1().EndpointSlices(namespace).Get(ctx, es.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.admin.DiscoveryV1().EndpointSlices(namespace).Create(ctx, es, metav1.CreateOptions{})
	case err == nil:
		es.ResourceVersion = cur.ResourceVersion
		_, err = c.admin.DiscoveryV1().EndpointSlices(namespace).Update(ctx, es, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// waitAvailable waits until the aggregator reports the webhook's APIService Available.
func (s *webhookService) waitAvailable(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		api, err := s.c.agg.ApiregistrationV1().APIServices().Get(context.Background(), s.apiService(), metav1.GetOptions{})
		if err == nil {
			for _, cond := range api.Status.Conditions {
				if cond.Type == apiregv1.Available {
					if cond.Status == apiregv1.ConditionTrue {
						return
					}
					last = cond.Reason + ": " + cond.Message
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("APIService %s not Available after %s: %s", s.apiService(), timeout, last)
}

// process is a binary the test started (the webhook, cert-manager's controller), running as a separate process.
type process struct {
	*testproc.Process
	port int
}

// startWebhook runs the webhook binary with the chart's flags and this Service's serving certificate, its own
// ServiceAccount's kubeconfig and env, until t ends.
func (s *webhookService) startWebhook(t testing.TB, bin, kubeconfig string, port int, env []string) *process {
	t.Helper()
	return s.startWebhookUntil(t, t, bin, kubeconfig, port, env)
}

// startWebhookUntil is startWebhook for a process that a subtest t starts and that serves beyond it, until owner
// (an enclosing test) ends: a replacement for the process owner started.
func (s *webhookService) startWebhookUntil(t, owner testing.TB, bin, kubeconfig string, port int, env []string) *process {
	t.Helper()
	c := s.c
	w := startProcessUntil(t, owner, "webhook "+s.service, env, bin,
		fmt.Sprintf("--secure-port=%d", port),
		"--bind-address=127.0.0.1",
		"--tls-cert-file="+s.serving.certFile,
		"--tls-private-key-file="+s.serving.keyFile,
		"--cert-dir="+t.TempDir(),
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--v=2",
	)
	w.port = port
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.servingCA.Pool, ServerName: "127.0.0.1"}}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d/healthz", port))
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return w
			}
		}
		select {
		case <-w.Done():
			t.Fatalf("webhook exited: %s", w.Out.Tail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook not healthy after 60s: %v\n%s", err, w.Out.Tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startProcess starts bin with args and env added to the test's environment, capturing its output. The test's
// cleanup stops it (SIGTERM) and, if the test failed, prints the tail of its output under name.
func startProcess(t testing.TB, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	return startProcessUntil(t, t, name, env, bin, args...)
}

// startProcessUntil is startProcess for a process that t starts and owner's cleanup stops. t reports failures
// to start, so that nothing calls Fatal on an enclosing test from a subtest's goroutine.
func startProcessUntil(t, owner testing.TB, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p, err := testproc.Start(cmd)
	if err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	owner.Cleanup(func() {
		p.Stop(syscall.SIGTERM, stopGrace)
		if owner.Failed() {
			owner.Logf("%s (pid %d) output:\n%s", name, p.Pid(), p.Out.Tail(100))
		}
	})
	return &process{Process: p}
}

// stopGrace is how long a stopped process may take to exit before it is killed.
const stopGrace = 15 * time.Second

func freePort(t testing.TB) int {
	t.Helper()
	port, err := testnet.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
