// Command noop-webhook is a cert-manager DNS-01 webhook whose solver does nothing. The load harness
// (test/e2e BenchmarkAggregator) serves it behind the same aggregation layer as the real webhook, to measure what
// the framework itself costs, so the real webhook's throughput can be read against it.
package main

import (
	"fmt"
	"os"

	"github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	"github.com/cert-manager/cert-manager/pkg/acme/webhook/cmd"
	"k8s.io/client-go/rest"
)

type noop struct{}

func (noop) Name() string                                   { return "delegate" }
func (noop) Present(*v1alpha1.ChallengeRequest) error       { return nil }
func (noop) CleanUp(*v1alpha1.ChallengeRequest) error       { return nil }
func (noop) Initialize(*rest.Config, <-chan struct{}) error { return nil }

func main() {
	group := os.Getenv("GROUP_NAME")
	if group == "" {
		fmt.Fprintln(os.Stderr, "GROUP_NAME is not set")
		os.Exit(2)
	}
	cmd.RunWebhookServer(group, noop{})
}
