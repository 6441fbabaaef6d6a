package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/retention"
)

// Deletions delete backups (and plan a job's prune).
type Deletions struct {
	Common
	Catalog   DeletionCatalog
	Providers providers.Registry
	// Databases prune postgres clusters' WAL archives (nil: none here).
	Databases DatabaseServers
}

// DeletionCatalog is the part of the catalog deleting backups uses.
type DeletionCatalog interface {
	catalog.Clusters
	catalog.Backups
	catalog.Jobs
}

// BackupRef names a backup.
type BackupRef struct {
	BackupID string
	// WorkflowID, when set, is the deletion's workflow ID, which must be
	// api.DeleteWorkflowID(BackupID): one deletion of a backup at a time.
	WorkflowID string
}

// StartDeletion moves the backup to Deleting. A backup a restore holds, or
// one still running, is refused without retry.
func (a *Deletions) StartDeletion(ctx context.Context, in BackupRef) (catalog.Backup, error) {
	if msg := validate.ID("backupId", in.BackupID); msg != "" {
		return catalog.Backup{}, InvalidRequest("invalid delete request: %s", msg)
	}
	if in.WorkflowID != "" && in.WorkflowID != api.DeleteWorkflowID(in.BackupID) {
		return catalog.Backup{}, InvalidRequest("invalid delete request: start the deletion of backup %s under workflow ID %s (one deletion of a backup at a time), not %s",
			in.BackupID, api.DeleteWorkflowID(in.BackupID), validate.Quote(in.WorkflowID))
	}
	b, err := a.Catalog.StartDeletion(ctx, in.BackupID, a.now())
	var inUse *catalog.InUseError
	var te *catalog.TransitionError
	switch {
	case errors.As(err, &inUse):
		return b, permanent(api.ReasonBackupInUse, "%v", err)
	case errors.As(err, &te) && te.From == catalog.BackupDeleted:
		return b, permanent(api.ReasonInvalidState, "backup %s is already deleted", in.BackupID)
	case errors.As(err, &te):
		return b, permanent(api.ReasonInvalidState, "backup %s is %s: cancel it (starter backup cancel %s) before deleting it", in.BackupID, te.From, in.BackupID)
	case catalog.IsNotFound(err):
		return b, permanent(api.ReasonBackupMissing, "%v", err)
	}
	return b, classify(err, "backup "+in.BackupID)
}

// DeleteSnapshots deletes every snapshot of the backup at its provider: the
// recorded ones and any the provider holds under the backup's tag (a create
// whose response was lost). A snapshot already gone counts as deleted. Each
// one is marked Deleted in the catalog as soon as it is gone, so a retry
// only redoes what is left.
func (a *Deletions) DeleteSnapshots(ctx context.Context, in BackupRef) error {
	b, err := a.Catalog.GetBackup(ctx, in.BackupID)
	if err != nil {
		return classify(err, "backup "+in.BackupID)
	}
	cl, err := a.Catalog.GetCluster(ctx, b.ClusterID)
	if err != nil {
		return classify(err, "backup "+in.BackupID)
	}
	p, err := a.Providers.For(cl.Provider, cl.Region)
	if err != nil {
		return permanent(api.ReasonInvalidState, "backup %s: %v", in.BackupID, err)
	}
	type target struct {
		snap     catalog.Snapshot
		recorded bool
	}
	var targets []target
	seen := map[string]bool{}
	for _, s := range b.Snapshots {
		if s.SnapshotID == "" || s.Status == catalog.SnapshotDeleted {
			seen[s.SnapshotID] = true
			continue
		}
		seen[s.SnapshotID] = true
		targets = append(targets, target{snap: s, recorded: true})
	}
	found, err := p.ListSnapshots(ctx, providers.SnapshotFilter{BackupID: b.ID})
	if err != nil {
		return classify(err, "backup "+in.BackupID)
	}
	for _, s := range found {
		if !seen[s.ID] {
			targets = append(targets, target{snap: catalog.Snapshot{NodeID: s.NodeID, VolumeID: s.VolumeID, SnapshotID: s.ID}})
		}
	}
	defer heartbeating(ctx)()
	return fanOut(len(targets), 8, func(i int) error {
		t := targets[i]
		subject := fmt.Sprintf("snapshot %s of volume %s (backup %s)", t.snap.SnapshotID, t.snap.VolumeID, b.ID)
		if err := p.DeleteSnapshot(ctx, t.snap.SnapshotID); err != nil {
			return classify(err, subject)
		}
		if !t.recorded {
			return nil
		}
		s := t.snap
		s.Status = catalog.SnapshotDeleted
		return classify(a.Catalog.UpsertSnapshots(ctx, b.ID, []catalog.Snapshot{s}, nil), subject)
	})
}

// FinishDeletion marks the backup Deleted.
func (a *Deletions) FinishDeletion(ctx context.Context, in BackupRef) (catalog.Backup, error) {
	b, err := a.Catalog.FinishDeletion(ctx, in.BackupID, a.now())
	if err != nil {
		return b, classify(err, "backup "+in.BackupID)
	}
	a.log().Info("backup deleted", zap.String("backup", b.ID), zap.String("cluster", b.ClusterID), zap.String("job", b.JobID))
	return b, nil
}

// FailDeletionInput records why a deletion failed.
type FailDeletionInput struct {
	BackupID string
	Reason   string
}

// FailDeletion records the reason on the Deleting backup, so it is visible
// and the deletion can be retried.
func (a *Deletions) FailDeletion(ctx context.Context, in FailDeletionInput) error {
	err := a.Catalog.FailDeletion(ctx, in.BackupID, in.Reason)
	var te *catalog.TransitionError
	if errors.As(err, &te) {
		return nil // not Deleting (never started, or finished meanwhile): nothing to record
	}
	if err == nil {
		a.log().Warn("backup deletion failed", zap.String("backup", in.BackupID), zap.String("reason", in.Reason))
	}
	return classify(err, "backup "+in.BackupID)
}

// PlanPruneInput asks for a job's prune plan at a time.
type PlanPruneInput struct {
	JobID string
	Now   time.Time
}

// PlanPrune decides which of the job's backups pruning deletes. Only this
// job's backups are considered: manual backups and other jobs' are never
// touched. A deleted job prunes nothing.
func (a *Deletions) PlanPrune(ctx context.Context, in PlanPruneInput) ([]retention.Decision, error) {
	return PlanPrune(ctx, a.Catalog, in.JobID, in.Now)
}

// PlanPrune is shared by the activity and `schedule prune --dry-run`. Only
// backups of the job's own cluster are counted or deleted: a backup that
// names the job but is of another cluster is listed as kept.
func PlanPrune(ctx context.Context, cat interface {
	catalog.Jobs
	catalog.Backups
}, jobID string, now time.Time) ([]retention.Decision, error) {
	if msg := validate.ID("jobId", jobID); msg != "" {
		return nil, InvalidRequest("invalid prune request: %s", msg)
	}
	job, err := cat.GetJob(ctx, jobID)
	if catalog.IsNotFound(err) {
		return nil, permanent(api.ReasonJobNotFound, "job %s not found", jobID)
	}
	if err != nil {
		return nil, classify(err, "job "+jobID)
	}
	if job.DeletedAt != nil {
		return nil, nil
	}
	backups, err := cat.ListBackups(ctx, catalog.BackupFilter{JobID: jobID})
	if err != nil {
		return nil, classify(err, "job "+jobID)
	}
	own := backups[:0:0]
	var foreign []retention.Decision
	for _, b := range backups {
		if b.ClusterID == job.ClusterID {
			own = append(own, b)
			continue
		}
		foreign = append(foreign, retention.Decision{BackupID: b.ID, Label: b.Label, Status: b.Status, CreatedAt: b.CreatedAt,
			Reason: fmt.Sprintf("%s (cluster %s, job's cluster %s)", retention.ReasonOtherCluster, b.ClusterID, job.ClusterID)})
	}
	return append(retention.Plan(job.Retention, own, now), foreign...), nil
}
