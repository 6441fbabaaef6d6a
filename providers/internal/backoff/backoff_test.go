package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleepWaits(t *testing.T) {
	start := time.Now()
	if err := Sleep(context.Background(), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("slept %v, want 20ms", el)
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sleep = %v, want the deadline", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("a cancelled Sleep took %v", el)
	}
}

func TestSleepOfNothingReportsTheContext(t *testing.T) {
	if err := Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, -time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(<0) on a cancelled context = %v, want Canceled", err)
	}
	if err := SleepUntil(ctx, time.Now().Add(-time.Second)); !errors.Is(err, context.Canceled) {
		t.Errorf("SleepUntil(past) on a cancelled context = %v, want Canceled", err)
	}
}

func TestJitterStaysWithinItsFraction(t *testing.T) {
	d := time.Second
	for range 1000 {
		if j := Jitter(d, 0.2); j < d || j > d+200*time.Millisecond {
			t.Fatalf("Jitter(1s, 0.2) = %v, want 1s..1.2s", j)
		}
		if j := Jitter(d, 1); j < d || j > 2*d {
			t.Fatalf("Jitter(1s, 1) = %v, want 1s..2s", j)
		}
	}
	if j := Jitter(0, 1); j != 0 {
		t.Errorf("Jitter(0) = %v, want 0", j)
	}
}

func TestExponentialDoublesUpToItsCap(t *testing.T) {
	base, maxD := 100*time.Millisecond, time.Second
	for attempt, full := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		for range 200 {
			if d := Exponential(base, maxD, attempt); d < full/2 || d > full {
				t.Fatalf("attempt %d: %v, want %v..%v", attempt, d, full/2, full)
			}
		}
	}
}
