package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// checkTimeout bounds the DNS checks of one run of check (and of plan); each query has its own, shorter
// timeout (dnscheck.Resolver.Timeout).
const checkTimeout = 2 * time.Minute

// CheckCmd is the check subcommand: for one issuer config and some domains, the record each domain's challenge
// is written to, the CNAME it needs in its production zone and whether it is in place, and what CAA lets the CA
// do; with --probe, a real write and delete through the configured provider. It needs no cluster. Set the
// fields before Run; zero values are the process's defaults.
type CheckCmd struct {
	// Stdout gets the report, Stderr usage and errors.
	Stdout, Stderr io.Writer
	// Getenv reads GROUP_NAME and the resolver variables. Default: os.Getenv.
	Getenv func(string) string
	// Resolver is the DNS the checks ask. Default: DNS_CHECK_NAMESERVERS and DNS_CHECK_AUTHORITATIVE read as
	// the webhook server reads them (ResolverFromEnv).
	Resolver *dnscheck.Resolver
	// Registry is the providers configs may name. Default: providers.Default(), as the webhook.
	Registry providers.Registry
	// HTTPClient sends the probe's provider API requests. Default: the webhook's client.
	HTTPClient *http.Client
	// Interrupt delivers the signals that stop a probe (its value is still removed). Default: SIGINT and SIGTERM.
	Interrupt <-chan os.Signal
	// CleanupBackoff is the first wait before the probe retries a failed delete (it doubles, probeCleanups
	// tries in all). Default: 1 s.
	CleanupBackoff time.Duration
}

// Check runs the check subcommand in this process: main's entry point.
func Check(args []string, stdout, stderr io.Writer) int {
	// Provider libraries that use http.DefaultClient go through the webhook's transport, as in the server.
	http.DefaultTransport = providers.Transport(nil)
	return (&CheckCmd{Stdout: stdout, Stderr: stderr}).Run(context.Background(), args)
}

const checkUsage = `usage: cert-manager-webhook-delegate check --config FILE [--ca IDENTITY] [--account-uri URI] [-o text|json]
       [--probe [--secret NAME/KEY=FILE]... [--kubeconfig FILE] [--namespace NS] [--lease-namespace NS]] DOMAIN...

For each DOMAIN (a wildcard counts as its base name), before you ask for a certificate:
  - where the webhook writes the challenge's TXT record, and the config rule that chose it;
  - the CNAME the production zone needs, as one zone-file line, and whether it is in place (the same check
    Present runs, with DNS_CHECK_NAMESERVERS and DNS_CHECK_AUTHORITATIVE read as the webhook reads them);
  - the CAA records that apply to the name and whether they let the CA issue, for the name and its wildcard;
    with an ACME account URI, the CAA record that pins issuance to that account and to dns-01 (RFC 8657).

FILE is the issuer's webhook.config (JSON or YAML) or a whole Issuer/ClusterIssuer manifest: then its solvers
named by --group-name (else GROUP_NAME) and solverName delegate are used, with their cnameStrategy, the CA is
taken from spec.acme.server and the account from status.acme.uri.

--probe presents and cleans up one random TXT value through the configured provider, to prove the token can
write the zone: Secrets from --secret files, or from the cluster with --kubeconfig. It never leaves the value
behind (an interrupt still cleans up; a failed delete is retried). ACME-DNS is refused; providers that rewrite
whole record sets need --kubeconfig, to take the webhook's Lease.

Exit status: 0 everything needed is in place; 1 something is missing or wrong (each problem says what to create
or change); 2 the command line or the config is wrong.

Flags:`

// Run runs check with args (without the command name) and returns the exit status.
func (c *CheckCmd) Run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	configPath := fs.String("config", "", "the issuer's webhook.config (JSON or YAML), or an Issuer/ClusterIssuer manifest (required)")
	ca := fs.String("ca", "", "the CA's CAA identity, e.g. letsencrypt.org (default: from the manifest's spec.acme.server, for well-known CAs)")
	account := fs.String("account-uri", "", "the ACME account URI, checked against CAA accounturi (default: the manifest's status.acme.uri)")
	output := fs.String("o", "text", "output format: text or json")
	groupName := fs.String("group-name", "", "the webhook's API group, as issuers name it in webhook.groupName (default: $GROUP_NAME)")
	probe := fs.Bool("probe", false, "present and clean up one random TXT value through the configured provider")
	var secrets secretFlags
	fs.Var(&secrets, "secret", "with --probe: a Secret value from a file, NAME/KEY=FILE (repeatable)")
	kubeconfig := fs.String("kubeconfig", "", "with --probe: read the config's Secrets from this cluster, and take Leases there")
	namespace := fs.String("namespace", "", "with --probe: the namespace the Secrets are read from (default: the Issuer's, else cert-manager)")
	leaseNS := fs.String("lease-namespace", "cert-manager", "with --probe: the webhook's namespace, where it keeps its Lease locks")
	fs.Usage = func() {
		fmt.Fprintln(c.Stderr, checkUsage)
		fs.PrintDefaults()
	}
	domains, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(c.Stderr, "check: "+format+"\n", a...)
		return 2
	}
	switch {
	case *configPath == "":
		return usage("--config is required: the issuer's webhook.config, or an Issuer/ClusterIssuer manifest")
	case len(domains) == 0:
		return usage("name at least one DOMAIN to check")
	case *output != "text" && *output != "json":
		return usage("-o %q: use text or json", *output)
	case !*probe && (len(secrets) > 0 || *kubeconfig != "" || *namespace != ""):
		return usage("--secret, --kubeconfig and --namespace are for --probe")
	}
	for _, d := range domains {
		if _, err := dnsname.Canonical(strings.TrimPrefix(d, "*.")); err != nil || strings.Contains(strings.TrimPrefix(d, "*."), "*") {
			return usage("%q is not a domain name or a wildcard (*.example.com)", d)
		}
	}
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	resolver, err := c.resolver(getenv)
	if err != nil {
		return usage("%v", err)
	}
	reg := c.registry()
	group := *groupName
	if group == "" {
		group = getenv("GROUP_NAME")
	}
	src, err := loadSource(*configPath, group, reg)
	if err != nil {
		return usage("%v", err)
	}
	if bad := configErrors(src); bad != "" {
		fmt.Fprint(c.Stderr, bad)
		return 2
	}

	q := nameQuery{CA: *ca, CASource: "--ca", AccountURI: *account}
	if q.CA == "" && src.Issuer != nil {
		if q.CA = caForServer(src.Issuer.Server); q.CA != "" {
			q.CASource = "spec.acme.server " + src.Issuer.Server
		}
	}
	if q.CA == "" {
		q.CASource = ""
	}
	if q.AccountURI == "" && src.Issuer != nil {
		q.AccountURI = src.Issuer.AccountURI
	}
	queries := make([]nameQuery, len(domains))
	notes := make([][]string, len(domains))
	for i, d := range domains {
		queries[i] = q
		queries[i].Name = d
		queries[i].Solver, notes[i] = pickOurs(ctx, src, d, group)
	}

	var probeOpts *probeOptions
	if *probe {
		probeOpts = &probeOptions{secrets: secrets, kubeconfig: *kubeconfig, namespace: *namespace, leaseNamespace: *leaseNS}
		if err := c.checkProbe(queries, probeOpts); err != nil {
			return usage("--probe: %v", err)
		}
	}

	dctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	a := &analyzer{checker: dnscheck.NewChecker(resolver), reg: reg}
	reports := a.analyzeAll(dctx, queries)
	for i := range reports {
		if queries[i].Solver == nil {
			reports[i].Problems = append(append([]string{}, notes[i]...), reports[i].Problems...)
			reports[i].Ready = false
			continue
		}
		reports[i].Notes = append(append([]string{}, notes[i]...), reports[i].Notes...)
		if queries[i].Solver.Config.VerifyDelegation == solver.VerifyOff {
			reports[i].Notes = append(reports[i].Notes, "verifyDelegation: Off: Present does not check the CNAME, "+
				"but the CA still needs it")
		}
	}
	if probeOpts != nil {
		c.runProbes(src, queries, reports, probeOpts, resolver, reg)
	}

	switch *output {
	case "json":
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			fmt.Fprintln(c.Stderr, err)
			return 1
		}
	default:
		writeCheckText(c.Stdout, src, reports)
	}
	for _, r := range reports {
		if !r.Ready {
			return 1
		}
	}
	return 0
}

func (c *CheckCmd) registry() providers.Registry {
	if c.Registry == nil {
		c.Registry = providers.Default()
	}
	return c.Registry
}

func (c *CheckCmd) resolver(getenv func(string) string) (dnscheck.Resolver, error) {
	if c.Resolver != nil {
		return *c.Resolver, nil
	}
	return ResolverFromEnv(getenv)
}

// configErrors prints every invalid config among the solvers, with the errors the webhook would give.
func configErrors(src *source) string {
	var b strings.Builder
	for _, s := range src.Solvers {
		if s.Err == nil {
			continue
		}
		where := "the webhook config"
		if src.Issuer != nil {
			where = fmt.Sprintf("%s %s.dns01.webhook.config", src.Issuer, s.label())
		}
		fmt.Fprintf(&b, "check: %s is invalid; the webhook refuses every challenge with it:\n", where)
		for line := range strings.SplitSeq(s.Err.Error(), "\n") {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	return b.String()
}

// pickOurs chooses the solver that serves a name as cert-manager would: its own selection (pickSolver) over all
// the issuer's solvers, by dnsNames and dnsZones. check knows no Certificate, so the matchLabels of this webhook's
// solvers are taken as met (a note says so; plan checks them). When cert-manager would choose another solver,
// or none, it returns nil and the problem.
func pickOurs(ctx context.Context, src *source, name string, groupName string) (*ourSolver, []string) {
	if src.Issuer == nil {
		return src.Solvers[0], nil
	}
	candidates := make([]cmacme.ACMEChallengeSolver, len(src.Issuer.Solvers))
	for i := range src.Issuer.Solvers {
		cand := src.Issuer.Solvers[i].DeepCopy()
		if isOurs(cand, groupName) && cand.Selector != nil {
			cand.Selector.MatchLabels = nil
		}
		candidates[i] = *cand
	}
	i := pickSolver(ctx, name, nil, candidates)
	if i < 0 {
		return nil, []string{fmt.Sprintf("no solver of %s selects %s (their selectors' dnsNames and dnsZones leave "+
			"it out), so cert-manager cannot issue it: add it to the selector of this webhook's solver", src.Issuer, name)}
	}
	var s *ourSolver
	for _, o := range src.Solvers {
		if o.Index == i {
			s = o
		}
	}
	if s == nil {
		return nil, []string{fmt.Sprintf("%s chooses solvers[%d] (%s) for %s, not this webhook: nothing here "+
			"needs a CNAME; to delegate it, make this webhook's solver's selector more specific for it", src.Issuer,
			i, solverKind(&src.Issuer.Solvers[i]), name)}
	}
	var notes []string
	if sel := src.Issuer.Solvers[i].Selector; sel != nil && len(sel.MatchLabels) > 0 {
		keys := make([]string, 0, len(sel.MatchLabels))
		for k, v := range sel.MatchLabels {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		notes = append(notes, fmt.Sprintf("%s also selects on the labels %s, taken as met: check knows no "+
			"Certificate (plan applies them)", s.label(), strings.Join(keys, ",")))
	}
	return s, notes
}

// parseInterspersed parses flags given before, between and after the positional arguments (DOMAIN... may
// come first), and returns the positional ones; after "--" everything is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// secretFlags collects --secret NAME/KEY=FILE.
type secretFlags []secretFile

type secretFile struct{ name, key, path string }

func (s *secretFlags) String() string {
	parts := make([]string, len(*s))
	for i, f := range *s {
		parts[i] = f.name + "/" + f.key + "=" + f.path
	}
	return strings.Join(parts, ",")
}

func (s *secretFlags) Set(v string) error {
	ref, path, ok := strings.Cut(v, "=")
	name, key, ok2 := strings.Cut(ref, "/")
	if !ok || !ok2 || name == "" || key == "" || path == "" {
		return fmt.Errorf("%q: write NAME/KEY=FILE, e.g. tsig/secret=./tsig.key (the secretKeyRef's name and key)", v)
	}
	*s = append(*s, secretFile{name: name, key: key, path: path})
	return nil
}
