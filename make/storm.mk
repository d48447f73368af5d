# The renewal storm and the reliability tests (test/storm): the webhook binary behind the aggregation layer, writing
# to the fake Cloudflare API under its rate window scaled down; SIGTERM with CleanUps in flight; Secret leaks.
# Included by the Makefile.
#
# `make test` already runs test/storm (hack/run-integration.sh ./test/... runs every package under test/ with the
# integration tag), so this fragment adds nothing to TEST_DEPS: the storm runs once there, and `make storm` runs
# the package alone. STORM_N and STORM_INFLIGHT (default 1000 and 60) size the storm; STORM_PACING=off turns the
# webhook's pacing off for the "before" measurement, e.g. `make storm STORM_PACING=off`; STORM_PENALTY (default
# 10s) is how long the window blocks once exceeded.

.PHONY: storm
storm: testbin bind helm ## Renewal storm (STORM_N lifecycles, STORM_INFLIGHT at a time, STORM_PACING=off for "before"), SIGTERM and leak tests.
	GO=$(GO) LOG=$(BIN)/storm.log ./hack/run-integration.sh ./test/storm/
