//go:build integration

package chart

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestHelmLint(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"install": {"--set", "groupName=acme.example.com"},
		"full":    {"--values", fullValues},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, stderr, err := runHelm(t, append([]string{"lint", "--strict", chartDir}, args...)...)
			if err != nil {
				t.Fatalf("helm lint --strict: %v\n%s%s", err, out, stderr)
			}
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "[WARNING]") || strings.HasPrefix(l, "[ERROR]") {
					t.Errorf("helm lint: %s", l)
				}
			}
		})
	}
}

// TestRenderInstall checks what the README's install command renders, beyond what the API server validates: the
// names that tie the objects together, the serving certificate chain, and least-privilege RBAC.
func TestRenderInstall(t *testing.T) {
	t.Parallel()
	args := installArgs(t)
	release, namespace := args[0], flagValue(t, args, "--namespace")
	objs := renderInstall(t)
	checkCommon(t, objs, release)
	checkWiring(t, objs, wiring{
		fullname: release, namespace: namespace, groupName: "acme.example.com",
		image:            "ghcr.io/delegate01/cert-manager-webhook-delegate:" + chartAppVersion(t),
		replicas:         2,
		secretNamespaces: []string{"cert-manager"},
	})

	dep := deployment(t, objs, namespace, release)
	checkEnv(t, dep, map[string]string{
		"GROUP_NAME": "acme.example.com",
		// The README installs with the fence on.
		"ALLOWED_ZONES":           "validation.example.org",
		"REQUIRE_SECRET_LABEL":    "true",
		"DNS_CHECK_AUTHORITATIVE": "true",
		"REPLICAS":                "2",
	})
	checkShutdown(t, dep, 5, 45)
	pdb := find(t, objs, "PodDisruptionBudget", namespace, release)
	if v, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "maxUnavailable"); fmt.Sprint(v) != "1" {
		t.Errorf("default PodDisruptionBudget: want maxUnavailable 1, got %v", v)
	}
	for _, kind := range []string{"ServiceMonitor", "NetworkPolicy", "PrometheusRule", "ConfigMap"} {
		if got := ofKind(objs, schema.GroupKind{Group: groupOf(kind), Kind: kind}); len(got) != 0 {
			t.Errorf("%s rendered by default", kind)
		}
	}
}

// TestRenderFull checks the full-featured values reach the objects they configure.
func TestRenderFull(t *testing.T) {
	t.Parallel()
	objs := renderFull(t)
	const fullname = "delegate-webhook"
	checkCommon(t, objs, fullRelease)
	checkWiring(t, objs, wiring{
		fullname: fullname, namespace: fullNamespace, groupName: "acme.delegated.example.com",
		image: "registry.example.com/mirror/delegate01/cert-manager-webhook-delegate:v0.1.0@sha256:" +
			"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		replicas:         3,
		secretNamespaces: []string{"cert-manager", "team-a"},
		secretNames:      []string{"cloudflare-validation", "tsig"},
		prometheus:       &rbacv1.Subject{Kind: "ServiceAccount", Name: "prometheus-k8s", Namespace: "monitoring"},
	})

	dep := deployment(t, objs, fullNamespace, fullname)
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	checkEnv(t, dep, map[string]string{
		"GROUP_NAME":              "acme.delegated.example.com",
		"ALLOWED_ZONES":           "validation.example.org,Delegated.Example.NET.",
		"REQUIRE_SECRET_LABEL":    "false",
		"DNS_CHECK_NAMESERVERS":   "10.96.0.10:53,[fd00::10]:53",
		"DNS_CHECK_AUTHORITATIVE": "false",
		"REPLICAS":                "3",
		"HTTPS_PROXY":             "http://proxy.example.com:3128",
		"NO_PROXY":                ".svc,.cluster.local,10.96.0.1",
	})
	// The bound exactly: preStopSeconds + 31.
	checkShutdown(t, dep, 10, 41)
	if !slices.Contains(c.Args, "--tls-min-version=VersionTLS13") || !slices.Contains(c.Args, "--v=4") ||
		!slices.Contains(c.Args, "--secure-port=8443") {
		t.Errorf("args: extraArgs, logLevel or securePort missing: %q", c.Args)
	}
	if c.Ports[0].ContainerPort != 8443 {
		t.Errorf("containerPort: want 8443, got %d", c.Ports[0].ContainerPort)
	}
	if spec.PriorityClassName != "system-cluster-critical" || len(spec.Tolerations) != 1 || spec.Affinity == nil ||
		spec.NodeSelector["node-role.example.com/infra"] != "true" || len(spec.ImagePullSecrets) != 1 {
		t.Errorf("scheduling values not applied: %+v", spec)
	}
	if c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("pullPolicy: want Always, got %s", c.ImagePullPolicy)
	}
	// The chart fills in a labelSelector only where the user gave none.
	tsc := spec.TopologySpreadConstraints
	if len(tsc) != 2 || tsc[0].LabelSelector == nil || tsc[0].LabelSelector.MatchLabels["app.kubernetes.io/name"] != "delegate" ||
		tsc[1].LabelSelector.MatchLabels["app.kubernetes.io/instance"] != "full" ||
		len(tsc[1].LabelSelector.MatchLabels) != 1 {
		t.Errorf("topologySpreadConstraints: %+v", tsc)
	}
	if dep.Spec.Template.Labels["team"] != "platform" || dep.Spec.Template.Annotations["example.com/owner"] != "platform" {
		t.Errorf("podLabels/podAnnotations not applied: %v %v", dep.Spec.Template.Labels, dep.Spec.Template.Annotations)
	}
	pdb := find(t, objs, "PodDisruptionBudget", fullNamespace, fullname)
	if v, _, _ := unstructured.NestedString(pdb.Object, "spec", "minAvailable"); v != "50%" {
		t.Errorf("PodDisruptionBudget minAvailable: want 50%%, got %q", v)
	}
	sm := find(t, objs, "ServiceMonitor", fullNamespace, fullname)
	if l := sm.GetLabels()["release"]; l != "prometheus" {
		t.Errorf("ServiceMonitor labels: %v", sm.GetLabels())
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	ep := eps[0].(map[string]any)
	if ep["port"] != "https" || ep["interval"] != "30s" || ep["relabelings"] == nil {
		t.Errorf("ServiceMonitor endpoint: %v", ep)
	}
	if tls := ep["tlsConfig"].(map[string]any); tls["serverName"] != fullname+"."+fullNamespace+".svc" {
		t.Errorf("ServiceMonitor tlsConfig: %v", tls)
	}
	if n := len(ofKind(objs, schema.GroupKind{Group: "networking.k8s.io", Kind: "NetworkPolicy"})); n != 2 {
		t.Errorf("want 2 NetworkPolicies, got %d", n)
	}
}

// TestRenderValues: each fence, DNS and shutdown value renders as values.yaml documents it, one at a time from the
// defaults (the environment is compared whole, so a variable that should be absent is).
func TestRenderValues(t *testing.T) {
	t.Parallel()
	defaults := map[string]string{
		"GROUP_NAME":              "acme.example.com",
		"REQUIRE_SECRET_LABEL":    "true",
		"DNS_CHECK_AUTHORITATIVE": "true",
		"REPLICAS":                "2",
	}
	with := func(kv ...string) map[string]string {
		m := maps.Clone(defaults)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	for _, tc := range []struct {
		name           string
		args           []string
		env            map[string]string
		preStop, grace int64
	}{
		{"one allowed zone", []string{"--set", "allowedZones={validation.example.org}"},
			with("ALLOWED_ZONES", "validation.example.org"), 5, 45},
		{"two allowed zones", []string{"--set-json", `allowedZones=["a.example.org","_acme.b.example.net."]`},
			with("ALLOWED_ZONES", "a.example.org,_acme.b.example.net."), 5, 45},
		{"empty allowedZones: no fence, no variable", []string{"--set-json", "allowedZones=[]"}, defaults, 5, 45},
		{"requireSecretLabel false", []string{"--set", "requireSecretLabel=false"},
			with("REQUIRE_SECRET_LABEL", "false"), 5, 45},
		// DNS_CHECK_AUTHORITATIVE is read on its own: it must reach the webhook without nameservers.
		{"authoritative false without nameservers", []string{"--set", "dnsCheck.authoritative=false"},
			with("DNS_CHECK_AUTHORITATIVE", "false"), 5, 45},
		{"nameservers", []string{"--set", "dnsCheck.nameservers={10.96.0.10:53}"},
			with("DNS_CHECK_NAMESERVERS", "10.96.0.10:53"), 5, 45},
		{"replicaCount", []string{"--set", "replicaCount=5"}, with("REPLICAS", "5"), 5, 45},
		// No pod runs with 0 replicas, but one scaled up by hand must not divide by zero.
		{"replicaCount 0", []string{"--set", "replicaCount=0"}, with("REPLICAS", "1"), 5, 45},
		{"no preStop pause", []string{"--set", "shutdown.preStopSeconds=0"}, defaults, 0, 45},
		{"longer pause, grace at the bound", []string{"--set", "shutdown.preStopSeconds=14"}, defaults, 14, 45},
		{"longer grace", []string{"--set", "shutdown.gracePeriodSeconds=120"}, defaults, 5, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, append([]string{"x", chartDir, "--namespace", "webhooks", "--set", "groupName=acme.example.com"}, tc.args...)...)
			dep := deployment(t, objs, "webhooks", "x-cert-manager-webhook-delegate")
			checkEnv(t, dep, tc.env)
			checkShutdown(t, dep, tc.preStop, tc.grace)
		})
	}
}

// TestSchemaRejects: bad values fail the render with a message that says what is wrong.
func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no groupName", nil, []string{"groupName is required", "--set groupName=acme.example.com"}},
		{"empty groupName", []string{"--set", "groupName="}, []string{"groupName is required"}},
		{"malformed groupName", []string{"--set", "groupName=Not_A.Group"}, []string{`groupName "Not_A.Group" is not a valid API group`}},
		{"groupName without a dot", []string{"--set", "groupName=acme"}, []string{`groupName "acme" is not a valid API group`}},
		{"replicaCount string", []string{"--set", "groupName=acme.example.com", "--set", "replicaCount=two"},
			[]string{"values don't meet the specifications of the schema", "at '/replicaCount': got string, want integer"}},
		{"unknown top-level value", []string{"--set", "groupName=acme.example.com", "--set", "replicas=3"},
			[]string{"additional properties 'replicas' not allowed"}},
		{"unknown nested value", []string{"--set", "groupName=acme.example.com", "--set", "image.name=x"},
			[]string{"at '/image'", "additional properties 'name' not allowed"}},
		{"privileged port", []string{"--set", "groupName=acme.example.com", "--set", "securePort=443"},
			[]string{"at '/securePort'", "minimum"}},
		{"both PDB bounds", []string{"--set", "groupName=acme.example.com", "--set", "podDisruptionBudget.minAvailable=1",
			"--set", "podDisruptionBudget.maxUnavailable=1"}, []string{"set minAvailable or maxUnavailable, not both"}},
		{"bad digest", []string{"--set", "groupName=acme.example.com", "--set", "image.digest=latest"},
			[]string{"at '/image/digest'"}},
		{"allowedZones not a list", []string{"--set", "groupName=acme.example.com", "--set", "allowedZones=a.b"},
			[]string{"at '/allowedZones': got string, want array"}},
		{"allowedZones wildcard", []string{"--set", "groupName=acme.example.com", "--set", "allowedZones={*.example.org}"},
			[]string{"at '/allowedZones/0'", "does not match pattern"}},
		{"allowedZones root", []string{"--set", "groupName=acme.example.com", "--set-json", `allowedZones=["."]`},
			[]string{"at '/allowedZones/0'", "does not match pattern"}},
		// A comma would split one zone into two in ALLOWED_ZONES.
		{"allowedZones comma", []string{"--set", "groupName=acme.example.com", "--set-json", `allowedZones=["a.example,b.example"]`},
			[]string{"at '/allowedZones/0'", "does not match pattern"}},
		{"allowedZones space", []string{"--set", "groupName=acme.example.com", "--set-json", `allowedZones=["exa mple.org"]`},
			[]string{"at '/allowedZones/0'", "does not match pattern"}},
		{"allowedZones URL", []string{"--set", "groupName=acme.example.com", "--set-json", `allowedZones=["https://example.org"]`},
			[]string{"at '/allowedZones/0'", "does not match pattern"}},
		{"allowedZones duplicate", []string{"--set", "groupName=acme.example.com", "--set", "allowedZones={a.example,a.example}"},
			[]string{"at '/allowedZones'", "items at 0 and 1 are equal"}},
		{"requireSecretLabel string", []string{"--set", "groupName=acme.example.com", "--set", "requireSecretLabel=yes"},
			[]string{"at '/requireSecretLabel': got string, want boolean"}},
		{"authoritative string", []string{"--set", "groupName=acme.example.com", "--set", "dnsCheck.authoritative=yes"},
			[]string{"at '/dnsCheck/authoritative': got string, want boolean"}},
		{"grace below the call deadline", []string{"--set", "groupName=acme.example.com", "--set", "shutdown.gracePeriodSeconds=30"},
			[]string{"at '/shutdown/gracePeriodSeconds'", "minimum"}},
		{"grace below pause plus deadline", []string{"--set", "groupName=acme.example.com", "--set", "shutdown.gracePeriodSeconds=35"},
			[]string{"shutdown.gracePeriodSeconds (35) must be at least shutdown.preStopSeconds + 31 (36)"}},
		{"pause longer than grace allows", []string{"--set", "groupName=acme.example.com", "--set", "shutdown.preStopSeconds=15"},
			[]string{"shutdown.gracePeriodSeconds (45) must be at least shutdown.preStopSeconds + 31 (46)"}},
		{"negative pause", []string{"--set", "groupName=acme.example.com", "--set", "shutdown.preStopSeconds=-1"},
			[]string{"at '/shutdown/preStopSeconds'", "minimum"}},
		{"fractional pause", []string{"--set", "groupName=acme.example.com", "--set", "shutdown.preStopSeconds=1.5"},
			[]string{"at '/shutdown/preStopSeconds'", "want integer"}},
		{"unknown shutdown value", []string{"--set", "groupName=acme.example.com", "--set", "shutdown.delaySeconds=5"},
			[]string{"at '/shutdown'", "additional properties 'delaySeconds' not allowed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, stderr, err := runHelm(t, append([]string{"template", "x", chartDir}, tc.args...)...)
			if err == nil {
				t.Fatalf("helm template %s succeeded, want an error", strings.Join(tc.args, " "))
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error does not say %q:\n%s", w, stderr)
				}
			}
		})
	}
}

type wiring struct {
	fullname, namespace, groupName, image string
	replicas                              int32
	secretNamespaces, secretNames         []string
	// prometheus is the ServiceAccount serviceMonitor.prometheusServiceAccount binds the metrics-reader ClusterRole
	// to; nil: no binding.
	prometheus *rbacv1.Subject
}

// checkCommon: every object carries the app.kubernetes.io labels, and namespaced ones name their namespace.
func checkCommon(t *testing.T, objs []*unstructured.Unstructured, release string) {
	t.Helper()
	for _, o := range objs {
		l := o.GetLabels()
		for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
			"app.kubernetes.io/managed-by", "app.kubernetes.io/component", "helm.sh/chart"} {
			if l[k] == "" {
				t.Errorf("%s %s: label %s missing", o.GetKind(), o.GetName(), k)
			}
		}
		if l["app.kubernetes.io/instance"] != release {
			t.Errorf("%s %s: app.kubernetes.io/instance=%q, want %q", o.GetKind(), o.GetName(), l["app.kubernetes.io/instance"], release)
		}
		if len(o.GetName()) > 63 && o.GroupVersionKind().Group != "rbac.authorization.k8s.io" && o.GetKind() != "APIService" {
			t.Errorf("%s %s: name longer than 63 characters", o.GetKind(), o.GetName())
		}
	}
}

// checkWiring follows the references between the rendered objects: Deployment → Secret ← Certificate → CA Issuer
// → CA Certificate → self-signed Issuer; APIService → Service → pods; RBAC subjects → ServiceAccounts.
func checkWiring(t *testing.T, objs []*unstructured.Unstructured, w wiring) {
	t.Helper()
	ns := w.namespace
	dep := deployment(t, objs, ns, w.fullname)
	spec := dep.Spec.Template.Spec
	if *dep.Spec.Replicas != w.replicas {
		t.Errorf("replicas: want %d, got %d", w.replicas, *dep.Spec.Replicas)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.Image != w.image {
		t.Errorf("image: want %q, got %q", w.image, c.Image)
	}
	if c.Env[0].Name != "GROUP_NAME" || c.Env[0].Value != w.groupName {
		t.Errorf("GROUP_NAME: want %q, got %+v", w.groupName, c.Env[0])
	}
	for _, a := range []string{"--tls-cert-file=/tls/tls.crt", "--tls-private-key-file=/tls/tls.key", "--cert-dir=/tmp"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("args: %s missing from %q", a, c.Args)
		}
	}
	// Probes and the Service reach the port the server listens on.
	if c.Ports[0].Name != "https" || c.LivenessProbe.HTTPGet.Port.StrVal != "https" ||
		c.ReadinessProbe.HTTPGet.Port.StrVal != "https" || c.LivenessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
		t.Errorf("probes must use the https port over HTTPS: %+v %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if !slices.Contains(c.Args, fmt.Sprintf("--secure-port=%d", c.Ports[0].ContainerPort)) {
		t.Errorf("containerPort %d is not the --secure-port in %q", c.Ports[0].ContainerPort, c.Args)
	}

	// Restricted pod security, and a token only where the webhook needs it.
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("pod must not automount a token")
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext is not restricted: %+v", sc)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["tmp"] != "/tmp" || mounts["tls"] != "/tls" || mounts["kube-api-access"] != "/var/run/secrets/kubernetes.io/serviceaccount" {
		t.Errorf("volume mounts: %v", mounts)
	}
	var tlsSecret string
	for _, v := range spec.Volumes {
		switch v.Name {
		case "tls":
			tlsSecret = v.Secret.SecretName
		case "tmp":
			if v.EmptyDir == nil {
				t.Error("tmp must be an emptyDir")
			}
		}
	}

	sa := find(t, objs, "ServiceAccount", ns, spec.ServiceAccountName)
	if v, ok, _ := unstructured.NestedBool(sa.Object, "automountServiceAccountToken"); !ok || v {
		t.Error("ServiceAccount must set automountServiceAccountToken: false")
	}

	// The serving certificate chain.
	serving := find(t, objs, "Certificate", ns, tlsSecret)
	if s, _, _ := unstructured.NestedString(serving.Object, "spec", "secretName"); s != tlsSecret {
		t.Errorf("serving Certificate writes %q, the Deployment mounts %q", s, tlsSecret)
	}
	svc := find(t, objs, "Service", ns, w.fullname)
	dns, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "dnsNames")
	if want := []string{svc.GetName(), svc.GetName() + "." + ns, svc.GetName() + "." + ns + ".svc"}; !slices.Equal(dns, want) {
		t.Errorf("serving Certificate dnsNames: want %q, got %q", want, dns)
	}
	caIssuerName, _, _ := unstructured.NestedString(serving.Object, "spec", "issuerRef", "name")
	caIssuer := find(t, objs, "Issuer", ns, caIssuerName)
	caSecret, _, _ := unstructured.NestedString(caIssuer.Object, "spec", "ca", "secretName")
	var caCert *unstructured.Unstructured
	for _, o := range ofKind(objs, schema.GroupKind{Group: "cert-manager.io", Kind: "Certificate"}) {
		if s, _, _ := unstructured.NestedString(o.Object, "spec", "secretName"); s == caSecret {
			caCert = o
		}
	}
	if caCert == nil {
		t.Fatalf("no Certificate writes the CA Issuer's Secret %q", caSecret)
	}
	if isCA, _, _ := unstructured.NestedBool(caCert.Object, "spec", "isCA"); !isCA {
		t.Error("the CA Certificate must set isCA")
	}
	rootName, _, _ := unstructured.NestedString(caCert.Object, "spec", "issuerRef", "name")
	root := find(t, objs, "Issuer", ns, rootName)
	if _, ok, _ := unstructured.NestedMap(root.Object, "spec", "selfSigned"); !ok {
		t.Errorf("Issuer %s must be selfSigned", rootName)
	}

	// The APIService: named for the group, pointing at the Service, CA injected from the serving Certificate.
	api := find(t, objs, "APIService", "", "v1alpha1."+w.groupName)
	if got := api.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != ns+"/"+serving.GetName() {
		t.Errorf("inject-ca-from: want %s/%s, got %q", ns, serving.GetName(), got)
	}
	ref, _, _ := unstructured.NestedMap(api.Object, "spec", "service")
	if ref["name"] != svc.GetName() || ref["namespace"] != ns || fmt.Sprint(ref["port"]) != "443" {
		t.Errorf("APIService service: %v", ref)
	}
	if g, _, _ := unstructured.NestedString(api.Object, "spec", "group"); g != w.groupName {
		t.Errorf("APIService group: %q", g)
	}
	sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	for k, v := range sel {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the pods' labels", k, v)
		}
	}

	checkRBAC(t, objs, w, spec.ServiceAccountName)
}

// checkRBAC: exactly the grants the chart documents, to exactly the identities it names.
func checkRBAC(t *testing.T, objs []*unstructured.Unstructured, w wiring, sa string) {
	t.Helper()
	webhook := rbacv1.Subject{Kind: "ServiceAccount", Name: sa, Namespace: w.namespace}
	certManager := rbacv1.Subject{Kind: "ServiceAccount", Name: "cert-manager", Namespace: "cert-manager"}

	roles := map[string][]rbacv1.PolicyRule{} // "namespace/Kind/name" → rules
	for _, o := range objs {
		if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
			continue
		}
		var r rbacv1.ClusterRole
		convert(t, o, &r)
		for _, rule := range r.Rules {
			if slices.Contains(rule.Verbs, "*") || slices.Contains(rule.Resources, "*") || slices.Contains(rule.APIGroups, "*") {
				t.Errorf("%s %s: wildcard rule %+v", o.GetKind(), o.GetName(), rule)
			}
			if o.GetKind() == "ClusterRole" && slices.Contains(rule.Resources, "secrets") {
				t.Errorf("ClusterRole %s grants Secrets cluster-wide", o.GetName())
			}
		}
		roles[o.GetNamespace()+"/"+o.GetKind()+"/"+o.GetName()] = r.Rules
	}

	type grant struct {
		namespace, kind, role string
		subject               rbacv1.Subject
	}
	var got []grant
	for _, o := range objs {
		if o.GetKind() != "RoleBinding" && o.GetKind() != "ClusterRoleBinding" {
			continue
		}
		var b rbacv1.RoleBinding
		convert(t, o, &b)
		if len(b.Subjects) != 1 {
			t.Errorf("%s %s: want one subject, got %+v", o.GetKind(), o.GetName(), b.Subjects)
			continue
		}
		got = append(got, grant{o.GetNamespace(), b.RoleRef.Kind, b.RoleRef.Name, b.Subjects[0]})
	}
	want := []grant{
		{"", "ClusterRole", "system:auth-delegator", webhook},
		{"kube-system", "Role", "extension-apiserver-authentication-reader", webhook},
		{"", "ClusterRole", w.fullname + ":flowcontrol", webhook},
		{"", "ClusterRole", w.fullname + ":domain-solver", certManager},
		{w.namespace, "Role", w.fullname + ":leases", webhook},
		{"", "ClusterRole", w.fullname + ":namespace-reader", webhook},
	}
	for _, ns := range w.secretNamespaces {
		want = append(want, grant{ns, "Role", w.fullname + ":secret-reader", webhook})
	}
	if w.prometheus != nil {
		want = append(want, grant{"", "ClusterRole", w.fullname + ":metrics-reader", *w.prometheus})
	}
	sortGrants := func(g []grant) {
		slices.SortFunc(g, func(a, b grant) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	}
	sortGrants(got)
	sortGrants(want)
	if !slices.Equal(got, want) {
		t.Errorf("bindings:\n got %+v\nwant %+v", got, want)
	}

	wantRules := map[string][]rbacv1.PolicyRule{
		"/ClusterRole/" + w.fullname + ":domain-solver": {{APIGroups: []string{w.groupName}, Resources: []string{"delegate"}, Verbs: []string{"create"}}},
		"/ClusterRole/" + w.fullname + ":flowcontrol": {{APIGroups: []string{"flowcontrol.apiserver.k8s.io"},
			Resources: []string{"flowschemas", "prioritylevelconfigurations"}, Verbs: []string{"list", "watch"}}},
		// Leases in the webhook's own namespace only; create cannot be narrowed by name.
		w.namespace + "/Role/" + w.fullname + ":leases": {{APIGroups: []string{"coordination.k8s.io"},
			Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}}},
		// The namespaces whose Secrets the webhook reads, and no other.
		"/ClusterRole/" + w.fullname + ":namespace-reader": {{APIGroups: []string{""}, Resources: []string{"namespaces"},
			Verbs: []string{"get"}, ResourceNames: w.secretNamespaces}},
		// Scraping: always installed, bound only to serviceMonitor.prometheusServiceAccount.
		"/ClusterRole/" + w.fullname + ":metrics-reader": {{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}
	for _, ns := range w.secretNamespaces {
		wantRules[ns+"/Role/"+w.fullname+":secret-reader"] = []rbacv1.PolicyRule{{APIGroups: []string{""},
			Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}, ResourceNames: w.secretNames}}
	}
	if len(roles) != len(wantRules) {
		t.Errorf("roles: want %d, got %d: %v", len(wantRules), len(roles), roles)
	}
	for k, want := range wantRules {
		if got := roles[k]; fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
			t.Errorf("%s rules:\n got %+v\nwant %+v", k, got, want)
		}
	}
}

// checkEnv compares the webhook container's environment with want (name → value), whole: nothing missing, nothing
// extra. POD_NAMESPACE and GOMAXPROCS come from the downward API and are checked as such.
func checkEnv(t *testing.T, d *appsv1.Deployment, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if _, dup := got[e.Name]; dup {
			t.Errorf("env %s set twice", e.Name)
		}
		switch e.Name {
		case "POD_NAMESPACE":
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
				t.Errorf("POD_NAMESPACE: want the downward API's metadata.namespace, got %+v", e)
			}
		case "GOMAXPROCS":
			if e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.cpu" {
				t.Errorf("GOMAXPROCS: want the CPU limit, got %+v", e)
			}
		default:
			if e.ValueFrom != nil {
				t.Errorf("env %s: want a value, got %+v", e.Name, e.ValueFrom)
			}
		}
		got[e.Name] = e.Value
	}
	want = maps.Clone(want)
	want["POD_NAMESPACE"], want["GOMAXPROCS"] = "", ""
	if !maps.Equal(got, want) {
		t.Errorf("env:\n got %v\nwant %v", got, want)
	}
}

// checkShutdown: the preStop pause (none for 0) and the grace period.
func checkShutdown(t *testing.T, d *appsv1.Deployment, preStop, grace int64) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g != grace {
		t.Errorf("terminationGracePeriodSeconds: want %d, got %v", grace, g)
	}
	lc := spec.Containers[0].Lifecycle
	switch {
	case preStop == 0 && lc != nil:
		t.Errorf("lifecycle: want none without a pause, got %+v", lc)
	case preStop == 0:
	case lc == nil || lc.PreStop == nil || lc.PreStop.Sleep == nil || lc.PreStop.Sleep.Seconds != preStop ||
		lc.PreStop.Exec != nil || lc.PreStop.HTTPGet != nil || lc.PostStart != nil:
		t.Errorf("lifecycle: want only preStop.sleep.seconds %d, got %+v", preStop, lc)
	}
}

func deployment(t *testing.T, objs []*unstructured.Unstructured, namespace, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	convert(t, find(t, objs, "Deployment", namespace, name), &d)
	return &d
}

func convert(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
}

func flagValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	t.Fatalf("%s not in %q", flag, args)
	return ""
}

func groupOf(kind string) string {
	switch kind {
	case "ServiceMonitor", "PrometheusRule":
		return "monitoring.coreos.com"
	case "NetworkPolicy":
		return "networking.k8s.io"
	}
	return ""
}

// chartAppVersion reads appVersion from Chart.yaml: the default image tag.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	for _, l := range strings.Split(readFile(t, chartDir+"/Chart.yaml"), "\n") {
		if v, ok := strings.CutPrefix(l, "appVersion:"); ok {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	t.Fatal("Chart.yaml has no appVersion")
	return ""
}
