//go:build integration

// Package faults injects faults into the fakes and servers the webhook talks to, with the webhook binary behind a
// real kube-apiserver's aggregation layer and cert-manager's own webhook client calling it. Each case ends with a
// clear error or a success, a webhook that still answers /healthz, no Secret value in any error or log line, and a
// zone that ends empty. The README's "Failure modes" section is this table for users.
//
//	fault (where)                                  the webhook                                          the call
//	5xx burst, 3× 503 on create (fake Cloudflare)  retries with jittered backoff (0.5 s doubling)      Present succeeds
//	5xx past the retries, 5× 500                   gives up after 5 tries (~7.5 s)                      Present fails, provider's message
//	5xx on delete, 2× 502                          retries                                              CleanUp succeeds
//	429 with Retry-After 3 s                       every caller of the account waits it out            Present succeeds
//	429 without Retry-After, twice                 backs off, halves the pacer's rate for a minute      Present succeeds
//	429 past the retries, 5×                       gives up, says the rate limit is the cause           Present fails; cert-manager retries
//	one answer held 40 s                           that try times out at 20 s, retried                  Present succeeds
//	answers held past the 30 s call deadline       stops at the deadline, never the proxy's 60 s        Present fails, says the deadline
//	connection reset once / on every try           retried / gives up after 5                           succeeds / fails
//	truncated JSON to a create that was made       fails; cert-manager's retry finds the record         Present fails, then succeeds
//	truncated JSON to CleanUp's lookup             fails; the retry deletes the record                  CleanUp fails, then succeeds
//	BIND stopped, restarted with a new TSIG key    says the server is unreachable, then the key refused Present/CleanUp fail, then succeed
//	kube-apiserver restarted on its etcd           informers re-list; Secrets resolve, new ones too     fail while it is down, then succeed
//	Secret rotated mid-run (fake's token gate)     the next call after the informer's update uses it    fails with the old token, then succeeds
package faults
