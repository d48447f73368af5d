package main

import (
	"strings"
	"testing"
)

func TestSubcommandDispatch(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		handled bool
		code    int
	}{
		{nil, false, 0},
		{[]string{"--secure-port=10250"}, false, 0}, // the server's own flags
		{[]string{"chekc"}, true, 2},                // a typo is an error, never a server start
		{[]string{"version"}, true, 0},
	} {
		code, handled := subcommand(tc.args)
		if handled != tc.handled || code != tc.code {
			t.Errorf("subcommand(%q) = %d, %v; want %d, %v", tc.args, code, handled, tc.code, tc.handled)
		}
	}
}

func TestSolverFromEnv(t *testing.T) {
	env := map[string]string{
		"DNS_CHECK_NAMESERVERS": "10.96.0.10, 10.96.0.11:5353", "DNS_CHECK_AUTHORITATIVE": "false",
		"ALLOWED_ZONES": "Validation.Example.org.", "REQUIRE_SECRET_LABEL": "false", "POD_NAMESPACE": "cert-manager",
	}
	s, err := solverFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s.DNS.Authoritative || len(s.DNS.Servers) != 2 || s.DNS.Servers[1] != "10.96.0.11:5353" ||
		len(s.AllowedZones) != 1 || s.AllowedZones[0] != "validation.example.org." || !s.AllowUnlabelledSecrets ||
		s.Namespace != "cert-manager" {
		t.Fatalf("solver from env: %+v %+v", s, s.DNS)
	}
	// The default resolver asks authoritative servers even when only the nameservers are set, and vice versa.
	s, _ = solverFromEnv(func(k string) string { return map[string]string{"DNS_CHECK_AUTHORITATIVE": "false"}[k] })
	if s.DNS.Authoritative {
		t.Fatal("DNS_CHECK_AUTHORITATIVE=false ignored without DNS_CHECK_NAMESERVERS")
	}
	for k, v := range map[string]string{"ALLOWED_ZONES": "*.example.org", "DNS_CHECK_NAMESERVERS": "a b", "DNS_CHECK_AUTHORITATIVE": "maybe", "REQUIRE_SECRET_LABEL": "yes please"} {
		if _, err := solverFromEnv(func(key string) string { return map[string]string{k: v}[key] }); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v, want an error naming it", k, v, err)
		}
	}
}
