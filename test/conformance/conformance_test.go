//go:build integration

// Package conformance runs cert-manager's own DNS-01 conformance suite, in strict mode, against the webhook's
// solver on a real kube-apiserver and a real BIND. It needs TEST_ASSET_ETCD, TEST_ASSET_KUBE_APISERVER and
// TEST_ASSET_KUBECTL in the environment before the test binary starts (cert-manager's test/apiserver panics at
// package init without them); `make test` sets them.
package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	acmetest "github.com/cert-manager/cert-manager/test/acme"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

const cloudflareToken = "conformance-token-0123456789abcdefghijk"

type vars struct {
	Server, KeyName, KeyAlg, TSIGSecret, CloudflareToken string
}

func TestConformance(t *testing.T) {
	cases := []struct {
		name string
		// dir under testdata/ with config.json.tmpl and Secret manifests.
		dir string
		// dnsName, resolvedFQDN and resolvedZone as cert-manager hands them to the webhook.
		dnsName, resolvedFQDN, resolvedZone string
		// zone where the records must land, and must be gone from afterwards.
		writeZone, writeName string
	}{
		{
			name: "rfc2136 delegation", dir: "rfc2136",
			dnsName: "example.com", resolvedFQDN: "_acme-challenge.example.com.", resolvedZone: "example.com.",
			writeZone: "validation.example.org.", writeName: "_acme-challenge.validation.example.org.",
		},
		{
			name: "cloudflare delegation", dir: "cloudflare",
			dnsName: "example.com", resolvedFQDN: "_acme-challenge.example.com.", resolvedZone: "example.com.",
			writeZone: "validation.example.org.", writeName: "_acme-challenge.validation.example.org.",
		},
		{
			name: "direct mode", dir: "direct",
			dnsName: "direct.example.net", resolvedFQDN: "_acme-challenge.direct.example.net.", resolvedZone: "direct.example.net.",
			writeZone: "direct.example.net.", writeName: "_acme-challenge.direct.example.net.",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bind := testdns.Start(t,
				// The production zone holds only the static CNAME a person wrote once; the webhook's key may not
				// update it, so a Present that wrote at the production name fails.
				testdns.Zone{Name: "example.com.", Records: []string{"_acme-challenge IN CNAME _acme-challenge.validation.example.org."}},
				testdns.Zone{Name: "validation.example.org.", Updatable: true},
				testdns.Zone{Name: "direct.example.net.", Updatable: true},
			)
			cf := fakecloudflare.New(fakecloudflare.WithToken(cloudflareToken), fakecloudflare.WithZone("validation.example.org"))
			for _, z := range []string{"example.com", "example.net", "example.org"} {
				cf.AddZone(z) // discovery must pick the longest match on a label boundary
			}
			cf.Mirror = bind
			if err := cf.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cf.Close)

			dir := render(t, filepath.Join("..", "..", "testdata", tc.dir), vars{
				Server: bind.Addr, KeyName: bind.KeyName, KeyAlg: bind.KeyAlg, TSIGSecret: bind.Secret,
				CloudflareToken: cloudflareToken,
			})
			// The delegation check asks BIND itself, recursively: its NS records name no reachable port.
			s := &solver.Solver{HTTPClient: cf.Client(), DNS: &dnscheck.Resolver{Servers: []string{bind.Addr}}}
			f := acmetest.NewFixture(s,
				acmetest.SetStrict(true),
				acmetest.SetUseAuthoritative(false),
				acmetest.SetDNSServer(bind.Addr),
				acmetest.SetDNSName(tc.dnsName),
				acmetest.SetResolvedFQDN(tc.resolvedFQDN),
				acmetest.SetResolvedZone(tc.resolvedZone),
				acmetest.SetAllowAmbientCredentials(false),
				acmetest.SetManifestPath(dir),
				acmetest.SetPollInterval(100*time.Millisecond),
				acmetest.SetPropagationLimit(20*time.Second),
			)
			f.RunBasic(t)
			f.RunExtended(t)

			// The suite checks deletion at the production name without following the CNAME, so BIND answers with
			// the CNAME alone and a CleanUp that did nothing would pass. Read the zone itself.
			txt, err := bind.ZoneTXT(tc.writeZone)
			if err != nil {
				t.Fatal(err)
			}
			if len(txt) != 0 {
				t.Fatalf("after the suite, zone %s still holds TXT records: %v (CleanUp left them behind)", tc.writeZone, txt)
			}
			if tc.dir == "cloudflare" {
				if n := len(cf.Records("validation.example.org")); n != 0 {
					t.Fatalf("the fake Cloudflare zone still holds %d records", n)
				}
				if cf.CountRequests("POST", "/client/v4/zones/") == 0 {
					t.Fatal("no record was created through the Cloudflare API")
				}
			}
			// The production zone is never written: its only record at the challenge name stays the CNAME.
			m, err := bind.Query("_acme-challenge.example.com.", 5 /* CNAME */)
			if err != nil || len(m.Answer) != 1 || !strings.Contains(m.Answer[0].String(), "_acme-challenge.validation.example.org.") {
				t.Fatalf("production CNAME changed: %v %v", m, err)
			}
		})
	}
}

// render executes every *.tmpl file of src into a new temporary directory, dropping the .tmpl suffix.
func render(t *testing.T, src string, v vars) string {
	t.Helper()
	dst := t.TempDir()
	files, err := filepath.Glob(filepath.Join(src, "*.tmpl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates in %s: %v", src, err)
	}
	for _, file := range files {
		tmpl, err := template.New(filepath.Base(file)).Option("missingkey=error").ParseFiles(file)
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, strings.TrimSuffix(filepath.Base(file), ".tmpl")))
		if err != nil {
			t.Fatal(err)
		}
		if err := tmpl.Execute(out, v); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
