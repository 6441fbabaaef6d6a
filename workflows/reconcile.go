package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
)

// ReconcileWorkflow plans (every provider's Strata-tagged snapshots against
// the catalog), then, unless dry-run, deletes orphans and marks backups
// whose snapshots are gone Missing.
func ReconcileWorkflow(ctx workflow.Context, req api.ReconcileRequest) (api.ReconcileResult, error) {
	var res api.ReconcileResult
	if err := inputError("reconcile request", req.InputError()); err != nil {
		return res, err
	}
	grace := api.DefaultReconcileGrace
	if req.Grace != nil {
		grace = req.Grace.D()
	}
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute, Summary: "plan reconciliation",
		RetryPolicy: planRetry(),
	}), reconciler.PlanReconcile, activities.PlanReconcileInput{Grace: grace, Now: workflow.Now(ctx)}).Get(ctx, &res.Plan); err != nil {
		return res, failure(ctx, err)
	}
	if req.DryRun || (len(res.Plan.Orphans) == 0 && len(res.Plan.Missing) == 0 && len(res.Plan.Stuck) == 0) {
		if !req.DryRun {
			countReconcile(ctx, res.Plan, false)
		}
		return res, nil
	}
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute, Summary: "delete orphans, mark missing, finish stuck records",
		RetryPolicy: boundedRetry(),
	}), reconciler.ApplyReconcile, res.Plan).Get(ctx, nil); err != nil {
		return res, failure(ctx, err)
	}
	res.Applied = true
	countReconcile(ctx, res.Plan, true)
	for _, ev := range activities.ReconcileEvents(res.Plan) {
		sendEvent(ctx, ev)
	}
	return res, nil
}
