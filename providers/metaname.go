//go:build !minimal

package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/libdns/libdns"
	"github.com/libdns/metaname"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// metanameAPI is Metaname's JSON-RPC endpoint, the library's default.
const metanameAPI = "https://metaname.net/api/1.1"

func metanameEntry() *Entry {
	return &Entry{
		Name:        "metaname",
		Module:      "github.com/libdns/metaname",
		New:         func() any { return new(metaname.Provider) },
		Credentials: []string{"api_key"},
		// The issuer may point the API key at another JSON-RPC endpoint (Metaname's test system is one).
		Endpoints: []string{"endpoint"},
		Required: []Field{
			{"api_key", "a Metaname API key, as {secretKeyRef: {name, key}}"},
			{"account_reference", "the Metaname account reference the API key belongs to"},
		},
		Strategy: Exact,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     httpDefaultClient + " for Present; " + httpOwnClient + " for CleanUp",
		Quirks: []string{
			"the library treats delete_dns_record's successful null result as an error, so every CleanUp would fail once: the webhook reads the zone and deletes the records holding the value by reference itself",
			"the library asserts the types of the API's JSON without checking (a panic on an unexpected answer): recovered into an error",
			"endpoint is an endpoint the issuer chooses: it must be an http(s) URL, and the API key is sent there only if the Secret's endpoints annotation lists it",
		},
		Example: "account_reference: ab12\napi_key: {secretKeyRef: {name: metaname-api, key: api-key}}\n",
		Build:   buildMetaname,
	}
}

func buildMetaname(v any, env Env) (Writer, error) {
	p := v.(*metaname.Provider)
	if p.Endpoint == "" {
		p.Endpoint = metanameAPI
	} else if err := checkHTTPURL(env.Path, "endpoint", p.Endpoint, metanameAPI); err != nil {
		return nil, err
	}
	rpc := &metanameRPC{endpoint: p.Endpoint, account: p.AccountReference, key: p.APIKey, client: env.Client()}
	return metanameEntry().writer(&libdnsWriter{p: &adapter{lib: p, deleteRecs: rpc.delete}}, env, nil, false), nil
}

// metanameRPC calls Metaname's JSON-RPC API with the webhook's client.
type metanameRPC struct {
	endpoint, account, key string
	client                 *http.Client
}

func (m *metanameRPC) call(ctx context.Context, method string, params []any, result any) error {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "1", "method": method, "params": append([]any{m.account, m.key}, params...)})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return fmt.Errorf("metaname %s: HTTP %d, not a JSON-RPC answer", method, resp.StatusCode)
	}
	if out.Error != nil {
		return fmt.Errorf("metaname %s: %d %s", method, out.Error.Code, out.Error.Message)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("metaname %s: HTTP %d", method, resp.StatusCode)
	}
	if result != nil && len(out.Result) > 0 && string(out.Result) != "null" {
		return json.Unmarshal(out.Result, result)
	}
	return nil
}

// delete removes every TXT record at each record's name that holds its value, by reference.
func (m *metanameRPC) delete(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	domain := dnsname.Bare(zone)
	var existing []struct {
		Reference string `json:"reference"`
		Name      string `json:"name"`
		Type      string `json:"type"`
		Data      string `json:"data"`
	}
	if err := m.call(ctx, "dns_zone", []any{domain}, &existing); err != nil {
		return nil, err
	}
	var deleted []libdns.Record
	for _, r := range recs {
		rr := r.RR()
		for _, e := range existing {
			if strings.EqualFold(e.Type, "TXT") && strings.EqualFold(e.Name, rr.Name) && unquoteTXT(e.Data) == rr.Data {
				if err := m.call(ctx, "delete_dns_record", []any{domain, e.Reference}, nil); err != nil {
					return deleted, err
				}
				deleted = append(deleted, r)
			}
		}
	}
	return deleted, nil
}
