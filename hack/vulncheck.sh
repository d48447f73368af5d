#!/usr/bin/env bash
# Runs govulncheck on the module against an offline Go vulnerability database. vuln.go.dev cannot be reached
# here, but the module proxy serves golang.org/x/vulndb, whose data/osv holds every report and whose cmd/gendb
# turns a git checkout of it into the database govulncheck reads. The database is generated once into $BIN and
# reused; delete it (or bump VULNDB_VERSION) to rebuild.
#
# A finding fails the run unless its ID is in $ALLOW with a reason. An allowlisted ID that no longer shows up
# fails too, so the list never outlives what it excuses.
set -euo pipefail

GO=${GO:-go}
BIN=$(mkdir -p "${BIN:-_bin}" && cd "${BIN:-_bin}" && pwd)
GOVULNCHECK=${GOVULNCHECK:?set GOVULNCHECK to the govulncheck binary (make vulncheck builds it)}
VULNDB_VERSION=${VULNDB_VERSION:?set VULNDB_VERSION to a golang.org/x/vulndb pseudo-version}
ALLOW=${ALLOW:-hack/vulncheck-allow.txt}
DB=$BIN/vulndb-$VULNDB_VERSION

generate_db() {
  local src work
  src=$("$GO" mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
  if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
    echo "golang.org/x/vulndb@$VULNDB_VERSION did not download to a directory with data/osv ($src)" >&2
    exit 1
  fi
  echo "generating the Go vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION (first time only)" >&2
  work=$(mktemp -d "${TMPDIR:-/tmp}/vulndb.XXXXXX")
  trap 'rm -rf "$work" "$DB.tmp"' EXIT
  # The module cache is read-only, and gendb reads the reports through git (it dates each entry by its commits).
  cp -r "$src/." "$work/"
  chmod -R u+w "$work"
  # One commit dated at the snapshot's own timestamp (from the pseudo-version), so every entry's "modified" is
  # the same on every machine rather than the time this ran.
  local ts=${VULNDB_VERSION#v0.0.0-}
  ts=${ts%%-*}
  local date="${ts:0:4}-${ts:4:2}-${ts:6:2}T${ts:8:2}:${ts:10:2}:${ts:12:2}Z"
  (
    cd "$work"
    git init -q
    git add -A
    GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date \
      git -c user.name=vulndb -c user.email=vulndb@localhost -c commit.gpgsign=false commit -q -m "golang.org/x/vulndb@$VULNDB_VERSION"
    rm -rf "$DB.tmp"
    "$GO" run ./cmd/gendb -repo . -out "$DB.tmp"
  )
  mv "$DB.tmp" "$DB"
  rm -rf "$work"
  trap - EXIT
}

if [ ! -f "$DB/index/db.json" ]; then
  generate_db
fi

# The allowlist: "ID reason…" per line; blank lines and #-comments ignored.
declare -A allowed=()
if [ -f "$ALLOW" ]; then
  while read -r id reason; do
    [ -z "$id" ] || [ "${id:0:1}" = "#" ] && continue
    if [ -z "$reason" ]; then
      echo "$ALLOW: $id has no reason; write why it is acceptable after the ID" >&2
      exit 1
    fi
    allowed[$id]=$reason
  done <"$ALLOW"
fi

out=$(mktemp "${TMPDIR:-/tmp}/govulncheck.XXXXXX.json")
trap 'rm -rf "$out"' EXIT
status=0
"$GOVULNCHECK" -db "file://$DB" -format json ./... >"$out" || status=$?
# With -format json govulncheck exits 0 even with findings; anything else is its own failure.
if [ $status -ne 0 ]; then
  echo "govulncheck failed (exit $status); its error is above" >&2
  exit $status
fi

# One line per finding: ID, module, version, fixed version, and whether the module calls the vulnerable code
# (the first trace frame names a function). Findings only at package or module level (imported or required,
# never called) are what govulncheck's own text mode reports as informational: listed, not failing. The JSON is
# indented two spaces per level, which this relies on: a finding it cannot read fails the run (checked below).
parsed=$(awk '
  function val(line) { sub(/^[^:]*: "/, "", line); sub(/",?$/, "", line); return line }
  /^  "osv": \{/ { ino = 1; next }
  ino && /^    "id": / { id = val($0) }
  ino && /^    "summary": / { summary[id] = val($0) }
  ino && /^  \}/ { ino = 0 }
  /^  "finding": \{/ { inf = 1; osv = ""; fixed = ""; mod = ""; ver = ""; frame = 0; fn = 0; next }
  inf && /^    "osv": / { osv = val($0) }
  inf && /^    "fixed_version": / { fixed = val($0) }
  inf && /^      \{/ { frame++ }
  inf && frame == 1 && /^        "module": / { mod = val($0) }
  inf && frame == 1 && /^        "version": / { ver = val($0) }
  inf && frame == 1 && /^        "function": / { fn = 1 }
  inf && /^  \}/ { print osv "\t" mod "\t" ver "\t" (fixed == "" ? "none" : fixed) "\t" (fn ? "called" : "required"); inf = 0 }
  END { for (i in summary) print i "\tsummary\t" summary[i] }
' "$out")
raw=$(grep -c '"finding":' "$out" || true)
read_ok=$(awk -F'\t' '$1 ~ /^GO-/ && ($5 == "called" || $5 == "required") && $2 != "" { n++ } END { print n + 0 }' <<<"$parsed")
if ! grep -q '^  "config": {' "$out" || [ "$raw" -ne "$read_ok" ]; then
  echo "govulncheck's JSON has an unexpected shape ($raw findings, $read_ok read); the parser in $0 needs updating" >&2
  exit 1
fi
findings=$(sort -u <<<"$parsed")

called() { awk -F'\t' '$5 == "called" { print $1 }' <<<"$findings" | sort -u; }
mapfile -t hits < <(called)

for id in $(awk -F'\t' '$5 == "required" { print $1 }' <<<"$findings" | sort -u); do
  if ! printf '%s\n' "${hits[@]}" | grep -qx -- "$id"; then
    echo "note: $id affects a required module, but the module does not call its vulnerable code" >&2
  fi
done

fail=0
for id in "${hits[@]}"; do
  [ -n "$id" ] || continue
  where=$(awk -F'\t' -v id="$id" '$1 == id && $5 == "called" { print $2 "@" $3 " (fixed in " $4 ")" }' <<<"$findings" | sort -u | paste -sd, - | sed 's/,/, /g')
  summary=$(awk -F'\t' -v id="$id" '$1 == id && $2 == "summary" { print $3 }' <<<"$findings")
  if [ -n "${allowed[$id]:-}" ]; then
    echo "allowed: $id in $where: ${allowed[$id]}" >&2
  else
    echo "VULNERABLE: $id in $where: $summary (https://pkg.go.dev/vuln/$id)" >&2
    fail=1
  fi
done
for id in "${!allowed[@]}"; do
  if ! printf '%s\n' "${hits[@]}" | grep -qx -- "$id"; then
    echo "$ALLOW lists $id, which govulncheck no longer finds: remove it" >&2
    fail=1
  fi
done
if [ $fail -ne 0 ]; then
  echo "govulncheck: fix each finding above (go get the fixed version) or list its ID in $ALLOW with a reason;" >&2
  echo "the call stacks: $GOVULNCHECK -db file://$DB -show traces ./..." >&2
  exit 1
fi
echo "govulncheck: no vulnerabilities beyond $ALLOW (database golang.org/x/vulndb@$VULNDB_VERSION)" >&2
