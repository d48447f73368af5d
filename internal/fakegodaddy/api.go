package fakegodaddy

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

	"github.com/delegate01/cert-manager-webhook-delegate/internal/fakeapi"
)

// ErrorBody is GoDaddy's error answer.
type ErrorBody struct {
	// Code is the machine-readable cause, e.g. "UNKNOWN_DOMAIN".
	Code string `json:"code"`
	// Message is the human-readable text.
	Message string `json:"message"`
	// Fields names the parts of the request that are wrong, for 422.
	Fields []ErrorField `json:"fields,omitempty"`
	// RetryAfterSec is how long to wait, for 429.
	RetryAfterSec int64 `json:"retryAfterSec,omitempty"`
}

// ErrorField is one entry of ErrorBody.Fields.
type ErrorField struct {
	// Code is the machine-readable cause, e.g. "UNEXPECTED_VALUE".
	Code string `json:"code"`
	// Message is the human-readable text.
	Message string `json:"message"`
	// Path is the JSONPath of the field, e.g. "records[0].ttl".
	Path string `json:"path"`
}

// knownTypes are the record types GoDaddy's records endpoints take.
var knownTypes = []string{"A", "AAAA", "CAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT"}

// reply is a computed answer; a nil body writes none.
type reply struct {
	status int
	body   any
}

func (rep reply) write(w http.ResponseWriter) {
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	fakeapi.WriteJSON(w, "fakegodaddy", rep.status, "application/json", rep.body)
}

func apiError(status int, code, msg string, fields ...ErrorField) reply {
	return reply{status: status, body: ErrorBody{Code: code, Message: msg, Fields: fields}}
}

func invalidBody(fields ...ErrorField) reply {
	return apiError(http.StatusUnprocessableEntity, "INVALID_BODY", "Request body doesn't fulfill schema, see details in `fields`", fields...)
}

func unknownDomain() reply {
	return apiError(http.StatusNotFound, "UNKNOWN_DOMAIN", "The given domain is not registered, or does not have a zone file")
}

func notFound() reply {
	return apiError(http.StatusNotFound, "NOT_FOUND", "The requested resource was not found")
}

// refuse answers fakeapi's faults in GoDaddy's shape: 429 TOO_MANY_REQUESTS with retryAfterSec (the Retry-After
// header fakeapi set says the same), 5xx INTERNAL_SERVER_ERROR.
func (s *Server) refuse(w http.ResponseWriter, _ *http.Request, ref fakeapi.Refusal) {
	if ref.Status == http.StatusTooManyRequests {
		reply{status: ref.Status, body: ErrorBody{Code: "TOO_MANY_REQUESTS", Message: "Too many requests received within interval",
			RetryAfterSec: fakeapi.RetryAfterSeconds(ref.RetryAfter)}}.write(w)
		return
	}
	apiError(ref.Status, "INTERNAL_SERVER_ERROR", "An unexpected error occurred").write(w)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		apiError(http.StatusBadRequest, "INVALID_BODY", "could not read the request body").write(w)
		return
	}
	if rep, ok := s.authenticate(r); !ok {
		rep.write(w)
		return
	}
	if s.cfg.denied {
		apiError(http.StatusForbidden, "ACCESS_DENIED", "Authenticated user is not allowed access").write(w)
		return
	}
	s.route(r, body).write(w)
}

// authenticate checks "sso-key key:secret". An unknown key or secret is echoed back, which GoDaddy does not do:
// the webhook's redaction of secrets from errors is tested against it.
func (s *Server) authenticate(r *http.Request) (reply, bool) {
	h := r.Header.Get("Authorization")
	cred, ok := strings.CutPrefix(h, "sso-key ")
	key, secret, pair := strings.Cut(cred, ":")
	if !ok || !pair || key == "" || secret == "" {
		return apiError(http.StatusUnauthorized, "MALFORMED_CREDENTIALS", fmt.Sprintf("Unauthorized : Credentials are missing or malformed (%q)", h)), false
	}
	s.mu.Lock()
	want, known := s.cfg.keys[key]
	s.mu.Unlock()
	if !known || want != secret {
		return apiError(http.StatusUnauthorized, "UNABLE_TO_AUTHENTICATE", fmt.Sprintf("Unauthorized : Could not authenticate API key/secret (%q)", h)), false
	}
	return reply{}, true
}

func (s *Server) route(r *http.Request, body []byte) reply {
	p, ok := strings.CutPrefix(r.URL.Path, "/v1/domains")
	if !ok || (p != "" && !strings.HasPrefix(p, "/")) {
		return notFound()
	}
	var parts []string
	if p = strings.Trim(p, "/"); p != "" {
		parts = strings.Split(p, "/")
	}
	for i, part := range parts {
		if u, err := url.PathUnescape(part); err == nil {
			parts[i] = u
		}
	}
	q := r.URL.Query()
	switch {
	case len(parts) == 0 && r.Method == http.MethodGet:
		return s.listDomains(q)
	case len(parts) == 1 && r.Method == http.MethodGet:
		return s.getDomain(parts[0])
	case len(parts) >= 2 && len(parts) <= 4 && parts[1] == "records" && r.Method == http.MethodGet:
		typ, name := "", ""
		if len(parts) > 2 {
			typ = strings.ToUpper(parts[2])
		}
		if len(parts) > 3 {
			name = strings.ToLower(parts[3])
		}
		return s.getRecords(parts[0], typ, name, q)
	case len(parts) == 4 && parts[1] == "records" && r.Method == http.MethodPut:
		return s.replace(r.Context(), parts[0], strings.ToUpper(parts[2]), strings.ToLower(parts[3]), body)
	case len(parts) == 4 && parts[1] == "records" && r.Method == http.MethodDelete:
		return s.delete(r.Context(), parts[0], strings.ToUpper(parts[2]), strings.ToLower(parts[3]))
	}
	return notFound()
}

func domainJSON(d *domain) map[string]any {
	return map[string]any{"domainId": d.id, "domain": d.name, "status": "ACTIVE", "expires": "2030-01-01T00:00:00.000Z",
		"renewAuto": true, "locked": true, "privacy": false}
}

// listDomains answers the account's domains sorted by name: at most limit (default and largest 1000) after the
// marker domain.
func (s *Server) listDomains(q url.Values) reply {
	limit := maxDomainsPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return apiError(http.StatusUnprocessableEntity, "INVALID_QUERY", "limit must be a positive integer",
				ErrorField{Code: "UNEXPECTED_VALUE", Message: "must be a positive integer", Path: "limit"})
		}
		limit = min(n, maxDomainsPage)
	}
	marker := domainName(q.Get("marker"))
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, d := range sortedDomains(s.domains) {
		if marker != "" && d.name <= marker {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, domainJSON(d))
	}
	return reply{status: http.StatusOK, body: out}
}

func (s *Server) getDomain(name string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domains[domainName(name)]
	if d == nil {
		return apiError(http.StatusNotFound, "NOT_FOUND", "Domain not found")
	}
	return reply{status: http.StatusOK, body: domainJSON(d)}
}

func checkType(typ string) *reply {
	if typ != "" && !slices.Contains(knownTypes, typ) {
		rep := apiError(http.StatusUnprocessableEntity, "INVALID_VALUE", "The record type is not supported: "+typ,
			ErrorField{Code: "UNEXPECTED_VALUE", Message: "must be one of " + strings.Join(knownTypes, ", "), Path: "type"})
		return &rep
	}
	return nil
}

// getRecords answers the records of a domain, of a type, or of a type and name, paged by offset (records to skip)
// and limit.
func (s *Server) getRecords(domainArg, typ, name string, q url.Values) reply {
	if rep := checkType(typ); rep != nil {
		return *rep
	}
	offset, limit := 0, maxRecordsPage
	for _, p := range []struct {
		key string
		to  *int
		min int
	}{{"offset", &offset, 0}, {"limit", &limit, 1}} {
		v := q.Get(p.key)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < p.min {
			return apiError(http.StatusUnprocessableEntity, "INVALID_QUERY", p.key+" is not valid",
				ErrorField{Code: "UNEXPECTED_VALUE", Message: fmt.Sprintf("must be an integer of at least %d", p.min), Path: p.key})
		}
		*p.to = n
	}
	limit = min(limit, maxRecordsPage)
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domains[domainName(domainArg)]
	if d == nil {
		return unknownDomain()
	}
	var all []Record
	for _, r := range d.records {
		if (typ == "" || r.Type == typ) && (name == "" || r.Name == name) {
			all = append(all, r)
		}
	}
	start, end := min(offset, len(all)), min(offset+limit, len(all))
	return reply{status: http.StatusOK, body: append([]Record{}, all[start:end]...)}
}

// recordInput is a record as a PUT of a type and name carries it: those come from the path.
type recordInput struct {
	Data *string `json:"data"`
	TTL  *int    `json:"ttl"`
}

// replace sets the records of a type and name to the ones given, as GoDaddy's PUT does.
func (s *Server) replace(ctx context.Context, domainArg, typ, name string, body []byte) reply {
	if rep := checkType(typ); rep != nil {
		return *rep
	}
	var in []recordInput
	if err := json.Unmarshal(body, &in); err != nil {
		return invalidBody(ErrorField{Code: "UNEXPECTED_TYPE", Message: "must be an array of records: " + err.Error(), Path: "records"})
	}
	if len(in) == 0 {
		return invalidBody(ErrorField{Code: "UNEXPECTED_VALUE", Message: "must hold at least one record", Path: "records"})
	}
	var recs []Record
	var bad []ErrorField
	for i, ri := range in {
		path := fmt.Sprintf("records[%d]", i)
		r := Record{Name: name, Type: typ, TTL: DefaultTTL}
		switch {
		case ri.Data == nil || strings.TrimSpace(*ri.Data) == "":
			bad = append(bad, ErrorField{Code: "MISSING_VALUE", Message: "is required and may not be empty", Path: path + ".data"})
		case slices.ContainsFunc(recs, func(o Record) bool { return o.Data == *ri.Data }):
			bad = append(bad, ErrorField{Code: "DUPLICATE_VALUE", Message: "is given twice", Path: path + ".data"})
		default:
			r.Data = *ri.Data
		}
		if ri.TTL != nil {
			r.TTL = *ri.TTL
			if r.TTL < MinTTL || r.TTL > 604800 {
				bad = append(bad, ErrorField{Code: "UNEXPECTED_VALUE", Message: fmt.Sprintf("must be between %d and 604800", MinTTL), Path: path + ".ttl"})
			}
		}
		recs = append(recs, r)
	}
	if len(bad) > 0 {
		return invalidBody(bad...)
	}
	return s.change(ctx, domainArg, typ, name, func([]Record) ([]Record, *reply) { return recs, nil }, http.StatusOK)
}

// delete removes every record of a type and name; none there is 404.
func (s *Server) delete(ctx context.Context, domainArg, typ, name string) reply {
	if rep := checkType(typ); rep != nil {
		return *rep
	}
	return s.change(ctx, domainArg, typ, name, func(cur []Record) ([]Record, *reply) {
		if len(cur) == 0 {
			rep := notFound()
			return nil, &rep
		}
		return nil, nil
	}, http.StatusNoContent)
}

// change replaces the records of (typ, name) in the domain by what fn returns for the current ones, mirroring the
// TXT difference before the store changes. The new records take the place of the first old one, else go last.
func (s *Server) change(ctx context.Context, domainArg, typ, name string, fn func(cur []Record) ([]Record, *reply), status int) reply {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	d := s.domains[domainName(domainArg)]
	if d == nil {
		s.mu.Unlock()
		return unknownDomain()
	}
	var cur []Record
	at := -1
	var rest []Record
	for _, r := range d.records {
		if r.Type == typ && r.Name == name {
			if at < 0 {
				at = len(rest)
			}
			cur = append(cur, r)
			continue
		}
		rest = append(rest, r)
	}
	s.mu.Unlock()
	next, rep := fn(cur)
	if rep != nil {
		return *rep
	}
	if typ == "TXT" && s.cfg.mirror != nil {
		ttl := DefaultTTL
		if len(next) > 0 {
			ttl = next[0].TTL
		}
		if err := fakeapi.SyncTXT(ctx, s.cfg.mirror, absName(name, d.name)+".", datas(cur), datas(next), ttl); err != nil {
			return apiError(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "fakegodaddy: mirror: "+err.Error())
		}
	}
	if at < 0 {
		at = len(rest)
	}
	s.mu.Lock()
	d.records = slices.Concat(rest[:at], next, rest[at:])
	s.mu.Unlock()
	return reply{status: status}
}

func datas(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Data
	}
	return out
}
