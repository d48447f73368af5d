// Command promcheck checks the chart's alert rules and Grafana dashboard with Prometheus' own parsers, and against
// the metrics the webhook exports. It is a module of its own so that the webhook's module never requires
// github.com/prometheus/prometheus; test/chart builds and runs it.
//
//	promcheck [-metrics FILE] [-json] FILE...
//
// Each FILE is YAML (one document or several, as `helm template` prints them) or JSON, and each document one of:
//   - a PrometheusRule (its spec.groups) or a Prometheus rule file (groups): parsed with rulefmt, strictly (an
//     unknown field is an error), which parses every expr and annotation template; every alert must carry the
//     annotations summary and description and the label severity;
//   - a Grafana dashboard (panels), or a ConfigMap whose data keys ending in .json are dashboards: every target's
//     expr, every query variable's query and every annotation's expr is parsed with the PromQL parser, after
//     Grafana's interval variables ($__rate_interval, $__interval, $__range) are replaced by a duration; panel ids
//     must be unique and every panel must have a title.
//
// Every selector must name its metric. With -metrics, every metric named must be one the webhook exports: FILE
// lists one name a line, or is a text exposition (what /metrics serves), whose `# TYPE NAME histogram` lines also
// allow NAME_bucket, NAME_sum and NAME_count. Lines starting with # are otherwise ignored.
//
// It prints what it checked (the alerts, the panels and the metric names each source uses; -json: as one JSON
// object) and every problem on standard error. Exit status: 0 when there is none, 1 when there is a problem, 2 on
// a usage error or a file that cannot be read.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Source is one rule set or dashboard checked, as -json prints it.
type Source struct {
	// Name says where it came from: FILE, FILE: Kind/name, or FILE: ConfigMap/name/KEY.
	Name string `json:"name"`
	// Kind is rules or dashboard.
	Kind string `json:"kind"`
	// Alerts are the alert names of a rule set, in order.
	Alerts []string `json:"alerts,omitempty"`
	// Records are the recording rules' names.
	Records []string `json:"records,omitempty"`
	// Panels are a dashboard's panel titles, in order (rows included).
	Panels []string `json:"panels,omitempty"`
	// Expressions is how many PromQL expressions were parsed.
	Expressions int `json:"expressions"`
	// Metrics are the metric names the expressions select, sorted.
	Metrics []string `json:"metrics"`
}

// Report is everything checked, as -json prints it.
type Report struct {
	Sources []Source `json:"sources"`
	// Problems are the problems found, also printed on standard error.
	Problems []string `json:"problems"`
}

type checker struct {
	parser  parser.Parser
	known   *exported
	logger  *slog.Logger
	report  Report
	current *Source
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("promcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	metricsFile := fs.String("metrics", "", "the metric names the webhook exports: one a line, or a text exposition")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: promcheck [-metrics FILE] [-json] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	c := &checker{
		parser: parser.NewParser(parser.Options{}),
		logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if *metricsFile != "" {
		b, err := os.ReadFile(*metricsFile)
		if err != nil {
			fmt.Fprintf(stderr, "promcheck: %v\n", err)
			return 2
		}
		c.known = parseExported(b)
		if len(c.known.names)+len(c.known.histograms) == 0 {
			fmt.Fprintf(stderr, "promcheck: %s lists no metric names\n", *metricsFile)
			return 2
		}
	}
	for _, f := range fs.Args() {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "promcheck: %v\n", err)
			return 2
		}
		c.file(filepath.Base(f), b)
	}
	if len(c.report.Sources) == 0 {
		c.problem("", "no rules and no dashboard found in %s", strings.Join(fs.Args(), ", "))
	}
	for _, p := range c.report.Problems {
		fmt.Fprintln(stderr, p)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(c.report)
	} else {
		for _, s := range c.report.Sources {
			fmt.Fprintf(stdout, "%s (%s): %d expressions\n", s.Name, s.Kind, s.Expressions)
			for _, a := range s.Alerts {
				fmt.Fprintf(stdout, "  alert %s\n", a)
			}
			for _, r := range s.Records {
				fmt.Fprintf(stdout, "  record %s\n", r)
			}
			for _, p := range s.Panels {
				fmt.Fprintf(stdout, "  panel %s\n", p)
			}
			for _, m := range s.Metrics {
				fmt.Fprintf(stdout, "  metric %s\n", m)
			}
		}
	}
	if len(c.report.Problems) > 0 {
		fmt.Fprintf(stderr, "promcheck: %d problems\n", len(c.report.Problems))
		return 1
	}
	return 0
}

func (c *checker) problem(source, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if source != "" {
		msg = source + ": " + msg
	}
	c.report.Problems = append(c.report.Problems, msg)
}

// file checks every document of a file.
func (c *checker) file(name string, b []byte) {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			c.problem(name, "not JSON: %v", err)
			return
		}
		if _, ok := doc["panels"]; !ok {
			c.problem(name, "a JSON file must be a Grafana dashboard (with panels)")
			return
		}
		c.dashboard(name, b)
		return
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			c.problem(name, "not YAML: %v", err)
			return
		}
		c.document(name, &node)
	}
}

func (c *checker) document(file string, node *yaml.Node) {
	if node.Kind != yaml.DocumentNode || len(node.Content) == 0 || node.Content[0].Kind != yaml.MappingNode {
		return // an empty document, as helm template leaves between objects
	}
	root := node.Content[0]
	var head struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
	}
	if err := root.Decode(&head); err != nil {
		c.problem(file, "%v", err)
		return
	}
	name := file
	if head.Kind != "" {
		name = fmt.Sprintf("%s: %s/%s", file, head.Kind, head.Metadata.Name)
	}
	switch {
	case head.Kind == "PrometheusRule":
		spec := mapValue(root, "spec")
		if spec == nil {
			c.problem(name, "has no spec")
			return
		}
		b, err := yaml.Marshal(spec)
		if err != nil {
			c.problem(name, "%v", err)
			return
		}
		c.rules(name, b)
	case head.Kind == "ConfigMap":
		var keys []string
		for k := range head.Data {
			if strings.HasSuffix(k, ".json") {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			c.problem(name, "has no data key ending in .json")
		}
		slices.Sort(keys)
		for _, k := range keys {
			c.dashboard(name+"/"+k, []byte(head.Data[k]))
		}
	case head.Kind == "" && mapValue(root, "groups") != nil:
		b, err := yaml.Marshal(root)
		if err != nil {
			c.problem(name, "%v", err)
			return
		}
		c.rules(name, b)
	case head.Kind == "" && mapValue(root, "panels") != nil:
		b, err := json.Marshal(decodeAny(root))
		if err != nil {
			c.problem(name, "%v", err)
			return
		}
		c.dashboard(name, b)
	default:
		c.problem(name, "neither a PrometheusRule, a rule file, a ConfigMap of dashboards nor a dashboard")
	}
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func decodeAny(n *yaml.Node) any {
	var v any
	_ = n.Decode(&v)
	return v
}

// rules checks a rule file's content ({groups: [...]}).
func (c *checker) rules(name string, content []byte) {
	src := &Source{Name: name, Kind: "rules", Metrics: []string{}}
	c.current = src
	defer func() { c.finish(src) }()
	// Strict: an unknown field (a typo such as `annotation:`) is an error, as it is for Prometheus' rule files.
	groups, errs := rulefmt.Parse(content, false, model.LegacyValidation, c.parser, c.logger)
	for _, err := range errs {
		c.problem(name, "%v", err)
	}
	if groups == nil {
		return
	}
	if len(groups.Groups) == 0 {
		c.problem(name, "has no rule groups")
	}
	for _, g := range groups.Groups {
		if len(g.Rules) == 0 {
			c.problem(name, "group %q has no rules", g.Name)
		}
		for i, r := range g.Rules {
			where := fmt.Sprintf("group %q, rule %d", g.Name, i)
			if r.Alert != "" {
				where = fmt.Sprintf("group %q, alert %s", g.Name, r.Alert)
				src.Alerts = append(src.Alerts, r.Alert)
				for _, a := range []string{"summary", "description"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						c.problem(name, "%s has no %s annotation", where, a)
					}
				}
				if r.Labels["severity"] == "" {
					c.problem(name, "%s has no severity label", where)
				}
			} else {
				src.Records = append(src.Records, r.Record)
			}
			// rulefmt has reported an expression that does not parse; the metrics of the others still count.
			c.parse(where, r.Expr, false)
		}
	}
}

// dashboard checks a Grafana dashboard's JSON.
func (c *checker) dashboard(name string, content []byte) {
	src := &Source{Name: name, Kind: "dashboard", Metrics: []string{}}
	c.current = src
	defer func() { c.finish(src) }()
	var d struct {
		Title     string  `json:"title"`
		UID       string  `json:"uid"`
		Panels    []panel `json:"panels"`
		Templates struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Annotations struct {
			List []struct {
				Name string `json:"name"`
				Expr string `json:"expr"`
			} `json:"list"`
		} `json:"annotations"`
	}
	if err := json.Unmarshal(content, &d); err != nil {
		c.problem(name, "not a dashboard: %v", err)
		return
	}
	if d.Title == "" || d.UID == "" {
		c.problem(name, "the dashboard needs a title and a uid")
	}
	if len(d.Panels) == 0 {
		c.problem(name, "has no panels")
	}
	ids := map[int]string{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			src.Panels = append(src.Panels, p.Title)
			if p.Title == "" {
				c.problem(name, "panel %d has no title", p.ID)
			}
			if other, dup := ids[p.ID]; dup {
				c.problem(name, "panels %q and %q have the same id %d", other, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			if p.Type != "row" && p.Type != "text" && len(p.Targets) == 0 {
				c.problem(name, "panel %q has no targets", p.Title)
			}
			for i, t := range p.Targets {
				where := fmt.Sprintf("panel %q, target %d", p.Title, i)
				if t.RefID == "" {
					c.problem(name, "%s has no refId", where)
				}
				if strings.TrimSpace(t.Expr) == "" {
					c.problem(name, "%s has no expr", where)
					continue
				}
				c.expr(where, grafanaIntervals(t.Expr))
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templates.List {
		if v.Type != "query" {
			continue
		}
		q := string(v.Query)
		var s string
		if json.Unmarshal(v.Query, &s) == nil {
			q = s
		} else {
			var o struct {
				Query string `json:"query"`
			}
			if json.Unmarshal(v.Query, &o) == nil {
				q = o.Query
			}
		}
		c.variableQuery(fmt.Sprintf("variable %q", v.Name), q)
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			c.expr(fmt.Sprintf("annotation %q", a.Name), grafanaIntervals(a.Expr))
		}
	}
}

type panel struct {
	ID      int    `json:"id"`
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

var (
	labelValues = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*(?:,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*)?\)\s*$`)
	queryResult = regexp.MustCompile(`^\s*query_result\((.*)\)\s*$`)
)

// variableQuery checks a Prometheus query variable: label_values(SELECTOR, label), label_values(label) (no
// metric), query_result(EXPR) or an expression.
func (c *checker) variableQuery(where, q string) {
	if m := labelValues.FindStringSubmatch(q); m != nil {
		sel := m[1]
		if !strings.Contains(q, ",") {
			c.problem(c.current.Name, "%s: label_values(label) reads every metric; name one: label_values(metric, label)", where)
			return
		}
		c.expr(where, grafanaIntervals(sel))
		return
	}
	if m := queryResult.FindStringSubmatch(q); m != nil {
		q = m[1]
	}
	c.expr(where, grafanaIntervals(q))
}

// grafanaIntervals replaces the interval variables Grafana fills in with durations, so that the PromQL parser
// reads what Prometheus will get. Other variables ($namespace) are left in place: inside a label matcher's string
// they parse, anywhere else they are an error.
func grafanaIntervals(expr string) string {
	return strings.NewReplacer(
		"${__rate_interval}", "5m", "$__rate_interval", "5m",
		"${__interval}", "1m", "$__interval", "1m",
		"${__range}", "1h", "$__range", "1h",
	).Replace(expr)
}

// expr parses one expression and records the metrics it selects.
func (c *checker) expr(where, expr string) { c.parse(where, expr, true) }

func (c *checker) parse(where, expr string, reportParseError bool) {
	src := c.current
	src.Expressions++
	e, err := c.parser.ParseExpr(expr)
	if err != nil {
		if reportParseError {
			c.problem(src.Name, "%s: %q does not parse: %v", where, expr, err)
		}
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type != labels.MatchEqual {
				c.problem(src.Name, "%s: %s selects metric names by pattern; name each metric", where, vs)
				return nil
			}
			if m.Name == model.MetricNameLabel {
				name = m.Value
			}
		}
		if name == "" {
			c.problem(src.Name, "%s: %s names no metric", where, vs)
			return nil
		}
		if !slices.Contains(src.Metrics, name) {
			src.Metrics = append(src.Metrics, name)
		}
		if c.known != nil && !c.known.has(name) {
			c.problem(src.Name, "%s: the webhook does not export %s", where, name)
		}
		return nil
	})
}

func (c *checker) finish(src *Source) {
	slices.Sort(src.Metrics)
	c.report.Sources = append(c.report.Sources, *src)
	c.current = nil
}

// exported is what the webhook exports: sample names, and the histograms' family names.
type exported struct {
	names      map[string]bool
	histograms map[string]bool
}

func parseExported(b []byte) *exported {
	e := &exported{names: map[string]bool{}, histograms: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "#") {
			// A classic histogram's samples are its _bucket, _sum and _count; there is no series of its own name.
			if f := strings.Fields(l); len(f) == 4 && f[1] == "TYPE" {
				if f[3] == "histogram" {
					e.histograms[f[2]] = true
				} else {
					e.names[f[2]] = true
				}
			}
			continue
		}
		name, _, _ := strings.Cut(l, "{")
		name, _, _ = strings.Cut(name, " ")
		e.names[name] = true
	}
	return e
}

func (e *exported) has(name string) bool {
	if e.names[name] {
		return true
	}
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, s); ok && e.histograms[base] {
			return true
		}
	}
	return false
}
