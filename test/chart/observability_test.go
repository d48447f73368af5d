//go:build integration

package chart

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/metrics"
)

const (
	promcheckDir  = "hack/promcheck"
	dashboardFile = chartDir + "/dashboards/delegate.json"
	ruleTemplate  = "templates/prometheusrule.yaml"
	dashTemplate  = "templates/grafana-dashboard.yaml"
	// The release the observability objects are rendered for, in the namespace the README installs into.
	obsRelease   = "obs"
	obsNamespace = "cert-manager"
	obsFullname  = "obs-cert-manager-webhook-delegate"
)

// The alerts the chart ships, in order.
var wantAlerts = []string{"DelegateDelegationMissing", "DelegateProviderErrors", "DelegateProviderThrottled",
	"DelegateNoSuccessfulChallenge", "DelegateSecretInformerNotSynced", "DelegateCleanupLeftBehind"}

// promcheckReport is what `promcheck -json` prints.
type promcheckReport struct {
	Sources []struct {
		Name        string   `json:"name"`
		Kind        string   `json:"kind"`
		Alerts      []string `json:"alerts"`
		Panels      []string `json:"panels"`
		Expressions int      `json:"expressions"`
		Metrics     []string `json:"metrics"`
	} `json:"sources"`
	Problems []string `json:"problems"`
}

// TestPromcheck runs hack/promcheck (Prometheus' rulefmt and PromQL parser, in a module of its own) on the
// PrometheusRule and the dashboard ConfigMap the chart renders, and on the dashboard file itself, with the metric
// names the webhook exports (metrics.Names, which test/metrics checks against what /metrics serves): every rule and
// expression parses, and every metric they name is one the webhook exports.
func TestPromcheck(t *testing.T) {
	t.Parallel()
	bin := promcheckBinary(t)
	names := exportedNamesFile(t)
	for name, set := range map[string][]string{
		"default selector": nil,
		"custom selector":  {"--set-string", `prometheusRule.selector=job="delegate"`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rules, dash := renderObservability(t, set...)
			dir := t.TempDir()
			rulesFile, dashFile := writeTemp(t, dir, "rules.yaml", rules), writeTemp(t, dir, "dashboard.yaml", dash)
			rep := runPromcheck(t, bin, 0, "-metrics", names, rulesFile, dashFile, filepath.Join(repoRoot, dashboardFile))
			if len(rep.Sources) != 3 {
				t.Fatalf("promcheck checked %d sources, want the rules and the dashboard twice: %+v", len(rep.Sources), rep.Sources)
			}
			r := rep.Sources[0]
			if r.Kind != "rules" || !slices.Equal(r.Alerts, wantAlerts) || r.Expressions != len(wantAlerts) {
				t.Errorf("rules: want the alerts %q, one expression each, got %+v", wantAlerts, r)
			}
			// The alerts' metrics: the failing-names gauge, challenges by result (the ok series of the histogram,
			// which exist from the start), the provider's throttling and the pacer's refusals, informers, left-behind.
			for _, m := range []string{"delegate_delegation_failing_names", "delegate_challenges_total",
				"delegate_challenge_duration_seconds_count", "delegate_provider_throttled_total",
				"delegate_rate_limited_calls_total", "delegate_secret_informer_synced", "delegate_cleanup_left_behind_total"} {
				if !slices.Contains(r.Metrics, m) {
					t.Errorf("the rules do not use %s: %q", m, r.Metrics)
				}
			}
			for _, d := range rep.Sources[1:] {
				if d.Kind != "dashboard" {
					t.Errorf("%s: want a dashboard, got %s", d.Name, d.Kind)
				}
				// What the dashboard must show: challenges by result and provider, provider call rate and latency
				// from the histogram, pacer waits, 429s and retries, delegation check outcomes and the failing-names
				// gauge, informers, build info.
				for _, m := range []string{"delegate_challenges_total", "delegate_provider_calls_total",
					"delegate_provider_call_duration_seconds_bucket", "delegate_pacer_wait_seconds_bucket",
					"delegate_pacer_wait_seconds_count", "delegate_provider_throttled_total", "delegate_provider_retries_total",
					"delegate_rate_limited_calls_total", "delegate_delegation_checks_total", "delegate_delegation_failing_names",
					"delegate_secret_informer_synced", "delegate_build_info"} {
					if !slices.Contains(d.Metrics, m) {
						t.Errorf("%s does not use %s: %q", d.Name, m, d.Metrics)
					}
				}
			}
			if !slices.Equal(rep.Sources[1].Metrics, rep.Sources[2].Metrics) || !slices.Equal(rep.Sources[1].Panels, rep.Sources[2].Panels) {
				t.Errorf("the rendered dashboard differs from %s", dashboardFile)
			}
		})
	}
}

// TestPromcheckFails proves TestPromcheck can fail: promcheck refuses the chart's rules and dashboard with one
// mistake each, and says which.
func TestPromcheckFails(t *testing.T) {
	t.Parallel()
	bin := promcheckBinary(t)
	names := exportedNamesFile(t)
	rules, dash := renderObservability(t)
	for _, tc := range []struct {
		name       string
		dashboard  bool // the mistake is in the dashboard ConfigMap (else in the PrometheusRule)
		old, new   string
		wantStderr string
	}{
		{"a rule expression that does not parse", false, "max by (namespace, service) (delegate_delegation_failing_names",
			"max by (namespace, service) ((delegate_delegation_failing_names", "unclosed left parenthesis"},
		{"a rule naming a metric the webhook does not export", false, "delegate_delegation_failing_names{",
			"delegate_delegation_failing_name{", "the webhook does not export delegate_delegation_failing_name"},
		{"a rule field Prometheus does not know (strict)", false, "for: 15m", "fore: 15m", "field fore not found"},
		{"an alert without a description", false, "description:", "descr:", "has no description annotation"},
		{"an annotation template that does not parse", false, "{{ $labels.provider }}", "{{ $labels.provider }",
			`annotation "summary"`},
		{"a dashboard expression that does not parse", true, "[$__rate_interval]))", "[$__rate_interval]", "does not parse"},
		{"a dashboard variable where PromQL needs a duration", true, "[$__rate_interval]", "[$interval]", "does not parse"},
		{"a dashboard metric the webhook does not export", true, "delegate_provider_retries_total",
			"delegate_provider_retry_total", "the webhook does not export delegate_provider_retry_total"},
		// A histogram's samples are its _bucket, _sum and _count; the family's own name selects nothing.
		{"a histogram without its suffix", true, "delegate_pacer_wait_seconds_count", "delegate_pacer_wait_seconds",
			"the webhook does not export delegate_pacer_wait_seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, file := rules, "rules.yaml"
			if tc.dashboard {
				src, file = dash, "dashboard.yaml"
			}
			if !strings.Contains(src, tc.old) {
				t.Fatalf("the rendered %s has no %q to change", file, tc.old)
			}
			path := writeTemp(t, t.TempDir(), file, strings.Replace(src, tc.old, tc.new, 1))
			rep := runPromcheck(t, bin, 1, "-metrics", names, path)
			if !strings.Contains(strings.Join(rep.Problems, "\n"), tc.wantStderr) {
				t.Errorf("promcheck's problems do not say %q:\n%s", tc.wantStderr, strings.Join(rep.Problems, "\n"))
			}
		})
	}
	t.Run("a metric list that names nothing", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		runPromcheck(t, bin, 2, "-metrics", writeTemp(t, dir, "names.txt", "# nothing\n"), writeTemp(t, dir, "rules.yaml", rules))
	})
}

// TestRenderObservability checks the values of the dashboard, the PrometheusRule and the metrics-reader binding
// reach what they configure.
func TestRenderObservability(t *testing.T) {
	t.Parallel()
	objs := render(t, obsRelease, chartDir, "--namespace", obsNamespace, "--set", "groupName=acme.example.com",
		"--set", "grafanaDashboard.enabled=true", "--set", "prometheusRule.enabled=true",
		"--set", "grafanaDashboard.namespace=grafana", "--set", "grafanaDashboard.labels.team=platform",
		"--set", "grafanaDashboard.annotations.grafana_folder=cert-manager",
		"--set", "prometheusRule.labels.release=prometheus", "--set", "prometheusRule.ruleLabels.team=platform",
		"--set", "serviceMonitor.prometheusServiceAccount.name=prometheus",
		"--set", "serviceMonitor.prometheusServiceAccount.namespace=monitoring")

	cm := find(t, objs, "ConfigMap", "grafana", obsFullname+"-dashboard")
	if l := cm.GetLabels(); l["grafana_dashboard"] != "1" || l["team"] != "platform" {
		t.Errorf("dashboard ConfigMap labels: %v", l)
	}
	if a := cm.GetAnnotations(); a["grafana_folder"] != "cert-manager" {
		t.Errorf("dashboard ConfigMap annotations: %v", a)
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	var got, want any
	if err := json.Unmarshal([]byte(data["cert-manager-webhook-delegate.json"]), &got); err != nil {
		t.Fatalf("the ConfigMap's dashboard: %v (keys %v)", err, data)
	}
	if err := json.Unmarshal([]byte(readFile(t, dashboardFile)), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the ConfigMap's dashboard is not %s", dashboardFile)
	}
	checkDashboard(t, want)

	pr := find(t, objs, "PrometheusRule", obsNamespace, obsFullname)
	if pr.GetLabels()["release"] != "prometheus" {
		t.Errorf("PrometheusRule labels: %v", pr.GetLabels())
	}
	rules := alertRules(t, pr)
	var names []string
	for _, r := range rules {
		names = append(names, r.Alert)
		if r.Labels["team"] != "platform" || r.Labels["severity"] == "" {
			t.Errorf("%s: labels %v, want severity and the ruleLabels", r.Alert, r.Labels)
		}
		if sel := `{namespace="` + obsNamespace + `", service="` + obsFullname + `"`; !strings.Contains(r.Expr, sel) {
			t.Errorf("%s: the expression does not select the release's series with %s: %s", r.Alert, sel, r.Expr)
		}
		// Each says what to do, with the commands to run.
		if d := r.Annotations["description"]; !strings.Contains(d, "`kubectl ") || r.Annotations["summary"] == "" {
			t.Errorf("%s: the annotations must have a summary and a description naming the kubectl command to run: %v", r.Alert, r.Annotations)
		}
	}
	if !slices.Equal(names, wantAlerts) {
		t.Errorf("alerts: want %q, got %q", wantAlerts, names)
	}
	missing := rules[0]
	if missing.For != "15m" || !strings.HasPrefix(missing.Expr, "max by (namespace, service) (delegate_delegation_failing_names{") {
		t.Errorf("DelegateDelegationMissing: want the max over replicas of the failing-names gauge for 15m, got %q for %s", missing.Expr, missing.For)
	}
	for _, w := range []string{"kubectl describe challenge", "cert-manager-webhook-delegate check", "kubectl --namespace " + obsNamespace + " logs deployment/" + obsFullname} {
		if !strings.Contains(missing.Annotations["description"], w) {
			t.Errorf("DelegateDelegationMissing's description does not say %q", w)
		}
	}

	// The metrics-reader ClusterRole, bound to the ServiceAccount named.
	var role rbacv1.ClusterRole
	convert(t, find(t, objs, "ClusterRole", "", obsFullname+":metrics-reader"), &role)
	if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].NonResourceURLs, []string{"/metrics"}) || !slices.Equal(role.Rules[0].Verbs, []string{"get"}) {
		t.Errorf("metrics-reader rules: %+v", role.Rules)
	}
	var binding rbacv1.ClusterRoleBinding
	convert(t, find(t, objs, "ClusterRoleBinding", "", obsFullname+":metrics-reader"), &binding)
	if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 ||
		binding.Subjects[0] != (rbacv1.Subject{Kind: "ServiceAccount", Name: "prometheus", Namespace: "monitoring"}) {
		t.Errorf("metrics-reader binding: %+v", binding)
	}

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		objs := render(t, obsRelease, chartDir, "--namespace", obsNamespace, "--set", "groupName=acme.example.com",
			"--set", "grafanaDashboard.enabled=true", "--set", "prometheusRule.enabled=true",
			"--set-string", "grafanaDashboard.labels.grafana_dashboard=true")
		// Both in the release namespace; the sidecar label's value replaced.
		if l := find(t, objs, "ConfigMap", obsNamespace, obsFullname+"-dashboard").GetLabels(); l["grafana_dashboard"] != "true" {
			t.Errorf("grafanaDashboard.labels must replace the sidecar label's value: %v", l)
		}
		find(t, objs, "PrometheusRule", obsNamespace, obsFullname)
		// The ClusterRole is always there; without a ServiceAccount, nothing binds it.
		find(t, objs, "ClusterRole", "", obsFullname+":metrics-reader")
		for _, o := range ofKindName(objs, "ClusterRoleBinding") {
			if o.GetName() == obsFullname+":metrics-reader" {
				t.Error("metrics-reader bound without serviceMonitor.prometheusServiceAccount")
			}
		}
	})
	t.Run("custom selector", func(t *testing.T) {
		t.Parallel()
		objs := render(t, obsRelease, chartDir, "--namespace", obsNamespace, "--set", "groupName=acme.example.com",
			"--set", "prometheusRule.enabled=true", "--set-string", `prometheusRule.selector=job="delegate"`)
		for _, r := range alertRules(t, find(t, objs, "PrometheusRule", obsNamespace, obsFullname)) {
			if strings.Contains(r.Expr, "service=") || !strings.Contains(r.Expr, `{job="delegate"`) {
				t.Errorf("%s: want only the selector job=\"delegate\": %s", r.Alert, r.Expr)
			}
		}
	})
	t.Run("rejected", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--set", "serviceMonitor.prometheusServiceAccount.name=prometheus"},
				"serviceMonitor.prometheusServiceAccount.namespace is required when its name is set"},
			{[]string{"--set-string", `prometheusRule.selector={job="x"}`}, "at '/prometheusRule/selector'"},
			{[]string{"--set", "grafanaDashboard.enabled=yes"}, "at '/grafanaDashboard/enabled': got string, want boolean"},
			{[]string{"--set", "prometheusRule.alerts=x"}, "additional properties 'alerts' not allowed"},
		} {
			_, stderr, err := runHelm(t, append([]string{"template", "x", chartDir, "--set", "groupName=acme.example.com"}, tc.args...)...)
			if err == nil || !strings.Contains(stderr, tc.want) {
				t.Errorf("helm template %q: want an error saying %q, got %v:\n%s", tc.args, tc.want, err, stderr)
			}
		}
	})
}

type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func alertRules(t *testing.T, pr *unstructured.Unstructured) []alertRule {
	t.Helper()
	var spec struct {
		Groups []struct {
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	b, err := json.Marshal(pr.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &spec); err != nil || len(spec.Groups) != 1 {
		t.Fatalf("PrometheusRule spec: %v, %d groups", err, len(spec.Groups))
	}
	return spec.Groups[0].Rules
}

// checkDashboard: every query reads the data source the dashboard lets the user pick, and selects the namespace
// and service variables, so that one Grafana can show each release.
func checkDashboard(t *testing.T, dash any) {
	t.Helper()
	d := dash.(map[string]any)
	var walk func(ps []any)
	targets := 0
	walk = func(ps []any) {
		for _, p := range ps {
			p := p.(map[string]any)
			if sub, ok := p["panels"].([]any); ok {
				walk(sub)
			}
			ts, _ := p["targets"].([]any)
			for _, tg := range ts {
				tg := tg.(map[string]any)
				targets++
				expr, _ := tg["expr"].(string)
				if ds, _ := tg["datasource"].(map[string]any); ds["uid"] != "${datasource}" {
					t.Errorf("panel %q: a target's datasource is %v, want the variable ${datasource}", p["title"], tg["datasource"])
				}
				if !strings.Contains(expr, `namespace=~"$namespace", service=~"$service"`) {
					t.Errorf("panel %q: %s does not select $namespace and $service", p["title"], expr)
				}
			}
		}
	}
	walk(d["panels"].([]any))
	if targets == 0 {
		t.Error("the dashboard has no queries")
	}
}

// renderObservability renders the PrometheusRule and the dashboard ConfigMap alone, each as helm prints it.
func renderObservability(t *testing.T, set ...string) (rules, dashboard string) {
	t.Helper()
	base := []string{"template", obsRelease, chartDir, "--namespace", obsNamespace, "--set", "groupName=acme.example.com",
		"--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true"}
	base = append(base, set...)
	for _, p := range []struct {
		template string
		out      *string
	}{{ruleTemplate, &rules}, {dashTemplate, &dashboard}} {
		out, stderr, err := runHelm(t, append(base, "--show-only", p.template)...)
		if err != nil {
			t.Fatalf("helm template --show-only %s: %v\n%s", p.template, err, stderr)
		}
		*p.out = out
	}
	return rules, dashboard
}

// exportedNamesFile writes metrics.Names(), the names of every sample the webhook exports, one a line.
func exportedNamesFile(t *testing.T) string {
	t.Helper()
	return writeTemp(t, t.TempDir(), "names.txt", strings.Join(metrics.Names(), "\n")+"\n")
}

func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runPromcheck runs promcheck -json with args, wanting exit status code, and returns its report.
func runPromcheck(t *testing.T, bin string, code int, args ...string) promcheckReport {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"-json"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("promcheck: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != code {
		t.Fatalf("promcheck %q: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", args, got, code, stdout.String(), stderr.String())
	}
	var rep promcheckReport
	if code != 2 {
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("promcheck -json: %v\n%s", err, stdout.String())
		}
	}
	t.Logf("promcheck %s: exit %d\n%s", strings.Join(args, " "), got, stderr.String())
	return rep
}

var promcheckBuild struct {
	once     sync.Once
	bin, log string
	err      error
}

// promcheckBinary builds hack/promcheck once per test binary, in its own directory so that its own go.mod (which
// requires github.com/prometheus/prometheus, the webhook's never does) applies, with -mod=readonly: a go.sum that
// misses a module fails the build rather than being rewritten.
func promcheckBinary(t *testing.T) string {
	t.Helper()
	promcheckBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "chart-promcheck-")
		if err != nil {
			promcheckBuild.err = err
			return
		}
		registerCleanup(func() { _ = os.RemoveAll(dir) })
		bin := filepath.Join(dir, "promcheck")
		cmd := exec.Command(goBinary(), "build", "-o", bin, ".")
		cmd.Dir = filepath.Join(repoRoot, promcheckDir)
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOWORK=off", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		promcheckBuild.bin, promcheckBuild.log, promcheckBuild.err = bin, string(out), err
	})
	if promcheckBuild.err != nil {
		t.Fatalf("building %s (cd %s && go build): %v\n%s", promcheckDir, promcheckDir, promcheckBuild.err, promcheckBuild.log)
	}
	return promcheckBuild.bin
}
