package fakehetzner

import (
	"context"
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

// Bodies, in the JSON of Hetzner Cloud's API (field names as hcloud-go's schema package decodes them).

type jsonRecord struct {
	Value   string `json:"value"`
	Comment string `json:"comment"`
}

type jsonRRSet struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	TTL        *int              `json:"ttl"`
	Labels     map[string]string `json:"labels"`
	Protection struct {
		Change bool `json:"change"`
	} `json:"protection"`
	Records []jsonRecord `json:"records"`
	Zone    int64        `json:"zone"`
}

type jsonAction struct {
	ID        int64      `json:"id"`
	Command   string     `json:"command"`
	Status    string     `json:"status"`
	Progress  int        `json:"progress"`
	Started   time.Time  `json:"started"`
	Finished  *time.Time `json:"finished"`
	Resources []struct {
		ID   int64  `json:"id"`
		Type string `json:"type"`
	} `json:"resources"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ErrorBody is Hetzner's error answer.
type ErrorBody struct {
	// Error is the one error.
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the content of an ErrorBody.
type ErrorDetail struct {
	// Code is the machine-readable cause, e.g. "not_found".
	Code string `json:"code"`
	// Message is the human-readable text.
	Message string `json:"message"`
	// Details holds, for invalid_input, the fields and what is wrong with them.
	Details any `json:"details"`
}

type reply struct {
	status int
	body   any
}

func apiError(status int, code, msg string) reply {
	return reply{status: status, body: ErrorBody{Error: ErrorDetail{Code: code, Message: msg, Details: map[string]any{}}}}
}

// invalidInput is 400 invalid_input naming the field, as Hetzner reports validation errors.
func invalidInput(field, msg string) reply {
	rep := apiError(http.StatusBadRequest, "invalid_input", "invalid input in field '"+field+"'")
	b := rep.body.(ErrorBody)
	b.Error.Details = map[string]any{"fields": []map[string]any{{"name": field, "messages": []string{msg}}}}
	rep.body = b
	return rep
}

func notFound(what string) reply {
	return apiError(http.StatusNotFound, "not_found", what+" not found")
}

func (s *Server) write(w http.ResponseWriter, rep reply) {
	s.rateHeaders(w)
	w.Header().Set("X-Correlation-Id", strconv.FormatInt(time.Now().UnixNano(), 36))
	fakeapi.WriteJSON(w, "fakehetzner", rep.status, "application/json", rep.body)
}

// rateHeaders sets Hetzner's rate-limit headers from the rate window: the limit, what is left, and when one more
// request is allowed (a Unix time).
func (s *Server) rateHeaders(w http.ResponseWriter) {
	limit, remaining, reset, ok := s.WindowState()
	if !ok {
		return
	}
	w.Header().Set("RateLimit-Limit", strconv.Itoa(limit))
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
}

// refuse answers fakeapi's faults in Hetzner's shapes: 429 rate_limit_exceeded, 409 conflict (which hcloud-go
// retries), 423 locked (which it does not), 5xx.
func (s *Server) refuse(w http.ResponseWriter, _ *http.Request, ref fakeapi.Refusal) {
	switch ref.Status {
	case http.StatusTooManyRequests:
		s.write(w, apiError(ref.Status, "rate_limit_exceeded", "limit of 3600 requests per hour reached"))
	case http.StatusConflict:
		s.write(w, apiError(ref.Status, "conflict", "the resource has changed during the request, please retry"))
	case http.StatusLocked:
		s.write(w, apiError(ref.Status, "locked", "the zone is locked by another action"))
	case http.StatusServiceUnavailable:
		s.write(w, apiError(ref.Status, "unavailable", "service unavailable"))
	default:
		s.write(w, apiError(ref.Status, "server_error", "internal server error"))
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.write(w, apiError(http.StatusBadRequest, "json_error", "could not read the request body"))
		return
	}
	s.write(w, s.route(r, body))
}

func (s *Server) authorize(r *http.Request) *reply {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && s.cfg.tokens[tok] {
		return nil
	}
	// Echoed, although Hetzner does not: the webhook's redaction of its errors is tested against it.
	rep := apiError(http.StatusUnauthorized, "unauthorized", fmt.Sprintf("unable to authenticate (token %q)", tok))
	return &rep
}

func (s *Server) route(r *http.Request, body []byte) reply {
	if rep := s.authorize(r); rep != nil {
		return *rep
	}
	p, ok := strings.CutPrefix(r.URL.Path, BasePath+"/")
	if !ok {
		return notFound("resource")
	}
	parts := strings.Split(p, "/")
	q := r.URL.Query()
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case parts[0] == "actions" && len(parts) == 1 && get:
		return s.listActions(q)
	case parts[0] == "actions" && len(parts) == 2 && get:
		return s.getAction(parts[1])
	case parts[0] != "zones":
		return notFound("resource")
	case len(parts) == 1 && get:
		return s.listZones(q)
	case len(parts) == 2 && get:
		return s.getZone(parts[1])
	case len(parts) == 3 && parts[2] == "rrsets" && get:
		return s.listRRSets(parts[1], q)
	case len(parts) == 3 && parts[2] == "rrsets" && post:
		return s.createRRSet(r.Context(), parts[1], body)
	case len(parts) == 5 && parts[2] == "rrsets" && get:
		return s.getRRSet(parts[1], parts[3], parts[4])
	case len(parts) == 5 && parts[2] == "rrsets" && r.Method == http.MethodDelete:
		return s.deleteRRSet(r.Context(), parts[1], parts[3], parts[4])
	case len(parts) == 7 && parts[2] == "rrsets" && parts[5] == "actions" && post:
		return s.rrsetAction(r.Context(), parts[1], parts[3], parts[4], parts[6], body)
	}
	return notFound("resource")
}

// paginate selects the page page and per_page name among n items and builds meta.pagination.
func (s *Server) paginate(q url.Values, n int) (start, end int, meta map[string]any, bad *reply) {
	page, perPage := 1, defaultPerPage
	if v := q.Get("page"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 {
			rep := invalidInput("page", "must be a positive integer")
			return 0, 0, nil, &rep
		}
		page = p
	}
	if v := q.Get("per_page"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 {
			rep := invalidInput("per_page", "must be a positive integer")
			return 0, 0, nil, &rep
		}
		perPage = p
	}
	perPage = min(perPage, s.cfg.maxPerPage)
	last := max((n+perPage-1)/perPage, 1)
	start = min((page-1)*perPage, n)
	end = min(start+perPage, n)
	pg := map[string]any{"page": page, "per_page": perPage, "previous_page": nil, "next_page": nil, "last_page": last, "total_entries": n}
	if page > 1 {
		pg["previous_page"] = page - 1
	}
	if page < last {
		pg["next_page"] = page + 1
	}
	return start, end, map[string]any{"pagination": pg}, nil
}

func (s *Server) zoneJSON(z *zone) map[string]any {
	return map[string]any{
		"id": z.id, "name": z.name, "created": z.created, "ttl": z.ttl, "mode": "primary",
		"primary_nameservers": []any{}, "protection": map[string]bool{"delete": false}, "labels": map[string]string{},
		"authoritative_nameservers": map[string]any{
			"assigned":              []string{"hydrogen.ns.hetzner.com.", "oxygen.ns.hetzner.com.", "helium.ns.hetzner.de."},
			"delegated":             []string{},
			"delegation_last_check": nil,
			"delegation_status":     "unknown",
		},
		"registrar": "other", "status": "ok", "record_count": recordCount(z.sets),
	}
}

func recordCount(sets []RRSet) int {
	n := 0
	for _, set := range sets {
		n += len(set.Records)
	}
	return n
}

func rrsetJSON(z *zone, set RRSet) jsonRRSet {
	out := jsonRRSet{ID: set.ID, Name: set.Name, Type: set.Type, TTL: set.TTL, Labels: set.Labels, Zone: z.id, Records: []jsonRecord{}}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	for _, r := range set.Records {
		out.Records = append(out.Records, jsonRecord(r))
	}
	return out
}

func (s *Server) listZones(q url.Values) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	var zones []map[string]any
	for _, z := range s.zones {
		if name := q.Get("name"); name == "" || name == z.name {
			zones = append(zones, s.zoneJSON(z))
		}
	}
	start, end, meta, bad := s.paginate(q, len(zones))
	if bad != nil {
		return *bad
	}
	return reply{http.StatusOK, map[string]any{"zones": append([]map[string]any{}, zones[start:end]...), "meta": meta}}
}

func (s *Server) getZone(idOrName string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneLocked(idOrName)
	if z == nil {
		return notFound("zone")
	}
	return reply{http.StatusOK, map[string]any{"zone": s.zoneJSON(z)}}
}

func (s *Server) listRRSets(idOrName string, q url.Values) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneLocked(idOrName)
	if z == nil {
		return notFound("zone")
	}
	var sets []jsonRRSet
	types := q["type"]
	for _, set := range z.sets {
		if (q.Get("name") == "" || q.Get("name") == set.Name) && (len(types) == 0 || slices.Contains(types, set.Type)) {
			sets = append(sets, rrsetJSON(z, set))
		}
	}
	start, end, meta, bad := s.paginate(q, len(sets))
	if bad != nil {
		return *bad
	}
	return reply{http.StatusOK, map[string]any{"rrsets": append([]jsonRRSet{}, sets[start:end]...), "meta": meta}}
}

func (s *Server) getRRSet(idOrName, name, typ string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneLocked(idOrName)
	if z == nil {
		return notFound("zone")
	}
	i := findSet(z.sets, name, typ)
	if i < 0 {
		return notFound("rrset")
	}
	return reply{http.StatusOK, map[string]any{"rrset": rrsetJSON(z, z.sets[i])}}
}

func findSet(sets []RRSet, name, typ string) int {
	return slices.IndexFunc(sets, func(o RRSet) bool { return o.Name == name && o.Type == typ })
}

var knownTypes = []string{"A", "AAAA", "CAA", "CNAME", "DS", "HINFO", "HTTPS", "MX", "NS", "PTR", "RP", "SOA", "SRV", "SVCB", "TLSA", "TXT"}

// checkName validates an RRset name as Hetzner documents it: lower case, relative (not ending with a dot or the
// zone's name), "@" for the apex.
func checkName(name, zoneName string) *reply {
	switch {
	case name == "":
		rep := invalidInput("name", "must not be empty")
		return &rep
	case name != strings.ToLower(name):
		rep := invalidInput("name", "must be in lower case")
		return &rep
	case strings.HasSuffix(name, ".") || name == zoneName || strings.HasSuffix(name, "."+zoneName):
		rep := invalidInput("name", "must not end with a dot or the zone name")
		return &rep
	}
	return nil
}

func checkTTL(ttl *int) *reply {
	if ttl != nil && (*ttl < minTTL || *ttl > 2147483647) {
		rep := invalidInput("ttl", fmt.Sprintf("must be between %d and 2147483647", minTTL))
		return &rep
	}
	return nil
}

// checkRecords validates the values of a request: not empty, distinct, and for TXT quoted strings.
func checkRecords(typ string, recs []jsonRecord) *reply {
	if len(recs) == 0 {
		rep := invalidInput("records", "must not be empty")
		return &rep
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if strings.TrimSpace(r.Value) == "" {
			rep := invalidInput("records", "value must not be empty")
			return &rep
		}
		if typ == "TXT" {
			if _, err := parseTXT(r.Value); err != nil {
				rep := invalidInput("records", fmt.Sprintf("TXT value %s must consist of one or more quoted strings of up to 255 characters: %v", r.Value, err))
				return &rep
			}
		}
		if seen[r.Value] {
			rep := invalidInput("records", "must only contain distinct record values")
			return &rep
		}
		seen[r.Value] = true
	}
	return nil
}

func (s *Server) createRRSet(ctx context.Context, idOrName string, body []byte) reply {
	var in struct {
		Name    string            `json:"name"`
		Type    string            `json:"type"`
		TTL     *int              `json:"ttl"`
		Labels  map[string]string `json:"labels"`
		Records []jsonRecord      `json:"records"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return apiError(http.StatusBadRequest, "json_error", "invalid JSON: "+err.Error())
	}
	return s.change(ctx, idOrName, "create_rrset", func(z *zone, sets *[]RRSet) *reply {
		if rep := checkName(in.Name, z.name); rep != nil {
			return rep
		}
		if !slices.Contains(knownTypes, in.Type) {
			rep := invalidInput("type", "unsupported type "+in.Type)
			return &rep
		}
		if rep := checkTTL(in.TTL); rep != nil {
			return rep
		}
		if len(in.Records) > 0 {
			if rep := checkRecords(in.Type, in.Records); rep != nil {
				return rep
			}
		}
		if findSet(*sets, in.Name, in.Type) >= 0 {
			rep := apiError(http.StatusConflict, "uniqueness_error", fmt.Sprintf("rrset %s/%s already exists", in.Name, in.Type))
			return &rep
		}
		if rep := checkCNAME(*sets, in.Name, in.Type); rep != nil {
			return rep
		}
		set := RRSet{ID: in.Name + "/" + in.Type, Name: in.Name, Type: in.Type, TTL: in.TTL, Labels: in.Labels}
		for _, r := range in.Records {
			set.Records = append(set.Records, Record(r))
		}
		*sets = append(*sets, set)
		return nil
	}, func(z *zone, sets []RRSet, action jsonAction) reply {
		return reply{http.StatusCreated, map[string]any{"rrset": rrsetJSON(z, sets[findSet(sets, in.Name, in.Type)]), "action": action}}
	})
}

func (s *Server) deleteRRSet(ctx context.Context, idOrName, name, typ string) reply {
	return s.change(ctx, idOrName, "delete_rrset", func(z *zone, sets *[]RRSet) *reply {
		i := findSet(*sets, name, typ)
		if i < 0 {
			rep := notFound("rrset")
			return &rep
		}
		if name == "@" && (typ == "SOA" || typ == "NS") {
			rep := apiError(http.StatusUnprocessableEntity, "protected", "the apex "+typ+" rrset cannot be deleted")
			return &rep
		}
		*sets = slices.Delete(*sets, i, i+1)
		return nil
	}, actionOnly)
}

func actionOnly(_ *zone, _ []RRSet, action jsonAction) reply {
	return reply{http.StatusCreated, map[string]any{"action": action}}
}

// rrsetAction serves the RRset actions: add_records, remove_records and set_records.
func (s *Server) rrsetAction(ctx context.Context, idOrName, name, typ, action string, body []byte) reply {
	var in struct {
		Records []jsonRecord `json:"records"`
		TTL     *int         `json:"ttl"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return apiError(http.StatusBadRequest, "json_error", "invalid JSON: "+err.Error())
	}
	var apply func(z *zone, sets *[]RRSet) *reply
	var command string
	switch action {
	case "add_records":
		command = "add_rrset_records"
		apply = func(z *zone, sets *[]RRSet) *reply { return s.addRecords(z, sets, name, typ, in.Records, in.TTL) }
	case "remove_records":
		command = "remove_rrset_records"
		apply = func(_ *zone, sets *[]RRSet) *reply { return s.removeRecords(sets, name, typ, in.Records) }
	case "set_records":
		command = "set_rrset_records"
		apply = func(_ *zone, sets *[]RRSet) *reply {
			i := findSet(*sets, name, typ)
			if i < 0 {
				rep := notFound("rrset")
				return &rep
			}
			if rep := checkRecords(typ, in.Records); rep != nil {
				return rep
			}
			(*sets)[i].Records = nil
			for _, r := range in.Records {
				(*sets)[i].Records = append((*sets)[i].Records, Record(r))
			}
			return nil
		}
	default:
		return notFound("action")
	}
	return s.change(ctx, idOrName, command, apply, actionOnly)
}

func (s *Server) addRecords(z *zone, sets *[]RRSet, name, typ string, recs []jsonRecord, ttl *int) *reply {
	if rep := checkName(name, z.name); rep != nil {
		return rep
	}
	if !slices.Contains(knownTypes, typ) {
		rep := invalidInput("type", "unsupported type "+typ)
		return &rep
	}
	if rep := checkTTL(ttl); rep != nil {
		return rep
	}
	if rep := checkRecords(typ, recs); rep != nil {
		return rep
	}
	i := findSet(*sets, name, typ)
	if i < 0 {
		// The RRset is created for convenience, as Hetzner documents.
		if rep := checkCNAME(*sets, name, typ); rep != nil {
			return rep
		}
		*sets = append(*sets, RRSet{ID: name + "/" + typ, Name: name, Type: typ, TTL: ttl})
		i = len(*sets) - 1
	}
	set := &(*sets)[i]
	if ttl != nil {
		if set.TTL != nil && *set.TTL != *ttl {
			rep := invalidInput("ttl", fmt.Sprintf("must be the same as the RRset's TTL (%d)", *set.TTL))
			return &rep
		}
		v := *ttl
		set.TTL = &v
	}
	for _, r := range recs {
		if slices.ContainsFunc(set.Records, func(o Record) bool { return o.Value == r.Value }) {
			if s.cfg.strict {
				rep := apiError(http.StatusConflict, "uniqueness_error", fmt.Sprintf("record %s already exists in rrset %s", r.Value, set.ID))
				return &rep
			}
			continue
		}
		set.Records = append(set.Records, Record(r))
	}
	return nil
}

func (s *Server) removeRecords(sets *[]RRSet, name, typ string, recs []jsonRecord) *reply {
	i := findSet(*sets, name, typ)
	if i < 0 {
		rep := notFound("rrset")
		return &rep
	}
	if rep := checkRecords(typ, recs); rep != nil {
		return rep
	}
	set := &(*sets)[i]
	for _, r := range recs {
		j := slices.IndexFunc(set.Records, func(o Record) bool { return o.Value == r.Value })
		if j < 0 {
			if s.cfg.strict {
				rep := notFound("record " + r.Value + " in rrset " + set.ID)
				return &rep
			}
			continue
		}
		set.Records = slices.Delete(set.Records, j, j+1)
	}
	if len(set.Records) == 0 {
		*sets = slices.Delete(*sets, i, i+1)
	}
	return nil
}

// checkCNAME refuses a CNAME beside other RRsets at one name, and the other way round, as DNS requires.
func checkCNAME(sets []RRSet, name, typ string) *reply {
	for _, o := range sets {
		if o.Name == name && o.Type != typ && (o.Type == "CNAME" || typ == "CNAME") {
			rep := apiError(http.StatusConflict, "uniqueness_error", fmt.Sprintf("a CNAME rrset cannot coexist with other rrsets at %s", name))
			return &rep
		}
	}
	return nil
}

// change applies one change to a zone as an action: it checks the zone lock, runs apply on a copy of the RRsets,
// mirrors the TXT difference, stores the result and creates the action; answer builds the reply from it.
func (s *Server) change(ctx context.Context, idOrName, command string, apply func(z *zone, sets *[]RRSet) *reply, answer func(z *zone, sets []RRSet, a jsonAction) reply) reply {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	z := s.zoneLocked(idOrName)
	if z == nil {
		s.mu.Unlock()
		return notFound("zone")
	}
	now := s.now()
	if s.cfg.locking {
		for _, a := range s.actions {
			if a.ZoneID == z.id && now.Before(a.Done) {
				s.mu.Unlock()
				return apiError(http.StatusLocked, "locked", fmt.Sprintf("zone %d is locked by action %d (%s), which is still running", z.id, a.ID, a.Command))
			}
		}
	}
	before := make([]RRSet, len(z.sets))
	for i, set := range z.sets {
		before[i] = set.clone()
	}
	s.mu.Unlock()

	sets := make([]RRSet, len(before))
	for i, set := range before {
		sets[i] = set.clone()
	}
	if rep := apply(z, &sets); rep != nil {
		return *rep
	}
	slices.SortFunc(sets, compareSets)
	if err := s.mirrorTXT(ctx, z, before, sets); err != nil {
		return apiError(http.StatusInternalServerError, "server_error", "fakehetzner: mirror: "+err.Error())
	}
	s.mu.Lock()
	z.sets = sets
	s.nextAction++
	a := &Action{ID: s.nextAction, Command: command, ZoneID: z.id, Started: now, Done: now.Add(s.cfg.actionDuration)}
	s.actions = append(s.actions, a)
	s.mu.Unlock()
	// An action is reported running when it is created, as Hetzner's are; it is over at the first poll unless
	// WithActionDuration keeps it running.
	return answer(z, sets, actionJSON(a, now, true))
}

func actionJSON(a *Action, now time.Time, fresh bool) jsonAction {
	out := jsonAction{ID: a.ID, Command: a.Command, Started: a.Started, Status: "running"}
	out.Resources = append(out.Resources, struct {
		ID   int64  `json:"id"`
		Type string `json:"type"`
	}{a.ZoneID, "zone"})
	if !fresh && !now.Before(a.Done) {
		done := a.Done
		out.Status, out.Progress, out.Finished = "success", 100, &done
	}
	return out
}

func (s *Server) listActions(q url.Values) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []jsonAction
	for _, a := range s.actions {
		if ids := q["id"]; len(ids) > 0 && !slices.Contains(ids, strconv.FormatInt(a.ID, 10)) {
			continue
		}
		j := actionJSON(a, now, false)
		if st := q["status"]; len(st) > 0 && !slices.Contains(st, j.Status) {
			continue
		}
		out = append(out, j)
	}
	start, end, meta, bad := s.paginate(q, len(out))
	if bad != nil {
		return *bad
	}
	return reply{http.StatusOK, map[string]any{"actions": append([]jsonAction{}, out[start:end]...), "meta": meta}}
}

func (s *Server) getAction(id string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.actions {
		if strconv.FormatInt(a.ID, 10) == id {
			return reply{http.StatusOK, map[string]any{"action": actionJSON(a, s.now(), false)}}
		}
	}
	return notFound("action")
}

// mirrorTXT sends the difference between the TXT sets of before and after to the mirror, one name at a time;
// when a name fails, the names already mirrored are put back.
func (s *Server) mirrorTXT(ctx context.Context, z *zone, before, after []RRSet) error {
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
	ttl := func(set RRSet) int {
		if set.TTL != nil {
			return *set.TTL
		}
		return z.ttl
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
		if err := fakeapi.SyncTXT(ctx, m, absName(n, z.name), txtTexts(old[n].Values()), txtTexts(cur[n].Values()), ttl(cur[n])); err != nil {
			errs := []error{err}
			for _, d := range done {
				errs = append(errs, fakeapi.SyncTXT(ctx, m, absName(d, z.name), txtTexts(cur[d].Values()), txtTexts(old[d].Values()), ttl(old[d])))
			}
			return errors.Join(errs...)
		}
		done = append(done, n)
	}
	return nil
}

// parseTXT returns the text of a TXT value: one or more quoted strings of at most 255 bytes, separated by spaces,
// with \" and \\ and \DDD escapes, joined.
func parseTXT(v string) (string, error) {
	s := strings.TrimSpace(v)
	var b strings.Builder
	if s == "" {
		return "", errors.New("empty")
	}
	for s != "" {
		if s[0] != '"' {
			return "", errors.New("not a quoted string")
		}
		var part strings.Builder
		i, closed := 1, false
		for i < len(s) && !closed {
			switch c := s[i]; {
			case c == '"':
				closed = true
				i++
			case c == '\\' && i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]):
				n, _ := strconv.Atoi(s[i+1 : i+4])
				part.WriteByte(byte(n))
				i += 4
			case c == '\\' && i+1 < len(s):
				part.WriteByte(s[i+1])
				i += 2
			default:
				part.WriteByte(c)
				i++
			}
		}
		if !closed {
			return "", errors.New("unterminated quoted string")
		}
		if part.Len() > 255 {
			return "", errors.New("a string is longer than 255 characters")
		}
		b.WriteString(part.String())
		s = strings.TrimLeft(s[i:], " ")
	}
	return b.String(), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func txtTexts(values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		text, err := parseTXT(v)
		if err != nil {
			text = v
		}
		out = append(out, text)
	}
	return out
}
