package workflows

import (
	"fmt"
	"hash/fnv"

	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
)

// PowerOnWorkflow restores a powered-off cluster into itself: the backup
// it powered off with (for postgres, replayed to the end of its WAL
// archive) onto new volumes under the cluster's own node and volume IDs,
// checked like any restore. Only the cluster's lifecycle starts it, holding
// the cluster's lock (req.LockToken) throughout; on failure the restore's
// saga deletes what it made and the lifecycle leaves the cluster
// PoweredOff.
func PowerOnWorkflow(ctx workflow.Context, req api.PowerOnRequest) (api.RestoreResult, error) {
	info := workflow.GetInfo(ctx)
	restoreID, _ := api.RestoreIDsFor(info.WorkflowExecution.ID)
	r := &restoreRun{progress: api.RestoreProgress{RestoreID: restoreID, ClusterID: req.ClusterID, WorkflowID: info.WorkflowExecution.ID,
		Step: api.StepPlanning, Status: catalog.RestorePending}}
	if err := workflow.SetQueryHandler(ctx, api.QueryStatus, func() (api.RestoreProgress, error) { return r.progress, nil }); err != nil {
		return api.RestoreResult{}, err
	}
	return r.powerOn(ctx, req)
}

func (r *restoreRun) powerOn(ctx workflow.Context, req api.PowerOnRequest) (res api.RestoreResult, err error) {
	defer func() {
		if err != nil {
			err = r.fail(ctx, err)
		}
	}()
	r.setStep(ctx, api.StepPlanning)
	if err := inputError("power-on", req.InputError()); err != nil {
		return res, err
	}
	if err := req.Check(); err != nil {
		return res, activities.InvalidRequest("%v", err)
	}
	// The run's ID names the volumes: a power-on retried after a failure
	// gets new ones.
	h := fnv.New32a()
	_, _ = h.Write([]byte(workflow.GetInfo(ctx).WorkflowExecution.RunID))
	gen := fmt.Sprintf("on%08x", h.Sum32())
	if err := workflow.ExecuteActivity(stepOptions(ctx, "plan power-on of "+req.ClusterID), restores.PlanPowerOn, activities.PlanPowerOnInput{
		ClusterID: req.ClusterID, LockToken: req.LockToken, Generation: gen,
	}).Get(ctx, &r.plan); err != nil {
		return res, err
	}
	return r.execute(ctx)
}
