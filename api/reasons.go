package api

import "strings"

// Reason codes: the error types of Strata's application errors and the
// first word of a Defunct backup's or failed restore's reason.
const (
	ReasonInvalidRequest   = "InvalidRequest"
	ReasonClusterNotFound  = "ClusterNotFound"
	ReasonClusterLocked    = "ClusterLocked"
	ReasonClusterUnhealthy = "ClusterUnhealthy"
	ReasonSnapshotFailed   = "SnapshotFailed"
	ReasonSnapshotMissing  = "SnapshotMissing"
	ReasonProviderError    = "ProviderError"
	ReasonLockLost         = "LockLost"
	ReasonTimeout          = "Timeout"
	ReasonCancelled        = "Cancelled"
	ReasonInternal         = "Internal"
	// ReasonTerminated: the workflow closed (terminated, timed out,
	// deleted) before it finished; the reconciler sets it.
	ReasonTerminated = "Terminated"
	// ReasonRestoreFailed: a restore failed after it started creating things.
	ReasonRestoreFailed = "RestoreFailed"
	// Deletion and pruning.
	ReasonBackupInUse   = "BackupInUse"
	ReasonInvalidState  = "InvalidState"
	ReasonDeleteFailed  = "DeleteFailed"
	ReasonJobNotFound   = "JobNotFound"
	ReasonBackupMissing = "BackupNotFound"
	// ReasonNotFound: a read or write named a record that does not exist.
	ReasonNotFound = "NotFound"
	// ReasonDatabaseBackupFailed: the database refused or lost backup mode
	// (pg_backup_start/stop) around a postgres cluster's snapshots.
	ReasonDatabaseBackupFailed = "DatabaseBackupFailed"
)

// ReasonCode is the code a recorded reason starts with: "Timeout:
// snapshots of ..." is "Timeout".
func ReasonCode(reason string) string {
	code, _, _ := strings.Cut(reason, ":")
	return strings.TrimSpace(code)
}

// Backup steps, as query `status` reports them.
const (
	StepValidating     = "Validating"
	StepRecording      = "Recording"
	StepLocking        = "Locking"
	StepCheckingHealth = "CheckingHealth"
	// StartingBackup and StoppingBackup bracket a postgres cluster's
	// snapshots with pg_backup_start and pg_backup_stop.
	StepStartingBackup = "StartingBackup"
	StepSnapshotting   = "Snapshotting"
	StepWaiting        = "WaitingForSnapshots"
	StepStoppingBackup = "StoppingBackup"
	StepCompleting     = "Completing"
	StepPruning        = "Pruning"
	StepCompensating   = "Compensating"
	StepDone           = "Done"
)

// Restore steps.
const (
	StepPlanning          = "Planning"
	StepProtectingBackup  = "ProtectingBackup"
	StepCreatingCluster   = "CreatingCluster"
	StepCreatingVolumes   = "CreatingVolumes"
	StepProvisioningNodes = "ProvisioningNodes"
	StepCheckingNodes     = "CheckingNodes"
	// A postgres restore replays archived WAL to its target, promotes
	// the server, and checks the database answers.
	StepReplayingWAL = "ReplayingWAL"
	StepPromoting    = "Promoting"
	StepVerifying    = "Verifying"
)
