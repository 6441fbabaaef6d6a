package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
)

// MonitorWorkflow notifies each freshness violation once, its recovery
// once, and skipped or missed scheduled runs.
func MonitorWorkflow(ctx workflow.Context, req api.MonitorRequest) ([]api.Event, error) {
	if err := inputError("monitor request", req.InputError()); err != nil {
		return nil, err
	}
	if req.FreshnessMultiple == 0 {
		req.FreshnessMultiple = 2
	}
	var events []api.Event
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute, Summary: "check jobs",
	}), monitor.CheckJobs, activities.CheckJobsInput{Now: workflow.Now(ctx), FreshnessMultiple: req.FreshnessMultiple}).Get(ctx, &events); err != nil {
		return nil, failure(ctx, err)
	}
	var lines []string
	for _, ev := range events {
		sendEvent(ctx, ev)
		lines = append(lines, fmt.Sprintf("- %s: %s", ev.Type, ev.Summary))
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%d events**\n\n%s", len(events), strings.Join(lines, "\n")))
	return events, nil
}
