package providers

import (
	"context"
	"maps"
	"net/http"
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
	// Example is a provider block's fields as YAML (indented by two spaces per level, without the provider name),
	// for the docs and the tests that build every provider.
	Example string
	// Build checks a decoded provider (Secrets resolved) and returns the writer the solver drives.
	Build func(v any, env Env) (Writer, error)
	// NetworkHint, if set, says what to check when the provider could not be reached; path is the provider
	// block's JSON path. Default: a hint about the vendor API's reachability.
	NetworkHint func(path string) string
}

// Registry maps config names to entries. It is an explicit map built by Default; nothing registers itself.
type Registry map[string]*Entry

// Names returns the registry's names, sorted.
func (r Registry) Names() []string { return slices.Sorted(maps.Keys(r)) }

// NamesList returns the names as one comma-separated string, for error messages.
func (r Registry) NamesList() string { return strings.Join(r.Names(), ", ") }

// Env is what a writer may use besides its own config.
type Env struct {
	// Path is the provider block's JSON path relative to the issuer's webhook.config (e.g.
	// "aliasProvider.cloudflare"), for error messages.
	Path string
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

// Default returns the providers this build ships with.
func Default() Registry {
	r := Registry{}
	for _, e := range []*Entry{
		cloudflareEntry(),
		rfc2136Entry(),
		acmednsEntry(),
	} {
		r[e.Name] = e
	}
	return r
}
