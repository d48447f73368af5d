package fakeazuredns

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
)

// recordKeys are the property names ARM gives each record type's records.
var recordKeys = map[string]string{
	"A": "ARecords", "AAAA": "AAAARecords", "CAA": "caaRecords", "CNAME": "CNAMERecord", "MX": "MXRecords",
	"NS": "NSRecords", "PTR": "PTRRecords", "SOA": "SOARecord", "SRV": "SRVRecords", "TXT": "TXTRecords",
}

// ErrorBody is ARM's error answer.
type ErrorBody struct {
	// Error is the one error.
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the content of an ErrorBody.
type ErrorDetail struct {
	// Code is the machine-readable cause, e.g. "PreconditionFailed".
	Code string `json:"code"`
	// Message is the human-readable text.
	Message string `json:"message"`
}

// reply is a computed ARM answer; a nil body sends none (204).
type reply struct {
	status int
	body   any
	etag   string
	header http.Header // extra headers, e.g. WWW-Authenticate
}

func armError(status int, code, msg string) reply {
	return reply{status: status, body: ErrorBody{Error: ErrorDetail{Code: code, Message: msg}}}
}

func badRequest(msg string) reply { return armError(http.StatusBadRequest, "BadRequest", msg) }

func preconditionFailed(msg string) reply {
	return armError(http.StatusPreconditionFailed, "PreconditionFailed", msg)
}

func (s *Server) writeARM(w http.ResponseWriter, rep reply) {
	w.Header().Set("x-ms-request-id", newETag())
	w.Header().Set("x-ms-correlation-request-id", newETag())
	reads, writes := "11999", "1199"
	if _, remaining, _, ok := s.WindowState(); ok {
		reads, writes = strconv.Itoa(remaining), strconv.Itoa(remaining)
	}
	w.Header().Set("x-ms-ratelimit-remaining-subscription-reads", reads)
	w.Header().Set("x-ms-ratelimit-remaining-subscription-writes", writes)
	if rep.etag != "" {
		w.Header().Set("ETag", rep.etag)
	}
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	fakeapi.WriteJSON(w, "fakeazuredns", rep.status, "application/json; charset=utf-8", rep.body)
}

// entraError writes a Microsoft Entra error: OAuth's error and error_description, with the AADSTS code.
func entraError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	now := time.Now().UTC()
	trace, corr := newETag(), newETag()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, desc, trace, corr, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{aadsts},
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("https://%s/error?code=%d", LoginHost, aadsts),
	})
}

// refuse answers fakeapi's faults: ARM throttling is 429 TooManyRequests (with the Retry-After fakeapi set),
// Entra's is its OAuth error shape.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ref fakeapi.Refusal) {
	if !isARM(r.URL.Path) {
		code := "temporarily_unavailable"
		entraError(w, ref.Status, code, 50196, "The server terminated an operation because it encountered a client request loop or could not serve the request now.")
		return
	}
	switch ref.Status {
	case http.StatusTooManyRequests:
		s.writeARM(w, armError(ref.Status, "TooManyRequests", "The request is being throttled as the limit has been reached for operation type - Write_ObservationWindow_00:01:00. For more information, see - https://aka.ms/srpthrottlinglimits"))
	case http.StatusServiceUnavailable:
		s.writeARM(w, armError(ref.Status, "ServiceUnavailable", "The service is temporarily unavailable. Please try again later."))
	default:
		s.writeARM(w, armError(ref.Status, "InternalServerError", "Encountered internal server error. Diagnostic information: timestamp '"+time.Now().UTC().Format(time.RFC3339)+"'."))
	}
}

func isARM(path string) bool {
	return strings.HasPrefix(strings.ToLower(path), "/subscriptions/")
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !isARM(r.URL.Path) {
		s.serveLogin(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.writeARM(w, badRequest("could not read the request body"))
		return
	}
	s.writeARM(w, s.routeARM(r, body))
}

// serveLogin serves the Entra endpoints MSAL calls for a client-secret credential.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/common/discovery/instance":
		s.instanceDiscovery(w, r)
	case r.Method == http.MethodGet && len(parts) == 4 && parts[1] == "v2.0" && parts[2] == ".well-known" && parts[3] == "openid-configuration":
		s.openIDConfiguration(w, parts[0])
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token":
		s.token(w, r, parts[0])
	default:
		entraError(w, http.StatusNotFound, "invalid_request", 900561, "The endpoint only accepts the documented requests; "+r.Method+" "+r.URL.Path+" is not one.")
	}
}

func (s *Server) unknownTenant(w http.ResponseWriter, tenant string) {
	entraError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
}

// instanceDiscovery answers MSAL's alias lookup for the public cloud's authority host.
func (s *Server) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	ae, err := url.Parse(r.URL.Query().Get("authorization_endpoint"))
	if err != nil || ae.Host != LoginHost {
		entraError(w, http.StatusBadRequest, "invalid_instance", 50049, "Unknown or invalid instance.")
		return
	}
	tenant := strings.Split(strings.TrimPrefix(ae.Path, "/"), "/")[0]
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"tenant_discovery_endpoint": fmt.Sprintf("https://%s/%s/v2.0/.well-known/openid-configuration", LoginHost, tenant),
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": LoginHost,
			"preferred_cache":   "login.windows.net",
			"aliases":           []string{LoginHost, "login.windows.net", "login.microsoft.com", "sts.windows.net"},
		}},
	})
}

func (s *Server) openIDConfiguration(w http.ResponseWriter, tenant string) {
	if tenant != s.cfg.tenant {
		s.unknownTenant(w, tenant)
		return
	}
	base := "https://" + LoginHost + "/" + tenant
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              "https://" + LoginHost + "/" + tenant + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// armScopes are the .default scopes that name Resource Manager.
var armScopes = []string{
	"https://management.core.windows.net//.default", "https://management.core.windows.net/.default",
	"https://management.azure.com//.default", "https://management.azure.com/.default",
}

// token implements the client-credentials grant with a client secret.
func (s *Server) token(w http.ResponseWriter, r *http.Request, tenant string) {
	if tenant != s.cfg.tenant {
		s.unknownTenant(w, tenant)
		return
	}
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		return
	}
	client := f.Get("client_id")
	secret, known := s.cfg.clients[client]
	if !known {
		entraError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", client, tenant))
		return
	}
	if f.Get("client_secret") != secret {
		entraError(w, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", client))
		return
	}
	resources := 0
	for _, sc := range strings.Fields(f.Get("scope")) {
		switch {
		case slices.Contains(armScopes, sc):
			resources++
		case slices.Contains([]string{"openid", "offline_access", "profile"}, sc):
		default:
			entraError(w, http.StatusBadRequest, "invalid_scope", 70011, fmt.Sprintf("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", sc))
			return
		}
	}
	if resources != 1 {
		entraError(w, http.StatusBadRequest, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. The scope must name exactly one resource with /.default.")
		return
	}
	tok := "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake-arm." + base64.RawURLEncoding.EncodeToString([]byte(newETag()+newETag()))
	s.mu.Lock()
	s.tokens[tok] = token{tenant: tenant, client: client, expires: s.now().Add(s.cfg.tokenLife)}
	s.mu.Unlock()
	secs := int64(s.cfg.tokenLife / time.Second)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
}

// authorize checks ARM's bearer token; a refusal carries the WWW-Authenticate challenge ARM sends.
func (s *Server) authorize(r *http.Request) *reply {
	challenge := func(why string) http.Header {
		return http.Header{"Www-Authenticate": {fmt.Sprintf(`Bearer authorization_uri="https://%s/%s", error="invalid_token", error_description="The authentication failed because %s."`, LoginHost, s.cfg.tenant, why)}}
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		rep := armError(http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
		rep.header = challenge("of missing 'Authorization' header")
		return &rep
	}
	bearer, _ := strings.CutPrefix(authz, "Bearer ")
	s.mu.Lock()
	t, known := s.tokens[bearer]
	s.mu.Unlock()
	switch {
	case !known:
		// Echoed, although ARM does not: the webhook's redaction of its errors is tested against it.
		rep := armError(http.StatusUnauthorized, "InvalidAuthenticationToken", fmt.Sprintf("The access token is invalid (%q).", authz))
		rep.header = challenge("the token is invalid")
		return &rep
	case !s.now().Before(t.expires):
		rep := armError(http.StatusUnauthorized, "ExpiredAuthenticationToken", "The access token expiry UTC time '"+t.expires.UTC().Format(time.RFC1123)+"' is earlier than current UTC time.")
		rep.header = challenge("the token has expired")
		return &rep
	}
	return nil
}

// routeARM dispatches on the path, whose fixed segments ARM compares without regard to case.
func (s *Server) routeARM(r *http.Request, body []byte) reply {
	if rep := s.authorize(r); rep != nil {
		return *rep
	}
	q := r.URL.Query()
	switch v := q.Get("api-version"); {
	case v == "":
		return armError(http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	case !slices.Contains(apiVersions, v):
		return armError(http.StatusBadRequest, "NoRegisteredProviderFound", fmt.Sprintf("No registered resource provider found for location 'global' and API version '%s' for type 'dnszones'. The supported api-versions are '%s'.", v, strings.Join(apiVersions, ", ")))
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	lower := make([]string, len(parts))
	for i, p := range parts {
		lower[i] = strings.ToLower(p)
	}
	notFound := armError(http.StatusNotFound, "NotFound", "The requested resource does not exist: "+r.URL.Path)
	if len(parts) < 5 || lower[0] != "subscriptions" {
		return notFound
	}
	if parts[1] != s.cfg.subscription {
		return armError(http.StatusNotFound, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", parts[1]))
	}
	get := r.Method == http.MethodGet
	if len(parts) == 5 && lower[2] == "providers" && lower[3] == "microsoft.network" && lower[4] == "dnszones" && get {
		return s.listZones(r, "")
	}
	if len(parts) < 7 || lower[2] != "resourcegroups" || lower[4] != "providers" || lower[5] != "microsoft.network" || lower[6] != "dnszones" {
		return notFound
	}
	group := parts[3]
	if !s.groupExists(group) {
		return armError(http.StatusNotFound, "ResourceGroupNotFound", fmt.Sprintf("Resource group '%s' could not be found.", group))
	}
	if len(parts) == 7 && get {
		return s.listZones(r, group)
	}
	if len(parts) < 8 {
		return notFound
	}
	zoneName := lower[7]
	if len(parts) == 8 {
		if !get {
			return badRequest("fakeazuredns: only GET of a zone is implemented")
		}
		return s.getZone(group, zoneName)
	}
	typ := strings.ToUpper(parts[8])
	if len(parts) == 9 && get {
		switch lower[8] {
		case "recordsets", "all":
			return s.listSets(r, group, zoneName, "")
		}
		if _, ok := recordKeys[typ]; ok {
			return s.listSets(r, group, zoneName, typ)
		}
	}
	if len(parts) != 10 {
		return notFound
	}
	if _, ok := recordKeys[typ]; !ok {
		return badRequest(fmt.Sprintf("The record type '%s' is not supported.", parts[8]))
	}
	name := lower[9]
	switch r.Method {
	case http.MethodGet:
		return s.getSet(group, zoneName, typ, name)
	case http.MethodPut:
		return s.putSet(r, group, zoneName, typ, name, body)
	case http.MethodPatch:
		return s.patchSet(r, group, zoneName, typ, name, body)
	case http.MethodDelete:
		return s.deleteSet(r, group, zoneName, typ, name)
	}
	return armError(http.StatusMethodNotAllowed, "MethodNotAllowed", "The method "+r.Method+" is not allowed on a record set.")
}

func (s *Server) groupExists(group string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.zones, func(z *zone) bool { return strings.EqualFold(z.group, group) })
}

func zoneNotFound(group, name string) reply {
	return armError(http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The Resource 'Microsoft.Network/dnszones/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", name, group))
}

func (s *Server) zoneJSON(z *zone) map[string]any {
	var ns []string
	for _, set := range z.sets {
		if set.Name == "@" && set.Type == "NS" {
			var recs []struct {
				Nsdname string `json:"nsdname"`
			}
			_ = json.Unmarshal(set.records, &recs)
			for _, r := range recs {
				ns = append(ns, r.Nsdname)
			}
		}
	}
	return map[string]any{
		"id":       fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/dnszones/%s", s.cfg.subscription, z.group, z.name),
		"name":     z.name,
		"type":     "Microsoft.Network/dnszones",
		"etag":     z.etag,
		"location": "global",
		"tags":     map[string]string{},
		"properties": map[string]any{
			"maxNumberOfRecordSets": 10000, "maxNumberOfRecordsPerRecordSet": maxRecordsPerSet,
			"numberOfRecordSets": len(z.sets), "nameServers": ns, "zoneType": "Public",
		},
	}
}

// pageOf selects the page $top and $skiptoken name among n items and builds the nextLink of the next one.
func (s *Server) pageOf(r *http.Request, n int) (start, end int, next string, bad *reply) {
	q := r.URL.Query()
	size := s.cfg.pageSize
	if v := q.Get("$top"); v != "" {
		t, err := strconv.Atoi(v)
		if err != nil || t < 1 {
			rep := badRequest(fmt.Sprintf("The value '%s' of the $top parameter is invalid.", v))
			return 0, 0, "", &rep
		}
		size = min(t, s.cfg.pageSize)
	}
	if tok := q.Get("$skiptoken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		off, convErr := strconv.Atoi(string(raw))
		if err != nil || convErr != nil || off < 0 || off > n {
			rep := badRequest(fmt.Sprintf("The value '%s' of the $skiptoken parameter is invalid.", tok))
			return 0, 0, "", &rep
		}
		start = off
	}
	end = min(start+size, n)
	if end < n {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))))
		next = (&url.URL{Scheme: "https", Host: ARMHost, Path: r.URL.Path, RawQuery: nq.Encode()}).String()
	}
	return start, end, next, nil
}

func (s *Server) listZones(r *http.Request, group string) reply {
	s.mu.Lock()
	var zones []map[string]any
	for _, z := range s.zones {
		if group == "" || strings.EqualFold(z.group, group) {
			zones = append(zones, s.zoneJSON(z))
		}
	}
	s.mu.Unlock()
	start, end, next, bad := s.pageOf(r, len(zones))
	if bad != nil {
		return *bad
	}
	page := map[string]any{"value": append([]map[string]any{}, zones[start:end]...)}
	if next != "" {
		page["nextLink"] = next
	}
	return reply{status: http.StatusOK, body: page}
}

func (s *Server) getZone(group, name string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneLocked(group, name)
	if z == nil {
		return zoneNotFound(group, name)
	}
	return reply{status: http.StatusOK, body: s.zoneJSON(z), etag: z.etag}
}

func (s *Server) setJSON(z *zone, set RecordSet) map[string]any {
	md := set.Metadata
	if md == nil {
		md = map[string]string{}
	}
	props := map[string]any{
		"metadata": md, "TTL": set.TTL, "fqdn": absName(set.Name, z.name), "provisioningState": "Succeeded",
		"targetResource": map[string]any{},
	}
	if set.Type == "TXT" {
		recs := []map[string][]string{}
		for _, v := range set.TXT {
			recs = append(recs, map[string][]string{"value": v})
		}
		props["TXTRecords"] = recs
	} else if len(set.records) > 0 {
		props[recordKeys[set.Type]] = set.records
	}
	return map[string]any{"id": set.ID, "name": set.Name, "type": "Microsoft.Network/dnszones/" + set.Type, "etag": set.ETag, "properties": props}
}

func (s *Server) listSets(r *http.Request, group, zoneName, typ string) reply {
	suffix := strings.ToLower(r.URL.Query().Get("$recordsetnamesuffix"))
	s.mu.Lock()
	z := s.zoneLocked(group, zoneName)
	if z == nil {
		s.mu.Unlock()
		return zoneNotFound(group, zoneName)
	}
	var sets []map[string]any
	for _, set := range z.sets {
		if (typ == "" || set.Type == typ) && (suffix == "" || set.Name == suffix || strings.HasSuffix(set.Name, "."+suffix)) {
			sets = append(sets, s.setJSON(z, set))
		}
	}
	s.mu.Unlock()
	start, end, next, bad := s.pageOf(r, len(sets))
	if bad != nil {
		return *bad
	}
	page := map[string]any{"value": append([]map[string]any{}, sets[start:end]...)}
	if next != "" {
		page["nextLink"] = next
	}
	return reply{status: http.StatusOK, body: page}
}

func recordNotFound(name, group, sub string) reply {
	return armError(http.StatusNotFound, "NotFound", fmt.Sprintf("The resource record '%s' does not exist in resource group '%s' of subscription '%s'.", name, group, sub))
}

func (s *Server) getSet(group, zoneName, typ, name string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneLocked(group, zoneName)
	if z == nil {
		return zoneNotFound(group, zoneName)
	}
	i := findSet(z.sets, typ, name)
	if i < 0 {
		return recordNotFound(name, group, s.cfg.subscription)
	}
	return reply{status: http.StatusOK, body: s.setJSON(z, z.sets[i]), etag: z.sets[i].ETag}
}

func findSet(sets []RecordSet, typ, name string) int {
	return slices.IndexFunc(sets, func(o RecordSet) bool { return o.Type == typ && o.Name == name })
}

// etagValue strips the quotes and weak prefix an ETag header may carry.
func etagValue(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "W/")
	return strings.Trim(v, `"`)
}

// preconditions applies If-Match and If-None-Match to the current set (nil when there is none), as ARM
// documents them.
func preconditions(r *http.Request, cur *RecordSet, allowNoneMatch bool) *reply {
	if v := r.Header.Get("If-None-Match"); v != "" {
		if !allowNoneMatch {
			rep := badRequest("The If-None-Match header is not supported for this operation.")
			return &rep
		}
		if cur != nil && (etagValue(v) == "*" || etagValue(v) == cur.ETag) {
			rep := preconditionFailed(fmt.Sprintf("The condition '%s' in the If-None-Match header was not satisfied. The record set %s of type %s exists already.", v, cur.Name, cur.Type))
			return &rep
		}
	}
	if v := r.Header.Get("If-Match"); v != "" {
		switch {
		case cur == nil:
			rep := preconditionFailed(fmt.Sprintf("The condition '%s' in the If-Match header was not satisfied. The record set does not exist.", v))
			return &rep
		case etagValue(v) != "*" && etagValue(v) != cur.ETag:
			rep := preconditionFailed(fmt.Sprintf("The condition '%s' in the If-Match header was not satisfied. The current ETag of record set %s is '%s'.", v, cur.Name, cur.ETag))
			return &rep
		}
	}
	return nil
}

// setInput is a PUT or PATCH body; properties are kept raw so that absent fields can be told from empty ones,
// and found without regard to case, as ARM reads them.
type setInput struct {
	Properties map[string]json.RawMessage `json:"properties"`
}

func field(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// apply copies the fields of in onto set; with whole (PUT) the set is replaced, so absent records mean none.
func apply(set *RecordSet, in setInput, whole bool) *reply {
	if in.Properties == nil {
		rep := badRequest("The request body must contain the 'properties' of the record set.")
		return &rep
	}
	if raw, ok := field(in.Properties, "TTL"); ok {
		if err := json.Unmarshal(raw, &set.TTL); err != nil || set.TTL < 0 || set.TTL > 2147483647 {
			rep := badRequest(fmt.Sprintf("The value '%s' of the TTL property is invalid.", raw))
			return &rep
		}
	} else if whole {
		rep := badRequest("The TTL property of the record set is required.")
		return &rep
	}
	if raw, ok := field(in.Properties, "metadata"); ok {
		var md map[string]*string
		if err := json.Unmarshal(raw, &md); err != nil {
			rep := badRequest("The metadata property is invalid: " + err.Error())
			return &rep
		}
		set.Metadata = map[string]string{}
		for k, v := range md {
			if v != nil {
				set.Metadata[k] = *v
			}
		}
	} else if whole {
		set.Metadata = nil
	}
	raw, ok := field(in.Properties, recordKeys[set.Type])
	switch {
	case !ok && whole:
		set.TXT, set.records = nil, nil
	case !ok:
	case set.Type == "TXT":
		var recs []struct {
			Value []string `json:"value"`
		}
		if err := json.Unmarshal(raw, &recs); err != nil {
			rep := badRequest("The TXTRecords property is invalid: " + err.Error())
			return &rep
		}
		set.TXT = nil
		seen := map[string]bool{}
		for _, r := range recs {
			text := strings.Join(r.Value, "")
			if len(r.Value) == 0 || text == "" {
				rep := badRequest("A TXT record must have a non-empty value.")
				return &rep
			}
			for _, v := range r.Value {
				if len(v) > 1024 {
					rep := badRequest("The value of a TXT record may not be longer than 1024 characters.")
					return &rep
				}
			}
			if seen[text] {
				// Azure's answer, as reported by az CLI users.
				rep := badRequest("The list of record sets of type 'TXT' may not contain multiple entries with the same 'value'.")
				return &rep
			}
			seen[text] = true
			set.TXT = append(set.TXT, slices.Clone(r.Value))
		}
		if len(set.TXT) > maxRecordsPerSet {
			rep := badRequest(fmt.Sprintf("The number of records in the record set exceeds the limit of %d.", maxRecordsPerSet))
			return &rep
		}
	default:
		set.records = slices.Clone(raw)
	}
	return nil
}

func (s *Server) putSet(r *http.Request, group, zoneName, typ, name string, body []byte) reply {
	var in setInput
	if err := json.Unmarshal(body, &in); err != nil {
		return armError(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "+err.Error())
	}
	return s.change(r.Context(), group, zoneName, func(z *zone, sets *[]RecordSet) reply {
		i := findSet(*sets, typ, name)
		var cur *RecordSet
		if i >= 0 {
			cur = &(*sets)[i]
		}
		if rep := preconditions(r, cur, true); rep != nil {
			return *rep
		}
		set := RecordSet{ID: s.recordSetID(z, typ, name), Name: name, Type: typ}
		if rep := apply(&set, in, true); rep != nil {
			return *rep
		}
		if rep := checkCNAME(*sets, set); rep != nil {
			return *rep
		}
		set.ETag = newETag()
		status := http.StatusCreated
		if i >= 0 {
			(*sets)[i] = set
			status = http.StatusOK
		} else {
			*sets = append(*sets, set)
		}
		return reply{status: status, body: s.setJSON(z, set), etag: set.ETag}
	})
}

func (s *Server) patchSet(r *http.Request, group, zoneName, typ, name string, body []byte) reply {
	var in setInput
	if err := json.Unmarshal(body, &in); err != nil {
		return armError(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "+err.Error())
	}
	return s.change(r.Context(), group, zoneName, func(z *zone, sets *[]RecordSet) reply {
		i := findSet(*sets, typ, name)
		if i < 0 {
			if r.Header.Get("If-Match") != "" {
				return *preconditions(r, nil, false)
			}
			return recordNotFound(name, group, s.cfg.subscription)
		}
		if rep := preconditions(r, &(*sets)[i], false); rep != nil {
			return *rep
		}
		set := (*sets)[i].clone()
		if rep := apply(&set, in, false); rep != nil {
			return *rep
		}
		set.ETag = newETag()
		(*sets)[i] = set
		return reply{status: http.StatusOK, body: s.setJSON(z, set), etag: set.ETag}
	})
}

func (s *Server) deleteSet(r *http.Request, group, zoneName, typ, name string) reply {
	return s.change(r.Context(), group, zoneName, func(z *zone, sets *[]RecordSet) reply {
		i := findSet(*sets, typ, name)
		var cur *RecordSet
		if i >= 0 {
			cur = &(*sets)[i]
		}
		if rep := preconditions(r, cur, false); rep != nil {
			return *rep
		}
		if i < 0 {
			return reply{status: http.StatusNoContent}
		}
		if name == "@" && (typ == "SOA" || typ == "NS") {
			return badRequest(fmt.Sprintf("The %s record set at the zone apex cannot be deleted.", typ))
		}
		*sets = slices.Delete(*sets, i, i+1)
		return reply{status: http.StatusOK}
	})
}

// checkCNAME refuses a CNAME beside other record sets at one name, and the other way round, as DNS requires.
func checkCNAME(sets []RecordSet, set RecordSet) *reply {
	for _, o := range sets {
		if o.Name == set.Name && o.Type != set.Type && (o.Type == "CNAME" || set.Type == "CNAME") {
			rep := armError(http.StatusConflict, "Conflict", fmt.Sprintf("The record set %s of type %s conflicts with the existing record set of type %s: a CNAME record set cannot coexist with other record sets of the same name.", set.Name, set.Type, o.Type))
			return &rep
		}
	}
	return nil
}

// change runs fn on a copy of the zone's record sets and, when its answer is a success, mirrors the TXT
// difference and stores the result.
func (s *Server) change(ctx context.Context, group, zoneName string, fn func(z *zone, sets *[]RecordSet) reply) reply {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	z := s.zoneLocked(group, zoneName)
	if z == nil {
		s.mu.Unlock()
		return zoneNotFound(group, zoneName)
	}
	before := make([]RecordSet, len(z.sets))
	for i, set := range z.sets {
		before[i] = set.clone()
	}
	s.mu.Unlock()

	sets := make([]RecordSet, len(before))
	for i, set := range before {
		sets[i] = set.clone()
	}
	rep := fn(z, &sets)
	if rep.status/100 != 2 {
		return rep
	}
	slices.SortFunc(sets, compareSets)
	if err := s.mirrorTXT(ctx, z.name, before, sets); err != nil {
		return armError(http.StatusInternalServerError, "InternalServerError", "fakeazuredns: mirror: "+err.Error())
	}
	s.mu.Lock()
	z.sets = sets
	s.mu.Unlock()
	return rep
}

// mirrorTXT sends the difference between the TXT sets of before and after to the mirror, one name at a time;
// when a name fails, the names already mirrored are put back.
func (s *Server) mirrorTXT(ctx context.Context, zoneName string, before, after []RecordSet) error {
	m := s.cfg.mirror
	if m == nil {
		return nil
	}
	txt := func(sets []RecordSet) map[string]RecordSet {
		out := map[string]RecordSet{}
		for _, set := range sets {
			if set.Type == "TXT" {
				out[set.Name] = set
			}
		}
		return out
	}
	old, cur := txt(before), txt(after)
	var names []string
	for n := range old {
		names = append(names, n)
	}
	for n := range cur {
		if _, ok := old[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var done []string
	for _, n := range names {
		if err := fakeapi.SyncTXT(ctx, m, absName(n, zoneName), old[n].Texts(), cur[n].Texts(), int(cur[n].TTL)); err != nil {
			errs := []error{err}
			for _, d := range done {
				errs = append(errs, fakeapi.SyncTXT(ctx, m, absName(d, zoneName), cur[d].Texts(), old[d].Texts(), int(old[d].TTL)))
			}
			return errors.Join(errs...)
		}
		done = append(done, n)
	}
	return nil
}
