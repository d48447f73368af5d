//go:build !minimal

package providers

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/libdns/libdns"
	"github.com/libdns/mythicbeasts"
)

// fakeMythicLib is libdns/mythicbeasts as the set operations see it: one registered domain's records, a
// SetRecords that replaces a host's TXT values, and a DeleteRecords that removes them all.
type fakeMythicLib struct {
	zone  string
	txt   map[string][]string // host → values
	calls []string
}

func (f *fakeMythicLib) GetRecords(_ context.Context, zone string) ([]libdns.Record, error) {
	if zone != f.zone {
		return nil, fmt.Errorf("zone %s, want the registered domain %s", zone, f.zone)
	}
	var out []libdns.Record
	for host, vs := range f.txt {
		for _, v := range vs {
			out = append(out, libdns.TXT{Name: host, Text: v})
		}
	}
	return out, nil
}

func (f *fakeMythicLib) SetRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	var vs []string
	for _, r := range recs {
		vs = append(vs, r.RR().Data)
	}
	f.txt[recs[0].RR().Name] = vs
	f.calls = append(f.calls, fmt.Sprintf("set %s %s %v", zone, recs[0].RR().Name, vs))
	return recs, nil
}

func (f *fakeMythicLib) DeleteRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	delete(f.txt, recs[0].RR().Name)
	f.calls = append(f.calls, fmt.Sprintf("delete %s %s", zone, recs[0].RR().Name))
	return recs, nil
}

func TestMythicBeastsNeverDeletesWhileASiblingRemains(t *testing.T) {
	t.Parallel()
	lib := &fakeMythicLib{zone: "example.org.", txt: map[string][]string{"_acme-challenge.validation": {"apex-key", "wildcard-key"}}}
	ops := &mythicbeastsOps{lib: lib}
	ctx := testCtx(t)
	// A delegated sub-zone: the library writes to the registered domain, so the name is made relative to it.
	zone, fqdn := "validation.example.org.", "_acme-challenge.validation.example.org."
	if vs, err := ops.Values(ctx, zone, fqdn); err != nil || !slices.Equal(vs, []string{"apex-key", "wildcard-key"}) {
		t.Fatalf("Values: %v, %v", vs, err)
	}
	if a, r := ops.Write(ctx, zone, fqdn, nil, nil, []string{"apex-key"}); a != nil || r != nil {
		t.Fatal(a, r)
	}
	if a, r := ops.Write(ctx, zone, fqdn, nil, []Mutation{{Value: "apex-key-2", Add: true}}, nil); a != nil || r != nil {
		t.Fatal(a, r)
	}
	if a, r := ops.Write(ctx, zone, fqdn, nil, nil, []string{"wildcard-key", "apex-key-2"}); a != nil || r != nil {
		t.Fatal(a, r)
	}
	want := []string{
		"set example.org. _acme-challenge.validation [wildcard-key]",
		"set example.org. _acme-challenge.validation [wildcard-key apex-key-2]",
		"delete example.org. _acme-challenge.validation",
	}
	if !slices.Equal(lib.calls, want) {
		t.Errorf("calls\n%v\nwant\n%v", lib.calls, want)
	}
}

var _ mythicbeastsLib = (*mythicbeasts.Provider)(nil)
