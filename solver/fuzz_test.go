package solver

import (
	"context"
	"sync"
	"testing"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

// recordingWriter is a provider that records what the solver asks of it.
type recordingWriter struct {
	mu     sync.Mutex
	writes []providers.Record
}

func (w *recordingWriter) Present(_ context.Context, rec providers.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, rec)
	return nil
}

func (w *recordingWriter) CleanUp(ctx context.Context, rec providers.Record) error {
	return w.Present(ctx, rec)
}

// FindZone answers with the name's parent, which may lie outside the fence: the solver must check it.
func (w *recordingWriter) FindZone(_ context.Context, fqdn string) (string, error) {
	return dnsname.Parent(fqdn), nil
}

func (w *recordingWriter) take() []providers.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.writes
	w.writes = nil
	return out
}

type fuzzProviderConfig struct {
	Token  string `json:"token"`
	Server string `json:"server,omitempty"`
}

var fuzzFence = []string{"validation.example.org.", "direct.test."}

// FuzzPresent drives the whole Present and CleanUp path (config, mapping, fence, delegation check, Secrets, zone
// discovery, write) with a recording provider: whatever the issuer's config and cert-manager's request, nothing
// panics, and every record written or deleted lies inside its zone, inside the fence, and is the record the
// mapping gives.
func FuzzPresent(f *testing.F) {
	for _, seed := range [][5]string{
		{`{"verifyDelegation":"Off","domainAlias":"validation.example.org","aliasProvider":{"fake":{"token":{"secretKeyRef":{"name":"s","key":"token"}}}}}`, "example.com", "_acme-challenge.example.com.", "example.com.", "k0"},
		{`{"provider":{"fake":{"token":{"secretKeyRef":{"name":"s","key":"token"}}}}}`, "x.direct.test", "_acme-challenge.x.direct.test.", "direct.test.", "k1"},
		{`{"domainAlias":"validation.example.org","aliasZone":"example.org","aliasProvider":{"fake":{"token":{"secretKeyRef":{"name":"s","key":"token"}}}}}`, "a.test", "_acme-challenge.c.validation.example.org.", "validation.example.org.", "k2"},
		{`{"verifyDelegation":"Off","provider":{"fake":{"token":{"secretKeyRef":{"name":"s","key":"token"}}}},"delegations":[{"domains":["a.test"],"domainAlias":"deep.validation.example.org"}]}`, "*.www.a.test", "_acme-challenge.www.a.test.", "a.test.", "k3"},
		{`{"verifyDelegation":"Off","domainAlias":"validation.example.org","aliasProvider":{"fake":{"token":"inline"}}}`, "EXAMPLE.com.", "_acme-challenge.example.com", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], seed[4])
	}
	rw := &recordingWriter{}
	reg := providers.Registry{"fake": {
		Name: "fake", Module: "example.test/fake", New: func() any { return new(fuzzProviderConfig) },
		Credentials: []string{"token"}, Endpoints: []string{"server"}, Strategy: providers.Exact, Zones: "its parent",
		Test: providers.Constructed, Example: "token: {secretKeyRef: {name: s, key: token}}\n",
		Build: func(any, providers.Env) (providers.Writer, error) { return rw, nil },
	}}
	client := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: testNS, Labels: map[string]string{SecretLabel: "true"}},
			Data: map[string][]byte{"token": []byte("fuzz-token-0123")}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}},
	)
	// No resolver: every delegation check fails, so only verifyDelegation Off or a followed CNAME writes.
	s := &Solver{Registry: reg, DNS: &dnscheck.Resolver{}, AllowedZones: fuzzFence, NoPacing: true}
	s.InitializeWithClients(Clients{Kube: client, Metadata: metadataFor()}, make(chan struct{}))
	f.Fuzz(func(t *testing.T, config, dnsName, fqdn, zone, key string) {
		ch := &whapi.ChallengeRequest{UID: "fuzz", DNSName: dnsName, ResolvedFQDN: fqdn, ResolvedZone: zone, Key: key,
			ResourceNamespace: testNS, Config: &apiextensionsv1.JSON{Raw: []byte(config)}}
		for _, call := range []func(*whapi.ChallengeRequest) error{s.Present, s.CleanUp} {
			err := call(ch)
			writes := rw.take()
			if err != nil && len(writes) > 0 {
				// A failed call may have reached the provider only if the failure came from it; the recording
				// provider never fails, so nothing can have been written.
				t.Fatalf("a failed call (%v) wrote %+v", err, writes)
			}
			for _, w := range writes {
				if !dnsname.Within(w.FQDN, w.Zone) {
					t.Fatalf("%s written outside its zone %s", w.FQDN, w.Zone)
				}
				if dnsname.WithinAny(w.FQDN, fuzzFence) == "" || dnsname.WithinAny(w.Zone, fuzzFence) == "" {
					t.Fatalf("%s in zone %s written outside the fence %v", w.FQDN, w.Zone, fuzzFence)
				}
				if w.Value != key || checkKey(key) != nil {
					t.Fatalf("wrote value %q for key %q", w.Value, key)
				}
				cfg, perr := ParseConfig([]byte(config), reg)
				if perr != nil {
					t.Fatalf("wrote %+v for a config that does not parse: %v", w, perr)
				}
				// The record is what the mapping gives for the request, or (a CleanUp whose followed CNAME has
				// changed) for the canonical request.
				tgt, rerr := Resolve(cfg, reg, Challenge{DNSName: dnsName, ResolvedFQDN: fqdn, ResolvedZone: zone})
				canon, cerr := Resolve(cfg, reg, canonicalChallenge(dnsName))
				if !(rerr == nil && tgt.FQDN == w.FQDN) && !(cerr == nil && canon.FQDN == w.FQDN) {
					t.Fatalf("wrote %s; the mapping gives %s (%v), canonically %s (%v)", w.FQDN, tgt.FQDN, rerr, canon.FQDN, cerr)
				}
			}
		}
	})
}
