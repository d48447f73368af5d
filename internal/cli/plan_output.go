package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// writeZonefile prints the CNAMEs not in place, grouped by production zone: absolute names, no $ORIGIN, a
// "; zone <apex>" header per group, ready to paste. CNAMEs that must go first are named in comments.
func writeZonefile(w io.Writer, missing []ZoneRecords) {
	if len(missing) == 0 {
		fmt.Fprintln(w, "; every CNAME is in place")
		return
	}
	for i, z := range missing {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if z.Zone == "" {
			fmt.Fprintln(w, "; zone unknown: no SOA was found for these names; add them to the zone that holds them")
		} else {
			fmt.Fprintf(w, "; zone %s\n", z.Zone)
		}
		for _, old := range z.Replaces {
			fmt.Fprintf(w, "; remove first: %s\n", old)
		}
		for _, r := range z.Records {
			fmt.Fprintln(w, r)
		}
	}
}

// writePlanText prints plan's report for people: a table of names, then problems, names left out, the records
// to create, and a summary.
func writePlanText(w io.Writer, r PlanReport, namespace string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tISSUER\tCNAME\tCAA\tCERTIFICATES")
	ready := 0
	for _, e := range r.Names {
		if e.Ready {
			ready++
		}
		caa := e.CAA.Issue
		if e.Wildcard {
			caa = e.CAA.Wildcard
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Domain, e.Issuer, orDefault(e.CNAME.Status, "-"), orDefault(caa, "-"),
			strings.Join(e.Certificates, ", "))
	}
	_ = tw.Flush()
	if len(r.Names) == 0 {
		fmt.Fprintln(w, "(no Certificate asks this webhook for a name)")
	}
	var problems []string
	for _, e := range r.Names {
		for _, p := range e.Problems {
			problems = append(problems, fmt.Sprintf("  %s (%s): %s", e.Domain, e.Issuer, p))
		}
		for _, n := range e.Notes {
			problems = append(problems, fmt.Sprintf("  %s (%s): note: %s", e.Domain, e.Issuer, n))
		}
	}
	if len(problems) > 0 {
		fmt.Fprintln(w, "\nproblems:")
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
	}
	if len(r.LeftOut) > 0 {
		fmt.Fprintln(w, "\nleft out (not served by this webhook):")
		for _, l := range r.LeftOut {
			fmt.Fprintf(w, "  %s %s: %s\n", l.Certificate, l.Name, l.Reason)
		}
	}
	if len(r.Missing) > 0 {
		fmt.Fprintln(w, "\nrecords to create (plan -o zonefile prints only these):")
		var b strings.Builder
		writeZonefile(&b, r.Missing)
		for line := range strings.SplitSeq(strings.TrimSuffix(b.String(), "\n"), "\n") {
			if line == "" {
				fmt.Fprintln(w)
				continue
			}
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	where := "in namespace " + namespace
	if namespace == "" {
		where = "in all namespaces"
	}
	fmt.Fprintf(w, "\n%s %s: %d ready, %d need changes\n", plural(len(r.Names), "name"), where, ready, len(r.Names)-ready)
}
