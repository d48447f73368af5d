// Package providers is the webhook's registry of libdns providers and the write strategies that drive them.
//
// # Contract
//
//   - The registry is an explicit map ([Default]); each provider's file holds its [Entry]: config name, credential
//     fields (Secret only), fields naming an issuer-chosen endpoint, minimum TTL, zone discovery, write strategy,
//     the library's traps it handles, and how it was tested.
//   - A [Writer] presents one TXT value (an identical value already there is success) and cleans up exactly that
//     value (already gone is success). It never removes another value at the same name: the apex and the
//     wildcard of one name present two values there at once.
//   - How a Writer does that depends on what the provider's API can safely do with two values at one name
//     ([Strategy]): exact appends and deletes; set rewrites the whole set under a lock; fixed serves one name per
//     account.
//   - Every HTTP request of a provider whose library lets a client in goes through one transport the webhook
//     controls: timeouts, retries of 429 and 5xx honouring Retry-After within the call's deadline, the proxy
//     from the environment, and SSL_CERT_FILE.
//   - Errors never carry a credential: the solver redacts every Secret value it resolved from them.
package providers
