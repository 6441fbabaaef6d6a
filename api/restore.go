package api

import "github.com/stratabackup/strata/api/validate"

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
	input     input
}

// Check applies every rule that needs no catalog (validate.Restore); the
// error lists every problem.
func (r RestoreRequest) Check() error {
	return validate.Restore{
		BackupID: r.BackupID, LatestOfJob: r.LatestOfJob, LatestOfCluster: r.LatestOfCluster, Nodes: r.Nodes,
		DiskGB: r.DiskGB, NetworkID: r.NetworkID, ProjectID: r.ProjectID, Description: r.Description,
		Region: r.Region, Provider: r.Provider, RequestID: r.RequestID,
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
