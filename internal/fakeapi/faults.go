package fakeapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Match selects the requests a fault applies to. An empty field matches anything.
type Match struct {
	// Method is the HTTP method, e.g. "POST"; compared without regard to case.
	Method string
	// PathPrefix is compared with the URL path as received, e.g. "/v2/domains/example.com/records".
	PathPrefix string
}

// Refusal describes an answer the server gives in place of the handler's: a 429 from the rate window or
// RateLimit, or the status of FailNext.
type Refusal struct {
	// Status is the HTTP status to answer with.
	Status int
	// RetryAfter is how long the client should wait, 0 when the server does not say. When it is positive, the
	// Retry-After header is already set on the response, in whole seconds rounded up; a RefuseFunc may change or
	// delete it before writing the status.
	RetryAfter time.Duration
	// Window is true when the rate window refused the request.
	Window bool
	// Limit and Remaining describe the rate window when Window is true (Remaining is then 0), for vendors that
	// send rate-limit headers.
	Limit, Remaining int
	// Reset is when the window lets requests through again, when Window is true.
	Reset time.Time
}

// RefuseFunc writes the answer to a refused request in a vendor's format: its headers, status and body.
type RefuseFunc func(w http.ResponseWriter, r *http.Request, ref Refusal)

func defaultRefuse(w http.ResponseWriter, _ *http.Request, ref Refusal) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ref.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": http.StatusText(ref.Status)})
}

// RetryAfterSeconds is d in whole seconds, rounded up, as a Retry-After header carries it.
func RetryAfterSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

func (s *Server) writeRefusal(w http.ResponseWriter, r *http.Request, entry Request, ref Refusal) {
	if ref.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(RetryAfterSeconds(ref.RetryAfter), 10))
	}
	lw := &logWriter{ResponseWriter: w, s: s, entry: entry}
	s.refuse(lw, r, ref)
	lw.done()
}

type faultKind int

const (
	kindRateLimit faultKind = iota + 1
	kindFail
	kindSlow
	kindReset
	kindTruncate
)

func (k faultKind) String() string {
	switch k {
	case kindRateLimit:
		return "rate-limit"
	case kindFail:
		return "fail"
	case kindSlow:
		return "slow"
	case kindReset:
		return "reset"
	case kindTruncate:
		return "truncate"
	}
	return "unknown"
}

type fault struct {
	kind      faultKind
	remaining int
	status    int
	delay     time.Duration // Retry-After for RateLimit, the wait for Slow
	match     []Match
}

func (f *fault) matches(r *http.Request) bool {
	if len(f.match) == 0 {
		return true
	}
	for _, m := range f.match {
		if (m.Method == "" || strings.EqualFold(m.Method, r.Method)) && strings.HasPrefix(r.URL.Path, m.PathPrefix) {
			return true
		}
	}
	return false
}

// RateLimit makes the next n requests matching any of match (all requests when match is empty) fail with HTTP
// 429, and a Retry-After header of retryAfter rounded up to whole seconds; retryAfter 0 sends none. Faults apply
// in the order they were added, one per request, after the rate window and before the handler.
func (s *Server) RateLimit(n int, retryAfter time.Duration, match ...Match) {
	s.addFault(&fault{kind: kindRateLimit, remaining: n, status: http.StatusTooManyRequests, delay: retryAfter, match: match})
}

// FailNext makes the next n matching requests fail with status, meant for 5xx bursts.
func (s *Server) FailNext(n, status int, match ...Match) {
	s.addFault(&fault{kind: kindFail, remaining: n, status: status, match: match})
}

// Slow makes the next n matching requests wait d before the handler answers them. A client that gives up
// meanwhile (its context ends, or it closes the connection) gets nothing, and the handler does not run: the
// request is logged with status 0.
func (s *Server) Slow(n int, d time.Duration, match ...Match) {
	s.addFault(&fault{kind: kindSlow, remaining: n, delay: d, match: match})
}

// Reset makes the next n matching requests end with the connection closed and no answer; the handler does not
// run. Note that Go's transport retries an idempotent request (GET, or one with an idempotency key) once on its
// own when a reused connection dies that way, which consumes a second count.
func (s *Server) Reset(n int, match ...Match) {
	s.addFault(&fault{kind: kindReset, remaining: n, match: match})
}

// Truncate makes the next n matching requests run the handler as usual (a change it makes is made) and answer
// with its status and headers but only the first half of its body, Content-Length matching: a complete HTTP
// answer whose JSON (or XML) does not parse, as when a middlebox cuts the answer.
func (s *Server) Truncate(n int, match ...Match) {
	s.addFault(&fault{kind: kindTruncate, remaining: n, match: match})
}

func (s *Server) addFault(f *fault) {
	if f.remaining <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

func (s *Server) takeFault(r *http.Request) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !f.matches(r) {
			continue
		}
		f.remaining--
		if f.remaining == 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return f
	}
	return nil
}

// window is a sliding-window rate limit with a penalty.
type window struct {
	requests   int
	per        time.Duration
	penalty    time.Duration
	retryAfter bool
	// seen holds the arrival times of the requests let through within the last per, oldest first.
	seen         []time.Time
	blockedUntil time.Time
}

// Limit sets the rate window: once requests requests have been let through within the last per, every further
// request is refused with 429 for penalty, as Cloudflare does (1200 per 5 minutes, then blocked for 5 minutes).
// With penalty 0 the window only slides: a request is refused until the oldest of the last requests ages out, as
// deSEC's throttles do. When retryAfter is true, Retry-After gives the time left. Refused requests do not count
// towards the window. requests <= 0 removes the window. The window is checked before the faults.
func (s *Server) Limit(requests int, per, penalty time.Duration, retryAfter bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if requests <= 0 || per <= 0 {
		s.window = nil
		return
	}
	s.window = &window{requests: requests, per: per, penalty: penalty, retryAfter: retryAfter}
}

// checkWindow counts the request against the window and reports whether it is refused.
func (s *Server) checkWindow() (Refusal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.window
	if w == nil {
		return Refusal{}, false
	}
	now := s.now()
	cut := 0
	for cut < len(w.seen) && !w.seen[cut].After(now.Add(-w.per)) {
		cut++
	}
	w.seen = w.seen[cut:]
	ref := Refusal{Status: http.StatusTooManyRequests, Window: true, Limit: w.requests}
	switch {
	case now.Before(w.blockedUntil):
		ref.Reset = w.blockedUntil
	case len(w.seen) >= w.requests && w.penalty > 0:
		w.blockedUntil = now.Add(w.penalty)
		ref.Reset = w.blockedUntil
	case len(w.seen) >= w.requests:
		// The request after the oldest one's expiry is let through.
		ref.Reset = w.seen[len(w.seen)-w.requests].Add(w.per)
	default:
		w.seen = append(w.seen, now)
		return Refusal{}, false
	}
	if w.retryAfter {
		ref.RetryAfter = ref.Reset.Sub(now)
	}
	return ref, true
}

// WindowState reports the rate window as a vendor's rate-limit headers describe it: the limit, how many requests
// are left in the current window, and when the oldest counted request ages out (or the penalty ends). ok is false
// when no window is set.
func (s *Server) WindowState() (limit, remaining int, reset time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.window
	if w == nil {
		return 0, 0, time.Time{}, false
	}
	now := s.now()
	n := 0
	for _, t := range w.seen {
		if t.After(now.Add(-w.per)) {
			n++
		}
	}
	if now.Before(w.blockedUntil) {
		return w.requests, 0, w.blockedUntil, true
	}
	reset = now.Add(w.per)
	if n > 0 {
		reset = w.seen[len(w.seen)-n].Add(w.per)
	}
	return w.requests, max(w.requests-n, 0), reset, true
}
