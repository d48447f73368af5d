package providers

import (
	"fmt"

	"github.com/libdns/libdns"
)

// deleteEachByID deletes each record by the ID its listing stored in ProviderData, and refuses a record without
// one: a delete by name would take the sibling value at that name too. It stops at the first failure and returns
// what it deleted until then. vendor names the provider's records in the refusal ("a Porkbun record").
func deleteEachByID[ID comparable](recs []libdns.Record, vendor string, del func(id ID) error) ([]libdns.Record, error) {
	var zero ID
	var deleted []libdns.Record
	for _, r := range recs {
		txt, _ := r.(libdns.TXT)
		id, _ := txt.ProviderData.(ID)
		if id == zero {
			return deleted, fmt.Errorf("refusing to delete %s record without its ID (%s)", vendor, r.RR().Name)
		}
		if err := del(id); err != nil {
			return deleted, err
		}
		deleted = append(deleted, r)
	}
	return deleted, nil
}
