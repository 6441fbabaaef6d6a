package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
)

// archiveCheckChange is the version from which the monitor also checks
// postgres clusters' WAL archiving.
const archiveCheckChange = "wal-archive-check"

// MonitorWorkflow notifies each freshness violation once, its recovery
// once, skipped or missed scheduled runs, and each stall of a postgres
// cluster's WAL archiving and its recovery.
func MonitorWorkflow(ctx workflow.Context, req api.MonitorRequest) ([]api.Event, error) {
	if err := inputError("monitor request", req.InputError()); err != nil {
		return nil, err
	}
	if req.MaxArchiveLag != 0 {
		if msg := validate.Duration("maxArchiveLag", req.MaxArchiveLag.D(), time.Second, 7*24*time.Hour); msg != "" {
			return nil, inputError("monitor request", errors.New(msg))
		}
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
	if workflow.GetVersion(ctx, archiveCheckChange, workflow.DefaultVersion, 1) >= 1 {
		lag := req.MaxArchiveLag.D()
		if lag == 0 {
			lag = api.DefaultMaxArchiveLag
		}
		var more []api.Event
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 5 * time.Minute, Summary: "check WAL archives",
		}), monitor.CheckArchives, activities.CheckArchivesInput{Now: workflow.Now(ctx), MaxLag: lag}).Get(ctx, &more); err != nil {
			return nil, failure(ctx, err)
		}
		events = append(events, more...)
	}
	var lines []string
	for _, ev := range events {
		sendEvent(ctx, ev)
		lines = append(lines, fmt.Sprintf("- %s: %s", ev.Type, ev.Summary))
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%d events**\n\n%s", len(events), strings.Join(lines, "\n")))
	return events, nil
}
