package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/notify"
)

// a is only used to name activities; the worker registers the real struct.

// BackupWorkflow backs up every volume of a cluster. The saga:
//
//	validate → record (Pending) → lock cluster → check health → InProgress →
//	snapshot every volume in parallel, bounded by the deadline →
//	Completed → release lock
//
// On any failure, timeout or cancellation, the steps done so far are
// compensated in reverse: the lock is released and the backup is marked
// Defunct with its reason and every snapshot it created.
func BackupWorkflow(ctx workflow.Context, req api.BackupRequest) (api.Backup, error) {
	info := workflow.GetInfo(ctx)
	// The request's IDs are shown (query status, current details) cut to
	// their bound until validation has checked them.
	r := &backupRun{req: req, progress: api.BackupProgress{
		BackupID: api.BackupIDFor(info.WorkflowExecution.ID), ClusterID: validate.Truncate(req.ClusterID, validate.MaxIDLen),
		JobID: validate.Truncate(req.JobID, validate.MaxIDLen), WorkflowID: info.WorkflowExecution.ID,
		Step: api.StepValidating, Status: catalog.BackupPending,
	}}
	if err := r.registerHandlers(ctx); err != nil {
		return api.Backup{}, err
	}
	return r.run(ctx)
}

type backupRun struct {
	req api.BackupRequest
	// localSteps: the short catalog steps run as local activities (runs
	// started before localStepsChange ran them as activities).
	localSteps bool
	plan       activities.BackupPlan
	// lock fences the backup's writes once it holds the cluster's lock.
	lock     activities.LockRef
	progress api.BackupProgress
	// deadline is zero until the backup is InProgress; extendTimeout moves it.
	deadline time.Time
	// startedAt is when the backup went InProgress; timeouts count from it.
	startedAt time.Time
	saga      saga
	// preferredNode is where a postgres cluster's backup mode is held.
	preferredNode string
	// recordedAt is when this run recorded its backup (zero: it has not;
	// its end is not counted).
	recordedAt time.Time
	// completedAt is when it was marked Completed (its duration ends there,
	// not after the prune that follows).
	completedAt time.Time
	// awaitCancelled: a snapshot activity cancelled by the deadline is
	// waited for until it has stopped (runs started before
	// awaitCancelledChange left it behind, pending on the closed run).
	awaitCancelled bool
}

// awaitCancelledChange is the version from which a backup that timed out
// waits for its cancelled snapshot activities to stop before it ends.
const awaitCancelledChange = "await-cancelled-snapshots"

func (r *backupRun) run(ctx workflow.Context) (result api.Backup, err error) {
	defer func() {
		if err != nil {
			err = r.fail(ctx, err)
		}
		r.countFinished(ctx)
	}()

	r.localSteps = workflow.GetVersion(ctx, localStepsChange, workflow.DefaultVersion, 1) >= 1

	// Validate: nothing exists yet, so nothing to compensate.
	if err := inputError("backup request", r.req.InputError()); err != nil {
		return api.Backup{}, err
	}
	if err := r.step(ctx, "validate request", backups.ValidateBackup, activities.ValidateBackupInput{
		ClusterID: r.req.ClusterID, Label: r.req.Label, Timeout: r.req.Timeout.D(), JobID: r.req.JobID,
		RequestID: r.req.RequestID, WorkflowID: r.progress.WorkflowID, ScheduledBy: scheduledBy(ctx),
	}).Get(ctx, &r.plan); err != nil {
		return api.Backup{}, err
	}
	r.progress.ClusterID, r.progress.JobID = r.plan.ClusterID, r.req.JobID

	// Record the backup as Pending. Compensation: mark it Defunct.
	r.setStep(ctx, api.StepRecording)
	var rec catalog.Backup
	if err := r.step(ctx, "record backup", backups.CreateBackupRecord, activities.CreateBackupRecordInput{
		BackupID: r.progress.BackupID, ClusterID: r.plan.ClusterID, JobID: r.req.JobID, RequestID: r.req.RequestID,
		WorkflowID: r.progress.WorkflowID, LabelTemplate: r.plan.LabelTemplate, CreatedAt: workflow.Now(ctx),
	}).Get(ctx, &rec); err != nil {
		return api.Backup{}, err
	}
	r.progress.Label = rec.Label
	if rec.Status.Terminal() {
		// A re-run of a workflow ID whose backup already ended: report that
		// outcome instead of backing up twice.
		return r.finished(ctx, rec)
	}
	r.countStarted(ctx)
	r.saga.add("mark backup Defunct", r.markDefunct)
	if err := r.setStatus(ctx, catalog.BackupPending); err != nil {
		return api.Backup{}, err
	}

	// Lock the cluster; fail fast if anyone else holds it. Compensation:
	// release it (a no-op if the lease lapsed and someone else has it now).
	r.setStep(ctx, api.StepLocking)
	var lock catalog.Lock
	lockStep := r.startStep(ctx, stepLock)
	if err := r.step(ctx, "lock cluster "+r.plan.ClusterID, backups.AcquireLock, activities.LockInput{
		ClusterID: r.plan.ClusterID, Holder: validate.OperationHolder("backup", r.progress.BackupID), TTL: r.plan.LockTTL,
	}).Get(ctx, &lock); err != nil {
		return api.Backup{}, err
	}
	lockStep.done()
	// Every write from here on is fenced by the lock: it lands only while
	// this backup still holds it, else the backup fails LockLost.
	r.lock = activities.LockRef{ClusterID: r.plan.ClusterID, LockToken: lock.Token, LockTTL: r.plan.LockTTL}
	r.saga.add("release cluster lock", func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(compensationOptions(ctx, "release lock on "+r.plan.ClusterID), backups.ReleaseLock, r.releaseInput(lock)).Get(ctx, nil)
	})

	// Check every node is healthy.
	r.setStep(ctx, api.StepCheckingHealth)
	var health activities.HealthResult
	healthStep := r.startStep(ctx, stepHealth)
	if err := r.step(ctx, "check health of "+r.plan.ClusterID, backups.CheckHealth, activities.HealthInput{
		ClusterID: r.plan.ClusterID, MaxLag: r.plan.MaxLag,
	}).Get(ctx, &health); err != nil {
		return api.Backup{}, err
	}
	healthStep.done()

	// InProgress: the snapshot deadline starts now.
	r.startedAt = workflow.Now(ctx)
	r.deadline = r.startedAt.Add(r.plan.Timeout)
	r.preferredNode = health.PreferredNodeID
	if err := r.step(ctx, "mark InProgress", backups.MarkInProgress, activities.MarkInProgressInput{
		BackupID: r.progress.BackupID, Deadline: r.deadline, PreferredNodeID: health.PreferredNodeID, LockRef: r.lock,
	}).Get(ctx, nil); err != nil {
		return api.Backup{}, err
	}
	if err := r.setStatus(ctx, catalog.BackupInProgress); err != nil {
		return api.Backup{}, err
	}

	// Snapshot every volume, bounded by the deadline. Snapshots are recorded
	// as they are created; the Defunct compensation records any others.
	snapStep := r.startStep(ctx, stepSnapshot)
	snaps, err := r.snapshotWithinDeadline(ctx)
	if err != nil {
		return api.Backup{}, err
	}
	snapStep.done()

	// Completed, then release the lock.
	r.setStep(ctx, api.StepCompleting)
	completionStep := r.startStep(ctx, stepCompletion)
	if err := r.step(ctx, "mark Completed", backups.CompleteBackup, activities.CompleteInput{
		BackupID: r.progress.BackupID, Snapshots: snaps, LockRef: r.lock,
	}).Get(ctx, &rec); err != nil {
		return api.Backup{}, err
	}
	completionStep.done()
	r.completedAt = workflow.Now(ctx)
	r.saga.commit()
	if err := r.step(ctx, "release lock on "+r.plan.ClusterID, backups.ReleaseLock, r.releaseInput(lock)).Get(ctx, nil); err != nil {
		// The backup is good; the lease lapses by itself within its TTL.
		workflow.GetLogger(ctx).Error("releasing cluster lock failed", "cluster", r.plan.ClusterID, "error", err)
	}

	// A job's backup prunes the job after each success.
	if r.req.JobID != "" {
		r.prune(ctx)
	}
	return r.finished(ctx, rec)
}

// scheduledBy is the ID of the Temporal Schedule that started this run, from
// the TemporalScheduledById search attribute the server sets on scheduled
// runs ("" for any other start). It is read raw: the server may store it
// without the type metadata the SDK's typed search attributes need.
func scheduledBy(ctx workflow.Context) string {
	p := workflow.GetInfo(ctx).SearchAttributes.GetIndexedFields()[api.ScheduledByAttribute]
	if p == nil {
		return ""
	}
	var id string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &id); err != nil {
		return ""
	}
	return id
}

// prune runs the job's retention as a child workflow. Its outcome is
// reported (query status) but never fails the backup, which is Completed.
func (r *backupRun) prune(ctx workflow.Context) {
	r.setStep(ctx, api.StepPruning)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        api.PruneWorkflowID(r.progress.WorkflowID),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     "Prune job " + r.req.JobID,
	})
	var res api.PruneResult
	if err := workflow.ExecuteChildWorkflow(cctx, api.PruneWorkflowName, api.PruneRequest{JobID: r.req.JobID}).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Error("pruning job failed", "job", r.req.JobID, "error", err)
		_, msg := reasonOf(ctx, err)
		res = api.PruneResult{JobID: r.req.JobID, Failed: []api.PruneFailure{{Reason: msg}}}
	}
	r.progress.Prune = &res
}

// snapshotWithinDeadline starts and waits for the snapshots in a child
// coroutine while this one watches the deadline, which extendTimeout may
// move. When the deadline passes first, the snapshot activities are
// cancelled and the backup fails with reason Timeout.
func (r *backupRun) snapshotWithinDeadline(ctx workflow.Context) ([]catalog.Snapshot, error) {
	r.awaitCancelled = workflow.GetVersion(ctx, awaitCancelledChange, workflow.DefaultVersion, 1) >= 1
	sctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	var (
		snaps []catalog.Snapshot
		serr  error
		done  bool
	)
	workflow.Go(sctx, func(gctx workflow.Context) {
		snaps, serr = r.startAndWait(gctx)
		done = true
	})
	recorded := r.deadline
	for !done {
		remaining := r.deadline.Sub(workflow.Now(ctx))
		if remaining <= 0 {
			break
		}
		current := r.deadline
		if _, err := workflow.AwaitWithTimeout(ctx, remaining, func() bool { return done || !r.deadline.Equal(current) }); err != nil {
			return nil, err // cancelled
		}
		if !r.deadline.Equal(recorded) && !done {
			recorded = r.deadline
			if err := r.step(ctx, "record extended deadline", backups.RecordDeadline, activities.RecordDeadlineInput{
				BackupID: r.progress.BackupID, Deadline: recorded, LockRef: r.lock,
			}).Get(ctx, nil); err != nil {
				workflow.GetLogger(ctx).Warn("recording extended deadline failed", "error", err)
			}
		}
	}
	if done {
		return snaps, serr
	}
	cancel()
	if r.awaitCancelled {
		// The activity stops at its next heartbeat; one that cannot (its
		// worker died) times out on its heartbeat timeout.
		if _, err := workflow.AwaitWithTimeout(ctx, 2*r.plan.HeartbeatTimeout+time.Minute, func() bool { return done }); err != nil {
			return nil, err // cancelled
		}
	}
	return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"snapshots of backup %s (cluster %s) did not complete within %s (deadline %s): %s",
		r.progress.BackupID, r.plan.ClusterID, r.deadline.Sub(r.startedAt), r.deadline.UTC().Format(time.RFC3339), r.pendingSummary(),
	), api.ReasonTimeout, nil)
}

func (r *backupRun) startAndWait(ctx workflow.Context) ([]catalog.Snapshot, error) {
	if r.plan.Engine == api.EnginePostgres {
		return r.onlineBackup(ctx)
	}
	snaps, err := r.startSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	return r.waitSnapshots(ctx, snaps)
}

// onlineBackup takes a postgres cluster's snapshots in backup mode, held
// on the preferred node from before the first snapshot starts until the
// last completes. Backup mode's session is one worker's, so starting and
// stopping it run in one Temporal session. Compensation: end backup mode
// wherever it is still held.
func (r *backupRun) onlineBackup(ctx workflow.Context) ([]catalog.Snapshot, error) {
	sctx, err := workflow.CreateSession(ctx, &workflow.SessionOptions{
		CreationTimeout:  time.Minute,
		ExecutionTimeout: 8 * 24 * time.Hour,
		HeartbeatTimeout: r.plan.HeartbeatTimeout,
	})
	if err != nil {
		return nil, err
	}
	defer workflow.CompleteSession(sctx)
	mode := activities.BackupModeInput{BackupID: r.progress.BackupID, NodeID: r.preferredNode, LockRef: r.lock}

	r.setStep(ctx, api.StepStartingBackup)
	r.saga.add("end backup mode on "+mode.NodeID, func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(compensationOptions(ctx, "end backup mode on "+mode.NodeID), backups.AbortBackupMode, mode).Get(ctx, nil)
	})
	if err := workflow.ExecuteActivity(sessionStepOptions(sctx, "pg_backup_start on "+mode.NodeID), backups.StartBackupMode, mode).Get(ctx, &mode.Start); err != nil {
		return nil, r.sessionError(ctx, sctx, mode, err)
	}
	r.progress.Database = &mode.Start

	snaps, err := r.startSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	if snaps, err = r.waitSnapshots(ctx, snaps); err != nil {
		return nil, err
	}

	r.setStep(ctx, api.StepStoppingBackup)
	var db api.DatabaseBackup
	if err := workflow.ExecuteActivity(sessionStepOptions(sctx, "pg_backup_stop on "+mode.NodeID), backups.StopBackupMode, mode).Get(ctx, &db); err != nil {
		return nil, r.sessionError(ctx, sctx, mode, err)
	}
	r.progress.Database = &db
	return snaps, nil
}

// sessionError names what a lost session means: the worker that held
// backup mode stopped, and PostgreSQL ended backup mode with its database
// session, so the snapshots may not be consistent. A session activity
// cancelled while the backup itself is not was cancelled by its session
// failing. The cause is not kept: a cancellation in it would make the
// backup look cancelled by request.
func (r *backupRun) sessionError(ctx, sctx workflow.Context, mode activities.BackupModeInput, err error) error {
	info := workflow.GetSessionInfo(sctx)
	lost := errors.Is(err, workflow.ErrSessionFailed) || (info != nil && info.SessionState == workflow.SessionStateFailed) ||
		(temporal.IsCanceledError(err) && ctx.Err() == nil)
	if lost {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"backup %s: the worker holding backup mode on node %s of cluster %s stopped; PostgreSQL ended backup mode with its session, so the snapshots may not be consistent",
			r.progress.BackupID, mode.NodeID, r.plan.ClusterID), api.ReasonDatabaseBackupFailed, nil)
	}
	return err
}

// startSnapshots starts every volume's snapshot.
func (r *backupRun) startSnapshots(ctx workflow.Context) ([]catalog.Snapshot, error) {
	r.setStep(ctx, api.StepSnapshotting)
	var snaps []catalog.Snapshot
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		// A worker killed while starting snapshots is noticed this soon,
		// not after the whole start-to-close timeout.
		HeartbeatTimeout:    r.plan.HeartbeatTimeout,
		Summary:             fmt.Sprintf("start %d snapshots", len(r.plan.Volumes)),
		RetryPolicy:         providerRetry(),
		WaitForCancellation: r.awaitCancelled,
	}), backups.StartSnapshots, activities.SnapshotsInput{
		BackupID: r.progress.BackupID, Provider: r.plan.Provider, Region: r.plan.Region, Volumes: r.plan.Volumes, LockRef: r.lock,
	}).Get(ctx, &snaps); err != nil {
		return nil, err
	}
	r.setSnapshots(ctx, snaps)
	return snaps, nil
}

// waitSnapshots waits until every snapshot has completed.
func (r *backupRun) waitSnapshots(ctx workflow.Context, snaps []catalog.Snapshot) ([]catalog.Snapshot, error) {
	r.setStep(ctx, api.StepWaiting)
	waitCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// The deadline, not this, bounds the wait; this only has to be
		// longer than any deadline.
		StartToCloseTimeout: 8 * 24 * time.Hour,
		HeartbeatTimeout:    r.plan.HeartbeatTimeout,
		Summary:             "wait for snapshots",
		RetryPolicy:         providerRetry(),
		WaitForCancellation: r.awaitCancelled,
	})
	for {
		in := activities.WaitSnapshotsInput{
			BackupID: r.progress.BackupID, Provider: r.plan.Provider, Region: r.plan.Region, Snapshots: snaps,
			LockRef: r.lock, PollInterval: r.plan.PollInterval, ProgressStep: r.plan.ProgressStep,
		}
		if r.awaitCancelled {
			in.Until = r.deadline
		}
		var res activities.WaitSnapshotsResult
		if err := workflow.ExecuteActivity(waitCtx, backups.WaitSnapshots, in).Get(ctx, &res); err != nil {
			return nil, err
		}
		snaps = res.Snapshots
		r.setSnapshots(ctx, snaps)
		if res.Done {
			return snaps, nil
		}
		if res.Expired {
			// The deadline passed: wait for it to be extended, or for the
			// timeout to cancel this coroutine.
			if err := workflow.Await(ctx, func() bool { return !r.deadline.Equal(in.Until) }); err != nil {
				return nil, err
			}
		}
	}
}

// fail compensates and turns err into the workflow's error: the
// cancellation itself for a cancelled backup (so the run shows as
// Canceled), else an application error whose type is the reason code.
func (r *backupRun) fail(ctx workflow.Context, err error) error {
	code, msg := reasonOf(ctx, err)
	r.progress.Reason = code + ": " + msg
	if r.saga.pending() {
		r.saga.unwind(ctx, func() { r.setStep(ctx, api.StepCompensating) })
	} else if r.progress.Status == catalog.BackupPending {
		// Failed before it had a record (invalid request).
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		r.clearStartedStatus(dctx)
	}
	r.setStep(ctx, api.StepDone)
	if r.progress.Status == catalog.BackupDefunct {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		sendEvent(dctx, notify.Event{
			ID: eventID(ctx, api.EventBackupDefunct, r.progress.BackupID), Type: api.EventBackupDefunct,
			ProjectID: r.plan.ProjectID, ClusterID: r.plan.ClusterID, BackupID: r.progress.BackupID, JobID: r.req.JobID,
			Reason:  r.progress.Reason,
			Summary: fmt.Sprintf("Backup %s of cluster %s is Defunct: %s", r.progress.BackupID, r.plan.ClusterID, code),
		})
	}
	return endWith(code, r.progress.Reason, err)
}

// markDefunct is the record step's compensation.
func (r *backupRun) markDefunct(ctx workflow.Context) error {
	var rec catalog.Backup
	err := workflow.ExecuteActivity(compensationOptions(ctx, "mark Defunct"), backups.MarkDefunct, activities.MarkDefunctInput{
		BackupID: r.progress.BackupID, ClusterID: r.plan.ClusterID, Provider: r.plan.Provider, Region: r.plan.Region, Reason: r.progress.Reason,
	}).Get(ctx, &rec)
	if err != nil {
		return err
	}
	r.progress.Snapshots = rec.Snapshots
	r.countCompleted()
	return r.setStatus(ctx, rec.Status)
}

func (r *backupRun) releaseInput(lock catalog.Lock) activities.ReleaseInput {
	return activities.ReleaseInput{ClusterID: r.plan.ClusterID, Token: lock.Token}
}

// step runs one of the saga's short forward catalog steps.
func (r *backupRun) step(ctx workflow.Context, summary string, fn, in any) workflow.Future {
	if r.localSteps {
		return workflow.ExecuteLocalActivity(localStepOptions(ctx, summary), fn, in)
	}
	return workflow.ExecuteActivity(stepOptions(ctx, summary), fn, in)
}

// finished reports a backup that ended: its record for Completed, an error
// with its reason for Defunct.
func (r *backupRun) finished(ctx workflow.Context, rec catalog.Backup) (api.Backup, error) {
	r.progress.Snapshots = rec.Snapshots
	r.progress.Reason = rec.Reason
	r.countCompleted()
	r.setStep(ctx, api.StepDone)
	if err := r.setStatus(ctx, rec.Status); err != nil {
		return api.Backup{}, err
	}
	if rec.Status != catalog.BackupCompleted {
		return api.Backup{}, temporal.NewNonRetryableApplicationError(rec.Reason, api.ReasonCode(rec.Reason), nil)
	}
	return rec, nil
}

// reasonOf maps a failure to a reason code and message for the record.
func reasonOf(ctx workflow.Context, err error) (code, msg string) {
	if temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled) {
		return api.ReasonCancelled, "backup cancelled by request"
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() != "" {
		return appErr.Type(), appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return api.ReasonTimeout, err.Error()
	}
	return api.ReasonInternal, err.Error()
}

func (r *backupRun) pendingSummary() string {
	var pending []string
	for _, s := range r.progress.Snapshots {
		if s.Status != catalog.SnapshotCompleted {
			pending = append(pending, fmt.Sprintf("%s (%s %d%%)", s.VolumeID, s.SnapshotID, s.Progress))
		}
	}
	if len(r.progress.Snapshots) == 0 {
		return "no snapshot had started"
	}
	return fmt.Sprintf("%d of %d snapshots unfinished: %s", len(pending), len(r.progress.Snapshots), strings.Join(pending, ", "))
}
