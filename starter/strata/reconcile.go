package strata

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
)

// Reconcile runs a reconciliation now and waits for it: with dryRun it only
// reports what it would delete and mark. A nil grace means the default
// (api.DefaultReconcileGrace); zero means zero.
func (c *Client) Reconcile(ctx context.Context, grace *time.Duration, dryRun bool) (api.ReconcileResult, error) {
	var res api.ReconcileResult
	req := api.ReconcileRequest{DryRun: dryRun}
	if grace != nil {
		if msg := validate.Grace(*grace); msg != "" {
			return res, errors.New("invalid reconcile request: " + msg + " (--grace)")
		}
		g := api.Duration(*grace)
		req.Grace = &g
	}
	return res, c.runWorkflow(ctx, client.StartWorkflowOptions{ID: api.ReconcileWorkflowID(time.Now()), StaticSummary: "Reconcile snapshots"},
		api.ReconcileWorkflowName, req, &res)
}

// CheckJobs runs the jobs monitor now (as its schedule does) and returns
// the events it sent: freshness violated or recovered, runs skipped or
// missed since the last check.
func (c *Client) CheckJobs(ctx context.Context, freshnessMultiple float64) ([]api.Event, error) {
	return c.Monitor(ctx, api.MonitorRequest{FreshnessMultiple: freshnessMultiple})
}

// Monitor runs the monitor now (as its schedule does): jobs' freshness
// and runs, and postgres clusters' WAL archiving; it returns the events it
// sent.
func (c *Client) Monitor(ctx context.Context, req api.MonitorRequest) ([]api.Event, error) {
	var events []api.Event
	return events, c.runWorkflow(ctx, client.StartWorkflowOptions{ID: api.MonitorWorkflowID(time.Now()), StaticSummary: "Monitor jobs"},
		api.MonitorWorkflowName, req, &events)
}
