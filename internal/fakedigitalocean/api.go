package fakedigitalocean

import (
	"context"
	"encoding/json"
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

// reply is a computed answer; a nil body writes none (204).
type reply struct {
	status int
	body   any
}

func (rep reply) write(w http.ResponseWriter) {
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	fakeapi.WriteJSON(w, "fakedigitalocean", rep.status, "application/json; charset=utf-8", rep.body)
}

// apiError is DigitalOcean's error body. Where DigitalOcean documents no message (validation), the fake's is a
// best guess in its style.
func apiError(status int, id, msg string) reply {
	return reply{status: status, body: map[string]string{"id": id, "message": msg, "request_id": requestID()}}
}

func notFound() reply {
	return apiError(http.StatusNotFound, "not_found", "The resource you were accessing could not be found.")
}

func unprocessable(msg string) reply {
	return apiError(http.StatusUnprocessableEntity, "unprocessable_entity", msg)
}

func requestID() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

// rateHeaders sets DigitalOcean's rate-limit headers: from the fakeapi rate window when one is set, else from the
// documented 5000 requests per hour and the requests of the last hour.
func (s *Server) rateHeaders(h http.Header, count bool) {
	limit, remaining, reset, ok := s.WindowState()
	if !ok {
		now := time.Now()
		s.mu.Lock()
		cut := 0
		for cut < len(s.hour) && !s.hour[cut].After(now.Add(-time.Hour)) {
			cut++
		}
		s.hour = s.hour[cut:]
		if count {
			s.hour = append(s.hour, now)
		}
		limit, remaining = HourlyLimit, max(HourlyLimit-len(s.hour), 0)
		reset = now.Add(time.Hour)
		if len(s.hour) > 0 {
			reset = s.hour[0].Add(time.Hour)
		}
		s.mu.Unlock()
	}
	h.Set("Ratelimit-Limit", strconv.Itoa(limit))
	h.Set("Ratelimit-Remaining", strconv.Itoa(remaining))
	h.Set("Ratelimit-Reset", strconv.FormatInt(reset.Unix(), 10))
}

// refuse answers the fakeapi faults: 429 with DigitalOcean's body, its rate-limit headers (none remaining) and
// the Retry-After fakeapi set; 5xx with its server_error body.
func (s *Server) refuse(w http.ResponseWriter, _ *http.Request, ref fakeapi.Refusal) {
	s.rateHeaders(w.Header(), true)
	if ref.Status == http.StatusTooManyRequests {
		w.Header().Set("Ratelimit-Remaining", "0")
		if ref.Window {
			w.Header().Set("Ratelimit-Reset", strconv.FormatInt(ref.Reset.Unix(), 10))
		}
		apiError(ref.Status, "too_many_requests", "API Rate limit exceeded.").write(w)
		return
	}
	apiError(ref.Status, "server_error", "Unexpected server-side error").write(w)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.rateHeaders(w.Header(), true)
	if rep, ok := s.authenticate(r); !ok {
		rep.write(w)
		return
	}
	s.route(r).write(w)
}

// authenticate checks the Bearer token. An unknown one is echoed back, which DigitalOcean does not do: the
// webhook's redaction of secrets from errors is tested against it.
func (s *Server) authenticate(r *http.Request) (reply, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return apiError(http.StatusUnauthorized, "Unauthorized", "Unable to authenticate you"), false
	}
	s.mu.Lock()
	known := s.cfg.tokens[token]
	s.mu.Unlock()
	if !known {
		return apiError(http.StatusUnauthorized, "Unauthorized", fmt.Sprintf("Unable to authenticate you (token %q)", token)), false
	}
	return reply{}, true
}

func (s *Server) route(r *http.Request) reply {
	p := strings.TrimSuffix(r.URL.Path, "/")
	if !strings.HasPrefix(p, BasePath+"/domains") {
		return notFound()
	}
	parts := strings.Split(strings.TrimPrefix(p, BasePath+"/"), "/")
	switch {
	case len(parts) == 1 && r.Method == http.MethodGet:
		return s.listDomains(r)
	case len(parts) == 2 && r.Method == http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		if d := s.domains[parts[1]]; d != nil {
			return reply{status: http.StatusOK, body: map[string]Domain{"domain": d.info}}
		}
		return notFound()
	case len(parts) == 3 && parts[2] == "records":
		switch r.Method {
		case http.MethodGet:
			return s.listRecords(r, parts[1])
		case http.MethodPost:
			return s.createRecord(r, parts[1])
		}
	case len(parts) == 4 && parts[2] == "records":
		id, err := strconv.Atoi(parts[3])
		if err != nil || id < 1 {
			return notFound()
		}
		switch r.Method {
		case http.MethodGet:
			s.mu.Lock()
			defer s.mu.Unlock()
			if d := s.domains[parts[1]]; d != nil {
				if i := d.index(id); i >= 0 {
					return reply{status: http.StatusOK, body: map[string]Record{"domain_record": *d.records[i]}}
				}
			}
			return notFound()
		case http.MethodDelete:
			return s.deleteRecord(r.Context(), parts[1], id)
		case http.MethodPut, http.MethodPatch:
			return s.updateRecord(r, parts[1], id)
		}
	}
	if len(parts) <= 4 {
		return apiError(http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed")
	}
	return notFound()
}

func (d *domain) index(id int) int {
	return slices.IndexFunc(d.records, func(r *Record) bool { return r.ID == id })
}

// page cuts one page out of n items as DigitalOcean paginates: page (1-based, default 1) and per_page (default
// 20, at most 200); links.pages holds first and prev when not on the first page, next and last when not on the
// last, each with page and per_page, and is absent for a single page.
func page(r *http.Request, n int) (start, end int, links map[string]any) {
	q := r.URL.Query()
	pg, err := strconv.Atoi(q.Get("page"))
	if err != nil || pg < 1 {
		pg = 1
	}
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per < 1 {
		per = perPageDefault
	}
	per = min(per, perPageMax)
	last := max((n+per-1)/per, 1)
	start, end = min((pg-1)*per, n), min(pg*per, n)
	link := func(p int) string {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = slices.Clone(v)
		}
		q2.Set("page", strconv.Itoa(p))
		q2.Set("per_page", strconv.Itoa(per))
		return fmt.Sprintf("https://%s%s?%s", r.Host, r.URL.Path, q2.Encode())
	}
	pages := map[string]string{}
	if pg > 1 {
		pages["first"], pages["prev"] = link(1), link(min(pg-1, last))
	}
	if pg < last {
		pages["next"], pages["last"] = link(pg+1), link(last)
	}
	links = map[string]any{}
	if len(pages) > 0 {
		links["pages"] = pages
	}
	return start, end, links
}

func (s *Server) listDomains(r *http.Request) reply {
	s.mu.Lock()
	all := sortedDomains(s.domains)
	infos := make([]Domain, len(all))
	for i, d := range all {
		infos[i] = d.info
	}
	s.mu.Unlock()
	start, end, links := page(r, len(infos))
	return reply{status: http.StatusOK, body: map[string]any{"domains": infos[start:end], "links": links, "meta": map[string]int{"total": len(infos)}}}
}

// listRecords lists a domain's records; type and name (fully qualified, as DigitalOcean documents it) filter.
func (s *Server) listRecords(r *http.Request, name string) reply {
	q := r.URL.Query()
	s.mu.Lock()
	d := s.domains[name]
	var recs []Record
	if d != nil {
		for _, rec := range d.records {
			fqdn := rec.Name + "." + d.info.Name
			if rec.Name == "@" {
				fqdn = d.info.Name
			}
			if (!q.Has("type") || q.Get("type") == rec.Type) && (!q.Has("name") || domainName(q.Get("name")) == fqdn) {
				recs = append(recs, *rec)
			}
		}
	}
	s.mu.Unlock()
	if d == nil {
		return notFound()
	}
	start, end, links := page(r, len(recs))
	out := recs[start:end]
	if out == nil {
		out = []Record{}
	}
	return reply{status: http.StatusOK, body: map[string]any{"domain_records": out, "links": links, "meta": map[string]int{"total": len(recs)}}}
}

// recordInput is a create or edit body; pointers tell absent fields. godo sends priority, port, weight and flags
// as 0 always.
type recordInput struct {
	Type     *string `json:"type"`
	Name     *string `json:"name"`
	Data     *string `json:"data"`
	Priority *int    `json:"priority"`
	Port     *int    `json:"port"`
	TTL      *int    `json:"ttl"`
	Weight   *int    `json:"weight"`
	Flags    *int    `json:"flags"`
	Tag      *string `json:"tag"`
}

var knownTypes = []string{"A", "AAAA", "CAA", "CNAME", "MX", "NS", "SRV", "TXT"}

func decodeInput(r *http.Request) (recordInput, *reply) {
	var in recordInput
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		rep := apiError(http.StatusBadRequest, "bad_request", "unable to decode the request body: "+err.Error())
		return in, &rep
	}
	return in, nil
}

// build applies in to base (a zero Record for create) and validates the result in domain d.
func build(d *domain, base Record, in recordInput) (Record, *reply) {
	rec := base
	if in.Type != nil {
		rec.Type = strings.ToUpper(*in.Type)
	}
	if in.Name != nil {
		rec.Name = relativeName(*in.Name, d.info.Name)
	}
	if in.Data != nil {
		rec.Data = *in.Data
	}
	if in.TTL != nil && *in.TTL != 0 {
		rec.TTL = *in.TTL
	}
	if rec.TTL == 0 {
		rec.TTL = DefaultTTL
	}
	fail := func(msg string) (Record, *reply) { rep := unprocessable(msg); return rec, &rep }
	switch {
	case !slices.Contains(knownTypes, rec.Type):
		return fail(fmt.Sprintf("Type %q is not a supported record type.", rec.Type))
	case rec.Name == "":
		return fail("Name can't be blank.")
	case rec.Data == "":
		return fail("Data can't be blank.")
	case rec.TTL < MinimumTTL:
		return fail(fmt.Sprintf("TTL must be at least %d seconds.", MinimumTTL))
	}
	// Only MX and SRV carry a priority, SRV a port and weight, CAA flags and a tag: DigitalOcean answers null
	// for the rest.
	rec.Priority, rec.Port, rec.Weight, rec.Flags, rec.Tag = nil, nil, nil, nil, nil
	if rec.Type == "MX" || rec.Type == "SRV" {
		rec.Priority = in.Priority
	}
	if rec.Type == "SRV" {
		rec.Port, rec.Weight = in.Port, in.Weight
	}
	if rec.Type == "CAA" {
		rec.Flags, rec.Tag = in.Flags, in.Tag
	}
	for _, o := range d.records {
		if o.ID != rec.ID && o.Name == rec.Name && (o.Type == "CNAME" || rec.Type == "CNAME") {
			return fail("CNAME records cannot share a name with other records.")
		}
	}
	return rec, nil
}

// relativeName is how DigitalOcean stores a name: relative to the domain, "@" for the apex; a fully qualified
// name in the domain is made relative.
func relativeName(name, zone string) string {
	n := domainName(name)
	switch {
	case n == "" || n == "@" || n == zone:
		if n == "" {
			return ""
		}
		return "@"
	case strings.HasSuffix(n, "."+zone):
		return strings.TrimSuffix(n, "."+zone)
	}
	return n
}

func (s *Server) createRecord(r *http.Request, name string) reply {
	in, bad := decodeInput(r)
	if bad != nil {
		return *bad
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	d := s.domains[name]
	if d == nil {
		s.mu.Unlock()
		return notFound()
	}
	rec, bad := build(d, Record{}, in)
	s.mu.Unlock()
	if bad != nil {
		return *bad
	}
	if err := s.mirror(r.Context(), d, nil, &rec); err != nil {
		return apiError(http.StatusInternalServerError, "server_error", "fakedigitalocean: mirror: "+err.Error())
	}
	s.mu.Lock()
	stored := s.newRecordLocked(rec)
	d.records = append(d.records, stored)
	out := *stored
	s.mu.Unlock()
	return reply{status: http.StatusCreated, body: map[string]Record{"domain_record": out}}
}

func (s *Server) deleteRecord(ctx context.Context, name string, id int) reply {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	d := s.domains[name]
	var old Record
	found := false
	if d != nil {
		if i := d.index(id); i >= 0 {
			old, found = *d.records[i], true
		}
	}
	s.mu.Unlock()
	if !found {
		return notFound()
	}
	if err := s.mirror(ctx, d, &old, nil); err != nil {
		return apiError(http.StatusInternalServerError, "server_error", "fakedigitalocean: mirror: "+err.Error())
	}
	s.mu.Lock()
	if i := d.index(id); i >= 0 {
		d.records = slices.Delete(d.records, i, i+1)
	}
	s.mu.Unlock()
	return reply{status: http.StatusNoContent}
}

func (s *Server) updateRecord(r *http.Request, name string, id int) reply {
	in, bad := decodeInput(r)
	if bad != nil {
		return *bad
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	d := s.domains[name]
	var old Record
	i := -1
	if d != nil {
		if i = d.index(id); i >= 0 {
			old = *d.records[i]
		}
	}
	if i < 0 {
		s.mu.Unlock()
		return notFound()
	}
	rec, bad := build(d, old, in)
	s.mu.Unlock()
	if bad != nil {
		return *bad
	}
	if err := s.mirror(r.Context(), d, &old, &rec); err != nil {
		return apiError(http.StatusInternalServerError, "server_error", "fakedigitalocean: mirror: "+err.Error())
	}
	s.mu.Lock()
	if i := d.index(id); i >= 0 {
		stored := rec
		d.records[i] = &stored
	}
	s.mu.Unlock()
	return reply{status: http.StatusOK, body: map[string]Record{"domain_record": rec}}
}

// mirror carries the replacement of record old by cur (either may be nil) into DNS. DigitalOcean keeps identical
// records apart, DNS does not: a value is added to DNS only when its first record appears and deleted only when
// its last one goes, so that DNS matches the store.
func (s *Server) mirror(ctx context.Context, d *domain, old, cur *Record) error {
	s.mu.Lock()
	m := d.mirror
	if m == nil {
		m = s.cfg.mirror
	}
	count := func(r *Record) int {
		n := 0
		for _, o := range d.records {
			if o.Type == "TXT" && o.Name == r.Name && o.Data == r.Data {
				n++
			}
		}
		return n
	}
	sameValue := old != nil && cur != nil && old.Type == cur.Type && old.Name == cur.Name && old.Data == cur.Data
	addNew := cur != nil && cur.Type == "TXT" && !sameValue && count(cur) == 0
	dropOld := old != nil && old.Type == "TXT" && !sameValue && count(old) == 1
	fqdn := func(r *Record) string {
		if r.Name == "@" {
			return d.info.Name + "."
		}
		return r.Name + "." + d.info.Name + "."
	}
	s.mu.Unlock()
	if m == nil {
		return nil
	}
	if addNew {
		if err := m.AppendTXT(ctx, fqdn(cur), cur.Data, cur.TTL); err != nil {
			return err
		}
	}
	if dropOld {
		if err := m.DeleteTXT(ctx, fqdn(old), old.Data); err != nil {
			if addNew {
				_ = m.DeleteTXT(ctx, fqdn(cur), cur.Data)
			}
			return err
		}
	}
	return nil
}
