package solver

import (
	"fmt"
	"strings"
)

// acmePrefix is the label RFC 8555 §8.4 puts in front of the validated name. The webhook derives it; users never
// write it.
const acmePrefix = "_acme-challenge."

// maxNameLength is the longest domain name in presentation form without the trailing dot (RFC 1035 §2.3.4).
const maxNameLength = 253

// canonicalName returns name lower-cased and absolute (with a trailing dot), or an error that says which rule it
// breaks. It accepts letters, digits, '-' and '_' (service labels such as _acme-challenge), which is what every
// name this webhook handles is made of; escapes, spaces and wildcards are refused.
func canonicalName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	switch {
	case n == "":
		return "", fmt.Errorf("is empty")
	case len(n) > maxNameLength:
		return "", fmt.Errorf("%q is longer than %d characters", name, maxNameLength)
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
				if r == '*' {
					return "", fmt.Errorf("%q is a wildcard; give the name without '*.'", name)
				}
				return "", fmt.Errorf("%q has the character %q, which is not allowed in a domain name", name, r)
			}
		}
	}
	return n + ".", nil
}

// isWithin reports whether name equals zone or lies below it on a label boundary. Both must be canonical.
// Unlike libdns.RelativeName it never treats "fooexample.com." as inside "example.com.".
func isWithin(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// relativeName returns name relative to zone in libdns form ("@" for the apex). The caller has checked
// isWithin(name, zone).
func relativeName(name, zone string) string {
	if name == zone {
		return "@"
	}
	return strings.TrimSuffix(name, "."+zone)
}
