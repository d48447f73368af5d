package providers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Strategy is how a provider's API is driven so that two TXT values at one name (an apex and its wildcard, or two
// production zones sharing one alias) never evict each other. DESIGN.md "Write strategies" defines them.
type Strategy string

const (
	// Exact appends one value and deletes exactly that value; the API keeps the others. No lock.
	Exact Strategy = "exact"
	// Set means any write replaces the whole name+type set (on append, on delete, or both): the set is read and
	// written back, with or without the one value, under a lock per (account, zone, name) that holds across
	// replicas.
	Set Strategy = "set"
	// Fixed is a provider that serves exactly one name per account (ACME-DNS): the alias is that name.
	Fixed Strategy = "fixed"
)

// TestLevel says how honestly a provider has been tested; the docs show it per provider.
type TestLevel string

const (
	// RealServer is tested against a real implementation of the protocol running in the tests (BIND, Knot, PowerDNS).
	RealServer TestLevel = "real server"
	// FakeAPI is tested against a fake of the vendor's HTTP API that follows its documented behaviour, itself tested, and
	// reached by the real libdns client.
	FakeAPI TestLevel = "fake API"
	// Constructed is not exercised against its API: its example config parses and builds, its credentials are Secret-only and checked; the
	// strategy was read from the library's source.
	Constructed TestLevel = "constructed"
)

// Entry is one provider in the registry: everything the core needs to parse, check, build and document it. A
// provider's own file holds its Entry; the core has no special cases for it.
type Entry struct {
	// Name is the config name, the key of a provider block: the module's last path element.
	Name string
	// Module is the Go module of the libdns provider; its version is read from the build.
	Module string
	// New returns a pointer to the provider's zero config struct. Its JSON field names are the config's.
	New func() any
	// Credentials are JSON field names, matched at any depth of the provider block, whose values must come from
	// a Secret: an inline value is refused.
	Credentials []string
	// Endpoints are JSON field names (top level) that name an endpoint the issuer chooses. A credential read from
	// a Secret is sent there only if the Secret's owner lists the endpoint (DESIGN.md "Fences").
	Endpoints []string
	// MinTTL is the smallest TTL the provider accepts; a lower configured ttl is raised to it.
	MinTTL time.Duration
	// Strategy is how writes are driven (see Strategy).
	Strategy Strategy
	// Zones says how the zone of a name is discovered when the config gives none, for the docs.
	Zones string
	// Test is how the provider is tested.
	Test TestLevel
	// HTTP says how the provider's HTTP traffic reaches the webhook's transport (timeouts, retries, proxy,
	// SSL_CERT_FILE), for the docs; "" for providers that do not speak HTTP.
	HTTP string
	// Quirks are the library's or API's traps this entry handles, one line each, for the docs.
	Quirks []string
	// Required are fields that must be set (most often the credentials), checked before Build so that an empty
	// or missing one gets an error naming it, and never reaches a library that would panic or fall back to
	// ambient credentials.
	Required []Field
	// Env lists the environment variables the library reads by itself, for the docs; the webhook never lets an
	// issuer's config depend on them.
	Env []string
	// Example is a provider block's fields as YAML (indented by two spaces per level, without the provider name),
	// for the docs and the tests that build every provider.
	Example string
	// Build checks a decoded provider (Secrets resolved) and returns the writer the solver drives.
	Build func(v any, env Env) (Writer, error)
	// NetworkHint, if set, says what to check when the provider could not be reached; path is the provider
	// block's JSON path. Default: a hint about the vendor API's reachability.
	NetworkHint func(path string) string
	// RateLimit is the provider's documented request budget per account (divided by the replica count);
	// zero: DefaultRate. A provider block's rateLimit overrides it.
	RateLimit Rate
	// Unlimited marks providers without an API rate limit to respect (DNS servers the operator runs: RFC 2136,
	// PowerDNS, ACME-DNS): not paced unless a provider block sets rateLimit.
	Unlimited bool
}

// Field is a provider config field and what it holds, for error messages.
type Field struct {
	// Name is the JSON field name.
	Name string
	// Hint says what to put there.
	Hint string
}

// NewWriter checks the entry's required fields, then builds its writer. A panic of the library while it is built
// becomes an error: no issuer config may kill the webhook.
func (e *Entry) NewWriter(v any, env Env) (w Writer, err error) {
	var errs []error
	for _, f := range e.Required {
		if isZeroField(v, f.Name) {
			errs = append(errs, fmt.Errorf("config.%s.%s: is required: %s", env.Path, f.Name, f.Hint))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	env.Name = e.Name
	defer func() {
		if r := recover(); r != nil {
			w, err = nil, fmt.Errorf("config.%s: the %s provider library failed while starting (%v)", env.Path, e.Name, r)
		}
	}()
	return e.Build(v, env)
}

// isZeroField reports whether the struct v points to has its field with JSON name name unset.
func isZeroField(v any, name string) bool {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	rt := rv.Type()
	for i := range rt.NumField() {
		tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if tag == name || tag == "" && rt.Field(i).Name == name {
			f := rv.Field(i)
			if f.Kind() == reflect.String {
				return strings.TrimSpace(f.String()) == ""
			}
			return f.IsZero()
		}
	}
	return true
}

// writer wraps a libdns provider in the entry's strategy.
func (e *Entry) writer(lw *libdnsWriter, env Env, ops SetOps, zoneLock bool) Writer {
	lw.name = e.Name
	if !lw.httpPaced {
		lw.pacer = env.Pacer
	}
	if e.Strategy != Set {
		return lw
	}
	if ops == nil {
		ops = libraryOps{lw}
	}
	return &setWriter{libdnsWriter: lw, ops: ops, locks: env.Leases, zoneLock: zoneLock}
}

// Registry maps config names to entries. It is an explicit map built by Default; nothing registers itself.
type Registry map[string]*Entry

// Names returns the registry's names, sorted.
func (r Registry) Names() []string { return slices.Sorted(maps.Keys(r)) }

// NamesList returns the names as one comma-separated string, for error messages.
func (r Registry) NamesList() string { return strings.Join(r.Names(), ", ") }

// aliases are names users reach for that are not module names.
var aliases = map[string]string{
	"aws": "route53", "awsroute53": "route53", "route-53": "route53",
	"google": "googleclouddns", "gcloud": "googleclouddns", "clouddns": "googleclouddns", "gcp": "googleclouddns",
	"azuredns": "azure", "hetznercloud": "hetzner", "hcloud": "hetzner", "do": "digitalocean",
	"acme-dns": "acmedns", "pdns": "powerdns", "nsupdate": "rfc2136", "bind": "rfc2136",
}

// Suggest returns the registered name closest to an unknown one (a known alias, a case or punctuation slip, or a
// typo of one or two characters), or "".
func (r Registry) Suggest(name string) string {
	n := strings.ToLower(strings.NewReplacer("-", "", "_", "", ".", "", " ", "").Replace(name))
	if a, ok := aliases[n]; ok && r[a] != nil {
		return a
	}
	best, bestD := "", 3
	for _, k := range r.Names() {
		if k == n {
			return k
		}
		if d := editDistance(n, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Env is what a writer may use besides its own config.
type Env struct {
	// Path is the provider block's JSON path relative to the issuer's webhook.config (e.g.
	// "aliasProvider.cloudflare"), for error messages.
	Path string
	// Name is the entry's name (NewWriter sets it), for the Observer.
	Name string
	// Pacer is the account's rate limit, shared by every call to that account in this process: Env.Client paces
	// each request with it, and a libdns writer paces each call when the library's requests do not go through
	// Env.Client. Nil: not paced.
	Pacer *Pacer
	// HTTPClient sends the provider's HTTP API requests; nil means a default client with timeouts. Writers wrap
	// it with the retrying transport.
	HTTPClient *http.Client
	// TXT looks up the TXT values DNS serves at a name, by the delegation check's resolver rules. ACME-DNS uses it
	// because it cannot read its records back. Nil: no check.
	TXT func(ctx context.Context, fqdn string) ([]string, error)
	// Locks serialises work per key across every writer of this process.
	Locks *KeyedMutex
	// Limits bounds concurrent calls per server across every writer of this process.
	Limits *Limiter
	// Leases are the set strategy's cross-replica locks.
	Leases *LeaseLocks
	// Slots are the fixed strategy's (ACME-DNS) cross-replica slots.
	Slots *Slots
	// AllowAmbientCredentials is cert-manager's word for this challenge: a provider may fall back to credentials
	// of the environment (cloud instance metadata, workload identity) only when it is true.
	AllowAmbientCredentials bool
}

// Writer puts and removes one TXT value at one name. Implementations are safe for concurrent use.
type Writer interface {
	// Present makes sure the TXT value exists at rec.FQDN; an identical value already there is success. It never
	// removes other values at that name.
	Present(ctx context.Context, rec Record) error
	// CleanUp removes exactly the TXT value at rec.FQDN; already gone is success.
	CleanUp(ctx context.Context, rec Record) error
	// FindZone returns the zone at this provider that holds fqdn, or an error saying it cannot tell.
	FindZone(ctx context.Context, fqdn string) (string, error)
}

// Finder is a Writer that can tell whether a CleanUp found its value, and find a value anywhere in a zone: when
// cnameStrategy: Follow wrote at a name the CNAME no longer leads to, CleanUp at the canonical alias name finds
// nothing, and the value is looked up by itself (DESIGN.md "CleanUp decisions").
type Finder interface {
	Writer
	// CleanUpFound is CleanUp, reporting whether the value was there.
	CleanUpFound(ctx context.Context, rec Record) (found bool, err error)
	// FindValue returns the names in zone (canonical) that hold value as a TXT record.
	FindValue(ctx context.Context, zone, value string) ([]string, error)
}

// Record is one TXT value to present or clean up.
type Record struct {
	// Zone and FQDN are canonical; FQDN lies inside Zone.
	Zone, FQDN string
	// Value is the challenge key.
	Value string
	// TTL is ignored by CleanUp: records are matched by name, type and value.
	TTL time.Duration
	// DNSName is the validated domain (canonical); ACME-DNS selects its account by it.
	DNSName string
}

// Default returns the providers this build ships with: the original three always, and every other one unless
// the binary is built with the tag "minimal" (to measure what the others cost in size and memory).
func Default() Registry {
	r := Registry{}
	for _, e := range append([]*Entry{acmednsEntry(), cloudflareEntry(), rfc2136Entry()}, extraEntries()...) {
		r[e.Name] = e
	}
	return r
}
