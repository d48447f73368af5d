//go:build integration

package storm

import (
	"strings"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testcluster"
)

// TestReplicasShareCalls proves what replica tests rest on: three webhook processes on 127.0.0.2, .3 and .4 with
// one port, behind one FQDN EndpointSlice, each get a share of the calls the aggregator proxies (it picks an
// endpoint at random per call). Each call is a CleanUp whose config maps nothing, which every replica answers
// with success and logs with the call's UID without touching a provider, so the logs tell who served what.
func TestReplicasShareCalls(t *testing.T) {
	addrs := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	h := newHarness(t, nil, addrs...)
	port := testcluster.FreePortOn(t, addrs...)
	var replicas []*testcluster.Webhook
	for _, a := range addrs {
		replicas = append(replicas, h.startWebhook(t, a, port))
	}
	h.svc.Register(t, port, addrs...)
	h.svc.WaitAvailable(t, 60*time.Second)

	const calls = 90
	var uids []string
	for i := range calls {
		req := h.request(newChallenge(domain("r", i)), map[string]any{"bogus": true})
		if _, err := withTimeout(t, 30*time.Second, "CleanUp", func() error { return h.note(h.client.CleanUp(req)) }); err != nil {
			t.Fatalf("CleanUp %d: %v", i, err)
		}
		uids = append(uids, string(req.UID))
	}
	// A replica logs the call before the answer leaves it, so its output is complete once the last call returned.
	total := 0
	for i, r := range replicas {
		out := r.Out.String()
		n := 0
		for _, uid := range uids {
			if strings.Contains(out, uid) {
				n++
			}
		}
		total += n
		t.Logf("replica %s served %d of %d calls", addrs[i], n, calls)
		// Uniform at random, each gets 30 on average (sd 4.5); fewer than 10 means the aggregator does not spread.
		if n < 10 {
			t.Errorf("replica %s served %d of %d calls, want at least 10: the aggregator does not spread calls", addrs[i], n, calls)
		}
	}
	if total != calls {
		t.Errorf("the replicas logged %d of the %d calls, want each exactly once", total, calls)
	}
	h.checkErrorsClean(t, cfToken)
}
