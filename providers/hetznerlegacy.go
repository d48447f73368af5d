//go:build !minimal

package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	hetznerlegacy "github.com/libdns/hetzner"
	"github.com/libdns/libdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// hetznerLegacyAPI is the legacy Hetzner DNS API (dns.hetzner.com); libdns/hetzner v1 uses the same URLs.
const hetznerLegacyAPI = "https://dns.hetzner.com/api/v1"

func hetznerlegacyEntry() *Entry {
	return &Entry{
		Name:        "hetznerlegacy",
		Module:      "github.com/libdns/hetzner",
		New:         func() any { return new(hetznerlegacy.Provider) },
		Credentials: []string{"auth_api_token"},
		Required:    []Field{{"auth_api_token", "a Hetzner DNS Console API token (dns.hetzner.com), as {secretKeyRef: {name, key}}"}},
		Strategy:    Exact,
		Zones:       zonesNone,
		Test:        Constructed,
		HTTP:        "http.DefaultTransport (a zero http.Client per request) for Present, which the webhook replaces with its own; " + httpOwnClient + " for CleanUp",
		Quirks: []string{
			"the legacy dns.hetzner.com API; zones moved to Hetzner Cloud use the hetzner provider instead",
			"the library's delete removes the first record with the name and type, whatever its value (the sibling's, half the time): CleanUp reads the zone's records itself (every page) and deletes the ones holding the value by ID",
			"panics on its first call without a token, and on a zone lookup that finds no zone: the token is required and the panic is recovered into an error",
		},
		Example: "auth_api_token: {secretKeyRef: {name: hetznerlegacy-token, key: token}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*hetznerlegacy.Provider)
			c := &hetznerLegacyClient{token: p.AuthAPIToken, client: env.Client(), base: hetznerLegacyAPI}
			return hetznerlegacyEntry().writer(&libdnsWriter{p: &adapter{lib: p, get: c.get, deleteRecs: c.delete}, deleteByLookup: true}, env, nil, false), nil
		},
	}
}

// hetznerLegacyClient reads and deletes TXT records through the legacy Hetzner DNS API with the webhook's client.
type hetznerLegacyClient struct {
	token  string
	client *http.Client
	base   string
}

func (c *hetznerLegacyClient) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Auth-API-Token", c.token)
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return fmt.Errorf("hetzner DNS %s %s: HTTP %d", method, strings.SplitN(path, "?", 2)[0], resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (c *hetznerLegacyClient) zoneID(ctx context.Context, zone string) (string, error) {
	var out struct {
		Zones []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"zones"`
	}
	if err := c.do(ctx, http.MethodGet, "/zones?name="+url.QueryEscape(dnsname.Bare(zone)), &out); err != nil {
		return "", err
	}
	for _, z := range out.Zones {
		if strings.EqualFold(z.Name, dnsname.Bare(zone)) {
			return z.ID, nil
		}
	}
	return "", fmt.Errorf("the Hetzner DNS account has no zone %s", dnsname.Bare(zone))
}

// get returns the zone's TXT records (every page), with their IDs as ProviderData.
func (c *hetznerLegacyClient) get(ctx context.Context, zone string) ([]libdns.Record, error) {
	id, err := c.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	var recs []libdns.Record
	for page := 1; ; page++ {
		var out struct {
			Records []struct {
				ID    string `json:"id"`
				Type  string `json:"type"`
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"records"`
			Meta struct {
				Pagination struct {
					LastPage int `json:"last_page"`
				} `json:"pagination"`
			} `json:"meta"`
		}
		q := "/records?zone_id=" + url.QueryEscape(id) + "&per_page=100&page=" + strconv.Itoa(page)
		if err := c.do(ctx, http.MethodGet, q, &out); err != nil {
			return nil, err
		}
		for _, r := range out.Records {
			if r.Type == "TXT" {
				recs = append(recs, libdns.TXT{Name: r.Name, Text: r.Value, ProviderData: r.ID})
			}
		}
		if page >= out.Meta.Pagination.LastPage || len(out.Records) == 0 {
			return recs, nil
		}
	}
}

// delete removes each record by its ID; a record without one is refused, never deleted by name.
func (c *hetznerLegacyClient) delete(ctx context.Context, _ string, recs []libdns.Record) ([]libdns.Record, error) {
	return deleteEachByID(recs, "a Hetzner DNS", func(id string) error {
		return c.do(ctx, http.MethodDelete, "/records/"+url.PathEscape(id), nil)
	})
}
