package dnscheck

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// MethodDNS01 is the RFC 8657 validationmethods label of the method this webhook serves.
const MethodDNS01 = "dns-01"

// CAARecord is one CAA record (RFC 8659 §4.1).
type CAARecord struct {
	// Flags; bit 128 is the issuer-critical flag.
	Flags uint8
	// Tag, e.g. "issue", "issuewild", "iodef", as served (tags compare case-insensitively).
	Tag string
	// Value, without the quotes of presentation form.
	Value string
}

// Critical reports whether the issuer-critical flag is set: a CA that does not know the tag must not issue.
func (r CAARecord) Critical() bool { return r.Flags&128 != 0 }

// String returns the record's data as a zone file writes it: `0 issue "letsencrypt.org"`.
func (r CAARecord) String() string {
	return strconv.Itoa(int(r.Flags)) + " " + r.Tag + " " + strconv.Quote(r.Value)
}

// CAASet is the relevant CAA RRset for a name (RFC 8659 §3): the first non-empty CAA RRset found at the name
// or, climbing, at one of its parents (never the parents of a CNAME target). No records at all means any CA may
// issue.
type CAASet struct {
	// Name checked (the base name of a wildcard) and whether the certificate is for *.Name.
	Name     string
	Wildcard bool
	// Owner is the name on the climb whose lookup found the records ("" when there are none); Via is where they
	// actually sit when Owner is a CNAME to another name, else equal to Owner.
	Owner, Via string
	Records    []CAARecord
}

// Issuer is what a CA checks a CAA RRset against.
type Issuer struct {
	// Domain is the CA's issuer domain name, e.g. "letsencrypt.org".
	Domain string
	// AccountURI is the ACME account URI (RFC 8657 accounturi); empty when unknown, which leaves a record that
	// pins an account undecided.
	AccountURI string
	// Method is the validation method (RFC 8657 validationmethods); default MethodDNS01.
	Method string
}

// Verdict is the outcome of a CAA decision.
type Verdict int

const (
	// Permitted means the CA may issue.
	Permitted Verdict = iota + 1
	// Forbidden means the CA may not issue.
	Forbidden
	// Undetermined means that a record pins an account and the Issuer gave none; the tool cannot tell.
	Undetermined
)

// String returns "permitted", "forbidden" or "undetermined".
func (v Verdict) String() string {
	switch v {
	case Permitted:
		return "permitted"
	case Forbidden:
		return "forbidden"
	case Undetermined:
		return "undetermined"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// CAADecision is whether an Issuer may issue under a CAASet, and why.
type CAADecision struct {
	Verdict Verdict
	// Reason in one lower-case sentence, naming the record and its owner.
	Reason string
}

// knownTags are the CAA property tags a CA knows (RFC 8659, RFC 9495, CA/B Forum BR): any other tag with the
// critical flag forbids issuance.
var knownTags = map[string]bool{
	"issue": true, "issuewild": true, "iodef": true, "issuemail": true, "issuevmc": true,
	"contactemail": true, "contactphone": true,
}

// CAA returns the relevant CAA RRset for name (RFC 8659 §3), climbing the name's own parents up to its
// top-level domain and following a CNAME at each name as a resolver does, by the resolver's rules. wildcard says
// the certificate is for *.name; name may also be given as "*.example.com". An error means some lookup on the
// climb failed: RFC 8659 lets a CA refuse then, so the outcome is unknown.
func (c *Checker) CAA(ctx context.Context, name string, wildcard bool) (CAASet, error) {
	if base, ok := strings.CutPrefix(name, "*."); ok {
		name, wildcard = base, true
	}
	name, err := dnsname.Canonical(name)
	if err != nil {
		return CAASet{}, fmt.Errorf("the name %w", err)
	}
	if err := c.ready(name, "CAA"); err != nil {
		return CAASet{}, err
	}
	set := CAASet{Name: name, Wildcard: wildcard}
	for cur := name; cur != "."; cur = dnsname.Parent(cur) {
		at, rrs, err := c.lookupFollow(ctx, cur, dns.TypeCAA)
		if err != nil {
			return CAASet{}, fmt.Errorf("looking up CAA at %s: %w", cur, err)
		}
		if len(rrs) == 0 {
			continue
		}
		set.Owner, set.Via = cur, at
		for _, rr := range rrs {
			caa := rr.(*dns.CAA)
			set.Records = append(set.Records, CAARecord{Flags: caa.Flag, Tag: caa.Tag, Value: caa.Value})
		}
		return set, nil
	}
	return set, nil
}

// caaValue is a parsed issue or issuewild value (RFC 8659 §4.2, RFC 8657): the issuer domain name ("" forbids
// every CA) and its parameters.
type caaValue struct {
	domain string
	params map[string]string
}

// parseIssueValue parses `letsencrypt.org; accounturi=https://...; validationmethods=dns-01`. ok is false for a
// malformed value, which authorises nobody.
func parseIssueValue(v string) (caaValue, bool) {
	domain, rest, _ := strings.Cut(v, ";")
	out := caaValue{domain: strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), ".")), params: map[string]string{}}
	if strings.ContainsAny(out.domain, " \t=") {
		return caaValue{}, false
	}
	for p := range strings.SplitSeq(rest, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		tag, val, found := strings.Cut(p, "=")
		tag, val = strings.ToLower(strings.TrimSpace(tag)), strings.TrimSpace(val)
		if !found || tag == "" || strings.ContainsAny(val, " \t;") {
			return caaValue{}, false
		}
		out.params[tag] = val
	}
	return out, true
}

// Decide says whether is may issue under the set (RFC 8659 §4, RFC 8657): an unknown critical tag forbids; a
// wildcard uses the issuewild records when there are any, else issue; no relevant record permits; otherwise a
// record must name the CA, and its accounturi and validationmethods, when present, must match.
func (s CAASet) Decide(is Issuer) CAADecision {
	where := "at " + s.Owner
	if s.Via != s.Owner {
		where += " (through its CNAME to " + s.Via + ")"
	}
	for _, r := range s.Records {
		if r.Critical() && !knownTags[strings.ToLower(r.Tag)] {
			return CAADecision{Forbidden, fmt.Sprintf("the CAA record %s %s has the critical flag on the unknown "+
				"tag %q, which forbids every CA", where, r, r.Tag)}
		}
	}
	tag := "issue"
	if s.Wildcard {
		for _, r := range s.Records {
			if strings.EqualFold(r.Tag, "issuewild") {
				tag = "issuewild"
				break
			}
		}
	}
	var relevant []CAARecord
	for _, r := range s.Records {
		if strings.EqualFold(r.Tag, tag) {
			relevant = append(relevant, r)
		}
	}
	if len(relevant) == 0 {
		if len(s.Records) == 0 {
			return CAADecision{Permitted, "no CAA record at " + s.Name + " or its parents: any CA may issue"}
		}
		return CAADecision{Permitted, fmt.Sprintf("the CAA records %s have no %s property: any CA may issue", where, tag)}
	}
	method := is.Method
	if method == "" {
		method = MethodDNS01
	}
	ca := strings.ToLower(strings.TrimSuffix(is.Domain, "."))
	var undetermined, mismatch []string
	for _, r := range relevant {
		v, ok := parseIssueValue(r.Value)
		if !ok || v.domain != ca || ca == "" {
			continue
		}
		if acct, pinned := v.params["accounturi"]; pinned {
			if is.AccountURI == "" {
				undetermined = append(undetermined, r.String())
				continue
			}
			if acct != is.AccountURI {
				mismatch = append(mismatch, fmt.Sprintf("%s pins another account", r))
				continue
			}
		}
		if methods, limited := v.params["validationmethods"]; limited && !hasLabel(methods, method) {
			mismatch = append(mismatch, fmt.Sprintf("%s does not allow %s", r, method))
			continue
		}
		return CAADecision{Permitted, fmt.Sprintf("the CAA record %s %s permits %s", where, r, ca)}
	}
	if len(undetermined) > 0 {
		return CAADecision{Undetermined, fmt.Sprintf("the CAA record %s %s pins an ACME account; give the "+
			"account URI to tell whether it is this one", where, strings.Join(undetermined, ", "))}
	}
	if len(mismatch) > 0 {
		return CAADecision{Forbidden, fmt.Sprintf("the CAA records %s do not permit %s: %s", where, ca, strings.Join(mismatch, "; "))}
	}
	var names []string
	for _, r := range relevant {
		names = append(names, r.String())
	}
	return CAADecision{Forbidden, fmt.Sprintf("the CAA records %s permit other CAs only (%s), not %s",
		where, strings.Join(names, ", "), ca)}
}

// hasLabel reports whether a comma-separated validationmethods list holds method.
func hasLabel(list, method string) bool {
	for m := range strings.SplitSeq(list, ",") {
		if strings.EqualFold(strings.TrimSpace(m), method) {
			return true
		}
	}
	return false
}

// CAAPinRecord returns the zone-file line of a CAA record at name that lets only the CA caDomain issue, through
// the ACME account accountURI (left out when empty) and by dns-01, e.g.
// `example.com. CAA 0 issue "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1; validationmethods=dns-01"`.
func CAAPinRecord(name, caDomain, accountURI string) string {
	v := strings.ToLower(strings.TrimSuffix(caDomain, "."))
	if accountURI != "" {
		v += "; accounturi=" + accountURI
	}
	v += "; validationmethods=" + MethodDNS01
	return dnsname.MustCanonical(strings.TrimPrefix(name, "*.")) + " CAA 0 issue " + strconv.Quote(v)
}
