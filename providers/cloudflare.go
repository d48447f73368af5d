package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/libdns/cloudflare"
)

// cloudflareAPI is the Cloudflare v4 API base URL; libdns/cloudflare uses the same constant.
const cloudflareAPI = "https://api.cloudflare.com/client/v4"

func cloudflareEntry() *Entry {
	return &Entry{
		Name:        "cloudflare",
		Module:      "github.com/libdns/cloudflare",
		New:         func() any { return new(cloudflare.Provider) },
		Credentials: []string{"api_token", "zone_token"},
		// Cloudflare accepts 60..86400, or 1 for "automatic" (300 s), which the webhook never asks for.
		MinTTL:   60 * time.Second,
		Strategy: Exact,
		// Cloudflare allows 1200 requests per 5 minutes per user and blocks for 5 minutes past it: 3.5/s with a
		// burst of 150 never exceeds 1200 in any 5-minute window.
		RateLimit: Rate{PerSecond: 3.5, Burst: 150},
		Zones:     "lists every zone of the account (all pages) and takes the longest match",
		Test:      FakeAPI,
		HTTP:      "client injected (HTTPClient)",
		Quirks: []string{
			"TXT delete drops its lookup error: each call's failed requests are tracked and an empty delete is confirmed by a read",
			"ListZones reads one page only: the webhook pages /zones itself",
			"\"identical record already exists\" (error 81058) counts as success",
			"zone names are sent without the trailing dot",
		},
		Example: "api_token: {secretKeyRef: {name: cloudflare-token, key: api-token}}\n",
		Build:   buildCloudflare,
	}
}

func buildCloudflare(v any, env Env) (Writer, error) {
	p := v.(*cloudflare.Provider)
	if p.APIToken == "" {
		return nil, fmt.Errorf("config.%s.api_token: is required: a Cloudflare API token with Zone.DNS:Edit on the "+
			"zone the records go to, as {secretKeyRef: {name, key}}", env.Path)
	}
	client := newRetryClient(env.HTTPClient)
	client.pacer, client.name = env.Pacer, env.Name
	p.HTTPClient = client
	cf := &cloudflareZones{client: client, token: p.APIToken}
	if p.ZoneToken != "" {
		cf.token = p.ZoneToken
	}
	return &libdnsWriter{
		name: "cloudflare",
		p:    p,
		// Cloudflare answers a create of an existing identical record with error 81058; libdns/cloudflare
		// only passes it on inside its error string.
		duplicate:    func(err error) bool { return strings.Contains(err.Error(), "81058") },
		zones:        cf.find,
		verifyDelete: true,
		bareZone:     true,
		httpPaced:    true,
		explain:      explainCloudflare,
	}, nil
}

// explainCloudflare adds what to do to the errors users meet most.
func explainCloudflare(err error, rec Record) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "expected 1 zone, got 0"):
		return fmt.Errorf("%w: the Cloudflare account has no zone %s that this token can see; check the zone "+
			"(aliasZone, or the challenge's zone in direct mode) and give the token Zone:Read on it", err, rec.Zone)
	case strings.Contains(msg, "9109"), strings.Contains(msg, "10000"), strings.Contains(msg, "HTTP 401"), strings.Contains(msg, "HTTP 403"):
		return fmt.Errorf("%w: Cloudflare refused the token; check the Secret's value and that the token has "+
			"Zone.DNS:Edit on %s", err, rec.Zone)
	}
	return err
}

// cloudflareZones lists every zone of the account, page by page (libdns/cloudflare v0.2.2's ListZones reads only
// the first page, 20 zones).
type cloudflareZones struct {
	client *retryClient
	token  string
}

func (c *cloudflareZones) find(ctx context.Context, fqdn string) (string, error) {
	var names []string
	for page := 1; ; page++ {
		q := url.Values{"page": {strconv.Itoa(page)}, "per_page": {"50"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cloudflareAPI+"/zones?"+q.Encode(), nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		var body struct {
			Success bool `json:"success"`
			Errors  []struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"errors"`
			Result []struct {
				Name string `json:"name"`
			} `json:"result"`
			ResultInfo *struct {
				TotalPages int `json:"total_pages"`
			} `json:"result_info"`
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return "", fmt.Errorf("listing Cloudflare zones: %w", err)
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("listing Cloudflare zones: HTTP %d with an unreadable body: %w", resp.StatusCode, err)
		}
		if resp.StatusCode >= 400 || !body.Success {
			return "", fmt.Errorf("listing Cloudflare zones: HTTP %d: %+v", resp.StatusCode, body.Errors)
		}
		for _, z := range body.Result {
			names = append(names, z.Name)
		}
		if body.ResultInfo == nil || page >= body.ResultInfo.TotalPages || len(body.Result) == 0 {
			break
		}
	}
	return LongestZone(fqdn, names)
}
