// Package fakeazuredns is an in-process fake of the parts of Azure Resource Manager's DNS API
// (Microsoft.Network/dnsZones, api-version 2018-05-01) that DNS-01 solvers use, and of the Microsoft Entra ID
// endpoints a client-secret credential signs in at. Tests use it because the real APIs cannot be reached.
//
// It follows the documented behaviour of Azure DNS: a record set (zone, relative name, type) is the unit of change
// and holds every value at that name; PUT creates (201) or replaces (200) it, PATCH updates the fields it is given,
// DELETE removes it (200, or 204 when there was none). Every write gives the set a new ETag, and the optimistic
// concurrency headers work as ARM documents them: If-None-Match: * makes a PUT create-only, If-Match: <etag> makes
// a write or delete apply only to that version of the set (If-Match: * only to an existing set), and a failed
// condition is 412 PreconditionFailed. Lists are paged with nextLink, requests need api-version and a bearer token
// the token endpoint issued for the fake's tenant, and errors carry ARM's {"error": {"code", "message"}} shape
// (404 NotFound/ResourceNotFound, 400 BadRequest, 412, 429 TooManyRequests with Retry-After).
//
// The Entra side serves what azidentity's ClientSecretCredential (through MSAL for Go) asks for, read from their
// source: instance discovery (GET /common/discovery/instance, unless DisableInstanceDiscovery is set), the
// tenant's OpenID configuration (GET /{tenant}/v2.0/.well-known/openid-configuration) and the client-credentials
// grant (POST /{tenant}/oauth2/v2.0/token, scope https://management.core.windows.net//.default). An unknown
// tenant or client ID is echoed in the AADSTS error, as Entra does; an unknown bearer token is echoed by ARM's 401,
// which Azure does not do, so that the webhook's redaction is tested against it.
//
// How the clients reach it: the Azure SDK takes a transport. Pass Client() as policy.ClientOptions.Transport to
// both azidentity (azidentity.ClientSecretCredentialOptions.ClientOptions) and armdns (arm.ClientOptions), and
// every token and ARM request goes to the fake. Two things escape that transport, both read from the source and
// proven by this package's tests: AZURE_REGIONAL_AUTHORITY_NAME=TryAutoDetect makes MSAL ask IMDS
// (169.254.169.254) for the region through a client of its own, and a credential built without secret fields
// (libdns/azure does that) is a ManagedIdentityCredential, which asks IMDS for a token.
package fakeazuredns

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
)

const (
	// ARMHost is the host name of Azure Resource Manager in the public cloud.
	ARMHost = "management.azure.com"
	// LoginHost is the host name of Microsoft Entra ID in the public cloud.
	LoginHost = "login.microsoftonline.com"
	// APIVersion is the DNS API version armdns v1 speaks.
	APIVersion = "2018-05-01"
	// DefaultTenant is the tenant ID the fake serves unless WithTenant names another.
	DefaultTenant = "7e3f5a10-0000-4000-8000-00000000d0e5"
	// DefaultSubscription is the subscription ID the fake serves unless WithSubscription names another.
	DefaultSubscription = "5b0c8a2e-0000-4000-8000-0000000005b5"
)

// apiVersions are the api-version values the fake accepts for DNS resources.
var apiVersions = []string{"2018-05-01", "2023-07-01-preview"}

// maxRecordsPerSet is Azure DNS's default limit of records in one record set.
const maxRecordsPerSet = 20

// Option configures a Server created by Start.
type Option func(*config)

type config struct {
	tenant       string
	subscription string
	clients      map[string]string // client ID → secret
	zones        []zoneSpec
	mirror       fakeapi.Mirror
	pageSize     int
	tokenLife    time.Duration
}

type zoneSpec struct{ group, name string }

// WithTenant sets the Entra tenant ID (default DefaultTenant).
func WithTenant(id string) Option { return func(c *config) { c.tenant = id } }

// WithSubscription sets the subscription ID the zones live in (default DefaultSubscription).
func WithSubscription(id string) Option { return func(c *config) { c.subscription = id } }

// WithClientSecret registers an app (service principal) of the tenant with a client secret; its tokens may
// manage every zone of the subscription.
func WithClientSecret(clientID, secret string) Option {
	return func(c *config) { c.clients[clientID] = secret }
}

// WithZone adds a public DNS zone called name (no trailing dot) in resourceGroup, with its SOA and NS record
// sets.
func WithZone(resourceGroup, name string) Option {
	return func(c *config) { c.zones = append(c.zones, zoneSpec{group: resourceGroup, name: name}) }
}

// WithMirror sends every TXT change to m before the store changes; a PUT that replaces a set mirrors only the
// difference.
func WithMirror(m fakeapi.Mirror) Option { return func(c *config) { c.mirror = m } }

// WithPageSize sets the largest page of the record-set and zone lists ($top is clamped to it; default 100, what
// ARM returns without $top).
func WithPageSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.pageSize = n
		}
	}
}

// WithTokenLifetime sets the expires_in of issued access tokens (default 3599 s). ARM refuses an expired token.
func WithTokenLifetime(d time.Duration) Option { return func(c *config) { c.tokenLife = d } }

// RecordSet is a record set as the fake stores it.
type RecordSet struct {
	// ID is the ARM resource ID, e.g. /subscriptions/…/resourceGroups/rg/providers/Microsoft.Network/dnszones/example.com/TXT/_acme-challenge.
	ID string
	// Name is relative to the zone, lower case, "@" for the apex.
	Name string
	// Type is the record type, e.g. "TXT".
	Type string
	// TTL is in seconds.
	TTL int64
	// ETag changes on every write.
	ETag string
	// Metadata is the set's metadata (tags).
	Metadata map[string]string
	// TXT holds the records of a TXT set, each a list of strings (a TXT record's character-strings).
	TXT [][]string
	// records holds the records of other types as ARM's JSON has them, under the type's property name.
	records json.RawMessage
}

// Texts returns the text of each TXT record (its strings joined).
func (r RecordSet) Texts() []string {
	out := make([]string, 0, len(r.TXT))
	for _, v := range r.TXT {
		out = append(out, strings.Join(v, ""))
	}
	return out
}

func (r RecordSet) clone() RecordSet {
	out := r
	out.Metadata = cloneMap(r.Metadata)
	out.TXT = make([][]string, len(r.TXT))
	for i, v := range r.TXT {
		out.TXT[i] = slices.Clone(v)
	}
	out.records = slices.Clone(r.records)
	return out
}

type zone struct {
	group string // as given, compared without regard to case
	name  string // lower case, no trailing dot
	etag  string
	sets  []RecordSet // sorted by type, then name
}

type token struct {
	tenant, client string
	expires        time.Time
}

// Server is the running fake. Its embedded fakeapi.Server gives the client, proxy, CA, request log and faults.
type Server struct {
	*fakeapi.Server

	cfg config

	// writeMu serialises changes, so that a change can be checked, mirrored (network I/O, outside mu) and stored
	// without another change slipping in between.
	writeMu sync.Mutex

	mu     sync.Mutex
	zones  []*zone // in creation order
	tokens map[string]token
	now    func() time.Time
}

// Start listens on a free port of 127.0.0.1 and serves ARM and Entra there, directly and as a CONNECT proxy for
// management.azure.com and login.microsoftonline.com. Close stops it.
func Start(opts ...Option) (*Server, error) {
	s := &Server{
		cfg: config{
			tenant:       DefaultTenant,
			subscription: DefaultSubscription,
			clients:      map[string]string{},
			pageSize:     100,
			tokenLife:    3599 * time.Second,
		},
		tokens: map[string]token{},
		now:    time.Now,
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	for _, z := range s.cfg.zones {
		s.AddZone(z.group, z.name)
	}
	api, err := fakeapi.Start(fakeapi.Config{
		Name:    "fakeazuredns",
		Hosts:   []string{ARMHost, LoginHost},
		Handler: http.HandlerFunc(s.serve),
		Refuse:  s.refuse,
	})
	if err != nil {
		return nil, err
	}
	s.Server = api
	return s, nil
}

// Tenant returns the tenant ID the fake serves.
func (s *Server) Tenant() string { return s.cfg.tenant }

// Subscription returns the subscription ID the fake serves.
func (s *Server) Subscription() string { return s.cfg.subscription }

// ProxyEnv returns the environment entries that send a child process's Azure SDK to the fake: fakeapi's
// (HTTPS_PROXY, NO_PROXY emptied, SSL_CERT_FILE=caFile) plus the variables azidentity and MSAL read emptied, so
// that the public cloud's authority host is used and no region probe sends MSAL to IMDS.
func (s *Server) ProxyEnv(caFile string) []string {
	return append(s.Server.ProxyEnv(caFile), "AZURE_AUTHORITY_HOST=", "AZURE_REGIONAL_AUTHORITY_NAME=", "REGION_NAME=",
		"AZURE_CLIENT_ID=", "AZURE_TENANT_ID=", "AZURE_CLIENT_SECRET=", "AZURE_FEDERATED_TOKEN_FILE=", "IDENTITY_ENDPOINT=",
		"MSI_ENDPOINT=", "IMDS_ENDPOINT=")
}

// AddZone adds a zone (see WithZone). Adding a zone that exists does nothing.
func (s *Server) AddZone(resourceGroup, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	if s.zoneLocked(resourceGroup, n) != nil {
		return
	}
	z := &zone{group: resourceGroup, name: n, etag: newETag()}
	ns := nameServers(len(s.zones))
	var nsRecords []map[string]string
	for _, h := range ns {
		nsRecords = append(nsRecords, map[string]string{"nsdname": h})
	}
	nsJSON, _ := json.Marshal(nsRecords)
	soaJSON, _ := json.Marshal(map[string]any{
		"host": ns[0], "email": "azuredns-hostmaster.microsoft.com", "serialNumber": 1, "refreshTime": 3600,
		"retryTime": 300, "expireTime": 2419200, "minimumTTL": 300,
	})
	z.sets = []RecordSet{
		{Name: "@", Type: "NS", TTL: 172800, ETag: newETag(), records: nsJSON},
		{Name: "@", Type: "SOA", TTL: 3600, ETag: newETag(), records: soaJSON},
	}
	for i := range z.sets {
		z.sets[i].ID = s.recordSetID(z, z.sets[i].Type, "@")
	}
	s.zones = append(s.zones, z)
}

// nameServers are a zone's four Azure DNS name servers, as Azure picks them from its pools.
func nameServers(i int) []string {
	n := i%9 + 1
	return []string{
		fmt.Sprintf("ns1-0%d.azure-dns.com.", n), fmt.Sprintf("ns2-0%d.azure-dns.net.", n),
		fmt.Sprintf("ns3-0%d.azure-dns.org.", n), fmt.Sprintf("ns4-0%d.azure-dns.info.", n),
	}
}

func (s *Server) zoneLocked(group, name string) *zone {
	for _, z := range s.zones {
		if strings.EqualFold(z.group, group) && z.name == strings.ToLower(name) {
			return z
		}
	}
	return nil
}

// Records returns a copy of the record sets of the zone called name (in any resource group), in list order; nil
// when there is no such zone.
func (s *Server) Records(zoneName string) []RecordSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, z := range s.zones {
		if z.name == strings.ToLower(strings.TrimSuffix(zoneName, ".")) {
			out := make([]RecordSet, len(z.sets))
			for i, set := range z.sets {
				out[i] = set.clone()
			}
			return out
		}
	}
	return nil
}

// TXT returns the texts of the TXT record set at fqdn in any zone, sorted; nil when there is none (an empty set
// gives an empty, non-nil slice).
func (s *Server) TXT(fqdn string) []string {
	n := strings.ToLower(strings.TrimSuffix(fqdn, "."))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, z := range s.zones {
		for _, set := range z.sets {
			if set.Type == "TXT" && absName(set.Name, z.name) == n+"." {
				out := set.Texts()
				slices.Sort(out)
				return out
			}
		}
	}
	return nil
}

// ETag returns the ETag of the record set (zone, relative name, type), "" when there is none.
func (s *Server) ETag(zoneName, name, typ string) string {
	for _, set := range s.Records(zoneName) {
		if set.Name == strings.ToLower(name) && set.Type == typ {
			return set.ETag
		}
	}
	return ""
}

func (s *Server) recordSetID(z *zone, typ, name string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/dnszones/%s/%s/%s", s.cfg.subscription, z.group, z.name, typ, name)
}

// absName is the owner name of a relative record-set name in zone, with trailing dot.
func absName(name, zoneName string) string {
	if name == "@" {
		return zoneName + "."
	}
	return name + "." + zoneName + "."
}

func compareSets(a, b RecordSet) int {
	if c := strings.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	// The apex first, then by name.
	switch {
	case a.Name == b.Name:
		return 0
	case a.Name == "@":
		return -1
	case b.Name == "@":
		return 1
	}
	return strings.Compare(a.Name, b.Name)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// newETag is a fresh ETag in Azure DNS's form, a GUID.
func newETag() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails, see crypto/rand.Read
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
