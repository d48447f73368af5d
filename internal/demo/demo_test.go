package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `make demo` in process: a certificate must be issued through the delegation zone and the zone left
// empty.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, &out); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"_acme-challenge.example.com. 60 IN CNAME _acme-challenge.validation.example.org.",
		"at _acme-challenge.validation.example.org. (zone validation.example.org., provider rfc2136",
		"authorization for *.example.com is valid",
		"authorization for example.com is valid",
		"After cleanup: 0 TXT values left",
		"SANs:     example.com, *.example.com",
		"issuer:   CN=Pebble Intermediate CA",
		"delegation check: _acme-challenge.example.com. leads to _acme-challenge.validation.example.org.",
		"_acme-challenge.example.com. 60 CNAME _acme-challenge.validation.example.org.",
		"Present refused before any write",
		"_acme-challenge.shop.example.com. CNAME _acme-challenge.validation.example.org.",
		"the delegation zone holds 0 TXT values",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
