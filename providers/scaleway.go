//go:build !minimal

package providers

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/libdns/libdns"
	"github.com/libdns/scaleway"
	domain "github.com/scaleway/scaleway-sdk-go/api/domain/v2beta1"
	"github.com/scaleway/scaleway-sdk-go/scw"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/dnsname"
)

func scalewayEntry() *Entry {
	return &Entry{
		Name:        "scaleway",
		Module:      "github.com/libdns/scaleway",
		New:         func() any { return new(scaleway.Provider) },
		Credentials: []string{"secret_key"},
		Required:    []Field{{"secret_key", "a Scaleway API secret key allowed DomainsDNSFullAccess, as {secretKeyRef: {name, key}}"}},
		Strategy:    Exact,
		Zones:       zonesNone,
		Test:        Constructed,
		HTTP:        httpOwnClient + ": the webhook drives scaleway-sdk-go itself with its client",
		Env:         []string{"SCW_DEBUG (scaleway-sdk-go's request logging)"},
		Quirks: []string{
			"the library passes no context to any SDK call (no deadline, no cancellation): the webhook drives the SDK itself, with the call's context",
			"a delete must repeat the stored TTL (TTL 0 matches nothing), and the library reads one page of records only: CleanUp lists the zone's TXT records (every page) and deletes the ones holding the value by record ID",
			"the SDK puts the secret key in its error when the key is not a UUID: the webhook's own error says so without it",
			"an identical record already there: Present reads first and adds nothing",
		},
		Example: "secret_key: {secretKeyRef: {name: scaleway-key, key: secret-key}}\n",
		Build: func(v any, env Env) (Writer, error) {
			p := v.(*scaleway.Provider)
			s := &scalewayRecords{secret: p.SecretKey, org: p.OrganizationID, httpClient: env.Client(), path: env.Path}
			return scalewayEntry().writer(&libdnsWriter{p: s, skipPresent: true, deleteByLookup: true, httpPaced: true}, env, nil, false), nil
		},
	}
}

// scalewayRecords drives Scaleway's domain API (v2beta1) through scaleway-sdk-go, for TXT records only.
type scalewayRecords struct {
	secret, org, path string
	httpClient        *http.Client

	mu  sync.Mutex
	api *domain.API
}

// domainAPI builds the SDK client on first use: it checks the key's format, which a config check cannot do
// before the Secret is read.
func (s *scalewayRecords) domainAPI() (*domain.API, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.api != nil {
		return s.api, nil
	}
	// Scaleway authenticates with the secret key alone; the SDK wants an access key of the right shape.
	opts := []scw.ClientOption{scw.WithAuth("SCWXXXXXXXXXXXXXXXXX", s.secret), scw.WithHTTPClient(s.httpClient)}
	if s.org != "" {
		opts = append(opts, scw.WithDefaultOrganizationID(s.org))
	}
	client, err := scw.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("config.%s: secret_key (and organization_id, if set) must be UUIDs as the Scaleway console shows them", s.path)
	}
	s.api = domain.NewAPI(client)
	return s.api, nil
}

// AppendRecords implements libdns.RecordAppender.
func (s *scalewayRecords) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	api, err := s.domainAPI()
	if err != nil {
		return nil, err
	}
	var add []*domain.Record
	for _, r := range recs {
		rr := r.RR()
		add = append(add, &domain.Record{Name: scalewayName(rr.Name), Type: domain.RecordTypeTXT, Data: `"` + rr.Data + `"`, TTL: uint32(rr.TTL.Seconds())})
	}
	_, err = api.UpdateDNSZoneRecords(&domain.UpdateDNSZoneRecordsRequest{
		DNSZone: dnsname.Bare(zone), Changes: []*domain.RecordChange{{Add: &domain.RecordChangeAdd{Records: add}}}, ReturnAllRecords: scw.BoolPtr(false),
	}, scw.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// GetRecords implements libdns.RecordGetter: the zone's TXT records (every page), with their IDs.
func (s *scalewayRecords) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	api, err := s.domainAPI()
	if err != nil {
		return nil, err
	}
	resp, err := api.ListDNSZoneRecords(&domain.ListDNSZoneRecordsRequest{DNSZone: dnsname.Bare(zone), Type: domain.RecordTypeTXT},
		scw.WithContext(ctx), scw.WithAllPages())
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, r := range resp.Records {
		name := r.Name
		if name == "" {
			name = "@"
		}
		out = append(out, libdns.TXT{Name: name, Text: r.Data, ProviderData: r.ID})
	}
	return out, nil
}

// DeleteRecords implements libdns.RecordDeleter, by record ID only.
func (s *scalewayRecords) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	api, err := s.domainAPI()
	if err != nil {
		return nil, err
	}
	var changes []*domain.RecordChange
	for _, r := range recs {
		txt, _ := r.(libdns.TXT)
		id, _ := txt.ProviderData.(string)
		if id == "" {
			return nil, fmt.Errorf("refusing to delete a Scaleway record without its ID (%s)", r.RR().Name)
		}
		changes = append(changes, &domain.RecordChange{Delete: &domain.RecordChangeDelete{ID: scw.StringPtr(id)}})
	}
	_, err = api.UpdateDNSZoneRecords(&domain.UpdateDNSZoneRecordsRequest{DNSZone: dnsname.Bare(zone), Changes: changes, ReturnAllRecords: scw.BoolPtr(false)},
		scw.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// scalewayName is a libdns relative name in Scaleway's form (the apex is "").
func scalewayName(name string) string {
	if name == "@" {
		return ""
	}
	return name
}

var _ libdns.RecordGetter = (*scalewayRecords)(nil)
