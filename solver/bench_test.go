package solver

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/providers"
)

func BenchmarkParseConfig(b *testing.B) {
	raw := []byte(`{"provider":` + cfBlock + `,"domainAlias":"validation.example.org","aliasProvider":` + rfcBlock + `,
		"delegations":[{"domains":["a.test","b.test"],"domainAlias":"a.validation.example.net","aliasZone":"validation.example.net"}]}`)
	reg := providers.Default()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseConfig(raw, reg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	cfg := mustParse(b, `{"provider":`+cfBlock+`,"domainAlias":"validation.example.org","delegations":[{"domains":["a.test"],"domainAlias":"a.validation.example.net"}]}`)
	reg := providers.Default()
	ch := Challenge{DNSName: "www.a.test", ResolvedFQDN: "_acme-challenge.www.a.test.", ResolvedZone: "a.test."}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Resolve(cfg, reg, ch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPresentCleanUp measures one Present plus one CleanUp of a distinct value at the shared alias name,
// through the whole solver (config parsing, Secret cache, provider, real DNS on loopback), run in parallel as
// cert-manager runs challenges.
func BenchmarkPresentCleanUp(b *testing.B) {
	for _, provider := range []string{"rfc2136", "cloudflare"} {
		b.Run(provider, func(b *testing.B) {
			e := newEnv(b)
			block := cloudflareBlock
			if provider == "rfc2136" {
				block = e.rfc2136()
			}
			cfg := `{"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + block + `}`
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ch := challenge(cfg, fmt.Sprintf("b%042d", n.Add(1)))
					if err := e.s.Present(ch); err != nil {
						b.Error(err)
						return
					}
					if err := e.s.CleanUp(ch); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPresentDelegationCheck measures what the delegation check adds to a Present against real BIND (the
// check asks BIND itself; in a cluster, each zone's authoritative servers): verifyDelegation Off, the check
// served from its cache (warm), and the check made anew on every call (cold). It reports the median Present.
func BenchmarkPresentDelegationCheck(b *testing.B) {
	for _, mode := range []string{"off", "warm", "cold"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b)
			if mode == "cold" {
				e.s.state.Load().check.CacheSize = -1
			}
			verify := ""
			if mode == "off" {
				verify = `"verifyDelegation":"Off",`
			}
			cfg := `{` + verify + `"domainAlias":"validation.example.org","aliasZone":"validation.example.org","aliasProvider":` + e.rfc2136() + `}`
			if err := e.s.Present(challenge(cfg, "warmup-value-0123456789abcdefghijklmnopqrs")); err != nil {
				b.Fatal(err)
			}
			durations := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				ch := challenge(cfg, fmt.Sprintf("c%042d", i))
				i++
				start := time.Now()
				if err := e.s.Present(ch); err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
				b.StopTimer()
				if err := e.s.CleanUp(ch); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			slices.Sort(durations)
			b.ReportMetric(float64(durations[len(durations)/2].Microseconds()), "p50-µs")
		})
	}
}
