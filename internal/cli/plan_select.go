package cli

import (
	"context"
	"reflect"
	"strings"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	"github.com/cert-manager/cert-manager/pkg/util/solverpicker"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pickSolver returns the index of the solver cert-manager chooses for one name of a Certificate, or -1 when none
// can be used. It calls cert-manager's own selection, solverpicker.Pick (pkg/util/solverpicker, which the
// Order controller's partialChallengeSpecForAuthorization in pkg/controller/acmeorders/util.go calls for every
// authorization), rather than re-implementing it: dnsNames beat dnsZones, the longest matching zone wins, then
// the most matchLabels, then the first in the list; a solver without a selector matches everything.
//
// Pick wants the Order and the challenges the CA offers. cert-manager copies a Certificate's labels onto its
// CertificateRequest and from there onto the Order, so the Certificate's labels stand for the Order's. The CA
// offers http-01 and dns-01 for a plain name and only dns-01 for a wildcard (RFC 8555 §7.1.3, as Let's Encrypt
// and every other public ACME CA do), so a plain name may go to an http-01 solver and a wildcard never does.
func pickSolver(ctx context.Context, name string, labels map[string]string, solvers []cmacme.ACMEChallengeSolver) int {
	challenges := []cmacme.ACMEChallenge{{Type: "dns-01"}}
	if !strings.HasPrefix(name, "*.") {
		challenges = append(challenges, cmacme.ACMEChallenge{Type: "http-01"})
	}
	order := &cmacme.Order{ObjectMeta: metav1.ObjectMeta{Labels: labels}}
	picked, _ := solverpicker.Pick(ctx, name, challenges, solvers, order)
	if picked == nil {
		return -1
	}
	// Pick returns a deep copy. Among identical solvers it keeps the first (a later one must match strictly
	// better), so the first equal one is the one it chose.
	for i := range solvers {
		if reflect.DeepEqual(&solvers[i], picked) {
			return i
		}
	}
	return -1
}

// solverKind describes a solver for "left out" notes: "http-01", "dns-01 (cloudflare)", "dns-01 webhook
// acme.other.io/foo".
func solverKind(s *cmacme.ACMEChallengeSolver) string {
	switch {
	case s.HTTP01 != nil:
		return "http-01"
	case s.DNS01 == nil:
		return "an empty solver"
	case s.DNS01.Webhook != nil:
		return "dns-01 webhook " + s.DNS01.Webhook.GroupName + "/" + s.DNS01.Webhook.SolverName
	}
	d := s.DNS01
	for name, set := range map[string]bool{
		"acmeDNS": d.AcmeDNS != nil, "akamai": d.Akamai != nil, "azureDNS": d.AzureDNS != nil,
		"cloudDNS": d.CloudDNS != nil, "cloudflare": d.Cloudflare != nil, "digitalocean": d.DigitalOcean != nil,
		"rfc2136": d.RFC2136 != nil, "route53": d.Route53 != nil,
	} {
		if set {
			return "dns-01 (" + name + ")"
		}
	}
	return "dns-01"
}
