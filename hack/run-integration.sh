#!/usr/bin/env bash
# Runs the integration tests (real kube-apiserver, BIND, conformance suite) verbosely. The full log goes to
# $LOG; the console gets each test's RUN/PASS/FAIL line and every message a test printed, and the log's tail on
# failure. A skipped test fails the run: CI must never skip one.
set -uo pipefail
LOG=${LOG:-_bin/integration.log}
mkdir -p "$(dirname "$LOG")"
"${GO:-go}" test -race -count=1 -tags integration -v -timeout 60m "$@" >"$LOG" 2>&1
status=$?
grep -E '^\s*(=== RUN|--- (PASS|FAIL|SKIP)|PASS$|FAIL|ok )|_test\.go:[0-9]+:|^panic' "$LOG"
if [ $status -ne 0 ]; then
  echo "---- integration tests failed (exit $status); last 300 lines of $LOG ----" >&2
  tail -n 300 "$LOG" >&2
  exit $status
fi
if grep -q -- '--- SKIP' "$LOG"; then
  echo "a test was skipped; CI must not skip tests (see $LOG)" >&2
  exit 1
fi
