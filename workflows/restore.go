package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/notify"
)

// RestoreWorkflow restores a backup into a new cluster with a new ID; the
// source cluster is never touched. The saga:
//
//	plan (every rule checked, nothing created yet) → record the restore →
//	hold the backup (no pruning or deletion while in use) → record the new
//	cluster (Creating) → create every volume from its snapshot in parallel →
//	provision the nodes → check them healthy → cluster Running, restore
//	Completed → release the hold
//
// On any failure or cancellation, in reverse: nodes and volumes created are
// deleted, the new cluster is marked Failed with the reason, the hold is
// released and the restore marked Failed.
func RestoreWorkflow(ctx workflow.Context, req api.RestoreRequest) (api.RestoreResult, error) {
	wfID := workflow.GetInfo(ctx).WorkflowExecution.ID
	restoreID, clusterID := api.RestoreIDsFor(wfID)
	r := &restoreRun{progress: api.RestoreProgress{RestoreID: restoreID, ClusterID: clusterID, WorkflowID: wfID, Step: api.StepPlanning, Status: catalog.RestorePending}}
	if err := workflow.SetQueryHandler(ctx, api.QueryStatus, func() (api.RestoreProgress, error) { return r.progress, nil }); err != nil {
		return api.RestoreResult{}, err
	}
	return r.run(ctx, req)
}

type restoreRun struct {
	progress api.RestoreProgress
	plan     activities.RestorePlan
	saga     saga
	// recordedAt is when the restore was recorded (zero: not yet, and its
	// end is not counted).
	recordedAt time.Time
}

func (r *restoreRun) run(ctx workflow.Context, req api.RestoreRequest) (res api.RestoreResult, err error) {
	defer func() {
		if err != nil {
			err = r.fail(ctx, err)
		}
	}()

	// Plan: resolve the backup and check every rule before creating anything.
	r.setStep(ctx, api.StepPlanning)
	if err := inputError("restore", req.InputError()); err != nil {
		return res, err
	}
	if err := workflow.ExecuteActivity(stepOptions(ctx, "plan restore"), restores.PlanRestore, activities.PlanRestoreInput{
		ClusterID: r.progress.ClusterID,
		Request:   req,
	}).Get(ctx, &r.plan); err != nil {
		return res, err
	}
	return r.execute(ctx)
}

// execute runs a planned restore: every step after the plan.
func (r *restoreRun) execute(ctx workflow.Context) (res api.RestoreResult, err error) {
	defer func() { r.countFinished(ctx, err) }()
	r.progress.BackupID, r.progress.SourceClusterID = r.plan.BackupID, r.plan.SourceClusterID
	r.progress.VolumesTotal = len(r.plan.Volumes())
	if err := workflow.UpsertTypedSearchAttributes(ctx, api.SearchAttrClusterID.ValueSet(r.plan.SourceClusterID)); err != nil {
		return res, err
	}

	// Record the restore. Compensation: mark it Failed.
	if err := workflow.ExecuteActivity(stepOptions(ctx, "record restore"), restores.CreateRestoreRecord, activities.CreateRestoreRecordInput{
		RestoreID: r.progress.RestoreID, Plan: r.plan, WorkflowID: r.progress.WorkflowID, CreatedAt: workflow.Now(ctx),
	}).Get(ctx, &res.Restore); err != nil {
		return res, err
	}
	r.countStarted(ctx)
	r.progress.Status = catalog.RestoreRunning
	r.saga.add("mark restore Failed", func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(compensationOptions(ctx, "mark restore Failed"), restores.FinishRestore, activities.FinishRestoreInput{
			RestoreID: r.progress.RestoreID, Status: catalog.RestoreFailed, Reason: r.progress.Reason,
		}).Get(ctx, nil)
	})

	// Hold the backup. Compensation: release it.
	r.setStep(ctx, api.StepProtectingBackup)
	hold := activities.HoldInput{BackupID: r.plan.BackupID, Holder: validate.OperationHolder("restore", r.progress.RestoreID)}
	if err := workflow.ExecuteActivity(stepOptions(ctx, "hold backup "+r.plan.BackupID), restores.HoldBackup, hold).Get(ctx, nil); err != nil {
		return res, err
	}
	r.saga.add("release backup", func(ctx workflow.Context) error { return r.releaseBackup(ctx, hold, compensationOptions) })

	// Record the new cluster, Creating. Compensation: mark it Failed. A
	// cluster restored into itself is recorded already, and its lifecycle
	// decides what a failure leaves it.
	if !r.plan.InPlace {
		r.setStep(ctx, api.StepCreatingCluster)
		if err := workflow.ExecuteActivity(stepOptions(ctx, "record cluster "+r.plan.ClusterID), restores.CreateRestoredCluster, r.plan).Get(ctx, &res.Cluster); err != nil {
			return res, err
		}
		r.saga.add("mark cluster Failed", func(ctx workflow.Context) error {
			return workflow.ExecuteActivity(compensationOptions(ctx, "mark cluster Failed"), restores.SetClusterStatus, activities.ClusterStatusInput{
				ClusterID: r.plan.ClusterID, Status: catalog.ClusterFailed, Reason: r.progress.Reason,
			}).Get(ctx, nil)
		})
	}

	// Create the volumes. The compensation is registered first because the
	// step can fail halfway: it deletes whatever volumes were recorded.
	r.setStep(ctx, api.StepCreatingVolumes)
	r.saga.add("delete volumes", func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(compensationOptions(ctx, "delete volumes"), restores.DeleteVolumes, r.plan).Get(ctx, nil)
	})
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    24 * time.Hour,
		HeartbeatTimeout:       r.plan.HeartbeatTimeout,
		ScheduleToCloseTimeout: 48 * time.Hour,
		Summary:                fmt.Sprintf("create %d volumes", r.progress.VolumesTotal),
		RetryPolicy:            providerRetry(),
	}), restores.CreateVolumes, r.plan).Get(ctx, nil); err != nil {
		return res, err
	}
	r.progress.VolumesCreated = r.progress.VolumesTotal

	if r.plan.Recovery != nil {
		if res.Cluster, err = r.recover(ctx); err != nil {
			return res, err
		}
		return r.complete(ctx, res, hold)
	}

	// Provision the nodes. Compensation (registered first, for the same
	// reason): tear them down.
	r.setStep(ctx, api.StepProvisioningNodes)
	r.saga.add("delete nodes", func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(compensationOptions(ctx, "delete nodes"), restores.DeleteNodes, r.plan).Get(ctx, nil)
	})
	if err := workflow.ExecuteActivity(stepOptions(ctx, "provision nodes"), restores.ProvisionNodes, r.plan).Get(ctx, nil); err != nil {
		return res, err
	}

	// Healthy: the cluster is Running.
	r.setStep(ctx, api.StepCheckingNodes)
	if err := workflow.ExecuteActivity(stepOptions(ctx, "check nodes"), restores.CheckRestoredNodes, r.plan).Get(ctx, &res.Cluster); err != nil {
		return res, err
	}
	return r.complete(ctx, res, hold)
}

// complete records the restore Completed and releases the backup.
func (r *restoreRun) complete(ctx workflow.Context, res api.RestoreResult, hold activities.HoldInput) (api.RestoreResult, error) {
	if err := workflow.ExecuteActivity(stepOptions(ctx, "mark restore Completed"), restores.FinishRestore, activities.FinishRestoreInput{
		RestoreID: r.progress.RestoreID, Status: catalog.RestoreCompleted,
	}).Get(ctx, &res.Restore); err != nil {
		return res, err
	}
	r.saga.commit()
	r.progress.Status = catalog.RestoreCompleted
	if err := r.releaseBackup(ctx, hold, stepOptions); err != nil {
		workflow.GetLogger(ctx).Error("releasing the backup's hold failed", "backup", r.plan.BackupID, "error", err)
	}
	r.setStep(ctx, api.StepDone)
	return res, nil
}

// replayTimeout bounds a postgres restore's WAL replay.
const replayTimeout = 24 * time.Hour

// recover brings a postgres restore's database up: the primary replays
// the source's archived WAL to the target and is promoted, its replicas
// are copied from it, and the database must answer its check. The servers
// are stopped (a compensation registered first) before the volumes are
// deleted.
func (r *restoreRun) recover(ctx workflow.Context) (api.Cluster, error) {
	var cl api.Cluster
	r.saga.add("stop servers", func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(compensationOptions(ctx, "stop servers"), restores.StopServers, r.plan).Get(ctx, nil)
	})

	// Replay WAL to the target. The server runs detached: a worker lost
	// mid-replay finds it where it is.
	r.progress.Recovery = &api.RecoveryProgress{Target: r.plan.Recovery.Target, BackupStopLSN: r.plan.Recovery.BackupStopLSN, Phase: api.RecoveryPreparing}
	r.setStep(ctx, api.StepReplayingWAL)
	if err := workflow.ExecuteActivity(stepOptions(ctx, "prepare recovery"), restores.PrepareRecovery, r.plan).Get(ctx, nil); err != nil {
		return cl, err
	}
	deadline := workflow.Now(ctx).Add(replayTimeout)
	for {
		var p api.RecoveryProgress
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout:    time.Minute,
			HeartbeatTimeout:       30 * time.Second,
			ScheduleToCloseTimeout: stepWindow,
			Summary:                "replay WAL",
			RetryPolicy:            stepRetry(),
		}), restores.ReplayWAL, r.plan).Get(ctx, &p); err != nil {
			return cl, err
		}
		r.progress.Recovery = &p
		r.setStep(ctx, api.StepReplayingWAL)
		if p.Phase == api.RecoveryPaused || p.Phase == api.RecoveryPromoted {
			break
		}
		if workflow.Now(ctx).After(deadline) {
			return cl, temporal.NewNonRetryableApplicationError(fmt.Sprintf("restore into %s: WAL replay did not reach its target within %s (at %s)", r.plan.ClusterID, replayTimeout, p.ReplayLSN), api.ReasonTimeout, nil)
		}
	}

	// Promote: a new timeline, and the node the cluster's primary.
	r.setStep(ctx, api.StepPromoting)
	var p api.RecoveryProgress
	if err := workflow.ExecuteActivity(stepOptions(ctx, "promote"), restores.Promote, r.plan).Get(ctx, &p); err != nil {
		return cl, err
	}
	r.progress.Recovery = &p

	// The replicas, copied from the new primary.
	r.setStep(ctx, api.StepProvisioningNodes)
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour, HeartbeatTimeout: time.Minute, ScheduleToCloseTimeout: 2 * time.Hour,
		Summary: "start replicas", RetryPolicy: stepRetry(),
	}), restores.StartReplicas, r.plan).Get(ctx, nil); err != nil {
		return cl, err
	}

	// The database answers.
	r.setStep(ctx, api.StepVerifying)
	if err := workflow.ExecuteActivity(stepOptions(ctx, "verify database"), restores.VerifyDatabase, r.plan).Get(ctx, nil); err != nil {
		return cl, err
	}
	r.setStep(ctx, api.StepCheckingNodes)
	err := workflow.ExecuteActivity(stepOptions(ctx, "check servers"), restores.CheckRestoredServers, r.plan).Get(ctx, &cl)
	return cl, err
}

func (r *restoreRun) releaseBackup(ctx workflow.Context, hold activities.HoldInput, opts func(workflow.Context, string) workflow.Context) error {
	return workflow.ExecuteActivity(opts(ctx, "release backup "+hold.BackupID), restores.ReleaseBackup, hold).Get(ctx, nil)
}

func (r *restoreRun) fail(ctx workflow.Context, err error) error {
	code, msg := reasonOf(ctx, err)
	r.progress.Reason = code + ": " + msg
	r.saga.unwind(ctx, func() { r.setStep(ctx, api.StepCompensating) })
	r.progress.Status = catalog.RestoreFailed
	r.setStep(ctx, api.StepDone)
	if r.plan.BackupID != "" && code != api.ReasonInvalidRequest && !r.plan.InPlace {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		sendEvent(dctx, notify.Event{
			ID: eventID(ctx, api.EventRestoreFailed, r.progress.RestoreID), Type: api.EventRestoreFailed,
			ProjectID: r.plan.ProjectID, ClusterID: r.plan.SourceClusterID, BackupID: r.plan.BackupID, RestoreID: r.progress.RestoreID,
			Reason:  r.progress.Reason,
			Summary: fmt.Sprintf("Restore %s of backup %s into new cluster %s failed: %s", r.progress.RestoreID, r.plan.BackupID, r.plan.ClusterID, code),
		})
	}
	return endWith(code, r.progress.Reason, err)
}

func (r *restoreRun) setStep(ctx workflow.Context, step string) {
	r.progress.Step = step
	p := r.progress
	details := fmt.Sprintf("**Restore** `%s` of backup `%s` (cluster `%s`) into new cluster `%s`\n\n**Status:** %s · **Step:** %s · **Volumes:** %d of %d created",
		p.RestoreID, p.BackupID, p.SourceClusterID, p.ClusterID, p.Status, p.Step, p.VolumesCreated, p.VolumesTotal)
	if rc := p.Recovery; rc != nil {
		details += fmt.Sprintf("\n\n**Recovery** to %s: %s", rc.Target.String(), rc.Phase)
		if rc.ReplayLSN != "" {
			details += " · replayed to WAL " + rc.ReplayLSN
		}
		if rc.ReplayedAt != nil {
			details += " · last commit " + rc.ReplayedAt.UTC().Format(time.RFC3339)
		}
		if rc.Timeline > 0 {
			details += fmt.Sprintf(" · timeline %d", rc.Timeline)
		}
	}
	if p.Reason != "" {
		details += "\n\n**Reason:** " + p.Reason
	}
	workflow.SetCurrentDetails(ctx, details)
}
