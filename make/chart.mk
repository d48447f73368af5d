# The Helm chart (deploy/cert-manager-webhook-delegate) and the container image. Included by the Makefile.

HELM_VERSION := v3.22.0
# Helm's release build stamps the Kubernetes version it was built against (client-go v0.37 for v3.22.0) as the
# default .Capabilities.KubeVersion and the lint deprecation baseline; `go install` alone would leave v1.20, which
# fails the chart's kubeVersion constraint.
HELM_KUBE_MINOR := 37
export HELM := $(TOOLS)/helm-$(HELM_VERSION)

CHART := deploy/cert-manager-webhook-delegate
# The groupName the chart is linted with: the one the chart README's install command uses.
CHART_LINT_GROUP := acme.example.com

# `make test` builds Helm first; test/chart fails (never skips) without it.
TEST_DEPS += helm

.PHONY: helm
helm: $(HELM) ## Build the pinned Helm (HELM_VERSION) from the Go module proxy into _bin/tools/ (once).

$(HELM):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) CGO_ENABLED=0 $(GO) install -trimpath -ldflags "-s -w \
	  -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	  -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(HELM_KUBE_MINOR) \
	  -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(HELM_KUBE_MINOR)" \
	  helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(TOOLS)/helm $@

.PHONY: helm-lint
# The full values turn every optional feature on: ServiceMonitor and its metrics-reader binding, Grafana dashboard,
# PrometheusRule, NetworkPolicies, PodDisruptionBudget (test/chart renders and dry-runs the same file).
helm-lint: $(HELM) ## Lint the Helm chart (strict), with its default values and with every optional feature on.
	$(HELM) lint --strict $(CHART) --set groupName=$(CHART_LINT_GROUP)
	$(HELM) lint --strict $(CHART) --values test/chart/testdata/full-values.yaml

.PHONY: chart-test
chart-test: testbin $(HELM) ## Run the chart and image tests (helm, schema, README, server-side dry-run, static binary).
	GO=$(GO) LOG=$(BIN)/chart.log ./hack/run-integration.sh ./test/chart/

.PHONY: chart-docs
chart-docs: ## Regenerate the chart README's "Values" section from the comments in values.yaml.
	UPDATE_CHART_README=1 $(GO) test -tags integration -count=1 -run '^TestReadmeDocumentsEveryValue$$' ./test/chart/

.PHONY: image
image: ## Build the container image IMAGE:VERSION from the Dockerfile (needs a Docker engine).
	@command -v docker >/dev/null 2>&1 || { echo "make image: docker is not installed; install Docker (or build on a machine with a Docker engine)" >&2; exit 1; }
	@docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || { echo "make image: no Docker engine is reachable (docker version cannot reach the daemon at $${DOCKER_HOST:-unix:///var/run/docker.sock}); start one or set DOCKER_HOST" >&2; exit 1; }
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) .
