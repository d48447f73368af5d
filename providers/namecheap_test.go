//go:build !minimal

package providers

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libdns/libdns"
	"github.com/libdns/namecheap"
)

// fakeNamecheapLib is libdns/namecheap as the set operations see it: its delete matches the TTL as stored.
type fakeNamecheapLib struct {
	hosts   []*libdns.TXT
	deleted []string
}

func (f *fakeNamecheapLib) GetRecords(context.Context, string) ([]libdns.Record, error) {
	var out []libdns.Record
	for _, h := range f.hosts {
		out = append(out, h)
	}
	return out, nil
}

func (f *fakeNamecheapLib) AppendRecords(_ context.Context, _ string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, r := range recs {
		f.hosts = append(f.hosts, &libdns.TXT{Name: r.RR().Name, Text: r.RR().Data, TTL: 1799 * time.Second})
	}
	return recs, nil
}

func (f *fakeNamecheapLib) DeleteRecords(_ context.Context, _ string, recs []libdns.Record) ([]libdns.Record, error) {
	var deleted []libdns.Record
	for _, r := range recs {
		f.hosts = slices.DeleteFunc(f.hosts, func(h *libdns.TXT) bool {
			if h.Name == r.RR().Name && h.Text == r.RR().Data && h.TTL == r.RR().TTL {
				deleted, f.deleted = append(deleted, r), append(f.deleted, h.Text)
				return true
			}
			return false
		})
	}
	return deleted, nil
}

func TestNamecheapDeletesWithTheStoredTTL(t *testing.T) {
	t.Parallel()
	lib := &fakeNamecheapLib{hosts: []*libdns.TXT{
		{Name: "_acme-challenge", Text: "apex-key", TTL: 1799 * time.Second},
		{Name: "_acme-challenge", Text: "wildcard-key", TTL: 1799 * time.Second},
	}}
	ops := &namecheapOps{lib: lib}
	_, removeErr := ops.Write(testCtx(t), "example.org.", "_acme-challenge.example.org.", nil, nil, []string{"apex-key"})
	if removeErr != nil || !slices.Equal(lib.deleted, []string{"apex-key"}) || len(lib.hosts) != 1 {
		t.Errorf("delete: %v, deleted %v, left %v (with TTL 0 the library matches nothing)", removeErr, lib.deleted, lib.hosts)
	}
}

func TestNamecheapRefuses(t *testing.T) {
	t.Parallel()
	// Without client_ip the library asks icanhazip.com for it on every call.
	refused(t, namecheapEntry(), &namecheap.Provider{APIKey: "k", User: "u"}, "client_ip: is required")
	refused(t, namecheapEntry(), &namecheap.Provider{APIKey: "k", User: "u", ClientIP: "my-ip"}, "client_ip")
	refused(t, namecheapEntry(), &namecheap.Provider{APIKey: "k", User: "u", ClientIP: "203.0.113.1", APIEndpoint: "api.evil.example"}, "api_endpoint")
}
