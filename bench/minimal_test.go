package bench

import (
	"context"
	"time"

	"go.temporal.io/sdk/workflow"
)

// The minimal workflow is the Temporal floor a backup is compared with: n
// sequential no-op activities, nothing else.
const (
	minimalWorkflowName = "BenchMinimalWorkflow"
	noopActivityName    = "BenchNoop"
)

func minimalWorkflow(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	for i := 0; i < n; i++ {
		if err := workflow.ExecuteActivity(ctx, noopActivityName).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func noop(context.Context) error { return nil }
