package api

import "time"

// DefaultReconcileGrace leaves young orphans alone: a snapshot of a backup
// that just failed may still be settling at the provider.
const DefaultReconcileGrace = time.Hour

// ReconcileRequest is ReconcileWorkflow's input.
type ReconcileRequest struct {
	// Grace: orphans younger than this are left alone. Not given (nil)
	// means DefaultReconcileGrace; zero means zero.
	Grace  *Duration `json:"grace,omitempty"`
	DryRun bool      `json:"dryRun,omitempty"`
	input  input
}

// ReconcileResult says what a reconciliation found and, unless dry-run, did.
type ReconcileResult struct {
	Plan    ReconcilePlan `json:"plan"`
	Applied bool          `json:"applied"`
}

// ReconcilePlan is what a reconciliation deletes, marks and finishes.
type ReconcilePlan struct {
	Orphans []Orphan  `json:"orphans"`
	Missing []Missing `json:"missing"`
	// Skipped counts snapshots left alone: younger than the grace period,
	// or owned by a backup that is still running or being deleted.
	Skipped int `json:"skipped"`
	// Stuck are records that say an operation runs while its workflow has
	// closed (terminated, timed out, deleted): applying the plan finishes
	// them as the workflow's compensations would have.
	Stuck []Stuck `json:"stuck"`
}

// Orphan is a snapshot at a provider that no live backup owns.
type Orphan struct {
	Provider   string    `json:"provider"`
	SnapshotID string    `json:"snapshotId"`
	BackupID   string    `json:"backupId"`
	ClusterID  string    `json:"clusterId"`
	VolumeID   string    `json:"volumeId"`
	CreatedAt  time.Time `json:"createdAt"`
	Reason     string    `json:"reason"`
	// Owner says whose snapshot it is: OrphanOfUnknown, OrphanOfDefunct or
	// OrphanOfDeleted.
	Owner string `json:"owner,omitempty"`
}

// Orphan owners. A Defunct backup's snapshots are orphans by design (the
// reconciler is their clean-up); the others are leaks.
const (
	// OrphanOfUnknown: no backup of that ID is in the catalog.
	OrphanOfUnknown = "unknown"
	// OrphanOfDefunct: its backup is Defunct.
	OrphanOfDefunct = "defunct"
	// OrphanOfDeleted: its backup was deleted, the snapshot was not.
	OrphanOfDeleted = "deleted"
)

// Missing is a Completed backup's snapshot that is gone at its provider.
type Missing struct {
	BackupID   string `json:"backupId"`
	ClusterID  string `json:"clusterId"`
	VolumeID   string `json:"volumeId"`
	SnapshotID string `json:"snapshotId"`
}

// Stuck is a record whose workflow closed without finishing it.
type Stuck struct {
	Kind       string `json:"kind"`
	ID         string `json:"id"`
	ClusterID  string `json:"clusterId"`
	WorkflowID string `json:"workflowId"`
	Status     string `json:"status"`
	Reason     string `json:"reason"`
}

// Stuck kinds.
const (
	StuckBackup   = "backup"
	StuckRestore  = "restore"
	StuckDeletion = "deletion"
	// StuckHold is a hold on a backup whose restore has ended (its
	// workflow closed between recording the outcome and releasing it).
	StuckHold = "hold"
)

// MonitorRequest is MonitorWorkflow's input.
type MonitorRequest struct {
	// FreshnessMultiple: a job is stale when its newest Completed backup is
	// older than this many of its intervals (default 2).
	FreshnessMultiple float64 `json:"freshnessMultiple,omitempty"`
	// MaxArchiveLag: a postgres cluster's WAL archiving is stalled when a
	// completed segment has waited longer than this to be archived
	// (default 5m).
	MaxArchiveLag Duration `json:"maxArchiveLag,omitempty"`
	input         input
}

// DefaultMaxArchiveLag is MonitorRequest.MaxArchiveLag's default.
const DefaultMaxArchiveLag = 5 * time.Minute
