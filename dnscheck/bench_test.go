package dnscheck

import (
	"context"
	"testing"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

// BenchmarkDelegation measures what the delegation check adds to Present against a local BIND: warm is a cache
// hit (every Present after the first for a name within the TTL); cold asks DNS every time (cache off), in the
// webhook's default authoritative mode and in recursive mode.
func BenchmarkDelegation(b *testing.B) {
	srv := testdns.Start(b,
		testdns.Zone{Name: "example.com.", Records: []string{"_acme-challenge IN CNAME " + target}},
		testdns.Zone{Name: "validation.example.org.", Updatable: true},
	)
	const n = "_acme-challenge.example.com."
	ctx := context.Background()
	run := func(b *testing.B, c *Checker, wantCached bool) {
		if _, err := c.Delegation(ctx, n, target); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			res, err := c.Delegation(ctx, n, target)
			if err != nil || res.Cached != wantCached {
				b.Fatalf("= %+v, %v", res, err)
			}
		}
	}
	b.Run("warm", func(b *testing.B) { run(b, checkerFor(srv, true), true) })
	b.Run("cold", func(b *testing.B) {
		c := checkerFor(srv, true)
		c.CacheSize = -1
		run(b, c, false)
	})
	b.Run("cold-recursive", func(b *testing.B) {
		c := checkerFor(srv, false)
		c.CacheSize = -1
		run(b, c, false)
	})
}
