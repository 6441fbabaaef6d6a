package api

import "time"

// BackupRequest is BackupWorkflow's input.
type BackupRequest struct {
	// ClusterID is the cluster to back up (required).
	ClusterID string `json:"clusterId"`
	// Label is a label template (see docs/api.md, "Labels"); empty means "{cluster:id}-{index}".
	Label string `json:"label,omitempty"`
	// Timeout bounds snapshotting, from the moment the backup is
	// InProgress; empty means the worker's default.
	Timeout Duration `json:"timeout,omitempty"`
	// JobID is set by a job's own schedule; empty for manual backups.
	JobID string `json:"jobId,omitempty"`
	// RequestID is the caller's idempotency key: the workflow ID is
	// BackupWorkflowID(RequestID).
	RequestID string `json:"requestId,omitempty"`
	input     input
}

// BackupProgress is the answer to BackupWorkflow's query `status`.
type BackupProgress struct {
	BackupID   string       `json:"backupId"`
	ClusterID  string       `json:"clusterId"`
	JobID      string       `json:"jobId,omitempty"`
	Label      string       `json:"label"`
	Step       string       `json:"step"`
	Status     BackupStatus `json:"status"`
	Reason     string       `json:"reason,omitempty"`
	Deadline   *time.Time   `json:"deadline"`
	Snapshots  []Snapshot   `json:"snapshots"`
	Completed  int          `json:"completedSnapshots"`
	Total      int          `json:"totalSnapshots"`
	WorkflowID string       `json:"workflowId"`
	// Prune is what the job's prune after this backup did (job backups).
	Prune *PruneResult `json:"prune,omitempty"`
	// Database is a postgres cluster's backup mode: its start once
	// pg_backup_start answered, its stop once pg_backup_stop did.
	Database *DatabaseBackup `json:"database,omitempty"`
}

// ExtendTimeoutRequest is update `extendTimeout`'s input. Give one of:
// Timeout, the new total snapshot timeout measured from when the backup went
// InProgress (as in BackupRequest), or Deadline, an absolute time. The
// result must be later than the current deadline.
type ExtendTimeoutRequest struct {
	Timeout  Duration   `json:"timeout,omitempty"`
	Deadline *time.Time `json:"deadline,omitempty"`
	input    input
}

// ExtendTimeoutResult is update `extendTimeout`'s result.
type ExtendTimeoutResult struct {
	Deadline time.Time `json:"deadline"`
}

// DeleteBackupRequest is DeleteBackupWorkflow's input; the workflow runs
// under DeleteWorkflowID(BackupID).
type DeleteBackupRequest struct {
	BackupID string `json:"backupId"`
	input    input
}

// PruneRequest is PruneWorkflow's input.
type PruneRequest struct {
	JobID string `json:"jobId"`
	input input
}

// PruneResult says what a prune decided and did.
type PruneResult struct {
	JobID     string          `json:"jobId"`
	Decisions []PruneDecision `json:"decisions"`
	Deleted   []string        `json:"deleted"`
	Failed    []PruneFailure  `json:"failed"`
}

// PruneDecision is what pruning does with one backup, and why (also
// `schedule prune --dry-run`).
type PruneDecision struct {
	BackupID  string       `json:"backupId"`
	Label     string       `json:"label"`
	Status    BackupStatus `json:"status"`
	CreatedAt time.Time    `json:"createdAt"`
	Delete    bool         `json:"delete"`
	Reason    string       `json:"reason"`
}

// PruneFailure is a backup whose deletion failed; it stays Deleting with
// the reason, and `starter backup delete` retries it.
type PruneFailure struct {
	BackupID string `json:"backupId"`
	Reason   string `json:"reason"`
}
