package solver

import (
	"strings"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

func TestParseConfigAccepts(t *testing.T) {
	t.Parallel()
	reg := providers.Default()
	cases := []struct {
		name  string
		json  string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "direct mode",
			json: `{"provider":{"rfc2136":{"server":"127.0.0.1:53","key_name":"k.","key":{"secretKeyRef":{"name":"tsig","key":"secret"}}}}}`,
			check: func(t *testing.T, c *Config) {
				if c.Provider == nil || c.Provider.Name != "rfc2136" || c.DomainAlias != "" || c.TTL != DefaultTTL {
					t.Fatalf("got %+v", c)
				}
				if len(c.Provider.refs) != 1 || c.Provider.refs[0].jsonPath != "provider.rfc2136.key" {
					t.Fatalf("refs = %+v", c.Provider.refs)
				}
			},
		},
		{
			name: "alias provider alone needs no production credentials",
			json: `{"domainAlias":"Validation.Example.org.","aliasProvider":{"cloudflare":{"api_token":{"secretKeyRef":{"name":"cf","key":"token"}}}},"ttl":120}`,
			check: func(t *testing.T, c *Config) {
				if c.Provider != nil || c.AliasProvider.Name != "cloudflare" || c.DomainAlias != "validation.example.org." || c.TTL != 120*time.Second {
					t.Fatalf("got %+v", c)
				}
			},
		},
		{
			name: "delegations with their own providers and zones",
			json: `{"domainAlias":"validation.example.org","aliasZone":"example.org","aliasProvider":{"cloudflare":{"api_token":{"secretKeyRef":{"name":"cf","key":"token"}}}},
				"delegations":[{"domains":["a.test","b.test"],"domainAlias":"a.validation.example.net","aliasZone":"validation.example.net.",
				"aliasProvider":{"rfc2136":{"server":"ns:53","key_name":"k","key":{"secretKeyRef":{"name":"t","key":"k"}}}}}]}`,
			check: func(t *testing.T, c *Config) {
				d := c.Delegations[0]
				if len(d.Domains) != 2 || d.Domains[1] != "b.test." || d.AliasZone != "validation.example.net." || d.AliasProvider.Name != "rfc2136" || d.path != "delegations[0]" {
					t.Fatalf("got %+v", d)
				}
				if c.AliasZone != "example.org." {
					t.Fatalf("aliasZone = %q", c.AliasZone)
				}
			},
		},
		{
			name: "acmedns with a config map and secret passwords at depth",
			json: `{"domainAlias":"d420c923.auth.acme-dns.io","provider":{"acmedns":{"config":{"example.com":{"username":"u","subdomain":"d420c923","fulldomain":"d420c923.auth.acme-dns.io","server_url":"https://auth.acme-dns.io","password":{"secretKeyRef":{"name":"acme-dns","key":"password"}}}}}}}`,
			check: func(t *testing.T, c *Config) {
				if got := c.Provider.refs[0].jsonPath; got != "provider.acmedns.config.example.com.password" {
					t.Fatalf("ref path = %q", got)
				}
			},
		},
		{
			name: "ttl zero means the default",
			json: `{"provider":{"rfc2136":{"server":"ns:53"}},"ttl":0}`,
			check: func(t *testing.T, c *Config) {
				if c.TTL != DefaultTTL {
					t.Fatalf("ttl = %v", c.TTL)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig([]byte(tc.json), reg)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestParseConfigRejects(t *testing.T) {
	t.Parallel()
	reg := providers.Default()
	const cf = `{"cloudflare":{"api_token":{"secretKeyRef":{"name":"cf","key":"token"}}}}`
	cases := []struct {
		name string
		json string
		// want are substrings the error must contain: the JSON path and the fix.
		want []string
	}{
		{"nil config", ``, []string{"config is empty", "config.provider"}},
		{"null config", `null`, []string{"config is empty"}},
		{"not an object", `[1]`, []string{"config: must be a JSON object"}},
		{"unknown field", `{"provider":` + cf + `,"domainalias":"x.org"}`, []string{"config.domainalias: unknown field", "domainAlias"}},
		{"no provider at all", `{"ttl":60}`, []string{"config.provider: is required"}},
		{"alias without any writer", `{"domainAlias":"v.example.org"}`, []string{"config.provider: is required", "aliasProvider"}},
		{"unknown provider", `{"provider":{"route66":{}}}`, []string{`config.provider: unknown provider "route66"`, "known providers are acmedns, "}},
		{"two provider keys", `{"provider":{"cloudflare":{},"rfc2136":{}}}`, []string{"config.provider: names 2 providers (cloudflare, rfc2136)", "exactly one"}},
		{"empty provider block", `{"provider":{}}`, []string{"config.provider: is empty"}},
		{"provider is a string", `{"provider":"cloudflare"}`, []string{"config.provider: must be an object"}},
		{"unknown provider field", `{"provider":{"cloudflare":{"apitoken":{"secretKeyRef":{"name":"cf","key":"t"}}}}}`, []string{"config.provider.cloudflare", `unknown field "apitoken"`, "api_token, zone_token"}},
		{"wrong provider field type", `{"provider":{"rfc2136":{"server":53}}}`, []string{"config.provider.rfc2136", "server must be a string"}},
		{"inline credential", `{"provider":{"cloudflare":{"api_token":"abc123"}}}`, []string{"config.provider.cloudflare.api_token: is a credential and may not be given inline", "secretKeyRef"}},
		{"inline credential at depth", `{"domainAlias":"x.auth.example","provider":{"acmedns":{"config":{"example.com":{"password":"hunter2"}}}}}`, []string{"config.provider.acmedns.config.example.com.password: is a credential"}},
		{"secret ref without key", `{"provider":{"rfc2136":{"key":{"secretKeyRef":{"name":"tsig"}}}}}`, []string{"config.provider.rfc2136.key.secretKeyRef.key: must be a key"}},
		{"secret ref with extra field", `{"provider":{"rfc2136":{"key":{"secretKeyRef":{"name":"tsig","key":"k","namespace":"other"}}}}}`, []string{"secretKeyRef.namespace: unknown field"}},
		{"secret ref beside other keys", `{"provider":{"rfc2136":{"key":{"secretKeyRef":{"name":"tsig","key":"k"},"x":1}}}}`, []string{"config.provider.rfc2136.key: a Secret reference has only the key secretKeyRef"}},
		{"bad secret name", `{"provider":{"rfc2136":{"key":{"secretKeyRef":{"name":"Bad_Name","key":"k"}}}}}`, []string{"secretKeyRef.name: must be the name of a Secret"}},
		{"alias with prefix", `{"provider":` + cf + `,"domainAlias":"_acme-challenge.validation.example.org"}`, []string{"config.domainAlias", `starts with "_acme-challenge."`, `set it to "validation.example.org"`}},
		{"malformed alias", `{"provider":` + cf + `,"domainAlias":"bad name.org"}`, []string{"config.domainAlias: must be a domain name", "' '"}},
		{"wildcard alias", `{"provider":` + cf + `,"domainAlias":"*.example.org"}`, []string{"config.domainAlias", "wildcard"}},
		{"alias is a number", `{"provider":` + cf + `,"domainAlias":5}`, []string{"config.domainAlias: must be a string, got a number"}},
		{"alias outside its zone", `{"provider":` + cf + `,"domainAlias":"validation.example.org","aliasZone":"example.net"}`, []string{"config.aliasZone: example.net. does not contain the alias validation.example.org."}},
		{"alias outside its zone on a label boundary", `{"provider":` + cf + `,"domainAlias":"validation.fooexample.org","aliasZone":"example.org"}`, []string{"config.aliasZone", "does not contain"}},
		{"aliasZone without alias", `{"provider":` + cf + `,"aliasZone":"example.org"}`, []string{"config.aliasZone: has no effect without domainAlias"}},
		{"aliasProvider without alias", `{"provider":` + cf + `,"aliasProvider":` + cf + `}`, []string{"config.aliasProvider: has no effect"}},
		{"negative ttl", `{"provider":` + cf + `,"ttl":-5}`, []string{"config.ttl: must not be negative"}},
		{"fractional ttl", `{"provider":` + cf + `,"ttl":1.5}`, []string{"config.ttl: must be a whole number"}},
		{"string ttl", `{"provider":` + cf + `,"ttl":"60"}`, []string{"config.ttl: must be a whole number of seconds, got a string"}},
		{"huge ttl", `{"provider":` + cf + `,"ttl":999999}`, []string{"config.ttl: 999999 is over a day"}},
		{"delegations not a list", `{"provider":` + cf + `,"delegations":{}}`, []string{"config.delegations: must be a list"}},
		{"delegation without domains", `{"provider":` + cf + `,"delegations":[{"domainAlias":"a.v.org"}]}`, []string{"config.delegations[0].domains: must be a non-empty list"}},
		{"delegation without alias", `{"provider":` + cf + `,"delegations":[{"domains":["a.test"]}]}`, []string{"config.delegations[0].domainAlias: is required"}},
		{"delegation wildcard domain", `{"provider":` + cf + `,"delegations":[{"domains":["*.a.test"],"domainAlias":"a.v.org"}]}`, []string{"config.delegations[0].domains[0]", `write "a.test"`}},
		{"delegation duplicate domain", `{"provider":` + cf + `,"delegations":[{"domains":["a.test"],"domainAlias":"a.v.org"},{"domains":["A.test."],"domainAlias":"b.v.org"}]}`, []string{"config.delegations[1].domains[0]: a.test is already listed at delegations[0].domains[0]"}},
		{"empty top-level alias is not direct mode", `{"provider":` + cf + `,"domainAlias":""}`, []string{"config.domainAlias: is empty"}},
		{"null top-level alias", `{"provider":` + cf + `,"domainAlias":null}`, []string{"config.domainAlias: is empty"}},
		{"empty delegation alias", `{"provider":` + cf + `,"delegations":[{"domains":["a.test"],"domainAlias":""}]}`, []string{"config.delegations[0].domainAlias: is empty"}},
		{"null delegation alias", `{"provider":` + cf + `,"delegations":[{"domains":["a.test"],"domainAlias":null}]}`, []string{"config.delegations[0].domainAlias: is empty"}},
		{"empty aliasZone", `{"provider":` + cf + `,"domainAlias":"v.org","aliasZone":""}`, []string{"config.aliasZone: is empty"}},
		{"empty domain", `{"provider":` + cf + `,"delegations":[{"domains":[""],"domainAlias":"a.v.org"}]}`, []string{"config.delegations[0].domains[0]: is empty"}},
		{"credential with other capitalisation", `{"provider":{"cloudflare":{"API_TOKEN":"inline-secret"}}}`, []string{"config.provider.cloudflare.API_TOKEN", `"api_token"`}},
		{"field with other capitalisation", `{"provider":{"rfc2136":{"Server":"ns:53"}}}`, []string{"config.provider.rfc2136.Server", `did you mean "server"`}},
		{"nested field with other capitalisation", `{"domainAlias":"x.auth.example","provider":{"acmedns":{"config":{"example.com":{"Password":"p"}}}}}`, []string{"config.provider.acmedns.config.example.com.Password", `did you mean "password"`}},
		{"secret ref as the whole block", `{"provider":{"cloudflare":{"secretKeyRef":{"name":"cf","key":"t"}}}}`, []string{"config.provider.cloudflare", "replaces the value of one field"}},
		{"delegation unknown field", `{"provider":` + cf + `,"delegations":[{"domains":["a.test"],"domainAlias":"a.v.org","zone":"v.org"}]}`, []string{"config.delegations[0].zone: unknown field"}},
		{"delegation without any writer", `{"domainAlias":"v.org","aliasProvider":` + cf + `,"delegations":[{"domains":["a.test"],"domainAlias":"a.v.org"}]}`, nil},
		{"acmedns in direct mode", `{"provider":{"acmedns":{"username":"u","subdomain":"s","server_url":"https://a.example","password":{"secretKeyRef":{"name":"a","key":"p"}}}}}`, []string{"config.domainAlias: is required with acmedns", "fulldomain"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig([]byte(tc.json), reg)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error, got config %+v", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig([]byte(`{"domainAlias":"_acme-challenge.v.org","ttl":-1,"bogus":true,"provider":{"cloudflare":{"api_token":"inline"}}}`), providers.Default())
	if err == nil {
		t.Fatal("want errors")
	}
	for _, w := range []string{"config.bogus", "config.ttl", "config.domainAlias", "config.provider.cloudflare.api_token"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

func TestParseConfigNeverEchoesInlineCredential(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig([]byte(`{"provider":{"cloudflare":{"api_token":"s3cr3t-t0ken"}}}`), providers.Default())
	if err == nil || strings.Contains(err.Error(), "s3cr3t-t0ken") {
		t.Fatalf("error must exist and not contain the credential: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{"provider":{"rfc2136":{"server":"127.0.0.1:53","key":{"secretKeyRef":{"name":"a","key":"b"}}}}}`,
		`{"domainAlias":"v.example.org","aliasProvider":{"cloudflare":{"api_token":{"secretKeyRef":{"name":"cf","key":"t"}}}},"delegations":[{"domains":["a.test"],"domainAlias":"a.v.org"}]}`,
		`{"provider":{"acmedns":{"config":{"x":{"password":{"secretKeyRef":{"name":"a","key":"b"}}}}}},"domainAlias":"x.y"}`,
		`{"ttl":1e400}`, `{"delegations":[null,{},[]]}`, `{"provider":{"rfc2136":{"key":{"secretKeyRef":7}}}}`,
	} {
		f.Add(s)
	}
	reg := providers.Default()
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfig([]byte(s), reg)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil {
			return
		}
		// An accepted config maps every challenge without panicking.
		_, _ = Resolve(c, reg, Challenge{DNSName: "a.test", ResolvedFQDN: "_acme-challenge.a.test.", ResolvedZone: "a.test."})
	})
}

// TestHostileInput: names at the 63- and 253-octet limits, internationalised names, odd case and trailing dots,
// and a 1 MiB config are each parsed or refused with an error naming the field, never a panic or a hang.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	reg := providers.Default()
	label63 := strings.Repeat("a", 63)
	name253 := strings.Repeat(label63+".", 3) + strings.Repeat("b", 61) // 63*3+3+61 = 253
	if len(name253) != 253 {
		t.Fatalf("test name is %d octets", len(name253))
	}
	block := `{"cloudflare":{"api_token":{"secretKeyRef":{"name":"cf","key":"t"}}}}`
	for _, tc := range []struct {
		alias string
		ok    bool
	}{
		{label63 + ".example.org", true},
		{strings.Repeat("a", 64) + ".example.org", false},
		{name253[len("_acme-challenge."):], true}, // the alias plus the prefix fits 253
		{name253 + "c", false},
		{"VALIDATION.Example.ORG.", true},
		{"xn--bcher-kva.example", true},
		{"bücher.example", false},
		{"validation..example.org", false},
		{"validation.example.org..", false},
	} {
		cfg, err := ParseConfig([]byte(`{"domainAlias":"`+tc.alias+`","aliasProvider":`+block+`}`), reg)
		if tc.ok != (err == nil) {
			t.Errorf("domainAlias %q: %v", tc.alias, err)
		}
		if err != nil && !strings.Contains(err.Error(), "config.domainAlias") {
			t.Errorf("domainAlias %q: the error does not name the field: %v", tc.alias, err)
		}
		if err == nil && cfg.DomainAlias != strings.ToLower(strings.TrimSuffix(tc.alias, "."))+"." {
			t.Errorf("domainAlias %q parsed as %q", tc.alias, cfg.DomainAlias)
		}
	}
	// The record name _acme-challenge.<alias> must fit 253 octets too.
	if _, err := ParseConfig([]byte(`{"domainAlias":"`+name253[:240]+`","aliasProvider":`+block+`}`), reg); err == nil ||
		!strings.Contains(err.Error(), "config.domainAlias") || !strings.Contains(err.Error(), "too long") {
		t.Errorf("an alias whose record name is longer than 253 octets: %v", err)
	}
	for _, dnsName := range []string{name253, "EXAMPLE.COM.", "*.Example.Com", "xn--bcher-kva.example"} {
		c := mustParse(t, `{"domainAlias":"validation.example.org","aliasProvider":`+block+`}`)
		if _, err := Resolve(c, reg, canonicalChallenge(dnsName)); err != nil && dnsName != name253 {
			t.Errorf("dnsName %q: %v", dnsName, err)
		}
	}
	// 1 MiB of config: refused or parsed quickly, and the error is bounded.
	big := `{"domainAlias":"validation.example.org","aliasProvider":` + block + `,"delegations":[` +
		strings.Repeat(`{"domains":["a.test"],"domainAlias":"x.example.org"},`, 20000) + `{"domains":["b.test"],"domainAlias":"y.example.org"}]}`
	if len(big) < 1<<20 {
		big += strings.Repeat(" ", 1<<20-len(big))
	}
	_, err := ParseConfig([]byte(big), reg)
	if err == nil || !strings.Contains(err.Error(), "is already listed at") {
		t.Fatalf("1 MiB config with duplicate domains: %v", err)
	}
	if len(err.Error()) > 64<<10 {
		t.Errorf("the error for a 1 MiB config is %d bytes: every duplicate is listed", len(err.Error()))
	}
}
