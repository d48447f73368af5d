//go:build integration

// Package chart tests the Helm chart (deploy/cert-manager-webhook-delegate) and the container image build: helm lint
// and template with the README's install command and with every option on, the values schema, the README against
// values.yaml, a server-side dry-run of everything the chart renders on a real kube-apiserver whose namespaces
// enforce the restricted Pod Security Standard, the webhook binary built exactly as the Dockerfile builds it,
// running unprivileged with the chart's arguments and RBAC, and reloading a rotated serving certificate.
//
// It needs HELM (make exports it; `make helm` builds it) and the TEST_ASSET_* control-plane binaries; without them
// the tests fail, they never skip.
package chart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

const (
	chartDir    = "deploy/cert-manager-webhook-delegate"
	fullValues  = "test/chart/testdata/full-values.yaml"
	installFile = chartDir + "/examples/install.sh"
	issuerFile  = chartDir + "/examples/clusterissuer.yaml"
	// The release name and namespace the full-featured values are rendered with.
	fullRelease   = "full"
	fullNamespace = "dns-webhooks"
)

// repoRoot is the repository's root: every path in these tests is relative to it, and helm runs there so that the
// README's install command (which names the chart by its path in the repository) works as written.
var repoRoot string

func TestMain(m *testing.M) {
	// envtest logs through controller-runtime; without a logger it prints a stack trace on first use.
	ctrllog.SetLogger(klog.NewKlogr())
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	code := m.Run()
	runCleanups()
	os.Exit(code)
}

// helmBinary returns $HELM, failing the test when it is unset or not executable.
func helmBinary(t *testing.T) string {
	t.Helper()
	h := os.Getenv("HELM")
	if h == "" {
		t.Fatal("HELM is not set: run the tests through make (make test or make chart-test), which builds Helm " +
			"and exports HELM, or export HELM=/path/to/helm")
	}
	st, err := os.Stat(h)
	if err != nil {
		t.Fatalf("HELM=%s: %v (make helm builds it)", h, err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("HELM=%s is not an executable file", h)
	}
	return h
}

// runHelm runs helm in the repository root and returns its stdout and stderr; err is non-nil when it exits non-zero.
func runHelm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Dir = repoRoot
	// Keep Helm away from the user's repositories, caches and plugins.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config",
		"HELM_DATA_HOME="+home+"/data")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// installArgs reads the chart README's install command from examples/install.sh and returns its arguments after
// "helm install", so the tests render exactly what the README tells users to run.
func installArgs(t *testing.T) []string {
	t.Helper()
	line := strings.TrimSpace(readFile(t, installFile))
	if strings.Contains(line, "\n") {
		t.Fatalf("%s must hold one command line, got:\n%s", installFile, line)
	}
	f := strings.Fields(line)
	if len(f) < 4 || f[0] != "helm" || f[1] != "install" {
		t.Fatalf("%s: want `helm install <release> <chart> ...`, got %q", installFile, line)
	}
	for i, a := range f {
		// A word wholly in single quotes is taken literally by every shell (the README quotes a --set value
		// holding braces); anything else that a shell would interpret is refused.
		if len(a) >= 2 && a[0] == '\'' && a[len(a)-1] == '\'' {
			a = a[1 : len(a)-1]
			f[i] = a
		}
		if strings.ContainsAny(a, `"'$\`) {
			t.Fatalf("%s: argument %q needs a shell to interpret it; keep the command free of quoting other than "+
				"single quotes around a whole word", installFile, a)
		}
	}
	return f[2:]
}

// renderInstall renders the chart with the README's install command ("helm install" becomes "helm template").
func renderInstall(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	return render(t, installArgs(t)...)
}

// renderFull renders the chart with every optional feature on.
func renderFull(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	return render(t, fullRelease, chartDir, "--namespace", fullNamespace, "--values", fullValues)
}

func render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, stderr, err := runHelm(t, append([]string{"template"}, args...)...)
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	if strings.TrimSpace(stderr) != "" {
		t.Fatalf("helm template %s printed warnings:\n%s", strings.Join(args, " "), stderr)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatalf("helm template %s: %v", strings.Join(args, " "), err)
	}
	return objs
}

// decodeObjects splits a multi-document YAML stream into objects, skipping empty documents.
func decodeObjects(s string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(s)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, fmt.Errorf("decoding %q: %w", doc, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		objs = append(objs, u)
	}
}

// find returns the one object of the given kind and name, failing the test otherwise.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	var found *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			if found != nil {
				t.Fatalf("two %s %s/%s rendered", kind, namespace, name)
			}
			found = o
		}
	}
	if found == nil {
		t.Fatalf("no %s %s/%s rendered; rendered: %s", kind, namespace, name, names(objs))
	}
	return found
}

// ofKind returns the objects of one kind.
func ofKind(objs []*unstructured.Unstructured, gk schema.GroupKind) []*unstructured.Unstructured {
	var r []*unstructured.Unstructured
	for _, o := range objs {
		if o.GroupVersionKind().GroupKind() == gk {
			r = append(r, o)
		}
	}
	return r
}

func names(objs []*unstructured.Unstructured) string {
	var s []string
	for _, o := range objs {
		n := o.GetName()
		if o.GetNamespace() != "" {
			n = o.GetNamespace() + "/" + n
		}
		s = append(s, o.GetKind()+" "+n)
	}
	return strings.Join(s, ", ")
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
