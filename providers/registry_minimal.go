//go:build minimal

package providers

// extraEntries is empty in a build with the tag "minimal": only the original three providers are compiled in.
func extraEntries() []*Entry { return nil }
