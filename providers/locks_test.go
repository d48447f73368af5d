package providers

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestKeyedMutexSerialises(t *testing.T) {
	t.Parallel()
	var k KeyedMutex
	var mu sync.Mutex
	inside, maxInside := 0, 0
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			unlock, err := k.Lock(context.Background(), "a")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			maxInside = max(maxInside, inside)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		})
	}
	wg.Wait()
	if maxInside != 1 || len(k.locks) != 0 {
		t.Fatalf("max holders %d, leftover keys %d", maxInside, len(k.locks))
	}
	ctx, cancel := context.WithCancel(context.Background())
	unlock, _ := k.Lock(ctx, "b")
	cancel()
	if _, err := k.Lock(ctx, "b"); err == nil {
		t.Fatal("lock on a cancelled context succeeded while held")
	}
	unlock()
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	r := Default()
	for in, want := range map[string]string{"aws": "route53", "Cloud-Flare": "cloudflare", "rfc2163": "rfc2136", "route66": "route53", "nothing-like-it": "", "digitalocen": "digitalocean"} {
		if got := r.Suggest(in); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
