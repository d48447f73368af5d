package cli

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/delegate01/cert-manager-webhook-delegate/dnscheck"
	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
	"github.com/delegate01/cert-manager-webhook-delegate/solver"
)

// ResolverFromEnv reads the delegation check's resolver from the environment exactly as the webhook server does
// (DNS_CHECK_NAMESERVERS, DNS_CHECK_AUTHORITATIVE; default solver.DefaultResolver), so that check and plan see
// DNS the way Present does. A malformed value is an error naming the variable, never a silent default.
func ResolverFromEnv(getenv func(string) string) (dnscheck.Resolver, error) {
	r := solver.DefaultResolver()
	var errs []error
	if v := getenv("DNS_CHECK_NAMESERVERS"); v != "" {
		servers, err := dnsname.ParseServers(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DNS_CHECK_NAMESERVERS: %w", err))
		}
		r.Servers = servers
	}
	if v := getenv("DNS_CHECK_AUTHORITATIVE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("DNS_CHECK_AUTHORITATIVE: %q is not true or false", v))
		}
		r.Authoritative = b
	}
	return r, errors.Join(errs...)
}
