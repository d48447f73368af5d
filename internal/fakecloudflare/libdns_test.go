package fakecloudflare

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libdns/cloudflare"
	"github.com/libdns/libdns"
)

// These tests drive the fake with the real client the project uses,
// github.com/libdns/cloudflare, unchanged but for its HTTPClient.

func txtTexts(recs []libdns.Record) []string {
	var out []string
	for _, r := range recs {
		if txt, ok := r.(libdns.TXT); ok {
			out = append(out, txt.Name+"="+txt.Text)
		}
	}
	slices.Sort(out)
	return out
}

func TestLibdnsAppendDeleteGet(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	p := &cloudflare.Provider{APIToken: testToken, HTTPClient: s.Client()}

	created, err := p.AppendRecords(ctx, "example.com.", []libdns.Record{
		libdns.TXT{Name: "_acme-challenge", Text: "value-one", TTL: 120 * time.Second},
		libdns.TXT{Name: "_acme-challenge", Text: "value-two", TTL: 120 * time.Second},
	})
	if err != nil {
		t.Fatalf("AppendRecords: %v", err)
	}
	if got, want := txtTexts(created), []string{"_acme-challenge=value-one", "_acme-challenge=value-two"}; !slices.Equal(got, want) {
		t.Errorf("created %q, want %q", got, want)
	}
	for _, r := range s.Records("example.com") {
		if r.Name != "_acme-challenge.example.com" || !strings.HasPrefix(r.Content, `"`) || r.TTL != 120 {
			t.Errorf("stored %+v: want the absolute name, quoted content and TTL 120", r)
		}
	}

	_, err = p.AppendRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "value-one"}})
	if err == nil || !strings.Contains(err.Error(), "81058") {
		t.Errorf("duplicate append: err %v, want one with 81058", err)
	}

	deleted, err := p.DeleteRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "value-one"}})
	if err != nil {
		t.Fatalf("DeleteRecords: %v", err)
	}
	if len(deleted) != 1 {
		t.Errorf("deleted %d records, want 1", len(deleted))
	}
	all, err := p.GetRecords(ctx, "example.com.")
	if err != nil {
		t.Fatalf("GetRecords: %v", err)
	}
	if got, want := txtTexts(all), []string{"_acme-challenge=value-two"}; !slices.Equal(got, want) {
		t.Errorf("after delete %q, want %q", got, want)
	}

	// Deleting what is gone is not an error for libdns: the lookup finds
	// nothing to delete.
	deleted, err = p.DeleteRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "_acme-challenge", Text: "value-one"}})
	if err != nil || len(deleted) != 0 {
		t.Errorf("second delete: %d records, err %v", len(deleted), err)
	}
	// The zone was looked up once, by the name as the caller spelled it;
	// the provider caches it.
	zoneLookups := 0
	for _, r := range s.Requests() {
		if r.Path == BasePath+"/zones" && r.Query.Get("name") == "example.com." {
			zoneLookups++
		}
	}
	if zoneLookups != 1 {
		t.Errorf("%d zone lookups, want 1", zoneLookups)
	}
}

func TestLibdnsSetRecords(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	p := &cloudflare.Provider{APIToken: testToken, HTTPClient: s.Client()}
	if _, err := p.SetRecords(ctx, "example.com.", []libdns.Record{libdns.CNAME{Name: "www", Target: "a.example.net.", TTL: time.Minute}}); err != nil {
		t.Fatalf("SetRecords create: %v", err)
	}
	if _, err := p.SetRecords(ctx, "example.com.", []libdns.Record{libdns.CNAME{Name: "www", Target: "b.example.net.", TTL: time.Minute}}); err != nil {
		t.Fatalf("SetRecords update: %v", err)
	}
	recs := s.Records("example.com")
	if len(recs) != 1 || recs[0].Content != "b.example.net" || recs[0].Type != "CNAME" {
		t.Errorf("records %+v, want one CNAME to b.example.net", recs)
	}
	if n := s.CountRequests("PATCH", ""); n != 1 {
		t.Errorf("%d PATCH requests, want 1", n)
	}
}

func TestLibdnsGetRecordsPaginates(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	p := &cloudflare.Provider{APIToken: testToken, HTTPClient: s.Client()}
	var recs []libdns.Record
	for i := range 130 {
		recs = append(recs, libdns.TXT{Name: fmt.Sprintf("r%03d", i), Text: "v"})
	}
	if _, err := p.AppendRecords(ctx, "example.com.", recs); err != nil {
		t.Fatalf("AppendRecords: %v", err)
	}
	got, err := p.GetRecords(ctx, "example.com.")
	if err != nil {
		t.Fatalf("GetRecords: %v", err)
	}
	if len(got) != 130 {
		t.Errorf("GetRecords returned %d records, want 130", len(got))
	}
	var pages []string
	for _, r := range s.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/dns_records") {
			pages = append(pages, r.Query.Get("page")+"/"+r.Query.Get("per_page"))
		}
	}
	if want := []string{"1/100", "2/100"}; !slices.Equal(pages, want) {
		t.Errorf("pages fetched %q, want %q", pages, want)
	}
}

func TestLibdnsListZones(t *testing.T) {
	s := newServer(t, WithZone("example.org."))
	p := &cloudflare.Provider{APIToken: testToken, HTTPClient: s.Client()}
	zones, err := p.ListZones(context.Background())
	if err != nil {
		t.Fatalf("ListZones: %v", err)
	}
	var names []string
	for _, z := range zones {
		names = append(names, z.Name)
	}
	if want := []string{"example.com.", "example.org."}; !slices.Equal(names, want) {
		t.Errorf("zones %q, want %q", names, want)
	}
}

func TestLibdnsZoneToken(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()

	// Zone token for the lookup, API token for the records: works.
	p := &cloudflare.Provider{APIToken: testToken, ZoneToken: zoneToken, HTTPClient: s.Client()}
	if _, err := p.AppendRecords(ctx, "example.com.", []libdns.Record{libdns.TXT{Name: "z", Text: "v"}}); err != nil {
		t.Fatalf("AppendRecords with zone token: %v", err)
	}

	// The zone token alone finds the zone but may not touch records.
	p = &cloudflare.Provider{APIToken: zoneToken, HTTPClient: s.Client()}
	_, err := p.GetRecords(ctx, "example.com.")
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "10000") {
		t.Errorf("records with the zone token: err %v, want HTTP 403 with 10000", err)
	}
}

func TestLibdnsErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		setup     func(*Server)
		token     string
		zone      string
		want      []string
		transient bool // the same call succeeds once the fault is spent
	}{
		{"wrong token", func(*Server) {}, "wrong-token", "example.com.", []string{"HTTP 403", "9109", "Invalid access token"}, false},
		{"rate limited", func(s *Server) { s.RateLimit(1, 30*time.Second) }, testToken, "example.com.", []string{"HTTP 429", "971"}, true},
		{"rate limited on records only", func(s *Server) {
			s.RateLimit(1, time.Second, Match{Method: "GET", PathPrefix: BasePath + "/zones/"})
		}, testToken, "example.com.", []string{"HTTP 429", "971"}, true},
		{"server error", func(s *Server) { s.FailNext(1, 502) }, testToken, "example.com.", []string{"HTTP 502"}, true},
		{"unknown zone", func(*Server) {}, testToken, "example.net.", []string{"expected 1 zone, got 0"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			tt.setup(s)
			p := &cloudflare.Provider{APIToken: tt.token, HTTPClient: s.Client()}
			_, err := p.GetRecords(ctx, tt.zone)
			if err == nil {
				t.Fatal("GetRecords succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q does not contain %q", err, w)
				}
			}
			if tt.transient {
				if _, err := p.GetRecords(ctx, tt.zone); err != nil {
					t.Errorf("retry: %v", err)
				}
			}
		})
	}
}
