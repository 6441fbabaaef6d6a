package awsfake

import (
	"sync"
	"time"
)

// Clock is the fake's notion of time: snapshot progress and volume
// creation advance on it.
type Clock interface{ Now() time.Time }

// RealClock is wall time.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

// CompressedClock runs Factor times faster than wall time from its
// creation: with Factor 60 a 10-minute snapshot completes in 10 s.
type CompressedClock struct {
	start  time.Time
	factor float64
}

// NewCompressedClock returns a clock running factor times faster than
// wall time.
func NewCompressedClock(factor float64) *CompressedClock {
	if factor <= 0 {
		factor = 1
	}
	return &CompressedClock{start: time.Now(), factor: factor}
}

func (c *CompressedClock) Now() time.Time {
	el := time.Since(c.start)
	return c.start.Add(time.Duration(float64(el) * c.factor))
}

// ManualClock moves only when told to.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a clock stopped at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{now: t} }

func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
