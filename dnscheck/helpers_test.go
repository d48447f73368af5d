package dnscheck

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/delegate01/cert-manager-webhook-delegate/internal/testdns"
)

const (
	target = "_acme-challenge.validation.example.org."
	// record is what every failing check at _acme-challenge.<x>.example.com must tell the user to create.
	recordFmt = "_acme-challenge.%s.example.com. CNAME _acme-challenge.validation.example.org."
)

// modes runs f once per resolver mode, as parallel subtests.
func modes(t *testing.T, f func(t *testing.T, authoritative bool)) {
	t.Helper()
	for _, auth := range []bool{true, false} {
		name := "recursive"
		if auth {
			name = "authoritative"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, auth)
		})
	}
}

// checkerFor returns a Checker whose configured server is b, and whose authoritative walk dials b's port on the
// servers NS records name (localhost., or the hierarchy's addresses).
func checkerFor(b *testdns.BIND, authoritative bool) *Checker {
	return &Checker{Resolver: Resolver{
		Servers:       []string{b.Addr},
		Authoritative: authoritative,
		Timeout:       time.Second,
		authPort:      strconv.Itoa(b.Port),
	}}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// delegationError asserts err is a *DelegationError of kind that tells the user to create record in zone.
func delegationError(t *testing.T, err error, kind Kind, record, zone string) *DelegationError {
	t.Helper()
	var de *DelegationError
	if !errors.As(err, &de) {
		t.Fatalf("error = %v (%T), want a *DelegationError of kind %s", err, err, kind)
	}
	if de.Kind != kind {
		t.Fatalf("kind = %s, want %s; error: %v", de.Kind, kind, err)
	}
	msg := err.Error()
	if de.Record() != record || !strings.Contains(msg, record) {
		t.Errorf("the error does not hold the record %q: %s", record, msg)
	}
	if de.Zone != zone || !strings.Contains(msg, "the zone "+strings.TrimSuffix(zone, ".")) {
		t.Errorf("the error does not name the zone %s (Zone=%q): %s", zone, de.Zone, msg)
	}
	if msg != strings.TrimRight(msg, ".!;:, ") || strings.ToLower(msg[:1]) != msg[:1] {
		t.Errorf("the error is not lower case without trailing punctuation: %q", msg)
	}
	return de
}

// dropper is a UDP socket that reads every query and answers none: a server that is up but silent.
func dropper(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	c, err := lc.ListenPacket(context.Background(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = c.Close(); <-done })
	return c.LocalAddr().String()
}

// closedPort returns an address where nothing listens: UDP queries there are refused at once.
func closedPort(t *testing.T) string {
	t.Helper()
	port, err := testdns.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
