//go:build !minimal

package providers

// constructedEntries are the providers that cannot be exercised against their API here (see TestLevel).
func constructedEntries() []*Entry {
	return []*Entry{}
}
