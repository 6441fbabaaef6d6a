package awsfake

import (
	"time"

	"github.com/stratabackup/strata/internal/fakeclock"
)

// Clock is the fake's notion of time: snapshot progress and volume
// creation advance on it.
type Clock = fakeclock.Clock

// RealClock is wall time.
type RealClock = fakeclock.Real

// CompressedClock runs a factor faster than wall time from its creation:
// with factor 60 a 10-minute snapshot completes in 10 s.
type CompressedClock = fakeclock.Compressed

// NewCompressedClock returns a clock running factor times faster than
// wall time.
func NewCompressedClock(factor float64) *CompressedClock { return fakeclock.NewCompressed(factor) }

// ManualClock moves only when told to (Advance).
type ManualClock = fakeclock.Manual

// NewManualClock returns a clock stopped at t.
func NewManualClock(t time.Time) *ManualClock { return fakeclock.NewManual(t) }
