package zapadapter

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// An activity its workflow cancelled is reported by the SDK as an
// "Activity error."; it is logged at info, every other error at error.
func TestCancelledActivityIsNotAnError(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := New(zap.New(core))
	l.Error("Activity error.", "ActivityType", "WaitSnapshots", "Error", fmt.Errorf("waiting: %w", context.Canceled))
	l.Error("Activity error.", "ActivityType", "WaitSnapshots", "Error", temporal.NewCanceledError())
	l.Error("Activity error.", "ActivityType", "StartSnapshots", "Error", errors.New("EC2 said no"))
	entries := logs.All()
	if len(entries) != 3 {
		t.Fatalf("got %d entries", len(entries))
	}
	for i, want := range []zapcore.Level{zapcore.InfoLevel, zapcore.InfoLevel, zapcore.ErrorLevel} {
		if entries[i].Level != want {
			t.Errorf("entry %d (%v) at %s, want %s", i, entries[i].ContextMap()["Error"], entries[i].Level, want)
		}
	}
}
