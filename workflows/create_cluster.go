package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
)

// CreateClusterWorkflow creates a new cluster: the worker provisions its
// volumes at the provider (the local one: directories under the worker's
// data dir) and records it, healthy. It is a workflow so that the volumes
// are made where the worker runs; callers need only Temporal.
func CreateClusterWorkflow(ctx workflow.Context, req api.CreateClusterRequest) (api.Cluster, error) {
	if err := inputError("cluster", req.InputError()); err != nil {
		return api.Cluster{}, err
	}
	req.SetDefaults()
	if req.ID == "" {
		return api.Cluster{}, failure(ctx, activities.InvalidRequest("invalid cluster: id is required (the workflow ID is %s)", api.CreateClusterWorkflowID("<id>")))
	}
	if err := req.Check(); err != nil {
		return api.Cluster{}, failure(ctx, activities.InvalidRequest("%v", err))
	}
	var cl api.Cluster
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// Generating a volume's data takes a while for large ones.
		StartToCloseTimeout:    15 * time.Minute,
		ScheduleToCloseTimeout: 30 * time.Minute,
		Summary:                "create cluster " + req.ID,
		RetryPolicy:            stepRetry(),
	}), clusters.CreateCluster, req).Get(ctx, &cl)
	return cl, failure(ctx, err)
}
