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
	"regexp"
	"slices"
	"strings"

	"github.com/libdns/huaweicloud"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// huaweiRegion is a Huawei Cloud region name (cn-south-1, ap-southeast-1, eu-west-101, …): the only shape
// allowed into the API's host name, dns.<region>.myhuaweicloud.com.
var huaweiRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

func huaweicloudEntry() *Entry {
	return &Entry{
		Name:        "huaweicloud",
		Module:      "github.com/libdns/huaweicloud",
		New:         func() any { return new(huaweicloud.Provider) },
		Credentials: []string{"secret_access_key"},
		// The region becomes part of the API's host name.
		Endpoints: []string{"region_id"},
		Required: []Field{
			{"access_key_id", "the Huawei Cloud access key ID (AK)"},
			{"secret_access_key", "its secret access key (SK), as {secretKeyRef: {name, key}}"},
		},
		Strategy: Set,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     httpOwnClient + ": the webhook writes the record set itself, signed with the library's exported signer",
		Quirks: []string{
			"the library writes one-value record sets only (a second append is a second record set, its set replaces the values with one, its delete drops the record set whatever the value): the webhook reads the name's TXT record set and writes it back with all remaining values (PUT), creates it (POST) or deletes it when none remain, under the set strategy's Lease lock",
			"region_id is pasted into the API's host name (dns.<region_id>.myhuaweicloud.com): only a Huawei region name (e.g. cn-south-1) is accepted, and the keys are used there only if the Secret's endpoints annotation lists the region",
			"panics on its first call without credentials: both keys are required",
		},
		Example: "access_key_id: HPUAEXAMPLEKEYID\nsecret_access_key: {secretKeyRef: {name: huaweicloud-key, key: secret-access-key}}\n",
		Build:   buildHuaweiCloud,
	}
}

func buildHuaweiCloud(v any, env Env) (Writer, error) {
	p := v.(*huaweicloud.Provider)
	if err := checkRegion(env.Path, "region_id", p.RegionId, huaweiRegion, "cn-south-1"); err != nil {
		return nil, err
	}
	region := p.RegionId
	if region == "" {
		region = "cn-south-1" // the library's default
	}
	ops := &huaweiRecordSets{signer: &huaweicloud.Signer{Key: p.AccessKeyId, Secret: p.SecretAccessKey},
		base: "https://dns." + region + ".myhuaweicloud.com/v2", client: env.Client()}
	return huaweicloudEntry().writer(&libdnsWriter{p: p, httpPaced: true}, env, ops, false), nil
}

// huaweiRecordSets reads and writes one name's TXT record set through the Huawei Cloud DNS API.
type huaweiRecordSets struct {
	signer *huaweicloud.Signer
	base   string
	client *http.Client
}

type huaweiRecordSet struct {
	ID      string   `json:"id,omitempty"`
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	TTL     int      `json:"ttl,omitempty"`
	Records []string `json:"records"`
}

func (h *huaweiRecordSets) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := h.signer.Sign(req); err != nil {
		return err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("huawei cloud DNS %s: HTTP %d %s: %s", method, resp.StatusCode, e.Code, e.Message)
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (h *huaweiRecordSets) zoneID(ctx context.Context, zone string) (string, error) {
	var out struct {
		Zones []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"zones"`
	}
	if err := h.do(ctx, http.MethodGet, "/zones?search_mode=equal&name="+url.QueryEscape(dnsname.Bare(zone)), nil, &out); err != nil {
		return "", err
	}
	for _, z := range out.Zones {
		if strings.EqualFold(dnsname.Bare(z.Name), dnsname.Bare(zone)) {
			return z.ID, nil
		}
	}
	return "", fmt.Errorf("the Huawei Cloud account has no public zone %s", dnsname.Bare(zone))
}

// read returns the zone's ID and the name's TXT record set (nil when there is none).
func (h *huaweiRecordSets) read(ctx context.Context, zone, fqdn string) (string, *huaweiRecordSet, error) {
	id, err := h.zoneID(ctx, zone)
	if err != nil {
		return "", nil, err
	}
	var out struct {
		RecordSets []huaweiRecordSet `json:"recordsets"`
	}
	path := "/zones/" + url.PathEscape(id) + "/recordsets?search_mode=equal&type=TXT&name=" + url.QueryEscape(fqdn)
	if err := h.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return "", nil, err
	}
	var found []huaweiRecordSet
	for _, s := range out.RecordSets {
		if s.Type == "TXT" && strings.EqualFold(dnsname.Bare(s.Name), dnsname.Bare(fqdn)) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return id, nil, nil
	case 1:
		return id, &found[0], nil
	default:
		return "", nil, fmt.Errorf("%d TXT record sets at %s (weighted or per-line records?): the webhook writes a name that has one", len(found), fqdn)
	}
}

// Values implements SetOps.
func (h *huaweiRecordSets) Values(ctx context.Context, zone, fqdn string) ([]string, error) {
	_, set, err := h.read(ctx, zone, fqdn)
	if err != nil || set == nil {
		return nil, err
	}
	out := make([]string, len(set.Records))
	for i, r := range set.Records {
		out[i] = unquoteTXT(r)
	}
	return out, nil
}

// Write implements SetOps: one PUT (or POST) of the remaining values, or a DELETE when none remain.
func (h *huaweiRecordSets) Write(ctx context.Context, zone, fqdn string, _ []string, adds []Mutation, removes []string) (addErr, removeErr error) {
	err := h.write(ctx, zone, fqdn, adds, removes)
	return err, err
}

func (h *huaweiRecordSets) write(ctx context.Context, zone, fqdn string, adds []Mutation, removes []string) error {
	zoneID, set, err := h.read(ctx, zone, fqdn)
	if err != nil {
		return err
	}
	next := huaweiRecordSet{Name: fqdn, Type: "TXT"}
	if set != nil {
		next.TTL = set.TTL
	}
	var have []string
	if set != nil {
		for _, r := range set.Records {
			if v := unquoteTXT(r); !slices.Contains(removes, v) && !slices.Contains(have, v) {
				next.Records, have = append(next.Records, r), append(have, v)
			}
		}
	}
	for _, m := range adds {
		if !slices.Contains(have, m.Value) {
			next.Records, have = append(next.Records, `"`+m.Value+`"`), append(have, m.Value)
			if next.TTL == 0 {
				next.TTL = max(int(m.TTL.Seconds()), 1)
			}
		}
	}
	sets := "/zones/" + url.PathEscape(zoneID) + "/recordsets"
	switch {
	case set == nil && len(next.Records) == 0:
		return nil
	case set == nil:
		return h.do(ctx, http.MethodPost, sets, next, nil)
	case len(next.Records) == 0:
		return h.do(ctx, http.MethodDelete, sets+"/"+url.PathEscape(set.ID), nil, nil)
	default:
		return h.do(ctx, http.MethodPut, sets+"/"+url.PathEscape(set.ID), next, nil)
	}
}

var _ SetOps = (*huaweiRecordSets)(nil)
