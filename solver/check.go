package solver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/miekg/dns"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

// verify proves, before Present writes, that the CA will find the record where the webhook writes it (DESIGN.md
// "Delegation check"): with an alias, the CNAME chain from _acme-challenge.<dnsName> must end at the record; in
// direct mode, resolvedFQDN must not itself be a CNAME. verifyDelegation: Off makes no lookups at all.
func (st *state) verify(ctx context.Context, op *operation) error {
	t := op.target
	if op.cfg.VerifyDelegation == VerifyOff {
		return nil
	}
	if t.Alias == "" {
		return st.verifyDirect(ctx, t)
	}
	if t.Followed {
		// cert-manager followed the CNAME itself (cnameStrategy: Follow) and Resolve checked that it leads to the
		// record: nothing is left to prove.
		return nil
	}
	res, err := st.check.Delegation(ctx, t.QueriedName(), t.FQDN)
	var derr *dnscheck.DelegationError
	switch {
	case err == nil && res.Cached:
		st.obs.DelegationCheck(t.QueriedName(), "cached")
	case err == nil:
		st.obs.DelegationCheck(t.QueriedName(), "ok")
	case errors.As(err, &derr):
		st.obs.DelegationCheck(t.QueriedName(), derr.Kind.String())
	default:
		st.obs.DelegationCheck(t.QueriedName(), "error")
	}
	if errors.As(err, &derr) {
		return &delegationError{err: derr, rule: t.Rule, domain: t.Domain, alias: t.Alias, fixed: st.fixedName(t)}
	}
	if err != nil {
		return fmt.Errorf("checking the CNAME delegation of %s: %w", t.QueriedName(), err)
	}
	return nil
}

func (st *state) fixedName(t Target) bool {
	return t.Provider != nil && st.reg[t.Provider.Name] != nil && st.reg[t.Provider.Name].Strategy == providers.Fixed
}

// delegationError is a delegation check that failed, with the config rule that made the webhook expect it.
type delegationError struct {
	err                 *dnscheck.DelegationError
	rule, domain, alias string
	fixed               bool
}

func (e *delegationError) Error() string {
	what := fmt.Sprintf("config.%s delegates %s to %s", aliasField(e.rule), dnsname.Bare(e.domain), dnsname.Bare(e.alias))
	if e.fixed {
		what = fmt.Sprintf("config.%s names the ACME-DNS account %s for %s", aliasField(e.rule), dnsname.Bare(e.alias),
			dnsname.Bare(e.domain))
	}
	return fmt.Sprintf("the CNAME delegation is not in place, so the webhook wrote nothing (%s, and the CA would not "+
		"find the record; verifyDelegation: Off skips this check, for clusters that cannot see the DNS the CA "+
		"sees): %v", what, e.err)
}

func (e *delegationError) Unwrap() error { return e.err }

// directCNAMEError is a direct-mode challenge whose record name is a CNAME: a TXT record beside it would be
// invalid DNS (RFC 1034 §3.6.2), and the CA reads the CNAME's target instead.
type directCNAMEError struct {
	fqdn, target, rule string
}

func (e *directCNAMEError) Error() string {
	fix := "set cnameStrategy: Follow on the issuer's dns01 solver so that cert-manager writes at the CNAME's target"
	if alias, ok := strings.CutPrefix(e.target, dnsname.ACMEPrefix); ok {
		fix = fmt.Sprintf("set domainAlias: %s in the webhook config (the name is delegated there), or set "+
			"cnameStrategy: Follow on the issuer's dns01 solver", dnsname.Bare(alias))
	}
	return fmt.Sprintf("%s is a CNAME to %s, and config.%s would write the TXT record beside it (direct mode: no "+
		"domainAlias applies), which DNS does not allow and the CA would not read; %s; the webhook wrote nothing",
		e.fqdn, e.target, e.rule, fix)
}

func (st *state) verifyDirect(ctx context.Context, t Target) error {
	target, err := st.check.CNAME(ctx, t.FQDN)
	if err != nil {
		return fmt.Errorf("checking whether %s is a CNAME before writing beside it (direct mode): %w; set "+
			"verifyDelegation: Off only if the webhook cannot see the DNS the CA sees", t.FQDN, err)
	}
	if target != "" {
		return &directCNAMEError{fqdn: t.FQDN, target: target, rule: t.Rule}
	}
	return nil
}

// txt reads the TXT values DNS serves at fqdn by the delegation check's rules, for ACME-DNS's value check.
func (st *state) txt(ctx context.Context, fqdn string) ([]string, error) {
	return st.check.TXT(ctx, fqdn)
}

// systemNameservers reads /etc/resolv.conf. Unlike cert-manager's helper it never falls back to a public
// resolver: without a readable file the list is empty and the checks say so.
func systemNameservers() []string {
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(cc.Servers))
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out
}
