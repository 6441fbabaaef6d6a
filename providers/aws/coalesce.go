package aws

import (
	"context"
	"sync"
	"time"
)

// batchTimeout bounds one batch's calls; a batch runs detached from its
// callers' contexts, since it serves them all.
const batchTimeout = 2 * time.Minute

// coalescer gathers the keys of concurrent callers for a window and
// fetches them all with one fetch; each caller picks its own keys from
// the shared result. GetSnapshots and StartSnapshot's tag lookups use it,
// so that a thousand concurrent backups cost a handful of
// DescribeSnapshots calls per window rather than one each.
type coalescer[V any] struct {
	window time.Duration
	base   context.Context
	fetch  func(ctx context.Context, keys []string) (map[string]V, map[string]error)

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

// do adds keys to the current batch (starting one if none) and waits for
// its result or ctx.
func (c *coalescer[V]) do(ctx context.Context, keys []string) (map[string]V, map[string]error, error) {
	c.mu.Lock()
	b := c.cur
	if b == nil {
		b = &batch[V]{set: map[string]bool{}, done: make(chan struct{})}
		c.cur = b
		time.AfterFunc(c.window, func() { c.run(b) })
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

func (c *coalescer[V]) run(b *batch[V]) {
	c.mu.Lock()
	if c.cur == b {
		c.cur = nil
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.base, batchTimeout)
	defer cancel()
	b.res, b.errs = c.fetch(ctx, b.keys)
	close(b.done)
}
