// Package activities holds the side effects of Strata's workflows: catalog
// reads and writes, cluster locks, and provider calls. Every activity is
// idempotent under retry, so a worker may die at any point and another one
// finishes the work without duplicating a snapshot or a record.
package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
)

// Config holds the worker-wide defaults and bounds that activities resolve
// into each backup's plan, so that the workflow itself reads no
// configuration and stays deterministic.
type Config struct {
	// DefaultBackupTimeout bounds snapshotting when a request names none.
	DefaultBackupTimeout time.Duration
	// MaxBackupTimeout is the largest timeout a request may ask for.
	MaxBackupTimeout time.Duration
	// LockTTL is the lease a backup holds on its cluster; it is renewed
	// while the backup runs and lapses this long after its holder died.
	LockTTL time.Duration
	// MaxLockTTL is the longest lease any lock may ask for (LockTTL
	// included).
	MaxLockTTL time.Duration
	// PollInterval is how often snapshot progress is read from the provider.
	PollInterval time.Duration
	// HeartbeatTimeout is how soon a silent snapshot-wait activity is retried
	// elsewhere (a crashed worker is noticed this fast).
	HeartbeatTimeout time.Duration
	// MaxReplicationLag: a node reporting more lag is unhealthy. Zero means
	// lag is not checked.
	MaxReplicationLag time.Duration
	// ProgressStep, when positive, makes the wait activity also report back
	// to the workflow at each snapshot's completion and every ProgressStep
	// percent, so query `status` shows live progress at the cost of history
	// events (about six per report). Zero, the default, reports only when
	// every snapshot is done, so a backup's history is the same size however
	// long its snapshots take; live progress is then in the wait activity's
	// heartbeat details (Web UI, `temporal workflow describe`) and in the
	// catalog (`starter backup show`), updated every poll.
	ProgressStep int
	// UIURL is the Temporal Web UI's base URL, for links in notifications.
	UIURL string
	// FreshnessMultiple: a job is stale when its newest Completed backup is
	// older than this many intervals.
	FreshnessMultiple float64
	// MaxArchiveLag: a postgres cluster's WAL archiving is stalled when a
	// completed segment waits longer than this to be archived.
	MaxArchiveLag time.Duration
	// StuckAfter is how long a workflow must have been closed before the
	// reconciler finishes the records it left Pending, InProgress or
	// Deleting (zero: DefaultStuckAfter).
	StuckAfter time.Duration
	// PowerOffRetention is how long a cluster stays powered off before it
	// is deleted with its backups, PowerOffNotice how long before that its
	// project is told (zero: api.DefaultPowerOffRetention and
	// api.DefaultPowerOffNotice).
	PowerOffRetention, PowerOffNotice time.Duration
}

// DefaultConfig is what the worker uses unless told otherwise.
func DefaultConfig() Config {
	return Config{
		DefaultBackupTimeout: time.Hour,
		MaxBackupTimeout:     7 * 24 * time.Hour,
		LockTTL:              2 * time.Minute,
		MaxLockTTL:           validate.DefaultMaxLockTTL,
		PollInterval:         5 * time.Second,
		HeartbeatTimeout:     30 * time.Second,
		MaxReplicationLag:    30 * time.Second,
		ProgressStep:         0,
		FreshnessMultiple:    2,
		MaxArchiveLag:        api.DefaultMaxArchiveLag,
		StuckAfter:           DefaultStuckAfter,
	}
}

// Limits are the input bounds this configuration sets.
func (c Config) Limits() validate.Limits {
	return validate.Limits{MaxBackupTimeout: c.MaxBackupTimeout, MaxLockTTL: c.MaxLockTTL}
}

// Common is what every activity struct has: a logger and a clock.
type Common struct {
	Logger *zap.Logger
	// Now is the clock for records (defaults to time.Now).
	Now func() time.Time
}

func (c *Common) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

// activityMetrics is the running activity's metrics handler (nil outside
// an activity, as in tests that call one directly).
func activityMetrics(ctx context.Context) client.MetricsHandler {
	if !activity.IsActivity(ctx) {
		return nil
	}
	return activity.GetMetricsHandler(ctx)
}

func (c *Common) log() *zap.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return zap.NewNop()
}
