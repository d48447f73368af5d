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
	"time"

	"github.com/libdns/dnsimple"
	"github.com/libdns/libdns"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// dnsimpleAPI is DNSimple's production API, dnsimple-go's default base URL.
const dnsimpleAPI = "https://api.dnsimple.com"

func dnsimpleEntry() *Entry {
	return &Entry{
		Name:        "dnsimple",
		Module:      "github.com/libdns/dnsimple",
		New:         func() any { return new(dnsimple.Provider) },
		Credentials: []string{"api_access_token"},
		// The issuer may point the token at another API (DNSimple's sandbox is one).
		Endpoints: []string{"api_url"},
		Required: []Field{
			{"api_access_token", "a DNSimple account access token, as {secretKeyRef: {name, key}}"},
			{"account_id", "the DNSimple account ID the token belongs to"},
		},
		// DNSimple refuses a TTL under 60 s.
		MinTTL:   60 * time.Second,
		Strategy: Exact,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     "http.DefaultTransport (oauth2's client) for Present, which the webhook replaces with its own; " + httpOwnClient + " for reads and CleanUp",
		Quirks: []string{
			"the library's delete takes the first record found by a name_like (substring) search, whatever its value: it can remove the sibling, or a TXT of another name; CleanUp lists the zone's TXT records itself (every page) and deletes by ID the ones at the name holding the value",
			"without account_id the library asks Whoami and panics when that fails: account_id is required",
			"the library's GetRecords reads the first page (30 records) only and can return nil entries: the webhook reads the records itself",
			"the API accepts identical records: Present reads first and adds nothing when the value is there",
			"api_url is an endpoint the issuer chooses: it must be an http(s) URL, and the token is sent there only if the Secret's endpoints annotation lists it",
		},
		Example: "account_id: \"1010\"\napi_access_token: {secretKeyRef: {name: dnsimple-token, key: token}}\n",
		Build:   buildDNSimple,
	}
}

func buildDNSimple(v any, env Env) (Writer, error) {
	p := v.(*dnsimple.Provider)
	base := dnsimpleAPI
	if p.APIURL != "" {
		if err := checkHTTPURL(env.Path, "api_url", p.APIURL, "https://api.sandbox.dnsimple.com"); err != nil {
			return nil, err
		}
		base = strings.TrimSuffix(p.APIURL, "/")
	}
	if _, err := strconv.ParseInt(p.AccountID, 10, 64); err != nil {
		return nil, fmt.Errorf("config.%s.account_id: %q is not a DNSimple account ID (a number)", env.Path, p.AccountID)
	}
	c := &dnsimpleClient{token: p.APIAccessToken, account: p.AccountID, base: base, client: env.Client()}
	return dnsimpleEntry().writer(&libdnsWriter{p: &adapter{lib: p, get: c.get, deleteRecs: c.delete}, skipPresent: true, deleteByLookup: true}, env, nil, false), nil
}

// dnsimpleClient reads and deletes TXT records through the DNSimple v2 API with the webhook's client.
type dnsimpleClient struct {
	token, account, base string
	client               *http.Client
}

func (c *dnsimpleClient) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
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
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("DNSimple %s: HTTP %d: %s", method, resp.StatusCode, e.Message)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// get returns the zone's TXT records (every page), with their IDs as ProviderData.
func (c *dnsimpleClient) get(ctx context.Context, zone string) ([]libdns.Record, error) {
	var recs []libdns.Record
	for page := 1; ; page++ {
		var out struct {
			Data []struct {
				ID      int64  `json:"id"`
				Name    string `json:"name"`
				Type    string `json:"type"`
				Content string `json:"content"`
			} `json:"data"`
			Pagination struct {
				TotalPages int `json:"total_pages"`
			} `json:"pagination"`
		}
		path := fmt.Sprintf("/v2/%s/zones/%s/records?type=TXT&per_page=100&page=%d", url.PathEscape(c.account), url.PathEscape(dnsname.Bare(zone)), page)
		if err := c.do(ctx, http.MethodGet, path, &out); err != nil {
			return nil, err
		}
		for _, r := range out.Data {
			if r.Type == "TXT" {
				name := r.Name
				if name == "" {
					name = "@"
				}
				recs = append(recs, libdns.TXT{Name: name, Text: r.Content, ProviderData: r.ID})
			}
		}
		if page >= out.Pagination.TotalPages || len(out.Data) == 0 {
			return recs, nil
		}
	}
}

// delete removes each record by its ID; a record without one is refused, never looked up by name.
func (c *dnsimpleClient) delete(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return deleteEachByID(recs, "a DNSimple", func(id int64) error {
		path := fmt.Sprintf("/v2/%s/zones/%s/records/%d", url.PathEscape(c.account), url.PathEscape(dnsname.Bare(zone)), id)
		return c.do(ctx, http.MethodDelete, path, nil)
	})
}
