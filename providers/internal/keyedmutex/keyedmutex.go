// Package keyedmutex serialises work per key within a process, e.g. the
// retries of one snapshot's start or one volume's creation, so that two of
// them never race to create the same resource twice. Keys nobody holds or
// waits for take no memory, so a long-lived worker can lock an unbounded
// stream of keys.
package keyedmutex

import (
	"context"
	"sync"
)

// Map is a set of mutexes, one per key. The zero value is ready to use.
type Map struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	// held has room for one token: sending takes the lock, receiving
	// releases it, and a select on it can give up when ctx ends.
	held chan struct{}
	// refs counts holders and waiters; the entry goes when it drops to 0.
	refs int
}

// Lock waits until key is free or ctx ends. On success it returns the
// function that unlocks key, to be called once; otherwise ctx's error.
func (k *Map) Lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*entry{}
	}
	e := k.m[key]
	if e == nil {
		e = &entry{held: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	select {
	case e.held <- struct{}{}:
		return func() { <-e.held; k.release(key, e) }, nil
	case <-ctx.Done():
		k.release(key, e)
		return nil, ctx.Err()
	}
}

func (k *Map) release(key string, e *entry) {
	k.mu.Lock()
	e.refs--
	if e.refs == 0 {
		delete(k.m, key)
	}
	k.mu.Unlock()
}
