package api

// ClusterStatus is a cluster's lifecycle state.
type ClusterStatus string

const (
	ClusterCreating ClusterStatus = "Creating"
	ClusterRunning  ClusterStatus = "Running"
	ClusterFailed   ClusterStatus = "Failed"
)

// RestoreStatus is a restore's lifecycle state.
type RestoreStatus string

const (
	RestorePending   RestoreStatus = "Pending"
	RestoreRunning   RestoreStatus = "Running"
	RestoreCompleted RestoreStatus = "Completed"
	RestoreFailed    RestoreStatus = "Failed"
)

// BackupStatus is a backup's lifecycle state.
type BackupStatus string

const (
	BackupPending    BackupStatus = "Pending"
	BackupInProgress BackupStatus = "InProgress"
	BackupCompleted  BackupStatus = "Completed"
	BackupDefunct    BackupStatus = "Defunct"
	// BackupDeleting: its snapshots are being deleted; a deletion that
	// failed stays here with DeletionError set, and can be retried.
	BackupDeleting BackupStatus = "Deleting"
	// BackupDeleted: every snapshot is gone; the record stays for history.
	BackupDeleted BackupStatus = "Deleted"
	// BackupMissing: it was Completed, but the reconciler found some of its
	// snapshots gone at the provider (deleted out of band): it cannot be
	// restored.
	BackupMissing BackupStatus = "Missing"
)

// Terminal reports whether the backup's own workflow has ended: it is
// Completed or Defunct (or past them, being or having been deleted).
func (s BackupStatus) Terminal() bool {
	return s == BackupCompleted || s == BackupDefunct || s == BackupMissing || s == BackupDeleting || s == BackupDeleted
}

// SnapshotStatus is one volume snapshot's state, as Strata records it.
type SnapshotStatus string

const (
	SnapshotPending   SnapshotStatus = "Pending"
	SnapshotCompleted SnapshotStatus = "Completed"
	SnapshotFailed    SnapshotStatus = "Failed"
	// SnapshotDeleted: deleted at the provider (or found already gone).
	SnapshotDeleted SnapshotStatus = "Deleted"
)
