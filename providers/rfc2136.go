package providers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/libdns/rfc2136"
	"github.com/miekg/dns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// tsigAlgorithms are the TSIG algorithms the rfc2136 provider accepts, by the names users write. HMAC-MD5 is not
// among them: miekg/dns (which libdns/rfc2136 signs with) no longer implements it.
var tsigAlgorithms = map[string]string{
	"hmac-sha1":   dns.HmacSHA1,
	"hmac-sha224": dns.HmacSHA224,
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

func rfc2136Entry() *Entry {
	return &Entry{
		Name:   "rfc2136",
		Module: "github.com/libdns/rfc2136",
		New:    func() any { return new(rfc2136.Provider) },
		// key_name identifies the key and is not secret; only the key material is.
		Credentials: []string{"key"},
		// The issuer chooses the server; the TSIG signature does not reveal the key, but key_name travels in clear
		// and the updates say which names are being validated.
		Endpoints: []string{"server"},
		Strategy:  Exact,
		Unlimited: true,
		Zones:     "SOA walk against its own server over TCP, stopping at a referral",
		Test:      RealServer,
		Quirks: []string{
			"TSIG required; hmac-md5 refused (miekg/dns cannot sign with it)",
			"at most 8 updates per server in flight; network failures retried (a repeated add or delete is a no-op)",
		},
		Example: "server: 203.0.113.53:53\nkey_name: acme-update.\nkey_alg: hmac-sha256\nkey: {secretKeyRef: {name: tsig, key: secret}}\n",
		Build:   buildRFC2136,
		NetworkHint: func(path string) string {
			return fmt.Sprintf("; the DNS server in config.%s.server could not be reached over TCP (updates and zone "+
				"lookups use TCP): check the address and that the webhook's pods may reach it (NetworkPolicy, "+
				"firewall); cert-manager retries", path)
		},
	}
}

// rfc2136Concurrency is how many updates the webhook sends one DNS server at once.
const rfc2136Concurrency = 8

func buildRFC2136(v any, env Env) (Writer, error) {
	p := v.(*rfc2136.Provider)
	path := env.Path
	var errs []error
	server, err := dnsname.HostPort(p.Server)
	switch {
	case p.Server == "":
		errs = append(errs, fmt.Errorf("config.%s.server: is required: the DNS server that accepts the updates, "+
			"as host:port (e.g. 203.0.113.53:53)", path))
	case err != nil:
		errs = append(errs, fmt.Errorf("config.%s.server: %w", path, err))
	}
	p.Server = server
	if p.KeyName == "" {
		errs = append(errs, fmt.Errorf("config.%s.key_name: is required: the name of the TSIG key as the DNS server "+
			"knows it (e.g. acme-update)", path))
	} else if _, ok := dns.IsDomainName(p.KeyName); !ok {
		errs = append(errs, fmt.Errorf("config.%s.key_name: %q is not a valid TSIG key name", path, p.KeyName))
	}
	alg := strings.TrimSuffix(strings.ToLower(p.KeyAlg), ".")
	if alg == "" {
		alg = "hmac-sha256"
	}
	if canonical, ok := tsigAlgorithms[alg]; ok {
		p.KeyAlg = canonical
	} else {
		errs = append(errs, fmt.Errorf("config.%s.key_alg: %q is not a supported TSIG algorithm; use one of "+
			"hmac-sha256 (default), hmac-sha512, hmac-sha384, hmac-sha224, hmac-sha1", path, p.KeyAlg))
	}
	if p.Key == "" {
		errs = append(errs, fmt.Errorf("config.%s.key: is required: the TSIG secret (base64), as "+
			"{secretKeyRef: {name, key}}; unauthenticated updates are not supported", path))
	} else if _, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p.Key)); err != nil {
		// Never echo the value: it is a secret.
		errs = append(errs, fmt.Errorf("config.%s.key: the Secret's value is not base64 (a TSIG secret as "+
			"tsig-keygen prints it)", path))
	}
	p.Key = strings.TrimSpace(p.Key)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &libdnsWriter{
		name: "rfc2136",
		p:    p,
		// An RFC 2136 add of an RR that exists is a no-op with NOERROR (RFC 2136 §3.4.2.2), so there is no
		// duplicate error to recognise; a delete of a missing RR is a no-op too.
		zones:   func(ctx context.Context, fqdn string) (string, error) { return soaZone(ctx, p.Server, fqdn) },
		explain: explainRFC2136(p.Server, p.KeyName),
		// Each update is a new TCP connection (libdns/rfc2136 keeps none) and servers apply updates to a zone one
		// at a time: a few in flight per server is as fast as it gets, and more only overflow its listen queue.
		limit: func(ctx context.Context) (func(), error) {
			return env.Limits.Acquire(ctx, "rfc2136\x00"+p.Server, rfc2136Concurrency)
		},
		retryTransient: true,
		deleteFunc:     rfc2136Delete(p),
	}, nil
}

// rfc2136Delete deletes exactly one TXT value through the library, after asking the server whether the value is
// there: libdns/rfc2136 reports every delete as done, and CleanUp needs to know (a value written through a
// since-changed CNAME is searched for). RFC 2136's value-dependent prerequisite cannot say it: it requires the
// whole RRset, the sibling values included.
func rfc2136Delete(p *rfc2136.Provider) func(ctx context.Context, rec Record) (bool, error) {
	return func(ctx context.Context, rec Record) (bool, error) {
		// One UDP question (EDNS0, so that fifty values at one name fit), TCP only when that fails: far cheaper for
		// the server than the update itself.
		m := new(dns.Msg)
		m.SetQuestion(rec.FQDN, dns.TypeTXT)
		m.RecursionDesired = false
		m.SetEdns0(4096, false)
		in, _, err := (&dns.Client{Timeout: 2 * time.Second}).ExchangeContext(ctx, m, p.Server)
		if err != nil || in.Truncated {
			// Truncated, or UDP not let through (updates only need TCP): ask over TCP.
			in, _, err = (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).ExchangeContext(ctx, m, p.Server)
		}
		if err != nil {
			return false, fmt.Errorf("asking %s for the TXT values at %s: %w", p.Server, rec.FQDN, err)
		}
		found := false
		for _, rr := range in.Answer {
			if t, ok := rr.(*dns.TXT); ok && strings.EqualFold(t.Hdr.Name, rec.FQDN) && strings.Join(t.Txt, "") == rec.Value {
				found = true
			}
		}
		if !found {
			return false, nil
		}
		rel := dnsname.Relative(rec.FQDN, rec.Zone)
		_, err = p.DeleteRecords(ctx, rec.Zone, []libdns.Record{libdns.TXT{Name: rel, Text: rec.Value}})
		return err == nil, err
	}
}

// explainRFC2136 adds what to do to the DNS server's refusals.
func explainRFC2136(server, keyName string) func(error, Record) error {
	return func(err error, rec Record) error {
		msg := err.Error()
		switch {
		case strings.Contains(msg, `"REFUSED"`):
			return fmt.Errorf("%w: %s does not let key %s update TXT records in zone %s; allow it (BIND: "+
				"update-policy { grant %s zonesub TXT; };)", err, server, keyName, rec.Zone, keyName)
		case strings.Contains(msg, `"NOTAUTH"`), strings.Contains(msg, "BADKEY"), strings.Contains(msg, "BADSIG"),
			// miekg/dns's ErrAuth: the server answered a signed request with an unsigned or wrongly signed
			// refusal, as BIND does for a key it does not know.
			strings.Contains(msg, "bad authentication"):
			return fmt.Errorf("%w: %s does not accept key %s for zone %s: check key_name, key_alg and the "+
				"Secret's key, and that the zone is the exact apex the server serves", err, server, keyName, rec.Zone)
		}
		return err
	}
}

// soaZone asks server which of its zones holds fqdn. An authoritative server answers an SOA query for any name
// in its zone with the zone's SOA: in the answer at the apex, in the authority section below it. It is asked over
// TCP, as the updates are. A referral (NS records, no SOA) means the server has delegated that part of the tree
// away: updates sent to it would fail, so the walk stops there rather than climbing to the parent zone.
func soaZone(ctx context.Context, server, fqdn string) (string, error) {
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	name := fqdn
	for {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeSOA)
		m.RecursionDesired = false
		in, _, err := c.ExchangeContext(ctx, m, server)
		if err != nil {
			return "", fmt.Errorf("asking %s for the zone of %s: %w", server, fqdn, err)
		}
		if in.Authoritative && (in.Rcode == dns.RcodeSuccess || in.Rcode == dns.RcodeNameError) {
			for _, rr := range append(in.Answer, in.Ns...) {
				if soa, ok := rr.(*dns.SOA); ok {
					// The root is never a zone the webhook writes to, even on a server that serves one.
					zone := strings.ToLower(soa.Hdr.Name)
					if zone != "." && dnsname.Within(fqdn, zone) {
						return zone, nil
					}
				}
			}
		}
		for _, rr := range in.Ns {
			if ns, ok := rr.(*dns.NS); ok && !in.Authoritative {
				return "", fmt.Errorf("%s delegates %s to %s: it does not serve the zone of %s; point server at "+
					"the zone's primary, or set the aliasZone", server, ns.Hdr.Name, ns.Ns, fqdn)
			}
		}
		i := strings.IndexByte(name, '.')
		if i < 0 || i == len(name)-1 {
			return "", fmt.Errorf("%s does not serve a zone that holds %s (no authoritative SOA up to the root); set "+
				"the aliasZone, or check the server and the domainAlias", server, fqdn)
		}
		name = name[i+1:]
	}
}
