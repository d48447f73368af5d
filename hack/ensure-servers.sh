#!/usr/bin/env bash
# Makes sure the DNS servers the tests start on loopback are installed: BIND 9 (named, and dig), Knot DNS
# (knotd), and PowerDNS (pdns_server with the sqlite3 backend, and sqlite3 to create its database). As root on
# Debian/Ubuntu it installs what is missing with apt; otherwise it fails saying what to install. It never skips.
#
# The tests run their own servers as children on free ports; the packages' own services are not wanted. Where
# systemd runs, installing bind9, knot or pdns-server starts a daemon on port 53: for each package this script
# installed (and only those: a service that was there before is someone's), stop and disable that service.
set -euo pipefail

# package → the file that shows it is installed, and its systemd service (if it ships one that starts).
declare -A probe=(
  [bind9]=/usr/sbin/named
  [bind9-dnsutils]=/usr/bin/dig
  [knot]=/usr/sbin/knotd
  [pdns-server]=/usr/sbin/pdns_server
  [pdns-backend-sqlite3]=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
  [sqlite3]=/usr/bin/sqlite3
)
declare -A service=(
  [bind9]=named.service
  [knot]=knot.service
  [pdns-server]=pdns.service
)
order=(bind9 bind9-dnsutils knot pdns-server pdns-backend-sqlite3 sqlite3)

missing_packages() {
  local p
  for p in "${order[@]}"; do
    [ -e "${probe[$p]}" ] || echo "$p"
  done
}

mapfile -t missing < <(missing_packages)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get (the tests run real BIND, Knot and PowerDNS servers)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # A postinst that cannot start its service (a container without an init) prints an error and still installs;
  # that is harmless here, since the tests start their own servers.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -d /run/systemd/system ]; then
    for p in "${missing[@]}"; do
      unit=${service[$p]:-}
      [ -n "$unit" ] || continue
      if systemctl list-unit-files "$unit" >/dev/null 2>&1; then
        echo "stopping and disabling $unit, which installing $p started (the tests need no system DNS server)" >&2
        systemctl disable --now "$unit" >/dev/null 2>&1 || echo "could not stop $unit; stop it by hand if port 53 matters" >&2
      fi
    done
  fi
  mapfile -t missing < <(missing_packages)
  [ ${#missing[@]} -eq 0 ] && exit 0
  echo "apt-get install finished, but these are still missing: ${missing[*]}" >&2
  exit 1
fi

echo "The tests need these Debian packages, which are not installed: ${missing[*]}" >&2
echo "Install them with: sudo apt-get install -y ${order[*]}   (or run make test as root)" >&2
exit 1
