package solver

import (
	"strings"
	"testing"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

func mustParse(t testing.TB, js string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(js), providers.Default())
	if err != nil {
		t.Fatalf("ParseConfig(%s): %v", js, err)
	}
	return c
}

const (
	cfBlock   = `{"cloudflare":{"api_token":{"secretKeyRef":{"name":"cf","key":"token"}}}}`
	rfcBlock  = `{"rfc2136":{"server":"127.0.0.1:53","key_name":"k.","key":{"secretKeyRef":{"name":"tsig","key":"secret"}}}}`
	acmeBlock = `{"acmedns":{"username":"u","subdomain":"d420c923","server_url":"https://auth.acme-dns.io","password":{"secretKeyRef":{"name":"a","key":"p"}}}}`
)

func TestResolve(t *testing.T) {
	t.Parallel()
	full := mustParse(t, `{"provider":`+cfBlock+`,"domainAlias":"validation.example.org","aliasProvider":`+rfcBlock+`,
		"delegations":[
			{"domains":["a.test"],"domainAlias":"a.validation.example.net","aliasZone":"validation.example.net"},
			{"domains":["deep.a.test"],"domainAlias":"deep.validation.example.net","aliasProvider":`+cfBlock+`},
			{"domains":["acme.test"],"domainAlias":"d420c923.auth.acme-dns.io","aliasProvider":`+acmeBlock+`}]}`)
	direct := mustParse(t, `{"provider":`+rfcBlock+`}`)
	zoned := mustParse(t, `{"aliasProvider":`+rfcBlock+`,"domainAlias":"validation.example.org","aliasZone":"example.org"}`)

	cases := []struct {
		name string
		cfg  *Config
		ch   Challenge
		want Target // Provider compared by name
		prov string
		err  string
	}{
		{
			name: "top-level alias", cfg: full,
			ch:   Challenge{DNSName: "example.com", ResolvedFQDN: "_acme-challenge.example.com.", ResolvedZone: "example.com."},
			want: Target{FQDN: "_acme-challenge.validation.example.org.", Alias: "validation.example.org.", Rule: "domainAlias"}, prov: "rfc2136",
		},
		{
			name: "wildcard dnsName maps like its base", cfg: full,
			ch:   Challenge{DNSName: "*.example.com", ResolvedFQDN: "_acme-challenge.example.com.", ResolvedZone: "example.com."},
			want: Target{FQDN: "_acme-challenge.validation.example.org.", Alias: "validation.example.org.", Rule: "domainAlias"}, prov: "rfc2136",
		},
		{
			name: "delegation entry with its own zone, top-level aliasProvider", cfg: full,
			ch:   Challenge{DNSName: "www.a.test", ResolvedFQDN: "_acme-challenge.www.a.test.", ResolvedZone: "a.test."},
			want: Target{FQDN: "_acme-challenge.a.validation.example.net.", Zone: "validation.example.net.", Alias: "a.validation.example.net.", Rule: "delegations[0]"}, prov: "rfc2136",
		},
		{
			name: "most specific entry wins", cfg: full,
			ch:   Challenge{DNSName: "x.deep.a.test", ResolvedFQDN: "_acme-challenge.x.deep.a.test.", ResolvedZone: "a.test."},
			want: Target{FQDN: "_acme-challenge.deep.validation.example.net.", Alias: "deep.validation.example.net.", Rule: "delegations[1]"}, prov: "cloudflare",
		},
		{
			name: "label boundary: xa.test is not below a.test", cfg: full,
			ch:   Challenge{DNSName: "xa.test", ResolvedFQDN: "_acme-challenge.xa.test.", ResolvedZone: "xa.test."},
			want: Target{FQDN: "_acme-challenge.validation.example.org.", Alias: "validation.example.org.", Rule: "domainAlias"}, prov: "rfc2136",
		},
		{
			name: "aliasZone is not inherited by entries", cfg: full,
			ch:   Challenge{DNSName: "deep.a.test", ResolvedFQDN: "_acme-challenge.deep.a.test.", ResolvedZone: "a.test."},
			want: Target{FQDN: "_acme-challenge.deep.validation.example.net.", Zone: "", Alias: "deep.validation.example.net.", Rule: "delegations[1]"}, prov: "cloudflare",
		},
		{
			name: "follow: resolved name at the alias is used as is, in resolvedZone", cfg: full,
			ch:   Challenge{DNSName: "example.com", ResolvedFQDN: "_acme-challenge.validation.example.org.", ResolvedZone: "validation.example.org."},
			want: Target{FQDN: "_acme-challenge.validation.example.org.", Zone: "validation.example.org.", Alias: "validation.example.org.", Rule: "domainAlias"}, prov: "rfc2136",
		},
		{
			name: "follow: resolved name below the alias, aliasZone preferred", cfg: zoned,
			ch:   Challenge{DNSName: "c.example.com", ResolvedFQDN: "_acme-challenge.c.validation.example.org.", ResolvedZone: "validation.example.org."},
			want: Target{FQDN: "_acme-challenge.c.validation.example.org.", Zone: "example.org.", Alias: "validation.example.org.", Rule: "domainAlias"}, prov: "rfc2136",
		},
		{
			name: "follow: CNAME leads outside the alias", cfg: full,
			ch:  Challenge{DNSName: "example.com", ResolvedFQDN: "_acme-challenge.elsewhere.example.net.", ResolvedZone: "example.net."},
			err: "leads to _acme-challenge.elsewhere.example.net., which is outside config.domainAlias validation.example.org",
		},
		{
			name: "follow: entry alias named in the error", cfg: full,
			ch:  Challenge{DNSName: "a.test", ResolvedFQDN: "_acme-challenge.validation.example.org.", ResolvedZone: "example.org."},
			err: "outside config.delegations[0].domainAlias a.validation.example.net",
		},
		{
			name: "direct mode writes at resolvedFQDN in resolvedZone", cfg: direct,
			ch:   Challenge{DNSName: "Direct.Example.net", ResolvedFQDN: "_acme-challenge.direct.example.net.", ResolvedZone: "example.net."},
			want: Target{FQDN: "_acme-challenge.direct.example.net.", Zone: "example.net.", Rule: "provider"}, prov: "rfc2136",
		},
		{
			name: "direct mode refuses a resolvedFQDN outside its zone", cfg: direct,
			ch:  Challenge{DNSName: "x.org", ResolvedFQDN: "_acme-challenge.x.org.", ResolvedZone: "fooX.org."},
			err: "not inside its resolvedZone",
		},
		{
			name: "acmedns writes at the fulldomain itself", cfg: full,
			ch:   Challenge{DNSName: "acme.test", ResolvedFQDN: "_acme-challenge.acme.test.", ResolvedZone: "acme.test."},
			want: Target{FQDN: "d420c923.auth.acme-dns.io.", Zone: "d420c923.auth.acme-dns.io.", Alias: "d420c923.auth.acme-dns.io.", Rule: "delegations[2]"}, prov: "acmedns",
		},
		{
			name: "acmedns followed to the fulldomain", cfg: full,
			ch:   Challenge{DNSName: "acme.test", ResolvedFQDN: "d420c923.auth.acme-dns.io.", ResolvedZone: "auth.acme-dns.io."},
			want: Target{FQDN: "d420c923.auth.acme-dns.io.", Zone: "d420c923.auth.acme-dns.io.", Alias: "d420c923.auth.acme-dns.io.", Rule: "delegations[2]"}, prov: "acmedns",
		},
		{
			name: "acmedns followed elsewhere", cfg: full,
			ch:  Challenge{DNSName: "acme.test", ResolvedFQDN: "other.auth.acme-dns.io.", ResolvedZone: "auth.acme-dns.io."},
			err: "ACME-DNS account's fulldomain is d420c923.auth.acme-dns.io.",
		},
		{
			name: "acmedns never writes in direct mode",
			cfg:  mustParse(t, `{"provider":`+acmeBlock+`,"delegations":[{"domains":["acme.test"],"domainAlias":"d420c923.auth.acme-dns.io"}]}`),
			ch:   Challenge{DNSName: "other.test", ResolvedFQDN: "_acme-challenge.other.test.", ResolvedZone: "other.test."},
			err:  "no delegation covers other.test and config.provider is acmedns",
		},
		{name: "bad dnsName", cfg: full, ch: Challenge{DNSName: "", ResolvedFQDN: "_acme-challenge.x.", ResolvedZone: "x."}, err: "challenge dnsName is empty"},
		{name: "bad resolvedFQDN", cfg: full, ch: Challenge{DNSName: "x.org", ResolvedFQDN: "a..b", ResolvedZone: "x."}, err: "challenge resolvedFQDN"},
		{name: "direct mode without zone", cfg: direct, ch: Challenge{DNSName: "x.org", ResolvedFQDN: "_acme-challenge.x.org."}, err: "challenge resolvedZone is empty"},
	}
	reg := providers.Default()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Resolve(tc.cfg, reg, tc.ch)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Provider == nil || got.Provider.Name != tc.prov {
				t.Fatalf("provider = %+v, want %s", got.Provider, tc.prov)
			}
			got.Provider = nil
			domain := dnsname.MustCanonical(strings.TrimPrefix(tc.ch.DNSName, "*."))
			if got.Domain != domain || got.Followed != (dnsname.MustCanonical(tc.ch.ResolvedFQDN) != dnsname.ACMEPrefix+domain) {
				t.Fatalf("domain %q followed %v, want %q and whether resolvedFQDN %s is not the canonical name",
					got.Domain, got.Followed, domain, tc.ch.ResolvedFQDN)
			}
			got.Domain, got.Followed = "", false
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestIsWithin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, zone string
		want       bool
	}{
		{"example.com.", "example.com.", true},
		{"a.example.com.", "example.com.", true},
		{"fooexample.com.", "example.com.", false},
		{"example.com.", "a.example.com.", false},
		{"com.", "example.com.", false},
	} {
		if got := dnsname.Within(tc.name, tc.zone); got != tc.want {
			t.Errorf("dnsname.Within(%q, %q) = %v", tc.name, tc.zone, got)
		}
	}
}

// FuzzResolve checks the mapping's invariants for any challenge: no panic; the record is an _acme-challenge name
// (or the ACME-DNS fulldomain); it lies inside its zone on a label boundary; and a delegated record lies at or
// under its alias and never in the challenge's own production zone unless the alias is there.
// FuzzResolve checks Resolve's promises for any challenge: deterministic; the record canonical, inside its zone,
// inside its alias; with an alias and no followed CNAME, exactly _acme-challenge.<alias> (the prefix is the
// webhook's), and never in the production zone unless the alias itself is there; ACME-DNS at the fulldomain;
// without an alias, the resolved FQDN as cert-manager gave it.
func FuzzResolve(f *testing.F) {
	f.Add("example.com", "_acme-challenge.example.com.", "example.com.")
	f.Add("*.a.test", "_acme-challenge.a.test.", "a.test.")
	f.Add("x.deep.a.test", "_acme-challenge.validation.example.org.", "example.org.")
	f.Add("acme.test", "d420c923.auth.acme-dns.io.", "auth.acme-dns.io.")
	f.Add("EXAMPLE.com.", "_acme-challenge.example.com", "")
	cfgs := []*Config{
		mustParse(f, `{"provider":`+cfBlock+`,"domainAlias":"validation.example.org","aliasZone":"example.org","delegations":[{"domains":["a.test"],"domainAlias":"a.validation.example.net","aliasZone":"validation.example.net"},{"domains":["acme.test"],"domainAlias":"d420c923.auth.acme-dns.io","aliasProvider":`+acmeBlock+`}]}`),
		mustParse(f, `{"provider":`+rfcBlock+`}`),
	}
	reg := providers.Default()
	f.Fuzz(func(t *testing.T, dnsName, fqdn, zone string) {
		for _, cfg := range cfgs {
			ch := Challenge{DNSName: dnsName, ResolvedFQDN: fqdn, ResolvedZone: zone}
			got, err := Resolve(cfg, reg, ch)
			if err != nil {
				continue
			}
			again, err := Resolve(cfg, reg, ch)
			if err != nil || again != got {
				t.Fatalf("not deterministic: %+v then %+v, %v", got, again, err)
			}
			if c, err := dnsname.Canonical(got.FQDN); err != nil || c != got.FQDN {
				t.Fatalf("FQDN %q is not canonical", got.FQDN)
			}
			if got.Zone != "" && !dnsname.Within(got.FQDN, got.Zone) {
				t.Fatalf("FQDN %q outside zone %q", got.FQDN, got.Zone)
			}
			if got.Alias != "" && !dnsname.Within(got.FQDN, got.Alias) {
				t.Fatalf("FQDN %q outside alias %q", got.FQDN, got.Alias)
			}
			d, _ := dnsname.Canonical(strings.TrimPrefix(dnsName, "*."))
			r, _ := dnsname.Canonical(fqdn)
			followed := r != dnsname.ACMEPrefix+d
			if got.Domain != d || got.Followed != followed {
				t.Fatalf("domain %q followed %v, want %q %v", got.Domain, got.Followed, d, followed)
			}
			if got.Alias != "" && !dnsname.Within(got.Alias, d) {
				if dnsname.Within(got.FQDN, d) {
					t.Fatalf("an alias applies but the record %q is in the production name's tree %q", got.FQDN, d)
				}
				if got.Zone != "" && dnsname.Within(d, got.Zone) && !followed {
					t.Fatalf("an alias applies but the record goes to the production zone %q", got.Zone)
				}
			}
			if got.Alias != "" && got.Zone != "" && !followed && !dnsname.Within(got.Alias, got.Zone) && got.Provider.Name != "acmedns" {
				t.Fatalf("alias %q is not inside the zone %q it is written to", got.Alias, got.Zone)
			}
			switch {
			case got.Provider.Name == "acmedns":
				if got.FQDN != got.Alias {
					t.Fatalf("ACME-DNS record %q is not the fulldomain %q", got.FQDN, got.Alias)
				}
			case got.Alias != "" && !followed:
				if !strings.HasPrefix(got.FQDN, dnsname.ACMEPrefix) || got.FQDN != dnsname.ACMEPrefix+got.Alias {
					t.Fatalf("delegated record %q is not %s%s", got.FQDN, dnsname.ACMEPrefix, got.Alias)
				}
			case got.Alias == "" || followed:
				if got.FQDN != r {
					t.Fatalf("record %q is not the resolved FQDN %q", got.FQDN, r)
				}
			}
		}
	})
}
