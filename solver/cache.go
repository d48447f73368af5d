package solver

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

// writerCache keeps built writers, keyed by (namespace, provider config, Secret versions), so per-provider
// state (Cloudflare zone IDs, HTTP connections, discovered zones) survives between calls, while a changed Secret
// (new resourceVersion) gives a new key and so takes effect on the next call. Least recently used entries go
// first once it holds max entries.
type writerCache struct {
	max int

	mu      sync.Mutex
	entries map[string]*list.Element
	order   *list.List
}

type cachedWriter struct {
	key string
	w   providers.Writer
	// secrets are the resolved Secret values this writer was built with, to redact from error messages.
	secrets []string

	mu    sync.Mutex
	zones map[string]cachedZone
}

type cachedZone struct {
	zone    string
	expires time.Time
}

// zoneTTL is how long a discovered zone is reused: zones move rarely, but a moved alias should heal unattended.
const zoneTTL = 5 * time.Minute

func newWriterCache(maxEntries int) *writerCache {
	return &writerCache{max: maxEntries, entries: map[string]*list.Element{}, order: list.New()}
}

func (c *writerCache) get(key string) *cachedWriter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cachedWriter)
	}
	return nil
}

// add stores cw unless another call stored one under the same key first; it returns the one kept.
func (c *writerCache) add(cw *cachedWriter) *cachedWriter {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[cw.key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cachedWriter)
	}
	c.entries[cw.key] = c.order.PushFront(cw)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*cachedWriter).key)
	}
	return cw
}

// writer returns the cached writer for a provider config in a namespace, building it when the config or one of
// its Secrets changed. Every Secret problem is reported at once, and the endpoint pin is checked before anything
// is built, so no credential is ever handed to a provider for an endpoint its owner did not allow.
func (st *state) writer(ctx context.Context, namespace string, pc *ProviderConfig, ambient bool) (*cachedWriter, error) {
	r, err := st.secrets.resolve(ctx, namespace, pc)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%v\x00", namespace, pc.Name, ambient)
	h.Write(pc.canonical)
	for _, name := range sortedKeys(r.secrets) {
		h.Write([]byte("\x00" + name + "@" + r.secrets[name].ResourceVersion))
	}
	key := hex.EncodeToString(h.Sum(nil))
	if cw := st.writers.get(key); cw != nil {
		return cw, nil
	}
	entry := st.reg[pc.Name]
	spec := substitute(pc.spec, pc.refs, func(i int) string { return r.values[i] })
	if errs := checkEndpoints(pc, entry.Endpoints, spec, r.secrets, namespace); len(errs) > 0 {
		return nil, redact(errors.Join(errs...), r.values)
	}
	v := entry.New()
	if err := decodeStrict(spec, v); err != nil {
		return nil, fmt.Errorf("config.%s: %w", pc.Path, redact(err, r.values))
	}
	rate, configured := entry.RateLimit, pc.RateLimit != nil
	switch {
	case configured:
		rate = *pc.RateLimit
	case entry.Unlimited:
		rate = providers.Rate{}
	case rate.PerSecond == 0:
		rate = providers.DefaultRate
	}
	w, err := entry.NewWriter(v, providers.Env{
		Path: pc.Path, HTTPClient: st.httpClient, TXT: st.txt, Locks: &st.locks, Limits: &st.limits,
		Leases: st.leases, Slots: st.slots, AllowAmbientCredentials: ambient,
		Pacer: st.pacers.For(pc.Name, accountKey(pc.Name, spec), rate, configured),
	})
	if err != nil {
		return nil, redact(err, r.values)
	}
	return st.writers.add(&cachedWriter{key: key, w: w, secrets: r.values}), nil
}

func (cw *cachedWriter) redact(err error) error { return redact(err, cw.secrets) }

// findZone returns the zone holding fqdn at this writer's provider, from cache when fresh.
func (cw *cachedWriter) findZone(ctx context.Context, fqdn string) (string, error) {
	now := time.Now()
	cw.mu.Lock()
	z, ok := cw.zones[fqdn]
	cw.mu.Unlock()
	if ok && now.Before(z.expires) {
		return z.zone, nil
	}
	zone, err := cw.w.FindZone(ctx, fqdn)
	if err != nil {
		return "", err
	}
	cw.mu.Lock()
	if cw.zones == nil {
		cw.zones = map[string]cachedZone{}
	}
	cw.zones[fqdn] = cachedZone{zone: zone, expires: now.Add(zoneTTL)}
	cw.mu.Unlock()
	return zone, nil
}

// configCache keeps parsed issuer configs by their JSON: every challenge of an issuer carries the same bytes, and
// a Config is never modified after ParseConfig. Errors are not cached, so a fixed issuer heals at once.
type configCache struct {
	mu sync.Mutex
	m  map[string]*Config
}

// maxConfigs bounds the cache; past it the cache starts over (issuers are few, configs rarely change).
const maxConfigs = 256

func (c *configCache) parse(raw []byte, reg providers.Registry) (*Config, error) {
	c.mu.Lock()
	cfg := c.m[string(raw)]
	c.mu.Unlock()
	if cfg != nil {
		return cfg, nil
	}
	cfg, err := ParseConfig(raw, reg)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxConfigs {
		c.m = map[string]*Config{}
	}
	c.m[string(raw)] = cfg
	c.mu.Unlock()
	return cfg, nil
}

// accountKey names a provider account for its pacer: the provider and its resolved config (credentials
// included), hashed, so that every issuer using the same credentials shares one rate limit.
func accountKey(name string, spec map[string]any) string {
	b, _ := json.Marshal(spec) // encoding/json sorts map keys
	sum := sha256.Sum256(append([]byte(name+"\x00"), b...))
	return hex.EncodeToString(sum[:])
}
