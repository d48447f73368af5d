package testcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/utils/ptr"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testproc"
)

// Loopback is the address a single webhook serves on.
const Loopback = "127.0.0.1"

// Service is what one release of the chart registers with the aggregator: its API group, the Service the
// APIService sends the group's calls to, and the serving certificate the aggregator verifies there.
type Service struct {
	// Group is the API group (the chart's groupName, an issuer's webhook.groupName).
	Group string
	// Name is the Service's name (the chart names it after the release), in Namespace.
	Name string
	// Serving is the serving certificate every replica presents.
	Serving *KeyPair

	c *Cluster
}

// Service makes the serving certificate of a release whose Service is name, serving group; Register then points
// the group at webhooks. The certificate names <name>.<Namespace>.svc, which the aggregator verifies as in a
// cluster, and the loopback addresses ips (default 127.0.0.1) for direct health checks.
func (c *Cluster) Service(t testing.TB, group, name string, ips ...string) *Service {
	t.Helper()
	if len(ips) == 0 {
		ips = []string{Loopback}
	}
	var addrs []net.IP
	for _, ip := range ips {
		addrs = append(addrs, net.ParseIP(ip))
	}
	svc := name + "." + Namespace + ".svc"
	serving := NewKeyPair(t, c.ServingCA, svc, []string{name, name + "." + Namespace, svc}, addrs, x509.ExtKeyUsageServerAuth)
	return &Service{Group: group, Name: name, Serving: serving, c: c}
}

// APIService is the name of the group's APIService.
func (s *Service) APIService() string { return "v1alpha1." + s.Group }

// Register creates what the chart's Service and APIService amount to, pointed at webhooks on port of each of
// addrs (default 127.0.0.1; Linux lets a process bind any address of 127.0.0.0/8, so replicas take 127.0.0.2,
// 127.0.0.3, … with one port). Kubernetes refuses loopback addresses in Endpoints and IPv4 EndpointSlices; a
// headless Service with a named port and an FQDN EndpointSlice whose addresses are the loopback ones is what the
// aggregator accepts and dials, picking one endpoint at random per call. The test's cleanup deletes the
// APIService, so that a group whose webhooks the test stopped does not linger as unavailable.
func (s *Service) Register(t testing.TB, port int, addrs ...string) {
	t.Helper()
	c := s.c
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: Namespace},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}},
		},
	}
	if _, err := c.Admin.CoreV1().Services(Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.SetEndpoints(t, port, addrs...)
	api := &apiregv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: s.APIService()},
		Spec: apiregv1.APIServiceSpec{
			Group: s.Group, Version: "v1alpha1",
			Service:              &apiregv1.ServiceReference{Namespace: Namespace, Name: s.Name, Port: ptr.To[int32](443)},
			CABundle:             c.ServingCA.PEM,
			GroupPriorityMinimum: 1000, VersionPriority: 15,
		},
	}
	if _, err := c.Aggregator.ApiregistrationV1().APIServices().Create(ctx, api, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Aggregator.ApiregistrationV1().APIServices().Delete(ctx, api.Name, metav1.DeleteOptions{})
	})
}

// SetEndpoints points the Service at port on each of addrs (default 127.0.0.1), one ready endpoint per address
// (the aggregator dials only an endpoint's first address), creating or replacing its EndpointSlice.
func (s *Service) SetEndpoints(t testing.TB, port int, addrs ...string) {
	t.Helper()
	if len(addrs) == 0 {
		addrs = []string{Loopback}
	}
	c := s.c
	ctx := context.Background()
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: s.Name + "-local", Namespace: Namespace, Labels: map[string]string{discoveryv1.LabelServiceName: s.Name}},
		AddressType: discoveryv1.AddressTypeFQDN,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, a := range addrs {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	cur, err := c.Admin.DiscoveryV1().EndpointSlices(Namespace).Get(ctx, es.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.Admin.DiscoveryV1().EndpointSlices(Namespace).Create(ctx, es, metav1.CreateOptions{})
	case err == nil:
		es.ResourceVersion = cur.ResourceVersion
		_, err = c.Admin.DiscoveryV1().EndpointSlices(Namespace).Update(ctx, es, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// WaitAvailable waits until the aggregator reports the group's APIService Available.
func (s *Service) WaitAvailable(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		api, err := s.c.Aggregator.ApiregistrationV1().APIServices().Get(context.Background(), s.APIService(), metav1.GetOptions{})
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
	t.Fatalf("APIService %s not Available after %s: %s", s.APIService(), timeout, last)
}

// Webhook is a webhook process a test started (StartWebhook), serving on Addr:Port.
type Webhook struct {
	*testproc.Process
	// Addr and Port are where it serves.
	Addr string
	Port int
}

// WebhookOptions says how to start one webhook process.
type WebhookOptions struct {
	// Bin is the binary; default WebhookBinary.
	Bin string
	// Kubeconfig is the webhook's identity (KubeconfigFor its ServiceAccount); required.
	Kubeconfig string
	// Addr is the loopback address to bind (--bind-address); default 127.0.0.1.
	Addr string
	// Port is the port (--secure-port); default a free one on Addr.
	Port int
	// Env is added to the test's environment, e.g. GROUP_NAME, HTTPS_PROXY.
	Env []string
	// Args are added after the flags StartWebhook sets.
	Args []string
	// Owner is the test whose cleanup stops the process (default the test that starts it): a subtest may start
	// a replacement that serves until an enclosing test ends.
	Owner testing.TB
}

// StartWebhook runs a webhook binary with the chart's flags and this Service's serving certificate, the given
// identity and env, and waits until it answers /healthz. The owner's cleanup stops it with SIGTERM, and fails the
// owner if its output shows a value given to WatchSecrets.
func (s *Service) StartWebhook(t testing.TB, o WebhookOptions) *Webhook {
	t.Helper()
	if o.Bin == "" {
		o.Bin = WebhookBinary(t)
	}
	if o.Addr == "" {
		o.Addr = Loopback
	}
	if o.Port == 0 {
		o.Port = FreePortOn(t, o.Addr)
	}
	if o.Owner == nil {
		o.Owner = t
	}
	if o.Kubeconfig == "" {
		t.Fatal("StartWebhook: no Kubeconfig")
	}
	name := fmt.Sprintf("webhook %s at %s", s.Name, net.JoinHostPort(o.Addr, strconv.Itoa(o.Port)))
	args := append([]string{
		fmt.Sprintf("--secure-port=%d", o.Port),
		"--bind-address=" + o.Addr,
		"--tls-cert-file=" + s.Serving.CertFile,
		"--tls-private-key-file=" + s.Serving.KeyFile,
		"--cert-dir=" + t.TempDir(),
		"--kubeconfig=" + o.Kubeconfig,
		"--authentication-kubeconfig=" + o.Kubeconfig,
		"--authorization-kubeconfig=" + o.Kubeconfig,
		"--v=2",
	}, o.Args...)
	p := StartProcess(t, o.Owner, name, o.Env, o.Bin, args...)
	// Registered after StartProcess's cleanup, so it runs first: the output is checked once the process is
	// stopped, with everything it wrote.
	owner := o.Owner
	owner.Cleanup(func() {
		p.Stop(syscall.SIGTERM, StopGrace)
		s.c.secrets.check(owner, name, p.Out.String())
	})
	w := &Webhook{Process: p, Addr: o.Addr, Port: o.Port}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.c.ServingCA.Pool, ServerName: s.Name + "." + Namespace + ".svc", MinVersion: tls.VersionTLS12},
	}}
	defer hc.CloseIdleConnections()
	url := "https://" + net.JoinHostPort(o.Addr, strconv.Itoa(o.Port)) + "/healthz"
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return w
			}
		}
		select {
		case <-p.Done():
			t.Fatalf("%s exited: %v\n%s", name, p.Err(), p.Out.Tail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy after 60s: %v\n%s", name, err, p.Out.Tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
