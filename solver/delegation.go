package solver

import (
	"fmt"
	"strings"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

// Challenge is the part of a cert-manager ChallengeRequest that decides where its record goes.
type Challenge struct {
	// DNSName is the name being validated, e.g. "example.com" (also for "*.example.com").
	DNSName string
	// ResolvedFQDN is "_acme-challenge.<DNSName>.", or the CNAME target with cnameStrategy: Follow.
	ResolvedFQDN string
	// ResolvedZone is the zone cert-manager found for ResolvedFQDN by an SOA walk.
	ResolvedZone string
}

// Target is where one challenge's TXT record is written.
type Target struct {
	// FQDN of the record: canonical, with trailing dot.
	FQDN string
	// Zone the record is written in, canonical; empty when it must be discovered at the provider.
	Zone string
	// Provider writes the record.
	Provider *ProviderConfig
	// Alias is the domainAlias that applied; empty in direct mode.
	Alias string
	// Rule is the JSON path of the config entry that decided: "delegations[1]", "domainAlias", or "provider"
	// (direct mode).
	Rule string
	// Domain is the challenge's domain, canonical (DNSName without "*.").
	Domain string
	// Followed is true when cert-manager already followed a CNAME (cnameStrategy: Follow): ResolvedFQDN is not
	// _acme-challenge.<Domain>.
	Followed bool
}

// QueriedName is the name the CA queries for the challenge, _acme-challenge.<Domain>.
func (t Target) QueriedName() string { return dnsname.ACMEPrefix + t.Domain }

// Resolve maps a challenge onto the record to write. It is a pure function of the config and the challenge.
//
// The challenge's domain is DNSName. The most specific delegations entry whose domain equals it or is a parent
// of it on a label boundary wins; else the top-level domainAlias; else direct mode (ResolvedFQDN in ResolvedZone,
// written by provider). With an alias the record is _acme-challenge.<alias>., unless ResolvedFQDN already lies at
// or under the alias (cnameStrategy: Follow did the mapping), in which case ResolvedFQDN is used as is in the
// alias zone (else ResolvedZone). Providers with a fixed record name (ACME-DNS) write at the alias itself.
// The returned FQDN lies inside the returned Zone whenever Zone is set.
func Resolve(cfg *Config, reg providers.Registry, ch Challenge) (Target, error) {
	domain, err := dnsname.Canonical(strings.TrimPrefix(ch.DNSName, "*."))
	if err != nil {
		return Target{}, fmt.Errorf("challenge dnsName %w", err)
	}
	resolved, err := dnsname.Canonical(ch.ResolvedFQDN)
	if err != nil {
		return Target{}, fmt.Errorf("challenge resolvedFQDN %w", err)
	}
	// cert-manager resolves to _acme-challenge.<domain>. unless the issuer follows CNAMEs.
	followed := resolved != dnsname.ACMEPrefix+domain

	alias, aliasZone, prov, rule := "", "", cfg.Provider, "provider"
	if d := mostSpecific(cfg.Delegations, domain); d != nil {
		if d.DomainAlias == "" {
			// ParseConfig refuses this; never fall through to direct mode for a delegated domain.
			return Target{}, fmt.Errorf("config.%s.domainAlias is empty: set the alias for %s", d.path, strings.TrimSuffix(domain, "."))
		}
		alias, aliasZone, rule = d.DomainAlias, d.AliasZone, d.path
		prov = firstProvider(d.AliasProvider, cfg.AliasProvider, cfg.Provider)
	} else if cfg.DomainAlias != "" {
		alias, aliasZone, rule = cfg.DomainAlias, cfg.AliasZone, "domainAlias"
		prov = firstProvider(cfg.AliasProvider, cfg.Provider)
	}
	if prov == nil {
		// ParseConfig refuses such configs; this keeps Resolve total for any Config value.
		return Target{}, fmt.Errorf("no provider can write the record for %s (%s): set config.provider or "+
			"config.aliasProvider", strings.TrimSuffix(domain, "."), rule)
	}

	if alias == "" {
		if prov.fixedName(reg) {
			return Target{}, fmt.Errorf("no delegation covers %s and config.provider is %s, which can only write at an "+
				"account's fulldomain: add %s to a delegations entry whose domainAlias is that fulldomain",
				strings.TrimSuffix(domain, "."), prov.Name, strings.TrimSuffix(domain, "."))
		}
		zone, err := dnsname.Canonical(ch.ResolvedZone)
		if err != nil {
			return Target{}, fmt.Errorf("challenge resolvedZone %w", err)
		}
		if !dnsname.Within(resolved, zone) {
			return Target{}, fmt.Errorf("challenge resolvedFQDN %s is not inside its resolvedZone %s", resolved, zone)
		}
		return Target{FQDN: resolved, Zone: zone, Provider: prov, Rule: rule, Domain: domain, Followed: followed}, nil
	}

	t := Target{Provider: prov, Alias: alias, Rule: rule, Domain: domain, Followed: followed}
	if prov.fixedName(reg) {
		// ACME-DNS serves exactly one name per account: the alias is that name.
		if followed && resolved != alias {
			return Target{}, fmt.Errorf("the CNAME for %s leads to %s but config.%s says the ACME-DNS account's "+
				"fulldomain is %s: make _acme-challenge.%s a CNAME to %s, or correct the config",
				strings.TrimSuffix(domain, "."), resolved, aliasField(rule), alias, strings.TrimSuffix(domain, "."), alias)
		}
		t.FQDN, t.Zone = alias, alias
		return t, nil
	}
	switch {
	case !followed:
		t.FQDN, t.Zone = dnsname.ACMEPrefix+alias, aliasZone
	case dnsname.Within(resolved, alias):
		t.FQDN, t.Zone = resolved, aliasZone
		if t.Zone == "" {
			t.Zone, err = dnsname.Canonical(ch.ResolvedZone)
			if err != nil {
				return Target{}, fmt.Errorf("challenge resolvedZone %w", err)
			}
		}
	default:
		return Target{}, fmt.Errorf("the CNAME for %s leads to %s, which is outside config.%s %s: the CNAME and "+
			"the config disagree; point _acme-challenge.%s at _acme-challenge.%s or correct the config",
			strings.TrimSuffix(domain, "."), resolved, aliasField(rule), strings.TrimSuffix(alias, "."),
			strings.TrimSuffix(domain, "."), strings.TrimSuffix(alias, "."))
	}
	if t.Zone != "" && !dnsname.Within(t.FQDN, t.Zone) {
		return Target{}, fmt.Errorf("the record %s is not inside the zone %s (config.%s): set aliasZone to the "+
			"zone that holds it", t.FQDN, t.Zone, zoneField(rule))
	}
	return t, nil
}

// canonicalChallenge is the challenge for dnsName as cert-manager sends it when DNS holds no CNAME there: the
// resolved names do not matter for the outcome, so a Resolve error with it depends on the config alone.
func canonicalChallenge(dnsName string) Challenge {
	domain := strings.TrimSuffix(strings.TrimPrefix(dnsName, "*."), ".") + "."
	return Challenge{DNSName: dnsName, ResolvedFQDN: dnsname.ACMEPrefix + domain, ResolvedZone: domain}
}

// mostSpecific returns the delegation whose domain is the longest one equal to or above domain, or nil.
func mostSpecific(ds []Delegation, domain string) *Delegation {
	var best *Delegation
	bestLen := -1
	for i := range ds {
		for _, d := range ds[i].Domains {
			if dnsname.Within(domain, d) && len(d) > bestLen {
				best, bestLen = &ds[i], len(d)
			}
		}
	}
	return best
}

func firstProvider(ps ...*ProviderConfig) *ProviderConfig {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func aliasField(rule string) string {
	if rule == "domainAlias" {
		return rule
	}
	return rule + ".domainAlias"
}

func zoneField(rule string) string {
	if rule == "domainAlias" {
		return "aliasZone"
	}
	return rule + ".aliasZone"
}
