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
	"time"

	"github.com/libdns/libdns"
	"github.com/libdns/netcup"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// netcupAPI is the CCP DNS API endpoint; libdns/netcup uses the same constant.
const netcupAPI = "https://ccp.netcup.net/run/webservice/servers/endpoint.php?JSON"

func netcupEntry() *Entry {
	return &Entry{
		Name:        "netcup",
		Module:      "github.com/libdns/netcup",
		New:         func() any { return new(netcup.Provider) },
		Credentials: []string{"api_key", "api_password"},
		Required: []Field{
			{"customer_number", "the netcup customer number"},
			{"api_key", "a netcup CCP API key, as {secretKeyRef: {name, key}}"},
			{"api_password", "the CCP API password, as {secretKeyRef: {name, key}}"},
		},
		Strategy: Exact,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     httpDefaultClient + " for Present; " + httpOwnClient + " for CleanUp",
		Quirks: []string{
			"the library's delete drops the record IDs and removes the first TXT at the name whatever its value (the sibling's, half the time): CleanUp logs in itself, reads the zone's records and deletes, by ID, exactly those holding the value",
			"a Present repeated while another value is at the name adds the value again: CleanUp deletes every record holding it",
			"every call logs in and out (netcup limits logins); record TTLs are the zone's, the configured ttl is not used",
		},
		Example: "customer_number: \"12345\"\napi_key: {secretKeyRef: {name: netcup-api, key: api-key}}\napi_password: {secretKeyRef: {name: netcup-api, key: api-password}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*netcup.Provider)
			c := &netcupClient{customer: p.CustomerNumber, key: p.APIKey, password: p.APIPassword, client: env.Client(), endpoint: netcupAPI}
			return netcupEntry().writer(&libdnsWriter{p: &adapter{lib: p, deleteRecs: c.delete}}, env, nil, false), nil
		},
	}
}

// netcupClient deletes TXT records by ID through netcup's CCP JSON API.
type netcupClient struct {
	customer, key, password string
	client                  *http.Client
	endpoint                string
}

type netcupAnswer struct {
	Status       string          `json:"status"`
	StatusCode   int             `json:"statuscode"`
	ShortMessage string          `json:"shortmessage"`
	LongMessage  string          `json:"longmessage"`
	ResponseData json.RawMessage `json:"responsedata"`
}

func (c *netcupClient) call(ctx context.Context, action string, param map[string]any) (*netcupAnswer, error) {
	param["customernumber"], param["apikey"] = c.customer, c.key
	body, err := json.Marshal(map[string]any{"action": action, "param": param})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	var a netcupAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("netcup %s: HTTP %d, not an API answer", action, resp.StatusCode)
	}
	return &a, nil
}

func (a *netcupAnswer) err(action string) error {
	if a.Status == "success" {
		return nil
	}
	return fmt.Errorf("netcup %s: %s (%d): %s", action, a.ShortMessage, a.StatusCode, a.LongMessage)
}

// delete removes, by ID, every TXT record at each record's name that holds its value.
func (c *netcupClient) delete(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	a, err := c.call(ctx, "login", map[string]any{"apipassword": c.password})
	if err != nil {
		return nil, err
	}
	if err := a.err("login"); err != nil {
		return nil, err
	}
	var session struct {
		ID string `json:"apisessionid"`
	}
	if err := json.Unmarshal(a.ResponseData, &session); err != nil || session.ID == "" {
		return nil, fmt.Errorf("netcup login: no session in the answer")
	}
	defer func() {
		// The session would lapse by itself; logging out keeps netcup's session count low.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = c.call(lctx, "logout", map[string]any{"apisessionid": session.ID})
	}()
	domain := dnsname.Bare(zone)
	a, err = c.call(ctx, "infoDnsRecords", map[string]any{"apisessionid": session.ID, "domainname": domain})
	if err != nil {
		return nil, err
	}
	// netcup answers an error (status code 5029) for a zone without records: nothing to delete.
	if a.Status != "success" && a.StatusCode == 5029 {
		return nil, nil
	}
	if err := a.err("infoDnsRecords"); err != nil {
		return nil, err
	}
	var set struct {
		Records []map[string]any `json:"dnsrecords"`
	}
	if err := json.Unmarshal(a.ResponseData, &set); err != nil {
		return nil, fmt.Errorf("netcup infoDnsRecords: reading the records: %w", err)
	}
	var gone []map[string]any
	var deleted []libdns.Record
	for _, r := range recs {
		rr := r.RR()
		for _, e := range set.Records {
			host, _ := e["hostname"].(string)
			typ, _ := e["type"].(string)
			dest, _ := e["destination"].(string)
			id, _ := e["id"].(string)
			if id != "" && strings.EqualFold(typ, "TXT") && strings.EqualFold(host, rr.Name) && unquoteTXT(dest) == rr.Data {
				e["deleterecord"] = true
				gone = append(gone, e)
				deleted = append(deleted, r)
			}
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	a, err = c.call(ctx, "updateDnsRecords", map[string]any{"apisessionid": session.ID, "domainname": domain,
		"dnsrecordset": map[string]any{"dnsrecords": gone}})
	if err != nil {
		return nil, err
	}
	if err := a.err("updateDnsRecords"); err != nil {
		return nil, err
	}
	return deleted, nil
}
