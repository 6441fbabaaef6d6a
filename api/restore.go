package api

import (
	"time"

	"github.com/stratabackup/strata/api/validate"
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
	Region   string `json:"region,omitempty"`
	Provider string `json:"provider,omitempty"`
	// RequestID is the caller's idempotency key: the workflow ID is
	// RestoreWorkflowID(RequestID).
	RequestID string `json:"requestId,omitempty"`
	// ToTime, ToLSN and ToName make a restore of a postgres backup a
	// point-in-time restore: the archived WAL is replayed to that time,
	// WAL position or restore point (at most one). With LatestOfCluster
	// or LatestOfJob the base backup is the newest Completed one that
	// ends before the target. Without a target a postgres restore gives
	// the database as of the end of its backup.
	ToTime *time.Time `json:"toTime,omitempty"`
	ToLSN  string     `json:"toLsn,omitempty"`
	ToName string     `json:"toName,omitempty"`
	// VerifySQL is a query the restored database must run without error
	// (and, if it answers one boolean, answer true) before the restore
	// counts as Completed; postgres backups only.
	VerifySQL string `json:"verifySql,omitempty"`
	input     input
}

// Target is the request's recovery target (zero: none).
func (r RestoreRequest) Target() RecoveryTarget {
	return RecoveryTarget{Time: r.ToTime, LSN: r.ToLSN, Name: r.ToName}
}

// Check applies every rule that needs no catalog (validate.Restore); the
// error lists every problem.
func (r RestoreRequest) Check() error {
	return validate.Restore{
		BackupID: r.BackupID, LatestOfJob: r.LatestOfJob, LatestOfCluster: r.LatestOfCluster, Nodes: r.Nodes,
		DiskGB: r.DiskGB, NetworkID: r.NetworkID, ProjectID: r.ProjectID, Description: r.Description,
		Region: r.Region, Provider: r.Provider, RequestID: r.RequestID,
		Target:    validate.RecoveryTarget{Time: r.ToTime, LSN: r.ToLSN, Name: r.ToName},
		VerifySQL: r.VerifySQL,
	}.Check()
}

// RestoreResult is RestoreWorkflow's result.
type RestoreResult struct {
	Restore Restore `json:"restore"`
	Cluster Cluster `json:"cluster"`
}

// RestoreProgress is the answer to RestoreWorkflow's query `status`.
type RestoreProgress struct {
	RestoreID       string        `json:"restoreId"`
	BackupID        string        `json:"backupId"`
	SourceClusterID string        `json:"sourceClusterId"`
	ClusterID       string        `json:"clusterId"`
	Step            string        `json:"step"`
	Status          RestoreStatus `json:"status"`
	Reason          string        `json:"reason,omitempty"`
	VolumesCreated  int           `json:"volumesCreated"`
	VolumesTotal    int           `json:"volumesTotal"`
	WorkflowID      string        `json:"workflowId"`
	// Recovery is a postgres restore's WAL replay (nil for volume
	// restores).
	Recovery *RecoveryProgress `json:"recovery,omitempty"`
}

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
