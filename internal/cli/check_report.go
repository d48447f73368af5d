package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// DomainReport is one name as `check -o json` prints it (one object per domain, in a JSON array) and as `plan -o
// json` prints it inside each entry. Field names are stable: extend, do not rename.
//
//   - domain: the name as given, e.g. "example.com" or "*.example.com" (a wildcard counts as its base name)
//   - wildcard: whether domain is a wildcard
//   - ready: true when everything needed is in place (problems is empty)
//   - solver: the issuer's solver that serves the name, e.g. "solvers[1]"; "" for a bare webhook config
//   - mapping: where the webhook writes the name's TXT record (null when the config maps the name nowhere):
//     record (FQDN), zone (or "discovered": found at the provider), provider (registry name), providerBlock (its
//     path in webhook.config, e.g. "aliasProvider"), rule (the config entry that chose it: "delegations[1]",
//     "domainAlias" or "provider"), alias (the domainAlias; "" in direct mode), mode ("delegation" or "direct")
//   - cname: the static record in the production zone, see CNAMEReport
//   - caa: what CAA lets the CA do, see CAAReport
//   - probe: the result of --probe, see ProbeReport; absent without --probe
//   - problems: what to create or change, one sentence each; empty when ready
//   - notes: what the check could not see or what to know, which is not a problem (e.g. verifyDelegation: Off)
type DomainReport struct {
	Domain   string       `json:"domain"`
	Wildcard bool         `json:"wildcard"`
	Ready    bool         `json:"ready"`
	Solver   string       `json:"solver"`
	Mapping  *Mapping     `json:"mapping"`
	CNAME    CNAMEReport  `json:"cname"`
	CAA      CAAReport    `json:"caa"`
	Probe    *ProbeReport `json:"probe,omitempty"`
	Problems []string     `json:"problems"`
	Notes    []string     `json:"notes"`
}

// Mapping is where the webhook writes a name's TXT record (solver.Resolve). See DomainReport for its fields.
type Mapping struct {
	Record        string `json:"record"`
	Zone          string `json:"zone"`
	Provider      string `json:"provider"`
	ProviderBlock string `json:"providerBlock"`
	Rule          string `json:"rule"`
	Alias         string `json:"alias"`
	Mode          string `json:"mode"`
}

// CNAMEReport is the static CNAME a name needs in its production zone, decided by the delegation check Present
// runs (dnscheck.Checker.Delegation). Fields:
//
//   - name: the name the CA queries, _acme-challenge.<domain>.
//   - target: the record the webhook writes, where the chain must end ("" in direct mode)
//   - record: the record to create, as one zone-file line ("" in direct mode)
//   - zone: the production zone that holds name (its apex, found by SOA); "" when none was found
//   - status: "in-place"; "followed" (cnameStrategy: Follow, the chain ends under the alias); "not-needed" (direct
//     mode); "cname-in-direct-mode"; "error" (the check itself failed); or why the delegation does not hold:
//     "nxdomain", "no-record", "wrong-target", "wildcard-wrong-target", "loop", "too-long", "txt-at-name",
//     "no-answer", "inconsistent"
//   - inPlace: whether nothing needs to change in the production zone
//   - chain: the CNAMEs found, one zone-file line each (with TTL)
type CNAMEReport struct {
	Name    string   `json:"name"`
	Target  string   `json:"target"`
	Record  string   `json:"record"`
	Zone    string   `json:"zone"`
	Status  string   `json:"status"`
	InPlace bool     `json:"inPlace"`
	Chain   []string `json:"chain"`
}

// CAAReport is the CAA RRset that applies to a name (RFC 8659: the name's own parents, never the CNAME
// target's) and what it lets the CA do (RFC 8657 accounturi and validationmethods understood). Fields:
//
//   - ca: the CA's CAA identity (issuer domain name), e.g. "letsencrypt.org"; "" when unknown
//   - caSource: where ca came from: "--ca", or "spec.acme.server <url>"
//   - owner: the name whose CAA records apply ("" when no name up to the TLD has any)
//   - records: those records, one zone-file line each
//   - issue: whether the CA may issue for the name: "permitted", "forbidden", "undetermined" (a record pins an
//     account and none was given), or "unknown" (no CA identity, or the lookup failed)
//   - issueReason: why, in one sentence
//   - wildcard, wildcardReason: the same for *.<name> (issuewild when there is any, else issue)
//   - accountURI: the ACME account checked against accounturi ("" when not given and not in the manifest)
//   - pinned: the applicable records already pin issuance to ca, accountURI and dns-01
//   - pinRecord: with an accountURI and not pinned, the CAA record that would pin it, as one zone-file line: to
//     add at the name, or to replace the name's own issue (issuewild for a wildcard) records when owner is the
//     name itself (another record permitting the CA would still let any account issue)
type CAAReport struct {
	CA             string   `json:"ca"`
	CASource       string   `json:"caSource"`
	Owner          string   `json:"owner"`
	Records        []string `json:"records"`
	Issue          string   `json:"issue"`
	IssueReason    string   `json:"issueReason"`
	Wildcard       string   `json:"wildcard"`
	WildcardReason string   `json:"wildcardReason"`
	AccountURI     string   `json:"accountURI"`
	Pinned         bool     `json:"pinned"`
	PinRecord      string   `json:"pinRecord"`
}

// verdictUnknown is a CAA outcome the tool cannot decide: no CA identity, or the lookup failed.
const verdictUnknown = "unknown"

// CNAME statuses that are not a dnscheck.Kind.
const (
	statusInPlace   = "in-place"
	statusFollowed  = "followed"
	statusNotNeeded = "not-needed"
	statusDirect    = "cname-in-direct-mode"
	statusError     = "error"
)

// nameQuery is one name to analyse, with the solver that serves it and the CA it is issued by.
type nameQuery struct {
	// Name as requested: "example.com" or "*.example.com".
	Name   string
	Solver *ourSolver
	// CA is the CAA identity, CASource where it came from; AccountURI the ACME account, if known.
	CA, CASource, AccountURI string
}

// analyzer decides, for names, what check and plan report: the mapping, the CNAME and CAA.
type analyzer struct {
	checker *dnscheck.Checker
	reg     providers.Registry
}

// analyzeAll analyses queries concurrently (DNS round trips dominate) and returns the reports in their order.
func (a *analyzer) analyzeAll(ctx context.Context, qs []nameQuery) []DomainReport {
	out := make([]DomainReport, len(qs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range qs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = a.analyze(ctx, qs[i])
		}()
	}
	wg.Wait()
	return out
}

// analyze reports one name. Every problem says what to create or change.
func (a *analyzer) analyze(ctx context.Context, q nameQuery) DomainReport {
	rep := DomainReport{Domain: q.Name, Wildcard: strings.HasPrefix(q.Name, "*."), Problems: []string{}, Notes: []string{},
		CNAME: CNAMEReport{Chain: []string{}}, CAA: CAAReport{Records: []string{}}}
	if q.Solver != nil {
		rep.Solver = q.Solver.label()
	}
	domain, err := dnsname.Canonical(strings.TrimPrefix(q.Name, "*."))
	if err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%q is not a domain name: %v", q.Name, err))
		return rep
	}
	queried := dnsname.ACMEPrefix + domain
	rep.CNAME.Name = queried
	if q.Solver != nil && q.Solver.Config != nil {
		a.cname(ctx, &rep, q, domain)
	} else if q.Solver != nil {
		rep.CNAME.Status = statusError
		rep.Problems = append(rep.Problems, "the webhook config is invalid: "+oneLine(q.Solver.Err))
	}
	a.caa(ctx, &rep, q, domain)
	rep.Ready = len(rep.Problems) == 0
	return rep
}

// cname fills the mapping and the CNAME status by the rules Present follows: solver.Resolve on the challenge
// cert-manager would send, then the delegation check (dnscheck.Checker.Delegation) for an alias, or the
// direct-mode CNAME refusal.
func (a *analyzer) cname(ctx context.Context, rep *DomainReport, q nameQuery, domain string) {
	cfg, queried := q.Solver.Config, rep.CNAME.Name
	zone, zoneErr := a.checker.Zone(ctx, queried)
	rep.CNAME.Zone = zone
	ch := solver.Challenge{DNSName: q.Name, ResolvedFQDN: queried, ResolvedZone: orDefault(zone, domain)}
	t, err := solver.Resolve(cfg, a.reg, ch)
	if err != nil {
		rep.CNAME.Status = statusError
		rep.Problems = append(rep.Problems, "the config maps no record for this name: "+oneLine(err))
		return
	}
	rep.Mapping = mappingOf(t)
	if t.Alias == "" {
		a.direct(ctx, rep, q, t, zoneErr)
		return
	}
	rep.CNAME.Target = t.FQDN
	rep.CNAME.Record = dnscheck.CNAMERecord(queried, t.FQDN)
	res, err := a.checker.Delegation(ctx, queried, t.FQDN)
	var derr *dnscheck.DelegationError
	switch {
	case err == nil:
		rep.CNAME.Status, rep.CNAME.InPlace, rep.CNAME.Chain = statusInPlace, true, hopLines(res.Hops)
	case errors.As(err, &derr):
		if rep.CNAME.Zone == "" {
			rep.CNAME.Zone = derr.Zone
		}
		rep.CNAME.Chain = hopLines(derr.Hops)
		rep.CNAME.Status = derr.Kind.String()
		if q.Solver.Follow && len(derr.Hops) > 0 && (derr.Kind == dnscheck.WrongTarget || derr.Kind == dnscheck.WildcardWrongTarget) {
			// cnameStrategy: Follow: cert-manager hands the webhook the end of the chain, and Present accepts any
			// name at or below the alias there.
			end := derr.Hops[len(derr.Hops)-1].Target
			endZone, _ := a.checker.Zone(ctx, end)
			ft, ferr := solver.Resolve(cfg, a.reg, solver.Challenge{DNSName: q.Name, ResolvedFQDN: end, ResolvedZone: orDefault(endZone, end)})
			if ferr == nil {
				rep.Mapping = mappingOf(ft)
				rep.CNAME.Status, rep.CNAME.InPlace = statusFollowed, true
				return
			}
			rep.Problems = append(rep.Problems, oneLine(ferr))
			return
		}
		rep.Problems = append(rep.Problems, oneLine(derr))
	default:
		rep.CNAME.Status = statusError
		rep.Problems = append(rep.Problems, fmt.Sprintf("checking the CNAME delegation of %s: %s", queried, oneLine(err)))
	}
}

// direct reports a name in direct mode: no CNAME is needed, and Present refuses to write beside one unless the
// issuer follows CNAMEs.
func (a *analyzer) direct(ctx context.Context, rep *DomainReport, q nameQuery, t solver.Target, zoneErr error) {
	queried := rep.CNAME.Name
	rep.CNAME.Status, rep.CNAME.InPlace = statusNotNeeded, true
	if zoneErr != nil {
		rep.CNAME.Status, rep.CNAME.InPlace = statusError, false
		rep.Problems = append(rep.Problems, fmt.Sprintf("no zone was found for %s (%s), where config.%s writes the "+
			"TXT record in direct mode: check that the production zone exists and its servers answer", queried,
			oneLine(zoneErr), t.Rule))
		return
	}
	target, err := a.checker.CNAME(ctx, queried)
	switch {
	case err != nil:
		rep.CNAME.Status, rep.CNAME.InPlace = statusError, false
		rep.Problems = append(rep.Problems, fmt.Sprintf("checking whether %s is a CNAME (direct mode writes there): %s",
			queried, oneLine(err)))
	case target == "":
	case q.Solver.Follow:
		// cert-manager follows the chain and hands the webhook its end, in the zone that holds it.
		rep.CNAME.Status = statusFollowed
		end := queried
		for next := target; next != "" && len(rep.CNAME.Chain) < 8; {
			rep.CNAME.Chain = append(rep.CNAME.Chain, end+" CNAME "+next)
			end = next
			if next, err = a.checker.CNAME(ctx, end); err != nil {
				break
			}
		}
		endZone, _ := a.checker.Zone(ctx, end)
		ft, ferr := solver.Resolve(q.Solver.Config, a.reg, solver.Challenge{DNSName: q.Name, ResolvedFQDN: end, ResolvedZone: orDefault(endZone, end)})
		if ferr != nil {
			rep.CNAME.InPlace = false
			rep.Problems = append(rep.Problems, oneLine(ferr))
			return
		}
		rep.Mapping = mappingOf(ft)
	default:
		rep.CNAME.Status, rep.CNAME.InPlace = statusDirect, false
		rep.CNAME.Chain = []string{queried + " CNAME " + target}
		fix := "set cnameStrategy: Follow on the issuer's dns01 solver so that cert-manager writes at the CNAME's target"
		if alias, ok := strings.CutPrefix(target, dnsname.ACMEPrefix); ok {
			fix = fmt.Sprintf("set domainAlias: %s in the webhook config (the name is delegated there), or set "+
				"cnameStrategy: Follow on the issuer's dns01 solver", dnsname.Bare(alias))
		}
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s is a CNAME to %s, and config.%s would write the TXT record "+
			"beside it (direct mode: no domainAlias applies), which Present refuses: %s", queried, target, t.Rule, fix))
	}
}

// caa fills the CAA report: the RRset RFC 8659 makes relevant for the name, and what it lets the CA do for the
// name and for its wildcard. The verdict that counts is the wildcard's for *.name, the plain one otherwise.
func (a *analyzer) caa(ctx context.Context, rep *DomainReport, q nameQuery, domain string) {
	r := &rep.CAA
	r.CA, r.CASource, r.AccountURI = q.CA, q.CASource, q.AccountURI
	r.Issue, r.Wildcard = verdictUnknown, verdictUnknown
	set, err := a.checker.CAA(ctx, domain, false)
	if err != nil {
		r.IssueReason = "the CAA lookup failed: " + oneLine(err)
		r.WildcardReason = r.IssueReason
		rep.Problems = append(rep.Problems, fmt.Sprintf("CAA for %s could not be read (%s); a CA refuses to issue "+
			"while it cannot read CAA (RFC 8659 §3): make the name's servers answer CAA queries", domain, oneLine(err)))
		return
	}
	r.Owner = set.Owner
	for _, rec := range set.Records {
		r.Records = append(r.Records, set.Via+" CAA "+rec.String())
	}
	if q.CA == "" {
		r.IssueReason = "no CA identity: pass --ca"
		r.WildcardReason = r.IssueReason
		rep.Problems = append(rep.Problems, "which CA issues is unknown (no issuer manifest with a well-known ACME "+
			"server): pass --ca with the CA's CAA identity, e.g. --ca letsencrypt.org, to check CAA")
		return
	}
	is := dnscheck.Issuer{Domain: q.CA, AccountURI: q.AccountURI, Method: dnscheck.MethodDNS01}
	plain := set.Decide(is)
	wild := set
	wild.Wildcard = true
	wd := wild.Decide(is)
	r.Issue, r.IssueReason = plain.Verdict.String(), plain.Reason
	r.Wildcard, r.WildcardReason = wd.Verdict.String(), wd.Reason
	counts, tag, name := plain, "issue", domain
	if rep.Wildcard {
		counts, tag, name = wd, "issuewild", "*."+domain
	}
	fix := dnscheck.CAAPinRecord(domain, q.CA, q.AccountURI)
	if tag == "issuewild" {
		fix = strings.Replace(fix, " CAA 0 issue ", " CAA 0 issuewild ", 1)
	}
	switch counts.Verdict {
	case dnscheck.Forbidden:
		rep.Problems = append(rep.Problems, fmt.Sprintf("CAA forbids %s to issue for %s: %s; to allow it, add the "+
			"record %s (or change the records at %s)", q.CA, name, counts.Reason, fix, orDefault(set.Owner, domain)))
	case dnscheck.Undetermined:
		rep.Problems = append(rep.Problems, fmt.Sprintf("CAA for %s: %s: pass --account-uri (the issuer's "+
			"status.acme.uri)", name, counts.Reason))
	}
	if q.AccountURI == "" {
		return
	}
	// Pinned: this account may issue by dns-01, and neither another account nor another method may.
	other := set.Decide(dnscheck.Issuer{Domain: q.CA, AccountURI: "urn:cert-manager-webhook-delegate:another-account"})
	http := set.Decide(dnscheck.Issuer{Domain: q.CA, AccountURI: q.AccountURI, Method: "http-01"})
	r.Pinned = counts.Verdict == dnscheck.Permitted && other.Verdict != dnscheck.Permitted && http.Verdict != dnscheck.Permitted
	if !r.Pinned {
		r.PinRecord = fix
	}
}

func mappingOf(t solver.Target) *Mapping {
	m := &Mapping{Record: t.FQDN, Zone: orDefault(t.Zone, "discovered"), Rule: t.Rule, Alias: t.Alias, Mode: "direct"}
	if t.Provider != nil {
		m.Provider, m.ProviderBlock = t.Provider.Name, t.Provider.Path
	}
	if t.Alias != "" {
		m.Mode = "delegation"
	}
	return m
}

func hopLines(hops []dnscheck.Hop) []string {
	out := make([]string, 0, len(hops))
	for _, h := range hops {
		out = append(out, h.String())
	}
	return out
}

// oneLine joins a multi-line error (errors.Join) into one line for a problem list.
func oneLine(err error) string {
	return strings.Join(strings.Split(err.Error(), "\n"), "; ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
