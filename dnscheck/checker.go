package dnscheck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

const (
	// maxHops is the longest CNAME chain accepted from the name the CA queries to the record the webhook writes.
	maxHops = 8
	// MaxCacheTTL caps how long a positive delegation result is reused, whatever the records' TTLs.
	MaxCacheTTL = 5 * time.Minute
	// DefaultCacheSize is how many positive results a Checker keeps when CacheSize is zero.
	DefaultCacheSize = 1024
)

// Checker runs the delegation, CNAME, TXT, zone and CAA checks with one Resolver's rules and keeps its own cache
// of positive delegation results. It is safe for concurrent use; set its fields before the first call.
type Checker struct {
	// Resolver says which servers are asked and how.
	Resolver Resolver
	// CacheSize bounds the cached positive delegation results; 0 means DefaultCacheSize, a negative value turns
	// the cache off.
	CacheSize int

	// now is the clock of the cache; tests move it.
	now func() time.Time

	mu    sync.Mutex
	cache map[cacheKey]cacheEntry
}

// NewChecker returns a Checker using r, with the default cache.
func NewChecker(r Resolver) *Checker { return &Checker{Resolver: r} }

type cacheKey struct{ name, target string }

type cacheEntry struct {
	res     Result
	expires time.Time
}

// Hop is one CNAME of a chain.
type Hop struct {
	// Owner of the CNAME and the Target it points to, canonical.
	Owner, Target string
	// TTL of the CNAME as served.
	TTL uint32
	// Servers that gave it: every authoritative server that answered (they agreed), or the configured resolver.
	Servers []Server
	// Synthesised is true when Owner has no CNAME of its own and a wildcard answered for it; Wildcard is that
	// wildcard's owner (e.g. "*.example.com."), empty when it could not be told.
	Synthesised bool
	Wildcard    string
}

// String returns the hop as a zone-file line with the TTL, marked when a wildcard made it, e.g.
// "_acme-challenge.example.com. 60 CNAME _acme-challenge.validation.example.org. (from *.example.com.)".
func (h Hop) String() string {
	s := fmt.Sprintf("%s %d CNAME %s", h.Owner, h.TTL, h.Target)
	switch {
	case h.Wildcard != "":
		s += " (from the wildcard " + h.Wildcard + ")"
	case h.Synthesised:
		s += " (from a wildcard)"
	}
	return s
}

// Result is a delegation that holds.
type Result struct {
	// Name the CA queries and Target the webhook writes, canonical.
	Name, Target string
	// Hops from Name to Target; empty when Name is Target.
	Hops []Hop
	// Cached is true when the result was served from the Checker's cache rather than asked again.
	Cached bool
}

// Delegation checks that the CNAME chain from name (the name the CA queries, _acme-challenge.<dnsName>.) ends at
// target (the record the webhook writes, _acme-challenge.<domainAlias>. or an ACME-DNS fulldomain), within
// maxHops hops, asking type CNAME hop by hop. The chain may pass through other names and zones, and a hop may
// come from a wildcard; a correct CNAME whose target does not exist yet (RFC 6604: NXDOMAIN with the CNAME in
// the answer) holds. A success is cached for the smallest TTL of the chain, at most MaxCacheTTL; a failure is
// never cached, so a retry after the user fixes DNS sees the fix at once. A failure that DNS itself shows is a
// *DelegationError saying what to create, in which zone; the other errors (a name that is not a domain name) say
// what is wrong with the input.
func (c *Checker) Delegation(ctx context.Context, name, target string) (Result, error) {
	name, err := dnsname.Canonical(name)
	if err != nil {
		return Result{}, fmt.Errorf("the name to check %w", err)
	}
	target, err = dnsname.Canonical(target)
	if err != nil {
		return Result{}, fmt.Errorf("the delegation target %w", err)
	}
	key := cacheKey{name, target}
	if res, ok := c.cached(key); ok {
		return res, nil
	}
	res, ttl, derr := c.follow(ctx, name, target)
	if derr != nil {
		// Say which zone the record belongs in. When the zone's own servers are the ones failing, the resolvers'
		// view still names it; when nothing answers, the message is only vaguer.
		if z, err := c.Resolver.zone(ctx, name); err == nil {
			derr.Zone = z
		} else if z, err := c.Resolver.findZone(ctx, name); err == nil {
			derr.Zone = z
		}
		return Result{}, derr
	}
	c.store(key, res, ttl)
	return res, nil
}

// follow walks the chain. It returns the result and the smallest TTL seen, or what went wrong.
func (c *Checker) follow(ctx context.Context, name, target string) (Result, uint32, *DelegationError) {
	r := &c.Resolver
	res := Result{Name: name, Target: target}
	minTTL := uint32(MaxCacheTTL / time.Second)
	fail := func(kind Kind) *DelegationError {
		return &DelegationError{Kind: kind, Name: name, Target: target, Hops: res.Hops}
	}
	if len(r.Servers) == 0 {
		e := fail(NoAnswer)
		e.Err = &QueryError{Name: name, Type: "CNAME"}
		return Result{}, 0, e
	}
	seen := map[string]bool{name: true}
	for cur := name; cur != target; {
		if len(res.Hops) == maxHops {
			return Result{}, 0, fail(TooLong)
		}
		a, err := r.query(ctx, cur, dns.TypeCNAME)
		if err != nil {
			e := fail(NoAnswer)
			var qe *QueryError
			if errors.As(err, &qe) && len(qe.Disagreement) > 0 {
				e.Kind = Inconsistent
			}
			e.At, e.Err = cur, err
			return Result{}, 0, e
		}
		next, ttl := cnameAt(a.msg, cur)
		if next == "" {
			if len(res.Hops) > 0 {
				e := fail(WrongTarget)
				if w := firstWildcard(res.Hops); w != nil {
					e.Kind, e.Wildcard = WildcardWrongTarget, w.Wildcard
				}
				e.End = summary(a.msg, cur, dns.TypeCNAME)
				return Result{}, 0, e
			}
			e := fail(NoRecord)
			e.Servers = a.servers
			if a.msg.Rcode == dns.RcodeNameError {
				e.Kind = NXDomain
				return Result{}, 0, e
			}
			// A challenge TXT written at the production name itself is the usual reason for no CNAME there.
			if t, err := r.query(ctx, name, dns.TypeTXT); err == nil {
				for _, rr := range recordsAt(t.msg, name, dns.TypeTXT) {
					e.Kind = TXTAtName
					e.TXT = append(e.TXT, strings.Join(rr.(*dns.TXT).Txt, ""))
				}
			}
			return Result{}, 0, e
		}
		hop := Hop{Owner: cur, Target: next, TTL: ttl, Servers: a.servers}
		synth, wildcard, err := c.wildcard(ctx, a, cur, next)
		if err != nil {
			e := fail(NoAnswer)
			e.At, e.Err = cur, err
			return Result{}, 0, e
		}
		hop.Synthesised, hop.Wildcard = synth, wildcard
		res.Hops = append(res.Hops, hop)
		minTTL = min(minTTL, ttl)
		if next != target && seen[next] {
			return Result{}, 0, fail(Loop)
		}
		seen[next] = true
		cur = next
	}
	return res, minTTL, nil
}

func firstWildcard(hops []Hop) *Hop {
	for i := range hops {
		if hops[i].Synthesised {
			return &hops[i]
		}
	}
	return nil
}

// probeLabel returns a label no zone holds, to ask what a wildcard would answer.
func probeLabel() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "_dnscheck-probe-" + hex.EncodeToString(b)
}

// wildcard tells whether the CNAME at owner (pointing at target) was synthesised by a wildcard, and which one.
// Without DNSSEC an answer does not say so; but a name that has no records of its own answers exactly as any
// other missing name beside it does, so a random sibling gets the same CNAME from the same wildcard. The wildcard
// is then the closest *.<ancestor> up to the zone apex that answers with that CNAME and exists literally: a
// literal *.A has no wildcard of its own below it, so a random name under it does not get the same CNAME.
func (c *Checker) wildcard(ctx context.Context, a *answer, owner, target string) (bool, string, error) {
	r := &c.Resolver
	parent := dnsname.Parent(owner)
	if owner == a.zone || owner == "." {
		return false, "", nil // an apex always exists
	}
	p, err := r.askZone(ctx, a, probeLabel()+"."+parent, dns.TypeCNAME)
	if err != nil {
		return false, "", err
	}
	if t, _ := cnameAt(p.msg, p.name); t != target {
		return false, "", nil
	}
	// Which wildcard it was only improves the message; failing to tell leaves it unnamed.
	source, _ := c.wildcardSource(ctx, a, owner, target)
	return true, source, nil
}

// wildcardSource climbs from owner's parent to the zone apex looking for the literal *.<ancestor> that
// synthesised a CNAME to target.
func (c *Checker) wildcardSource(ctx context.Context, a *answer, owner, target string) (string, error) {
	r := &c.Resolver
	apex := a.zone
	if apex == "" {
		var err error
		if apex, err = r.findZone(ctx, owner); err != nil {
			return "", err
		}
	}
	for anc := dnsname.Parent(owner); dnsname.Within(anc, apex); anc = dnsname.Parent(anc) {
		star := "*." + anc
		w, err := r.askZone(ctx, a, star, dns.TypeCNAME)
		if err != nil {
			return "", err
		}
		if t, _ := cnameAt(w.msg, star); t == target {
			under, err := r.askZone(ctx, a, probeLabel()+"."+star, dns.TypeCNAME)
			if err != nil {
				return "", err
			}
			if t, _ := cnameAt(under.msg, under.name); t != target {
				return star, nil
			}
		}
		if anc == apex || anc == "." {
			break
		}
	}
	return "", nil
}

// CNAME returns the target of the CNAME at fqdn itself (not following it), or "" when fqdn has none. A CNAME
// that a wildcard synthesises does not count: a record written at fqdn takes precedence over the wildcard, so it
// does not stop a direct-mode write. Errors are *QueryError when no server answered.
func (c *Checker) CNAME(ctx context.Context, fqdn string) (string, error) {
	fqdn, err := dnsname.Canonical(fqdn)
	if err != nil {
		return "", fmt.Errorf("the name %w", err)
	}
	if err := c.ready(fqdn, "CNAME"); err != nil {
		return "", err
	}
	a, err := c.Resolver.query(ctx, fqdn, dns.TypeCNAME)
	if err != nil {
		return "", err
	}
	target, _ := cnameAt(a.msg, fqdn)
	if target == "" {
		return "", nil
	}
	synth, _, err := c.wildcard(ctx, a, fqdn, target)
	if err != nil {
		return "", err
	}
	if synth {
		return "", nil
	}
	return target, nil
}

// TXT returns the TXT values a resolver would see at fqdn, following a CNAME there (at most maxHops hops), by the
// resolver's rules: in authoritative mode straight from each zone's servers, so a value pushed a second ago
// shows. No record (NXDOMAIN or NODATA) is no values and no error.
func (c *Checker) TXT(ctx context.Context, fqdn string) ([]string, error) {
	fqdn, err := dnsname.Canonical(fqdn)
	if err != nil {
		return nil, fmt.Errorf("the name %w", err)
	}
	if err := c.ready(fqdn, "TXT"); err != nil {
		return nil, err
	}
	_, rrs, err := c.lookupFollow(ctx, fqdn, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

// lookupFollow asks name/qtype and follows CNAMEs as a resolver does, re-asking at the end of what a reply
// chased (an authoritative server chases only inside its own zones). It returns the name the records are at.
func (c *Checker) lookupFollow(ctx context.Context, name string, qtype uint16) (string, []dns.RR, error) {
	cur := name
	for range maxHops + 1 {
		a, err := c.Resolver.query(ctx, cur, qtype)
		if err != nil {
			return "", nil, err
		}
		end := chainEnd(a.msg, cur)
		if rrs := recordsAt(a.msg, end, qtype); len(rrs) > 0 {
			return end, rrs, nil
		}
		// A recursive resolver has chased the whole chain already.
		if end == cur || !c.Resolver.Authoritative {
			return end, nil, nil
		}
		cur = end
	}
	return "", nil, fmt.Errorf("the CNAME chain from %s has more than %d hops", name, maxHops)
}

// Zone returns the apex of the zone holding fqdn, found by SOA by the resolver's rules.
func (c *Checker) Zone(ctx context.Context, fqdn string) (string, error) {
	fqdn, err := dnsname.Canonical(fqdn)
	if err != nil {
		return "", fmt.Errorf("the name %w", err)
	}
	if err := c.ready(fqdn, "SOA"); err != nil {
		return "", err
	}
	return c.Resolver.zone(ctx, fqdn)
}

func (c *Checker) ready(name, qtype string) error {
	if len(c.Resolver.Servers) == 0 {
		return &QueryError{Name: name, Type: qtype}
	}
	return nil
}

func (c *Checker) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *Checker) cached(key cacheKey) (Result, bool) {
	if c.CacheSize < 0 {
		return Result{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cache[key]
	if !ok {
		return Result{}, false
	}
	if !c.clock().Before(e.expires) {
		delete(c.cache, key)
		return Result{}, false
	}
	res := e.res
	res.Hops = append([]Hop(nil), e.res.Hops...)
	res.Cached = true
	return res, true
}

func (c *Checker) store(key cacheKey, res Result, ttl uint32) {
	if c.CacheSize < 0 || ttl == 0 {
		return
	}
	size := c.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		c.cache = map[cacheKey]cacheEntry{}
	}
	if _, ok := c.cache[key]; !ok && len(c.cache) >= size {
		// Full: drop what has expired, else the entry closest to expiry (it would be asked again soonest anyway).
		var soonest cacheKey
		var at time.Time
		for k, e := range c.cache {
			if !now.Before(e.expires) {
				delete(c.cache, k)
				continue
			}
			if at.IsZero() || e.expires.Before(at) {
				soonest, at = k, e.expires
			}
		}
		if len(c.cache) >= size {
			delete(c.cache, soonest)
		}
	}
	c.cache[key] = cacheEntry{res: res, expires: now.Add(time.Duration(ttl) * time.Second)}
}
