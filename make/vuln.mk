# govulncheck in `make lint`, offline: the Go vulnerability database (vuln.go.dev) cannot be downloaded here, so
# hack/vulncheck.sh generates one from golang.org/x/vulndb, which the module proxy serves. Included by the Makefile.

GOVULNCHECK_VERSION := v1.9.0
# The vulnerability data: golang.org/x/vulndb at this pseudo-version holds every report as of 2026-11-05. Bump it
# to see newer reports; the generated database is cached per version under _bin/.
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
GOVULNCHECK := $(TOOLS)/govulncheck-$(GOVULNCHECK_VERSION)

# `make lint` runs it; a finding not listed with a reason in hack/vulncheck-allow.txt fails.
LINT_DEPS += vulncheck

.PHONY: vulncheck
vulncheck: $(GOVULNCHECK) ## Run govulncheck against an offline vulnerability DB (generated once into _bin/); allowlist: hack/vulncheck-allow.txt.
	GO=$(GO) BIN=$(BIN) GOVULNCHECK=$(GOVULNCHECK) VULNDB_VERSION=$(VULNDB_VERSION) ALLOW=hack/vulncheck-allow.txt ./hack/vulncheck.sh

# Built with the Makefile's toolchain (go1.27.3): govulncheck judges the standard library by the go command it
# runs, and building it with the same one keeps the tool and the scan on one Go.
$(GOVULNCHECK):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	mv $(TOOLS)/govulncheck $@
