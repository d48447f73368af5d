//go:build !minimal

package providers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/libdns/tencentcloud"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// tencentRegion is a Tencent Cloud region name (ap-guangzhou, na-siliconvalley, ap-shanghai-fsi, …): the only
// shape allowed into the API's host name, dnspod.<region>.tencentcloudapi.com.
var tencentRegion = regexp.MustCompile(`^[a-z]{2}-[a-z]+(-[a-z]+)?$`)

func tencentcloudEntry() *Entry {
	return &Entry{
		Name:   "tencentcloud",
		Module: "github.com/libdns/tencentcloud",
		New:    func() any { return new(tencentcloud.Provider) },
		// The library's struct has no JSON tags: fields are named as in Go.
		Credentials: []string{"SecretKey", "SessionToken"},
		// The region becomes part of the API's host name.
		Endpoints: []string{"Region"},
		Required: []Field{
			{"SecretId", "the Tencent Cloud SecretId"},
			{"SecretKey", "its SecretKey, as {secretKeyRef: {name, key}}"},
		},
		// DNSPod's free plan refuses a TTL under 600 s (paid plans accept less).
		MinTTL:   600 * time.Second,
		Strategy: Exact,
		Zones:    zonesNone,
		Test:     Constructed,
		HTTP:     httpOwnClient + ": the webhook calls the DNSPod API itself",
		Quirks: []string{
			"the library never reads the API's Error field: a failed delete (or a lookup refused for bad credentials, which looks like \"not found\") reports success; the webhook calls DescribeRecordList, CreateRecord and DeleteRecord itself and checks every answer",
			"a delete removes the first record holding the value only: CleanUp deletes, by RecordId, every record holding it",
			"Region is pasted into the API's host name (dnspod.<Region>.tencentcloudapi.com): only a Tencent region name (e.g. ap-guangzhou) is accepted, the request is signed for that host (the library signs every request for dnspod.tencentcloudapi.com whatever the host), and the keys are used there only if the Secret's endpoints annotation lists the region",
			"an identical record already there (InvalidParameter.DomainRecordExist) counts as success",
			"minimum TTL 600 (DNSPod's free plan): a lower ttl is raised",
		},
		Example: "SecretId: AKIDexampleSecretId\nSecretKey: {secretKeyRef: {name: tencentcloud-key, key: secret-key}}\n",
		Build:   buildTencentCloud,
	}
}

func buildTencentCloud(v any, env Env) (Writer, error) {
	p := v.(*tencentcloud.Provider)
	if err := checkRegion(env.Path, "Region", p.Region, tencentRegion, "ap-guangzhou"); err != nil {
		return nil, err
	}
	host := "dnspod.tencentcloudapi.com"
	if p.Region != "" {
		host = "dnspod." + p.Region + ".tencentcloudapi.com"
	}
	c := &dnspodClient{id: p.SecretId, key: p.SecretKey, token: p.SessionToken, host: host, client: env.Client()}
	lw := &libdnsWriter{p: c, deleteByLookup: true, httpPaced: true, duplicate: func(err error) bool {
		return strings.Contains(err.Error(), "InvalidParameter.DomainRecordExist")
	}}
	return tencentcloudEntry().writer(lw, env, nil, false), nil
}

// dnspodClient calls the DNSPod API (version 2021-03-23) for TXT records, checking every answer's Error.
type dnspodClient struct {
	id, key, token, host string
	client               *http.Client
}

type dnspodError struct {
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

func (e *dnspodError) Error() string { return "DNSPod " + e.Code + ": " + e.Message }

func (c *dnspodClient) call(ctx context.Context, action string, params, out any) error {
	payload, err := json.Marshal(params)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+c.host+"/", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	tc3Sign(req, c.id, c.key, c.token, c.host, action, string(payload), time.Now())
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	var answer struct {
		Response json.RawMessage `json:"Response"`
	}
	var e struct {
		Error *dnspodError `json:"Error"`
	}
	if json.Unmarshal(data, &answer) != nil || json.Unmarshal(answer.Response, &e) != nil {
		return fmt.Errorf("DNSPod %s: HTTP %d, not an API answer", action, resp.StatusCode)
	}
	if e.Error != nil {
		return e.Error
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("DNSPod %s: HTTP %d", action, resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(answer.Response, out)
	}
	return nil
}

// AppendRecords implements libdns.RecordAppender.
func (c *dnspodClient) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	var added []libdns.Record
	for _, r := range recs {
		rr := r.RR()
		var out struct {
			RecordID uint64 `json:"RecordId"`
		}
		err := c.call(ctx, "CreateRecord", map[string]any{"Domain": dnsname.Bare(zone), "SubDomain": rr.Name, "RecordType": "TXT",
			"RecordLine": "默认", "Value": rr.Data, "TTL": int64(rr.TTL.Seconds())}, &out)
		if err != nil {
			return added, err
		}
		added = append(added, libdns.TXT{Name: rr.Name, TTL: rr.TTL, Text: rr.Data, ProviderData: out.RecordID})
	}
	return added, nil
}

// GetRecords implements libdns.RecordGetter: the zone's TXT records (up to 3000), with their IDs.
func (c *dnspodClient) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	var out struct {
		RecordList []struct {
			RecordID uint64 `json:"RecordId"`
			Name     string `json:"Name"`
			Type     string `json:"Type"`
			Value    string `json:"Value"`
		} `json:"RecordList"`
	}
	err := c.call(ctx, "DescribeRecordList", map[string]any{"Domain": dnsname.Bare(zone), "RecordType": "TXT", "Limit": 3000}, &out)
	var apiErr *dnspodError
	if errors.As(err, &apiErr) && apiErr.Code == "ResourceNotFound.NoDataOfRecord" {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []libdns.Record
	for _, r := range out.RecordList {
		if r.Type == "TXT" {
			recs = append(recs, libdns.TXT{Name: r.Name, Text: r.Value, ProviderData: r.RecordID})
		}
	}
	return recs, nil
}

// DeleteRecords implements libdns.RecordDeleter, by RecordId only.
func (c *dnspodClient) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return deleteEachByID(recs, "a DNSPod", func(id uint64) error {
		return c.call(ctx, "DeleteRecord", map[string]any{"Domain": dnsname.Bare(zone), "RecordId": id}, nil)
	})
}

// tc3Sign signs req with Tencent Cloud's TC3-HMAC-SHA256 for the host it is sent to: the algorithm of
// libdns/tencentcloud's SignRequest, which signs for dnspod.tencentcloudapi.com only.
func tc3Sign(req *http.Request, secretID, secretKey, token, host, action, payload string, now time.Time) {
	const service = "dnspod"
	ts := now.Unix()
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	hashed := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	canonical := "POST\n/\n\ncontent-type:application/json\nhost:" + host + "\nx-tc-action:" + strings.ToLower(action) +
		"\n\ncontent-type;host;x-tc-action\n" + hashed(payload)
	scope := date + "/" + service + "/tc3_request"
	toSign := "TC3-HMAC-SHA256\n" + strconv.FormatInt(ts, 10) + "\n" + scope + "\n" + hashed(canonical)
	key := mac(mac(mac([]byte("TC3"+secretKey), date), service), "tc3_request")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential="+secretID+"/"+scope+
		", SignedHeaders=content-type;host;x-tc-action, Signature="+hex.EncodeToString(mac(key, toSign)))
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", "2021-03-23")
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	if token != "" {
		req.Header.Set("X-TC-Token", token)
	}
}

var _ libdns.RecordGetter = (*dnspodClient)(nil)
