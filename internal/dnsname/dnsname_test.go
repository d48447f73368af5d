package dnsname

import "testing"

func TestCanonical(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Example.COM":            "example.com.",
		"example.com.":           "example.com.",
		"_acme-challenge.a.test": "_acme-challenge.a.test.",
		"xn--bcher-kva.example":  "xn--bcher-kva.example.",
	} {
		if got, err := Canonical(in); err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	long := ""
	for range 64 {
		long += "a"
	}
	for _, bad := range []string{"", ".", "a..b", "*.example.com", "bücher.example", "a b.example", long + ".example"} {
		if got, err := Canonical(bad); err == nil {
			t.Errorf("Canonical(%q) = %q, want an error", bad, got)
		}
	}
}

func TestWithinOnLabelBoundaries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, zone string
		want       bool
	}{
		{"a.example.com.", "example.com.", true},
		{"example.com.", "example.com.", true},
		{"fooexample.com.", "example.com.", false},
		{"example.com.", "a.example.com.", false},
		{"anything.", ".", true},
	}
	for _, c := range cases {
		if got := Within(c.name, c.zone); got != c.want {
			t.Errorf("Within(%q, %q) = %v, want %v", c.name, c.zone, got, c.want)
		}
	}
	if got := Relative("_acme-challenge.a.example.com.", "example.com."); got != "_acme-challenge.a" {
		t.Errorf("Relative = %q", got)
	}
	if got := Relative("example.com.", "example.com."); got != "@" {
		t.Errorf("Relative(apex) = %q", got)
	}
	if got := Parent("a.b.c."); got != "b.c." {
		t.Errorf("Parent = %q", got)
	}
	if got := Parent("c."); got != "." {
		t.Errorf("Parent(tld) = %q", got)
	}
}

func TestHostPort(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"10.0.0.1":          "10.0.0.1:53",
		"10.0.0.1:5353":     "10.0.0.1:5353",
		"[::1]:53":          "[::1]:53",
		"::1":               "[::1]:53",
		"ns1.example.org":   "ns1.example.org:53",
		"ns1.example.org:5": "ns1.example.org:5",
	} {
		if got, err := HostPort(in); err != nil || got != want {
			t.Errorf("HostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a b:53", "http://x/", "10.0.0.1:0", "10.0.0.1:99999", "ns1.example.org:x"} {
		if got, err := HostPort(bad); err == nil {
			t.Errorf("HostPort(%q) = %q, want an error", bad, got)
		}
	}
	if _, err := ParseServers(" , "); err == nil {
		t.Error("ParseServers of nothing: want an error")
	}
}

func TestParseZones(t *testing.T) {
	t.Parallel()
	got, err := ParseZones("Validation.Example.org., other.test,validation.example.org")
	if err != nil || len(got) != 2 || got[0] != "validation.example.org." || got[1] != "other.test." {
		t.Fatalf("ParseZones = %q, %v", got, err)
	}
	for _, bad := range []string{"", ".", "*.example.org", "exa mple.org", ","} {
		if z, err := ParseZones(bad); err == nil {
			t.Errorf("ParseZones(%q) = %q, want an error", bad, z)
		}
	}
}
