package solver

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// The fences are the operator's and the Secret owners' (DESIGN.md "Fences"); no issuer config can widen them.

// fence is ALLOWED_ZONES: when set, every record the webhook writes or deletes, and the zone it does so in, lies
// inside one of these zones on a label boundary.
type fence []string

// check refuses a record, or the zone it goes to ("" while it is still to be discovered), outside the fence.
func (f fence) check(t Target, zone string) error {
	if len(f) == 0 {
		return nil
	}
	if dnsname.WithinAny(t.FQDN, f) == "" || zone != "" && dnsname.WithinAny(zone, f) == "" {
		return &fencedError{record: t.FQDN, zone: zone, rule: t.Rule, allowed: f}
	}
	return nil
}

// fencedError is a record or zone outside ALLOWED_ZONES.
type fencedError struct {
	record, zone, rule string
	allowed            []string
}

func (e *fencedError) Error() string {
	where := "to be discovered"
	if e.zone != "" {
		where = e.zone
	}
	zones := make([]string, len(e.allowed))
	for i, z := range e.allowed {
		zones[i] = dnsname.Bare(z)
	}
	return fmt.Sprintf("config.%s maps this challenge to %s in zone %s, outside allowedZones (%s): the webhook's "+
		"operator lets it write only inside those zones (ALLOWED_ZONES); delegate the name into one of them "+
		"(domainAlias and the CNAME), or ask the operator to add the zone to allowedZones; nothing was written",
		e.rule, e.record, where, strings.Join(zones, ", "))
}

// SecretLabel is the label a Secret must carry, with the value "true", for the webhook to use it. Its informers
// select on it, so the webhook does not even cache other Secrets.
const SecretLabel = "cert-manager-webhook-delegate/use"

// EndpointsAnnotation lists, comma-separated, the endpoints (URLs or host:port) a Secret's owner allows its
// values to be sent to, for provider fields that name an endpoint the issuer chooses.
const EndpointsAnnotation = "cert-manager-webhook-delegate/endpoints"

// checkEndpoints is the endpoint pin: where a provider block names an endpoint the issuer chooses (a field the
// registry marks, at any depth), a credential from a Secret is sent there only if that Secret's owner listed the
// endpoint in its annotation. Otherwise an issuer could have any Secret it may name sent to a server of its own.
func checkEndpoints(pc *ProviderConfig, fields []string, spec map[string]any, secrets map[string]*corev1.Secret, namespace string) []error {
	endpoints := collectFields(spec, fields, pc.Path)
	if len(endpoints) == 0 || len(secrets) == 0 {
		return nil
	}
	var errs []error
	for _, name := range sortedKeys(secrets) {
		allowed := strings.Split(secrets[name].Annotations[EndpointsAnnotation], ",")
		for _, ep := range endpoints {
			if slices.ContainsFunc(allowed, func(a string) bool { return endpointMatches(strings.TrimSpace(a), ep.value) }) {
				continue
			}
			errs = append(errs, fmt.Errorf("config.%s: %q is an endpoint the issuer chooses, and Secret %q in namespace "+
				"%q does not allow its values to be sent there; nothing was sent. If that endpoint is right, its "+
				"owner allows it with: kubectl annotate secret -n %s %s %s=%s (comma-separated; keep any endpoints "+
				"already listed)", ep.path, ep.value, name, namespace, namespace, name, EndpointsAnnotation, ep.value))
		}
	}
	return errs
}

type fieldValue struct{ path, value string }

// collectFields returns the non-empty string values of the named fields at any depth of spec.
func collectFields(v any, fields []string, path string) []fieldValue {
	var out []fieldValue
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if s, ok := v[k].(string); ok && s != "" && slices.Contains(fields, k) {
				out = append(out, fieldValue{path + "." + k, s})
				continue
			}
			out = append(out, collectFields(v[k], fields, path+"."+k)...)
		}
	case []any:
		for i, c := range v {
			out = append(out, collectFields(c, fields, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

// endpointMatches reports whether an allowed entry covers the endpoint the config names. Both are URLs or
// host:port: hosts compare case-insensitively and ports with their defaults (443 for https, 80 for http, 53
// otherwise); an entry with a scheme also needs the same scheme and a path the endpoint's path starts with.
func endpointMatches(allowed, endpoint string) bool {
	a, okA := parseEndpoint(allowed)
	e, okE := parseEndpoint(endpoint)
	if !okA || !okE || !strings.EqualFold(a.host, e.host) || a.port != e.port {
		return false
	}
	if a.scheme == "" {
		return true
	}
	return a.scheme == e.scheme && strings.HasPrefix(e.path, strings.TrimSuffix(a.path, "/"))
}

type endpoint struct{ scheme, host, port, path string }

func parseEndpoint(s string) (endpoint, bool) {
	if s == "" {
		return endpoint{}, false
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Hostname() == "" {
			return endpoint{}, false
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443", "http": "80"}[strings.ToLower(u.Scheme)]
		}
		return endpoint{scheme: strings.ToLower(u.Scheme), host: u.Hostname(), port: port, path: u.Path}, true
	}
	hp, err := dnsname.HostPort(s)
	if err != nil {
		return endpoint{}, false
	}
	host, port, _ := net.SplitHostPort(hp)
	return endpoint{host: host, port: port}, true
}
