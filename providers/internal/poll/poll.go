// Package poll coalesces the status polls of concurrent callers: the keys
// that callers ask for within one window are fetched by one call, and each
// caller picks its own keys from the shared result. A thousand concurrent
// backups then cost a cloud a handful of list calls per window rather than
// one each, which keeps them inside the cloud's request-rate quotas.
package poll

import (
	"context"
	"sync"
	"time"
)

// Coalescer gathers keys for Window and fetches them together. The zero
// value is not usable: Fetch is required.
type Coalescer[V any] struct {
	// Window is how long a batch gathers callers after its first one;
	// negative fetches each call on its own, with the caller's context.
	Window time.Duration
	// Timeout bounds one batch's Fetch. A batch runs detached from its
	// callers' contexts, since it serves them all and none may cancel it
	// for the others; zero means no bound.
	Timeout time.Duration
	// Base is the context batches run under; nil means Background.
	Base context.Context
	// Fetch gets the values of keys (each once, in the order callers first
	// asked for them). Keys the cloud does not know are absent from the
	// values; a key whose lookup failed has an error.
	Fetch func(ctx context.Context, keys []string) (map[string]V, map[string]error)

	mu  sync.Mutex
	cur *batch[V]
}

type batch[V any] struct {
	keys []string
	set  map[string]bool
	done chan struct{}
	res  map[string]V
	errs map[string]error
}

// Do adds keys to the batch gathering now (starting one if none is) and
// waits for its result. The error is ctx's, if it ended first; failures of
// the fetch are in the per-key errors.
func (c *Coalescer[V]) Do(ctx context.Context, keys []string) (map[string]V, map[string]error, error) {
	if c.Window < 0 {
		res, errs := c.Fetch(ctx, dedup(keys))
		return res, errs, nil
	}
	c.mu.Lock()
	b := c.cur
	if b == nil {
		b = &batch[V]{set: map[string]bool{}, done: make(chan struct{})}
		c.cur = b
		time.AfterFunc(c.Window, func() { c.run(b) })
	}
	for _, k := range keys {
		if !b.set[k] {
			b.set[k] = true
			b.keys = append(b.keys, k)
		}
	}
	c.mu.Unlock()
	select {
	case <-b.done:
		return b.res, b.errs, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

func (c *Coalescer[V]) run(b *batch[V]) {
	c.mu.Lock()
	if c.cur == b {
		c.cur = nil
	}
	c.mu.Unlock()
	ctx := c.Base
	if ctx == nil {
		ctx = context.Background()
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	b.res, b.errs = c.Fetch(ctx, b.keys)
	close(b.done)
}

// Pick returns the values of keys found in res, in the order of keys and
// each once, or the error of the first key that has one.
func Pick[V any](keys []string, res map[string]V, errs map[string]error) ([]V, error) {
	out := make([]V, 0, len(keys))
	for _, k := range dedup(keys) {
		if err := errs[k]; err != nil {
			return nil, err
		}
		if v, ok := res[k]; ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// FailAll records err as the error of every key, for a fetch of keys that
// failed as a whole.
func FailAll(errs map[string]error, keys []string, err error) {
	for _, k := range keys {
		errs[k] = err
	}
}

func dedup(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
