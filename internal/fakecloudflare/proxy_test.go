package fakecloudflare

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libdns/cloudflare"
	"github.com/libdns/libdns"
)

// childEnv marks the test binary re-executed as a separate process that
// reaches the fake only through HTTPS_PROXY and SSL_CERT_FILE.
const childEnv = "FAKECLOUDFLARE_CHILD_TOKEN"

// TestMain runs the child mode when asked; it is how TestProxySeparateProcess
// gets a process with Go's default transport and its own environment.
func TestMain(m *testing.M) {
	if tok := os.Getenv(childEnv); tok != "" {
		os.Exit(runChild(tok))
	}
	os.Exit(m.Run())
}

// runChild lists zones with http.DefaultClient, whose transport takes the
// proxy from HTTPS_PROXY and trusts the CA in SSL_CERT_FILE.
func runChild(token string) int {
	fail := func(msg string) int {
		_, _ = os.Stderr.WriteString("child: " + msg + "\n")
		return 3
	}
	req, err := http.NewRequest(http.MethodGet, "https://"+APIHost+BasePath+"/zones?name=example.com", nil)
	if err != nil {
		return fail(err.Error())
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail(err.Error())
	}
	defer resp.Body.Close()
	var env struct {
		Success bool   `json:"success"`
		Result  []Zone `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fail(err.Error())
	}
	if resp.StatusCode != http.StatusOK || !env.Success || len(env.Result) != 1 || env.Result[0].Name != "example.com" {
		return fail(resp.Status)
	}
	return 0
}

func proxyClient(t *testing.T, s *Server, roots *x509.CertPool) *http.Client {
	t.Helper()
	u, err := url.Parse(s.ProxyURL())
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func caPoolFromFile(t *testing.T, s *Server) (*x509.CertPool, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCAFile(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("CA file is not a PEM certificate: %q", raw)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !ca.IsCA {
		t.Fatalf("CA file: %v (IsCA %v)", err, err == nil && ca.IsCA)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, path
}

func TestProxy(t *testing.T) {
	s := newServer(t)
	pool, _ := caPoolFromFile(t, s)
	client := proxyClient(t, s, pool)

	req, _ := http.NewRequest(http.MethodGet, "https://"+APIHost+BasePath+"/zones", nil)
	req.Header.Set("Authorization", bearer(testToken))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET through proxy: %v", err)
	}
	defer resp.Body.Close()
	var env Response
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !env.Success || resp.TLS == nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d success %v tls %v", resp.StatusCode, env.Success, resp.TLS != nil)
	}
	var zones []Zone
	if err := json.Unmarshal(env.Result, &zones); err != nil || len(zones) != 1 || zones[0].Name != "example.com" {
		t.Errorf("zones %s (%v)", env.Result, err)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || !reqs[0].ViaProxy || reqs[0].Path != BasePath+"/zones" {
		t.Errorf("log %+v, want one request via the proxy", reqs)
	}
}

func TestProxyWithLibdns(t *testing.T) {
	s := newServer(t)
	p := &cloudflare.Provider{APIToken: testToken, HTTPClient: proxyClient(t, s, s.CAPool())}
	ctx := context.Background()
	if _, err := p.AppendRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "through-proxy"}}); err != nil {
		t.Fatalf("AppendRecords through proxy: %v", err)
	}
	if _, err := p.DeleteRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "through-proxy"}}); err != nil {
		t.Fatalf("DeleteRecords through proxy: %v", err)
	}
	if n := len(s.Records("example.com")); n != 0 {
		t.Errorf("%d records left", n)
	}
	for _, r := range s.Requests() {
		if !r.ViaProxy {
			t.Errorf("request %+v did not come through the proxy", r)
		}
	}
}

func TestProxyRefusals(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name    string
		url     string
		roots   *x509.CertPool
		wantErr string
	}{
		{"other host", "https://example.com/", s.CAPool(), "Forbidden"},
		{"other port", "https://" + APIHost + ":8443/client/v4/zones", s.CAPool(), "Forbidden"},
		{"CA not trusted", "https://" + APIHost + BasePath + "/zones", x509.NewCertPool(), "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := proxyClient(t, s, tt.roots).Get(tt.url)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("request succeeded with %s", resp.Status)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d API requests logged for refused tunnels", n)
	}
}

func TestProxySeparateProcess(t *testing.T) {
	s := newServer(t)
	_, caFile := caPoolFromFile(t, s)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childEnv+"="+testToken,
		"HTTPS_PROXY="+s.ProxyURL(), "https_proxy="+s.ProxyURL(),
		"NO_PROXY=", "no_proxy=",
		"SSL_CERT_FILE="+caFile, "SSL_CERT_DIR="+t.TempDir(),
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || !reqs[0].ViaProxy || reqs[0].Status != 200 {
		t.Errorf("log %+v, want the child's request via the proxy", reqs)
	}
}
