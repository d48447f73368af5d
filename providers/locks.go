package providers

import (
	"context"
	"sync"
)

// KeyedMutex serialises work per key within a process; keys are dropped when unused so the map does not grow.
// The zero value is ready to use.
type KeyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	ch   chan struct{}
	refs int
}

// Lock waits for key's turn, or for ctx. The returned func releases it.
func (k *KeyedMutex) Lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l, ok := k.locks[key]
	if !ok {
		l = &keyedLock{ch: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// Limiter bounds how many calls run at once per key (a DNS server): past a handful, a server that applies updates
// one at a time gains nothing, and a burst of new TCP connections overflows its listen queue.
type Limiter struct {
	mu    sync.Mutex
	slots map[string]chan struct{}
}

// Acquire waits for one of n slots of key, or for ctx. The returned func releases it.
func (l *Limiter) Acquire(ctx context.Context, key string, n int) (func(), error) {
	l.mu.Lock()
	if l.slots == nil {
		l.slots = map[string]chan struct{}{}
	}
	ch, ok := l.slots[key]
	if !ok {
		ch = make(chan struct{}, n)
		l.slots[key] = ch
	}
	l.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
