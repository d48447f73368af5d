package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/libdns/acmedns"
	"k8s.io/klog/v2"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

func acmednsEntry() *Entry {
	return &Entry{
		Name:   "acmedns",
		Module: "github.com/libdns/acmedns",
		New:    func() any { return new(acmedns.Provider) },
		// The account password, at the top level and in every entry of config.
		Credentials: []string{"password"},
		// The issuer chooses the server the account's username and password are sent to.
		Endpoints: []string{"server_url"},
		Strategy:  Fixed,
		Unlimited: true,
		Zones:     "none: the record is the account's fulldomain",
		Test:      FakeAPI,
		HTTP:      "the webhook's own client: the library's ignores the context and never closes response bodies",
		Quirks: []string{
			"panics on a server_url net/http cannot parse: the URL is checked first, and the webhook sends the update itself",
			"keeps two values per account and cannot delete: two slots per account (Leases) decide which Present may push; CleanUp frees its slot and reads no Secret",
			"cannot read records: a Present whose value DNS already serves pushes nothing",
		},
		Example: "username: 3c8f6b2e-0000-4000-8000-000000000000\npassword: {secretKeyRef: {name: acme-dns, key: password}}\n" +
			"subdomain: 3c8f6b2e-0000-4000-8000-000000000001\nserver_url: https://auth.acme-dns.io\n",
		Build: buildACMEDNS,
	}
}

func buildACMEDNS(v any, env Env) (Writer, error) {
	p := v.(*acmedns.Provider)
	path := env.Path
	var errs []error
	single := p.Username != "" || p.Password != "" || p.Subdomain != "" || p.ServerURL != ""
	switch {
	case len(p.Configs) > 0 && single:
		errs = append(errs, fmt.Errorf("config.%s: set either config (one account per domain) or "+
			"username, password, subdomain and server_url (one account), not both", path))
	case len(p.Configs) > 0:
		for _, domain := range slices.Sorted(maps.Keys(p.Configs)) {
			c := p.Configs[domain]
			at := fmt.Sprintf("config.%s.config[%s]", path, domain)
			if n, err := dnsname.Canonical(domain); err != nil || n != strings.ToLower(domain)+"." {
				errs = append(errs, fmt.Errorf("%s: the keys of config are domain names without a trailing dot, "+
					"e.g. example.com, as acme-dns-client stores them", at))
			}
			errs = append(errs, checkAccount(at, c.Username, c.Password, c.Subdomain, c.ServerURL)...)
			if c.FullDomain != "" {
				if _, err := dnsname.Canonical(c.FullDomain); err != nil {
					errs = append(errs, fmt.Errorf("%s.fulldomain: %w", at, err))
				}
			}
		}
	default:
		errs = append(errs, checkAccount("config."+path, p.Username, p.Password, p.Subdomain, p.ServerURL)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &acmednsWriter{p: p, path: path, txt: env.TXT, slots: env.Slots, client: newRetryClient(env.HTTPClient)}, nil
}

// checkAccount checks one ACME-DNS account. libdns/acmedns v0.5.0 panics on a server_url that net/http cannot
// parse, so it is checked here first.
func checkAccount(at, user, password, subdomain, serverURL string) []error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"username", user}, {"password", password}, {"subdomain", subdomain}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s.%s: is required: the account's %s as ACME-DNS /register returned it",
				at, f.name, f.name))
		}
	}
	if subdomain != "" && strings.Contains(subdomain, ".") {
		errs = append(errs, fmt.Errorf("%s.subdomain: %q is the account's fulldomain; subdomain is its first label", at, subdomain))
	}
	u, err := url.Parse(serverURL)
	switch {
	case serverURL == "":
		errs = append(errs, fmt.Errorf("%s.server_url: is required: the ACME-DNS API, e.g. https://auth.acme-dns.io", at))
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil:
		errs = append(errs, fmt.Errorf("%s.server_url: %q is not an http(s) URL such as https://auth.acme-dns.io", at, serverURL))
	}
	return errs
}

// acmednsWriter is the fixed strategy's writer. ACME-DNS serves one name per account (its fulldomain), keeps the
// two latest values there, cannot read them back and cannot delete them. libdns/acmedns's config is used as is,
// but not its client, which ignores the context and never closes response bodies: the update is one POST, sent
// here through the webhook's own HTTP client.
type acmednsWriter struct {
	p    *acmedns.Provider
	path string
	// txt reads the values DNS serves at the fulldomain; nil skips the check.
	txt    func(ctx context.Context, fqdn string) ([]string, error)
	slots  *Slots
	client *retryClient
}

// Present implements Writer: it claims one of the account's two slots, then pushes the value unless ACME-DNS
// already serves it.
func (w *acmednsWriter) Present(ctx context.Context, rec Record) error {
	domain := strings.TrimSuffix(rec.DNSName, ".")
	acct, err := w.account(domain, rec.FQDN)
	if err != nil {
		return err
	}
	pushed, undo, err := w.slots.Claim(ctx, rec.FQDN, rec.Value, domain)
	if err != nil || pushed {
		return err
	}
	if err := w.update(ctx, rec, acct); err != nil {
		undo()
		return err
	}
	return nil
}

// update pushes the value unless ACME-DNS already serves it: a repeated Present of a value it holds would push
// the sibling value (the wildcard's or the apex's) out of the two it keeps. The DNS check gets a bounded share of
// the call's time, so a resolver that does not answer cannot use up the deadline; if it fails, the update goes
// ahead.
func (w *acmednsWriter) update(ctx context.Context, rec Record, acct acmednsAccount) error {
	if w.txt != nil {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout(ctx))
		values, err := w.txt(cctx, rec.FQDN)
		cancel()
		if err == nil && slices.Contains(values, rec.Value) {
			return nil
		}
		if err != nil {
			klog.FromContext(ctx).V(2).Info("could not check the ACME-DNS value through DNS; updating anyway",
				"fqdn", rec.FQDN, "err", err)
		}
	}
	body, _ := json.Marshal(map[string]string{"subdomain": acct.Subdomain, "txt": rec.Value})
	endpoint := strings.TrimSuffix(acct.ServerURL, "/") + "/update"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("ACME-DNS update at %s: %w", acct.ServerURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-User", acct.Username)
	req.Header.Set("X-Api-Key", acct.Password)
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("ACME-DNS update at %s: %w", acct.ServerURL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized {
			hint = ": ACME-DNS refused the account's username and password; check them and the Secret"
		}
		return fmt.Errorf("ACME-DNS update at %s: HTTP %d: %s%s", acct.ServerURL, resp.StatusCode,
			strings.TrimSpace(string(msg)), hint)
	}
	return nil
}

// checkTimeout is a third of the time left, at most 5 s.
func checkTimeout(ctx context.Context) time.Duration {
	d := 5 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(deadline)/3)
	}
	return d
}

type acmednsAccount struct{ ServerURL, Subdomain, Username, Password string }

// account returns the account libdns/acmedns will use for domain, after making sure the configured alias is its
// fulldomain, which is where ACME-DNS serves values.
func (w *acmednsWriter) account(domain, fqdn string) (acmednsAccount, error) {
	subdomain, server, full, user, password := w.p.Subdomain, w.p.ServerURL, "", w.p.Username, w.p.Password
	if len(w.p.Configs) > 0 {
		c, ok := w.p.Configs[domain]
		if !ok {
			return acmednsAccount{}, fmt.Errorf("config.%s.config: has no account for %s; add one keyed %q (known: %s)",
				w.path, domain, domain, strings.Join(slices.Sorted(maps.Keys(w.p.Configs)), ", "))
		}
		subdomain, server, full, user, password = c.Subdomain, c.ServerURL, c.FullDomain, c.Username, c.Password
	}
	if full != "" {
		if f, _ := dnsname.Canonical(full); f != fqdn {
			return acmednsAccount{}, fmt.Errorf("the domainAlias for %s is %s but its ACME-DNS account's fulldomain "+
				"is %s: set domainAlias to the fulldomain and point the CNAME there", domain, fqdn, f)
		}
	} else if first, _, _ := strings.Cut(fqdn, "."); first != strings.ToLower(subdomain) {
		return acmednsAccount{}, fmt.Errorf("the domainAlias %s is not the fulldomain of the ACME-DNS account for %s "+
			"(it would start with the subdomain %s): set domainAlias to the fulldomain ACME-DNS /register returned",
			fqdn, domain, subdomain)
	}
	return acmednsAccount{ServerURL: server, Subdomain: subdomain, Username: user, Password: password}, nil
}

// CleanUp frees the value's slot: ACME-DNS has no delete and replaces the older of its two values on the next
// update. It needs no credential, so the solver may also call Slots.Release without building the writer.
func (w *acmednsWriter) CleanUp(ctx context.Context, rec Record) error {
	return w.slots.Release(ctx, rec.FQDN, rec.Value)
}

// FindZone is never needed: the mapping writes ACME-DNS records at the alias itself.
func (w *acmednsWriter) FindZone(_ context.Context, fqdn string) (string, error) { return fqdn, nil }

var _ Writer = (*acmednsWriter)(nil)
