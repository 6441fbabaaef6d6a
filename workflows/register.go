package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
)

// Registry is the part of a Temporal worker that workflows and activities
// are registered on (worker.Worker satisfies it).
type Registry interface {
	RegisterWorkflowWithOptions(w interface{}, options workflow.RegisterOptions)
	RegisterActivity(a interface{})
}

// Register registers every Strata workflow, under its public name, and the
// activities they call.
func Register(r Registry, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(BackupWorkflow, workflow.RegisterOptions{Name: BackupWorkflowName})
	r.RegisterWorkflowWithOptions(DeleteBackupWorkflow, workflow.RegisterOptions{Name: DeleteBackupWorkflowName})
	r.RegisterWorkflowWithOptions(PruneWorkflow, workflow.RegisterOptions{Name: PruneWorkflowName})
	r.RegisterActivity(acts)
}
