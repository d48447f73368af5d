package fakeroute53

import (
	"bytes"
	"context"
	"encoding/xml"
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

// Bodies. Field order follows Route 53's schema, which the SDK's decoder does not need but people reading a
// captured answer expect.

type xmlHostedZone struct {
	ID              string `xml:"Id"`
	Name            string `xml:"Name"`
	CallerReference string `xml:"CallerReference"`
	Config          struct {
		PrivateZone bool `xml:"PrivateZone"`
	} `xml:"Config"`
	ResourceRecordSetCount int `xml:"ResourceRecordSetCount"`
}

type listHostedZonesResponse struct {
	XMLName     xml.Name        `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ListHostedZonesResponse"`
	HostedZones []xmlHostedZone `xml:"HostedZones>HostedZone"`
	Marker      string          `xml:"Marker,omitempty"`
	IsTruncated bool            `xml:"IsTruncated"`
	NextMarker  string          `xml:"NextMarker,omitempty"`
	MaxItems    int             `xml:"MaxItems"`
}

type listHostedZonesByNameResponse struct {
	XMLName          xml.Name        `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ListHostedZonesByNameResponse"`
	HostedZones      []xmlHostedZone `xml:"HostedZones>HostedZone"`
	DNSName          string          `xml:"DNSName,omitempty"`
	HostedZoneID     string          `xml:"HostedZoneId,omitempty"`
	IsTruncated      bool            `xml:"IsTruncated"`
	NextDNSName      string          `xml:"NextDNSName,omitempty"`
	NextHostedZoneID string          `xml:"NextHostedZoneId,omitempty"`
	MaxItems         int             `xml:"MaxItems"`
}

type getHostedZoneResponse struct {
	XMLName       xml.Name      `xml:"https://route53.amazonaws.com/doc/2013-04-01/ GetHostedZoneResponse"`
	HostedZone    xmlHostedZone `xml:"HostedZone"`
	DelegationSet *struct {
		NameServers []string `xml:"NameServers>NameServer"`
	} `xml:"DelegationSet,omitempty"`
}

// xmlRR is one ResourceRecord. A []string tagged ResourceRecords>ResourceRecord>Value would not do:
// encoding/xml shares the parent elements of consecutive values and writes one ResourceRecord holding several
// Values, of which the SDK keeps the last.
type xmlRR struct {
	Value string `xml:"Value"`
}

type xmlRRSet struct {
	Name            string  `xml:"Name"`
	Type            string  `xml:"Type"`
	TTL             *int64  `xml:"TTL"`
	ResourceRecords []xmlRR `xml:"ResourceRecords>ResourceRecord"`
	// Fields the fake does not implement; a change that sets them is refused rather than misread.
	SetIdentifier string    `xml:"SetIdentifier,omitempty"`
	AliasTarget   *struct{} `xml:"AliasTarget,omitempty"`
}

type listRRSetsResponse struct {
	XMLName        xml.Name   `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ListResourceRecordSetsResponse"`
	RRSets         []xmlRRSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated    bool       `xml:"IsTruncated"`
	NextRecordName string     `xml:"NextRecordName,omitempty"`
	NextRecordType string     `xml:"NextRecordType,omitempty"`
	MaxItems       int        `xml:"MaxItems"`
}

type changeRequest struct {
	XMLName     xml.Name `xml:"ChangeResourceRecordSetsRequest"`
	ChangeBatch struct {
		Comment string `xml:"Comment"`
		Changes []struct {
			Action string    `xml:"Action"`
			RRSet  *xmlRRSet `xml:"ResourceRecordSet"`
		} `xml:"Changes>Change"`
	} `xml:"ChangeBatch"`
}

type xmlChangeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
	Comment     string `xml:"Comment,omitempty"`
}

type changeResponse struct {
	XMLName    xml.Name      `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ChangeResourceRecordSetsResponse"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

type getChangeResponse struct {
	XMLName    xml.Name      `xml:"https://route53.amazonaws.com/doc/2013-04-01/ GetChangeResponse"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

// ErrorResponse is Route 53's error body.
type ErrorResponse struct {
	XMLName xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ErrorResponse"`
	// Error is the one error.
	Error struct {
		// Type is "Sender" for the client's errors, "Receiver" for the service's.
		Type string `xml:"Type"`
		// Code is the error code, e.g. "InvalidChangeBatch".
		Code string `xml:"Code"`
		// Message is the human-readable text.
		Message string `xml:"Message"`
	} `xml:"Error"`
	// RequestID identifies the request.
	RequestID string `xml:"RequestId"`
}

// reply is a computed answer.
type reply struct {
	status int
	body   any
}

func ok(body any) reply { return reply{status: http.StatusOK, body: body} }

func apiError(status int, code, msg string) reply {
	e := ErrorResponse{RequestID: requestID()}
	e.Error.Type = "Sender"
	if status >= 500 {
		e.Error.Type = "Receiver"
	}
	e.Error.Code, e.Error.Message = code, msg
	return reply{status: status, body: e}
}

func invalidInput(msg string) reply { return apiError(http.StatusBadRequest, "InvalidInput", msg) }

// invalidChangeBatch is Route 53's answer to a batch it refuses: the messages of every change that fails,
// bracketed, in one ErrorResponse (the AWS CLI shows it as "[Tried to create … but it already exists]"). Route
// 53 also has a <InvalidChangeBatch><Messages> form, which the SDK decodes specially; this fake does not use it.
func invalidChangeBatch(msgs []string) reply {
	return apiError(http.StatusBadRequest, "InvalidChangeBatch", "["+strings.Join(msgs, ", ")+"]")
}

func noSuchHostedZone(id string) reply {
	return apiError(http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: "+id)
}

func requestID() string {
	id := strings.ToLower(newID(32))
	return id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
}

func (rep reply) write(w http.ResponseWriter) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(rep.body); err != nil {
		http.Error(w, "fakeroute53: encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if e, ok := rep.body.(ErrorResponse); ok {
		w.Header().Set("X-Amzn-Requestid", e.RequestID)
	} else {
		w.Header().Set("X-Amzn-Requestid", requestID())
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(rep.status)
	_, _ = w.Write(buf.Bytes())
}

// refuse answers the fakeapi faults: throttling as Route 53 does (HTTP 400, code Throttling, no Retry-After;
// the SDK's retryer backs off on its own), 5xx as the service's errors.
func (s *Server) refuse(w http.ResponseWriter, _ *http.Request, ref fakeapi.Refusal) {
	if ref.Status == http.StatusTooManyRequests {
		w.Header().Del("Retry-After")
		apiError(s.cfg.throttleStatus, "Throttling", "Rate exceeded").write(w)
		return
	}
	code, msg := "InternalFailure", "We encountered an internal error. Please try again."
	if ref.Status == http.StatusServiceUnavailable {
		code, msg = "ServiceUnavailable", "Service Unavailable"
	}
	apiError(ref.Status, code, msg).write(w)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		invalidInput("could not read the request body").write(w)
		return
	}
	if rep, ok := s.authenticate(r, body); !ok {
		rep.write(w)
		return
	}
	s.route(r, body).write(w)
}

func (s *Server) route(r *http.Request, body []byte) reply {
	parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/"), "/")
	if len(parts) < 2 || parts[0] != APIVersion {
		return apiError(http.StatusNotFound, "UnknownOperationException", "")
	}
	q := r.URL.Query()
	get := r.Method == http.MethodGet
	switch {
	case parts[1] == "hostedzone" && len(parts) == 2 && get:
		return s.listHostedZones(q)
	case parts[1] == "hostedzonesbyname" && len(parts) == 2 && get:
		return s.listHostedZonesByName(q)
	case parts[1] == "hostedzone" && len(parts) == 3 && get:
		return s.getHostedZone(parts[2])
	case parts[1] == "hostedzone" && len(parts) == 4 && parts[3] == "rrset" && get:
		return s.listRRSets(parts[2], q)
	case parts[1] == "hostedzone" && len(parts) == 4 && parts[3] == "rrset" && r.Method == http.MethodPost:
		return s.changeRRSets(r.Context(), parts[2], body)
	case parts[1] == "change" && len(parts) == 3 && get:
		return s.getChange(parts[2])
	}
	return apiError(http.StatusNotFound, "UnknownOperationException", "")
}

func (s *Server) hostedZoneLocked(z *zone) xmlHostedZone {
	h := xmlHostedZone{ID: "/hostedzone/" + z.id, Name: presentName(z.name), CallerReference: z.callerRef, ResourceRecordSetCount: len(z.sets)}
	h.Config.PrivateZone = z.private
	return h
}

// maxItems parses the maxitems parameter: absent is the largest page, more is clamped, anything else but a
// positive number is InvalidInput.
func maxItems(q url.Values, largest int) (int, *reply) {
	v := q.Get("maxitems")
	if v == "" {
		return largest, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		rep := invalidInput(fmt.Sprintf("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must be a positive integer", v))
		return 0, &rep
	}
	return min(n, largest), nil
}

// listHostedZones pages through the zones in creation order; the marker is the ID of the first zone of the
// next page, as Route 53's NextMarker is.
func (s *Server) listHostedZones(q url.Values) reply {
	n, bad := maxItems(q, s.cfg.zonePage)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	start := 0
	if m := q.Get("marker"); m != "" {
		start = slices.IndexFunc(s.zones, func(z *zone) bool { return z.id == m })
		if start < 0 {
			return invalidInput("Invalid marker: " + m)
		}
	}
	resp := listHostedZonesResponse{Marker: q.Get("marker"), MaxItems: n, HostedZones: []xmlHostedZone{}}
	for i := start; i < len(s.zones); i++ {
		if len(resp.HostedZones) == n {
			resp.IsTruncated, resp.NextMarker = true, s.zones[i].id
			break
		}
		resp.HostedZones = append(resp.HostedZones, s.hostedZoneLocked(s.zones[i]))
	}
	return ok(resp)
}

// listHostedZonesByName lists zones sorted by name with the labels reversed (then by ID), starting at dnsname
// (and hostedzoneid among zones of that name).
func (s *Server) listHostedZonesByName(q url.Values) reply {
	n, bad := maxItems(q, s.cfg.zonePage)
	if bad != nil {
		return *bad
	}
	dnsName, zoneID := q.Get("dnsname"), q.Get("hostedzoneid")
	if zoneID != "" && dnsName == "" {
		return invalidInput("The input is not valid: hostedzoneid requires dnsname")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	zones := slices.Clone(s.zones)
	slices.SortFunc(zones, func(a, b *zone) int {
		if c := strings.Compare(sortKey(a.name), sortKey(b.name)); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	resp := listHostedZonesByNameResponse{DNSName: dnsName, HostedZoneID: zoneID, MaxItems: n, HostedZones: []xmlHostedZone{}}
	startKey := ""
	if dnsName != "" {
		startKey = sortKey(canonicalName(dnsName))
	}
	for _, z := range zones {
		k := sortKey(z.name)
		if k < startKey || (k == startKey && zoneID != "" && z.id < strings.TrimPrefix(zoneID, "/hostedzone/")) {
			continue
		}
		if len(resp.HostedZones) == n {
			resp.IsTruncated, resp.NextDNSName, resp.NextHostedZoneID = true, presentName(z.name), z.id
			break
		}
		resp.HostedZones = append(resp.HostedZones, s.hostedZoneLocked(z))
	}
	return ok(resp)
}

func (s *Server) getHostedZone(id string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByIDLocked(id)
	if z == nil {
		return noSuchHostedZone(id)
	}
	resp := getHostedZoneResponse{HostedZone: s.hostedZoneLocked(z)}
	if !z.private {
		resp.DelegationSet = &struct {
			NameServers []string `xml:"NameServers>NameServer"`
		}{NameServers: nameServers(z.id)}
	}
	return ok(resp)
}

// listRRSets pages through a zone's RRsets in Route 53's order, starting at (name, type).
func (s *Server) listRRSets(id string, q url.Values) reply {
	n, bad := maxItems(q, s.cfg.rrsetPage)
	if bad != nil {
		return *bad
	}
	name, typ := q.Get("name"), q.Get("type")
	if typ != "" && name == "" {
		return invalidInput("The input is not valid: the type parameter requires the name parameter")
	}
	if q.Get("identifier") != "" && typ == "" {
		return invalidInput("The input is not valid: the identifier parameter requires the type parameter")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByIDLocked(id)
	if z == nil {
		return noSuchHostedZone(id)
	}
	resp := listRRSetsResponse{MaxItems: n, RRSets: []xmlRRSet{}}
	start := RRSet{Name: canonicalName(name), Type: typ}
	for _, set := range z.sets {
		if name != "" && compareSets(set, start) < 0 {
			continue
		}
		if len(resp.RRSets) == n {
			resp.IsTruncated, resp.NextRecordName, resp.NextRecordType = true, presentName(set.Name), set.Type
			break
		}
		ttl := set.TTL
		rrs := make([]xmlRR, len(set.Values))
		for i, v := range set.Values {
			rrs[i].Value = v
		}
		resp.RRSets = append(resp.RRSets, xmlRRSet{Name: presentName(set.Name), Type: set.Type, TTL: &ttl, ResourceRecords: rrs})
	}
	return ok(resp)
}

func (s *Server) getChange(id string) reply {
	id = strings.TrimPrefix(id, "/change/")
	s.mu.Lock()
	c := s.changes[id]
	s.mu.Unlock()
	if c == nil {
		return apiError(http.StatusNotFound, "NoSuchChange", "A change with the specified change ID does not exist.")
	}
	status := "PENDING"
	if !s.now().Before(c.submitted.Add(s.cfg.syncDelay)) {
		status = "INSYNC"
	}
	return ok(getChangeResponse{ChangeInfo: xmlChangeInfo{ID: "/change/" + c.id, Status: status, SubmittedAt: c.submitted.Format(time.RFC3339Nano), Comment: c.comment}})
}

var knownTypes = []string{"A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT"}

// changeRRSets applies a batch atomically: every change is checked against the state the earlier changes of the
// batch leave, and only if all pass is the result mirrored and stored.
func (s *Server) changeRRSets(ctx context.Context, id string, body []byte) reply {
	var req changeRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return invalidInput("Invalid XML ; " + err.Error())
	}
	if len(req.ChangeBatch.Changes) == 0 {
		return invalidInput("1 validation error detected: Value null at 'changeBatch.changes' failed to satisfy constraint: Member must not be null")
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	s.mu.Lock()
	z := s.zoneByIDLocked(id)
	if z == nil {
		s.mu.Unlock()
		return noSuchHostedZone(id)
	}
	zoneName := z.name
	before := slices.Clone(z.sets)
	s.mu.Unlock()

	sets := slices.Clone(before)
	var msgs []string
	for _, c := range req.ChangeBatch.Changes {
		rep, msg := applyChange(&sets, zoneName, c.Action, c.RRSet)
		if rep != nil {
			return *rep
		}
		if msg != "" {
			msgs = append(msgs, msg)
		}
	}
	if len(msgs) > 0 {
		return invalidChangeBatch(msgs)
	}
	slices.SortFunc(sets, compareSets)

	if err := s.mirrorTXT(ctx, before, sets); err != nil {
		return apiError(http.StatusInternalServerError, "InternalFailure", "fakeroute53: mirror: "+err.Error())
	}
	c := &change{id: "C" + newID(20), submitted: s.now(), comment: req.ChangeBatch.Comment}
	s.mu.Lock()
	z.sets = sets
	s.changes[c.id] = c
	s.mu.Unlock()
	return ok(changeResponse{ChangeInfo: xmlChangeInfo{ID: "/change/" + c.id, Status: "PENDING", SubmittedAt: c.submitted.Format(time.RFC3339Nano), Comment: c.comment}})
}

// applyChange applies one change to sets. A malformed change is an InvalidInput reply (Route 53 stops at the
// first); a change that conflicts with the zone is a message for InvalidChangeBatch (Route 53 reports them all).
func applyChange(sets *[]RRSet, zoneName, action string, in *xmlRRSet) (*reply, string) {
	if in == nil {
		rep := invalidInput("Invalid XML ; ResourceRecordSet is required")
		return &rep, ""
	}
	if !slices.Contains([]string{"CREATE", "DELETE", "UPSERT"}, action) {
		rep := invalidInput(fmt.Sprintf("Invalid XML ; cvc-enumeration-valid: Value '%s' is not facet-valid with respect to enumeration '[CREATE, DELETE, UPSERT]'.", action))
		return &rep, ""
	}
	if in.SetIdentifier != "" || in.AliasTarget != nil {
		rep := invalidInput("fakeroute53: alias and routing-policy record sets are not implemented")
		return &rep, ""
	}
	name := canonicalName(in.Name)
	if !slices.Contains(knownTypes, in.Type) {
		rep := invalidInput(fmt.Sprintf("Invalid XML ; cvc-enumeration-valid: Value '%s' is not facet-valid with respect to enumeration.", in.Type))
		return &rep, ""
	}
	if in.TTL == nil || len(in.ResourceRecords) == 0 {
		rep := invalidInput(fmt.Sprintf("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=null]", action, presentName(name), in.Type))
		return &rep, ""
	}
	if *in.TTL < 0 || *in.TTL > 2147483647 {
		rep := invalidInput(fmt.Sprintf("1 validation error detected: Value '%d' at 'changeBatch.changes.resourceRecordSet.tTL' failed to satisfy constraint: Member must have value between 0 and 2147483647", *in.TTL))
		return &rep, ""
	}
	if name != zoneName && !strings.HasSuffix(name, "."+zoneName) {
		return nil, fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", presentName(name), presentName(zoneName))
	}
	values := make([]string, len(in.ResourceRecords))
	for i, rr := range in.ResourceRecords {
		values[i] = rr.Value
	}
	if msg := checkValues(in.Type, values); msg != "" {
		return nil, msg
	}
	set := RRSet{Name: name, Type: in.Type, TTL: *in.TTL, Values: values}
	i := slices.IndexFunc(*sets, func(o RRSet) bool { return o.Name == name && o.Type == in.Type })
	ident := fmt.Sprintf("[name='%s', type='%s']", presentName(name), in.Type)
	switch action {
	case "CREATE":
		if i >= 0 {
			return nil, "Tried to create resource record set " + ident + " but it already exists"
		}
	case "DELETE":
		if i < 0 {
			return nil, "Tried to delete resource record set " + ident + " but it was not found"
		}
		if !sameSet((*sets)[i], set) {
			return nil, "Tried to delete resource record set " + ident + " but the values provided do not match the current values"
		}
		if name == zoneName && (in.Type == "NS" || in.Type == "SOA") {
			return nil, fmt.Sprintf("A HostedZone must contain exactly one SOA record and at least one NS record for the zone itself; the %s record set of %s cannot be deleted", in.Type, presentName(zoneName))
		}
		*sets = slices.Delete(*sets, i, i+1)
		return nil, ""
	}
	// CREATE and UPSERT: a CNAME excludes every other type at its name.
	for _, o := range *sets {
		if o.Name == name && o.Type != in.Type && (o.Type == "CNAME" || in.Type == "CNAME") {
			return nil, fmt.Sprintf("RRSet of type %s with DNS name %s is not permitted because a conflicting RRSet of type %s with the same DNS name already exists in zone %s", in.Type, presentName(name), o.Type, presentName(zoneName))
		}
	}
	if i >= 0 {
		(*sets)[i] = set
	} else {
		*sets = append(*sets, set)
	}
	return nil, ""
}

// checkValues validates record values as Route 53 does for the types DNS-01 touches: TXT and SPF values are one
// or more quoted character-strings of at most 255 bytes each; no two values of a set may be the same record.
func checkValues(typ string, values []string) string {
	seen := map[string]bool{}
	for _, v := range values {
		key := v
		if typ == "TXT" || typ == "SPF" {
			text, err := parseTXT(v)
			if err != nil {
				return fmt.Sprintf("Invalid Resource Record: 'FATAL problem: %s encountered with '%s''", err, v)
			}
			key = text
		} else if strings.TrimSpace(v) == "" {
			return "Invalid Resource Record: 'FATAL problem: DomainLabelEmpty encountered with ''"
		}
		if seen[key] {
			return fmt.Sprintf("Duplicate Resource Record: '%s'", v)
		}
		seen[key] = true
	}
	return ""
}

// sameSet reports whether a DELETE names the stored set exactly: TTL and values, in any order, TXT compared by
// the text the values carry.
func sameSet(stored, del RRSet) bool {
	if stored.TTL != del.TTL || len(stored.Values) != len(del.Values) {
		return false
	}
	a, b := stored.Values, del.Values
	if stored.Type == "TXT" || stored.Type == "SPF" {
		a, b = txtTexts(a), txtTexts(b)
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
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
		ttl := int(cur[n].TTL)
		if err := fakeapi.SyncTXT(ctx, m, n, txtTexts(old[n].Values), txtTexts(cur[n].Values), ttl); err != nil {
			var errs []error
			for _, d := range done {
				errs = append(errs, fakeapi.SyncTXT(ctx, m, d, txtTexts(cur[d].Values), txtTexts(old[d].Values), int(old[d].TTL)))
			}
			return errors.Join(append([]error{err}, errs...)...)
		}
		done = append(done, n)
	}
	return nil
}

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

// parseTXT returns the text a Route 53 TXT value carries: quoted character-strings separated by spaces, with
// \" and \\ escapes and \ooo octal escapes (Route 53 documents octal, not RFC 1035's decimal), joined.
func parseTXT(v string) (string, error) {
	s := strings.TrimSpace(v)
	if s == "" || s[0] != '"' {
		return "", errors.New("InvalidCharacterString (Value should be enclosed in quotation marks)")
	}
	var b strings.Builder
	for s != "" {
		if s[0] != '"' {
			return "", errors.New("InvalidCharacterString (Value should be enclosed in quotation marks)")
		}
		var part strings.Builder
		i, closed := 1, false
		for i < len(s) && !closed {
			switch c := s[i]; {
			case c == '"':
				closed = true
				i++
			case c == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]):
				n, _ := strconv.ParseUint(s[i+1:i+4], 8, 8)
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
			return "", errors.New("InvalidCharacterString (Value should be enclosed in quotation marks)")
		}
		if part.Len() > 255 {
			return "", errors.New("CharacterStringTooLong (Value is too long)")
		}
		b.WriteString(part.String())
		s = strings.TrimLeft(s[i:], " ")
	}
	return b.String(), nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
