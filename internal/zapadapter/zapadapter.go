// Package zapadapter lets the Temporal SDK (and so workflow.GetLogger and
// activity.GetLogger) log through zap.
package zapadapter

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"
)

// Logger implements the SDK's log.Logger and log.WithLogger on zap.
type Logger struct{ z *zap.Logger }

// New wraps z.
func New(z *zap.Logger) *Logger { return &Logger{z: z.WithOptions(zap.AddCallerSkip(1))} }

func fields(keyvals []interface{}) []zap.Field {
	out := make([]zap.Field, 0, len(keyvals)/2)
	for i := 0; i+1 < len(keyvals); i += 2 {
		out = append(out, zap.Any(fmt.Sprint(keyvals[i]), keyvals[i+1]))
	}
	if len(keyvals)%2 == 1 {
		out = append(out, zap.Any("extra", keyvals[len(keyvals)-1]))
	}
	return out
}

func (l *Logger) Debug(msg string, keyvals ...interface{}) { l.z.Debug(msg, fields(keyvals)...) }
func (l *Logger) Info(msg string, keyvals ...interface{})  { l.z.Info(msg, fields(keyvals)...) }
func (l *Logger) Warn(msg string, keyvals ...interface{})  { l.z.Warn(msg, fields(keyvals)...) }

// Error logs at error level, except a cancellation the SDK reports as an
// activity's error ("Activity error." with a canceled error): an activity
// its own workflow cancelled (a snapshot wait past the backup's deadline)
// did what it was asked, and must not page anyone.
func (l *Logger) Error(msg string, keyvals ...interface{}) {
	if cancelled(keyvals) {
		l.z.Info(msg, fields(keyvals)...)
		return
	}
	l.z.Error(msg, fields(keyvals)...)
}

func cancelled(keyvals []interface{}) bool {
	for i := 0; i+1 < len(keyvals); i += 2 {
		if err, ok := keyvals[i+1].(error); ok && (temporal.IsCanceledError(err) || errors.Is(err, context.Canceled)) {
			return true
		}
	}
	return false
}

// With returns a logger that adds keyvals to every entry.
func (l *Logger) With(keyvals ...interface{}) log.Logger {
	return &Logger{z: l.z.With(fields(keyvals)...)}
}

var _ log.WithLogger = (*Logger)(nil)
