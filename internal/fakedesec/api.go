package fakedesec

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
)

// reply is a computed answer; a nil body is written as no body (204, 301).
type reply struct {
	status int
	header http.Header
	body   any
}

func (rep reply) write(w http.ResponseWriter) {
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	fakeapi.WriteJSON(w, "fakedesec", rep.status, "application/json", rep.body)
}

func detail(status int, msg string) reply {
	return reply{status: status, body: map[string]string{"detail": msg}}
}

func notFound() reply { return detail(http.StatusNotFound, "Not found.") }

// fieldErrors are DRF's validation errors of one object: field name (or non_field_errors) → messages.
type fieldErrors map[string][]string

func (e fieldErrors) add(field, msg string) { e[field] = append(e[field], msg) }

const nonField = "non_field_errors"

// refuse answers the fakeapi faults as deSEC (Django REST framework behind nginx) does: throttling is 429 with
// DRF's message and, when the wait is known, Retry-After; 5xx are HTML pages.
func refuse(w http.ResponseWriter, _ *http.Request, ref fakeapi.Refusal) {
	if ref.Status == http.StatusTooManyRequests {
		msg := "Request was throttled."
		if secs := fakeapi.RetryAfterSeconds(ref.RetryAfter); secs > 0 {
			unit := "seconds"
			if secs == 1 {
				unit = "second"
			}
			msg = fmt.Sprintf("Request was throttled. Expected available in %d %s.", secs, unit)
		}
		detail(http.StatusTooManyRequests, msg).write(w)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(ref.Status)
	fmt.Fprintf(w, "<html><head><title>%[1]d %[2]s</title></head><body><center><h1>%[1]d %[2]s</h1></center></body></html>\n", ref.Status, http.StatusText(ref.Status))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.route(r).write(w)
}

// Routes, as deSEC's URL configuration has them; every one ends with a slash.
var (
	domainsPath = regexp.MustCompile(`^` + BasePath + `/domains/$`)
	domainPath  = regexp.MustCompile(`^` + BasePath + `/domains/([^/]+)/$`)
	rrsetsPath  = regexp.MustCompile(`^` + BasePath + `/domains/([^/]+)/rrsets/$`)
	rrsetPath   = regexp.MustCompile(`^` + BasePath + `/domains/([^/]+)/rrsets/([^/]*)/([^/]+)/$`)
)

func (s *Server) route(r *http.Request) reply {
	p := r.URL.Path
	matches := func(path string) bool {
		return domainsPath.MatchString(path) || domainPath.MatchString(path) || rrsetsPath.MatchString(path) || rrsetPath.MatchString(path)
	}
	if !matches(p) {
		if !strings.HasSuffix(p, "/") && matches(p+"/") {
			// Django's APPEND_SLASH, before any view (so before authentication): libdns/desec asks for single RRsets
			// without the slash and follows this redirect.
			loc := p + "/"
			if r.URL.RawQuery != "" {
				loc += "?" + r.URL.RawQuery
			}
			return reply{status: http.StatusMovedPermanently, header: http.Header{"Location": {loc}}}
		}
		return reply{status: http.StatusNotFound, header: http.Header{"Content-Type": {"text/html"}}, body: nil}
	}
	if rep, ok := s.authenticate(r); !ok {
		return rep
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return detail(http.StatusBadRequest, "could not read the request body")
	}
	switch {
	case domainsPath.MatchString(p):
		if r.Method != http.MethodGet {
			return methodNotAllowed(r.Method)
		}
		return s.listDomains(r)
	case domainPath.MatchString(p):
		m := domainPath.FindStringSubmatch(p)
		if r.Method != http.MethodGet {
			return methodNotAllowed(r.Method)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if d := s.domains[m[1]]; d != nil {
			return reply{status: http.StatusOK, body: d.info}
		}
		return notFound()
	case rrsetsPath.MatchString(p):
		name := rrsetsPath.FindStringSubmatch(p)[1]
		switch r.Method {
		case http.MethodGet:
			return s.listRRsets(r, name)
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			return s.writeCollection(r.Context(), r.Method, name, body)
		}
		return methodNotAllowed(r.Method)
	default:
		m := rrsetPath.FindStringSubmatch(p)
		sub := m[2]
		switch {
		case sub == "@" || sub == "...":
			sub = ""
		case strings.HasSuffix(sub, "..."):
			sub = strings.TrimSuffix(sub, "...")
		}
		switch r.Method {
		case http.MethodGet:
			return s.getRRset(m[1], sub, m[3])
		case http.MethodPut, http.MethodPatch, http.MethodDelete:
			return s.writeDetail(r.Context(), r.Method, m[1], sub, m[3], body)
		}
		return methodNotAllowed(r.Method)
	}
}

func methodNotAllowed(method string) reply {
	return detail(http.StatusMethodNotAllowed, fmt.Sprintf("Method \"%s\" not allowed.", method))
}

// authenticate implements DRF's token authentication as deSEC uses it. An unknown token is echoed back, which
// deSEC does not do: the webhook's redaction of secrets from errors is tested against it.
func (s *Server) authenticate(r *http.Request) (reply, bool) {
	unauthorized := func(msg string) (reply, bool) {
		rep := detail(http.StatusUnauthorized, msg)
		rep.header = http.Header{"Www-Authenticate": {"Token"}}
		return rep, false
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Token") {
		return unauthorized("Authentication credentials were not provided.")
	}
	switch {
	case token == "":
		return unauthorized("Invalid token header. No credentials provided.")
	case strings.Contains(token, " "):
		return unauthorized("Invalid token header. Token string should not contain spaces.")
	}
	s.mu.Lock()
	known := s.cfg.tokens[token]
	s.mu.Unlock()
	if !known {
		return unauthorized(fmt.Sprintf("Invalid token %q.", token))
	}
	return reply{}, true
}

// paginate applies deSEC's cursor pagination: up to pageSize items are returned plainly; beyond that a request
// without ?cursor= is refused with 400 and a Link to the first page, and pages carry first/prev/next Links.
func (s *Server) paginate(r *http.Request, items []any) reply {
	n := s.cfg.pageSize
	if len(items) <= n {
		return reply{status: http.StatusOK, body: items}
	}
	q := r.URL.Query()
	link := func(offset int) string {
		q2 := cloneQuery(q)
		q2.Set("cursor", "")
		if offset > 0 {
			q2.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte("o="+strconv.Itoa(offset))))
		}
		return fmt.Sprintf("https://%s%s?%s", r.Host, r.URL.Path, q2.Encode())
	}
	if !q.Has("cursor") {
		rep := detail(http.StatusBadRequest, fmt.Sprintf("Pagination required. You can query up to %d items at a time (%d total). Please use the `first` page link (see Link header).", n, len(items)))
		rep.header = http.Header{"Link": {fmt.Sprintf(`<%s>; rel="first"`, link(0))}}
		return rep
	}
	offset := 0
	if c := q.Get("cursor"); c != "" {
		raw, decErr := base64.RawURLEncoding.DecodeString(c)
		v, ok := strings.CutPrefix(string(raw), "o=")
		var err error
		if offset, err = strconv.Atoi(v); decErr != nil || err != nil || !ok || offset < 0 || offset >= len(items) {
			return detail(http.StatusNotFound, "Invalid cursor")
		}
	}
	end := min(offset+n, len(items))
	links := []string{fmt.Sprintf(`<%s>; rel="first"`, link(0))}
	if offset > 0 {
		links = append(links, fmt.Sprintf(`<%s>; rel="prev"`, link(max(offset-n, 0))))
	}
	if end < len(items) {
		links = append(links, fmt.Sprintf(`<%s>; rel="next"`, link(end)))
	}
	return reply{status: http.StatusOK, header: http.Header{"Link": {strings.Join(links, ", ")}}, body: items[offset:end]}
}

func cloneQuery(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// listDomains lists the account's domains; ?owns_qname= narrows it to the domain responsible for that name.
func (s *Server) listDomains(r *http.Request) reply {
	s.mu.Lock()
	all := sortedDomains(s.domains)
	s.mu.Unlock()
	items := []any{}
	if q := r.URL.Query(); q.Has("owns_qname") {
		qname := domainName(q.Get("owns_qname"))
		var best *domain
		for _, d := range all {
			if (qname == d.info.Name || strings.HasSuffix(qname, "."+d.info.Name)) && (best == nil || len(d.info.Name) > len(best.info.Name)) {
				best = d
			}
		}
		if best != nil {
			items = append(items, best.info)
		}
		return reply{status: http.StatusOK, body: items}
	}
	for _, d := range all {
		items = append(items, d.info)
	}
	return s.paginate(r, items)
}

func (s *Server) listRRsets(r *http.Request, name string) reply {
	q := r.URL.Query()
	s.mu.Lock()
	d := s.domains[name]
	var sets []RRset
	if d != nil {
		sets = d.listLocked()
	}
	s.mu.Unlock()
	if d == nil {
		return notFound()
	}
	items := []any{}
	for _, set := range sets {
		if (!q.Has("subname") || q.Get("subname") == set.Subname) && (!q.Has("type") || q.Get("type") == set.Type) {
			items = append(items, set)
		}
	}
	return s.paginate(r, items)
}

func (s *Server) getRRset(name, sub, typ string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domains[name]
	if d == nil {
		return notFound()
	}
	if set := d.find(sub, typ); set != nil {
		out := *set
		out.Records = slices.Clone(set.Records)
		return reply{status: http.StatusOK, body: out}
	}
	return notFound()
}

// input is one RRset of a write, its fields parsed; nil means absent.
type input struct {
	subname *string
	typ     *string
	ttl     *int
	records *[]string
}

// parseInput decodes one RRset object, reporting type errors per field as DRF words them.
func parseInput(raw json.RawMessage, errs fieldErrors) (input, bool) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		errs.add(nonField, "Invalid data. Expected a dictionary, but got "+jsonKind(raw)+".")
		return input{}, false
	}
	var in input
	str := func(key string) *string {
		v, ok := fields[key]
		if !ok {
			return nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			errs.add(key, "Not a valid string.")
			return nil
		}
		return &s
	}
	in.subname, in.typ = str("subname"), str("type")
	if v, ok := fields["ttl"]; ok {
		var n int
		if err := json.Unmarshal(v, &n); err != nil {
			errs.add("ttl", "A valid integer is required.")
		} else {
			in.ttl = &n
		}
	}
	if v, ok := fields["records"]; ok {
		var recs []string
		if err := json.Unmarshal(v, &recs); err != nil {
			errs.add("records", "Expected a list of items but got type \""+jsonKind(v)+"\".")
		} else {
			if recs == nil {
				recs = []string{}
			}
			in.records = &recs
		}
	}
	return in, len(errs) == 0
}

func jsonKind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '[':
		return "list"
	case '{':
		return "dict"
	case '"':
		return "str"
	case 't', 'f':
		return "bool"
	case 'n':
		return "NoneType"
	}
	return "int"
}

// manageable lists the types deSEC lets users write; automatic the ones it manages itself.
var (
	manageable = []string{"A", "AAAA", "AFSDB", "APL", "CAA", "CDNSKEY", "CDS", "CERT", "CNAME", "DHCID", "DNAME",
		"DS", "EUI48", "EUI64", "HINFO", "HTTPS", "KX", "L32", "L64", "LOC", "LP", "MX", "NAPTR", "NID", "NS",
		"OPENPGPKEY", "PTR", "RP", "SMIMEA", "SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", "URI"}
	automatic = []string{"DNSKEY", "NSEC3PARAM", "RRSIG", "SOA", "NSEC", "NSEC3", "CDNSKEY"}
	subnameRE = regexp.MustCompile(`^(\*|(\*\.)?([a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63})?$`)
)

type writeMode int

const (
	modePost writeMode = iota
	modePut
	modePatch
)

// validate checks one RRset of a write against the domain and the RRset it names (known; nil if none), and
// returns the RRset to store (records nil: delete) or the field errors.
func validate(d *domain, in input, known *RRset, mode writeMode, bulk bool, errs fieldErrors) RRset {
	required := func(field string, present bool) {
		if !present {
			errs.add(field, "This field is required.")
		}
	}
	creating := known == nil && (in.records == nil || len(*in.records) > 0)
	if bulk {
		// deSEC's serializer gives subname its default only outside bulk requests.
		required("subname", in.subname != nil)
	}
	required("type", in.typ != nil)
	if mode != modePatch || creating {
		required("ttl", in.ttl != nil)
		required("records", in.records != nil)
	}
	out := RRset{Domain: d.info.Name}
	if known != nil {
		out = *known
		out.Records = slices.Clone(known.Records)
	}
	if in.subname != nil {
		out.Subname = *in.subname
		if !subnameRE.MatchString(out.Subname) {
			errs.add("subname", "Subname can only use (lowercase) a-z, 0-9, ., -, and _, may start with a '*.', or just be '*'. Components may not exceed 63 characters.")
		}
	}
	if in.typ != nil {
		out.Type = *in.typ
		switch {
		case slices.Contains(automatic, out.Type):
			errs.add("type", fmt.Sprintf("You cannot tinker with the %s RR set. It is managed automatically.", out.Type))
		case !slices.Contains(manageable, out.Type):
			errs.add("type", fmt.Sprintf("The %s RR set type is currently unsupported.", out.Type))
		}
	}
	if in.ttl != nil {
		out.TTL = *in.ttl
		if out.TTL < d.info.MinimumTTL {
			errs.add("ttl", fmt.Sprintf("Ensure this value is greater than or equal to %d.", d.info.MinimumTTL))
		} else if out.TTL > MaximumTTL {
			errs.add("ttl", fmt.Sprintf("Ensure this value is less than or equal to %d.", MaximumTTL))
		}
	}
	if in.records != nil {
		if mode == modePost && len(*in.records) == 0 {
			errs.add("records", "This field must not be empty when using POST.")
		}
		out.Records = make([]string, 0, len(*in.records))
		seen := map[string]bool{}
		for _, rec := range *in.records {
			c, err := canonical(out.Type, rec)
			if err != nil {
				msg := err.Error()
				errs.add(nonField, strings.ToUpper(msg[:1])+msg[1:])
				break
			}
			if seen[c] {
				errs.add(nonField, "Duplicate: records must be semantically unique")
				break
			}
			seen[c] = true
			out.Records = append(out.Records, c)
		}
	}
	if mode == modePost && known != nil {
		errs.add(nonField, "Another RRset with the same subdomain and type exists for this domain. (Try modifying it.)")
	}
	out.Name = out.Subname + "." + d.info.Name + "."
	if out.Subname == "" {
		out.Name = d.info.Name + "."
	}
	return out
}

// writeCollection is a write to rrsets/: POST creates one RRset or, given a list, several; PUT and PATCH need a
// list and create, replace or (with records []) delete each RRset named. All or nothing.
func (s *Server) writeCollection(ctx context.Context, method, name string, body []byte) reply {
	bulk := len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] == '['
	mode := map[string]writeMode{http.MethodPost: modePost, http.MethodPut: modePut, http.MethodPatch: modePatch}[method]
	if !bulk && mode != modePost {
		return reply{status: http.StatusBadRequest, body: fieldErrors{nonField: {"Expected a list of items but got " + jsonKind(body) + "."}}}
	}
	var raws []json.RawMessage
	if bulk {
		if err := json.Unmarshal(body, &raws); err != nil {
			return detail(http.StatusBadRequest, "JSON parse error - "+err.Error())
		}
	} else {
		if !json.Valid(body) {
			return detail(http.StatusBadRequest, "JSON parse error - invalid JSON")
		}
		raws = []json.RawMessage{body}
	}
	return s.write(ctx, name, mode, bulk, raws, nil)
}

// detailTarget is the RRset a detail URL names.
type detailTarget struct {
	subname, typ string
	delete       bool
}

// writeDetail is a write to rrsets/{subname}/{type}/: PUT replaces the RRset (all fields), PATCH changes the
// fields given, records [] or DELETE delete it (204 even if it did not exist).
func (s *Server) writeDetail(ctx context.Context, method, name, sub, typ string, body []byte) reply {
	if method == http.MethodDelete {
		body = []byte(`{"records": []}`)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return detail(http.StatusBadRequest, "JSON parse error - "+err.Error())
	}
	if method != http.MethodPut {
		// PATCH and DELETE take subname and type from the URL.
		fields["subname"], _ = json.Marshal(sub)
		fields["type"], _ = json.Marshal(typ)
	}
	raw, _ := json.Marshal(fields)
	mode := modePut
	if method != http.MethodPut {
		mode = modePatch
	}
	return s.write(ctx, name, mode, false, []json.RawMessage{raw}, &detailTarget{subname: sub, typ: typ, delete: method == http.MethodDelete})
}

// write validates every RRset of a write against the domain, then mirrors and stores the result. target names the
// RRset of a detail URL, which must exist unless the write is a DELETE.
func (s *Server) write(ctx context.Context, name string, mode writeMode, bulk bool, raws []json.RawMessage, target *detailTarget) reply {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	s.mu.Lock()
	d := s.domains[name]
	var before []RRset
	if d != nil {
		for _, r := range d.rrsets {
			c := *r
			c.Records = slices.Clone(r.Records)
			before = append(before, c)
		}
	}
	s.mu.Unlock()
	if d == nil {
		return notFound()
	}
	find := func(sub, typ string) *RRset {
		for i := range before {
			if before[i].Subname == sub && before[i].Type == typ {
				return &before[i]
			}
		}
		return nil
	}
	if target != nil && find(target.subname, target.typ) == nil {
		if target.delete {
			return reply{status: http.StatusNoContent} // deleting what does not exist succeeds
		}
		return notFound()
	}

	errs := make([]fieldErrors, len(raws))
	results := make([]RRset, len(raws))
	keys := map[[2]string][]int{}
	for i, raw := range raws {
		errs[i] = fieldErrors{}
		in, ok := parseInput(raw, errs[i])
		if !ok {
			continue
		}
		sub := ""
		if in.subname != nil {
			sub = *in.subname
		}
		if target != nil && mode == modePut && (in.subname == nil || sub != target.subname) {
			errs[i].add("subname", "This field is required and must match the URL.")
		}
		typ := ""
		if in.typ != nil {
			typ = *in.typ
		}
		keys[[2]string{sub, typ}] = append(keys[[2]string{sub, typ}], i)
		results[i] = validate(d, in, find(sub, typ), mode, bulk, errs[i])
	}
	for _, idx := range keys {
		if len(idx) < 2 {
			continue
		}
		for _, i := range idx {
			var others []string
			for _, j := range idx {
				if j != i {
					others = append(others, strconv.Itoa(j))
				}
			}
			errs[i].add(nonField, "Same subname and type as in position(s) "+strings.Join(others, ", ")+", but must be unique.")
		}
	}
	// CNAME exclusivity against the RRsets that remain.
	after := applyAll(before, results)
	for i, r := range results {
		if len(errs[i]) > 0 || len(r.Records) == 0 {
			continue
		}
		for _, o := range after {
			if o.Subname == r.Subname && o.Type != r.Type && (o.Type == "CNAME" || r.Type == "CNAME") {
				errs[i].add(nonField, fmt.Sprintf("RRset with conflicting type present: database (%s). (No other RRsets are allowed alongside CNAME.)", o.Type))
				break
			}
		}
	}
	if slices.ContainsFunc(errs, func(e fieldErrors) bool { return len(e) > 0 }) {
		if bulk {
			return reply{status: http.StatusBadRequest, body: errs}
		}
		return reply{status: http.StatusBadRequest, body: errs[0]}
	}

	if err := s.mirror(ctx, before, after); err != nil {
		return detail(http.StatusInternalServerError, "fakedesec: mirror: "+err.Error())
	}
	now := time.Now().UTC()
	s.mu.Lock()
	d.rrsets = d.rrsets[:0]
	for i := range after {
		r := after[i]
		if r.Created.IsZero() {
			r.Created = now
		}
		r.Touched = now
		d.rrsets = append(d.rrsets, &r)
	}
	d.info.Touched, d.info.Published = now, now
	var out []any
	for _, r := range results {
		if len(r.Records) > 0 {
			stored := *d.find(r.Subname, r.Type)
			stored.Records = slices.Clone(stored.Records)
			out = append(out, stored)
		}
	}
	s.mu.Unlock()

	switch {
	case mode == modePost && !bulk:
		return reply{status: http.StatusCreated, body: out[0]}
	case mode == modePost:
		return reply{status: http.StatusCreated, body: out}
	case bulk:
		if out == nil {
			out = []any{}
		}
		return reply{status: http.StatusOK, body: out}
	case len(out) == 0:
		return reply{status: http.StatusNoContent}
	}
	return reply{status: http.StatusOK, body: out[0]}
}

// applyAll returns before with each result applied: replaced (or created, at the end, so creation order holds),
// or deleted when it has no records.
func applyAll(before, results []RRset) []RRset {
	out := slices.Clone(before)
	for _, r := range results {
		i := slices.IndexFunc(out, func(o RRset) bool { return o.Subname == r.Subname && o.Type == r.Type })
		switch {
		case len(r.Records) == 0 && i >= 0:
			out = slices.Delete(out, i, i+1)
		case len(r.Records) == 0:
		case i >= 0:
			out[i] = r
		default:
			r.Created = time.Time{}
			out = append(out, r)
		}
	}
	return out
}

// mirror sends the TXT differences between before and after to the mirror, one name at a time, putting back the
// names already mirrored when one fails.
func (s *Server) mirror(ctx context.Context, before, after []RRset) error {
	m := s.cfg.mirror
	if m == nil {
		return nil
	}
	txt := func(sets []RRset) map[string]RRset {
		out := map[string]RRset{}
		for _, r := range sets {
			if r.Type == "TXT" {
				out[r.Name] = r
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
		if err := fakeapi.SyncTXT(ctx, m, n, txtTexts(old[n].Records), txtTexts(cur[n].Records), cur[n].TTL); err != nil {
			errs := []error{err}
			for _, dn := range done {
				errs = append(errs, fakeapi.SyncTXT(ctx, m, dn, txtTexts(cur[dn].Records), txtTexts(old[dn].Records), old[dn].TTL))
			}
			return errors.Join(errs...)
		}
		done = append(done, n)
	}
	return nil
}
