package fakecloudflare

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Response is Cloudflare's v4 response envelope, which every answer of the
// fake uses, errors included.
type Response struct {
	// Result is the payload: an object, an array, or null on error.
	Result json.RawMessage `json:"result"`
	// ResultInfo describes the page of a list answer.
	ResultInfo *ResultInfo `json:"result_info,omitempty"`
	// Success is false exactly when Errors is not empty.
	Success bool `json:"success"`
	// Errors lists what went wrong.
	Errors []Error `json:"errors"`
	// Messages is always empty here.
	Messages []Error `json:"messages"`
}

// ResultInfo is the pagination block of list answers.
type ResultInfo struct {
	// Page is the 1-based page number returned.
	Page int `json:"page"`
	// PerPage is the page size applied, after clamping.
	PerPage int `json:"per_page"`
	// Count is the number of results on this page.
	Count int `json:"count"`
	// TotalCount is the number of results on all pages.
	TotalCount int `json:"total_count"`
	// TotalPages is the number of pages, 0 when there are no results.
	TotalPages int `json:"total_pages"`
}

// Error is one entry of the errors array.
type Error struct {
	// Code is Cloudflare's numeric error code, e.g. 81058.
	Code int `json:"code"`
	// Message is Cloudflare's text for the code.
	Message string `json:"message"`
	// ErrorChain holds the detailed causes of a generic error such as
	// 1004 "DNS Validation Error".
	ErrorChain []Error `json:"error_chain,omitempty"`
}

// Zone is a zone as GET /zones returns it.
type Zone struct {
	// ID is a 32-hex-digit identifier.
	ID string `json:"id"`
	// Name is the zone apex without trailing dot.
	Name string `json:"name"`
	// Status is always "active".
	Status string `json:"status"`
	// Paused is always false.
	Paused bool `json:"paused"`
	// Type is always "full".
	Type string `json:"type"`
	// DevelopmentMode is always 0.
	DevelopmentMode int `json:"development_mode"`
	// NameServers are the Cloudflare name servers assigned to the zone.
	NameServers []string `json:"name_servers"`
	// OriginalNameServers is always empty.
	OriginalNameServers []string `json:"original_name_servers"`
	// Account owns the zone.
	Account struct {
		// ID is the same fixed account ID for every zone.
		ID string `json:"id"`
		// Name is "fakecloudflare".
		Name string `json:"name"`
	} `json:"account"`
	// CreatedOn is when the zone was added.
	CreatedOn time.Time `json:"created_on"`
	// ModifiedOn is when the zone was added.
	ModifiedOn time.Time `json:"modified_on"`
	// ActivatedOn is when the zone was added.
	ActivatedOn time.Time `json:"activated_on"`
}

// Record is a DNS record as the dns_records endpoints return it.
type Record struct {
	// ID is a 32-hex-digit identifier.
	ID string `json:"id"`
	// ZoneID is the ID of the zone holding the record.
	ZoneID string `json:"zone_id"`
	// ZoneName is the name of the zone holding the record.
	ZoneName string `json:"zone_name"`
	// Name is the absolute owner name, lower case, without trailing dot.
	Name string `json:"name"`
	// Type is the record type, upper case.
	Type string `json:"type"`
	// Content is the record data as sent; TXT content keeps its quotes.
	Content string `json:"content"`
	// Priority is the MX preference (and URI priority).
	Priority uint16 `json:"priority,omitempty"`
	// Proxiable tells whether the type can be proxied (A, AAAA, CNAME).
	Proxiable bool `json:"proxiable"`
	// Proxied is the orange-cloud flag.
	Proxied bool `json:"proxied"`
	// TTL is in seconds; 1 means automatic.
	TTL int `json:"ttl"`
	// Locked is always false.
	Locked bool `json:"locked"`
	// Comment is the record's comment, null when none.
	Comment *string `json:"comment"`
	// Tags are the record's tags.
	Tags []string `json:"tags"`
	// Data holds the structured fields of types such as SRV and CAA, as sent.
	Data json.RawMessage `json:"data,omitempty"`
	// CreatedOn is when the record was created.
	CreatedOn time.Time `json:"created_on"`
	// ModifiedOn is when the record was last changed.
	ModifiedOn time.Time `json:"modified_on"`
}

// Page sizes. Zones: default 20, clamped to 5..50 as documented. DNS
// records: default 100; the API schema allows up to 5,000,000. Cloudflare
// documents the limits but not what happens past them; the fake clamps, and
// reports the applied size in result_info.per_page, which is what
// paginating clients read.
const (
	zonesPerPageDefault   = 20
	zonesPerPageMin       = 5
	zonesPerPageMax       = 50
	recordsPerPageDefault = 100
	recordsPerPageMin     = 1
	recordsPerPageMax     = 5_000_000

	// autoTTL is what Cloudflare's "automatic" TTL (1) means for records
	// that are not proxied: 300 seconds.
	autoTTL = 300

	sameNameDocs = " For more details, refer to <https://developers.cloudflare.com/dns/manage-dns-records/troubleshooting/records-with-same-name/>."
)

type zone struct {
	info    Zone
	records map[string]*Record
}

func (z *zone) sorted() []Record {
	out := make([]Record, 0, len(z.records))
	for _, r := range z.records {
		out = append(out, *r)
	}
	// Cloudflare orders by type by default; name, content and ID make the
	// order total, so that pages do not overlap.
	slices.SortFunc(out, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Content, b.Content), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// absName turns a name as sent on create into the stored absolute name:
// "@" is the apex, and a name that does not end with the zone name gets it
// appended, as Cloudflare does.
func (z *zone) absName(name string) string {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	switch {
	case n == "@":
		return z.info.Name
	case n == z.info.Name || strings.HasSuffix(n, "."+z.info.Name):
		return n
	default:
		return n + "." + z.info.Name
	}
}

func normalizeZoneName(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails, see crypto/rand.Read
	return hex.EncodeToString(b)
}

func (s *Server) addZoneLocked(name string) string {
	n := normalizeZoneName(name)
	if z := s.zoneByNameLocked(n); z != nil {
		return z.info.ID
	}
	now := s.now()
	z := &zone{records: make(map[string]*Record)}
	z.info = Zone{
		ID:                  newID(),
		Name:                n,
		Status:              "active",
		Type:                "full",
		NameServers:         []string{"ada.ns.cloudflare.com", "bob.ns.cloudflare.com"},
		OriginalNameServers: []string{},
		CreatedOn:           now,
		ModifiedOn:          now,
		ActivatedOn:         now,
	}
	z.info.Account.ID = "0123456789abcdef0123456789abcdef"
	z.info.Account.Name = "fakecloudflare"
	s.zones[z.info.ID] = z
	return z.info.ID
}

func (s *Server) zoneByNameLocked(name string) *zone {
	n := normalizeZoneName(name)
	for _, z := range s.zones {
		if z.info.Name == n {
			return z
		}
	}
	return nil
}

// reply is a computed answer, written only after the request is logged.
type reply struct {
	status int
	header http.Header
	body   Response
}

func (rep reply) write(w http.ResponseWriter) {
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_ = json.NewEncoder(w).Encode(rep.body)
}

func apiError(code int, msg string) Error { return Error{Code: code, Message: msg} }

func failure(status int, errs ...Error) reply {
	return reply{status: status, body: Response{Success: false, Errors: errs, Messages: []Error{}}}
}

func success(result any, info *ResultInfo) reply {
	raw, err := json.Marshal(result)
	if err != nil {
		return failure(http.StatusInternalServerError, apiError(http.StatusInternalServerError, "fakecloudflare: encode result: "+err.Error()))
	}
	return reply{status: http.StatusOK, body: Response{Result: raw, ResultInfo: info, Success: true, Errors: []Error{}, Messages: []Error{}}}
}

// noRoute is Cloudflare's answer to a path it cannot route, which includes
// an unknown zone ID. Reports of it show HTTP 400, not 404.
func noRoute(path string) reply {
	return failure(http.StatusBadRequest,
		apiError(7003, "Could not route to "+path+", perhaps your object identifier is invalid?"),
		apiError(7000, "No route for that URI"))
}

func methodNotAllowed(method string) reply {
	return failure(http.StatusMethodNotAllowed, apiError(7001, "Method "+method+" not available for that URI."))
}

func validationError(code int, msg string) reply {
	e := apiError(1004, "DNS Validation Error")
	e.ErrorChain = []Error{apiError(code, msg)}
	return failure(http.StatusBadRequest, e)
}

func recordNotFound() reply {
	return failure(http.StatusNotFound, apiError(81044, "Record does not exist."))
}

func (s *Server) route(r *http.Request, sc scope) reply {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, BasePath+"/"), "/")
	if parts[0] != "zones" {
		return noRoute(r.URL.Path)
	}
	if len(parts) == 1 {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r.Method)
		}
		return s.listZones(r.URL.Query())
	}
	s.mu.Lock()
	z := s.zones[parts[1]]
	s.mu.Unlock()
	if len(parts) == 2 {
		if z == nil {
			return noRoute(r.URL.Path)
		}
		if r.Method != http.MethodGet {
			return methodNotAllowed(r.Method)
		}
		return success(z.info, nil)
	}
	if parts[2] != "dns_records" || len(parts) > 4 {
		return noRoute(r.URL.Path)
	}
	// A Zone:Read token is a valid token without the DNS permission, which
	// Cloudflare answers with 403 and code 10000.
	if sc != scopeEdit {
		return failure(http.StatusForbidden, apiError(10000, "Authentication error"))
	}
	if z == nil {
		return noRoute(r.URL.Path)
	}
	if len(parts) == 3 {
		switch r.Method {
		case http.MethodGet:
			return s.listRecords(z, r.URL.Query())
		case http.MethodPost:
			return s.createRecord(r, z)
		}
		return methodNotAllowed(r.Method)
	}
	id := parts[3]
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		if rec := z.records[id]; rec != nil {
			return success(*rec, nil)
		}
		return recordNotFound()
	case http.MethodDelete:
		return s.deleteRecord(r, z, id)
	case http.MethodPatch, http.MethodPut:
		return s.updateRecord(r, z, id)
	}
	return methodNotAllowed(r.Method)
}

func (s *Server) listZones(q url.Values) reply {
	name := normalizeZoneName(q.Get("name"))
	status := q.Get("status")
	s.mu.Lock()
	var zones []Zone
	for _, z := range s.zones {
		// The name filter is an exact match. libdns/cloudflare sends the
		// zone as its caller spelled it, often with a trailing dot, and
		// works against Cloudflare, so the dot is ignored.
		if (name == "" || z.info.Name == name) && (status == "" || status == z.info.Status) {
			zones = append(zones, z.info)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(zones, func(a, b Zone) int { return cmp.Compare(a.Name, b.Name) })
	page, info := paginate(zones, q, zonesPerPageDefault, zonesPerPageMin, zonesPerPageMax)
	return success(page, info)
}

// listRecords filters as documented: type; name and content (exact, the
// default) and their .exact, .contains, .startswith and .endswith forms;
// proxied; combined with match=all (default) or match=any. Cloudflare's
// schema says the comparisons are case-insensitive. order and direction are
// not supported.
func (s *Server) listRecords(z *zone, q url.Values) reply {
	var preds []func(Record) bool
	if t := q.Get("type"); t != "" {
		preds = append(preds, func(r Record) bool { return strings.EqualFold(r.Type, t) })
	}
	text := func(field func(Record) string, key string, norm func(string) string) {
		for suffix, op := range map[string]func(a, b string) bool{
			"": func(a, b string) bool { return a == b }, ".exact": func(a, b string) bool { return a == b },
			".contains": strings.Contains, ".startswith": strings.HasPrefix, ".endswith": strings.HasSuffix,
		} {
			if !q.Has(key + suffix) {
				continue
			}
			want := norm(q.Get(key + suffix))
			preds = append(preds, func(r Record) bool { return op(norm(field(r)), want) })
		}
	}
	// Names are stored lower case without trailing dot; a filter with a
	// trailing dot is tolerated for the same reason as on /zones.
	text(func(r Record) string { return r.Name }, "name", normalizeZoneName)
	text(func(r Record) string { return r.Content }, "content", strings.ToLower)
	if p := q.Get("proxied"); p != "" {
		want, _ := strconv.ParseBool(p)
		preds = append(preds, func(r Record) bool { return r.Proxied == want })
	}
	anyOf := q.Get("match") == "any"

	s.mu.Lock()
	all := z.sorted()
	s.mu.Unlock()
	matched := make([]Record, 0, len(all))
	for _, r := range all {
		if len(preds) == 0 || matchPreds(preds, r, anyOf) {
			matched = append(matched, r)
		}
	}
	page, info := paginate(matched, q, recordsPerPageDefault, recordsPerPageMin, recordsPerPageMax)
	return success(page, info)
}

func matchPreds(preds []func(Record) bool, r Record, anyOf bool) bool {
	for _, p := range preds {
		if p(r) == anyOf {
			return anyOf
		}
	}
	return !anyOf
}

// paginate cuts one page out of items. A missing or unparsable page or
// per_page takes its default; a page past the end is empty, with the totals
// still filled in.
func paginate[T any](items []T, q url.Values, def, lo, hi int) ([]T, *ResultInfo) {
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil {
		per = def
	}
	per = min(max(per, lo), hi)
	total := len(items)
	start := min((page-1)*per, total)
	end := min(start+per, total)
	out := items[start:end]
	if out == nil {
		out = []T{}
	}
	return out, &ResultInfo{Page: page, PerPage: per, Count: end - start, TotalCount: total, TotalPages: (total + per - 1) / per}
}

// recordInput is a create or update body. Pointers tell absent fields from
// zero values, which PATCH needs. Fields Cloudflare ignores or computes
// (id, zone_id, created_on, ...) are ignored, since clients such as
// libdns/cloudflare send them zero-valued.
type recordInput struct {
	Type     *string         `json:"type"`
	Name     *string         `json:"name"`
	Content  *string         `json:"content"`
	TTL      *int            `json:"ttl"`
	Proxied  *bool           `json:"proxied"`
	Priority *uint16         `json:"priority"`
	Comment  *string         `json:"comment"`
	Tags     *[]string       `json:"tags"`
	Data     json.RawMessage `json:"data"`
}

func decodeInput(r *http.Request) (recordInput, *reply) {
	var in recordInput
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		rep := failure(http.StatusBadRequest, apiError(9207, "Request body is invalid."))
		return in, &rep
	}
	return in, nil
}

// buildRecord applies in to base (a zero Record for create and PUT, the
// stored record for PATCH) and validates the result.
//
// Codes: 9021 (TTL) and 9004 (proxying a type that cannot be) are
// Cloudflare's; Cloudflare wraps DNS validation failures in 1004 "DNS
// Validation Error" with the detail in error_chain. The detail codes for a
// bad type (9020), bad name (9000) and bad content (9005) are a best guess:
// only 1004 is seen in the reports available.
func buildRecord(z *zone, base Record, in recordInput, replace bool) (Record, *reply) {
	rec := base
	if replace {
		rec = Record{ID: base.ID, CreatedOn: base.CreatedOn}
	}
	if in.Type != nil {
		rec.Type = strings.ToUpper(strings.TrimSpace(*in.Type))
	}
	if in.Name != nil && strings.TrimSpace(*in.Name) != "" {
		rec.Name = z.absName(*in.Name)
	} else if in.Name != nil || rec.Name == "" {
		rep := validationError(9000, "DNS name is invalid.")
		return rec, &rep
	}
	if in.Content != nil {
		rec.Content = *in.Content
	}
	if in.TTL != nil {
		rec.TTL = *in.TTL
	}
	if in.Proxied != nil {
		rec.Proxied = *in.Proxied
	}
	if in.Priority != nil {
		rec.Priority = *in.Priority
	}
	if in.Comment != nil {
		rec.Comment = in.Comment
	}
	if in.Tags != nil {
		rec.Tags = *in.Tags
	}
	if rec.Tags == nil {
		rec.Tags = []string{}
	}
	if len(in.Data) > 0 && string(in.Data) != "null" && structuredType(rec.Type) {
		rec.Data = append(json.RawMessage(nil), in.Data...)
	}
	rec.ZoneID, rec.ZoneName = z.info.ID, z.info.Name

	if !knownType(rec.Type) {
		rep := validationError(9020, "Invalid DNS record type")
		return rec, &rep
	}
	// Cloudflare's default TTL is 1, automatic. An explicit 0 is taken as
	// "not set" too (what Go encoders without omitempty send); Cloudflare
	// does not document it.
	if rec.TTL == 0 {
		rec.TTL = 1
	}
	if rec.TTL != 1 && (rec.TTL < 60 || rec.TTL > 86400) {
		rep := validationError(9021, "TTL must be between 60 and 86400 seconds, or 1 for Automatic.")
		return rec, &rep
	}
	rec.Proxiable = rec.Type == "A" || rec.Type == "AAAA" || rec.Type == "CNAME"
	if rec.Proxied && !rec.Proxiable {
		rep := validationError(9004, "This record type cannot be proxied.")
		return rec, &rep
	}
	if msg := contentProblem(rec); msg != "" {
		rep := validationError(9005, msg)
		return rec, &rep
	}
	return rec, nil
}

func knownType(t string) bool {
	switch t {
	case "A", "AAAA", "CNAME", "MX", "NS", "PTR", "TXT", "OPENPGPKEY":
		return true
	}
	return structuredType(t)
}

// structuredType reports the types whose data Cloudflare takes in the
// structured "data" object.
func structuredType(t string) bool {
	switch t {
	case "CAA", "CERT", "DNSKEY", "DS", "HTTPS", "LOC", "NAPTR", "SMIMEA", "SRV", "SSHFP", "SVCB", "TLSA", "URI":
		return true
	}
	return false
}

func contentProblem(rec Record) string {
	switch rec.Type {
	case "A":
		if ip, err := netip.ParseAddr(rec.Content); err != nil || !ip.Is4() {
			return "Content for A record must be a valid IPv4 address."
		}
	case "AAAA":
		if ip, err := netip.ParseAddr(rec.Content); err != nil || !ip.Is6() || ip.Is4In6() {
			return "Content for AAAA record must be a valid IPv6 address."
		}
	default:
		if strings.TrimSpace(rec.Content) == "" && len(rec.Data) == 0 {
			return "Content for " + rec.Type + " record is invalid."
		}
	}
	return ""
}

// identity is what makes two records "identical" for error 81058: type,
// name, priority and content, where TXT content is compared as the text it
// carries (quoted and unquoted forms are the same record) and host names
// ignore case and a trailing dot.
func identity(r Record) string {
	content := r.Content
	switch r.Type {
	case "TXT":
		content = TXTText(content)
	case "A", "AAAA":
		if ip, err := netip.ParseAddr(content); err == nil {
			content = ip.String()
		}
	case "CNAME", "MX", "NS", "PTR":
		content = strings.ToLower(strings.TrimSuffix(content, "."))
	}
	return fmt.Sprintf("%s\x00%s\x00%d\x00%s\x00%s", r.Type, r.Name, r.Priority, content, r.Data)
}

// conflict checks rec against the other records of z: an identical record
// is 81058; otherwise a CNAME cannot share its name with any record (81053
// when adding the CNAME, 81054 when adding next to it). Cloudflare documents
// the A/AAAA/CNAME cases; other types next to a CNAME are refused too, as
// RFC 1034 requires and as reported for TXT records.
func conflict(z *zone, rec Record) *reply {
	for _, o := range z.records {
		if o.ID != rec.ID && identity(*o) == identity(rec) {
			rep := failure(http.StatusBadRequest, apiError(81058, "An identical record already exists."))
			return &rep
		}
	}
	for _, o := range z.records {
		if o.ID == rec.ID || o.Name != rec.Name {
			continue
		}
		if rec.Type == "CNAME" {
			rep := failure(http.StatusBadRequest, apiError(81053, "An A, AAAA, or CNAME record with that host already exists."+sameNameDocs))
			return &rep
		}
		if o.Type == "CNAME" {
			rep := failure(http.StatusBadRequest, apiError(81054, "A CNAME record with that host already exists."+sameNameDocs))
			return &rep
		}
	}
	return nil
}

func mirrorTTL(ttl int) int {
	if ttl == 1 {
		return autoTTL
	}
	return ttl
}

func mirrorFailed(err error) reply {
	return failure(http.StatusInternalServerError, apiError(http.StatusInternalServerError, "fakecloudflare: mirror: "+err.Error()))
}

func (s *Server) createRecord(r *http.Request, z *zone) reply {
	in, bad := decodeInput(r)
	if bad != nil {
		return *bad
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	now := s.now()
	s.mu.Lock()
	rec, bad := buildRecord(z, Record{ID: newID(), CreatedOn: now}, in, true)
	if bad == nil {
		bad = conflict(z, rec)
	}
	s.mu.Unlock()
	if bad != nil {
		return *bad
	}
	rec.ModifiedOn = now

	if rec.Type == "TXT" && s.Mirror != nil {
		if err := s.Mirror.AppendTXT(r.Context(), rec.Name+".", TXTText(rec.Content), mirrorTTL(rec.TTL)); err != nil {
			return mirrorFailed(err)
		}
	}
	s.mu.Lock()
	stored := rec
	z.records[rec.ID] = &stored
	s.mu.Unlock()
	return success(rec, nil)
}

func (s *Server) deleteRecord(r *http.Request, z *zone, id string) reply {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	s.mu.Lock()
	old := z.records[id]
	s.mu.Unlock()
	if old == nil {
		return recordNotFound()
	}
	if old.Type == "TXT" && s.Mirror != nil {
		if err := s.Mirror.DeleteTXT(r.Context(), old.Name+".", TXTText(old.Content)); err != nil {
			return mirrorFailed(err)
		}
	}
	s.mu.Lock()
	delete(z.records, id)
	s.mu.Unlock()
	return success(map[string]string{"id": id}, nil)
}

// updateRecord implements PATCH (change the fields sent) and PUT (replace
// the record). A TXT change reaches the mirror as add-new then delete-old;
// if the delete fails, the add is undone so that DNS matches the store.
func (s *Server) updateRecord(r *http.Request, z *zone, id string) reply {
	in, bad := decodeInput(r)
	if bad != nil {
		return *bad
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	s.mu.Lock()
	oldPtr := z.records[id]
	if oldPtr == nil {
		s.mu.Unlock()
		return recordNotFound()
	}
	old := *oldPtr
	rec, bad := buildRecord(z, old, in, r.Method == http.MethodPut)
	if bad == nil {
		bad = conflict(z, rec)
	}
	s.mu.Unlock()
	if bad != nil {
		return *bad
	}
	rec.ModifiedOn = s.now()

	if m := s.Mirror; m != nil {
		oldTXT, newTXT := old.Type == "TXT", rec.Type == "TXT"
		same := oldTXT && newTXT && old.Name == rec.Name && TXTText(old.Content) == TXTText(rec.Content)
		if !same {
			ctx := r.Context()
			if newTXT {
				if err := m.AppendTXT(ctx, rec.Name+".", TXTText(rec.Content), mirrorTTL(rec.TTL)); err != nil {
					return mirrorFailed(err)
				}
			}
			if oldTXT {
				if err := m.DeleteTXT(ctx, old.Name+".", TXTText(old.Content)); err != nil {
					if newTXT {
						_ = m.DeleteTXT(ctx, rec.Name+".", TXTText(rec.Content))
					}
					return mirrorFailed(err)
				}
			}
		}
	}
	s.mu.Lock()
	stored := rec
	z.records[id] = &stored
	s.mu.Unlock()
	return success(rec, nil)
}

// TXTText returns the text a TXT record's content carries. Cloudflare takes
// TXT content bare or as one or more RFC 1035 quoted strings (which is how
// libdns/cloudflare sends it); quoted strings are unescaped and joined, and
// anything else is returned unchanged.
func TXTText(content string) string {
	s := strings.TrimSpace(content)
	if !strings.HasPrefix(s, `"`) {
		return content
	}
	var b strings.Builder
	for s != "" {
		if s[0] != '"' {
			return content
		}
		i, closed := 1, false
		for i < len(s) && !closed {
			switch c := s[i]; {
			case c == '"':
				closed = true
				i++
			case c == '\\' && i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]):
				n, _ := strconv.Atoi(s[i+1 : i+4])
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
			return content
		}
		s = strings.TrimLeft(s[i:], " \t")
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
