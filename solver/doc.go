// Package solver is a cert-manager DNS-01 solver that writes ACME TXT records into a delegation zone through
// libdns providers.
//
// # Why
//
// A production zone holds one static record, written once by a person:
//
//	_acme-challenge.example.com. CNAME _acme-challenge.validation.example.org.
//
// and the webhook writes TXT records only in the small delegation zone it holds credentials for. The CA follows
// the CNAME; the production provider never sees the webhook's traffic.
//
// # Contract
//
//   - The issuer's webhook config ([ParseConfig]) is strict: unknown fields, inline credentials and malformed names
//     are errors, all reported at once, each naming its JSON path and the fix.
//   - [Resolve] maps a challenge to one record (name, zone, provider), purely: the most specific delegations entry on
//     label boundaries, else the top-level domainAlias, else direct mode. The record always lies inside the zone
//     it is written to.
//   - Present appends one TXT value; an identical value already there is success; no record set is ever replaced.
//     CleanUp deletes exactly that value; already gone is success. Neither needs memory of the other, so any
//     replica can clean up after another. A request Present refuses on its own terms (config, dnsName, key) has
//     nothing to clean up: CleanUp succeeds for it, so a Challenge's finalizer is never stuck on a bad config.
//   - An empty challenge key is refused before any provider call (an RFC 2136 delete with an empty value removes
//     every value at the name).
//   - Present and CleanUp are safe for concurrent use, bounded by a deadline well under the apiserver's 60 s proxy
//     timeout; a shutdown cancels Present but not a CleanUp in flight.
//   - Secrets are read only from the challenge's ResourceNamespace, through informers; errors never contain a
//     Secret's value.
package solver
