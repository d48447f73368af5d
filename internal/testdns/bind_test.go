package testdns

import (
	"context"
	"slices"
	"testing"
)

func TestBINDServesCNAMEIntoUpdatableZone(t *testing.T) {
	b := Start(t,
		Zone{Name: "example.com.", Records: []string{"_acme-challenge IN CNAME _acme-challenge.validation.example.org."}},
		Zone{Name: "validation.example.org.", Updatable: true},
	)
	ctx := context.Background()
	for _, v := range []string{"one", "two"} {
		if err := b.AppendTXT(ctx, "_acme-challenge.validation.example.org.", v, 60); err != nil {
			t.Fatal(err)
		}
	}
	// A resolver query at the production name follows the CNAME into the delegation zone.
	got, err := b.LookupTXT("_acme-challenge.example.com.")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("TXT through the CNAME = %q, want [one two]", got)
	}
	if err := b.DeleteTXT(ctx, "_acme-challenge.validation.example.org.", "one"); err != nil {
		t.Fatal(err)
	}
	zone, err := b.ZoneTXT("validation.example.org.")
	if err != nil {
		t.Fatal(err)
	}
	if v := zone["_acme-challenge.validation.example.org."]; !slices.Equal(v, []string{"two"}) {
		t.Fatalf("zone TXT after deleting one = %q, want [two]", v)
	}
	// The production zone is read-only: the key may not touch it.
	if err := b.AppendTXT(ctx, "x.example.com.", "nope", 60); err == nil {
		t.Fatal("update of the read-only production zone succeeded")
	}
}
