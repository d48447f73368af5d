package fakeacmedns

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func post(t *testing.T, s *Server, a Account, user, txt string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"subdomain": a.Subdomain, "txt": txt})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/update", bytes.NewReader(body))
	req.Header.Set("X-Api-User", user)
	req.Header.Set("X-Api-Key", a.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestUpdateKeepsTwoLatestAndServesThem(t *testing.T) {
	s := Start(t, "auth.acme-dns.test")
	a := s.Register()
	v := func(c byte) string { return strings.Repeat(string(c), 43) }
	for _, tc := range []struct {
		user, txt string
		status    int
		want      []string
	}{
		{a.Username, v('a'), 200, []string{v('a')}},
		{a.Username, v('b'), 200, []string{v('a'), v('b')}},
		{a.Username, v('c'), 200, []string{v('b'), v('c')}}, // the older value goes
		{"someone-else", v('d'), 401, []string{v('b'), v('c')}},
		{a.Username, "short", 400, []string{v('b'), v('c')}},
	} {
		if got := post(t, s, a, tc.user, tc.txt); got != tc.status {
			t.Fatalf("update %q as %q: status %d, want %d", tc.txt, tc.user, got, tc.status)
		}
		if got := s.Values(a.Subdomain); !slices.Equal(got, tc.want) {
			t.Fatalf("values = %q, want %q", got, tc.want)
		}
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(a.FullDomain), dns.TypeTXT)
	in, err := dns.Exchange(m, s.DNSAddr)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rr := range in.Answer {
		got = append(got, rr.(*dns.TXT).Txt[0])
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{v('b'), v('c')}) || !in.Authoritative {
		t.Fatalf("DNS answer %q (aa=%v)", got, in.Authoritative)
	}
	if s.Updates() != 3 {
		t.Fatalf("updates = %d, want 3", s.Updates())
	}
}
