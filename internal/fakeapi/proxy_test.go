package fakeapi

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// proxyClient is what a library with Go's default transport does when HTTPS_PROXY names the fake: a real
// http.Transport with a Proxy function, trusting roots.
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

func TestProxy(t *testing.T) {
	t.Parallel()
	s, h := start(t, Config{})
	if s.ProxyURL() != s.URL() || !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q ProxyURL %q, want the loopback listener", s.URL(), s.ProxyURL())
	}
	c := proxyClient(t, s, s.CAPool())
	for _, host := range []string{apiHost, "other-api.example.test"} {
		resp, err := c.Get("https://" + host + "/via/proxy?x=1")
		if err != nil {
			t.Fatalf("GET through the proxy: %v", err)
		}
		var got echo
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.TLS == nil || got.Host != host {
			t.Errorf("%s: %d tls=%v host %q (%v)", host, resp.StatusCode, resp.TLS != nil, got.Host, err)
		}
	}
	reqs := s.Requests()
	if len(reqs) != 2 || !reqs[0].ViaProxy || reqs[0].Path != "/via/proxy" || reqs[0].Query.Get("x") != "1" || h.calls() != 2 {
		t.Errorf("log %+v, want two requests via the proxy", reqs)
	}
	// Faults apply inside the tunnel too.
	s.RateLimit(1, 3*time.Second)
	resp, err := c.Get("https://" + apiHost + "/limited")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("rate limit through the proxy: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	s.Reset(1)
	req, _ := http.NewRequest(http.MethodPost, "https://"+apiHost+"/reset", strings.NewReader("x"))
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("reset through the proxy answered %d", resp.StatusCode)
	}
}

func TestProxyRefusals(t *testing.T) {
	t.Parallel()
	s, h := start(t, Config{})
	tests := []struct {
		name    string
		url     string
		roots   *x509.CertPool
		wantErr string
	}{
		{"other host", "https://example.com/", s.CAPool(), "Forbidden"},
		{"other port", "https://" + apiHost + ":8443/", s.CAPool(), "Forbidden"},
		{"CA not trusted", "https://" + apiHost + "/", x509.NewCertPool(), "certificate"},
		{"system roots only", "https://" + apiHost + "/", nil, "certificate"},
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
	// A plain-HTTP forward-proxy request (absolute URI) is refused: the fake is no open proxy.
	u, _ := url.Parse(s.ProxyURL())
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}}
	resp, err := c.Get("http://example.com/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("forward-proxy request: %d, want 403", resp.StatusCode)
	}
	if n := len(s.Requests()); n != 0 || h.calls() != 0 {
		t.Errorf("%d requests logged, %d handler calls for refused tunnels", n, h.calls())
	}
}
