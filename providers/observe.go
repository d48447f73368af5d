package providers

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// Observer receives what the providers do, for the webhook's metrics. Label values are bounded: provider names
// from the registry, a handful of call kinds and outcomes; never a domain name.
type Observer interface {
	// ProviderCall is one provider library call or HTTP request (call: append, delete, get, zones, http) and how
	// it ended (outcome: ok, error, rate limited, timeout).
	ProviderCall(provider, call, outcome string, d time.Duration)
	// RateLimitWait is a call that waited d for its account's pacer.
	RateLimitWait(provider string, d time.Duration)
	// Throttled is a 429 (or a library error saying so) from the provider.
	Throttled(provider string)
	// Retry is a request or call sent again after a 429, a 5xx or a network failure.
	Retry(provider string)
	// RateLimited is a call refused because its pacer had no slot before its deadline.
	RateLimited(provider string)
}

type noObserver struct{}

func (noObserver) ProviderCall(string, string, string, time.Duration) {}
func (noObserver) RateLimitWait(string, time.Duration)                {}
func (noObserver) Throttled(string)                                   {}
func (noObserver) Retry(string)                                       {}
func (noObserver) RateLimited(string)                                 {}

type observerBox struct{ o Observer }

var observer atomic.Pointer[observerBox]

// SetObserver installs the process's Observer (main installs the metrics); nil removes it.
func SetObserver(o Observer) {
	if o == nil {
		observer.Store(nil)
		return
	}
	observer.Store(&observerBox{o})
}

func observe() Observer {
	if b := observer.Load(); b != nil {
		return b.o
	}
	return noObserver{}
}

// callOutcome names how a call ended, from a bounded set.
func callOutcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrRateLimited):
		return "rate limited"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case looksThrottled(err):
		return "rate limited"
	}
	return "error"
}

// status429 is 429 as a word: not inside a hexadecimal record or zone ID.
var status429 = regexp.MustCompile(`(^|[^0-9a-z])429([^0-9a-z]|$)`)

// looksThrottled reports whether a library's error says the provider answered 429 (most libraries keep only the
// status in their error text).
func looksThrottled(err error) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(err.Error())
	return status429.MatchString(msg) || strings.Contains(msg, "too many requests") ||
		strings.Contains(msg, "rate limit") || strings.Contains(msg, "throttl")
}
