package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"sort"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmclient "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

// PlanCmd is the plan subcommand: for every Certificate in the cluster (or a namespace) whose issuer would
// choose one of this webhook's solvers for a name, the CNAME that name needs and whether it is in place, and
// CAA as check reports it. It only reads Issuers, ClusterIssuers and Certificates. Set the fields before Run;
// zero values are the process's defaults.
type PlanCmd struct {
	// Stdout gets the report, Stderr usage and errors.
	Stdout, Stderr io.Writer
	// Getenv reads GROUP_NAME and the resolver variables. Default: os.Getenv.
	Getenv func(string) string
	// Resolver is the DNS the checks ask. Default: read from the environment as the webhook does (ResolverFromEnv).
	Resolver *dnscheck.Resolver
	// Registry is the providers configs may name. Default: providers.Default().
	Registry providers.Registry
	// Client reads cert-manager's resources. Default: built from --kubeconfig and --context, as kubectl does.
	Client cmclient.Interface
}

// Plan runs the plan subcommand in this process: main's entry point.
func Plan(args []string, stdout, stderr io.Writer) int {
	return (&PlanCmd{Stdout: stdout, Stderr: stderr}).Run(context.Background(), args)
}

const planUsage = `usage: cert-manager-webhook-delegate plan [--kubeconfig FILE] [--context NAME] [-n NS | -A] [-o text|json|zonefile]
       [--group-name GROUP] [--ca IDENTITY]

Reads the cluster's Issuers, ClusterIssuers and Certificates and, for every name a Certificate asks for (its
dnsNames and commonName) whose issuer would choose one of this webhook's solvers (cert-manager's own selection:
dnsNames, dnsZones, matchLabels against the Certificate's labels; a plain name may go to an http-01 solver, a
wildcard only to dns-01), lists the issuer, the CNAME the name needs and whether it is in place, and whether CAA
lets the issuer's CA issue. Names shared by several Certificates appear once.

  -o zonefile  prints the CNAMEs that are not in place, grouped by production zone (its apex, found by SOA),
               as absolute zone-file lines ready to paste.

Permissions: only get and list on certificates, issuers and clusterissuers (cert-manager.io); the README has a
ready ClusterRole. DNS is asked as the webhook asks it (DNS_CHECK_NAMESERVERS, DNS_CHECK_AUTHORITATIVE).

Exit status: 0 everything needed is in place; 1 something is missing or wrong (each problem says what to create
or change); 2 the command line is wrong or the cluster could not be read.

Flags:`

// PlanReport is what `plan -o json` prints: one object. Field names are stable: extend, do not rename.
//
//   - names: one PlanEntry per name and issuer solver, sorted by name then issuer
//   - leftOut: names of ACME Certificates that no solver of this webhook serves, see LeftOut
//   - missing: the CNAMEs that are not in place, each once, grouped by production zone, see ZoneRecords
//   - ready: true when every name is ready (the exit status is then 0)
type PlanReport struct {
	Names   []PlanEntry   `json:"names"`
	LeftOut []LeftOut     `json:"leftOut"`
	Missing []ZoneRecords `json:"missing"`
	Ready   bool          `json:"ready"`
}

// PlanEntry is one name as plan reports it: a DomainReport (its fields, inline) and
//
//   - issuer: the issuer, "ClusterIssuer/<name>" or "Issuer/<namespace>/<name>"
//   - certificates: the Certificates asking for the name through it, "<namespace>/<name>", sorted
type PlanEntry struct {
	DomainReport
	Issuer       string   `json:"issuer"`
	Certificates []string `json:"certificates"`
}

// LeftOut is a name of a Certificate of an ACME issuer that this webhook does not serve:
//
//   - certificate: "<namespace>/<name>"
//   - name: the dnsName or commonName
//   - issuer: as in PlanEntry ("" when the Certificate's issuerRef names no issuer that exists)
//   - reason: why, e.g. `ClusterIssuer/letsencrypt chooses solvers[0] (http-01)`
type LeftOut struct {
	Certificate string `json:"certificate"`
	Name        string `json:"name"`
	Issuer      string `json:"issuer"`
	Reason      string `json:"reason"`
}

// ZoneRecords is the CNAMEs one production zone still needs:
//
//   - zone: the zone's apex (SOA), e.g. "example.com."; "" when no zone was found for the names
//   - records: zone-file lines to add, sorted, each once
//   - replaces: the CNAMEs found at those names that point elsewhere and must be removed (zone-file lines with
//     their TTL, as served)
type ZoneRecords struct {
	Zone     string   `json:"zone"`
	Records  []string `json:"records"`
	Replaces []string `json:"replaces"`
}

// Run runs plan with args (without the command name) and returns the exit status.
func (p *PlanCmd) Run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(p.Stderr)
	kubeconfig := fs.String("kubeconfig", "", "the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	kubeContext := fs.String("context", "", "the kubeconfig context (default: its current context)")
	var namespace string
	fs.StringVar(&namespace, "n", "", "the namespace of the Certificates and Issuers (default: the context's namespace)")
	fs.StringVar(&namespace, "namespace", "", "same as -n")
	var all bool
	fs.BoolVar(&all, "A", false, "every namespace")
	fs.BoolVar(&all, "all-namespaces", false, "same as -A")
	output := fs.String("o", "text", "output format: text, json or zonefile")
	groupName := fs.String("group-name", "", "the webhook's API group, as issuers name it in webhook.groupName (default: $GROUP_NAME)")
	ca := fs.String("ca", "", "the CA's CAA identity for every issuer (default: from each issuer's spec.acme.server, for well-known CAs)")
	fs.Usage = func() {
		fmt.Fprintln(p.Stderr, planUsage)
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(p.Stderr, "plan: "+format+"\n", a...)
		return 2
	}
	getenv := p.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %q", fs.Arg(0))
	case all && namespace != "":
		return usage("give -n NAMESPACE or -A, not both")
	case *output != "text" && *output != "json" && *output != "zonefile":
		return usage("-o %q: use text, json or zonefile", *output)
	}
	group := *groupName
	if group == "" {
		group = getenv("GROUP_NAME")
	}
	if group == "" {
		return usage("pass --group-name (the chart's groupName; the server reads GROUP_NAME): it tells which " +
			"solvers are this webhook's")
	}
	var resolver dnscheck.Resolver
	if p.Resolver != nil {
		resolver = *p.Resolver
	} else if resolver, err = ResolverFromEnv(getenv); err != nil {
		return usage("%v", err)
	}
	reg := p.Registry
	if reg == nil {
		reg = providers.Default()
	}
	client := p.Client
	if client == nil {
		var ns string
		if client, ns, err = loadCertManager(*kubeconfig, *kubeContext); err != nil {
			return usage("%v", err)
		}
		if namespace == "" {
			namespace = ns
		}
	}
	if all {
		namespace = metav1.NamespaceAll
	} else if namespace == "" {
		namespace = metav1.NamespaceDefault
	}

	lctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	inv, err := readInventory(lctx, client, namespace)
	if err != nil {
		fmt.Fprintf(p.Stderr, "plan: %v\n", err)
		return 2
	}
	report, queries, owners := inv.plan(lctx, group, *ca, reg)
	a := &analyzer{checker: dnscheck.NewChecker(resolver), reg: reg}
	reps := a.analyzeAll(lctx, queries)
	for i := range reps {
		for _, c := range owners[i].cnOnly {
			// pkg/controller/certificaterequests/acme: a commonName missing from dnsNames fails the request.
			reps[i].Problems = append(reps[i].Problems, fmt.Sprintf("Certificate %s has %s as commonName but not among "+
				"its dnsNames, and cert-manager's ACME issuer refuses such a request: add it to spec.dnsNames", c, reps[i].Domain))
			reps[i].Ready = false
		}
		report.Names = append(report.Names, PlanEntry{DomainReport: reps[i], Issuer: owners[i].issuer,
			Certificates: owners[i].certs})
	}
	markConflicts(report.Names)
	report.Missing = missingByZone(report.Names)
	report.Ready = true
	for _, e := range report.Names {
		report.Ready = report.Ready && e.Ready
	}

	switch *output {
	case "json":
		enc := json.NewEncoder(p.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			fmt.Fprintln(p.Stderr, err)
			return 1
		}
	case "zonefile":
		writeZonefile(p.Stdout, report.Missing)
	default:
		writePlanText(p.Stdout, report, namespace)
	}
	if !report.Ready {
		return 1
	}
	return 0
}

// loadCertManager builds cert-manager's clientset from a kubeconfig, as kubectl reads it, and returns the
// context's namespace.
func loadCertManager(path, kubeContext string) (cmclient.Interface, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("reading the kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the kubeconfig: %w", err)
	}
	c, err := cmclient.NewForConfig(cfg)
	if err != nil {
		return nil, "", err
	}
	return c, ns, nil
}

// inventory is what plan read from the cluster.
type inventory struct {
	certs   []cmapi.Certificate
	issuers map[string]*issuerInfo
}

// readInventory lists Certificates and Issuers in namespace ("" for all) and every ClusterIssuer, page by page.
func readInventory(ctx context.Context, c cmclient.Interface, namespace string) (*inventory, error) {
	inv := &inventory{issuers: map[string]*issuerInfo{}}
	opts := metav1.ListOptions{Limit: 500}
	for {
		l, err := c.CertmanagerV1().Certificates(namespace).List(ctx, opts)
		if err != nil {
			return nil, apiError("certificates", err)
		}
		inv.certs = append(inv.certs, l.Items...)
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	opts.Continue = ""
	for {
		l, err := c.CertmanagerV1().Issuers(namespace).List(ctx, opts)
		if err != nil {
			return nil, apiError("issuers", err)
		}
		for i := range l.Items {
			if info := issuerFromAPI(cmapi.IssuerKind, &l.Items[i]); info != nil {
				inv.issuers[info.String()] = info
			}
		}
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	opts.Continue = ""
	for {
		l, err := c.CertmanagerV1().ClusterIssuers().List(ctx, opts)
		if err != nil {
			return nil, apiError("clusterissuers", err)
		}
		for i := range l.Items {
			if info := issuerFromAPI(cmapi.ClusterIssuerKind, &l.Items[i]); info != nil {
				inv.issuers[info.String()] = info
			}
		}
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	sort.Slice(inv.certs, func(i, j int) bool {
		a, b := inv.certs[i], inv.certs[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	return inv, nil
}

func apiError(resource string, err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("listing %s.cert-manager.io was refused (%w): plan needs get and list on certificates, "+
			"issuers and clusterissuers in the group cert-manager.io (the README's ClusterRole "+
			"cert-manager-webhook-delegate-plan grants exactly that)", resource, err)
	}
	return fmt.Errorf("listing %s.cert-manager.io: %w", resource, err)
}

// owner is who asks for one planned name.
type owner struct {
	issuer string
	certs  []string
	// cnOnly are the certs that have the name as commonName but not among dnsNames.
	cnOnly []string
}

// plan applies cert-manager's solver selection to every name of every Certificate, and returns the names this
// webhook serves (deduplicated per issuer solver) as queries, with who asks for each, and those left out.
func (inv *inventory) plan(ctx context.Context, group, ca string, reg providers.Registry) (PlanReport, []nameQuery, []owner) {
	report := PlanReport{Names: []PlanEntry{}, LeftOut: []LeftOut{}}
	type key struct {
		name, issuer string
		solver       int
	}
	index := map[key]int{}
	var queries []nameQuery
	var owners []owner
	parsed := map[string]*ourSolver{}
	for _, crt := range inv.certs {
		ref := crt.Spec.IssuerRef
		if ref.Group != "" && ref.Group != cmapi.SchemeGroupVersion.Group {
			continue // an external issuer: not ACME as cert-manager runs it
		}
		kind := orDefault(ref.Kind, cmapi.IssuerKind)
		issuerKey := kind + "/" + ref.Name
		if kind == cmapi.IssuerKind {
			issuerKey = kind + "/" + crt.Namespace + "/" + ref.Name
		}
		is := inv.issuers[issuerKey]
		certName := crt.Namespace + "/" + crt.Name
		for _, name := range certificateNames(&crt) {
			cnOnly := name == crt.Spec.CommonName && !slices.Contains(crt.Spec.DNSNames, name)
			if is == nil {
				report.LeftOut = append(report.LeftOut, LeftOut{Certificate: certName, Name: name, Reason: fmt.Sprintf(
					"its issuerRef names %s, which does not exist or is not an ACME issuer", issuerKey)})
				continue
			}
			i := pickSolver(ctx, name, crt.Labels, is.Solvers)
			switch {
			case i < 0:
				report.LeftOut = append(report.LeftOut, LeftOut{Certificate: certName, Name: name, Issuer: is.String(),
					Reason: fmt.Sprintf("no solver of %s selects it, so cert-manager cannot issue it", is)})
				continue
			case !isOurs(&is.Solvers[i], group):
				report.LeftOut = append(report.LeftOut, LeftOut{Certificate: certName, Name: name, Issuer: is.String(),
					Reason: fmt.Sprintf("%s chooses solvers[%d] (%s)", is, i, solverKind(&is.Solvers[i]))})
				continue
			}
			k := key{name, is.String(), i}
			if at, ok := index[k]; ok {
				if !slices.Contains(owners[at].certs, certName) {
					owners[at].certs = append(owners[at].certs, certName)
				}
				if cnOnly {
					owners[at].cnOnly = append(owners[at].cnOnly, certName)
				}
				continue
			}
			pk := fmt.Sprintf("%s/%d", is, i)
			if parsed[pk] == nil {
				parsed[pk] = parseSolver(i, &is.Solvers[i], reg)
			}
			q := nameQuery{Name: name, Solver: parsed[pk], CA: ca, CASource: "--ca", AccountURI: is.AccountURI}
			if q.CA == "" {
				if q.CA = caForServer(is.Server); q.CA != "" {
					q.CASource = "spec.acme.server " + is.Server
				} else {
					q.CASource = ""
				}
			}
			index[k] = len(queries)
			queries = append(queries, q)
			o := owner{issuer: is.String(), certs: []string{certName}}
			if cnOnly {
				o.cnOnly = []string{certName}
			}
			owners = append(owners, o)
		}
	}
	// Sorted by name, then issuer: the output is stable whatever order the API lists in.
	order := make([]int, len(queries))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		qa, qb := queries[order[a]], queries[order[b]]
		if qa.Name != qb.Name {
			return nameLess(qa.Name, qb.Name)
		}
		return owners[order[a]].issuer < owners[order[b]].issuer
	})
	sq, so := make([]nameQuery, len(order)), make([]owner, len(order))
	for i, j := range order {
		sq[i], so[i] = queries[j], owners[j]
		sort.Strings(so[i].certs)
		sort.Strings(so[i].cnOnly)
	}
	return report, sq, so
}

// certificateNames are the DNS identifiers cert-manager orders for a Certificate: its dnsNames, and its
// commonName when it is a DNS name (cert-manager adds it to the Order; an IP goes to ipAddresses).
func certificateNames(crt *cmapi.Certificate) []string {
	var out []string
	for _, n := range crt.Spec.DNSNames {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if cn := crt.Spec.CommonName; cn != "" && net.ParseIP(cn) == nil && strings.Contains(cn, ".") && !slices.Contains(out, cn) {
		out = append(out, cn)
	}
	return out
}

// nameLess sorts names as a zone file does, by their labels from the right (so a zone's names stay together),
// the base name before its wildcard.
func nameLess(a, b string) bool {
	ba, bb := strings.TrimPrefix(a, "*."), strings.TrimPrefix(b, "*.")
	if ba != bb {
		la, lb := strings.Split(strings.ToLower(ba), "."), strings.Split(strings.ToLower(bb), ".")
		slices.Reverse(la)
		slices.Reverse(lb)
		return slices.Compare(la, lb) < 0
	}
	return len(a) < len(b)
}

// markConflicts flags names whose issuers need different CNAMEs at the same name: a name holds one CNAME.
func markConflicts(entries []PlanEntry) {
	byName := map[string]map[string][]string{}
	for _, e := range entries {
		if e.CNAME.Record == "" {
			continue
		}
		if byName[e.CNAME.Name] == nil {
			byName[e.CNAME.Name] = map[string][]string{}
		}
		byName[e.CNAME.Name][e.CNAME.Record] = append(byName[e.CNAME.Name][e.CNAME.Record], e.Issuer)
	}
	for i := range entries {
		e := &entries[i]
		recs := byName[e.CNAME.Name]
		if len(recs) < 2 {
			continue
		}
		var others []string
		for rec, issuers := range recs {
			if rec != e.CNAME.Record {
				others = append(others, fmt.Sprintf("for %s it must be %s", strings.Join(slices.Compact(slices.Sorted(slices.Values(issuers))), ", "), rec))
			}
		}
		sort.Strings(others)
		e.Problems = append(e.Problems, fmt.Sprintf("conflicting delegations: %s needs %s, but %s; one name holds one "+
			"CNAME, so make the issuers' configs agree", e.Issuer, e.CNAME.Record, strings.Join(others, "; ")))
		e.Ready = false
	}
}

// missingByZone collects the CNAMEs not in place, each once, grouped by production zone.
func missingByZone(entries []PlanEntry) []ZoneRecords {
	zones := map[string][]string{}
	replaces := map[string]string{}
	for _, e := range entries {
		if e.CNAME.InPlace || e.CNAME.Record == "" {
			continue
		}
		if len(e.CNAME.Chain) > 0 {
			// A CNAME that points elsewhere must go: the first hop is the record at the name itself.
			replaces[e.CNAME.Record] = e.CNAME.Chain[0]
		}
		if !slices.Contains(zones[e.CNAME.Zone], e.CNAME.Record) {
			zones[e.CNAME.Zone] = append(zones[e.CNAME.Zone], e.CNAME.Record)
		}
	}
	out := []ZoneRecords{}
	for _, z := range slices.Sorted(maps.Keys(zones)) {
		recs := zones[z]
		sort.Strings(recs)
		zr := ZoneRecords{Zone: z, Records: recs, Replaces: []string{}}
		for _, rec := range recs {
			if old := replaces[rec]; old != "" && !slices.Contains(zr.Replaces, old) {
				zr.Replaces = append(zr.Replaces, old)
			}
		}
		out = append(out, zr)
	}
	return out
}
