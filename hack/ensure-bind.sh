#!/usr/bin/env bash
# Kept for `make bind` and whoever calls it by name: BIND is one of the servers the tests need, and
# ensure-servers.sh installs them all (BIND, Knot DNS, PowerDNS), so `make unit` and `make bench`, which depend on
# `bind`, get every server their tests start.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/ensure-servers.sh" "$@"
