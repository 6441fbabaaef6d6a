package workflows

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
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

// RegisterWorkflows registers every Strata workflow under its public name;
// the control workflow answers reads from reads (nil in a replayer, which
// runs no queries).
func RegisterWorkflows(r WorkflowRegistry, reads Reads) {
	registerWorkflows(r, &Control{Reads: reads})
}

func registerWorkflows(r WorkflowRegistry, control *Control) {
	r.RegisterWorkflowWithOptions(BackupWorkflow, workflow.RegisterOptions{Name: api.BackupWorkflowName})
	r.RegisterWorkflowWithOptions(DeleteBackupWorkflow, workflow.RegisterOptions{Name: api.DeleteBackupWorkflowName})
	r.RegisterWorkflowWithOptions(PruneWorkflow, workflow.RegisterOptions{Name: api.PruneWorkflowName})
	r.RegisterWorkflowWithOptions(RestoreWorkflow, workflow.RegisterOptions{Name: api.RestoreWorkflowName})
	r.RegisterWorkflowWithOptions(RegisterClusterWorkflow, workflow.RegisterOptions{Name: api.RegisterClusterWorkflowName})
	r.RegisterWorkflowWithOptions(CreateClusterWorkflow, workflow.RegisterOptions{Name: api.CreateClusterWorkflowName})
	r.RegisterWorkflowWithOptions(ReconcileWorkflow, workflow.RegisterOptions{Name: api.ReconcileWorkflowName})
	r.RegisterWorkflowWithOptions(NotifyWorkflow, workflow.RegisterOptions{Name: api.NotifyWorkflowName})
	r.RegisterWorkflowWithOptions(MonitorWorkflow, workflow.RegisterOptions{Name: api.MonitorWorkflowName})
	r.RegisterWorkflowWithOptions(ClusterLifecycleWorkflow, workflow.RegisterOptions{Name: api.ClusterLifecycleWorkflowName})
	r.RegisterWorkflowWithOptions(PowerOnWorkflow, workflow.RegisterOptions{Name: api.PowerOnWorkflowName})
	r.RegisterWorkflowWithOptions(control.Workflow, workflow.RegisterOptions{Name: api.ControlWorkflowName})
}

// Options are a worker's settings of its workflows.
type Options struct {
	// ControlMaxUpdates is how many updates a run of the control workflow
	// takes before it continues as new (0: api.MaxControlUpdates).
	ControlMaxUpdates int
}

// Register registers every Strata workflow and the activities they call.
func Register(r Registry, acts *activities.Set, o Options) {
	registerWorkflows(r, &Control{Reads: acts.Reads, MaxUpdates: o.ControlMaxUpdates})
	for _, a := range acts.Registerable() {
		r.RegisterActivity(a)
	}
}

// StartControl starts the task queue's control workflow unless it runs
// already, so callers' first read finds it.
func StartControl(ctx context.Context, tc client.Client, taskQueue string) error {
	_, err := tc.ExecuteWorkflow(ctx, api.ControlStartOptions(taskQueue), api.ControlWorkflowName)
	if err != nil {
		return fmt.Errorf("starting the control workflow %s: %w", api.ControlWorkflowID(taskQueue), err)
	}
	return nil
}
