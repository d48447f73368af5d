//go:build !minimal

package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/libdns/libdns"
	"github.com/libdns/porkbun"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

func porkbunEntry() *Entry {
	return &Entry{
		Name:        "porkbun",
		Module:      "github.com/libdns/porkbun",
		New:         func() any { return new(porkbun.Provider) },
		Credentials: []string{"api_key", "api_secret_key"},
		Required: []Field{
			{"api_key", "a Porkbun API key (pk1_…), as {secretKeyRef: {name, key}}"},
			{"api_secret_key", "its secret API key (sk1_…), as {secretKeyRef: {name, key}}"},
		},
		// Porkbun refuses a TTL under 600 s; the library raises it.
		MinTTL:   600 * time.Second,
		Strategy: Exact,
		Zones:    zonesListed,
		Test:     Constructed,
		HTTP:     "http.DefaultTransport (a zero http.Client) for Present, which the webhook replaces with its own; " + httpOwnClient + " for reads and CleanUp",
		Quirks: []string{
			"the library's delete is deleteByNameType, which removes every value at the name, the sibling's too: CleanUp reads the domain's records itself and deletes the ones holding the value by ID (/dns/delete/{domain}/{id})",
			"the library calls log.Fatal, ending the process, when closing a response body fails: its requests go through http.DefaultTransport, which the webhook replaces with its own, whose bodies never fail to close",
			"the library ignores the context and sets no timeout: Present's wait is bounded by its deadline (the request goes on in the background, each attempt bounded to 20 s by the webhook's transport)",
			"the API accepts identical records: Present reads first and adds nothing when the value is there",
		},
		Example: "api_key: {secretKeyRef: {name: porkbun-api, key: api-key}}\napi_secret_key: {secretKeyRef: {name: porkbun-api, key: secret-api-key}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*porkbun.Provider)
			c := &porkbunClient{key: p.APIKey, secret: p.APISecretKey, client: env.Client(), base: porkbun.ApiBase}
			a := deadlineBound(p)
			a.get, a.deleteRecs = c.get, c.delete
			lw := &libdnsWriter{p: a, skipPresent: true, deleteByLookup: true, zones: listedZones(func(ctx context.Context) ([]libdns.Zone, error) {
				return untilDeadline(ctx, func() ([]libdns.Zone, error) { return p.ListZones(ctx) })
			})}
			return porkbunEntry().writer(lw, env, nil, false), nil
		},
	}
}

// porkbunClient reads and deletes TXT records through the Porkbun API with the webhook's client.
type porkbunClient struct {
	key, secret string
	client      *http.Client
	base        string
}

type porkbunRecord struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Content string `json:"content"`
}

func (c *porkbunClient) call(ctx context.Context, op, path string, out any) error {
	body, _ := json.Marshal(map[string]string{"apikey": c.key, "secretapikey": c.secret})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	var status struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(data, &status)
	if resp.StatusCode != http.StatusOK || status.Status != "SUCCESS" {
		return fmt.Errorf("porkbun %s: HTTP %d %s: %s", op, resp.StatusCode, status.Status, status.Message)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// get returns the domain's TXT records, with their IDs as ProviderData.
func (c *porkbunClient) get(ctx context.Context, zone string) ([]libdns.Record, error) {
	var out struct {
		Records []porkbunRecord `json:"records"`
	}
	if err := c.call(ctx, "retrieve", "/dns/retrieve/"+url.PathEscape(dnsname.Bare(zone)), &out); err != nil {
		return nil, err
	}
	var recs []libdns.Record
	for _, r := range out.Records {
		name, err := dnsname.Canonical(r.Name)
		if r.Type != "TXT" || err != nil || !dnsname.Within(name, zone) {
			continue
		}
		recs = append(recs, libdns.TXT{Name: dnsname.Relative(name, zone), Text: r.Content, ProviderData: r.ID})
	}
	return recs, nil
}

// delete removes each record by its ID; a record without one is refused, never deleted by name.
func (c *porkbunClient) delete(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return deleteEachByID(recs, "a Porkbun", func(id string) error {
		return c.call(ctx, "delete", "/dns/delete/"+url.PathEscape(dnsname.Bare(zone))+"/"+url.PathEscape(id), nil)
	})
}
