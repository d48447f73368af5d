// Package dnscheck holds the DNS checks the webhook and its CLI share — does the name the CA queries delegate
// to the record the webhook writes, is a name a CNAME, which TXT values does a name serve, which zone holds it,
// which CAA records govern it — and the one set of resolver rules they all follow. It is built on miekg/dns and
// depends on nothing of the webhook but internal/dnsname.
//
// # Resolver contract
//
//   - Only the configured servers (Resolver.Servers, host:port) are asked, plus the authoritative servers found
//     through them. Nothing falls back to a public resolver or to the system resolver, not even to look up the
//     address of a name server.
//   - Authoritative (the webhook's default): a zone's authoritative servers are found through the configured
//     servers (SOA for the zone cut, NS, then glue or A/AAAA asked of the same servers) and asked without
//     recursion (RD=0); a referral to a zone below is followed, so a delegation the resolvers do not know yet
//     still counts. Every authoritative server that answers must agree, since the CA may ask any of them; a
//     server that fails is named in the error when none answers. A record created a minute ago is seen at once,
//     and a resolver's stale negative cache fools nothing.
//   - Not authoritative: the configured servers are asked recursively (RD=1), in order, and the first usable
//     answer (NOERROR or NXDOMAIN) is trusted.
//   - NS records carry no port: authoritative servers are dialled on port 53 (tests change it).
//   - Each query: UDP with EDNS0, one retry on a timeout, TCP when the answer is truncated; Resolver.Timeout per
//     attempt, the caller's context for the whole check.
//   - A CNAME chain is followed hop by hop with type CNAME queries, at most 8 hops. RFC 6604: a CNAME whose
//     target does not exist yet may come with NXDOMAIN; the CNAME counts.
//   - Wildcards: a CNAME a wildcard synthesises is told from one of the name's own by asking a random sibling
//     name, and its source by asking *.<ancestor> up to the zone apex. A synthesised CNAME to the right target
//     is a delegation; to another target, the error names the wildcard.
//   - CAA (RFC 8659, RFC 8657): the original name's parents are climbed, never a CNAME target's; a CNAME at a
//     name on the climb is followed.
//
// # Caching
//
// A Checker caches positive delegation results per (name, target) for the smallest TTL of the chain, at most
// MaxCacheTTL, in a bounded per-Checker cache (no global state). Failures are never cached: a retry after the
// user fixes DNS succeeds at once. Nothing else is cached, so zone cuts and name servers are always current.
//
// # Errors are UI
//
// A delegation that does not hold is a *DelegationError: its message says what was found and what to do, and
// always holds the record to create as one zone-file line and the production zone it belongs in, e.g.
//
//	_acme-challenge.example.com. CNAME _acme-challenge.validation.example.org.
//
// Record returns that line and Zone the zone, so a CLI can print the lines grouped by zone.
package dnscheck
