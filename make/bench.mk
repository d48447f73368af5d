# `make bench`: BENCHMARKS.md from one run of test/bench's BenchmarkReport (the no-op solver, the DNS server and the
# fake Cloudflare alone, this webhook on each; provider API calls per lifecycle; memory; binary sizes; the
# delegation check's benchmarks). Included by the Makefile. The package has no Test functions, so `make test`
# only compiles it. BENCH_ROUNDS (3), BENCH_INFLIGHT (50), BENCH_N1 (200) and BENCH_N (1500) size the runs;
# BENCH_OUT (BENCHMARKS.md) is where the report goes.

BENCH_OUT ?= BENCHMARKS.md
BENCH_GO_ARGS := test -tags integration -count=1 -run '^$$' -bench '^BenchmarkReport$$' -benchtime 1x -timeout 30m ./test/bench/

.PHONY: bench
bench: testbin bind helm ## Measure and write BENCHMARKS.md: no-op vs DNS alone vs this webhook, API calls, memory, sizes.
	@uptime
	BENCH_OUT=$(abspath $(BENCH_OUT)) BENCH_COMMAND='make bench' BENCH_GO_COMMAND="go $(BENCH_GO_ARGS)" \
	  $(GO) $(BENCH_GO_ARGS)
