package fakeclock

import (
	"testing"
	"time"
)

func TestCompressedRunsFactorTimesFaster(t *testing.T) {
	c := NewCompressed(1000)
	t0 := c.Now()
	time.Sleep(20 * time.Millisecond)
	if el := c.Now().Sub(t0); el < 20*time.Second {
		t.Errorf("20ms of wall time at factor 1000 = %v on the clock, want at least 20s", el)
	}
}

func TestCompressedWithoutAPositiveFactorRunsAtWallSpeed(t *testing.T) {
	for _, f := range []float64{0, -5} {
		c := NewCompressed(f)
		t0 := c.Now()
		time.Sleep(5 * time.Millisecond)
		if el := c.Now().Sub(t0); el < 5*time.Millisecond || el > time.Second {
			t.Errorf("factor %v: 5ms of wall time = %v on the clock, want about 5ms", f, el)
		}
	}
}

func TestManualMovesOnlyWhenAdvanced(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewManual(start)
	time.Sleep(time.Millisecond)
	if !c.Now().Equal(start) {
		t.Fatalf("manual clock moved by itself: %v", c.Now())
	}
	c.Advance(90 * time.Minute)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Minute)) {
		t.Errorf("after Advance(90m): %v", got)
	}
}

func TestRealIsWallTime(t *testing.T) {
	if d := time.Since(Real{}.Now()); d < 0 || d > time.Second {
		t.Errorf("Real is %v off wall time", d)
	}
}
