package solver

import (
	"fmt"
	"sync/atomic"
	"testing"

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
