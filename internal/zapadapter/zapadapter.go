// Package zapadapter lets the Temporal SDK (and so workflow.GetLogger and
// activity.GetLogger) log through zap.
package zapadapter

import (
	"fmt"

	"go.temporal.io/sdk/log"
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
func (l *Logger) Error(msg string, keyvals ...interface{}) { l.z.Error(msg, fields(keyvals)...) }

// With returns a logger that adds keyvals to every entry.
func (l *Logger) With(keyvals ...interface{}) log.Logger {
	return &Logger{z: l.z.With(fields(keyvals)...)}
}

var _ log.WithLogger = (*Logger)(nil)
