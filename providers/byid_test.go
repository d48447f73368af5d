package providers

import (
	"errors"
	"strings"
	"testing"

	"github.com/libdns/libdns"
)

func TestDeleteEachByID(t *testing.T) {
	t.Parallel()
	var got []string
	del := func(id string) error {
		if id == "bad" {
			return errors.New("refused")
		}
		got = append(got, id)
		return nil
	}
	recs := []libdns.Record{libdns.TXT{Name: "a", ProviderData: "1"}, libdns.TXT{Name: "b", ProviderData: "2"}}
	if deleted, err := deleteEachByID(recs, "a Test", del); err != nil || len(deleted) != 2 || strings.Join(got, ",") != "1,2" {
		t.Fatalf("deleted %v, ids %v, err %v", deleted, got, err)
	}
	// No ID (or one of another type): refused before anything else is deleted by name.
	got = nil
	for _, pd := range []any{nil, 7} {
		recs := []libdns.Record{libdns.TXT{Name: "_acme-challenge", ProviderData: pd}, libdns.TXT{Name: "b", ProviderData: "2"}}
		deleted, err := deleteEachByID(recs, "a Test", del)
		if err == nil || !strings.Contains(err.Error(), "refusing to delete a Test record without its ID (_acme-challenge)") || len(deleted) != 0 || got != nil {
			t.Fatalf("ProviderData %v: deleted %v, ids %v, err %v", pd, deleted, got, err)
		}
	}
	// A failure stops the loop and reports what was deleted before it.
	recs = []libdns.Record{libdns.TXT{Name: "a", ProviderData: "1"}, libdns.TXT{Name: "b", ProviderData: "bad"}, libdns.TXT{Name: "c", ProviderData: "3"}}
	if deleted, err := deleteEachByID(recs, "a Test", del); err == nil || len(deleted) != 1 || strings.Join(got, ",") != "1" {
		t.Fatalf("deleted %v, ids %v, err %v", deleted, got, err)
	}
}
