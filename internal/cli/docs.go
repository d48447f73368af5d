package cli

import (
	"fmt"
	"strings"
)

// ProvidersMarkdown renders the README's provider section from the registry: a table with each provider's
// strategy, test level, credential fields, minimum TTL and zone discovery, then one example config block per
// provider. `make docs` writes it into README.md; a test fails when the README is stale.
func ProvidersMarkdown(infos []ProviderInfo) string {
	var b strings.Builder
	counts := map[string]int{}
	for _, p := range infos {
		counts[p.TestLevel]++
	}
	fmt.Fprintf(&b, "%d providers in this build: %d tested against a real server, %d against a fake of their API, "+
		"%d constructed (their example config parses and builds and their credentials are Secret-only, but they are "+
		"not exercised against their API). `cert-manager-webhook-delegate providers -o json` prints the same data.\n\n",
		len(infos), counts["real server"], counts["fake API"], counts["constructed"])
	b.WriteString("| name | strategy | tested | credential fields (Secret only) | endpoint fields | min TTL | zone discovery |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, p := range infos {
		ttl := "–"
		if p.MinTTL > 0 {
			ttl = fmt.Sprintf("%d s", p.MinTTL)
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s | %s | %s | %s |\n", p.Name, p.Name, p.Strategy, p.TestLevel,
			codeList(p.Credentials), codeList(p.Endpoints), ttl, p.Zones)
	}
	b.WriteString("\nStrategies: **exact** appends one value and deletes exactly that value; **set** reads and " +
		"rewrites the whole name+type set under a lock that holds across replicas (a Lease), because the " +
		"provider's API replaces the set; **fixed** is ACME-DNS, one name per account with two values.\n")
	for _, p := range infos {
		fmt.Fprintf(&b, "\n#### %s\n\n", p.Name)
		fmt.Fprintf(&b, "`%s` %s · %s · tested: %s", p.Module, p.Version, p.Strategy, p.TestLevel)
		if p.TestLevel == "constructed" {
			b.WriteString(" (not exercised against its API)")
		}
		b.WriteString("\n\n```yaml\nprovider:\n  " + p.Name + ":\n")
		for _, line := range strings.Split(strings.TrimSuffix(p.Example, "\n"), "\n") {
			b.WriteString("    " + line + "\n")
		}
		b.WriteString("```\n")
		var notes []string
		if len(p.Required) > 0 {
			notes = append(notes, fmt.Sprintf("Required: %s.", codeList(p.Required)))
		}
		if p.HTTP != "" {
			notes = append(notes, fmt.Sprintf("HTTP: %s.", p.HTTP))
		}
		if len(p.Env) > 0 {
			notes = append(notes, fmt.Sprintf("The library reads %s by itself.", codeList(p.Env)))
		}
		if len(notes) > 0 {
			b.WriteString("\n" + strings.Join(notes, " ") + "\n")
		}
		if len(p.Quirks) > 0 {
			b.WriteString("\n")
		}
		for _, q := range p.Quirks {
			fmt.Fprintf(&b, "- %s\n", q)
		}
	}
	return b.String()
}

func codeList(items []string) string {
	if len(items) == 0 {
		return "–"
	}
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = "`" + s + "`"
	}
	return strings.Join(out, ", ")
}
