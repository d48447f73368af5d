//go:build !minimal

package providers

import "slices"

// extraEntries are the providers beyond the original three. Each provider's file holds its entry; adding one
// touches that file and one line in a list below.
func extraEntries() []*Entry { return slices.Concat(testedEntries(), constructedEntries()) }

// testedEntries are the providers tested against a real server or a fake of their API.
func testedEntries() []*Entry {
	return []*Entry{
		azureEntry(),
		desecEntry(),
		digitaloceanEntry(),
		godaddyEntry(),
		googleclouddnsEntry(),
		hetznerEntry(),
		ionosEntry(),
		powerdnsEntry(),
		route53Entry(),
	}
}
