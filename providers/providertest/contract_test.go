package providertest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakecloudflare"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakedesec"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakedigitalocean"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeroute53"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testknot"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testpdns"
)

// router sends each fake's API hosts to that fake, for libraries that use http.DefaultTransport (TestMain
// installs it there, as main installs the webhook's own transport), and refuses every other request.
type router struct {
	mu    sync.Mutex
	hosts map[string]http.RoundTripper
}

var routes = &router{hosts: map[string]http.RoundTripper{}}

func (r *router) add(rt http.RoundTripper, hosts ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hosts {
		r.hosts[h] = rt
	}
}

func (r *router) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	rt, ok := r.hosts[req.URL.Hostname()]
	r.mu.Unlock()
	if !ok {
		if ip := net.ParseIP(req.URL.Hostname()); ip != nil && ip.IsLoopback() {
			return direct.RoundTrip(req) // a real server of the test (PowerDNS)
		}
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("providertest: no fake for %s", req.URL.Host)
	}
	return rt.RoundTrip(req)
}

// direct reaches test servers on loopback, never through a proxy.
var direct = &http.Transport{}

// do is the one DigitalOcean fake of the process: godo builds its own transport, which reads HTTPS_PROXY and
// SSL_CERT_FILE once per process, so the fake is reached as a proxy, as a separate webhook process reaches it.
var do *fakedigitalocean.Server

const doToken = "do-contract-token-0123456789abcdef"

// r53 is the one Route 53 fake of the process: the AWS SDK finds it through AWS_ENDPOINT_URL_ROUTE_53, which is
// process-wide.
var r53 *fakeroute53.Server

const (
	r53Key, r53Secret = "AKIAPROVIDERTEST0001", "route53-secret-0123456789abcdefghijklmnop"
)

func TestMain(m *testing.M) {
	http.DefaultTransport = routes
	var err error
	r53, err = fakeroute53.Start(fakeroute53.WithAccessKey(r53Key, r53Secret), fakeroute53.WithZone("r53.test"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Nothing may reach for instance metadata: only loopback is a permitted target here.
	_ = os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	_ = os.Setenv("AWS_ENDPOINT_URL_ROUTE_53", r53.URL())
	_ = os.Setenv("AWS_REGION", "us-east-1")
	do, err = fakedigitalocean.Start(fakedigitalocean.WithToken(doToken), fakedigitalocean.WithDomain("do.test"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, _ := os.MkdirTemp("", "providertest")
	if err := do.WriteCAFile(filepath.Join(dir, "ca.pem")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = os.Setenv("HTTPS_PROXY", do.ProxyURL())
	_ = os.Setenv("SSL_CERT_FILE", filepath.Join(dir, "ca.pem"))
	code := m.Run()
	r53.Close()
	do.Close()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func ref(name, key string) string {
	return fmt.Sprintf(`{"secretKeyRef":{"name":%q,"key":%q}}`, name, key)
}

func TestRFC2136AgainstBIND(t *testing.T) {
	t.Parallel()
	b := testdns.Start(t, testdns.Zone{Name: "rfc.test.", Updatable: true})
	block := func(secret string) string {
		return fmt.Sprintf(`{"rfc2136":{"server":%q,"key_name":%q,"key_alg":%q,"key":%s}}`, b.Addr, b.KeyName, b.KeyAlg, ref(secret, "secret"))
	}
	Run(t, Case{
		Block: block("tsig"), Secrets: map[string]map[string]string{"tsig": {"secret": b.Secret}},
		BadBlock: block("tsig-bad"), BadSecrets: map[string]map[string]string{"tsig-bad": {"secret": "d3JvbmctdHNpZy1zZWNyZXQ="}},
		Endpoints: []string{b.Addr}, Zone: "rfc.test.",
		Values: func(t testing.TB, fqdn string) []string {
			txt, err := b.ZoneTXT("rfc.test.")
			if err != nil {
				t.Fatal(err)
			}
			return txt[fqdn]
		},
	})
}

func TestRFC2136AgainstKnot(t *testing.T) {
	t.Parallel()
	k := testknot.Start(t, testknot.Zone{Name: "knot.test.", Updatable: true})
	block := func(secret string) string {
		return fmt.Sprintf(`{"rfc2136":{"server":%q,"key_name":%q,"key_alg":%q,"key":%s}}`, k.Addr, k.KeyName, k.KeyAlg, ref(secret, "secret"))
	}
	Run(t, Case{
		Block: block("tsig"), Secrets: map[string]map[string]string{"tsig": {"secret": k.Secret}},
		BadBlock: block("tsig-bad"), BadSecrets: map[string]map[string]string{"tsig-bad": {"secret": "d3JvbmctdHNpZy1zZWNyZXQ="}},
		Endpoints: []string{k.Addr}, Zone: "knot.test.",
		Values: func(t testing.TB, fqdn string) []string {
			txt, err := k.ZoneTXT("knot.test.")
			if err != nil {
				t.Fatal(err)
			}
			return txt[fqdn]
		},
	})
}

func TestPowerDNSAgainstARealServer(t *testing.T) {
	t.Parallel()
	p := testpdns.Start(t)
	if err := p.CreateZone(context.Background(), "pdns.test."); err != nil {
		t.Fatal(err)
	}
	block := func(secret string) string {
		return fmt.Sprintf(`{"powerdns":{"server_url":%q,"server_id":%q,"api_token":%s}}`, p.URL, p.ServerID, ref(secret, "key"))
	}
	Run(t, Case{
		Block: block("pdns"), Secrets: map[string]map[string]string{"pdns": {"key": p.APIKey}},
		BadBlock: block("pdns-bad"), BadSecrets: map[string]map[string]string{"pdns-bad": {"key": "wrong-api-key-0123"}},
		Endpoints: []string{p.URL}, Zone: "pdns.test.", AliasZone: true,
		HTTPClient: http.DefaultClient,
		Values: func(t testing.TB, fqdn string) []string {
			txt, err := p.ZoneTXT(context.Background(), "pdns.test.")
			if err != nil {
				t.Fatal(err)
			}
			return txt[fqdn]
		},
	})
}

func TestCloudflareAgainstItsFake(t *testing.T) {
	t.Parallel()
	const token = "cloudflare-contract-token-0123456789abc"
	cf := fakecloudflare.New(fakecloudflare.WithToken(token), fakecloudflare.WithZone("cf.test"))
	if err := cf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cf.Close)
	block := func(secret string) string {
		return fmt.Sprintf(`{"cloudflare":{"api_token":%s}}`, ref(secret, "token"))
	}
	Run(t, Case{
		Block: block("cf"), Secrets: map[string]map[string]string{"cf": {"token": token}},
		BadBlock: block("cf-bad"), BadSecrets: map[string]map[string]string{"cf-bad": {"token": "not-the-token-0123456789"}},
		Zone: "cf.test.", HTTPClient: cf.Client(),
		Values: func(t testing.TB, fqdn string) []string {
			var out []string
			for _, r := range cf.Records("cf.test") {
				if r.Type == "TXT" && r.Name+"." == fqdn {
					out = append(out, strings.Trim(r.Content, `"`))
				}
			}
			return out
		},
	})
}

func TestDigitalOceanAgainstItsFake(t *testing.T) {
	t.Parallel()
	block := func(secret string) string {
		return fmt.Sprintf(`{"digitalocean":{"auth_token":%s}}`, ref(secret, "token"))
	}
	Run(t, Case{
		Block: block("do"), Secrets: map[string]map[string]string{"do": {"token": doToken}},
		BadBlock: block("do-bad"), BadSecrets: map[string]map[string]string{"do-bad": {"token": "not-the-do-token-0123"}},
		Zone: "do.test.", AliasZone: true,
		Values: func(_ testing.TB, fqdn string) []string {
			return do.TXT("do.test", strings.TrimSuffix(strings.TrimSuffix(fqdn, "."), ".do.test"))
		},
	})
}

func TestDeSECAgainstItsFake(t *testing.T) {
	t.Parallel()
	const token = "desec-contract-token-0123456789abc"
	ds, err := fakedesec.Start(fakedesec.WithToken(token), fakedesec.WithDomain("desec.test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ds.Close)
	routes.add(ds.Transport(), ds.Hosts()...)
	block := func(secret string) string { return fmt.Sprintf(`{"desec":{"token":%s}}`, ref(secret, "token")) }
	Run(t, Case{
		Block: block("desec"), Secrets: map[string]map[string]string{"desec": {"token": token}},
		BadBlock: block("desec-bad"), BadSecrets: map[string]map[string]string{"desec-bad": {"token": "not-the-desec-token-01"}},
		Zone:   "desec.test.",
		Values: func(_ testing.TB, fqdn string) []string { return ds.TXT(fqdn) },
	})
}

func TestRoute53AgainstItsFake(t *testing.T) {
	t.Parallel()
	block := func(secret string) string {
		return fmt.Sprintf(`{"route53":{"region":"us-east-1","access_key_id":%q,"secret_access_key":%s}}`, r53Key, ref(secret, "key"))
	}
	Run(t, Case{
		Block: block("r53"), Secrets: map[string]map[string]string{"r53": {"key": r53Secret}},
		BadBlock: block("r53-bad"), BadSecrets: map[string]map[string]string{"r53-bad": {"key": "not-the-route53-secret-0123"}},
		Zone: "r53.test.", AliasZone: true,
		Values: func(_ testing.TB, fqdn string) []string { return r53.TXT(fqdn) },
	})
}
