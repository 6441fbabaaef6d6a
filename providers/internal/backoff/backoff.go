// Package backoff holds the waits of the cloud providers' retry and poll
// loops: sleeps that end early with their context (so that a cancelled
// activity returns at once rather than after its backoff), randomised
// retry-after hints and exponential backoff.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Sleep waits d or until ctx ends, and then returns ctx's error, if any.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// SleepUntil is Sleep until t.
func SleepUntil(ctx context.Context, t time.Time) error {
	return Sleep(ctx, time.Until(t))
}

// Jitter adds up to fraction×d, at random, to d, so that callers throttled
// together do not all come back at the same moment. It is 0 for d <= 0.
func Jitter(d time.Duration, fraction float64) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + time.Duration(rand.Float64()*fraction*float64(d))
}

// Exponential is the delay before retry attempt+1 (attempt counts from 1):
// base doubled per attempt up to maxD, of which a random upper half is
// taken. Randomising spreads the retries of callers that failed together;
// keeping the lower half means a retry never comes at once.
func Exponential(base, maxD time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
