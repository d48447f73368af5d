package fakeapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// recordingMirror records calls and fails the failAt-th one (1-based; 0 never).
type recordingMirror struct {
	mu     sync.Mutex
	calls  []string
	failAt int
}

func (m *recordingMirror) call(s string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, s)
	if len(m.calls) == m.failAt {
		return errors.New("dns server refused")
	}
	return nil
}

func (m *recordingMirror) AppendTXT(_ context.Context, fqdn, value string, ttl int) error {
	return m.call(fmt.Sprintf("append %s %s %d", fqdn, value, ttl))
}

func (m *recordingMirror) DeleteTXT(_ context.Context, fqdn, value string) error {
	return m.call(fmt.Sprintf("delete %s %s", fqdn, value))
}

func TestSyncTXT(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const name = "_acme-challenge.example.com."
	tests := []struct {
		name          string
		before, after []string
		failAt        int
		want          []string
		wantErr       bool
	}{
		{"add to empty", nil, []string{"a"}, 0, []string{"append " + name + " a 60"}, false},
		{"add a sibling", []string{"a"}, []string{"a", "b"}, 0, []string{"append " + name + " b 60"}, false},
		{"remove one of two", []string{"a", "b"}, []string{"b"}, 0, []string{"delete " + name + " a"}, false},
		{"replace: add first, delete second", []string{"a"}, []string{"b"}, 0, []string{"append " + name + " b 60", "delete " + name + " a"}, false},
		{"unchanged", []string{"a", "b"}, []string{"b", "a"}, 0, nil, false},
		{"duplicates are one value", []string{"a", "a"}, []string{"b", "b"}, 0, []string{"append " + name + " b 60", "delete " + name + " a"}, false},
		{"failed append changes nothing", []string{"a"}, []string{"b", "c"}, 2, []string{
			"append " + name + " b 60", "append " + name + " c 60", "delete " + name + " b"}, true},
		{"failed delete is undone", []string{"a", "b"}, []string{"c"}, 3, []string{
			"append " + name + " c 60", "delete " + name + " a", "delete " + name + " b", "append " + name + " a 60", "delete " + name + " c"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &recordingMirror{failAt: tt.failAt}
			err := SyncTXT(ctx, m, name, tt.before, tt.after, 60)
			if (err != nil) != tt.wantErr {
				t.Errorf("err %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "dns server refused") {
				t.Errorf("err %v does not carry the mirror's error", err)
			}
			if fmt.Sprint(m.calls) != fmt.Sprint(tt.want) {
				t.Errorf("calls %q, want %q", m.calls, tt.want)
			}
		})
	}
	if err := SyncTXT(ctx, nil, name, nil, []string{"a"}, 60); err != nil {
		t.Errorf("nil mirror: %v", err)
	}
}
