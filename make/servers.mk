# The DNS servers the tests start on loopback (BIND, Knot DNS, PowerDNS): Debian packages, installed by
# hack/ensure-servers.sh. Included by the Makefile.

# `make test` installs them first; the tests that need them fail (never skip) without them.
TEST_DEPS += servers

.PHONY: servers
servers: ## Make sure BIND, Knot DNS and PowerDNS are installed: apt-get when root, else say what to install.
	@./hack/ensure-servers.sh
