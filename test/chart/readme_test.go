//go:build integration

package chart

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/delegate01/cert-manager-webhook-delegate/providers"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

const (
	readmeFile   = chartDir + "/README.md"
	valuesFile   = chartDir + "/values.yaml"
	schemaFile   = chartDir + "/values.schema.json"
	valuesBegin  = "<!-- BEGIN VALUES: generated from values.yaml by `make chart-docs`; edit values.yaml, not this. -->"
	valuesEnd    = "<!-- END VALUES -->"
	updateReadme = "UPDATE_CHART_README"
)

// value is one documented entry of values.yaml: a leaf, or an object whose keys are not documented one by one
// (resources, affinity, ...).
type value struct {
	path string   // dotted path, e.g. image.repository
	doc  []string // the comment lines above it, without "# "
	node *yaml.Node
}

// TestReadmeDocumentsEveryValue: every value in values.yaml carries a comment, and the README's Values section is
// exactly what those comments generate (UPDATE_CHART_README=1, i.e. make chart-docs, rewrites it).
func TestReadmeDocumentsEveryValue(t *testing.T) {
	values := parseValues(t)
	for _, v := range values {
		if len(v.doc) == 0 {
			t.Errorf("values.yaml: %s has no comment; the comment above a value is its documentation", v.path)
		}
	}
	types := schemaTypes(t)
	want := valuesBegin + "\n" + renderValuesDoc(t, values, types) + valuesEnd
	readme := readFile(t, readmeFile)
	i, j := strings.Index(readme, valuesBegin), strings.Index(readme, valuesEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: the markers %q and %q are missing", readmeFile, valuesBegin, valuesEnd)
	}
	got := readme[i : j+len(valuesEnd)]
	if got == want {
		return
	}
	if os.Getenv(updateReadme) != "" {
		updated := readme[:i] + want + readme[j+len(valuesEnd):]
		if err := os.WriteFile(filepath.Join(repoRoot, readmeFile), []byte(updated), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the Values section of %s", readmeFile)
		return
	}
	t.Errorf("%s: the Values section is out of date with values.yaml; run `make chart-docs`.\n%s",
		readmeFile, firstDifference(got, want))
}

// TestSchemaCoversEveryValue: values.schema.json and values.yaml name the same values, and every default passes the
// schema's type.
func TestSchemaCoversEveryValue(t *testing.T) {
	t.Parallel()
	types := schemaTypes(t)
	var paths []string
	for _, v := range parseValues(t) {
		paths = append(paths, v.path)
		if _, ok := types[v.path]; !ok {
			t.Errorf("values.yaml: %s is not in values.schema.json", v.path)
		}
	}
	for p := range types {
		if !slices.Contains(paths, p) {
			t.Errorf("values.schema.json: %s is not in values.yaml", p)
		}
	}
}

// TestReadmeInstall: the README's Install section shows the install command and the example ClusterIssuer verbatim,
// from the files the other tests render and apply.
func TestReadmeInstall(t *testing.T) {
	t.Parallel()
	install := readFile(t, installFile)
	issuer := readFile(t, issuerFile)
	section := installSection(t, readmeFile)
	cmd := strings.Index(section, "```console\n"+install+"```\n")
	iss := strings.Index(section, "```yaml\n"+issuer+"```\n")
	if cmd < 0 {
		t.Errorf("the Install section does not show %s verbatim in a console block:\n%s", installFile, install)
	}
	if iss < 0 {
		t.Errorf("the Install section does not show %s verbatim in a yaml block:\n%s", issuerFile, issuer)
	}
	if cmd >= 0 && iss >= 0 && iss < cmd {
		t.Error("the Install section must show the install command before the ClusterIssuer")
	}
}

// TestExampleIssuer: the README's ClusterIssuer names the installed group and the solver, and its config passes the
// webhook's own strict parser.
func TestExampleIssuer(t *testing.T) {
	t.Parallel()
	var issuer struct {
		Kind string `json:"kind"`
		Spec struct {
			ACME struct {
				Solvers []struct {
					DNS01 struct {
						Webhook struct {
							GroupName  string          `json:"groupName"`
							SolverName string          `json:"solverName"`
							Config     json.RawMessage `json:"config"`
						} `json:"webhook"`
					} `json:"dns01"`
				} `json:"solvers"`
			} `json:"acme"`
		} `json:"spec"`
	}
	if err := sigsyaml.Unmarshal([]byte(readFile(t, issuerFile)), &issuer); err != nil {
		t.Fatal(err)
	}
	if len(issuer.Spec.ACME.Solvers) != 1 {
		t.Fatalf("want one solver, got %d", len(issuer.Spec.ACME.Solvers))
	}
	wh := issuer.Spec.ACME.Solvers[0].DNS01.Webhook
	if want := "groupName=" + wh.GroupName; !slices.Contains(installArgs(t), want) {
		t.Errorf("the ClusterIssuer's groupName %q is not what the install command sets (%q)", wh.GroupName, installArgs(t))
	}
	if wh.SolverName != "delegate" {
		t.Errorf("solverName: want delegate (the resource the chart's domain-solver ClusterRole grants), got %q", wh.SolverName)
	}
	if _, err := solver.ParseConfig(wh.Config, providers.Default()); err != nil {
		t.Errorf("the example config does not parse: %v", err)
	}
	// The solver's API resource really is "delegate": cert-manager posts ChallengePayloads to it.
	if (&solver.Solver{}).Name() != wh.SolverName {
		t.Errorf("the solver's Name() is %q", (&solver.Solver{}).Name())
	}
}

// parseValues walks values.yaml. A mapping is descended into when its keys carry their own comments; otherwise it
// is one value (a Kubernetes structure such as resources, documented as a whole).
func parseValues(t *testing.T) []value {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(readFile(t, valuesFile)), &doc); err != nil {
		t.Fatal(err)
	}
	var out []value
	var walk func(prefix string, m *yaml.Node)
	walk = func(prefix string, m *yaml.Node) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			p := prefix + k.Value
			if v.Kind == yaml.MappingNode && documentedKeys(v) {
				walk(p+".", v)
				continue
			}
			out = append(out, value{path: p, doc: commentLines(k.HeadComment), node: v})
		}
	}
	walk("", doc.Content[0])
	return out
}

func documentedKeys(m *yaml.Node) bool {
	for i := 0; i < len(m.Content); i += 2 {
		if m.Content[i].HeadComment != "" {
			return true
		}
	}
	return false
}

func commentLines(c string) []string {
	if c == "" {
		return nil
	}
	// A comment block separated from the key by a blank line belongs to the file, not the key.
	if blocks := strings.Split(c, "\n\n"); len(blocks) > 1 {
		c = blocks[len(blocks)-1]
	}
	var lines []string
	for _, l := range strings.Split(c, "\n") {
		l = strings.TrimPrefix(l, "#")
		l = strings.TrimPrefix(l, " ")
		lines = append(lines, strings.TrimRight(l, " "))
	}
	return lines
}

// schemaTypes maps each value path in values.schema.json to its type ("string", "integer | string | null").
func schemaTypes(t *testing.T) map[string]string {
	t.Helper()
	type node struct {
		Type                 any              `json:"type"`
		Properties           map[string]*node `json:"properties"`
		AdditionalProperties any              `json:"additionalProperties"`
	}
	var root node
	if err := json.Unmarshal([]byte(readFile(t, schemaFile)), &root); err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	if root.AdditionalProperties != false {
		t.Errorf("%s: the top level must set additionalProperties: false, so unknown values are errors", schemaFile)
	}
	out := map[string]string{}
	var walk func(prefix string, n *node)
	walk = func(prefix string, n *node) {
		for k, p := range n.Properties {
			if len(p.Properties) > 0 {
				if p.AdditionalProperties != false {
					t.Errorf("%s: %s%s must set additionalProperties: false", schemaFile, prefix, k)
				}
				walk(prefix+k+".", p)
				continue
			}
			switch ty := p.Type.(type) {
			case string:
				out[prefix+k] = ty
			case []any:
				var s []string
				for _, x := range ty {
					s = append(s, fmt.Sprint(x))
				}
				out[prefix+k] = strings.Join(s, " | ")
			default:
				t.Errorf("%s: %s%s has no type", schemaFile, prefix, k)
			}
		}
	}
	walk("", &root)
	return out
}

// renderValuesDoc renders the Values section: one entry per value with its type, default and documentation. Comment
// lines indented by two or more spaces are YAML examples and become code blocks.
func renderValuesDoc(t *testing.T, values []value, types map[string]string) string {
	t.Helper()
	var b strings.Builder
	for _, v := range values {
		fmt.Fprintf(&b, "#### `%s`\n\n", v.path)
		def := defaultYAML(t, v.node)
		if strings.Contains(def, "\n") {
			fmt.Fprintf(&b, "Type: `%s`. Default:\n\n```yaml\n%s```\n\n", types[v.path], def)
		} else {
			fmt.Fprintf(&b, "Type: `%s`. Default: `%s`\n\n", types[v.path], strings.TrimSpace(def))
		}
		inCode := false
		for _, l := range v.doc {
			code := strings.HasPrefix(l, "  ")
			switch {
			case code && !inCode:
				b.WriteString("\n```yaml\n")
				inCode = true
			case !code && inCode && l != "":
				b.WriteString("```\n")
				inCode = false
			}
			if inCode {
				if l == "" {
					continue
				}
				l = l[2:]
			}
			b.WriteString(l + "\n")
		}
		if inCode {
			b.WriteString("```\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func defaultYAML(t *testing.T, n *yaml.Node) string {
	t.Helper()
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	if c.Kind == yaml.ScalarNode {
		if c.Tag == "!!str" {
			return fmt.Sprintf("%q", c.Value)
		}
		return c.Value
	}
	if len(c.Content) == 0 {
		if c.Kind == yaml.SequenceNode {
			return "[]"
		}
		return "{}"
	}
	var out strings.Builder
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&c); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("first difference at line %d of the section:\n README: %q\n values: %q", i+1, gl, wl)
		}
	}
	return ""
}

// TestRootReadmeInstall: the repository README's Install section shows the same install command and ClusterIssuer
// the tests render, verbatim.
func TestRootReadmeInstall(t *testing.T) {
	t.Parallel()
	section := installSection(t, "README.md")
	for file, block := range map[string]string{installFile: "```sh\n", issuerFile: "```yaml\n"} {
		if want := block + readFile(t, file) + "```\n"; !strings.Contains(section, want) {
			t.Errorf("README.md's Install section does not show %s verbatim:\n%s", file, want)
		}
	}
}

// installSection returns the "## Install" section of a Markdown file, up to the next level-2 heading.
func installSection(t *testing.T, file string) string {
	t.Helper()
	readme := readFile(t, file)
	at := strings.Index(readme, "\n## Install\n")
	if at < 0 {
		t.Fatalf("%s has no `## Install` section", file)
	}
	section := readme[at+1:]
	if next := strings.Index(section[1:], "\n## "); next >= 0 {
		section = section[:next+1]
	}
	return section
}

// TestReadmeFences: the chart README's Fences section gives the commands that opt a Secret in and allow an endpoint,
// with the label and annotation the webhook really reads, and the Install section labels the Secret it creates
// (the webhook would not use it otherwise). testWebhookServes runs the label and annotate commands against the API
// server and the webhook binary.
func TestReadmeFences(t *testing.T) {
	t.Parallel()
	label, annotate := fenceCommands(t)
	if want := solver.SecretLabel + "=true"; label[len(label)-1] != want {
		t.Errorf("the Fences section's label command must end with %s: %q", want, label)
	}
	if k, _, _ := strings.Cut(annotate[len(annotate)-1], "="); k != solver.EndpointsAnnotation {
		t.Errorf("the Fences section's annotate command must set %s: %q", solver.EndpointsAnnotation, annotate)
	}
	if !strings.Contains(installSection(t, readmeFile), "\n"+strings.Join(label, " ")+"\n") {
		t.Errorf("the Install section must label the Secret it creates with the Fences section's command: %q", label)
	}
	// values.yaml's comments (and so the generated Values section) name both, and allowedZones is recommended there.
	values := readFile(t, valuesFile)
	for _, w := range []string{"`" + solver.SecretLabel + `: "true"` + "`", "`" + solver.EndpointsAnnotation + "`", "strongly recommended"} {
		if !strings.Contains(values, w) {
			t.Errorf("%s does not say %s", valuesFile, w)
		}
	}
}

// fenceCommands returns the `kubectl label` and `kubectl annotate` command lines of the chart README's "## Fences"
// section, split into arguments (the section holds exactly one of each, free of shell quoting).
func fenceCommands(t *testing.T) (label, annotate []string) {
	t.Helper()
	readme := readFile(t, readmeFile)
	at := strings.Index(readme, "\n## Fences\n")
	if at < 0 {
		t.Fatalf("%s has no `## Fences` section", readmeFile)
	}
	section := readme[at+1:]
	if next := strings.Index(section[1:], "\n## "); next >= 0 {
		section = section[:next+1]
	}
	for _, l := range strings.Split(section, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "kubectl" {
			continue
		}
		if strings.ContainsAny(l, `"'$\`) {
			t.Fatalf("%s: %q needs a shell to interpret it; keep the command free of quoting", readmeFile, l)
		}
		var into *[]string
		switch {
		case slices.Contains(f, "label"):
			into = &label
		case slices.Contains(f, "annotate"):
			into = &annotate
		default:
			continue
		}
		if *into != nil {
			t.Fatalf("%s: the Fences section has two %s commands", readmeFile, f[1])
		}
		*into = f
	}
	if label == nil || annotate == nil {
		t.Fatalf("%s: the Fences section must show a `kubectl label` and a `kubectl annotate` command", readmeFile)
	}
	return label, annotate
}
