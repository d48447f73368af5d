# The replica harness (test/replicas): three webhook processes behind one APIService, apex + wildcard pairs spread
# over them by the aggregator, one replica SIGKILLed and restarted halfway, the zone sampled throughout; once with
# rfc2136 against BIND, once with the set strategy (route53's fake) and its Leases. Included by the Makefile; `make
# test` runs it too (./test/...).

.PHONY: replicas
replicas: testbin bind $(TEST_DEPS) ## Replica harness: REPLICAS_PAIRS (500) apex+wildcard pairs over three replicas, one killed; no value lost or left.
	GO=$(GO) LOG=$(BIN)/replicas.log ./hack/run-integration.sh ./test/replicas/
