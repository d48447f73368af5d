//go:build !minimal

package providers

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/libdns/route53"
)

// route53MaxWait bounds the library's wait for Route 53 to report a change INSYNC, under the call's deadline.
const route53MaxWait = 15 * time.Second

func route53Entry() *Entry {
	return &Entry{
		Name:        "route53",
		Module:      "github.com/libdns/route53",
		New:         func() any { return new(route53.Provider) },
		Credentials: []string{"secret_access_key", "session_token"},
		Strategy:    Set,
		// Route 53 allows five requests per second per AWS account.
		RateLimit: Rate{PerSecond: 4.5, Burst: 5},
		Zones:     "none: set aliasZone (the library then finds its hosted zone by that name, or use hosted_zone_id)",
		Test:      FakeAPI,
		HTTP:      "the AWS SDK's own client (the library takes none): it honours HTTPS_PROXY and AWS_CA_BUNDLE; the SDK retries, bounded by max_retries (at most 3)",
		Env:       []string{"AWS_REGION", "AWS_ENDPOINT_URL_ROUTE_53", "AWS_CA_BUNDLE", "AWS_* credential variables (ambient only)"},
		Quirks: []string{
			"append and delete read the zone and UPSERT the whole RRset, with a lock inside one process only: writes take the set strategy's Lease lock",
			"an identical value already there would be sent twice (InvalidChangeBatch): the set is read first",
			"log.Fatalf (ending the process) when the AWS config fails to load: profile is refused and the config is loaded once before the library does",
			"without access keys the SDK uses ambient credentials (IRSA, instance metadata): only when cert-manager allows ambient credentials for the challenge",
			"wait_for_route53_sync can wait a minute: bounded to 15 s",
		},
		Example: "region: us-east-1\naccess_key_id: AKIAIOSFODNN7EXAMPLE\nsecret_access_key: {secretKeyRef: {name: route53, key: secret-access-key}}\n",
		Build:   buildRoute53,
	}
}

func buildRoute53(v any, env Env) (Writer, error) {
	p := v.(*route53.Provider)
	if p.Profile != "" {
		return nil, fmt.Errorf("config.%s.profile: is not allowed: a shared-config profile reads files in the webhook's "+
			"pod, and a missing one ends the library's process; give access_key_id and secret_access_key from a Secret", env.Path)
	}
	static := p.AccessKeyId != "" || p.SecretAccessKey != ""
	switch {
	case static && (p.AccessKeyId == "" || p.SecretAccessKey == ""):
		return nil, fmt.Errorf("config.%s: set both access_key_id and secret_access_key (the key from a Secret), or "+
			"neither to use ambient credentials", env.Path)
	case !static && !env.AllowAmbientCredentials:
		return nil, fmt.Errorf("config.%s.access_key_id: is required: cert-manager does not allow ambient credentials "+
			"for this issuer (they are allowed for ClusterIssuers, or with --issuer-ambient-credentials); set "+
			"access_key_id and secret_access_key from a Secret", env.Path)
	}
	p.MaxRetries = min(max(p.MaxRetries, 1), 3)
	if p.Route53MaxWait <= 0 || p.Route53MaxWait > route53MaxWait {
		p.Route53MaxWait = route53MaxWait
	}
	// libdns/route53 calls log.Fatalf when this fails: load it here first, with the same options, so that a bad
	// environment is an error instead of the end of the webhook.
	opts := []func(*config.LoadOptions) error{}
	if p.Region != "" {
		opts = append(opts, config.WithRegion(p.Region))
	}
	if static {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(p.AccessKeyId, p.SecretAccessKey, p.SessionToken)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("config.%s: loading the AWS configuration: %w", env.Path, err)
	}
	if cfg.Region == "" {
		p.Region = "us-east-1" // Route 53 is a global service; the SDK still wants a region
	}
	return route53Entry().writer(&libdnsWriter{p: p}, env, nil, false), nil
}
