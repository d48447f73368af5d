package fakegoogledns

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
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

// Bodies, in the JSON the v1 API speaks (field names as google.golang.org/api/dns/v1 decodes them).

type jsonZone struct {
	Kind         string   `json:"kind"`
	Name         string   `json:"name"`
	DNSName      string   `json:"dnsName"`
	Description  string   `json:"description"`
	ID           string   `json:"id"` // a uint64 in a string, as the API sends it
	NameServers  []string `json:"nameServers"`
	CreationTime string   `json:"creationTime"`
	Visibility   string   `json:"visibility"`
}

type jsonRRSet struct {
	Kind             string   `json:"kind"`
	Name             string   `json:"name"`
	Type             string   `json:"type"`
	TTL              int64    `json:"ttl"`
	Rrdatas          []string `json:"rrdatas"`
	SignatureRrdatas []string `json:"signatureRrdatas"`
}

// rrsetInput is a create or patch body. Pointers tell an absent field (patch keeps the stored value) from a zero
// one.
type rrsetInput struct {
	Name    *string   `json:"name"`
	Type    *string   `json:"type"`
	TTL     *int64    `json:"ttl"`
	Rrdatas *[]string `json:"rrdatas"`
}

// ErrorBody is Google's JSON error: {"error": {...}}.
type ErrorBody struct {
	// Error is the one error.
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the content of an ErrorBody.
type ErrorDetail struct {
	// Code is the HTTP status.
	Code int `json:"code"`
	// Message is the human-readable text.
	Message string `json:"message"`
	// Errors holds one item whose Reason is the machine-readable cause, e.g. "notFound".
	Errors []ErrorItem `json:"errors"`
	// Status is the gRPC-style status some errors carry, e.g. "UNAUTHENTICATED".
	Status string `json:"status,omitempty"`
}

// ErrorItem is one entry of ErrorDetail.Errors.
type ErrorItem struct {
	// Message repeats ErrorDetail.Message.
	Message string `json:"message"`
	// Domain is "global" or "usageLimits".
	Domain string `json:"domain"`
	// Reason is e.g. "notFound", "alreadyExists", "rateLimitExceeded".
	Reason string `json:"reason"`
	// Location names the offending header or parameter, when there is one.
	Location string `json:"location,omitempty"`
	// LocationType is "header" or "parameter".
	LocationType string `json:"locationType,omitempty"`
}

// reply is a computed answer.
type reply struct {
	status int
	body   any
}

func ok(body any) reply { return reply{status: http.StatusOK, body: body} }

func apiError(status int, reason, msg string) reply {
	domain := "global"
	if reason == "rateLimitExceeded" {
		domain = "usageLimits"
	}
	return reply{status: status, body: ErrorBody{Error: ErrorDetail{Code: status, Message: msg, Errors: []ErrorItem{{Message: msg, Domain: domain, Reason: reason}}}}}
}

func invalid(msg string) reply { return apiError(http.StatusBadRequest, "invalid", msg) }

func (rep reply) write(w http.ResponseWriter) {
	fakeapi.WriteJSON(w, "fakegoogledns", rep.status, "application/json; charset=UTF-8", rep.body)
}

// oauthError is the token endpoint's error body (RFC 6749 section 5.2).
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// refuse answers fakeapi's faults in Google's shapes: a 429 as Cloud DNS's per-project write quota does, 5xx as
// its backend errors; the token endpoint in OAuth's shape.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ref fakeapi.Refusal) {
	if r.URL.Path == "/token" {
		code := "temporarily_unavailable"
		if ref.Status == http.StatusTooManyRequests {
			code = "rate_limit_exceeded"
		}
		oauthError(w, ref.Status, code, http.StatusText(ref.Status))
		return
	}
	var rep reply
	switch ref.Status {
	case http.StatusTooManyRequests:
		rep = withStatus(apiError(ref.Status, "rateLimitExceeded", "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute' of service 'dns.googleapis.com' for consumer 'project_number:"+s.cfg.project+"'."), "RESOURCE_EXHAUSTED")
	case http.StatusServiceUnavailable:
		rep = withStatus(apiError(ref.Status, "backendError", "The service is currently unavailable."), "UNAVAILABLE")
	default:
		rep = withStatus(apiError(ref.Status, "backendError", "Internal error encountered."), "INTERNAL")
	}
	rep.write(w)
}

// withStatus adds the gRPC-style status that some of Google's errors carry.
func withStatus(rep reply, status string) reply {
	b := rep.body.(ErrorBody)
	b.Error.Status = status
	rep.body = b
	return rep
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/token":
		s.serveToken(w, r)
	case strings.HasPrefix(r.URL.Path, APIPrefix):
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			invalid("could not read the request body").write(w)
			return
		}
		s.route(r, body).write(w)
	default:
		apiError(http.StatusNotFound, "notFound", "The requested URL "+r.URL.Path+" was not found on this server.").write(w)
	}
}

// serveToken implements the JWT bearer grant a service account key uses.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "Only POST is allowed")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Could not parse the request body")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	tok, status, code, desc := s.grant(r.PostForm.Get("assertion"))
	if code != "" {
		oauthError(w, status, code, desc)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok,
		"expires_in":   int64(s.cfg.tokenLife / time.Second),
		"token_type":   "Bearer",
	})
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Exp   int64  `json:"exp"`
	Iat   int64  `json:"iat"`
	Sub   string `json:"sub"`
}

// grant checks a JWT assertion as Google does and issues an access token; on failure it returns the status,
// OAuth error code and description.
func (s *Server) grant(assertion string) (tok string, status int, code, desc string) {
	const badSig = "Invalid JWT Signature."
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "", http.StatusBadRequest, "invalid_request", "Invalid JWT: the assertion is not a JWT"
	}
	var h jwtHeader
	var c jwtClaims
	if err := decodeSegment(parts[0], &h); err != nil {
		return "", http.StatusBadRequest, "invalid_request", "Invalid JWT header: " + err.Error()
	}
	if err := decodeSegment(parts[1], &c); err != nil {
		return "", http.StatusBadRequest, "invalid_request", "Invalid JWT payload: " + err.Error()
	}
	s.mu.Lock()
	a := s.accounts[c.Iss]
	s.mu.Unlock()
	if a == nil {
		// Echoed: a client may show this error, and the webhook must redact what it does not own.
		return "", http.StatusBadRequest, "invalid_grant", fmt.Sprintf("Invalid grant: account not found (iss %q)", c.Iss)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || h.Alg != "RS256" || (h.Kid != "" && h.Kid != a.keyID) {
		return "", http.StatusBadRequest, "invalid_grant", badSig
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&a.key.PublicKey, crypto.SHA256, digest[:], sig) != nil {
		return "", http.StatusBadRequest, "invalid_grant", badSig
	}
	if c.Aud != TokenURL {
		return "", http.StatusBadRequest, "invalid_grant", "Invalid JWT: Failed audience check. The right audience is " + TokenURL
	}
	now := s.now().Unix()
	if c.Iat > now+300 || c.Exp <= now || c.Exp-c.Iat > 3600 {
		return "", http.StatusBadRequest, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	}
	if strings.TrimSpace(c.Scope) == "" {
		return "", http.StatusBadRequest, "invalid_scope", "Invalid OAuth scope or ID token audience provided."
	}
	tok = "ya29.c." + randomHex(48)
	s.mu.Lock()
	s.tokens[tok] = token{email: a.email, scopes: strings.Fields(c.Scope), expires: s.now().Add(s.cfg.tokenLife)}
	s.mu.Unlock()
	return tok, 0, "", ""
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// authorize checks the bearer token, its scopes and the project.
func (s *Server) authorize(r *http.Request, project string, write bool) *reply {
	const expected = " Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	authz := r.Header.Get("Authorization")
	if authz == "" {
		rep := withStatus(apiError(http.StatusUnauthorized, "required", "Request is missing required authentication credential."+expected), "UNAUTHENTICATED")
		return &rep
	}
	bearer, found := strings.CutPrefix(authz, "Bearer ")
	s.mu.Lock()
	t, known := s.tokens[bearer]
	s.mu.Unlock()
	if !found || !known || !s.now().Before(t.expires) {
		// The unknown token is echoed, so that the webhook's redaction of its own errors is tested.
		rep := withStatus(apiError(http.StatusUnauthorized, "authError", fmt.Sprintf("Request had invalid authentication credentials (%q).%s", authz, expected)), "UNAUTHENTICATED")
		return &rep
	}
	allowed := []string{scopeReadWrite, scopeCloud}
	if !write {
		allowed = append(allowed, scopeReadOnly, scopeCloudReadOnly)
	}
	if !slices.ContainsFunc(t.scopes, func(sc string) bool { return slices.Contains(allowed, sc) }) {
		rep := withStatus(apiError(http.StatusForbidden, "insufficientPermissions", "Request had insufficient authentication scopes."), "PERMISSION_DENIED")
		return &rep
	}
	if project != s.cfg.project {
		rep := apiError(http.StatusForbidden, "forbidden", fmt.Sprintf("The caller does not have permission on project '%s'.", project))
		return &rep
	}
	return nil
}

func (s *Server) route(r *http.Request, body []byte) reply {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, APIPrefix), "/")
	q := r.URL.Query()
	if len(parts) < 2 || parts[1] != "managedZones" {
		return apiError(http.StatusNotFound, "notFound", "The requested URL "+r.URL.Path+" was not found on this server.")
	}
	project := parts[0]
	write := r.Method != http.MethodGet
	if rep := s.authorize(r, project, write); rep != nil {
		return *rep
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		return s.listZones(q)
	case len(parts) == 3 && r.Method == http.MethodGet:
		return s.getZone(parts[2])
	case len(parts) == 4 && parts[3] == "rrsets" && r.Method == http.MethodGet:
		return s.listRRSets(parts[2], q)
	case len(parts) == 4 && parts[3] == "rrsets" && r.Method == http.MethodPost:
		return s.createRRSet(r.Context(), parts[2], body)
	case len(parts) == 6 && parts[3] == "rrsets":
		switch r.Method {
		case http.MethodGet:
			return s.getRRSet(parts[2], parts[4], parts[5])
		case http.MethodPatch:
			return s.patchRRSet(r.Context(), parts[2], parts[4], parts[5], body)
		case http.MethodDelete:
			return s.deleteRRSet(r.Context(), parts[2], parts[4], parts[5])
		}
	}
	return apiError(http.StatusNotFound, "notFound", "The requested URL "+r.URL.Path+" was not found on this server.")
}

func zoneNotFound(name string) reply {
	return apiError(http.StatusNotFound, "notFound", fmt.Sprintf("The 'parameters.managedZone' resource named '%s' does not exist.", name))
}

func rrsetNotFound(name string) reply {
	// What Cloud DNS answers for a missing rrset (recorded in libdns/googleclouddns's replay files).
	return apiError(http.StatusNotFound, "notFound", fmt.Sprintf("The 'parameters.name' resource named '%s' does not exist.", name))
}

func toJSONZone(z *zone) jsonZone {
	var ns []string
	for _, set := range z.sets {
		if set.Name == z.DNSName && set.Type == "NS" {
			ns = slices.Clone(set.Rrdatas)
		}
	}
	return jsonZone{Kind: "dns#managedZone", Name: z.Name, DNSName: z.DNSName, ID: strconv.FormatUint(z.ID, 10),
		NameServers: ns, CreationTime: z.created.Format("2006-01-02T15:04:05.000Z"), Visibility: z.Visibility}
}

func toJSONRRSet(set RRSet) jsonRRSet {
	return jsonRRSet{Kind: "dns#resourceRecordSet", Name: set.Name, Type: set.Type, TTL: set.TTL, Rrdatas: slices.Clone(set.Rrdatas), SignatureRrdatas: []string{}}
}

// page returns the window [start, end) of n items that pageToken and maxResults select, and the token of the next
// page ("" on the last). Tokens are opaque to clients; here they carry the offset.
func page(q url.Values, n, largest int) (start, end int, next string, bad *reply) {
	size := largest
	if v := q.Get("maxResults"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 {
			rep := invalid(fmt.Sprintf("Invalid value for 'parameters.maxResults': '%s'", v))
			return 0, 0, "", &rep
		}
		size = min(m, largest)
	}
	if t := q.Get("pageToken"); t != "" {
		raw, err := base64.RawURLEncoding.DecodeString(t)
		off, convErr := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || convErr != nil || !strings.HasPrefix(string(raw), "offset:") || off < 0 || off > n {
			rep := invalid(fmt.Sprintf("Invalid value for 'parameters.pageToken': '%s'", t))
			return 0, 0, "", &rep
		}
		start = off
	}
	end = min(start+size, n)
	if end < n {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}
	return start, end, next, nil
}

func (s *Server) listZones(q url.Values) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	var zones []*zone
	dn := q.Get("dnsName")
	for _, z := range s.zones {
		if dn == "" || z.DNSName == canonicalName(dn) {
			zones = append(zones, z)
		}
	}
	start, end, next, bad := page(q, len(zones), s.cfg.zonePage)
	if bad != nil {
		return *bad
	}
	out := []jsonZone{}
	for _, z := range zones[start:end] {
		out = append(out, toJSONZone(z))
	}
	return ok(map[string]any{"kind": "dns#managedZonesListResponse", "managedZones": out, "nextPageToken": next})
}

func (s *Server) getZone(name string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByNameLocked(name)
	if z == nil {
		return zoneNotFound(name)
	}
	return ok(toJSONZone(z))
}

func (s *Server) listRRSets(zoneName string, q url.Values) reply {
	name, typ := q.Get("name"), q.Get("type")
	if typ != "" && name == "" {
		return invalid("The 'parameters.type' parameter requires the 'parameters.name' parameter.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByNameLocked(zoneName)
	if z == nil {
		return zoneNotFound(zoneName)
	}
	var sets []RRSet
	for _, set := range z.sets {
		if (name == "" || set.Name == canonicalName(name)) && (typ == "" || set.Type == typ) {
			sets = append(sets, set)
		}
	}
	start, end, next, bad := page(q, len(sets), s.cfg.rrsetPage)
	if bad != nil {
		return *bad
	}
	out := []jsonRRSet{}
	for _, set := range sets[start:end] {
		out = append(out, toJSONRRSet(set))
	}
	return ok(map[string]any{"kind": "dns#resourceRecordSetsListResponse", "rrsets": out, "nextPageToken": next})
}

func (s *Server) getRRSet(zoneName, name, typ string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByNameLocked(zoneName)
	if z == nil {
		return zoneNotFound(zoneName)
	}
	i := findSet(z.sets, canonicalName(name), typ)
	if i < 0 {
		return rrsetNotFound(name)
	}
	return ok(toJSONRRSet(z.sets[i]))
}

func findSet(sets []RRSet, name, typ string) int {
	return slices.IndexFunc(sets, func(o RRSet) bool { return o.Name == name && o.Type == typ })
}

var knownTypes = []string{"A", "AAAA", "CAA", "CNAME", "DNSKEY", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT"}

// checkSet validates a complete rrset against the zone and normalises its rrdatas as Cloud DNS stores them.
func checkSet(z *zone, set *RRSet, field string) *reply {
	if set.Name != z.DNSName && !strings.HasSuffix(set.Name, "."+z.DNSName) {
		rep := invalid(fmt.Sprintf("The resource record set '%s' is invalid: the name '%s' is not within the zone '%s'.", field, set.Name, z.DNSName))
		return &rep
	}
	if !slices.Contains(knownTypes, set.Type) {
		rep := invalid(fmt.Sprintf("Invalid value for '%s.type': '%s'", field, set.Type))
		return &rep
	}
	if set.TTL < 0 || set.TTL > 2147483647 {
		rep := invalid(fmt.Sprintf("Invalid value for '%s.ttl': '%d'", field, set.TTL))
		return &rep
	}
	if len(set.Rrdatas) == 0 {
		rep := invalid(fmt.Sprintf("The resource record set '%s' is invalid because it has no rrdatas.", field))
		return &rep
	}
	seen := map[string]bool{}
	for i, v := range set.Rrdatas {
		if set.Type == "TXT" || set.Type == "SPF" {
			norm, err := normalizeTXT(v)
			if err != nil {
				rep := invalid(fmt.Sprintf("Invalid value for '%s.rrdata': '%s': %v", field, v, err))
				return &rep
			}
			set.Rrdatas[i] = norm
		} else if strings.TrimSpace(v) == "" {
			rep := invalid(fmt.Sprintf("Invalid value for '%s.rrdata': ''", field))
			return &rep
		}
		key := set.Rrdatas[i]
		if set.Type == "TXT" || set.Type == "SPF" {
			key = txtText(key)
		}
		if seen[key] {
			rep := invalid(fmt.Sprintf("The resource record set '%s' is invalid because it contains the duplicate rrdata '%s'.", field, v))
			return &rep
		}
		seen[key] = true
	}
	return nil
}

func (s *Server) createRRSet(ctx context.Context, zoneName string, body []byte) reply {
	var in rrsetInput
	if err := json.Unmarshal(body, &in); err != nil {
		return invalid("Invalid JSON payload received. " + err.Error())
	}
	if in.Name == nil || in.Type == nil {
		return apiError(http.StatusBadRequest, "required", "Required field 'entity.rrset.name' and 'entity.rrset.type' not specified")
	}
	set := RRSet{Name: canonicalName(*in.Name), Type: strings.ToUpper(*in.Type)}
	if in.TTL != nil {
		set.TTL = *in.TTL
	}
	if in.Rrdatas != nil {
		set.Rrdatas = slices.Clone(*in.Rrdatas)
	}
	return s.change(ctx, zoneName, func(z *zone, sets *[]RRSet) *reply {
		if rep := checkSet(z, &set, "entity.rrset"); rep != nil {
			return rep
		}
		if findSet(*sets, set.Name, set.Type) >= 0 {
			rep := apiError(http.StatusConflict, "alreadyExists", fmt.Sprintf("The resource 'entity.rrset' named '%s (%s)' already exists", set.Name, set.Type))
			return &rep
		}
		if rep := checkCNAME(*sets, set, z.DNSName); rep != nil {
			return rep
		}
		*sets = append(*sets, set)
		rep := ok(toJSONRRSet(set))
		return &rep
	})
}

// patchRRSet applies a partial update: rrdatas and ttl replace the stored ones when the body has them.
func (s *Server) patchRRSet(ctx context.Context, zoneName, name, typ string, body []byte) reply {
	var in rrsetInput
	if err := json.Unmarshal(body, &in); err != nil {
		return invalid("Invalid JSON payload received. " + err.Error())
	}
	n := canonicalName(name)
	if (in.Name != nil && canonicalName(*in.Name) != n) || (in.Type != nil && !strings.EqualFold(*in.Type, typ)) {
		return invalid("The name and type of an rrset cannot be changed by a patch.")
	}
	return s.change(ctx, zoneName, func(z *zone, sets *[]RRSet) *reply {
		i := findSet(*sets, n, typ)
		if i < 0 {
			rep := rrsetNotFound(name)
			return &rep
		}
		set := (*sets)[i]
		set.Rrdatas = slices.Clone(set.Rrdatas)
		if in.TTL != nil {
			set.TTL = *in.TTL
		}
		if in.Rrdatas != nil {
			set.Rrdatas = slices.Clone(*in.Rrdatas)
		}
		if rep := checkSet(z, &set, "entity.rrset"); rep != nil {
			return rep
		}
		(*sets)[i] = set
		rep := ok(toJSONRRSet(set))
		return &rep
	})
}

func (s *Server) deleteRRSet(ctx context.Context, zoneName, name, typ string) reply {
	n := canonicalName(name)
	return s.change(ctx, zoneName, func(z *zone, sets *[]RRSet) *reply {
		i := findSet(*sets, n, typ)
		if i < 0 {
			rep := rrsetNotFound(name)
			return &rep
		}
		if n == z.DNSName && (typ == "NS" || typ == "SOA") {
			rep := apiError(http.StatusBadRequest, "invalid", fmt.Sprintf("The resource record set '%s (%s)' at the zone apex cannot be deleted.", n, typ))
			return &rep
		}
		*sets = slices.Delete(*sets, i, i+1)
		rep := ok(map[string]any{})
		return &rep
	})
}

// checkCNAME refuses a CNAME beside other data at one name, and other data beside a CNAME, as DNS requires.
func checkCNAME(sets []RRSet, set RRSet, zoneName string) *reply {
	for _, o := range sets {
		if o.Name == set.Name && o.Type != set.Type && (o.Type == "CNAME" || set.Type == "CNAME") {
			rep := apiError(http.StatusConflict, "cnameResourceRecordSetConflict", fmt.Sprintf("The resource record set 'entity.rrset' named '%s (%s)' conflicts with the existing '%s' rrset in zone '%s'.", set.Name, set.Type, o.Type, zoneName))
			return &rep
		}
	}
	return nil
}

// change runs apply on a copy of the zone's rrsets and, when it succeeds, mirrors the TXT difference and stores
// the result. apply returns the reply: a 2xx keeps the change.
func (s *Server) change(ctx context.Context, zoneName string, apply func(z *zone, sets *[]RRSet) *reply) reply {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	z := s.zoneByNameLocked(zoneName)
	if z == nil {
		s.mu.Unlock()
		return zoneNotFound(zoneName)
	}
	before := cloneSets(z.sets)
	s.mu.Unlock()

	sets := cloneSets(before)
	rep := apply(z, &sets)
	if rep.status/100 != 2 {
		return *rep
	}
	slices.SortFunc(sets, compareSets)
	if err := s.mirrorTXT(ctx, before, sets); err != nil {
		return apiError(http.StatusInternalServerError, "backendError", "fakegoogledns: mirror: "+err.Error())
	}
	s.mu.Lock()
	z.sets = sets
	s.mu.Unlock()
	return *rep
}

// mirrorTXT sends the difference between the TXT sets of before and after to the mirror, one name at a time;
// when a name fails, the names already mirrored are put back.
func (s *Server) mirrorTXT(ctx context.Context, before, after []RRSet) error {
	m := s.cfg.mirror
	if m == nil {
		return nil
	}
	txt := func(sets []RRSet) map[string]RRSet {
		out := map[string]RRSet{}
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
		if err := fakeapi.SyncTXT(ctx, m, n, txtTexts(old[n].Rrdatas), txtTexts(cur[n].Rrdatas), int(cur[n].TTL)); err != nil {
			errs := []error{err}
			for _, d := range done {
				errs = append(errs, fakeapi.SyncTXT(ctx, m, d, txtTexts(cur[d].Rrdatas), txtTexts(old[d].Rrdatas), int(old[d].TTL)))
			}
			return errors.Join(errs...)
		}
		done = append(done, n)
	}
	return nil
}

// normalizeTXT returns a TXT rrdata as Cloud DNS stores it: its character-strings each quoted, separated by a
// space. A bare word is quoted; bare words separated by spaces are separate strings, as in a zone file (which is
// why libdns/googleclouddns quotes values that contain spaces).
func normalizeTXT(v string) (string, error) {
	strs, err := splitTXT(v)
	if err != nil {
		return "", err
	}
	out := make([]string, len(strs))
	for i, s := range strs {
		if len(s) > 255 {
			return "", errors.New("a character-string is longer than 255 bytes")
		}
		out[i] = quote(s)
	}
	return strings.Join(out, " "), nil
}

// splitTXT parses an rrdata into its character-strings: quoted ones (with \" \\ and \DDD escapes) and bare words.
func splitTXT(v string) ([]string, error) {
	var out []string
	s := strings.TrimSpace(v)
	if s == "" {
		return nil, errors.New("empty")
	}
	for s != "" {
		var b strings.Builder
		if s[0] == '"' {
			i, closed := 1, false
			for i < len(s) && !closed {
				switch c := s[i]; {
				case c == '"':
					closed = true
					i++
				case c == '\\' && i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]):
					n, _ := strconv.Atoi(s[i+1 : i+4])
					if n > 255 {
						return nil, errors.New("bad escape")
					}
					b.WriteByte(byte(n))
					i += 4
				case c == '\\' && i+1 < len(s):
					b.WriteByte(s[i+1])
					i += 2
				default:
					b.WriteByte(c)
					i++
				}
			}
			if !closed {
				return nil, errors.New("unterminated quoted string")
			}
			s = s[i:]
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			b.WriteString(s[:end])
			s = s[end:]
		}
		out = append(out, b.String())
		s = strings.TrimLeft(s, " \t")
	}
	return out, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// txtText is the text an rrdata carries: its character-strings joined.
func txtText(v string) string {
	strs, err := splitTXT(v)
	if err != nil {
		return v
	}
	return strings.Join(strs, "")
}

func txtTexts(values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		out = append(out, txtText(v))
	}
	return out
}
