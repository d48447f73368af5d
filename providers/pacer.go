package providers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Rate is a provider account's request budget: PerSecond requests on average, Burst at once. It is the registry
// entry's documented limit (divided by the replica count), or the provider block's rateLimit.
type Rate struct {
	// PerSecond is the sustained rate; 0 turns pacing off for the account.
	PerSecond float64 `json:"perSecond"`
	// Burst is how many requests may go at once after a quiet period; at least 1.
	Burst int `json:"burst"`
}

// DefaultRate paces providers whose limits are not documented: conservative, so that a renewal storm is slowed
// down rather than answered with 429s.
var DefaultRate = Rate{PerSecond: 5, Burst: 10}

// ErrRateLimited is a call that could not get a request slot from its provider's rate limit before its deadline.
var ErrRateLimited = errors.New("rate limited")

// Pacer is one provider account's token bucket, shared by every call in the process. A 429 slows it down (the
// rate halves, recovering over a minute) and holds every waiter until the server's Retry-After has passed, not
// just the call that got it. A wait that would outlast the caller's deadline fails at once instead.
type Pacer struct {
	rate Rate
	// name is the provider's, for the Observer.
	name string
	now  func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
	// hold is when the last 429's Retry-After ends; nobody sends before.
	hold time.Time
	// slowUntil and factor: after a 429 the rate is multiplied by factor (< 1) until slowUntil.
	slowUntil time.Time
	factor    float64
}

// NewPacer returns a full bucket for r, for one account of the provider called name.
func NewPacer(name string, r Rate) *Pacer {
	if r.Burst < 1 {
		r.Burst = 1
	}
	return &Pacer{rate: r, name: name, tokens: float64(r.Burst), factor: 1}
}

func (p *Pacer) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// Wait takes one request slot, waiting for it while ctx's deadline allows (with a second to spare for the
// request itself). Waiting and refusals are reported to the Observer.
func (p *Pacer) Wait(ctx context.Context) error {
	if p == nil || p.rate.PerSecond <= 0 {
		return nil
	}
	wait, err := p.reserve(ctx)
	if err != nil {
		observe().RateLimited(p.name)
		return err
	}
	if wait <= 0 {
		return nil
	}
	observe().RateLimitWait(p.name, wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reserve takes a token now or at the returned time from now, or refuses when that is past ctx's deadline.
func (p *Pacer) reserve(ctx context.Context) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock()
	rate := p.rate.PerSecond
	if now.Before(p.slowUntil) {
		rate *= p.factor
	} else {
		p.factor = 1
	}
	if !p.last.IsZero() {
		p.tokens = math.Min(float64(p.rate.Burst), p.tokens+now.Sub(p.last).Seconds()*rate)
	}
	p.last = now
	start := now
	if p.hold.After(start) {
		start = p.hold
	}
	// Tokens may go negative: each waiter reserves the next free slot, so waiters are served in order.
	var wait time.Duration
	if p.tokens >= 1 {
		wait = start.Sub(now)
	} else {
		wait = start.Sub(now) + time.Duration((1-p.tokens)/rate*float64(time.Second))
	}
	if deadline, ok := ctx.Deadline(); ok && now.Add(wait+time.Second).After(deadline) {
		return 0, fmt.Errorf("%w: the provider's rate limit (%.3g requests/s, burst %d, shared by every call to "+
			"this account; set rateLimit next to the provider to change it) leaves no request slot before this "+
			"call's deadline; cert-manager will retry", ErrRateLimited, rate, p.rate.Burst)
	}
	p.tokens--
	return wait, nil
}

// Throttled tells the pacer that the provider answered 429: every waiter holds until retryAfter has passed (a
// backoff when the server gave none), and the rate halves, recovering after a minute.
func (p *Pacer) Throttled(retryAfter time.Duration) {
	if p == nil || p.rate.PerSecond <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock()
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	if until := now.Add(retryAfter); until.After(p.hold) {
		p.hold = until
	}
	p.factor = math.Max(p.factor/2, 1.0/16)
	p.slowUntil = now.Add(time.Minute)
	p.tokens = math.Min(p.tokens, 0)
}

// Pacers holds one Pacer per provider account for the process.
type Pacers struct {
	// Replicas divides each documented rate, since every replica paces on its own; default 1.
	Replicas int
	// Off turns pacing off (the storm harness's "before" run).
	Off bool

	mu sync.Mutex
	m  map[string]*Pacer
}

// For returns the account's pacer, creating it with r (divided by Replicas) on first use. A config's rateLimit is
// the whole account's budget in this replica: it is used as given.
func (ps *Pacers) For(name, account string, r Rate, configured bool) *Pacer {
	if ps == nil || ps.Off {
		return nil
	}
	if !configured && ps.Replicas > 1 {
		r.PerSecond /= float64(ps.Replicas)
		r.Burst = max(1, r.Burst/ps.Replicas)
	}
	key := fmt.Sprintf("%s\x00%g\x00%d", account, r.PerSecond, r.Burst)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = map[string]*Pacer{}
	}
	p, ok := ps.m[key]
	if !ok {
		p = NewPacer(name, r)
		ps.m[key] = p
	}
	return p
}
