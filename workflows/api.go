// Package workflows holds Strata's Temporal workflows. Workflow names,
// inputs, queries, updates and search attributes defined here are public
// API (documented in README.md): keep them stable.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/retention"
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
	input     input
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
	StepPruning        = "Pruning"
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
	// Prune is what the job's prune after this backup did (job backups).
	Prune *PruneResult `json:"prune,omitempty"`
}

// ExtendTimeoutRequest is update `extendTimeout`'s input. Give one of:
// Timeout, the new total snapshot timeout measured from when the backup went
// InProgress (as in BackupRequest), or Deadline, an absolute time. The
// result must be later than the current deadline.
type ExtendTimeoutRequest struct {
	Timeout  catalog.Duration `json:"timeout,omitempty"`
	Deadline *time.Time       `json:"deadline,omitempty"`
	input    input
}

// ExtendTimeoutResult is update `extendTimeout`'s result.
type ExtendTimeoutResult struct {
	Deadline time.Time `json:"deadline"`
}

const (
	// DeleteBackupWorkflowName deletes a backup's snapshots, then marks it
	// Deleted. Its workflow ID is DeleteWorkflowID(backupID).
	DeleteBackupWorkflowName = "DeleteBackupWorkflow"
	// PruneWorkflowName applies a job's retention policy.
	PruneWorkflowName = "PruneWorkflow"
)

// DeleteWorkflowID is the workflow ID of a backup's deletion: one deletion
// of a backup runs at a time.
func DeleteWorkflowID(backupID string) string { return activities.DeleteWorkflowID(backupID) }

// DeleteBackupRequest is DeleteBackupWorkflow's input.
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
	JobID     string               `json:"jobId"`
	Decisions []retention.Decision `json:"decisions"`
	Deleted   []string             `json:"deleted"`
	Failed    []PruneFailure       `json:"failed"`
}

// PruneFailure is a backup whose deletion failed; it stays Deleting with
// the reason, and `starter backup delete` retries it.
type PruneFailure struct {
	BackupID string `json:"backupId"`
	Reason   string `json:"reason"`
}

const (
	// RestoreWorkflowName restores a backup into a new cluster.
	RestoreWorkflowName = "RestoreWorkflow"
)

// RestoreRequest is RestoreWorkflow's input. Give exactly one of BackupID,
// LatestOfJob (the job's newest Completed backup) or LatestOfCluster.
// Empty fields default to the source cluster's.
type RestoreRequest struct {
	BackupID        string `json:"backupId,omitempty"`
	LatestOfJob     string `json:"latestOfJob,omitempty"`
	LatestOfCluster string `json:"latestOfCluster,omitempty"`
	// Nodes of the new cluster; fewer than the source's restores the
	// backup's preferred node onto every node, as does more.
	Nodes int `json:"nodes,omitempty"`
	// DiskGB of every new volume; at least the source volume's size.
	DiskGB      int    `json:"diskGb,omitempty"`
	NetworkID   string `json:"networkId,omitempty"`
	ProjectID   string `json:"projectId,omitempty"`
	Description string `json:"description,omitempty"`
	// Region and Provider, when given, must be the source's: restores stay
	// where their snapshots are.
	Region    string `json:"region,omitempty"`
	Provider  string `json:"provider,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	input     input
}

// RestoreResult is RestoreWorkflow's result.
type RestoreResult struct {
	Restore catalog.Restore `json:"restore"`
	Cluster catalog.Cluster `json:"cluster"`
}

// Restore steps, as query `status` reports them.
const (
	StepPlanning          = "Planning"
	StepProtectingBackup  = "ProtectingBackup"
	StepCreatingCluster   = "CreatingCluster"
	StepCreatingVolumes   = "CreatingVolumes"
	StepProvisioningNodes = "ProvisioningNodes"
	StepCheckingNodes     = "CheckingNodes"
)

// RestoreProgress is the answer to RestoreWorkflow's query `status`.
type RestoreProgress struct {
	RestoreID       string                `json:"restoreId"`
	BackupID        string                `json:"backupId"`
	SourceClusterID string                `json:"sourceClusterId"`
	ClusterID       string                `json:"clusterId"`
	Step            string                `json:"step"`
	Status          catalog.RestoreStatus `json:"status"`
	Reason          string                `json:"reason,omitempty"`
	VolumesCreated  int                   `json:"volumesCreated"`
	VolumesTotal    int                   `json:"volumesTotal"`
	WorkflowID      string                `json:"workflowId"`
}

// RegisterClusterWorkflowName registers an existing cloud cluster.
const RegisterClusterWorkflowName = "RegisterClusterWorkflow"

// RegisterClusterRequest is RegisterClusterWorkflow's input: an existing
// cluster named by its nodes' volumes at the provider.
type RegisterClusterRequest struct {
	ID          string         `json:"id"`
	Description string         `json:"description,omitempty"`
	Provider    string         `json:"provider"`
	Region      string         `json:"region"`
	ProjectID   string         `json:"projectId"`
	NetworkID   string         `json:"networkId"`
	Nodes       []RegisterNode `json:"nodes"`
	input       input
}

// RegisterNode is a node and its volumes' provider references.
type RegisterNode struct {
	ID      string   `json:"id"`
	Volumes []string `json:"volumes"`
}

const (
	// ReconcileWorkflowName finds and deletes orphan snapshots and marks
	// backups whose snapshots are gone. The worker runs it on the Temporal
	// Schedule ReconcileScheduleID.
	ReconcileWorkflowName = "ReconcileWorkflow"
	ReconcileScheduleID   = "strata-reconcile"
)

// ReconcileRequest is ReconcileWorkflow's input.
type ReconcileRequest struct {
	// Grace: orphans younger than this are left alone. Not given (nil)
	// means DefaultReconcileGrace; zero means zero.
	Grace  *catalog.Duration `json:"grace,omitempty"`
	DryRun bool              `json:"dryRun,omitempty"`
	input  input
}

// ReconcileResult says what a reconciliation found and, unless dry-run, did.
type ReconcileResult struct {
	Plan    activities.ReconcilePlan `json:"plan"`
	Applied bool                     `json:"applied"`
}
