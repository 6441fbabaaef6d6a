package bench

import (
	"context"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// The minimal workflow is the Temporal floor a backup is compared with: a
// sequence of no-op steps and nothing else. Each step is an activity ('A')
// or a local activity ('L'), so it can run either as many activities as a
// backup has steps (the floor the issue names) or exactly the backup's own
// mix (the floor for Strata's design).
const (
	minimalWorkflowName = "BenchMinimalWorkflow"
	noopActivityName    = "BenchNoop"
)

const (
	stepActivity      = 'A'
	stepLocalActivity = 'L'
)

func minimalWorkflow(ctx workflow.Context, steps string) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 5 * time.Second})
	for _, s := range steps {
		f := workflow.ExecuteActivity(actx, noopActivityName)
		if s == stepLocalActivity {
			f = workflow.ExecuteLocalActivity(lctx, noopActivityName)
		}
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// allActivities is steps with every step an activity.
func allActivities(steps string) string { return strings.Repeat(string(stepActivity), len(steps)) }

func noop(context.Context) error { return nil }
