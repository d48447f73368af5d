# cert-manager-webhook-delegate. `make help` lists the targets.
#
# Everything a target needs is built from the Go module proxy into the ignored _bin/ (first run: several minutes,
# later runs reuse it) or installed with apt (BIND, only when running as root).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO ?= go
# The one toolchain every build uses: machines start on their own Go with GOTOOLCHAIN=local, and go1.27.3 fixes
# the standard library's HTTP/2 server vulnerabilities that go1.26.8 has (govulncheck in `make lint`). The go
# command fetches it from the module proxy on first use.
export GOTOOLCHAIN := go1.27.3
BIN := $(CURDIR)/_bin
TOOLS := $(BIN)/tools

# Pinned tool versions.
GOLANGCI_LINT_VERSION := v2.15.0
KUBE_VERSION := v1.36.2
STAGING_VERSION := v0.36.2
ETCD_VERSION := v3.6.16

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE ?= ghcr.io/delegate01/cert-manager-webhook-delegate

# cert-manager's test/apiserver panics at package init unless these are set before the test binary starts.
export TEST_ASSET_ETCD := $(BIN)/etcd
export TEST_ASSET_KUBE_APISERVER := $(BIN)/kube-apiserver
export TEST_ASSET_KUBECTL := $(BIN)/kubectl

GOLANGCI_LINT := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)

# Targets and test prerequisites contributed by other parts of the tree (chart, e2e).
TEST_DEPS :=
-include make/*.mk

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: ## Issue a real certificate for example.com + *.example.com through CNAME delegation, in process (Go only).
	$(GO) run ./cmd/demo

.PHONY: build
build: ## Build the webhook binary into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/cert-manager-webhook-delegate .

.PHONY: test
test: testbin bind $(TEST_DEPS) ## Run every test: unit (-race), cert-manager's strict conformance suite, integration.
	$(GO) test -race -count=1 ./...
	GO=$(GO) LOG=$(BIN)/integration.log ./hack/run-integration.sh ./test/...
	$(MAKE) fuzz FUZZTIME=60s

.PHONY: unit
unit: bind ## Run the unit tests only (-race); they start real BIND servers on loopback.
	$(GO) test -race -count=1 ./...

.PHONY: conformance
conformance: testbin bind ## Run cert-manager's strict DNS-01 conformance suite (verbose).
	GO=$(GO) LOG=$(BIN)/conformance.log ./hack/run-integration.sh ./test/conformance/

.PHONY: e2e
e2e: testbin bind $(TEST_DEPS) ## Issue real certificates end to end: webhook binary behind the aggregation layer, BIND, Pebble.
	GO=$(GO) LOG=$(BIN)/e2e.log ./hack/run-integration.sh ./test/e2e/

.PHONY: docs
docs: ## Regenerate the README's provider table and example configs from the registry (a test fails when stale).
	UPDATE_DOCS=1 $(GO) test -count=1 -run '^TestReadmeProviders$$' ./internal/cli/

.PHONY: fuzz
fuzz: ## Fuzz the config parser, the mapping and the whole Present path (FUZZTIME each, default 30s; make test runs 60s).
	@# Built with -tags minimal: fuzzing instruments every non-standard package, and the original three providers
	@# are all the targets need (FuzzPresent brings its own recording provider).
	$(GO) test -tags minimal -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(or $(FUZZTIME),30s) ./solver/
	$(GO) test -tags minimal -run '^$$' -fuzz '^FuzzResolve$$' -fuzztime $(or $(FUZZTIME),30s) ./solver/
	$(GO) test -tags minimal -run '^$$' -fuzz '^FuzzPresent$$' -fuzztime $(or $(FUZZTIME),30s) ./solver/

.PHONY: load
load: testbin bind $(TEST_DEPS) ## Load harness: Present+CleanUp/s through the aggregation layer, no-op solver vs this webhook on BIND.
	$(GO) test -tags integration -count=1 -run '^$$' -bench '^BenchmarkAggregator$$' -benchtime $(or $(LOADN),3000x) ./test/e2e/

.PHONY: lint
lint: $(GOLANGCI_LINT) $(LINT_DEPS) ## Run golangci-lint (config in .golangci.yml), go vet with and without the integration tag, and govulncheck.
	@# CGO_ENABLED=0 and -trimpath, as the tests build the webhook binary (internal/testcluster, test/chart's image
	@# test): the dependencies are then compiled once for both, not once more for the linters (minutes, cold).
	CGO_ENABLED=0 GOFLAGS=-trimpath $(GO) vet ./...
	CGO_ENABLED=0 GOFLAGS=-trimpath $(GO) vet -tags integration ./...
	CGO_ENABLED=0 GOFLAGS=-trimpath $(GOLANGCI_LINT) run ./...

.PHONY: testbin
testbin: ## Build kube-apiserver, kubectl and etcd from the module proxy into _bin/ (once).
	@if [ ! -x $(BIN)/kube-apiserver ] || [ ! -x $(BIN)/kubectl ] || [ ! -x $(BIN)/etcd ]; then \
	  BIN=$(BIN) GO=$(GO) KUBE_VERSION=$(KUBE_VERSION) STAGING_VERSION=$(STAGING_VERSION) ETCD_VERSION=$(ETCD_VERSION) \
	    ./hack/build-testbin.sh; \
	fi

.PHONY: bind
bind: ## Make sure BIND 9 (named) is installed: apt-get when root, else say what to install.
	@./hack/ensure-bind.sh

$(GOLANGCI_LINT):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(TOOLS)/golangci-lint $@

.PHONY: clean
clean: ## Remove build output (keeps the _bin/ tool cache; delete it by hand to rebuild tools).
	rm -rf bin/
