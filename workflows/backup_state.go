package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
)

// registerHandlers exposes the backup's progress (query `status`) and lets
// callers move its deadline (update `extendTimeout`).
func (r *backupRun) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, api.QueryStatus, func() (api.BackupProgress, error) {
		p := r.progress
		if !r.deadline.IsZero() {
			d := r.deadline
			p.Deadline = &d
		}
		p.Snapshots = append([]api.Snapshot(nil), r.progress.Snapshots...)
		return p, nil
	}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, api.UpdateExtendTimeout,
		func(ctx workflow.Context, req api.ExtendTimeoutRequest) (api.ExtendTimeoutResult, error) {
			d, err := r.newDeadline(req)
			if err != nil {
				return api.ExtendTimeoutResult{}, err
			}
			r.deadline = d
			r.renderDetails(ctx)
			return api.ExtendTimeoutResult{Deadline: d}, nil
		},
		workflow.UpdateHandlerOptions{
			Validator: func(ctx workflow.Context, req api.ExtendTimeoutRequest) error {
				_, err := r.newDeadline(req)
				return err
			},
			Description: "Move a running backup's snapshot deadline later: {\"timeout\":\"2h\"} (total, from when it went InProgress) or {\"deadline\":\"<RFC 3339>\"}.",
		})
}

// newDeadline resolves an extendTimeout request, rejecting anything that
// would not move the deadline later.
func (r *backupRun) newDeadline(req api.ExtendTimeoutRequest) (time.Time, error) {
	switch r.progress.Step {
	case api.StepDone, api.StepCompensating, api.StepCompleting, api.StepPruning:
		return time.Time{}, fmt.Errorf("backup %s has finished snapshotting (step %s); its deadline can no longer change", r.progress.BackupID, r.progress.Step)
	}
	if r.deadline.IsZero() {
		return time.Time{}, fmt.Errorf("backup %s is not snapshotting yet (step %s); extend its timeout once it is InProgress", r.progress.BackupID, r.progress.Step)
	}
	if err := inputError("extendTimeout request", req.InputError()); err != nil {
		return time.Time{}, err
	}
	var d time.Time
	switch {
	case req.Timeout < 0:
		return time.Time{}, fmt.Errorf("timeout %s is negative: give the new total timeout, e.g. {\"timeout\":\"2h\"}", req.Timeout)
	case req.Timeout > 0 && req.Deadline != nil:
		return time.Time{}, errors.New("give either timeout or deadline, not both")
	case req.Timeout > 0:
		d = r.startedAt.Add(req.Timeout.D())
	case req.Deadline != nil:
		d = *req.Deadline
	default:
		return time.Time{}, errors.New("give a new timeout (e.g. {\"timeout\":\"2h\"}, counted from when the backup went InProgress) or an absolute deadline")
	}
	if !d.After(r.deadline) {
		return time.Time{}, fmt.Errorf("new deadline %s is not later than the current deadline %s of backup %s",
			d.UTC().Format(time.RFC3339), r.deadline.UTC().Format(time.RFC3339), r.progress.BackupID)
	}
	if max := r.plan.MaxTimeout; max > 0 && d.Sub(r.startedAt) > max {
		return time.Time{}, fmt.Errorf("new deadline %s makes backup %s's timeout %s, more than the maximum %s (--max-backup-timeout)",
			d.UTC().Format(time.RFC3339), r.progress.BackupID, d.Sub(r.startedAt).Round(time.Second), max)
	}
	return d, nil
}

func (r *backupRun) setStep(ctx workflow.Context, step string) {
	r.progress.Step = step
	r.renderDetails(ctx)
}

func (r *backupRun) setSnapshots(ctx workflow.Context, snaps []catalog.Snapshot) {
	r.progress.Snapshots = snaps
	r.countCompleted()
	r.renderDetails(ctx)
}

func (r *backupRun) countCompleted() {
	r.progress.Total = len(r.progress.Snapshots)
	r.progress.Completed = 0
	for _, s := range r.progress.Snapshots {
		if s.Status == catalog.SnapshotCompleted {
			r.progress.Completed++
		}
	}
}

// setStatus mirrors the record's status into the search attributes, so the
// Web UI finds backups by cluster, job and status.
func (r *backupRun) setStatus(ctx workflow.Context, s catalog.BackupStatus) error {
	r.progress.Status = s
	r.renderDetails(ctx)
	if s == catalog.BackupPending && r.startedPending(ctx) {
		// Strata's starters set these at start: an upsert would repeat them
		// at the cost of an event and a visibility write per backup.
		return nil
	}
	updates := []temporal.SearchAttributeUpdate{api.SearchAttrBackupStatus.ValueSet(string(s))}
	if s == catalog.BackupPending {
		updates = append(updates, api.SearchAttrClusterID.ValueSet(r.plan.ClusterID))
		if r.req.JobID != "" {
			updates = append(updates, api.SearchAttrJobID.ValueSet(r.req.JobID))
		}
	}
	return workflow.UpsertTypedSearchAttributes(ctx, updates...)
}

// startedPending reports whether the run was started with every search
// attribute the Pending upsert would set (as the starter and job schedules
// do; a run started by hand may have none).
func (r *backupRun) startedPending(ctx workflow.Context) bool {
	sa := workflow.GetTypedSearchAttributes(ctx)
	status, _ := sa.GetKeyword(api.SearchAttrBackupStatus)
	cluster, _ := sa.GetKeyword(api.SearchAttrClusterID)
	job, _ := sa.GetKeyword(api.SearchAttrJobID)
	return status == string(catalog.BackupPending) && cluster == r.plan.ClusterID && job == r.req.JobID
}

// clearStartedStatus removes the Pending status a starter set when the
// backup failed before it had a record, so no closed run claims to be
// Pending.
func (r *backupRun) clearStartedStatus(ctx workflow.Context) {
	if status, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(api.SearchAttrBackupStatus); status == "" {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, api.SearchAttrBackupStatus.ValueUnset()); err != nil {
		workflow.GetLogger(ctx).Warn("clearing backup status search attribute failed", "error", err)
	}
}

// renderDetails sets the Web UI's "current details" for this run.
func (r *backupRun) renderDetails(ctx workflow.Context) {
	var b strings.Builder
	p := r.progress
	fmt.Fprintf(&b, "**Backup** `%s` of cluster `%s`", p.BackupID, p.ClusterID)
	if p.Label != "" {
		fmt.Fprintf(&b, " (%s)", p.Label)
	}
	fmt.Fprintf(&b, "\n\n**Status:** %s · **Step:** %s", p.Status, p.Step)
	if !r.deadline.IsZero() {
		fmt.Fprintf(&b, " · **Deadline:** %s", r.deadline.UTC().Format(time.RFC3339))
	}
	if p.Reason != "" {
		fmt.Fprintf(&b, "\n\n**Reason:** %s", p.Reason)
	}
	if len(p.Snapshots) > 0 {
		fmt.Fprintf(&b, "\n\n%d of %d snapshots completed\n\n| node | volume | snapshot | status | progress |\n|---|---|---|---|---|\n", p.Completed, p.Total)
		for _, s := range p.Snapshots {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d%% |\n", s.NodeID, s.VolumeID, s.SnapshotID, s.Status, s.Progress)
		}
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
