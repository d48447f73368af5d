//go:build integration

package metrics

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/metrics"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/metrics/metricstest"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
)

const (
	scrapeRelease = "cert-manager-webhook-delegate"
	scrapeGroup   = "acme.metrics.example.com"
	// Prometheus' namespace and ServiceAccount, as serviceMonitor.prometheusServiceAccount names them.
	promNamespace = "monitoring"
	promAccount   = "prometheus"
	// A ServiceAccount next to Prometheus' that nothing grants /metrics.
	otherAccount = "not-prometheus"
)

// TestScrapeWithChartRBAC runs the webhook binary against a real kube-apiserver, as the chart's ServiceAccount with
// the chart's RBAC, and scrapes its /metrics directly over HTTPS as Prometheus does: with the token of a
// ServiceAccount that the chart's ClusterRole <fullname>:metrics-reader is bound to (rendered with
// serviceMonitor.prometheusServiceAccount, as a user installs it) it gets 200 and the delegate_* metrics; with the
// token of a ServiceAccount without the binding, 403; with no token, 403 (anonymous, not authorized); with a token
// the kube-apiserver does not know, 401.
func TestScrapeWithChartRBAC(t *testing.T) {
	c := testcluster.Start(t)
	ctx := context.Background()
	if _, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: promNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.CreateServiceAccount(t, promNamespace, promAccount)
	c.CreateServiceAccount(t, promNamespace, otherAccount)

	// The chart's identities, and its metrics-reader ClusterRole bound to Prometheus' ServiceAccount by the values
	// knob: only the RBAC objects the chart renders, applied as an admin would.
	c.ApplyChartIdentity(t, scrapeRelease, scrapeGroup)
	manifests := testcluster.RenderChart(t, scrapeRelease, scrapeGroup,
		"serviceMonitor.prometheusServiceAccount.name="+promAccount,
		"serviceMonitor.prometheusServiceAccount.namespace="+promNamespace)
	applied := c.ApplyManifests(t, manifests, func(o *unstructured.Unstructured) bool {
		return (o.GetKind() == "ClusterRole" || o.GetKind() == "ClusterRoleBinding") && strings.HasSuffix(o.GetName(), ":metrics-reader")
	})
	if want := []string{"ClusterRole/" + scrapeRelease + ":metrics-reader", "ClusterRoleBinding/" + scrapeRelease + ":metrics-reader"}; !slices.Equal(applied, want) {
		t.Fatalf("the chart rendered %q for scraping, want %q", applied, want)
	}

	kubeconfig, _ := c.KubeconfigFor(t, testcluster.Namespace, scrapeRelease)
	svc := c.Service(t, scrapeGroup, scrapeRelease)
	hook := svc.StartWebhook(t, testcluster.WebhookOptions{Kubeconfig: kubeconfig,
		Env: []string{"GROUP_NAME=" + scrapeGroup, "POD_NAMESPACE=" + testcluster.Namespace}})
	url := "https://" + net.JoinHostPort(hook.Addr, strconv.Itoa(hook.Port)) + "/metrics"
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: c.ServingCA.Pool, ServerName: svc.Name + "." + testcluster.Namespace + ".svc", MinVersion: tls.VersionTLS12,
	}}}
	t.Cleanup(hc.CloseIdleConnections)
	prometheus, other := serviceAccountToken(t, c, promNamespace, promAccount), serviceAccountToken(t, c, promNamespace, otherAccount)

	t.Run("Prometheus' ServiceAccount with the chart's binding", func(t *testing.T) {
		// The webhook authenticates tokens as soon as it is healthy; allow it a moment all the same.
		var code int
		var body string
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, body = metricsGET(t, hc, url, prometheus)
			if code == http.StatusOK || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if code != http.StatusOK {
			t.Fatalf("GET /metrics with Prometheus' token: HTTP %d: %s\n%s", code, body, hook.Out.Tail(20))
		}
		if !strings.Contains(body, "delegate_build_info{") {
			t.Fatalf("/metrics has no delegate_build_info:\n%s", body)
		}
		// What a fresh webhook serves of its own: nothing that metrics.Names (what the chart's dashboard and alerts
		// are checked against) does not list.
		names, err := metricstest.Names([]byte(body), metrics.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if !slices.Contains(metrics.Names(), n) {
				t.Errorf("/metrics serves %s, which metrics.Names does not list", n)
			}
		}
		for _, n := range []string{"delegate_build_info", "delegate_provider_info", "delegate_delegation_failing_names",
			"delegate_challenge_duration_seconds_count"} {
			if !slices.Contains(names, n) {
				t.Errorf("a fresh webhook does not serve %s; it serves %q", n, names)
			}
		}
	})
	t.Run("a ServiceAccount without the binding", func(t *testing.T) {
		if code, body := metricsGET(t, hc, url, other); code != http.StatusForbidden {
			t.Errorf("GET /metrics with %s/%s's token: HTTP %d, want 403: %.300s", promNamespace, otherAccount, code, body)
		}
	})
	t.Run("no token", func(t *testing.T) {
		code, body := metricsGET(t, hc, url, "")
		if code != http.StatusForbidden {
			t.Errorf("GET /metrics without a token: HTTP %d, want 403 (anonymous is not authorized): %.300s", code, body)
		}
		if strings.Contains(body, "delegate_") {
			t.Errorf("a refused scrape leaked metrics: %.300s", body)
		}
	})
	t.Run("a token the kube-apiserver does not know", func(t *testing.T) {
		if code, body := metricsGET(t, hc, url, prometheus[:len(prometheus)-4]+"AAAA"); code != http.StatusUnauthorized {
			t.Errorf("GET /metrics with a forged token: HTTP %d, want 401: %.300s", code, body)
		}
	})
}

// serviceAccountToken mints a token for ns/name with the TokenRequest API, as the kubelet does for Prometheus' pod.
func serviceAccountToken(t *testing.T, c *testcluster.Cluster, ns, name string) string {
	t.Helper()
	tr, err := c.Admin.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

// metricsGET scrapes url with a bearer token (none if empty) and returns the status and body.
func metricsGET(t *testing.T, hc *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(fmt.Errorf("reading /metrics: %w", err))
	}
	return resp.StatusCode, string(b)
}
