// Package dnsname is the one home of the webhook's domain-name rules: canonical form (lower case, absolute),
// containment on label boundaries, names relative to a zone, and host:port parsing of DNS servers. Every other
// package (solver, providers, dnscheck, the CLI) uses these and never compares names by hand.
package dnsname

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ACMEPrefix is the label RFC 8555 §8.4 puts in front of the validated name. The webhook derives it; users never
// write it.
const ACMEPrefix = "_acme-challenge."

// MaxLength is the longest domain name in presentation form without the trailing dot (RFC 1035 §2.3.4).
const MaxLength = 253

// Canonical returns name lower-cased and absolute (with a trailing dot), or an error that says which rule it
// breaks. It accepts letters, digits, '-' and '_' (service labels such as _acme-challenge), which is what every
// name this webhook handles is made of; escapes, spaces, wildcards and non-ASCII (write IDNs in their xn--
// form) are refused.
func Canonical(name string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	switch {
	case n == "":
		return "", errors.New("is empty")
	case len(n) > MaxLength:
		return "", fmt.Errorf("%q is longer than %d characters", name, MaxLength)
	}
	for label := range strings.SplitSeq(n, ".") {
		if label == "" {
			return "", fmt.Errorf("%q has an empty label", name)
		}
		if len(label) > 63 {
			return "", fmt.Errorf("%q has a label longer than 63 characters", name)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				switch {
				case r == '*':
					return "", fmt.Errorf("%q is a wildcard; give the name without '*.'", name)
				case r > 0x7f:
					return "", fmt.Errorf("%q is not ASCII; write an internationalised name in its xn-- (punycode) form", name)
				}
				return "", fmt.Errorf("%q has the character %q, which is not allowed in a domain name", name, r)
			}
		}
	}
	return n + ".", nil
}

// MustCanonical is Canonical for names known to be valid (constants, names already checked); it returns the
// lower-cased absolute form and never fails, so it may be used on any string where an error cannot happen.
func MustCanonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, ".")) + "."
}

// Within reports whether name equals zone or lies below it on a label boundary. Both must be canonical.
// Unlike libdns.RelativeName it never treats "fooexample.com." as inside "example.com.".
func Within(name, zone string) bool {
	return zone == "." || name == zone || strings.HasSuffix(name, "."+zone)
}

// WithinAny returns the first of zones that contains name on a label boundary, or "" when none does.
func WithinAny(name string, zones []string) string {
	for _, z := range zones {
		if Within(name, z) {
			return z
		}
	}
	return ""
}

// Relative returns name relative to zone in libdns form ("@" for the apex). The caller has checked
// Within(name, zone).
func Relative(name, zone string) string {
	if name == zone {
		return "@"
	}
	return strings.TrimSuffix(name, "."+zone)
}

// Parent returns the name one label up ("a.b.c." gives "b.c."), and "." for a top-level name or the root.
func Parent(name string) string {
	i := strings.IndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return "."
	}
	return name[i+1:]
}

// Bare returns name without its trailing dot, for messages and APIs that store names that way.
func Bare(name string) string { return strings.TrimSuffix(name, ".") }

// HostPort returns a DNS server address as host:port, adding port 53 when it is left out. The host is an IP
// address or a domain name.
func HostPort(s string) (string, error) {
	if s == "" {
		return "", errors.New("is empty: give the DNS server as host:port (e.g. 203.0.113.53:53)")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), "53"
	}
	if host == "" || strings.ContainsAny(host, " /") {
		return "", fmt.Errorf("%q is not host:port (e.g. 203.0.113.53:53 or ns1.example.org:53)", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("%q has no valid port (1-65535)", s)
	}
	if ip := net.ParseIP(host); ip == nil {
		if _, err := Canonical(host); err != nil || strings.Contains(host, "_") {
			return "", fmt.Errorf("%q is not host:port (e.g. 203.0.113.53:53 or ns1.example.org:53)", s)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// ParseServers reads a comma-separated list of DNS servers as host or host:port (port 53 when left out).
func ParseServers(list string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		hp, err := HostPort(item)
		if err != nil {
			return nil, err
		}
		out = append(out, hp)
	}
	if len(out) == 0 {
		return nil, errors.New("no server given; write host:port[,host:port...], e.g. 10.96.0.10:53")
	}
	return out, nil
}

// ParseZones reads a comma-separated list of zones (ALLOWED_ZONES) into canonical form, refusing duplicates
// and anything that is not a domain name.
func ParseZones(list string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if item == "." {
			return nil, errors.New(`"." (the root) would allow every zone; list the zones the webhook may write, e.g. validation.example.org`)
		}
		z, err := Canonical(strings.TrimPrefix(item, "*."))
		if err != nil {
			return nil, fmt.Errorf("zone %w", err)
		}
		if strings.HasPrefix(item, "*.") {
			return nil, fmt.Errorf("zone %q is a wildcard; write %q, which covers every name below it", item, Bare(z))
		}
		if seen[z] {
			continue
		}
		seen[z] = true
		out = append(out, z)
	}
	if len(out) == 0 {
		return nil, errors.New("no zone given; write zone[,zone...], e.g. validation.example.org")
	}
	return out, nil
}
