package workflows

import (
	"github.com/stratabackup/strata/api"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
)

// WorkflowRegistry is what workflows register on (a worker, or a replayer).
type WorkflowRegistry interface {
	RegisterWorkflowWithOptions(w interface{}, options workflow.RegisterOptions)
}

// Registry is the part of a Temporal worker that workflows and activities
// are registered on (worker.Worker satisfies it).
type Registry interface {
	WorkflowRegistry
	RegisterActivity(a interface{})
}

// RegisterWorkflows registers every Strata workflow under its public name.
func RegisterWorkflows(r WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(BackupWorkflow, workflow.RegisterOptions{Name: api.BackupWorkflowName})
	r.RegisterWorkflowWithOptions(DeleteBackupWorkflow, workflow.RegisterOptions{Name: api.DeleteBackupWorkflowName})
	r.RegisterWorkflowWithOptions(PruneWorkflow, workflow.RegisterOptions{Name: api.PruneWorkflowName})
	r.RegisterWorkflowWithOptions(RestoreWorkflow, workflow.RegisterOptions{Name: api.RestoreWorkflowName})
	r.RegisterWorkflowWithOptions(RegisterClusterWorkflow, workflow.RegisterOptions{Name: api.RegisterClusterWorkflowName})
	r.RegisterWorkflowWithOptions(ReconcileWorkflow, workflow.RegisterOptions{Name: api.ReconcileWorkflowName})
	r.RegisterWorkflowWithOptions(NotifyWorkflow, workflow.RegisterOptions{Name: api.NotifyWorkflowName})
	r.RegisterWorkflowWithOptions(MonitorWorkflow, workflow.RegisterOptions{Name: api.MonitorWorkflowName})
}

// Register registers every Strata workflow and the activities they call.
func Register(r Registry, acts *activities.Activities) {
	RegisterWorkflows(r)
	r.RegisterActivity(acts)
}
