package dnscheck

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// Kind says why a delegation does not hold.
type Kind int

const (
	// NoRecord means the name exists but holds no CNAME (NODATA).
	NoRecord Kind = iota + 1
	// NXDomain means the name does not exist.
	NXDomain
	// WrongTarget means the chain ends somewhere other than the target.
	WrongTarget
	// WildcardWrongTarget means as WrongTarget, and a wildcard record answered for a name on the chain.
	WildcardWrongTarget
	// Loop means the chain comes back to a name it passed.
	Loop
	// TooLong means more than maxHops hops without reaching the target.
	TooLong
	// TXTAtName means a TXT record sits at the name where the CNAME belongs (the challenge was written there).
	TXTAtName
	// NoAnswer means no server answered a question on the way.
	NoAnswer
	// Inconsistent means the authoritative servers of a zone on the way answered differently.
	Inconsistent
)

var kindNames = map[Kind]string{
	NoRecord: "no-record", NXDomain: "nxdomain", WrongTarget: "wrong-target",
	WildcardWrongTarget: "wildcard-wrong-target", Loop: "loop", TooLong: "too-long", TXTAtName: "txt-at-name",
	NoAnswer: "no-answer", Inconsistent: "inconsistent",
}

// String returns the kind as a short lower-case word, for logs and metrics labels.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// CNAMERecord returns the zone-file line that delegates name to target: absolute names, single spaces, no TTL,
// e.g. "_acme-challenge.example.com. CNAME _acme-challenge.validation.example.org.".
func CNAMERecord(name, target string) string {
	return dnsname.MustCanonical(name) + " CNAME " + dnsname.MustCanonical(target)
}

// DelegationError is a delegation that does not hold. Its Error() is the text a user reads in kubectl describe
// challenge: what was found, what to do, and always the record to create as one zone-file line (Record) and the
// production zone it belongs in (Zone).
type DelegationError struct {
	Kind Kind
	// Name the CA queries and Target the webhook writes, canonical.
	Name, Target string
	// Zone is the apex of the production zone holding Name, where the record belongs; empty when it could not be
	// found (then the message names the parent of Name instead).
	Zone string
	// Hops found before the chain went wrong.
	Hops []Hop
	// Servers that answered about Name (NoRecord, NXDomain, TXTAtName).
	Servers []Server
	// End says what the last name of a wrong chain holds, e.g. "NXDOMAIN" (WrongTarget).
	End string
	// Wildcard is the owner of the wildcard record that answered, when it could be told (WildcardWrongTarget).
	Wildcard string
	// TXT are the values found at Name (TXTAtName).
	TXT []string
	// At is the name whose question failed (NoAnswer, Inconsistent) and Err the failure, a *QueryError.
	At  string
	Err error
}

// Record returns the record to create, as one zone-file line (see CNAMERecord).
func (e *DelegationError) Record() string { return CNAMERecord(e.Name, e.Target) }

// Unwrap returns the failed query's error, if any.
func (e *DelegationError) Unwrap() error { return e.Err }

func (e *DelegationError) zone() string {
	if e.Zone != "" {
		return "the zone " + dnsname.Bare(e.Zone)
	}
	return "the zone that holds " + dnsname.Bare(dnsname.Parent(e.Name))
}

// chain returns "a. -> b. -> c.", the names the hops pass.
func (e *DelegationError) chain() string {
	names := []string{e.Name}
	for _, h := range e.Hops {
		names = append(names, h.Target)
	}
	return strings.Join(names, " -> ")
}

func servers(ss []Server) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}

// Error says what was found and what to do; it always holds Record and the production zone (see the type).
func (e *DelegationError) Error() string {
	// The record sits inside the sentence, not at its end: its absolute names end in a dot, and error strings
	// end without punctuation.
	add := fmt.Sprintf("create the record %s in %s", e.Record(), e.zone())
	replace := fmt.Sprintf("replace the existing CNAME at %s with the record %s in %s", e.Name, e.Record(), e.zone())
	last := e.Name
	if len(e.Hops) > 0 {
		last = e.Hops[len(e.Hops)-1].Target
	}
	switch e.Kind {
	case NoRecord:
		return fmt.Sprintf("there is no CNAME at %s (the name exists but holds no CNAME, said %s): %s",
			e.Name, servers(e.Servers), add)
	case NXDomain:
		return fmt.Sprintf("%s does not exist (NXDOMAIN from %s), so the CA cannot follow it to %s: %s",
			e.Name, servers(e.Servers), e.Target, add)
	case TXTAtName:
		return fmt.Sprintf("%s holds a TXT record (%q) instead of a CNAME: the challenge was written at the "+
			"production name; delete the TXT records at %s, then %s", e.Name, strings.Join(e.TXT, `", "`), e.Name, add)
	case WrongTarget:
		if len(e.Hops) == 1 {
			return fmt.Sprintf("the CNAME at %s points to %s, not to %s: %s", e.Name, last, e.Target, replace)
		}
		return fmt.Sprintf("the CNAME chain from %s ends at %s after %d hops (%s; %s there), not at %s: %s",
			e.Name, last, len(e.Hops), e.chain(), e.End, e.Target, replace)
	case WildcardWrongTarget:
		w := "a wildcard record"
		if e.Wildcard != "" {
			w = "the wildcard record " + e.Wildcard
		}
		explicit := fmt.Sprintf("create the record %s in %s: a record of its own takes precedence over the "+
			"wildcard", e.Record(), e.zone())
		if len(e.Hops) == 1 {
			return fmt.Sprintf("%s has no CNAME of its own: %s answers for it with a CNAME to %s, not to %s: %s",
				e.Name, w, last, e.Target, explicit)
		}
		at := firstWildcard(e.Hops).Owner
		if at == e.Name {
			return fmt.Sprintf("%s has no CNAME of its own: %s answers for it, and the chain from there ends at %s "+
				"(%s), not at %s: %s", e.Name, w, last, e.chain(), e.Target, explicit)
		}
		return fmt.Sprintf("the CNAME chain from %s ends at %s (%s; %s answers for %s), not at %s: %s",
			e.Name, last, e.chain(), w, at, e.Target, replace)
	case Loop:
		return fmt.Sprintf("the CNAME chain from %s loops (%s) and never reaches %s: %s", e.Name, e.chain(), e.Target, replace)
	case TooLong:
		return fmt.Sprintf("the CNAME chain from %s has more than %d hops (%s) without reaching %s: %s",
			e.Name, maxHops, e.chain(), e.Target, replace)
	case Inconsistent:
		return fmt.Sprintf("%v: the CA may ask any of them, so wait until every server has the zone's latest "+
			"version, or correct the one that differs; the delegation needs the record %s in %s", e.Err, e.Record(), e.zone())
	default: // NoAnswer
		where := ""
		if e.At != "" && e.At != e.Name {
			where = fmt.Sprintf(" (following the CNAME chain %s)", e.chain())
		}
		hint := "check that these servers are reachable from the webhook; "
		var qe *QueryError
		if errors.As(e.Err, &qe) && len(qe.Failures) == 0 {
			hint = ""
		}
		return fmt.Sprintf("could not check the delegation of %s%s: %v: %sthe delegation needs the record %s in %s",
			e.Name, where, e.Err, hint, e.Record(), e.zone())
	}
}
