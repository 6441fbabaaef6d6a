package strata

import (
	"context"
	"errors"
	"fmt"
	"github.com/stratabackup/strata/api"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/notify"
	"github.com/stratabackup/strata/validate"
)

// Reconcile runs a reconciliation now and waits for it: with dryRun it only
// reports what it would delete and mark. A nil grace means the default
// (api.DefaultReconcileGrace); zero means zero.
func (c *Client) Reconcile(ctx context.Context, grace *time.Duration, dryRun bool) (api.ReconcileResult, error) {
	var res api.ReconcileResult
	tc, err := c.temporal()
	if err != nil {
		return res, err
	}
	req := api.ReconcileRequest{DryRun: dryRun}
	if grace != nil {
		if msg := validate.Grace(*grace); msg != "" {
			return res, errors.New("invalid reconcile request: " + msg + " (--grace)")
		}
		g := catalog.Duration(*grace)
		req.Grace = &g
	}
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: api.ReconcileWorkflowID(time.Now()), TaskQueue: c.TaskQueue,
		StaticSummary: "Reconcile snapshots",
	}, api.ReconcileWorkflowName, req)
	if err != nil {
		return res, err
	}
	err = run.Get(ctx, &res)
	return res, err
}

// EnsureReconcileSchedule creates (or updates) the Temporal Schedule that
// runs the reconciler every interval; the worker calls it on start.
func (c *Client) EnsureReconcileSchedule(ctx context.Context, every, grace time.Duration) error {
	g := catalog.Duration(grace)
	return c.ensureSchedule(ctx, api.ReconcileScheduleID, every, api.ReconcileWorkflowName,
		api.ReconcileRequest{Grace: &g}, "Reconcile snapshots")
}

// EnsureMonitorSchedule creates (or updates) the Temporal Schedule that
// checks jobs' freshness and skipped or missed runs every interval.
func (c *Client) EnsureMonitorSchedule(ctx context.Context, every time.Duration, freshnessMultiple float64) error {
	return c.ensureSchedule(ctx, api.MonitorScheduleID, every, api.MonitorWorkflowName,
		api.MonitorRequest{FreshnessMultiple: freshnessMultiple}, "Monitor jobs")
}

// ensureSchedule creates or updates one of the worker's own schedules
// (overlap SKIP, catch-up of one interval). Zero every means none.
func (c *Client) ensureSchedule(ctx context.Context, id string, every time.Duration, workflow string, arg any, summary string) error {
	tc, err := c.temporal()
	if err != nil {
		return err
	}
	if every <= 0 {
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{
		ID: strings.TrimPrefix(id, "strata-"), Workflow: workflow, TaskQueue: c.TaskQueue, Args: []interface{}{arg}, StaticSummary: summary,
	}
	_, err = tc.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: id, Spec: spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: every,
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = tc.ScheduleClient().GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				s.Spec, s.Action = &spec, action
				return &client.ScheduleUpdate{Schedule: &s}, nil
			},
		})
	}
	if err != nil {
		return fmt.Errorf("schedule %s: %w", id, err)
	}
	return nil
}

// ScheduleCounts reads a schedule's skipped and missed run counts.
func ScheduleCounts(tc client.Client) func(ctx context.Context, id string) (int, int, error) {
	return func(ctx context.Context, id string) (int, int, error) {
		d, err := tc.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			return 0, 0, err
		}
		return d.Info.NumActionsSkippedOverlap, d.Info.NumActionsMissedCatchupWindow, nil
	}
}

// CheckJobs runs the jobs monitor now (as its schedule does) and returns
// the events it sent: freshness violated or recovered, runs skipped or
// missed since the last check.
func (c *Client) CheckJobs(ctx context.Context, freshnessMultiple float64) ([]notify.Event, error) {
	tc, err := c.temporal()
	if err != nil {
		return nil, err
	}
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: api.MonitorWorkflowID(time.Now()), TaskQueue: c.TaskQueue, StaticSummary: "Monitor jobs",
	}, api.MonitorWorkflowName, api.MonitorRequest{FreshnessMultiple: freshnessMultiple})
	if err != nil {
		return nil, err
	}
	var events []notify.Event
	err = run.Get(ctx, &events)
	return events, err
}
