package workflows

import (
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

// commit forgets the compensations: the saga reached the point from which
// nothing it did is undone.
func (s *saga) commit() { s.steps = nil }

// unwind compensates when anything is to be undone, calling compensating
// first (to show the step).
func (s *saga) unwind(ctx workflow.Context, compensating func()) {
	if len(s.steps) == 0 {
		return
	}
	compensating()
	s.compensate(ctx)
}

// pending reports whether a failure now would compensate anything.
func (s *saga) pending() bool { return len(s.steps) > 0 }

// endWith is a failed saga's workflow error: the cancellation itself for
// a cancelled run (so it shows as Canceled), else a non-retryable
// application error whose type is the reason code and whose message is
// the recorded reason.
func endWith(code, reason string, err error) error {
	if code == api.ReasonCancelled {
		return err
	}
	return temporal.NewNonRetryableApplicationError(reason, code, nil)
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
