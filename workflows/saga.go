package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/api"
)

// saga collects the compensations of the steps that succeeded so far.
// compensate runs them in reverse on a context that ignores the workflow's
// cancellation, so a cancelled backup still releases its lock and records
// why it failed.
type saga struct {
	steps []compensation
}

type compensation struct {
	name string
	run  func(ctx workflow.Context) error
}

// add registers a step's compensation; call it only after the step
// succeeded.
func (s *saga) add(name string, run func(ctx workflow.Context) error) {
	s.steps = append(s.steps, compensation{name: name, run: run})
}

// compensate runs every compensation in reverse order. Each one is
// idempotent and retried generously by its activity options, so one that
// still fails is logged and the rest run anyway: a stuck lock must not keep
// the backup from being marked Defunct, nor the reverse.
func (s *saga) compensate(ctx workflow.Context) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	for i := len(s.steps) - 1; i >= 0; i-- {
		c := s.steps[i]
		if err := c.run(dctx); err != nil {
			workflow.GetLogger(ctx).Error("compensation failed", "step", c.name, "error", err)
		}
	}
	s.steps = nil
}

// failure is how a workflow ends when one of its steps failed: an
// application error whose type is the reason code and whose message is the
// step's, so a caller (and the Web UI) sees "InvalidRequest: ..." rather
// than "activity error". A cancellation stays one.
func failure(ctx workflow.Context, err error) error {
	if err == nil {
		return nil
	}
	code, msg := reasonOf(ctx, err)
	if code == api.ReasonCancelled {
		return err
	}
	return temporal.NewNonRetryableApplicationError(msg, code, nil)
}

// stepWindow and stepRetry bound a forward catalog step, an activity or a
// local one, across all its attempts.
const stepWindow = 10 * time.Minute

func stepRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second}
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
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
		},
	})
}
