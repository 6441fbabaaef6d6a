package api

import (
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/api/validate"
)

// The control workflow is how callers read and change what Strata knows
// (clusters, backups, jobs, restores, channels, projects, networks) with
// nothing but a Temporal connection: the worker alone holds the catalog,
// the provider credentials and the channel secrets.
//
// One control workflow runs per task queue (ControlWorkflowID), started by
// the worker and by the first write that finds none, and continued as new
// every MaxControlUpdates updates. Reads are its queries: a query writes
// no history event and no visibility record; the worker answers it from
// the catalog. Writes are its updates: each one adds about six events to
// its history (accepted, a local-activity marker, completed, and a
// workflow task), none to visibility; a rejected one (bad input, found by
// its validator) adds none.
const (
	ControlWorkflowName       = "ControlWorkflow"
	CreateClusterWorkflowName = "CreateClusterWorkflow"
)

// MaxControlUpdates is how many updates one run of the control workflow
// takes before it continues as new (sooner if Temporal suggests it).
const MaxControlUpdates = 500

// ControlWorkflowID is the control workflow's ID on a task queue:
// "strata-control" on the default one, "strata-control-<queue>" otherwise.
func ControlWorkflowID(taskQueue string) string {
	if taskQueue == "" || taskQueue == TaskQueue {
		return "strata-control"
	}
	return "strata-control-" + taskQueue
}

// CreateClusterWorkflowID is the workflow ID of creating a cluster.
func CreateClusterWorkflowID(clusterID string) string { return "create-cluster-" + clusterID }

// Reads: queries on the control workflow, each with its request type and
// result. Lists are paged: give the previous page's NextPageToken to get
// the next one.
const (
	QueryGetCluster   = "getCluster"   // GetRequest → Cluster
	QueryListClusters = "listClusters" // ListRequest → Page[Cluster]
	QueryGetBackup    = "getBackup"    // GetRequest (backup or workflow ID) → Backup
	QueryListBackups  = "listBackups"  // ListBackupsRequest → Page[Backup]
	QueryGetJob       = "getJob"       // GetRequest → JobView
	QueryListJobs     = "listJobs"     // ListJobsRequest → Page[Job]
	QueryPlanPrune    = "planPrune"    // GetRequest (job) → []PruneDecision
	QueryGetRestore   = "getRestore"   // GetRequest → RestoreResult
	QueryListRestores = "listRestores" // ListRestoresRequest → Page[Restore]
	QueryListChannels = "listChannels" // ListChannelsRequest → Page[Channel]
	QueryListProjects = "listProjects" // ListRequest → Page[Project]
	QueryListNetworks = "listNetworks" // ListNetworksRequest → Page[Network]
	QueryWorkerInfo   = "workerInfo"   // (none) → WorkerInfo
)

// Writes: updates on the control workflow.
const (
	UpdateCreateProject = "createProject" // CreateProjectRequest → Project
	UpdateCreateNetwork = "createNetwork" // CreateNetworkRequest → Network
	UpdateSetNodeHealth = "setNodeHealth" // SetNodeHealthRequest → Cluster
	UpdateSetFaults     = "setFaults"     // SetFaultsRequest → Cluster
	UpdateLockCluster   = "lockCluster"   // LockClusterRequest → Lock
	UpdateUnlockCluster = "unlockCluster" // UnlockClusterRequest → Cluster
	UpdateAddChannel    = "addChannel"    // AddChannelRequest → Channel
	UpdateRemoveChannel = "removeChannel" // RemoveChannelRequest → Channel (the removed one)
	UpdateCreateJob     = "createJob"     // CreateJobRequest → JobView
	UpdateUpdateJob     = "updateJob"     // UpdateJobRequest → JobView
	UpdatePauseJob      = "pauseJob"      // PauseJobRequest → JobView
	UpdateTriggerJob    = "triggerJob"    // JobRequest → JobView
	UpdateDeleteJob     = "deleteJob"     // JobRequest → JobView (deleted)
	// UpdateCreateRestorePoint (api/pitr.go): CreateRestorePointRequest → RestorePoint.
)

// Page sizes of the list queries.
const (
	DefaultPageSize = 500
	MaxPageSize     = validate.MaxPageSize
)

// GetRequest names one record.
type GetRequest struct {
	ID    string `json:"id"`
	input input
}

// ListRequest pages through a list with no filter.
type ListRequest struct {
	PageSize  int    `json:"pageSize,omitempty"`
	PageToken string `json:"pageToken,omitempty"`
	input     input
}

// ListBackupsRequest pages through backups, newest first.
type ListBackupsRequest struct {
	ClusterID string `json:"clusterId,omitempty"`
	JobID     string `json:"jobId,omitempty"`
	// ManualOnly selects backups with no job.
	ManualOnly bool           `json:"manualOnly,omitempty"`
	Statuses   []BackupStatus `json:"statuses,omitempty"`
	// IncludeDeleted also returns Deleted backups.
	IncludeDeleted bool `json:"includeDeleted,omitempty"`
	// View is BackupViewFull (the default) or BackupViewBasic.
	View      string `json:"view,omitempty"`
	PageSize  int    `json:"pageSize,omitempty"`
	PageToken string `json:"pageToken,omitempty"`
	input     input
}

// Backup list views: full backups, or their own fields only, without
// snapshots and holds ("snapshots": null), for listings that show no
// snapshot (a fifth of the bytes, and far less to read).
const (
	BackupViewFull  = "full"
	BackupViewBasic = "basic"
)

// ListJobsRequest pages through the jobs (not deleted) of one cluster, or
// of all with ClusterID "".
type ListJobsRequest struct {
	ClusterID string `json:"clusterId,omitempty"`
	PageSize  int    `json:"pageSize,omitempty"`
	PageToken string `json:"pageToken,omitempty"`
	input     input
}

// ListRestoresRequest pages through the restores of one backup, or all.
type ListRestoresRequest struct {
	BackupID  string `json:"backupId,omitempty"`
	PageSize  int    `json:"pageSize,omitempty"`
	PageToken string `json:"pageToken,omitempty"`
	input     input
}

// ListChannelsRequest pages through one project's channels, or all.
type ListChannelsRequest struct {
	ProjectID string `json:"projectId,omitempty"`
	PageSize  int    `json:"pageSize,omitempty"`
	PageToken string `json:"pageToken,omitempty"`
	input     input
}

// ListNetworksRequest pages through one project's networks, or all.
type ListNetworksRequest struct {
	ProjectID string `json:"projectId,omitempty"`
	PageSize  int    `json:"pageSize,omitempty"`
	PageToken string `json:"pageToken,omitempty"`
	input     input
}

// Page is one page of a list; NextPageToken is empty on the last. It is
// the page's first key, so a reader can ask for the next page before it
// has decoded this one.
type Page[T any] struct {
	NextPageToken string `json:"nextPageToken,omitempty"`
	Items         []T    `json:"items"`
}

// WorkerInfo is what a caller needs from the worker before it writes: the
// key to seal channel secrets to (package api/seal) and the bounds
// requests are checked against.
type WorkerInfo struct {
	SealingKey       string   `json:"sealingKey,omitempty"`
	MaxBackupTimeout Duration `json:"maxBackupTimeout"`
	MaxLockTTL       Duration `json:"maxLockTtl"`
}

// CreateClusterRequest is CreateClusterWorkflow's input: a new cluster
// whose volumes the worker creates at its provider (local only).
type CreateClusterRequest struct {
	ID             string `json:"id"`
	Provider       string `json:"provider"`
	Nodes          int    `json:"nodes"`
	VolumesPerNode int    `json:"volumesPerNode"`
	DiskGB         int    `json:"diskGb"`
	Description    string `json:"description,omitempty"`
	Region         string `json:"region"`
	ProjectID      string `json:"projectId"`
	NetworkID      string `json:"networkId"`
	// DataBytes of generated data per volume (local provider).
	DataBytes int64 `json:"dataBytes,omitempty"`
	// Engine: EngineVolume (default) or EnginePostgres: each node's one
	// volume holds a PostgreSQL data directory and a running server; node 1
	// is the primary, the others stream from it.
	Engine string `json:"engine,omitempty"`
	input  input
}

// Check applies every rule that needs no catalog (validate.Cluster); the
// error lists every problem.
func (r CreateClusterRequest) Check() error {
	return validate.Cluster{
		ID: r.ID, Provider: r.Provider, Engine: r.Engine, Nodes: r.Nodes, VolumesPerNode: r.VolumesPerNode, DiskGB: r.DiskGB,
		Description: r.Description, Region: r.Region, ProjectID: r.ProjectID, NetworkID: r.NetworkID, DataBytes: r.DataBytes,
	}.Check()
}

// CreateProjectRequest creates a project; creating one that exists
// returns it.
type CreateProjectRequest struct {
	ID    string `json:"id"`
	input input
}

// CreateNetworkRequest creates a network of a project on a provider and
// region.
type CreateNetworkRequest struct {
	ID        string `json:"id"`
	ProjectID string `json:"projectId"`
	Provider  string `json:"provider"`
	Region    string `json:"region"`
	input     input
}

// SetNodeHealthRequest marks a node healthy or not (volume clusters).
type SetNodeHealthRequest struct {
	ClusterID string `json:"clusterId"`
	NodeID    string `json:"nodeId"`
	Healthy   bool   `json:"healthy"`
	input     input
}

// SetFaultsRequest replaces a cluster's fault settings (local provider).
type SetFaultsRequest struct {
	ClusterID string `json:"clusterId"`
	Faults    Faults `json:"faults"`
	input     input
}

// LockClusterRequest takes a cluster's lock for an outside operation.
type LockClusterRequest struct {
	ClusterID string   `json:"clusterId"`
	Holder    string   `json:"holder"`
	TTL       Duration `json:"ttl"`
	input     input
}

// UnlockClusterRequest releases a lock taken with lockCluster.
type UnlockClusterRequest struct {
	ClusterID string `json:"clusterId"`
	Token     int64  `json:"token"`
	input     input
}

// RemoveChannelRequest deletes a channel.
type RemoveChannelRequest struct {
	ID    string `json:"id"`
	input input
}

// CreateJobRequest creates a scheduled backup job and its Temporal
// Schedule. Every is at least an hour; Offset shifts the backup time
// within each interval (intervals are aligned to the Unix epoch).
type CreateJobRequest struct {
	// ID is derived from the update's ID when empty.
	ID        string    `json:"id,omitempty"`
	ClusterID string    `json:"clusterId"`
	Every     Duration  `json:"every"`
	Offset    Duration  `json:"offset,omitempty"`
	Label     string    `json:"label,omitempty"`
	Retention Retention `json:"retention"`
	Paused    bool      `json:"paused,omitempty"`
	input     input
}

// UpdateJobRequest changes the fields that are set and rewrites the job's
// schedule to match.
type UpdateJobRequest struct {
	ID        string     `json:"id"`
	Every     *Duration  `json:"every,omitempty"`
	Offset    *Duration  `json:"offset,omitempty"`
	Label     *string    `json:"label,omitempty"`
	Retention *Retention `json:"retention,omitempty"`
	input     input
}

// PauseJobRequest pauses a job's schedule, or resumes it.
type PauseJobRequest struct {
	ID     string `json:"id"`
	Paused bool   `json:"paused"`
	input  input
}

// JobRequest names a job.
type JobRequest struct {
	ID    string `json:"id"`
	input input
}

// DefaultDataBytes is the data generated per volume of a new local
// cluster when a request gives none.
const DefaultDataBytes = 2 << 20

// SetDefaults fills the fields a request may leave empty: provider local
// (region local), one volume per node, project and network "default",
// DefaultDataBytes of data (volume clusters only: a postgres cluster's
// volumes hold a real database, no generated data). An empty Engine is
// left empty: it means EngineVolume.
func (r *CreateClusterRequest) SetDefaults() {
	if r.Provider == "" {
		r.Provider = "local"
	}
	if r.VolumesPerNode == 0 {
		r.VolumesPerNode = 1
	}
	if r.Region == "" && r.Provider == "local" {
		r.Region = "local"
	}
	if r.ProjectID == "" {
		r.ProjectID = "default"
	}
	if r.NetworkID == "" {
		r.NetworkID = "default"
	}
	if r.DataBytes == 0 && EngineOf(r.Engine) == EngineVolume {
		r.DataBytes = DefaultDataBytes
	}
}

// ControlSummary is the control workflow's one-line summary in the Web UI.
const ControlSummary = "Strata control: callers' reads (queries) and writes (updates) of the catalog"

// ControlStartOptions start a task queue's control workflow, or find the
// run that is open.
func ControlStartOptions(taskQueue string) client.StartWorkflowOptions {
	if taskQueue == "" {
		taskQueue = TaskQueue
	}
	return client.StartWorkflowOptions{
		ID: ControlWorkflowID(taskQueue), TaskQueue: taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            ControlSummary,
		// A caller waits on every task of this workflow: one lost with a
		// worker that stopped is retried after this, not the default 10 s.
		WorkflowTaskTimeout: 2 * time.Second,
	}
}

// LifecycleStartOptions start a cluster's lifecycle workflow, or find the
// run that is open. A cluster deleted and made again with its ID gets a new
// lifecycle.
func LifecycleStartOptions(taskQueue, clusterID string) client.StartWorkflowOptions {
	if taskQueue == "" {
		taskQueue = TaskQueue
	}
	return client.StartWorkflowOptions{
		ID: ClusterLifecycleWorkflowID(clusterID), TaskQueue: taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(SearchAttrClusterID.ValueSet(clusterID), SearchAttrClusterState.ValueSet(PowerRunning)),
		StaticSummary:            "Lifecycle of cluster " + clusterID,
	}
}
