package dnscheck

import (
	"strings"
	"testing"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

const (
	le      = "letsencrypt.org"
	account = "https://acme-v02.api.letsencrypt.org/acme/acct/123"
)

func TestCAA(t *testing.T) {
	t.Parallel()
	b := testdns.Start(t,
		testdns.Zone{Name: "caa.example.", Records: []string{
			`@ IN CAA 0 issue "letsencrypt.org"`,
			`allow IN CAA 0 issue "letsencrypt.org"`,
			`allow IN CAA 0 iodef "mailto:security@caa.example"`,
			`forbid IN CAA 0 issue "pki.goog"`,
			`nobody IN CAA 0 issue ";"`,
			`wild IN CAA 0 issue "letsencrypt.org"`,
			`wild IN CAA 0 issuewild ";"`,
			`wildok IN CAA 0 issue "pki.goog"`,
			`wildok IN CAA 0 issuewild "letsencrypt.org"`,
			`acct IN CAA 0 issue "letsencrypt.org; accounturi=` + account + `; validationmethods=dns-01"`,
			`methods IN CAA 0 issue "letsencrypt.org; validationmethods=http-01,tls-alpn-01"`,
			`crit IN CAA 0 issue "letsencrypt.org"`,
			`crit IN CAA 128 tbs "unknown"`,
			`noncrit IN CAA 0 issue "letsencrypt.org"`,
			`noncrit IN CAA 0 tbs "unknown"`,
			`iodefonly IN CAA 0 iodef "mailto:security@caa.example"`,
			// A CNAME is followed at the name; its target's parents are never climbed.
			`alias IN CNAME x.other.example.`,
			`alias2 IN CNAME y.other.example.`,
		}},
		testdns.Zone{Name: "other.example.", Records: []string{
			`@ IN CAA 0 issue "pki.goog"`,
			`y IN CAA 0 issue "sectigo.com"`,
			`x IN TXT "no caa here"`,
		}},
	)
	dns01 := Issuer{Domain: le, AccountURI: account}
	cases := []struct {
		name     string
		wildcard bool
		issuer   Issuer
		owner    string
		want     Verdict
		reason   string
	}{
		{"allow.caa.example", false, dns01, "allow.caa.example.", Permitted, `0 issue "letsencrypt.org" permits letsencrypt.org`},
		{"forbid.caa.example", false, dns01, "forbid.caa.example.", Forbidden, `permit other CAs only (0 issue "pki.goog")`},
		{"nobody.caa.example", false, dns01, "nobody.caa.example.", Forbidden, "other CAs only"},
		{"wild.caa.example", false, dns01, "wild.caa.example.", Permitted, ""},
		{"wild.caa.example", true, dns01, "wild.caa.example.", Forbidden, `0 issuewild ";"`},
		{"*.wild.caa.example", false, dns01, "wild.caa.example.", Forbidden, ""},
		{"wildok.caa.example", true, dns01, "wildok.caa.example.", Permitted, "issuewild"},
		{"wildok.caa.example", false, dns01, "wildok.caa.example.", Forbidden, ""},
		{"deep.er.allow.caa.example", false, dns01, "allow.caa.example.", Permitted, "at allow.caa.example."},
		{"deep.forbid.caa.example", true, dns01, "forbid.caa.example.", Forbidden, ""}, // issue applies to a wildcard too
		{"acct.caa.example", false, dns01, "acct.caa.example.", Permitted, ""},
		{"acct.caa.example", false, Issuer{Domain: le, AccountURI: account + "4"}, "acct.caa.example.", Forbidden, "pins another account"},
		{"acct.caa.example", false, Issuer{Domain: le}, "acct.caa.example.", Undetermined, "give the account URI"},
		{"acct.caa.example", false, Issuer{Domain: le, AccountURI: account, Method: "http-01"}, "acct.caa.example.", Forbidden, "does not allow http-01"},
		{"methods.caa.example", false, dns01, "methods.caa.example.", Forbidden, "does not allow dns-01"},
		{"methods.caa.example", false, Issuer{Domain: le, Method: "tls-alpn-01"}, "methods.caa.example.", Permitted, ""},
		{"crit.caa.example", false, dns01, "crit.caa.example.", Forbidden, `critical flag on the unknown tag "tbs"`},
		{"noncrit.caa.example", false, dns01, "noncrit.caa.example.", Permitted, ""},
		{"iodefonly.caa.example", false, dns01, "iodefonly.caa.example.", Permitted, "no issue property"},
		{"alias.caa.example", false, dns01, "caa.example.", Permitted, "at caa.example."},
		{"alias2.caa.example", false, dns01, "alias2.caa.example.", Forbidden, "through its CNAME to y.other.example."},
		{"caa.example", false, Issuer{Domain: "pki.goog"}, "caa.example.", Forbidden, ""},
		{"unrelated.example", false, dns01, "", Permitted, "any CA may issue"},
	}
	modes(t, func(t *testing.T, auth bool) {
		c := checkerFor(b, auth)
		for _, tc := range cases {
			set, err := c.CAA(ctxFor(t), tc.name, tc.wildcard)
			if err != nil {
				t.Errorf("CAA(%s, %v): %v", tc.name, tc.wildcard, err)
				continue
			}
			d := set.Decide(tc.issuer)
			if set.Owner != tc.owner || d.Verdict != tc.want || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("CAA(%s, wildcard %v) for %+v: owner %q, %s (%s); want owner %q, %s containing %q",
					tc.name, tc.wildcard, tc.issuer, set.Owner, d.Verdict, d.Reason, tc.owner, tc.want, tc.reason)
			}
		}
	})
}

func TestParseIssueValue(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"letsencrypt.org":   "letsencrypt.org",
		" LetsEncrypt.org ": "letsencrypt.org",
		";":                 "",
		"":                  "",
		"letsencrypt.org; accounturi = https://a/b ;validationmethods=dns-01": "letsencrypt.org",
	} {
		v, ok := parseIssueValue(in)
		if !ok || v.domain != want {
			t.Errorf("parseIssueValue(%q) = %+v, %v; want domain %q", in, v, ok, want)
		}
	}
	v, _ := parseIssueValue("letsencrypt.org; accounturi = https://a/b ;validationmethods=dns-01")
	if v.params["accounturi"] != "https://a/b" || v.params["validationmethods"] != "dns-01" {
		t.Errorf("params = %v", v.params)
	}
	for _, bad := range []string{"letsencrypt.org; accounturi", "lets encrypt.org", "letsencrypt.org; a=b c"} {
		if v, ok := parseIssueValue(bad); ok {
			t.Errorf("parseIssueValue(%q) = %+v, want malformed", bad, v)
		}
	}
	// A malformed record authorises nobody.
	set := CAASet{Name: "x.", Owner: "x.", Via: "x.", Records: []CAARecord{{Tag: "issue", Value: "letsencrypt.org; accounturi"}}}
	if d := set.Decide(Issuer{Domain: le}); d.Verdict != Forbidden {
		t.Errorf("malformed record: %s (%s)", d.Verdict, d.Reason)
	}
}

func TestCAAPinRecord(t *testing.T) {
	t.Parallel()
	got := CAAPinRecord("Example.com", "letsencrypt.org", account)
	want := `example.com. CAA 0 issue "letsencrypt.org; accounturi=` + account + `; validationmethods=dns-01"`
	if got != want {
		t.Fatalf("CAAPinRecord = %s\nwant           %s", got, want)
	}
	if got := CAAPinRecord("*.example.com.", "letsencrypt.org", ""); got != `example.com. CAA 0 issue "letsencrypt.org; validationmethods=dns-01"` {
		t.Fatalf("without an account: %s", got)
	}
	// The record it writes permits exactly that CA, account and method.
	set := CAASet{Name: "example.com.", Owner: "example.com.", Via: "example.com.",
		Records: []CAARecord{{Tag: "issue", Value: "letsencrypt.org; accounturi=" + account + "; validationmethods=dns-01"}}}
	if d := set.Decide(Issuer{Domain: le, AccountURI: account}); d.Verdict != Permitted {
		t.Errorf("the pinned record does not permit its own account: %s", d.Reason)
	}
	if d := set.Decide(Issuer{Domain: le, AccountURI: account, Method: "http-01"}); d.Verdict != Forbidden {
		t.Errorf("the pinned record permits http-01: %s", d.Reason)
	}
}
