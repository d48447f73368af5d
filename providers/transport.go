package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// retryClient sends provider API requests, retrying rate limits (429) and server errors (5xx) within the
// request's deadline, honouring Retry-After. libdns providers are expected to retry briefly themselves
// (libdns package doc); libdns/cloudflare v0.2.2 does not, so the webhook does it for them.
type retryClient struct {
	base *http.Client
	// pacer paces every request of the account; nil: not paced.
	pacer *Pacer
	// name is the provider's, for the Observer.
	name string
	// attempts is the most tries per request.
	attempts int
	// backoff is the first wait when the server gives no Retry-After; it doubles each time.
	backoff time.Duration
}

func newRetryClient(base *http.Client) *retryClient {
	if base == nil {
		base = defaultHTTPClient()
	}
	return &retryClient{base: base, attempts: 5, backoff: 500 * time.Millisecond}
}

// stdTransport is net/http's default transport as the process started: main replaces http.DefaultTransport with
// the webhook's own (Transport), which wraps a clone of this one.
var stdTransport = http.DefaultTransport.(*http.Transport)

// idleConnsPerHost is how many idle connections the default client keeps to one API host: as many as the calls
// cert-manager runs at once (--max-concurrent-challenges, 60), so that a burst does not close and redial, with a
// new TLS handshake each, the connections above the limit (libdns/cloudflare against the fake API through its
// proxy, 50 calls in flight: 0.56–0.69 ms of CPU per call with 32, 0.43–0.46 ms with 64).
const idleConnsPerHost = 64

// defaultHTTPClient honours HTTPS_PROXY/NO_PROXY and bounds every request; the caller's context bounds the call.
func defaultHTTPClient() *http.Client {
	t := stdTransport.Clone()
	t.MaxIdleConnsPerHost = idleConnsPerHost
	t.MaxIdleConns = max(t.MaxIdleConns, 2*idleConnsPerHost)
	return &http.Client{Transport: t, Timeout: 20 * time.Second}
}

// Do implements the HTTPClient interface of libdns providers.
func (c *retryClient) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 {
			r = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				r.Body = body
			}
		}
		if err := c.pacer.Wait(ctx); err != nil {
			observe().RateLimited(c.name)
			noteFailure(ctx, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err))
			return nil, err
		}
		start := time.Now()
		resp, err := c.base.Do(r)
		outcome := "ok"
		switch {
		case err != nil && errors.Is(err, context.DeadlineExceeded):
			outcome = "timeout"
		case err != nil || resp.StatusCode >= 400 && resp.StatusCode != http.StatusTooManyRequests:
			outcome = "error"
		case resp.StatusCode == http.StatusTooManyRequests:
			outcome = "rate limited"
			d, _ := retryAfter(resp)
			observe().Throttled(c.name)
			c.pacer.Throttled(d)
		}
		observe().ProviderCall(c.name, "http", outcome, time.Since(start))
		retry := err != nil && ctx.Err() == nil && transient(err) ||
			err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500)
		if retry && attempt < c.attempts {
			// Exponential backoff, or the server's Retry-After for this one wait when it asks for longer.
			wait := c.backoff << (attempt - 1)
			if d, ok := retryAfter(resp); ok && d > wait {
				wait = d
			}
			if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > wait+time.Second {
				if resp != nil {
					_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
					_ = resp.Body.Close()
				}
				select {
				case <-time.After(wait):
					observe().Retry(c.name)
					continue
				case <-ctx.Done():
					noteFailure(ctx, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ctx.Err()))
					return nil, ctx.Err()
				}
			}
		}
		switch {
		case err != nil:
			noteFailure(ctx, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err))
		case resp.StatusCode >= 400:
			noteFailure(ctx, fmt.Errorf("%s %s: HTTP %d", req.Method, req.URL.Path, resp.StatusCode))
		}
		return resp, err
	}
}

// transient reports whether a transport error may heal on retry: a network or timeout error, not a malformed
// request (a header with a newline in it) that will fail the same way every time.
func transient(err error) bool {
	var opErr *net.OpError
	var netErr net.Error
	return errors.As(err, &opErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.As(err, &netErr) && netErr.Timeout()
}

// retryAfter reads a Retry-After header given in seconds or as an HTTP date.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// failures collects the HTTP requests of one provider call that finally failed, so a library that drops an
// error (libdns/cloudflare v0.2.2 ignores the error of the lookup before a TXT delete) cannot turn a failed
// call into a silent success.
type failures struct {
	mu    sync.Mutex
	first error
}

type failuresKey struct{}

func withFailures(ctx context.Context) (context.Context, *failures) {
	f := &failures{}
	return context.WithValue(ctx, failuresKey{}, f), f
}

func noteFailure(ctx context.Context, err error) {
	if f, ok := ctx.Value(failuresKey{}).(*failures); ok {
		f.mu.Lock()
		if f.first == nil {
			f.first = err
		}
		f.mu.Unlock()
	}
}

func (f *failures) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.first == nil {
		return nil
	}
	return fmt.Errorf("a provider API request failed: %w", f.first)
}

// Transport returns the webhook's HTTP transport for provider libraries that take an http.RoundTripper, or use
// http.DefaultTransport (main installs it there, so even libraries that build a zero http.Client go through it):
// base (nil: a proxy-aware transport with timeouts, honouring HTTPS_PROXY and SSL_CERT_FILE) wrapped in the
// retries of 429 and 5xx within the request's deadline, honouring Retry-After.
func Transport(base http.RoundTripper) http.RoundTripper {
	c := &http.Client{Transport: base}
	if base == nil {
		c = defaultHTTPClient()
	}
	return &retryTransport{c: newRetryClient(c)}
}

// Client returns an HTTP client for a provider library that takes one: env's client (or the default) behind the
// webhook's retrying transport.
func (env Env) Client() *http.Client {
	c := newRetryClient(env.HTTPClient)
	c.pacer, c.name = env.Pacer, env.Name
	return &http.Client{Transport: &retryTransport{c: c}}
}

type retryTransport struct{ c *retryClient }

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.c.Do(req)
	if resp != nil && resp.Body != nil {
		resp.Body = safeBody{resp.Body}
	}
	return resp, err
}

// safeBody never fails to close: libdns/porkbun calls log.Fatal (ending the process) when closing a body fails,
// and no provider call may end the webhook.
type safeBody struct{ io.ReadCloser }

func (b safeBody) Close() error {
	_ = b.ReadCloser.Close()
	return nil
}
