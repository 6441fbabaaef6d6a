package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// stepWindow bounds a forward catalog step, an activity or a local one,
// across all its attempts.
const stepWindow = 10 * time.Minute

// The retry presets. Every activity retries with one of these; their
// attempts are bounded by the options' timeouts unless they say otherwise.

// stepRetry: a short catalog step; a few minutes of outage are ridden out.
func stepRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second}
}

// providerRetry: a provider call (snapshots, volumes), throttled or
// flaky at times.
func providerRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}
}

// boundedRetry: about ten minutes of attempts at a batch (deleting
// snapshots, applying a reconciliation): an outage longer than that is
// reported, not waited out.
func boundedRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 2 * time.Minute, MaximumAttempts: 8}
}

// planRetry: a read-only plan, tried ten times.
func planRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10}
}

// deliveryRetry: a notification to a destination that may be down for a
// while.
func deliveryRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute}
}

// compensationRetry: undoing must outlast any plausible outage.
func compensationRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute}
}

// stepOptions are for short forward steps (catalog reads and writes): a
// catalog outage of a few minutes is ridden out, a longer one fails the
// backup (and its compensations wait much longer, see compensationOptions).
func stepOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: stepWindow,
		Summary:                summary,
		RetryPolicy:            stepRetry(),
	})
}

// localStepsChange is the version from which a backup runs its short
// catalog steps (validate, record, lock, health, InProgress, Completed,
// release) as local activities: each is a few milliseconds of catalog work,
// and as an activity it cost two trips through the server's task queues
// and three history events, which was most of what a backup added to
// Temporal's own floor (see bench/). The two provider steps stay
// activities: they need the worker's per-account rate limit, heartbeats,
// and a pending-activity entry while snapshots run. Compensations stay
// activities too, so a backup failing during an outage shows its pending
// compensation in the UI and retries it for a day.
const localStepsChange = "local-catalog-steps"

// localStepOptions are stepOptions for a local activity. Attempts are
// bounded by the workflow task's timeout; the SDK spaces longer retries
// with timers, so a catalog outage is ridden out just the same.
func localStepOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    5 * time.Second,
		ScheduleToCloseTimeout: stepWindow,
		Summary:                summary,
		RetryPolicy:            stepRetry(),
	})
}

// compensationOptions retry for a day: releasing a lock and recording a
// failure must outlast any plausible catalog or provider outage.
func compensationOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 24 * time.Hour,
		Summary:                summary,
		RetryPolicy:            compensationRetry(),
	})
}

// controlOptions are for a write's local activity: a caller waits for it
// (the Go client for a minute), so a catalog that stays down fails the
// write within that.
func controlOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 45 * time.Second,
		Summary:                summary,
		RetryPolicy:            stepRetry(),
	})
}

// sessionStepOptions are stepOptions for an activity of a Temporal
// session (one worker's): not retried, since a retry elsewhere could not
// reach what the session's worker holds.
func sessionStepOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		Summary:             summary,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
}
