package cli

import (
	"fmt"
	"io"
	"strings"
)

// writeCheckText prints check's report for people: one block per domain, then a summary line.
func writeCheckText(w io.Writer, src *source, reps []DomainReport) {
	ready := 0
	for i := range reps {
		if i > 0 {
			fmt.Fprintln(w)
		}
		r := &reps[i]
		if r.Ready {
			ready++
		}
		writeDomainText(w, src, r)
	}
	fmt.Fprintln(w)
	switch {
	case ready == len(reps):
		fmt.Fprintf(w, "%s ready: every CNAME is in place and CAA lets the CA issue\n", plural(len(reps), "domain"))
	default:
		fmt.Fprintf(w, "%d of %s ready; the others need the changes above\n", ready, plural(len(reps), "domain"))
	}
}

func writeDomainText(w io.Writer, src *source, r *DomainReport) {
	state := "ready"
	if !r.Ready {
		state = plural(len(r.Problems), "problem")
	}
	fmt.Fprintf(w, "%s: %s\n", r.Domain, state)
	line := func(label, format string, a ...any) {
		fmt.Fprintf(w, "  %-9s %s\n", label, fmt.Sprintf(format, a...))
	}
	if src != nil && src.Issuer != nil && r.Solver != "" {
		line("solver", "%s %s", src.Issuer, r.Solver)
	}
	if m := r.Mapping; m != nil {
		zone := "in zone " + m.Zone
		if m.Zone == "discovered" {
			zone = "in the zone " + m.Provider + " finds for it"
		}
		line("record", "TXT %s %s, written with config.%s, chosen by config.%s", m.Record, zone, m.ProviderBlock, m.Rule)
	}
	if r.CNAME.Status != "" {
		line("cname", "%s", cnameText(&r.CNAME))
	}
	if r.CAA.Issue != "" {
		line("caa", "%s", caaText(r.CAA.CA, r.Domain, false, r.CAA.Issue, r.CAA.IssueReason))
		line("wildcard", "%s", caaText(r.CAA.CA, r.Domain, true, r.CAA.Wildcard, r.CAA.WildcardReason))
	}
	switch {
	case r.CAA.Pinned:
		line("pin", "issuance is pinned to the account %s and dns-01", r.CAA.AccountURI)
	case r.CAA.PinRecord != "":
		// A record of the name's own that already permits the CA would still let any account issue: it must go.
		how, tag, verdict := "add", "issue", r.CAA.Issue
		if strings.Contains(r.CAA.PinRecord, " issuewild ") {
			tag, verdict = "issuewild", r.CAA.Wildcard
		}
		base := strings.TrimPrefix(r.Domain, "*.") + "."
		if strings.EqualFold(r.CAA.Owner, base) && hasTag(r.CAA.Records, tag) && verdict == "permitted" {
			how = "replace the " + tag + " records for " + r.CAA.CA + " at " + r.CAA.Owner + " with"
		}
		line("pin", "to pin issuance to the account and dns-01 (RFC 8657), %s: %s", how, r.CAA.PinRecord)
	}
	if p := r.Probe; p != nil {
		switch {
		case p.Error == "":
			line("probe", "wrote and removed TXT %q at %s (present %dms, cleanup %dms)", p.Value, p.Record,
				p.PresentMillis, p.CleanUpMillis)
		case p.Removed:
			line("probe", "failed at %s; its value was removed (present %dms, cleanup %dms)", orDefault(p.Record, "-"),
				p.PresentMillis, p.CleanUpMillis)
		default:
			line("probe", "failed: TXT %q may be LEFT at %s", p.Value, p.Record)
		}
	}
	for _, n := range r.Notes {
		line("note", "%s", n)
	}
	for _, p := range r.Problems {
		line("problem", "%s", p)
	}
}

func cnameText(c *CNAMEReport) string {
	chain := ""
	if len(c.Chain) > 1 {
		chain = " (chain: " + strings.Join(c.Chain, "; ") + ")"
	}
	switch c.Status {
	case statusInPlace:
		return "in place: " + c.Record + chain
	case statusFollowed:
		return "in place, followed by cert-manager (cnameStrategy: Follow): " + strings.Join(c.Chain, "; ")
	case statusNotNeeded:
		return "none needed: direct mode writes at " + c.Name + " itself"
	case statusDirect:
		return "a CNAME is in the way of direct mode: " + strings.Join(c.Chain, "; ")
	case statusError:
		if c.Record == "" {
			return "not checked (see the problem below)"
		}
		return fmt.Sprintf("could not be checked; it must be %s in the zone %s", c.Record, orDefault(c.Zone, "holding "+c.Name))
	}
	return fmt.Sprintf("NOT IN PLACE (%s): create %s in the zone %s", c.Status, c.Record, orDefault(c.Zone, "holding "+c.Name))
}

func caaText(ca, domain string, wildcard bool, verdict, reason string) string {
	name := strings.TrimPrefix(domain, "*.")
	if wildcard {
		name = "*." + name
	}
	switch verdict {
	case "permitted":
		return fmt.Sprintf("%s may issue for %s: %s", ca, name, reason)
	case "forbidden":
		return fmt.Sprintf("%s may NOT issue for %s: %s", ca, name, reason)
	case "undetermined":
		return fmt.Sprintf("undetermined for %s: %s", name, reason)
	}
	return fmt.Sprintf("unknown for %s: %s", name, reason)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// hasTag reports whether CAA zone-file lines ("name CAA flags tag value") hold the tag.
func hasTag(records []string, tag string) bool {
	for _, r := range records {
		if f := strings.Fields(r); len(f) > 3 && strings.EqualFold(f[3], tag) {
			return true
		}
	}
	return false
}
