// Package workflows holds Strata's Temporal workflows. Workflow names,
// inputs, queries, updates and search attributes defined here are public
// API (documented in README.md): keep them stable.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/catalog"
)

const (
	// TaskQueue is the one task queue Strata's worker polls.
	TaskQueue = "strata"
	// BackupWorkflowName is the workflow type of a backup.
	BackupWorkflowName = "BackupWorkflow"
	// QueryStatus returns a BackupProgress.
	QueryStatus = "status"
	// UpdateExtendTimeout moves a running backup's deadline later.
	UpdateExtendTimeout = "extendTimeout"
)

// Search attributes (all Keyword): find backups in the Web UI by cluster,
// status and job, e.g. `StrataClusterId="demo-3node" AND StrataBackupStatus="Defunct"`.
var (
	SearchAttrClusterID    = temporal.NewSearchAttributeKeyKeyword("StrataClusterId")
	SearchAttrBackupStatus = temporal.NewSearchAttributeKeyKeyword("StrataBackupStatus")
	SearchAttrJobID        = temporal.NewSearchAttributeKeyKeyword("StrataJobId")
)

// SearchAttributeNames lists the custom search attributes the server must
// have registered, all of type Keyword.
var SearchAttributeNames = []string{SearchAttrClusterID.GetName(), SearchAttrBackupStatus.GetName(), SearchAttrJobID.GetName()}

// BackupRequest is BackupWorkflow's input.
type BackupRequest struct {
	// ClusterID is the cluster to back up (required).
	ClusterID string `json:"clusterId"`
	// Label is a label template (see README); empty means "{cluster:id}-{index}".
	Label string `json:"label,omitempty"`
	// Timeout bounds snapshotting, from the moment the backup is
	// InProgress; empty means the worker's default.
	Timeout catalog.Duration `json:"timeout,omitempty"`
	// JobID is set by scheduled backups; empty for manual ones.
	JobID string `json:"jobId,omitempty"`
	// RequestID is the caller's idempotency key; the starter derives the
	// workflow ID from it.
	RequestID string `json:"requestId,omitempty"`
}

// BackupResult is BackupWorkflow's result: the Completed backup record.
type BackupResult = catalog.Backup

// Backup steps, as query `status` reports them.
const (
	StepValidating     = "Validating"
	StepRecording      = "Recording"
	StepLocking        = "Locking"
	StepCheckingHealth = "CheckingHealth"
	StepSnapshotting   = "Snapshotting"
	StepWaiting        = "WaitingForSnapshots"
	StepCompleting     = "Completing"
	StepCompensating   = "Compensating"
	StepDone           = "Done"
)

// BackupProgress is the answer to query `status`.
type BackupProgress struct {
	BackupID   string               `json:"backupId"`
	ClusterID  string               `json:"clusterId"`
	JobID      string               `json:"jobId,omitempty"`
	Label      string               `json:"label"`
	Step       string               `json:"step"`
	Status     catalog.BackupStatus `json:"status"`
	Reason     string               `json:"reason,omitempty"`
	Deadline   *time.Time           `json:"deadline"`
	Snapshots  []catalog.Snapshot   `json:"snapshots"`
	Completed  int                  `json:"completedSnapshots"`
	Total      int                  `json:"totalSnapshots"`
	WorkflowID string               `json:"workflowId"`
}

// ExtendTimeoutRequest is update `extendTimeout`'s input. Give one of:
// Timeout, the new total snapshot timeout measured from when the backup went
// InProgress (as in BackupRequest), or Deadline, an absolute time. The
// result must be later than the current deadline.
type ExtendTimeoutRequest struct {
	Timeout  catalog.Duration `json:"timeout,omitempty"`
	Deadline *time.Time       `json:"deadline,omitempty"`
}

// ExtendTimeoutResult is update `extendTimeout`'s result.
type ExtendTimeoutResult struct {
	Deadline time.Time `json:"deadline"`
}
