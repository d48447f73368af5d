// Package demo is `make demo`: it issues a real certificate for example.com and *.example.com from an in-process
// ACME CA (Pebble) through CNAME delegation, with the webhook's solver writing TXT records only in the delegation
// zone, over real DNS on loopback through the rfc2136 provider. Everything runs in one process on embedded
// defaults: an in-memory authoritative DNS server instead of BIND, and an in-memory Kubernetes API (client-go's
// fake clientset) holding the one Secret the issuer config references.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsserver"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testacme"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

const (
	namespace       = "cert-manager"
	productionZone  = "example.com."
	delegationZone  = "validation.example.org."
	challengeName   = "_acme-challenge.example.com."
	aliasRecordName = "_acme-challenge.validation.example.org."
)

// Run performs the demo, writing its narrative to out.
func Run(ctx context.Context, out io.Writer) error {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(out, format+"\n", args...) }
	start := time.Now()

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	tsig := base64.StdEncoding.EncodeToString(secret)
	dnsSrv, err := dnsserver.Start("acme-update.", tsig,
		dnsserver.Zone{Name: productionZone, Records: []string{
			"example.com. 60 IN A 192.0.2.10",
			"example.com. 60 IN MX 10 mail.example.com.",
			challengeName + " 60 IN CNAME " + aliasRecordName,
		}},
		dnsserver.Zone{Name: delegationZone, Updatable: true},
	)
	if err != nil {
		return fmt.Errorf("starting the DNS server: %w", err)
	}
	defer dnsSrv.Close()
	p("== DNS (authoritative, in process, %s)", dnsSrv.Addr)
	cname, err := lookup(dnsSrv.Addr, challengeName, dns.TypeCNAME, false)
	if err != nil || len(cname) != 1 {
		return fmt.Errorf("the production zone does not serve the CNAME: %v %w", cname, err)
	}
	p("production zone %s is never written; it holds one static record, written once by a person:", productionZone)
	p("  %s", cname[0])
	p("delegation zone %s accepts TSIG-signed RFC 2136 updates of TXT records only", delegationZone)

	ca := testacme.Start(dnsSrv.Addr, io.Discard)
	defer ca.Close()
	p("\n== ACME CA: Pebble, in process, %s (its validation authority resolves through the DNS server above)", ca.DirectoryURL)

	config := map[string]any{
		"domainAlias": strings.TrimSuffix(delegationZone, "."),
		"aliasProvider": map[string]any{"rfc2136": map[string]any{
			"server": dnsSrv.Addr, "key_name": "acme-update.", "key_alg": "hmac-sha256",
			"key": map[string]any{"secretKeyRef": map[string]any{"name": "tsig-validation", "key": "secret"}},
		}},
	}
	raw, _ := json.Marshal(config)
	pretty, _ := json.MarshalIndent(config, "  ", "  ")
	p("\n== Issuer webhook config (solverName: delegate); the TSIG key is in Secret %s/tsig-validation", namespace)
	p("  %s", pretty)

	client := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "tsig-validation", Namespace: namespace, ResourceVersion: "1",
			// The webhook uses only Secrets labelled for it, and sends a credential to an endpoint the issuer
			// chooses (rfc2136's server) only if the Secret's owner lists it.
			Labels:      map[string]string{solver.SecretLabel: "true"},
			Annotations: map[string]string{solver.EndpointsAnnotation: dnsSrv.Addr},
		},
		Data: map[string][]byte{"secret": []byte(tsig)},
	})
	// The delegation check asks the embedded server recursively (in a cluster: each zone's authoritative servers).
	resolver := dnscheck.Resolver{Servers: []string{dnsSrv.Addr}}
	s := &solver.Solver{DNS: &resolver}
	stop := make(chan struct{})
	defer close(stop)
	s.InitializeWithClient(client, stop)

	cfg, err := solver.ParseConfig(raw, providers.Default())
	if err != nil {
		return err
	}
	hooks := &webhookHooks{s: s, cfg: cfg, raw: raw, dnsAddr: dnsSrv.Addr, say: p, check: dnscheck.NewChecker(resolver)}
	names := []string{"example.com", "*.example.com"}
	p("\n== Order for %s", strings.Join(names, ", "))
	res, err := ca.Issue(ctx, names, hooks, func(line string) { p("  %s", line) })
	if err != nil {
		return err
	}

	left := dnsSrv.TXT(aliasRecordName)
	p("\n== After cleanup: %d TXT values left at %s", len(left), aliasRecordName)
	if len(left) != 0 {
		return fmt.Errorf("cleanup left TXT values behind: %q", left)
	}
	leaf := res.Chain[0]
	p("\n== Certificate (verified against Pebble's root)")
	subject := leaf.Subject.String()
	if subject == "" {
		subject = "(empty, as Let's Encrypt issues them: the SANs carry the names)"
	}
	p("  subject:  %s", subject)
	p("  SANs:     %s", strings.Join(leaf.DNSNames, ", "))
	p("  issuer:   %s", leaf.Issuer)
	p("  validity: %s to %s", leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	p("  chain:    %d certificates; serial %s; key %s", len(res.Chain), leaf.SerialNumber.Text(16), leaf.PublicKeyAlgorithm)

	// Second act: a name someone forgot to delegate. Present refuses before any write and says what to create.
	p("\n== Order for shop.example.com, whose CNAME nobody created")
	_, err = ca.Issue(ctx, []string{"shop.example.com"}, hooks, func(line string) { p("  %s", line) })
	if err == nil {
		return errors.New("the order for a name without its CNAME succeeded")
	}
	refusal := hooks.refusal()
	if refusal == nil || !strings.Contains(refusal.Error(), "_acme-challenge.shop.example.com. CNAME "+aliasRecordName) {
		return fmt.Errorf("the order failed, but not because Present refused it with the record to create: %w", err)
	}
	p("  Present refused before any write; kubectl describe challenge would show:")
	p("    %s", refusal)
	if left := dnsSrv.TXT(aliasRecordName); len(left) != 0 {
		return fmt.Errorf("a refused Present wrote to the delegation zone: %q", left)
	}
	p("  the delegation zone holds 0 TXT values: nothing was written")
	p("\ndone in %s", time.Since(start).Round(time.Millisecond))
	return nil
}

// webhookHooks turns ACME challenges into the ChallengeRequests cert-manager sends a webhook, and shows what the
// solver wrote.
type webhookHooks struct {
	s       *solver.Solver
	cfg     *solver.Config
	raw     []byte
	dnsAddr string
	say     func(string, ...any)
	check   *dnscheck.Checker
	mu      sync.Mutex
	refused error
}

func (h *webhookHooks) refusal() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refused
}

func (h *webhookHooks) request(ch testacme.Challenge) *whapi.ChallengeRequest {
	return &whapi.ChallengeRequest{
		UID:     types.UID(fmt.Sprintf("demo-%d", time.Now().UnixNano())),
		Type:    "dns-01",
		DNSName: ch.Domain,
		Key:     ch.Value,
		// What cert-manager hands a webhook with the default cnameStrategy: the production name and zone.
		ResolvedFQDN:      "_acme-challenge." + ch.Domain + ".",
		ResolvedZone:      productionZone,
		ResourceNamespace: namespace,
		Config:            &apiextensionsv1.JSON{Raw: h.raw},
	}
}

func (h *webhookHooks) Present(ctx context.Context, ch testacme.Challenge) error {
	req := h.request(ch)
	t, err := solver.Resolve(h.cfg, providers.Default(), solver.Challenge{DNSName: req.DNSName, ResolvedFQDN: req.ResolvedFQDN, ResolvedZone: req.ResolvedZone})
	if err != nil {
		return err
	}
	// What Present proves first, shown hop by hop (Present runs the same check itself).
	if res, err := h.check.Delegation(ctx, t.QueriedName(), t.FQDN); err == nil {
		h.mu.Lock()
		h.say("  delegation check: %s leads to %s, where the webhook writes:", t.QueriedName(), t.FQDN)
		for _, hop := range res.Hops {
			h.say("    %s", hop)
		}
		h.mu.Unlock()
	}
	if err := h.s.Present(req); err != nil {
		h.mu.Lock()
		h.refused = err
		h.mu.Unlock()
		return err
	}
	zone, _ := lookup(h.dnsAddr, t.FQDN, dns.TypeSOA, false)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.say("  wrote TXT %q at %s (zone %s, provider %s from config.%s; mapped by %s)",
		ch.Value, t.FQDN, zoneName(zone), t.Provider.Name, t.Provider.Path, t.Rule)
	// cert-manager's self-check: the value must be visible at the production name through the CNAME.
	seen, err := lookup(h.dnsAddr, req.ResolvedFQDN, dns.TypeTXT, true)
	if err != nil {
		return err
	}
	for _, v := range seen {
		if strings.Contains(v, ch.Value) {
			h.say("  self-check: TXT at %s (following the CNAME) now holds %d values, including this one", req.ResolvedFQDN, countTXT(seen))
			return nil
		}
	}
	return errors.New("the value is not visible at the production name through the CNAME")
}

func (h *webhookHooks) CleanUp(ctx context.Context, ch testacme.Challenge) error {
	return h.s.CleanUp(h.request(ch))
}

// lookup queries addr over TCP and returns the answer records as text.
func lookup(addr, name string, qtype uint16, recurse bool) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = recurse
	in, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).Exchange(m, addr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range append(in.Answer, in.Ns...) {
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	return out, nil
}

func zoneName(soa []string) string {
	if len(soa) == 0 {
		return "?"
	}
	return strings.Fields(soa[0])[0]
}

func countTXT(rrs []string) int {
	n := 0
	for _, r := range rrs {
		if strings.Contains(r, " TXT ") {
			n++
		}
	}
	return n
}
