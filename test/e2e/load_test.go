//go:build integration

package e2e

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
)

// BenchmarkAggregator is the load harness: Present+CleanUp pairs through the whole request path (cert-manager's
// webhook client → kube-apiserver's aggregation layer → webhook process), 60 at a time as cert-manager runs
// challenges, against a no-op solver (what the framework costs) and against this webhook writing to BIND over
// RFC 2136 on loopback. It reports requests per second. Run it with `make load`.
func BenchmarkAggregator(b *testing.B) {
	w := setup(b)
	noopBin := testcluster.Binary(b, "./test/load/noop-webhook")
	noop := w.hookSvc.StartWebhook(b, testcluster.WebhookOptions{Bin: noopBin, Kubeconfig: w.hookKC, Env: w.hookEnv})

	rfc, _ := json.Marshal(map[string]any{"groupName": groupName, "solverName": "delegate", "config": map[string]any{
		"domainAlias": "validation.example.org", "aliasZone": delegationZone, "aliasProvider": w.rfc2136,
	}})
	// A config only the real webhook refuses tells which process the aggregator is routing to.
	probe, _ := json.Marshal(map[string]any{"groupName": groupName, "solverName": "delegate", "config": map[string]any{"bogus": true}})
	request := func(config []byte, key string) *whapi.ChallengeRequest {
		return &whapi.ChallengeRequest{
			DNSName: "example.com", Key: key, ResolvedFQDN: "_acme-challenge.example.com.", ResolvedZone: "example.com.",
			ResourceNamespace: namespace, Config: &apiextensionsv1.JSON{Raw: config},
		}
	}
	route := func(b *testing.B, port int, real bool) {
		w.hookSvc.SetEndpoints(b, port)
		deadline := time.Now().Add(30 * time.Second)
		for (w.client.Present(request(probe, "probe")) != nil) != real {
			if time.Now().After(deadline) {
				b.Fatalf("the aggregator did not switch to port %d", port)
			}
		}
	}
	var seq atomic.Int64
	for _, tc := range []struct {
		name   string
		port   int
		real   bool
		config []byte
	}{
		{"noop", noop.Port, false, rfc},
		{"rfc2136", w.hookPort, true, rfc},
	} {
		b.Run(tc.name, func(b *testing.B) {
			route(b, tc.port, tc.real)
			b.SetParallelism(30) // 60 workers on 2 CPUs: cert-manager's default concurrency
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ch := request(tc.config, fmt.Sprintf("load%038d", seq.Add(1)))
					if err := w.client.Present(ch); err != nil {
						b.Error(err)
						return
					}
					if err := w.client.CleanUp(ch); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(2*b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
	w.zoneEmpty(b, delegationZone)
}
