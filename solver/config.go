package solver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

// Config is the issuer's webhook.config, parsed and checked. Field names in the JSON are public API; see
// README.md for the reference.
type Config struct {
	// Provider writes records where nothing is delegated: in direct mode, and for aliases without an
	// aliasProvider. Nil when the config leaves it out.
	Provider *ProviderConfig
	// DomainAlias is the top-level alias (canonical, with trailing dot): every domain not matched by Delegations
	// gets its record at _acme-challenge.<DomainAlias>. Empty means direct mode for those domains.
	DomainAlias string
	// AliasProvider writes the alias records. Default: Provider.
	AliasProvider *ProviderConfig
	// AliasZone is the zone at the alias provider that holds DomainAlias. Empty: discovered.
	AliasZone string
	// Delegations are per-domain overrides; the most specific match wins.
	Delegations []Delegation
	// TTL of every record written. Default: 60 s; raised to a provider's minimum where it has one.
	TTL time.Duration
	// VerifyDelegation says whether Present proves the CNAME delegation before it writes. Default: Enforce.
	VerifyDelegation Verify
}

// Verify is the issuer's verifyDelegation setting.
type Verify string

const (
	// VerifyEnforce makes Present resolve _acme-challenge.<dnsName> as the CA does and refuse to write unless its
	// CNAME chain ends at the record the webhook writes; in direct mode it refuses to write beside a CNAME.
	VerifyEnforce Verify = "Enforce"
	// VerifyOff makes no lookups at all, for split-horizon or egress-restricted clusters where the webhook cannot
	// see what the CA sees.
	VerifyOff Verify = "Off"
)

// Delegation is one entry of the config's delegations list.
type Delegation struct {
	// Domains this entry covers, each with every name below it (canonical).
	Domains []string
	// DomainAlias for these domains (canonical).
	DomainAlias string
	// AliasProvider for these domains. Default: the top-level AliasProvider, then Provider.
	AliasProvider *ProviderConfig
	// AliasZone for DomainAlias. Not inherited from the top level. Empty: discovered.
	AliasZone string
	// path is the entry's JSON path, e.g. "delegations[1]", for error messages.
	path string
}

// ProviderConfig is one provider block, {<registry name>: {<provider fields>}}, checked against the registry but
// with its Secret references not yet resolved.
type ProviderConfig struct {
	// Name is the registry name, e.g. "cloudflare".
	Name string
	// Path is the block's JSON path, e.g. "aliasProvider", for error messages.
	Path string
	// spec is the provider's JSON object exactly as given (Secret references in place).
	spec map[string]any
	// canonical is spec re-encoded with sorted keys: the identity of this configuration in caches.
	canonical []byte
	// refs are the Secret references in spec.
	refs []secretRef
	// RateLimit is the block's rateLimit, which replaces the provider's documented rate; nil when not given.
	RateLimit *providers.Rate
}

// secretRef is a {secretKeyRef: {name, key}} found in a provider block.
type secretRef struct {
	// Name and Key of the Secret in the challenge's ResourceNamespace.
	Name, Key string
	// jsonPath of the field, e.g. "provider.cloudflare.api_token".
	jsonPath string
	// at is where the value goes in the spec: object keys and array indices from the provider block down.
	at []any
}

const (
	// DefaultTTL is the TTL of a TXT record when the config does not set ttl.
	DefaultTTL = 60 * time.Second
	// maxTTL bounds ttl: a challenge record cached for longer than a day only makes a later renewal fail.
	maxTTL = 86400
)

var topLevelFields = []string{"provider", "domainAlias", "aliasProvider", "aliasZone", "delegations", "ttl", "verifyDelegation"}
var delegationFields = []string{"domains", "domainAlias", "aliasProvider", "aliasZone"}

// ParseConfig decodes and checks an issuer's webhook config against the registry. It reports every problem at
// once, each naming its JSON path (relative to the issuer's webhook.config) and the fix. It never reads a Secret.
func ParseConfig(raw []byte, reg providers.Registry) (*Config, error) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, errors.New("the issuer's webhook config is empty: set config.provider (direct mode), " +
			"or config.domainAlias with config.aliasProvider or config.provider (CNAME delegation)")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("config: must be a JSON object with the fields %s: %w", strings.Join(topLevelFields, ", "), err)
	}
	p := &parser{reg: reg}
	cfg := &Config{TTL: DefaultTTL, VerifyDelegation: VerifyEnforce}
	p.unknownFields("config", top, topLevelFields)
	cfg.Provider = p.provider("provider", top["provider"])
	cfg.AliasProvider = p.provider("aliasProvider", top["aliasProvider"])
	cfg.DomainAlias = p.alias("domainAlias", top["domainAlias"])
	cfg.AliasZone = p.zone("aliasZone", top["aliasZone"])
	if d, ok := top["ttl"]; ok {
		cfg.TTL = p.ttl(d)
	}
	cfg.Delegations = p.delegations(top["delegations"])
	if raw, ok := top["verifyDelegation"]; ok {
		cfg.VerifyDelegation = p.verify(raw)
	}
	p.checkAliasZone("aliasZone", cfg.DomainAlias, cfg.AliasZone)
	if cfg.AliasZone != "" && cfg.DomainAlias == "" {
		p.errorf("aliasZone", "has no effect without domainAlias: set domainAlias, or remove aliasZone "+
			"(delegations take their own aliasZone)")
	}
	if cfg.AliasProvider != nil && cfg.DomainAlias == "" && len(cfg.Delegations) == 0 {
		p.errorf("aliasProvider", "has no effect without domainAlias or delegations: set domainAlias to "+
			"delegate, or rename it to provider for direct mode")
	}
	if len(p.errs) == 0 {
		p.checkReachable(cfg)
	}
	if len(p.errs) > maxConfigErrors {
		more := len(p.errs) - maxConfigErrors
		p.errs = append(p.errs[:maxConfigErrors], fmt.Errorf("config: %d more problems like these", more))
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return cfg, nil
}

// maxConfigErrors bounds how many problems one error lists: it is shown in a Challenge's status.
const maxConfigErrors = 20

// checkReachable makes sure every challenge has a provider that can write its record, and that providers with a
// fixed record name (ACME-DNS) are only used where that name is known.
func (p *parser) checkReachable(cfg *Config) {
	if cfg.Provider == nil {
		switch {
		case cfg.DomainAlias == "":
			p.errorf("provider", "is required: domains outside delegations are written directly (there is no "+
				"top-level domainAlias); set provider, or set domainAlias with aliasProvider to delegate every domain")
		case cfg.AliasProvider == nil:
			p.errorf("provider", "is required: domainAlias is set but aliasProvider is not, so provider writes the "+
				"alias records; set aliasProvider or provider")
		}
		for _, d := range cfg.Delegations {
			if d.AliasProvider == nil && cfg.AliasProvider == nil {
				p.errorf(d.path+".aliasProvider", "is required: neither this entry, the top-level aliasProvider nor "+
					"provider is set; set one of them")
			}
		}
	}
	if cfg.DomainAlias == "" && len(cfg.Delegations) == 0 && cfg.Provider.fixedName(p.reg) {
		p.errorf("domainAlias", "is required with %s: the record is written at the account's fulldomain, so set "+
			"domainAlias to it (and point _acme-challenge.<your domain> at it with a CNAME)", cfg.Provider.Name)
	}
}

// fixedName reports whether the provider writes only at one name per account (ACME-DNS).
func (pc *ProviderConfig) fixedName(reg providers.Registry) bool {
	return pc != nil && reg[pc.Name] != nil && reg[pc.Name].Strategy == providers.Fixed
}

type parser struct {
	reg  providers.Registry
	errs []error
}

func (p *parser) errorf(path, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("config.%s: %s", path, fmt.Sprintf(format, args...)))
}

func (p *parser) unknownFields(path string, obj map[string]json.RawMessage, known []string) {
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if !slices.Contains(known, k) {
			where := strings.TrimPrefix(path+"."+k, "config.")
			p.errorf(where, "unknown field; the fields here are %s", strings.Join(known, ", "))
		}
	}
}

// str reads a string field. Present but empty (or null) is an error, not "unset": an empty Helm value that
// silently turned delegation into direct mode would write into the production zone.
func (p *parser) str(path string, raw json.RawMessage) (string, bool) {
	if raw == nil {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		p.errorf(path, "must be a string, got %s", jsonKind(raw))
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		p.errorf(path, "is empty: set it, or remove the field (was a templated value left empty?)")
		return "", false
	}
	return s, true
}

// alias parses a domainAlias: a name of which the webhook derives _acme-challenge.<alias>.
func (p *parser) alias(path string, raw json.RawMessage) string {
	s, ok := p.str(path, raw)
	if !ok {
		return ""
	}
	n, err := dnsname.Canonical(s)
	if err != nil {
		p.errorf(path, "must be a domain name such as validation.example.org: %v", err)
		return ""
	}
	if len(dnsname.ACMEPrefix)+len(n)-1 > dnsname.MaxLength {
		p.errorf(path, "%q is too long: the record _acme-challenge.<domainAlias> would be longer than %d characters; "+
			"use a shorter alias", s, dnsname.MaxLength)
		return ""
	}
	if strings.HasPrefix(n, dnsname.ACMEPrefix) {
		p.errorf(path, "%q starts with %q, which the webhook adds itself: set it to %q", s, dnsname.ACMEPrefix,
			strings.TrimSuffix(strings.TrimPrefix(n, dnsname.ACMEPrefix), "."))
		return ""
	}
	return n
}

func (p *parser) zone(path string, raw json.RawMessage) string {
	s, ok := p.str(path, raw)
	if !ok {
		return ""
	}
	n, err := dnsname.Canonical(s)
	if err != nil {
		p.errorf(path, "must be a DNS zone such as validation.example.org.: %v", err)
		return ""
	}
	return n
}

// checkAliasZone makes sure the alias record lies inside the zone it will be written to.
func (p *parser) checkAliasZone(path, alias, zone string) {
	if alias != "" && zone != "" && !dnsname.Within(dnsname.ACMEPrefix+alias, zone) {
		p.errorf(path, "%s does not contain the alias %s; set aliasZone to the zone that holds the alias at its "+
			"provider, or remove it to have the zone discovered", zone, alias)
	}
}

// verify parses verifyDelegation. Values are case-sensitive, as Kubernetes enums are.
func (p *parser) verify(raw json.RawMessage) Verify {
	s, ok := p.str("verifyDelegation", raw)
	if !ok {
		return VerifyEnforce
	}
	switch v := Verify(s); v {
	case VerifyEnforce, VerifyOff:
		return v
	}
	p.errorf("verifyDelegation", "%q is not allowed; use %q (the default: prove the CNAME before writing) or %q (no "+
		"DNS lookups, for split-horizon or egress-restricted clusters)", s, VerifyEnforce, VerifyOff)
	return VerifyEnforce
}

func (p *parser) ttl(raw json.RawMessage) time.Duration {
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	// json.Number also takes a quoted number: refuse anything that is not a bare JSON number.
	if err := d.Decode(&n); err != nil || jsonKind(raw) != "a number" {
		p.errorf("ttl", "must be a whole number of seconds, got %s", jsonKind(raw))
		return DefaultTTL
	}
	v, err := n.Int64()
	switch {
	case err != nil:
		p.errorf("ttl", "must be a whole number of seconds, got %s", n)
	case v < 0:
		p.errorf("ttl", "must not be negative, got %d; leave it out for the default of 60", v)
	case v > maxTTL:
		p.errorf("ttl", "%d is over a day: resolvers would keep an old challenge value; use 60 to 3600", v)
	case v == 0:
		return DefaultTTL
	default:
		return time.Duration(v) * time.Second
	}
	return DefaultTTL
}

func (p *parser) delegations(raw json.RawMessage) []Delegation {
	if raw == nil {
		return nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		p.errorf("delegations", "must be a list of {domains, domainAlias, aliasProvider, aliasZone}, got %s", jsonKind(raw))
		return nil
	}
	var out []Delegation
	seen := map[string]string{}
	for i, e := range entries {
		path := fmt.Sprintf("delegations[%d]", i)
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(e, &obj); err != nil || obj == nil {
			p.errorf(path, "must be an object with domains and domainAlias, got %s", jsonKind(e))
			continue
		}
		p.unknownFields("config."+path, obj, delegationFields)
		d := Delegation{path: path}
		d.Domains = p.domains(path+".domains", obj["domains"], seen)
		d.DomainAlias = p.alias(path+".domainAlias", obj["domainAlias"])
		if d.DomainAlias == "" && obj["domainAlias"] == nil {
			p.errorf(path+".domainAlias", "is required: the alias these domains' _acme-challenge CNAMEs point under")
		}
		d.AliasZone = p.zone(path+".aliasZone", obj["aliasZone"])
		p.checkAliasZone(path+".aliasZone", d.DomainAlias, d.AliasZone)
		d.AliasProvider = p.provider(path+".aliasProvider", obj["aliasProvider"])
		out = append(out, d)
	}
	return out
}

func (p *parser) domains(path string, raw json.RawMessage, seen map[string]string) []string {
	var list []json.RawMessage
	if raw == nil || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		p.errorf(path, "must be a non-empty list of domain names, e.g. [a.test]")
		return nil
	}
	var out []string
	for i, item := range list {
		ip := fmt.Sprintf("%s[%d]", path, i)
		s, ok := p.str(ip, item)
		if !ok {
			continue
		}
		n, err := dnsname.Canonical(strings.TrimPrefix(s, "*."))
		if err != nil {
			p.errorf(ip, "must be a domain name such as a.test (it covers every name below it): %v", err)
			continue
		}
		if strings.HasPrefix(s, "*.") {
			p.errorf(ip, "%q is a wildcard; write %q, which covers every name below it", s, strings.TrimSuffix(n, "."))
			continue
		}
		if prev, dup := seen[n]; dup {
			p.errorf(ip, "%s is already listed at %s; list each domain once", strings.TrimSuffix(n, "."), prev)
			continue
		}
		seen[n] = ip
		out = append(out, n)
	}
	return out
}

// provider parses a provider block: exactly one key, a registry name, whose value is the provider's own JSON
// object. String fields may be {secretKeyRef: {name, key}}; the registry's credential fields must be.
func (p *parser) provider(path string, raw json.RawMessage) *ProviderConfig {
	if raw == nil || string(raw) == "null" {
		return nil
	}
	var block map[string]json.RawMessage
	if err := json.Unmarshal(raw, &block); err != nil {
		p.errorf(path, "must be an object with one key, the provider's name (%s), got %s", p.reg.NamesList(), jsonKind(raw))
		return nil
	}
	// rateLimit sits next to the provider's name: it is the webhook's, not the library's.
	var rate *providers.Rate
	if r, ok := block["rateLimit"]; ok {
		delete(block, "rateLimit")
		rate = p.rateLimit(path+".rateLimit", r)
	}
	if len(block) != 1 {
		names := slices.Sorted(maps.Keys(block))
		if len(names) == 0 {
			p.errorf(path, "is empty: name one provider (%s)", p.reg.NamesList())
		} else {
			p.errorf(path, "names %d providers (%s); name exactly one: a block is {<provider>: {<its fields>}}",
				len(names), strings.Join(names, ", "))
		}
		return nil
	}
	var name string
	for k := range block {
		name = k
	}
	entry, ok := p.reg[name]
	if !ok {
		hint := ""
		if near := p.reg.Suggest(name); near != "" {
			hint = fmt.Sprintf("did you mean %q? ", near)
		}
		p.errorf(path, "unknown provider %q; %sknown providers are %s (`cert-manager-webhook-delegate providers` "+
			"lists them with their fields)", name, hint, p.reg.NamesList())
		return nil
	}
	path += "." + name
	d := json.NewDecoder(bytes.NewReader(block[name]))
	d.UseNumber()
	var spec map[string]any
	if err := d.Decode(&spec); err != nil || spec == nil {
		p.errorf(path, "must be an object of %s's fields (%s)", name, strings.Join(jsonFields(entry.New()), ", "))
		return nil
	}
	pc := &ProviderConfig{Name: name, Path: path, spec: spec, RateLimit: rate}
	before := len(p.errs)
	p.checkFieldNames(path, spec, reflect.TypeOf(entry.New()))
	p.walkSpec(path, spec, nil, entry, &pc.refs)
	// Decode with empty strings in place of the Secret values to check field names and types now, before any
	// Secret is read.
	if len(p.errs) == before {
		if err := decodeStrict(substitute(spec, pc.refs, func(int) string { return "" }), entry.New()); err != nil {
			p.errorf(path, "%v; %s's fields are %s", err, name, strings.Join(jsonFields(entry.New()), ", "))
		}
	}
	pc.canonical, _ = json.Marshal(spec) // encoding/json sorts map keys: equal configs give equal bytes
	return pc
}

// rateLimit parses a provider block's {perSecond, burst}: the account's request budget in each replica.
func (p *parser) rateLimit(path string, raw json.RawMessage) *providers.Rate {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		p.errorf(path, "must be an object {perSecond: <requests per second>, burst: <requests at once>}, got %s", jsonKind(raw))
		return nil
	}
	p.unknownFields("config."+path, obj, []string{"perSecond", "burst"})
	r := &providers.Rate{}
	if v, ok := obj["perSecond"]; ok {
		if err := json.Unmarshal(v, &r.PerSecond); err != nil || jsonKind(v) != "a number" || r.PerSecond < 0 {
			p.errorf(path+".perSecond", "must be a number of requests per second, 0 or more (0 turns pacing off), got %s", v)
		}
	} else {
		p.errorf(path+".perSecond", "is required: the requests per second this replica may send to the account")
	}
	if v, ok := obj["burst"]; ok {
		if err := json.Unmarshal(v, &r.Burst); err != nil || r.Burst < 1 {
			p.errorf(path+".burst", "must be a whole number of requests, 1 or more, got %s", v)
		}
	} else {
		r.Burst = max(1, int(r.PerSecond))
	}
	return r
}

// checkFieldNames refuses keys that encoding/json would match to a field only case-insensitively (it takes
// "API_TOKEN" for api_token): field names are written exactly as documented, so a credential cannot slip past the
// inline check under another spelling. Unknown names and wrong types are left to decodeStrict.
func (p *parser) checkFieldNames(path string, v any, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.IsExported() && name != "-" && name != "" {
				fields[name] = f.Type
			}
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if ft, ok := fields[k]; ok {
				p.checkFieldNames(path+"."+k, m[k], ft)
				continue
			}
			for _, name := range slices.Sorted(maps.Keys(fields)) {
				if strings.EqualFold(name, k) {
					p.errorf(path+"."+k, "unknown field; did you mean %q? (field names are case-sensitive)", name)
				}
			}
		}
	case reflect.Map:
		if m, ok := v.(map[string]any); ok {
			for _, k := range slices.Sorted(maps.Keys(m)) {
				p.checkFieldNames(path+"."+k, m[k], t.Elem())
			}
		}
	case reflect.Slice, reflect.Array:
		if s, ok := v.([]any); ok {
			for i, c := range s {
				p.checkFieldNames(fmt.Sprintf("%s[%d]", path, i), c, t.Elem())
			}
		}
	}
}

// walkSpec finds Secret references and refuses inline credentials, anywhere in a provider's spec.
func (p *parser) walkSpec(path string, v any, at []any, entry *providers.Entry, refs *[]secretRef) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["secretKeyRef"]; ok {
			if len(at) == 0 {
				p.errorf(path, "a {secretKeyRef: {name, key}} replaces the value of one field, not a whole provider "+
					"block: write {<field>: {secretKeyRef: {name, key}}}")
				return
			}
			p.secretRef(path, v, ref, at, refs)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			child := v[k]
			if s, ok := child.(string); ok && s != "" && slices.ContainsFunc(entry.Credentials, func(c string) bool { return strings.EqualFold(c, k) }) {
				p.errorf(path+"."+k, "is a credential and may not be given inline (anyone who can read the issuer "+
					"could read it): put it in a Secret and write {secretKeyRef: {name: <secret>, key: <key>}}")
				continue
			}
			p.walkSpec(path+"."+k, child, append(slices.Clip(at), k), entry, refs)
		}
	case []any:
		for i, child := range v {
			p.walkSpec(fmt.Sprintf("%s[%d]", path, i), child, append(slices.Clip(at), i), entry, refs)
		}
	}
}

func (p *parser) secretRef(path string, obj map[string]any, ref any, at []any, refs *[]secretRef) {
	const form = "{secretKeyRef: {name: <secret>, key: <key>}}"
	if len(obj) != 1 {
		p.errorf(path, "a Secret reference has only the key secretKeyRef: write %s", form)
		return
	}
	m, ok := ref.(map[string]any)
	if !ok {
		p.errorf(path+".secretKeyRef", "must be an object: write %s", form)
		return
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k != "name" && k != "key" {
			p.errorf(path+".secretKeyRef."+k, "unknown field; a Secret reference has name and key "+
				"(the Secret is read from the issuer's namespace, or cert-manager's for a ClusterIssuer)")
		}
	}
	name, _ := m["name"].(string)
	key, _ := m["key"].(string)
	if !validSecretName(name) {
		p.errorf(path+".secretKeyRef.name", "must be the name of a Secret (lower-case letters, digits, '-' and '.'), got %v", describe(m["name"]))
	}
	if !validSecretKey(key) {
		p.errorf(path+".secretKeyRef.key", "must be a key of the Secret's data (letters, digits, '-', '_' and '.'), got %v", describe(m["key"]))
	}
	*refs = append(*refs, secretRef{Name: name, Key: key, jsonPath: path, at: at})
}

// substitute returns a deep copy of spec with each Secret reference replaced by value(ref).
func substitute(spec map[string]any, refs []secretRef, value func(i int) string) map[string]any {
	out, _ := deepCopy(spec).(map[string]any)
	for i, r := range refs {
		var parent any = out
		for j, step := range r.at {
			last := j == len(r.at)-1
			switch step := step.(type) {
			case string:
				m := parent.(map[string]any)
				if last {
					m[step] = value(i)
				} else {
					parent = m[step]
				}
			case int:
				s := parent.([]any)
				if last {
					s[step] = value(i)
				} else {
					parent = s[step]
				}
			}
		}
	}
	return out
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, c := range v {
			m[k] = deepCopy(c)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, c := range v {
			s[i] = deepCopy(c)
		}
		return s
	default:
		return v
	}
}

// decodeStrict decodes spec into dst, refusing unknown fields.
func decodeStrict(spec map[string]any, dst any) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(dst); err != nil {
		return cleanJSONError(err)
	}
	return nil
}

// cleanJSONError turns encoding/json's messages into ones that read well after a JSON path.
func cleanJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %s must be %s, got a JSON %s", te.Field, goKind(te.Type), te.Value)
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

func goKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// jsonFields lists the JSON field names of a provider struct, for error messages.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

func jsonKind(raw json.RawMessage) string {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 {
		return "nothing"
	}
	switch s[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("%q", v)
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// validSecretName checks a Secret name against Kubernetes' DNS subdomain rule (RFC 1123).
func validSecretName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// validSecretKey checks a key of a Secret's data against Kubernetes' rule.
func validSecretKey(s string) bool {
	if s == "" || len(s) > 253 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
