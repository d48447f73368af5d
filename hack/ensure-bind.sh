#!/usr/bin/env bash
# Makes sure BIND 9's named (and dig) are installed: the tests start real BIND servers on loopback. As root on
# Debian/Ubuntu it installs them with apt; otherwise it fails saying what to install. It never skips.
set -euo pipefail

have_named() { command -v named >/dev/null 2>&1 || [ -x /usr/sbin/named ]; }

if have_named; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing bind9 and bind9-dnsutils with apt-get (the tests run real BIND servers)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends bind9 bind9-dnsutils >/dev/null
  have_named && exit 0
fi
echo "BIND's named is required by the tests and is not installed." >&2
echo "Install it with: sudo apt-get install -y bind9 bind9-dnsutils   (or run make test as root)" >&2
exit 1
