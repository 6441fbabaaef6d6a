// Package fakeclock is the time of the in-process cloud fakes and of the
// catalog's tests: fakes' snapshots and volumes move through their states
// on a Clock, which a test or benchmark compresses (hours of cloud time in
// seconds) or stops and advances by hand.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a fake's time source.
type Clock interface{ Now() time.Time }

// Real is wall time.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

// Compressed runs a fixed factor faster than wall time from its creation:
// with factor 60 a 10-minute snapshot completes in 10 s.
type Compressed struct {
	start  time.Time
	factor float64
}

// NewCompressed returns a clock starting now and running factor times
// faster than wall time; a factor that is not positive means 1, since a
// clock that stands still or runs backwards would never finish anything.
func NewCompressed(factor float64) *Compressed {
	if factor <= 0 {
		factor = 1
	}
	return &Compressed{start: time.Now(), factor: factor}
}

// Now is the start plus factor times the wall time elapsed since.
func (c *Compressed) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.start)) * c.factor))
}

// Manual moves only when told to.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

// NewManual returns a clock stopped at t.
func NewManual(t time.Time) *Manual { return &Manual{now: t} }

func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Manual) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Manual) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
