package workflows

import (
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/metrics"
	"github.com/stratabackup/strata/notify"
)

// DeleteBackupWorkflow deletes a backup, in order and idempotently:
//
//	Deleting → delete every snapshot at the provider (gone counts as
//	deleted) → Deleted
//
// A deletion that keeps failing stops after bounded retries with its reason
// on the record (status stays Deleting) instead of looping forever; running
// it again resumes where it stopped.
func DeleteBackupWorkflow(ctx workflow.Context, req api.DeleteBackupRequest) (api.Backup, error) {
	var b api.Backup
	if err := inputError("delete request", req.InputError()); err != nil {
		return b, err
	}
	if err := workflow.ExecuteActivity(stepOptions(ctx, "mark Deleting"), deletions.StartDeletion, activities.BackupRef{
		BackupID: req.BackupID, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
	}).Get(ctx, &b); err != nil {
		return b, failure(ctx, err)
	}
	metrics.Inc(wfMetrics(ctx), metrics.DeletionsStarted, nil, 1)
	start := workflow.Now(ctx)
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		// A worker killed mid-deletion is noticed this soon.
		HeartbeatTimeout: deleteHeartbeatTimeout,
		Summary:          "delete snapshots",
		RetryPolicy:      boundedRetry(),
	}), deletions.DeleteSnapshots, activities.BackupRef{BackupID: req.BackupID}).Get(ctx, nil)
	if err != nil {
		countDeletion(ctx, start, err)
		code, msg := reasonOf(ctx, err)
		reason := api.ReasonDeleteFailed + ": " + code + ": " + msg
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		if ferr := workflow.ExecuteActivity(compensationOptions(dctx, "record deletion failure"), deletions.FailDeletion, activities.FailDeletionInput{
			BackupID: req.BackupID, Reason: reason,
		}).Get(dctx, nil); ferr != nil {
			workflow.GetLogger(ctx).Error("recording deletion failure failed", "backup", req.BackupID, "error", ferr)
		}
		if code == api.ReasonCancelled {
			return b, endWith(code, reason, err)
		}
		sendEvent(dctx, notify.Event{
			ID: eventID(ctx, api.EventDeletionFailing, req.BackupID), Type: api.EventDeletionFailing,
			ClusterID: b.ClusterID, BackupID: req.BackupID, JobID: b.JobID, Reason: reason,
			Summary: "Deleting backup " + req.BackupID + " keeps failing; retry with `starter backup delete " + req.BackupID + "`",
		})
		return b, temporal.NewNonRetryableApplicationError(reason, api.ReasonDeleteFailed, nil)
	}
	err = workflow.ExecuteActivity(stepOptions(ctx, "mark Deleted"), deletions.FinishDeletion, activities.BackupRef{BackupID: req.BackupID}).Get(ctx, &b)
	countDeletion(ctx, start, err)
	if err != nil {
		return b, failure(ctx, err)
	}
	// A postgres backup gone: the WAL only it needed goes too. A failure
	// here fails nothing: the next deletion prunes again.
	if b.Database != nil && workflow.GetVersion(ctx, walRetentionChange, workflow.DefaultVersion, 1) >= 1 {
		if err := workflow.ExecuteActivity(stepOptions(ctx, "prune WAL of "+b.ClusterID), deletions.PruneWAL, b.ClusterID).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("pruning the WAL archive failed", "cluster", b.ClusterID, "error", err)
		}
	}
	return b, nil
}

// walRetentionChange is the version from which deleting a postgres backup
// prunes its cluster's WAL archive.
const walRetentionChange = "wal-retention"

// deleteHeartbeatTimeout: DeleteSnapshots heartbeats every second.
const deleteHeartbeatTimeout = 30 * time.Second

// PruneWorkflow applies a job's retention policy: it plans (only this job's
// backups; the newest Completed one, held ones and running ones are always
// kept; Defunct ones go) and runs one DeleteBackupWorkflow per backup to
// delete, a few at a time. Deletion failures are reported in the result and
// on each backup's record; they do not fail the prune.
func PruneWorkflow(ctx workflow.Context, req api.PruneRequest) (res api.PruneResult, err error) {
	res = api.PruneResult{JobID: req.JobID, Deleted: []string{}, Failed: []api.PruneFailure{}}
	if err := inputError("prune request", req.InputError()); err != nil {
		res.JobID = ""
		return res, err
	}
	metrics.Inc(wfMetrics(ctx), metrics.PrunesStarted, nil, 1)
	start := workflow.Now(ctx)
	defer func() { countPrune(ctx, start, res, err) }()
	if err := workflow.ExecuteActivity(stepOptions(ctx, "plan prune of "+req.JobID), deletions.PlanPrune, activities.PlanPruneInput{
		JobID: req.JobID, Now: workflow.Now(ctx),
	}).Get(ctx, &res.Decisions); err != nil {
		return res, failure(ctx, err)
	}
	var doomed []string
	for _, d := range res.Decisions {
		if d.Delete {
			doomed = append(doomed, d.BackupID)
		}
	}
	const batch = 10
	for start := 0; start < len(doomed); start += batch {
		end := min(start+batch, len(doomed))
		futures := make([]workflow.ChildWorkflowFuture, 0, end-start)
		for _, id := range doomed[start:end] {
			cctx := workflow.WithChildOptions(ctx, childDeleteOptions(id))
			futures = append(futures, workflow.ExecuteChildWorkflow(cctx, api.DeleteBackupWorkflowName, api.DeleteBackupRequest{BackupID: id}))
		}
		for i, f := range futures {
			id := doomed[start+i]
			if err := f.Get(ctx, nil); err != nil {
				var started *temporal.ChildWorkflowExecutionAlreadyStartedError
				if errors.As(err, &started) {
					// Someone is deleting it already: that deletion reports itself.
					continue
				}
				_, msg := reasonOf(ctx, err)
				res.Failed = append(res.Failed, api.PruneFailure{BackupID: id, Reason: msg})
				continue
			}
			res.Deleted = append(res.Deleted, id)
		}
	}
	return res, nil
}

func childDeleteOptions(backupID string) workflow.ChildWorkflowOptions {
	return workflow.ChildWorkflowOptions{
		WorkflowID: api.DeleteWorkflowID(backupID),
		// A deletion runs to its end even if the prune that started it is
		// cancelled: a half-deleted backup would otherwise wait for a
		// manual retry.
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		// A failed deletion may be retried under the same ID.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         "Delete backup " + backupID,
	}
}
