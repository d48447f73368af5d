package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

const (
	testGroup   = "acme.example.com"
	testAccount = "https://acme-staging-v02.api.letsencrypt.org/acme/acct/4242"
	alias       = "validation.example.org."
)

// productionZones are the zones every check test runs against: one production zone per outcome, a second one a
// chain passes through, and the delegation zone (updatable by TSIG, for the probe).
func productionZones() []testdns.Zone {
	const to = " IN CNAME _acme-challenge.validation.example.org."
	return []testdns.Zone{
		{Name: "example.com.", Records: []string{
			// Every name below inherits this unless it has CAA records of its own.
			`@ IN CAA 0 issue "letsencrypt.org"`,
			`_acme-challenge` + to,
			`_acme-challenge.sub` + to,
			`_acme-challenge.wrong IN CNAME _acme-challenge.elsewhere.example.net.`,
			`_acme-challenge.chain IN CNAME _acme-challenge.chain.example.net.`,
			`forbid IN CAA 0 issue "pki.goog"`,
			`_acme-challenge.forbid` + to,
			`wild IN CAA 0 issue "letsencrypt.org"`,
			`wild IN CAA 0 issuewild ";"`,
			`_acme-challenge.wild` + to,
			`pinned IN CAA 0 issue "letsencrypt.org; accounturi=` + testAccount + `; validationmethods=dns-01"`,
			`_acme-challenge.pinned` + to,
			`dnsonly IN CAA 0 issue "letsencrypt.org; validationmethods=dns-01"`,
			`_acme-challenge.dnsonly` + to,
			`_acme-challenge.direct IN CNAME _acme-challenge.validation.example.org.`,
		}},
		{Name: "example.net.", Records: []string{
			`_acme-challenge.chain` + to,
		}},
		{Name: alias, Updatable: true},
	}
}

// world is one BIND with productionZones, and the configs that point at it.
type world struct {
	bind *testdns.BIND
	dir  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return &world{bind: testdns.Start(t, productionZones()...), dir: t.TempDir()}
}

// resolver asks BIND recursively, as DNS_CHECK_NAMESERVERS=<bind> DNS_CHECK_AUTHORITATIVE=false would.
func (w *world) resolver() *dnscheck.Resolver {
	return &dnscheck.Resolver{Servers: []string{w.bind.Addr}, Timeout: 2 * time.Second}
}

// resolverNowhere is a resolver that answers nothing, for runs that must fail before any lookup.
func (w *world) resolverNowhere() *dnscheck.Resolver {
	return &dnscheck.Resolver{Servers: []string{"127.0.0.1:1"}, Timeout: 10 * time.Millisecond}
}

// rfc2136 is a provider block writing into BIND's delegation zone, its TSIG key from the Secret tsig/secret.
func (w *world) rfc2136() string {
	return fmt.Sprintf("rfc2136:\n    server: %s\n    key_name: %s\n    key_alg: %s\n    key: {secretKeyRef: {name: tsig, key: secret}}\n",
		w.bind.Addr, w.bind.KeyName, w.bind.KeyAlg)
}

// bareConfig is a webhook.config delegating every domain to validation.example.org through BIND.
func (w *world) bareConfig() string {
	return "domainAlias: validation.example.org\naliasProvider:\n  " + w.rfc2136()
}

// manifest is a ClusterIssuer of Let's Encrypt's staging server, with its account in the status, an http-01
// solver for legacy.example.com and this webhook's solver for everything else.
func (w *world) manifest() string {
	cfg := strings.ReplaceAll(w.bareConfig(), "\n", "\n            ")
	return `apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: letsencrypt-delegated
spec:
  acme:
    server: https://acme-staging-v02.api.letsencrypt.org/directory
    email: platform@example.com
    privateKeySecretRef: {name: letsencrypt-delegated-account}
    solvers:
    - selector: {dnsNames: [legacy.example.com]}
      http01: {ingress: {ingressClassName: nginx}}
    - dns01:
        webhook:
          groupName: ` + testGroup + `
          solverName: delegate
          config:
            ` + strings.TrimRight(cfg, " ") + `
status:
  acme:
    uri: ` + testAccount + "\n"
}

func (w *world) file(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs check in process and returns its exit status and outputs.
func (w *world) run(t *testing.T, cmd *CheckCmd, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if cmd == nil {
		cmd = &CheckCmd{}
	}
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if cmd.Resolver == nil {
		cmd.Resolver = w.resolver()
	}
	if cmd.Getenv == nil {
		cmd.Getenv = func(string) string { return "" }
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	code := cmd.Run(ctx, args)
	return code, out.String(), errOut.String()
}

func (w *world) runJSON(t *testing.T, cmd *CheckCmd, args ...string) (int, []DomainReport, string) {
	t.Helper()
	code, out, errOut := w.run(t, cmd, append([]string{"-o", "json"}, args...)...)
	var reps []DomainReport
	if err := json.Unmarshal([]byte(out), &reps); err != nil {
		t.Fatalf("exit %d, output is not a JSON array of reports: %v\n%s\nstderr:\n%s", code, err, out, errOut)
	}
	return code, reps, errOut
}

// TestCheckOutcomes runs check against real BIND zones for each outcome it must tell apart, and asserts the
// report's fields, the problem's fix and the exit status.
func TestCheckOutcomes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cfg := w.file(t, "config.yaml", w.bareConfig())
	const record = "_acme-challenge.%s. CNAME _acme-challenge.validation.example.org."
	cases := []struct {
		name, domain string
		extra        []string
		code         int
		cname        string // status
		issue        string // the verdict that counts for the name
		owner        string
		problem      string // a problem must contain it; "" means no problem
		chain        int
		pinned       bool
		pinRecord    string
	}{
		{name: "in place", domain: "example.com", code: 0, cname: "in-place", issue: "permitted", owner: "example.com.", chain: 1},
		{name: "missing", domain: "shop.example.com", code: 1, cname: "nxdomain", issue: "permitted", owner: "example.com.",
			problem: "create the record " + fmt.Sprintf(record, "shop.example.com") + " in the zone example.com"},
		{name: "wrong target", domain: "wrong.example.com", code: 1, cname: "wrong-target", issue: "permitted", owner: "example.com.",
			problem: "replace the existing CNAME at _acme-challenge.wrong.example.com. with the record " + fmt.Sprintf(record, "wrong.example.com"), chain: 1},
		{name: "chain", domain: "chain.example.com", code: 0, cname: "in-place", issue: "permitted", owner: "example.com.", chain: 2},
		{name: "CAA allowing, inherited from a parent", domain: "sub.example.com", code: 0, cname: "in-place", issue: "permitted", owner: "example.com.", chain: 1},
		{name: "CAA forbidding the CA", domain: "forbid.example.com", code: 1, cname: "in-place", issue: "forbidden", owner: "forbid.example.com.",
			problem: `CAA forbids letsencrypt.org to issue for forbid.example.com.: the CAA records at forbid.example.com. permit other CAs only (0 issue "pki.goog"), not letsencrypt.org; to allow it, add the record forbid.example.com. CAA 0 issue "letsencrypt.org; validationmethods=dns-01"`, chain: 1},
		{name: "issuewild allows the base name", domain: "wild.example.com", code: 0, cname: "in-place", issue: "permitted", owner: "wild.example.com.", chain: 1},
		{name: "issuewild forbids the wildcard", domain: "*.wild.example.com", code: 1, cname: "in-place", issue: "forbidden", owner: "wild.example.com.",
			problem: `CAA forbids letsencrypt.org to issue for *.wild.example.com.: the CAA records at wild.example.com. permit other CAs only (0 issuewild ";"), not letsencrypt.org; to allow it, add the record wild.example.com. CAA 0 issuewild "letsencrypt.org; validationmethods=dns-01"`, chain: 1},
		{name: "pinned accounturi, this account", domain: "pinned.example.com", extra: []string{"--account-uri", testAccount}, code: 0,
			cname: "in-place", issue: "permitted", owner: "pinned.example.com.", chain: 1, pinned: true},
		{name: "pinned accounturi, another account", domain: "pinned.example.com", extra: []string{"--account-uri", testAccount + "0"}, code: 1,
			cname: "in-place", issue: "forbidden", owner: "pinned.example.com.", chain: 1, problem: "pins another account",
			pinRecord: `pinned.example.com. CAA 0 issue "letsencrypt.org; accounturi=` + testAccount + `0; validationmethods=dns-01"`},
		{name: "pinned accounturi, no account given", domain: "pinned.example.com", code: 1, cname: "in-place", issue: "undetermined",
			owner: "pinned.example.com.", chain: 1, problem: "pass --account-uri"},
		{name: "dns-01 only is not pinned to the account", domain: "dnsonly.example.com", extra: []string{"--account-uri", testAccount}, code: 0,
			cname: "in-place", issue: "permitted", owner: "dnsonly.example.com.", chain: 1,
			pinRecord: `dnsonly.example.com. CAA 0 issue "letsencrypt.org; accounturi=` + testAccount + `; validationmethods=dns-01"`},
		{name: "pin suggested for an unpinned name", domain: "example.com", extra: []string{"--account-uri", testAccount}, code: 0,
			cname: "in-place", issue: "permitted", owner: "example.com.", chain: 1,
			pinRecord: `example.com. CAA 0 issue "letsencrypt.org; accounturi=` + testAccount + `; validationmethods=dns-01"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--config", cfg, "--ca", "letsencrypt.org"}, tc.extra...)
			code, reps, errOut := w.runJSON(t, nil, append(args, tc.domain)...)
			if len(reps) != 1 {
				t.Fatalf("%d reports, want 1", len(reps))
			}
			r := reps[0]
			verdict := r.CAA.Issue
			if r.Wildcard {
				verdict = r.CAA.Wildcard
			}
			if code != tc.code || r.CNAME.Status != tc.cname || verdict != tc.issue || r.CAA.Owner != tc.owner ||
				len(r.CNAME.Chain) != tc.chain || r.CAA.Pinned != tc.pinned || r.CAA.PinRecord != tc.pinRecord {
				t.Errorf("exit %d, cname %s (%d hops), caa %s at %q, pinned %v, pin record %q; want exit %d, %s (%d hops), %s at %q, pinned %v, pin %q\n%+v\nstderr: %s",
					code, r.CNAME.Status, len(r.CNAME.Chain), verdict, r.CAA.Owner, r.CAA.Pinned, r.CAA.PinRecord,
					tc.code, tc.cname, tc.chain, tc.issue, tc.owner, tc.pinned, tc.pinRecord, r, errOut)
			}
			if want := fmt.Sprintf(record, strings.TrimPrefix(tc.domain, "*.")); r.CNAME.Record != want {
				t.Errorf("record %q, want %q", r.CNAME.Record, want)
			}
			if r.Mapping == nil || r.Mapping.Record != "_acme-challenge."+alias || r.Mapping.Rule != "domainAlias" ||
				r.Mapping.Provider != "rfc2136" || r.Mapping.ProviderBlock != "aliasProvider.rfc2136" || r.Mapping.Zone != "discovered" {
				t.Errorf("mapping %+v", r.Mapping)
			}
			switch {
			case tc.problem == "" && len(r.Problems) > 0:
				t.Errorf("problems %q, want none", r.Problems)
			case tc.problem != "" && !slices.ContainsFunc(r.Problems, func(p string) bool { return strings.Contains(p, tc.problem) }):
				t.Errorf("problems %q, want one containing %q", r.Problems, tc.problem)
			}
			if r.Ready != (code == 0) {
				t.Errorf("ready %v with exit %d", r.Ready, code)
			}
		})
	}
}

// TestCheckUnknownCA: without a manifest naming a well-known ACME server, CAA cannot be decided: exit 1 with a
// note to pass --ca, the CNAME still checked.
func TestCheckUnknownCA(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cfg := w.file(t, "config.yaml", w.bareConfig())
	code, reps, _ := w.runJSON(t, nil, "--config", cfg, "example.com")
	if code != 1 || reps[0].CNAME.Status != "in-place" || reps[0].CAA.Issue != "unknown" ||
		!slices.ContainsFunc(reps[0].Problems, func(p string) bool { return strings.Contains(p, "pass --ca") }) {
		t.Fatalf("exit %d, %+v", code, reps[0])
	}
	// A manifest whose server is not a well-known CA says the same.
	m := strings.Replace(w.manifest(), "https://acme-staging-v02.api.letsencrypt.org/directory", "https://acme.internal.example/dir", 1)
	code, reps, _ = w.runJSON(t, nil, "--config", w.file(t, "private.yaml", m), "--group-name", testGroup, "example.com")
	if code != 1 || reps[0].CAA.Issue != "unknown" || reps[0].CAA.AccountURI != testAccount {
		t.Fatalf("private CA: exit %d, %+v", code, reps[0].CAA)
	}
}

// TestCheckManifest: a ClusterIssuer manifest gives the CA (Let's Encrypt's staging server is letsencrypt.org)
// and the account (status.acme.uri); its solvers are chosen as cert-manager chooses them.
func TestCheckManifest(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	m := w.file(t, "issuer.yaml", w.manifest())
	code, reps, errOut := w.runJSON(t, &CheckCmd{Getenv: func(k string) string {
		return map[string]string{"GROUP_NAME": testGroup}[k]
	}}, "--config", m, "example.com", "*.example.com")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%+v", code, errOut, reps)
	}
	for _, r := range reps {
		if r.Solver != "solvers[1]" || r.CAA.CA != "letsencrypt.org" || r.CAA.AccountURI != testAccount ||
			r.CAA.CASource != "spec.acme.server https://acme-staging-v02.api.letsencrypt.org/directory" || !r.Ready {
			t.Errorf("%s: %+v", r.Domain, r)
		}
	}
	// cert-manager would choose the http-01 solver for legacy.example.com: check says so, and checks no CNAME.
	code, reps, _ = w.runJSON(t, nil, "--config", m, "--group-name", testGroup, "legacy.example.com", "*.legacy.example.com")
	if code != 1 || reps[0].Mapping != nil || len(reps[0].Problems) != 1 ||
		!strings.Contains(reps[0].Problems[0], "ClusterIssuer/letsencrypt-delegated chooses solvers[0] (http-01) for legacy.example.com, not this webhook") {
		t.Errorf("legacy.example.com: exit %d, %+v", code, reps[0])
	}
	// Its wildcard can only go to dns-01, so to this webhook.
	if reps[1].Solver != "solvers[1]" || reps[1].CNAME.Status != "nxdomain" {
		t.Errorf("*.legacy.example.com: %+v", reps[1])
	}
	// A matchLabels selector on this webhook's solver is taken as met (check knows no Certificate), and said so.
	labelled := strings.Replace(w.manifest(), "    - dns01:\n", "    - selector: {matchLabels: {team: web}}\n      dns01:\n", 1)
	code, reps, _ = w.runJSON(t, nil, "--config", w.file(t, "labelled.yaml", labelled), "--group-name", testGroup, "example.com")
	if code != 0 || reps[0].Solver != "solvers[1]" || len(reps[0].Notes) != 1 ||
		!strings.Contains(reps[0].Notes[0], "solvers[1] also selects on the labels team=web, taken as met") {
		t.Errorf("matchLabels: exit %d, %+v", code, reps[0])
	}
	// The group comes from --group-name, else GROUP_NAME; without either a manifest cannot be read.
	if code, _, errOut := w.run(t, nil, "--config", m, "example.com"); code != 2 || !strings.Contains(errOut, "pass --group-name") ||
		!strings.Contains(errOut, "use the group "+testGroup) {
		t.Errorf("no group: exit %d: %s", code, errOut)
	}
	if code, _, errOut := w.run(t, nil, "--config", m, "--group-name", "other.example.com", "example.com"); code != 2 ||
		!strings.Contains(errOut, "has no solver for this webhook") {
		t.Errorf("another group: exit %d: %s", code, errOut)
	}
}

// TestCheckConfigErrors: a bad config prints exactly the errors the webhook gives, and exits 2; YAML is read
// as kubectl reads it.
func TestCheckConfigErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	raw := `{"domainAlias": "_acme-challenge.validation.example.org", "aliasProvider": {"cloudflare": {"api_token": "inline-token"}}, "ttl": "60"}`
	_, want := solver.ParseConfig([]byte(raw), providers.Default())
	if want == nil {
		t.Fatal("the config is valid")
	}
	code, out, errOut := w.run(t, nil, "--config", w.file(t, "bad.json", raw), "example.com")
	if code != 2 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	for line := range strings.SplitSeq(want.Error(), "\n") {
		if !strings.Contains(errOut, "  "+line+"\n") {
			t.Errorf("stderr lacks the webhook's error %q:\n%s", line, errOut)
		}
	}
	// kubectl turns an unquoted Off into false (YAML 1.1), and so the webhook refuses it: check says so too.
	yamlCfg := w.bareConfig() + "verifyDelegation: Off\n"
	code, _, errOut = w.run(t, nil, "--config", w.file(t, "off.yaml", yamlCfg), "example.com")
	if code != 2 || !strings.Contains(errOut, "config.verifyDelegation: must be a string, got a boolean") {
		t.Errorf("unquoted Off: exit %d: %s", code, errOut)
	}
	code, reps, _ := w.runJSON(t, nil, "--config", w.file(t, "off-quoted.yaml", w.bareConfig()+"verifyDelegation: \"Off\"\n"),
		"--ca", "letsencrypt.org", "example.com")
	if code != 0 || !slices.ContainsFunc(reps[0].Notes, func(n string) bool { return strings.Contains(n, "verifyDelegation: Off") }) {
		t.Errorf("quoted Off: exit %d, notes %q", code, reps[0].Notes)
	}
}

// TestCheckUsage: every command-line mistake exits 2, saying what to do, before any DNS lookup.
func TestCheckUsage(t *testing.T) {
	t.Parallel()
	w := &world{dir: t.TempDir()}
	cfg := w.file(t, "config.json", `{"domainAlias": "validation.example.org", "aliasProvider": {"cloudflare": {"api_token": {"secretKeyRef": {"name": "cf", "key": "token"}}}}}`)
	nowhere := w.resolverNowhere()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"example.com"}, "--config is required"},
		{[]string{"--config", cfg}, "name at least one DOMAIN"},
		{[]string{"--config", cfg, "-o", "yaml", "example.com"}, `-o "yaml"`},
		{[]string{"--config", cfg, "exa mple.com"}, "is not a domain name"},
		{[]string{"--config", cfg, "a.*.example.com"}, "is not a domain name"},
		{[]string{"--config", filepath.Join(w.dir, "absent.yaml"), "example.com"}, "no such file"},
		{[]string{"--config", cfg, "--secret", "cf/token=x", "example.com"}, "are for --probe"},
		{[]string{"--config", cfg, "--probe", "--secret", "cf-token", "example.com"}, "write NAME/KEY=FILE"},
		{[]string{"--config", cfg, "--probe", "example.com"}, "pass --secret cf/token=FILE, or --kubeconfig"},
		{[]string{"--config", cfg, "--probe", "--secret", "cf/other=" + cfg, "example.com"}, "pass --secret cf/token=FILE"},
		{[]string{"--config", w.file(t, "two.yaml", "a: 1\n---\nb: 2\n"), "example.com"}, "holds 2 documents"},
		{[]string{"--config", w.file(t, "pod.yaml", "apiVersion: v1\nkind: Pod\n"), "example.com"}, "not an Issuer or ClusterIssuer"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	} {
		code, _, errOut := w.run(t, &CheckCmd{Resolver: nowhere}, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("check %q: exit %d, stderr:\n%s\nwant exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	// Flags may follow the domains.
	code, _, errOut := w.run(t, &CheckCmd{Resolver: nowhere}, "example.com", "-o", "yaml", "--config", cfg)
	if code != 2 || !strings.Contains(errOut, `-o "yaml"`) {
		t.Errorf("flags after the domain: exit %d: %s", code, errOut)
	}
	if code, _, _ := w.run(t, &CheckCmd{Resolver: nowhere}, "--help"); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
}

func TestResolverFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	r, err := ResolverFromEnv(env(map[string]string{"DNS_CHECK_NAMESERVERS": "127.0.0.1:5353, 10.0.0.1", "DNS_CHECK_AUTHORITATIVE": "false"}))
	if err != nil || !slices.Equal(r.Servers, []string{"127.0.0.1:5353", "10.0.0.1:53"}) || r.Authoritative {
		t.Errorf("%+v, %v", r, err)
	}
	// Unset: /etc/resolv.conf, asked for each zone's authoritative servers, as the webhook does.
	if r, err := ResolverFromEnv(env(nil)); err != nil || !r.Authoritative || !slices.Equal(r.Servers, solver.DefaultResolver().Servers) {
		t.Errorf("defaults: %+v, %v", r, err)
	}
	// Authoritative is read on its own, without nameservers.
	if r, err := ResolverFromEnv(env(map[string]string{"DNS_CHECK_AUTHORITATIVE": "false"})); err != nil || r.Authoritative {
		t.Errorf("DNS_CHECK_AUTHORITATIVE alone: %+v, %v", r, err)
	}
	_, err = ResolverFromEnv(env(map[string]string{"DNS_CHECK_NAMESERVERS": "a b", "DNS_CHECK_AUTHORITATIVE": "maybe"}))
	if err == nil || !strings.Contains(err.Error(), "DNS_CHECK_NAMESERVERS:") || !strings.Contains(err.Error(), `DNS_CHECK_AUTHORITATIVE: "maybe" is not true or false`) {
		t.Errorf("malformed values: %v", err)
	}
	// check reads them through Getenv, and a malformed value is a usage error.
	var out, errOut bytes.Buffer
	cmd := &CheckCmd{Stdout: &out, Stderr: &errOut, Getenv: env(map[string]string{"DNS_CHECK_AUTHORITATIVE": "maybe"})}
	if code := cmd.Run(t.Context(), []string{"--config", "x", "example.com"}); code != 2 || !strings.Contains(errOut.String(), "DNS_CHECK_AUTHORITATIVE") {
		t.Errorf("check with a malformed variable: exit %d: %s", code, errOut.String())
	}
}
