//go:build !minimal

package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/libdns/libdns"
	"github.com/libdns/linode"
	"github.com/linode/linodego"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

// linodeDefaultAPI is linodego's default base URL, set explicitly so that LINODE_URL cannot move the token.
const linodeDefaultAPI = "https://api.linode.com"

var (
	linodeHost       = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$`)
	linodeAPIVersion = regexp.MustCompile(`^v4(beta)?$`)
)

func linodeEntry() *Entry {
	return &Entry{
		Name:        "linode",
		Module:      "github.com/libdns/linode",
		New:         func() any { return new(linode.Provider) },
		Credentials: []string{"api_token"},
		// The issuer may point the token at another API host.
		Endpoints: []string{"api_url"},
		Required:  []Field{{"api_token", "a Linode personal access token with Domains read/write, as {secretKeyRef: {name, key}}"}},
		Strategy:  Exact,
		Zones:     zonesListed,
		Test:      Constructed,
		HTTP:      httpOwnClient + ": the webhook builds linodego's client with it and never calls the library's provider",
		Env:       []string{"LINODE_DEBUG (read by linodego at start-up; its debug output is switched off)", "LINODE_CA (ignored: the client has the webhook's transport)"},
		Quirks: []string{
			"the library's first call replaces the process-wide slog default with a stdout handler (which also reroutes the standard log package) and builds linodego on http.DefaultClient, which makes resty set http.DefaultClient.Transport for every library in the process; both happen inside its unexported sync.Once, so they cannot be undone safely: the webhook drives linodego itself with a client of its own and never calls the library's provider",
			"the library's append drops every API error and reports fewer records: the webhook's own append returns them",
			"linodego reads LINODE_URL and LINODE_API_VERSION: the base URL and version are always set explicitly; with LINODE_CA and a transport it did not build, linodego only logs a warning (it would otherwise log.Fatalf on an unreadable file)",
			"api_url is an endpoint the issuer chooses: an https URL or host name, and the token is sent there only if the Secret's endpoints annotation lists it",
			"debug_logs_enabled only configured the library's stdout logger: refused",
			"linodego's own retries are turned off: the webhook's transport retries within the call's deadline",
			"CleanUp deletes by record ID, reading the domain's records first",
		},
		Example: "api_token: {secretKeyRef: {name: linode-token, key: token}}\n",
		Build:   buildLinode,
	}
}

func buildLinode(v any, env Env) (Writer, error) {
	p := v.(*linode.Provider)
	base := linodeDefaultAPI
	if p.APIURL != "" {
		if strings.Contains(p.APIURL, "://") {
			if err := checkHTTPURL(env.Path, "api_url", p.APIURL, linodeDefaultAPI); err != nil {
				return nil, err
			}
		} else if !linodeHost.MatchString(p.APIURL) {
			return nil, fmt.Errorf("config.%s.api_url: %q is neither an https URL nor a host name such as api.linode.com", env.Path, p.APIURL)
		}
		base = p.APIURL
	}
	version := "v4"
	if p.APIVersion != "" {
		if !linodeAPIVersion.MatchString(p.APIVersion) {
			return nil, fmt.Errorf("config.%s.api_version: %q is not v4 or v4beta", env.Path, p.APIVersion)
		}
		version = p.APIVersion
	}
	if p.DebugLogsEnabled {
		return nil, fmt.Errorf("config.%s.debug_logs_enabled: is not allowed: it only configured the library's logger, which would take over the webhook's process-wide log output; remove it", env.Path)
	}
	// A client with a transport of its own: linodego then leaves http.DefaultClient alone, and ignores LINODE_CA.
	client := linodego.NewClient(env.Client())
	client.SetToken(p.APIToken)
	client.SetBaseURL(base)
	client.SetAPIVersion(version)
	client.SetDebug(false)
	client.SetRetryCount(0)
	return linodeEntry().writer(&libdnsWriter{p: &linodeRecords{client: &client}, deleteByLookup: true, httpPaced: true}, env, nil, false), nil
}

// linodeRecords drives the Linode domains API through linodego, for TXT records only.
type linodeRecords struct {
	client *linodego.Client
	ids    sync.Map // zone (canonical) → domain ID
}

func (l *linodeRecords) domainID(ctx context.Context, zone string) (int, error) {
	if id, ok := l.ids.Load(zone); ok {
		return id.(int), nil
	}
	filter, _ := json.Marshal(map[string]string{"domain": dnsname.Bare(zone)})
	domains, err := l.client.ListDomains(ctx, &linodego.ListOptions{Filter: string(filter)})
	if err != nil {
		return 0, err
	}
	for _, d := range domains {
		if strings.EqualFold(d.Domain, dnsname.Bare(zone)) {
			l.ids.Store(zone, d.ID)
			return d.ID, nil
		}
	}
	return 0, fmt.Errorf("the Linode account has no domain %s", dnsname.Bare(zone))
}

// linodeName is a libdns relative name in Linode's form (the apex is "").
func linodeName(name string) string {
	if name == "@" {
		return ""
	}
	return name
}

// AppendRecords implements libdns.RecordAppender.
func (l *linodeRecords) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	id, err := l.domainID(ctx, zone)
	if err != nil {
		return nil, err
	}
	var added []libdns.Record
	for _, r := range recs {
		rr := r.RR()
		created, err := l.client.CreateDomainRecord(ctx, id, linodego.DomainRecordCreateOptions{
			Type: linodego.RecordTypeTXT, Name: linodeName(rr.Name), Target: rr.Data, TTLSec: int(rr.TTL.Seconds()),
		})
		if err != nil {
			return added, err
		}
		added = append(added, libdns.TXT{Name: rr.Name, TTL: rr.TTL, Text: rr.Data, ProviderData: created.ID})
	}
	return added, nil
}

// GetRecords implements libdns.RecordGetter: the domain's TXT records, with their IDs as ProviderData.
func (l *linodeRecords) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	id, err := l.domainID(ctx, zone)
	if err != nil {
		return nil, err
	}
	recs, err := l.client.ListDomainRecords(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, r := range recs {
		if r.Type != linodego.RecordTypeTXT {
			continue
		}
		name := r.Name
		if name == "" {
			name = "@"
		}
		out = append(out, libdns.TXT{Name: name, Text: r.Target, ProviderData: r.ID})
	}
	return out, nil
}

// DeleteRecords implements libdns.RecordDeleter, by record ID only.
func (l *linodeRecords) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	id, err := l.domainID(ctx, zone)
	if err != nil {
		return nil, err
	}
	return deleteEachByID(recs, "a Linode", func(rid int) error {
		return l.client.DeleteDomainRecord(ctx, id, rid)
	})
}

// ListZones implements libdns.ZoneLister (every page).
func (l *linodeRecords) ListZones(ctx context.Context) ([]libdns.Zone, error) {
	domains, err := l.client.ListDomains(ctx, nil)
	if err != nil {
		return nil, err
	}
	zones := make([]libdns.Zone, 0, len(domains))
	for _, d := range domains {
		zones = append(zones, libdns.Zone{Name: d.Domain})
	}
	return zones, nil
}

var (
	_ recordProvider      = (*linodeRecords)(nil)
	_ libdns.RecordGetter = (*linodeRecords)(nil)
	_ libdns.ZoneLister   = (*linodeRecords)(nil)
)
