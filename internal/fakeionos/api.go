package fakeionos

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

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
)

// Bodies, in the JSON of the IONOS DNS API.

type jsonZone struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

type jsonRecord struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	RootName   string `json:"rootName"`
	Type       string `json:"type"`
	Content    string `json:"content"`
	ChangeDate string `json:"changeDate"`
	TTL        int    `json:"ttl"`
	Prio       int    `json:"prio"`
	Disabled   bool   `json:"disabled"`
}

// recordInput is a record as clients send it; the pointer tells an absent TTL from a zero one.
type recordInput struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Content  string `json:"content"`
	TTL      *int   `json:"ttl"`
	Prio     int    `json:"prio"`
	Disabled bool   `json:"disabled"`
}

// Error is one entry of IONOS's error answer, which is an array of them.
type Error struct {
	// Code is the machine-readable cause, e.g. "RECORD_NOT_FOUND".
	Code string `json:"code"`
	// Message is the human-readable text.
	Message string `json:"message,omitempty"`
	// Parameters carries details, e.g. the record that was refused.
	Parameters map[string]any `json:"parameters,omitempty"`
}

type reply struct {
	status int
	body   any // nil sends no body
}

func apiError(status int, code, msg string) reply {
	return reply{status: status, body: []Error{{Code: code, Message: msg}}}
}

func invalidRecord(msg string, r recordInput, fields ...string) reply {
	return reply{status: http.StatusBadRequest, body: []Error{{Code: "INVALID_RECORD", Message: msg, Parameters: map[string]any{
		"errorRecord": map[string]any{"name": r.Name, "type": r.Type, "content": r.Content}, "invalidFields": fields,
	}}}}
}

func zoneNotFound() reply {
	return apiError(http.StatusNotFound, "ZONE_NOT_FOUND", "Zone does not exist.")
}

func recordNotFound() reply {
	return apiError(http.StatusNotFound, "RECORD_NOT_FOUND", "Record does not exist.")
}

func write(w http.ResponseWriter, rep reply) {
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	fakeapi.WriteJSON(w, "fakeionos", rep.status, "application/json", rep.body)
}

// refuse answers fakeapi's faults with IONOS's error array.
func (s *Server) refuse(w http.ResponseWriter, _ *http.Request, ref fakeapi.Refusal) {
	switch ref.Status {
	case http.StatusTooManyRequests:
		write(w, apiError(ref.Status, "TOO_MANY_REQUESTS", "Too many requests. Please try again later."))
	default:
		write(w, reply{status: ref.Status, body: []Error{{Code: "INTERNAL_SERVER_ERROR"}}})
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		write(w, apiError(http.StatusBadRequest, "INVALID_REQUEST", "could not read the request body"))
		return
	}
	write(w, s.route(r, body))
}

func (s *Server) route(r *http.Request, body []byte) reply {
	if key := r.Header.Get("X-API-Key"); !s.cfg.keys[key] {
		// Echoed, although IONOS does not: the webhook's redaction of its errors is tested against it.
		return apiError(http.StatusUnauthorized, "UNAUTHORIZED", fmt.Sprintf("The customer is not authorized to do this operation (X-API-Key %q).", key))
	}
	p, ok := strings.CutPrefix(r.URL.Path, BasePath+"/zones")
	if !ok {
		return apiError(http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist.")
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	switch {
	case p == "" && r.Method == http.MethodGet:
		return s.listZones()
	case len(parts) == 1 && r.Method == http.MethodGet:
		return s.getZone(parts[0], r.URL.Query())
	case len(parts) == 1 && r.Method == http.MethodPatch:
		return s.patchZone(r.Context(), parts[0], body)
	case len(parts) == 2 && parts[1] == "records" && r.Method == http.MethodPost:
		return s.createRecords(r.Context(), parts[0], body)
	case len(parts) == 3 && parts[1] == "records":
		switch r.Method {
		case http.MethodGet:
			return s.getRecord(parts[0], parts[2])
		case http.MethodPut:
			return s.updateRecord(r.Context(), parts[0], parts[2], body)
		case http.MethodDelete:
			return s.deleteRecord(r.Context(), parts[0], parts[2])
		}
	}
	return apiError(http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist.")
}

func (s *Server) listZones() reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []jsonZone{}
	for _, z := range s.zones {
		out = append(out, jsonZone{ID: z.id, Name: z.name, Type: "NATIVE"})
	}
	return reply{http.StatusOK, out}
}

func toJSON(z *zone, r Record) jsonRecord {
	return jsonRecord{ID: r.ID, Name: r.Name, RootName: z.name, Type: r.Type, Content: r.Content,
		ChangeDate: r.ChangeDate.Format("2006-01-02T15:04:05.000Z"), TTL: r.TTL, Prio: r.Prio, Disabled: r.Disabled}
}

// getZone answers the zone with its records, filtered as IONOS documents: recordName exact, recordType a
// comma-separated list, suffix the end of the name.
func (s *Server) getZone(id string, q url.Values) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByIDLocked(id)
	if z == nil {
		return zoneNotFound()
	}
	name := strings.ToLower(strings.TrimSuffix(q.Get("recordName"), "."))
	suffix := strings.ToLower(strings.TrimSuffix(q.Get("suffix"), "."))
	var types []string
	if t := q.Get("recordType"); t != "" {
		types = strings.Split(strings.ToUpper(t), ",")
	}
	recs := []jsonRecord{}
	for _, r := range z.records {
		if (name == "" || r.Name == name) && (suffix == "" || r.Name == suffix || strings.HasSuffix(r.Name, "."+suffix)) &&
			(types == nil || slices.Contains(types, r.Type)) {
			recs = append(recs, toJSON(z, r))
		}
	}
	return reply{http.StatusOK, map[string]any{"id": z.id, "name": z.name, "type": "NATIVE", "records": recs}}
}

func (s *Server) getRecord(zoneID, id string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByIDLocked(zoneID)
	if z == nil {
		return zoneNotFound()
	}
	i := slices.IndexFunc(z.records, func(r Record) bool { return r.ID == id })
	if i < 0 {
		return recordNotFound()
	}
	return reply{http.StatusOK, toJSON(z, z.records[i])}
}

var knownTypes = []string{"A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NS", "PTR", "SMIMEA", "SOA", "SRV", "SSHFP", "SVCB", "TLSA", "TXT"}

// normalize checks a record against the zone and returns it as IONOS stores it.
func (s *Server) normalize(z *zone, in recordInput) (Record, *reply) {
	name := strings.ToLower(strings.TrimSuffix(in.Name, "."))
	if name != z.name && !strings.HasSuffix(name, "."+z.name) {
		rep := invalidRecord(fmt.Sprintf("The record name %s is not within the zone %s.", in.Name, z.name), in, "name")
		return Record{}, &rep
	}
	typ := strings.ToUpper(in.Type)
	if !slices.Contains(knownTypes, typ) {
		rep := invalidRecord("The record type "+in.Type+" is not supported.", in, "type")
		return Record{}, &rep
	}
	if strings.TrimSpace(in.Content) == "" {
		rep := invalidRecord("The record content must not be empty.", in, "content")
		return Record{}, &rep
	}
	ttl := defaultTTL
	if in.TTL != nil {
		ttl = *in.TTL
	}
	if ttl < minTTL || ttl > 86400 {
		rep := invalidRecord(fmt.Sprintf("The TTL %d is not allowed; it must be between %d and 86400.", ttl, minTTL), in, "ttl")
		return Record{}, &rep
	}
	content := in.Content
	if typ == "TXT" {
		content = quote(in.Content)
	}
	return Record{Name: name, Type: typ, Content: content, TTL: ttl, Prio: in.Prio, Disabled: in.Disabled, ChangeDate: s.now().UTC()}, nil
}

func sameRecord(a, b Record) bool {
	return a.Name == b.Name && a.Type == b.Type && a.Content == b.Content
}

// checkCNAME refuses a CNAME beside other records at one name, and the other way round, as DNS requires.
func checkCNAME(records []Record, r Record) *reply {
	for _, o := range records {
		if o.Name == r.Name && o.Type != r.Type && (o.Type == "CNAME" || r.Type == "CNAME") {
			rep := apiError(http.StatusBadRequest, "INVALID_RECORD", fmt.Sprintf("A CNAME record cannot coexist with other records at %s.", r.Name))
			return &rep
		}
	}
	return nil
}

func (s *Server) createRecords(ctx context.Context, zoneID string, body []byte) reply {
	var in []recordInput
	if err := json.Unmarshal(body, &in); err != nil {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "The request body must be an array of records: "+err.Error())
	}
	if len(in) == 0 {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "The request must contain at least one record.")
	}
	var created []Record
	return s.change(ctx, zoneID, func(z *zone, recs *[]Record) *reply {
		for _, ri := range in {
			r, bad := s.normalize(z, ri)
			if bad != nil {
				return bad
			}
			if slices.ContainsFunc(*recs, func(o Record) bool { return sameRecord(o, r) }) {
				rep := invalidRecord("Record already exists.", ri)
				return &rep
			}
			if bad := checkCNAME(*recs, r); bad != nil {
				return bad
			}
			r.ID = newID()
			*recs = append(*recs, r)
			created = append(created, r)
		}
		return nil
	}, func(z *zone) reply {
		out := []jsonRecord{}
		for _, r := range created {
			out = append(out, toJSON(z, r))
		}
		return reply{http.StatusCreated, out}
	})
}

// updateRecord replaces a record's content, TTL, priority and state; its name and type stay (IONOS's update
// takes only those fields).
func (s *Server) updateRecord(ctx context.Context, zoneID, id string, body []byte) reply {
	var in recordInput
	if err := json.Unmarshal(body, &in); err != nil {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "The request body must be a record: "+err.Error())
	}
	return s.change(ctx, zoneID, func(z *zone, recs *[]Record) *reply {
		i := slices.IndexFunc(*recs, func(r Record) bool { return r.ID == id })
		if i < 0 {
			rep := recordNotFound()
			return &rep
		}
		cur := (*recs)[i]
		in.Name, in.Type = cur.Name, cur.Type
		r, bad := s.normalize(z, in)
		if bad != nil {
			return bad
		}
		if slices.ContainsFunc(*recs, func(o Record) bool { return o.ID != id && sameRecord(o, r) }) {
			rep := invalidRecord("Record already exists.", in)
			return &rep
		}
		r.ID = id
		(*recs)[i] = r
		return nil
	}, func(*zone) reply { return reply{status: http.StatusOK} })
}

func (s *Server) deleteRecord(ctx context.Context, zoneID, id string) reply {
	return s.change(ctx, zoneID, func(_ *zone, recs *[]Record) *reply {
		i := slices.IndexFunc(*recs, func(r Record) bool { return r.ID == id })
		if i < 0 {
			rep := recordNotFound()
			return &rep
		}
		*recs = slices.Delete(*recs, i, i+1)
		return nil
	}, func(*zone) reply { return reply{status: http.StatusOK} })
}

// patchZone replaces, for each (name, type) in the body, every record of that name and type by the ones given.
// A record whose content is unchanged keeps its ID.
func (s *Server) patchZone(ctx context.Context, zoneID string, body []byte) reply {
	var in []recordInput
	if err := json.Unmarshal(body, &in); err != nil {
		return apiError(http.StatusBadRequest, "INVALID_REQUEST", "The request body must be an array of records: "+err.Error())
	}
	return s.change(ctx, zoneID, func(z *zone, recs *[]Record) *reply {
		type key struct{ name, typ string }
		groups := map[key][]Record{}
		var order []key
		for _, ri := range in {
			r, bad := s.normalize(z, ri)
			if bad != nil {
				return bad
			}
			k := key{r.Name, r.Type}
			if _, seen := groups[k]; !seen {
				order = append(order, k)
			}
			if slices.ContainsFunc(groups[k], func(o Record) bool { return sameRecord(o, r) }) {
				rep := invalidRecord("Record already exists.", ri)
				return &rep
			}
			groups[k] = append(groups[k], r)
		}
		for _, k := range order {
			var kept []Record
			for _, o := range *recs {
				if o.Name == k.name && o.Type == k.typ {
					continue
				}
				kept = append(kept, o)
			}
			for _, r := range groups[k] {
				r.ID = newID()
				for _, o := range *recs {
					if sameRecord(o, r) {
						r.ID = o.ID
					}
				}
				if bad := checkCNAME(kept, r); bad != nil {
					return bad
				}
				kept = append(kept, r)
			}
			*recs = kept
		}
		return nil
	}, func(*zone) reply { return reply{status: http.StatusOK} })
}

// change runs apply on a copy of the zone's records and, when it succeeds, mirrors the TXT difference, stores
// the result and answers what answer builds.
func (s *Server) change(ctx context.Context, zoneID string, apply func(z *zone, recs *[]Record) *reply, answer func(z *zone) reply) reply {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	z := s.zoneByIDLocked(zoneID)
	if z == nil {
		s.mu.Unlock()
		return zoneNotFound()
	}
	before := slices.Clone(z.records)
	s.mu.Unlock()

	recs := slices.Clone(before)
	if rep := apply(z, &recs); rep != nil {
		return *rep
	}
	if err := s.mirrorTXT(ctx, before, recs); err != nil {
		return reply{status: http.StatusInternalServerError, body: []Error{{Code: "INTERNAL_SERVER_ERROR", Message: "fakeionos: mirror: " + err.Error()}}}
	}
	s.mu.Lock()
	z.records = recs
	s.mu.Unlock()
	return answer(z)
}

// mirrorTXT sends the difference between the TXT records of before and after to the mirror, one name at a time;
// when a name fails, the names already mirrored are put back.
func (s *Server) mirrorTXT(ctx context.Context, before, after []Record) error {
	m := s.cfg.mirror
	if m == nil {
		return nil
	}
	type set struct {
		texts []string
		ttl   int
	}
	txt := func(recs []Record) map[string]set {
		out := map[string]set{}
		for _, r := range recs {
			if r.Type == "TXT" && !r.Disabled {
				st := out[r.Name]
				st.texts = append(st.texts, unquote(r.Content))
				st.ttl = r.TTL
				out[r.Name] = st
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
		if err := fakeapi.SyncTXT(ctx, m, n+".", old[n].texts, cur[n].texts, cur[n].ttl); err != nil {
			errs := []error{err}
			for _, d := range done {
				errs = append(errs, fakeapi.SyncTXT(ctx, m, d+".", cur[d].texts, old[d].texts, old[d].ttl))
			}
			return errors.Join(errs...)
		}
		done = append(done, n)
	}
	return nil
}

// quote returns TXT content as IONOS stores it: in double quotes, with quotes and backslashes escaped. Content
// that is quoted already is kept.
func quote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		if _, err := strconv.Unquote(v); err == nil {
			return v
		}
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

func unquote(v string) string {
	if u, err := strconv.Unquote(v); err == nil {
		return u
	}
	return v
}
