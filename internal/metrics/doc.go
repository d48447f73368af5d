// Package metrics is the webhook's Prometheus metrics, all named delegate_*, on the endpoint its aggregated API
// server already serves: /metrics, which serves component-base's legacyregistry and nothing else (a collector
// registered with client_golang's default registry, or a registry of its own, never appears there).
//
// The rules it keeps:
//   - Register registers everything in legacyregistry once per process (sync.Once): the solver's Initialize runs
//     several times in one process (once per apiserver it is given), and component-base metrics are no-ops until
//     registered, so registration belongs to main, before the server starts, never to Initialize.
//   - Every label value comes from a bounded set: the operation, the result and mode of a challenge, a registry
//     provider name, a provider call kind and its outcome, a delegation check's outcome, a namespace the webhook
//     reads Secrets in. An unknown value is counted as "other"; an empty provider or mode (a call refused before its
//     config was mapped) as "none". Domain names never become label values: they go to the solver's log lines.
//   - What the webhook knows at scrape time (the Secret informers, the names whose delegation check failed last,
//     the build) is computed by a collector when scraped, so the apiserver's DELETE /metrics (a reset, allowed only
//     to holders of `delete` on that URL) cannot lose it.
//
// Solver errors reach cert-manager inside an HTTP 201, so the apiserver's own request metrics count every failed
// Present as a success: delegate_challenges_total is the metric that tells them apart.
package metrics
