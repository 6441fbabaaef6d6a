// Package api is Strata's public API over Temporal: the task queue, the
// names of workflows, queries, updates and search attributes, how every
// workflow and schedule ID is derived, the request and result types (their
// JSON is stable and documented in docs/api.md) and the reason codes. It is a
// leaf: callers need it and the Temporal SDK, nothing of Strata's
// internals, and the catalog's rows can change without changing it.
package api

import (
	"go.temporal.io/sdk/temporal"
)

// TaskQueue is the one task queue Strata's worker polls.
const TaskQueue = "strata"

// Workflow types.
const (
	BackupWorkflowName          = "BackupWorkflow"
	DeleteBackupWorkflowName    = "DeleteBackupWorkflow"
	PruneWorkflowName           = "PruneWorkflow"
	RestoreWorkflowName         = "RestoreWorkflow"
	RegisterClusterWorkflowName = "RegisterClusterWorkflow"
	ReconcileWorkflowName       = "ReconcileWorkflow"
	MonitorWorkflowName         = "MonitorWorkflow"
	NotifyWorkflowName          = "NotifyWorkflow"
)

// Queries and updates.
const (
	// QueryStatus returns a BackupProgress (BackupWorkflow) or a
	// RestoreProgress (RestoreWorkflow).
	QueryStatus = "status"
	// UpdateExtendTimeout moves a running backup's deadline later.
	UpdateExtendTimeout = "extendTimeout"
)

// Search attributes (all Keyword): find backups in the Web UI by cluster,
// status and job, e.g. `StrataClusterId="demo-3node" AND StrataBackupStatus="Defunct"`.
// They are never encrypted: they carry IDs and statuses only.
var (
	SearchAttrClusterID    = temporal.NewSearchAttributeKeyKeyword("StrataClusterId")
	SearchAttrBackupStatus = temporal.NewSearchAttributeKeyKeyword("StrataBackupStatus")
	SearchAttrJobID        = temporal.NewSearchAttributeKeyKeyword("StrataJobId")
)

// SearchAttributeNames lists the custom search attributes the server must
// have registered, all of type Keyword.
var SearchAttributeNames = []string{SearchAttrClusterID.GetName(), SearchAttrBackupStatus.GetName(), SearchAttrJobID.GetName(), SearchAttrClusterState.GetName()}

// ScheduledByAttribute is the search attribute Temporal sets on runs a
// schedule starts: the schedule's ID.
const ScheduledByAttribute = "TemporalScheduledById"
