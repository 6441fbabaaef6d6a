package strata

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/workflows"
)

// Reconcile runs a reconciliation now and waits for it: with dryRun it only
// reports what it would delete and mark.
func (c *Client) Reconcile(ctx context.Context, grace time.Duration, dryRun bool) (workflows.ReconcileResult, error) {
	var res workflows.ReconcileResult
	tc, err := c.temporal()
	if err != nil {
		return res, err
	}
	if grace < 0 {
		return res, errors.New("--grace must not be negative")
	}
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "reconcile-" + time.Now().UTC().Format("20060102T150405.000Z"), TaskQueue: c.TaskQueue,
		StaticSummary: "Reconcile snapshots",
	}, workflows.ReconcileWorkflowName, workflows.ReconcileRequest{Grace: catalog.Duration(grace), DryRun: dryRun})
	if err != nil {
		return res, err
	}
	err = run.Get(ctx, &res)
	return res, err
}

// EnsureReconcileSchedule creates (or updates) the Temporal Schedule that
// runs the reconciler every interval; the worker calls it on start.
func (c *Client) EnsureReconcileSchedule(ctx context.Context, every, grace time.Duration) error {
	tc, err := c.temporal()
	if err != nil {
		return err
	}
	if every <= 0 {
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{
		ID: "reconcile", Workflow: workflows.ReconcileWorkflowName, TaskQueue: c.TaskQueue,
		Args:          []interface{}{workflows.ReconcileRequest{Grace: catalog.Duration(grace)}},
		StaticSummary: "Reconcile snapshots",
	}
	_, err = tc.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: workflows.ReconcileScheduleID, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: every,
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = tc.ScheduleClient().GetHandle(ctx, workflows.ReconcileScheduleID).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				s.Spec, s.Action = &spec, action
				return &client.ScheduleUpdate{Schedule: &s}, nil
			},
		})
	}
	if err != nil {
		return fmt.Errorf("reconcile schedule: %w", err)
	}
	return nil
}
