package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
)

// RegisterClusterWorkflow records an existing cloud cluster after checking
// its volumes at the provider. It is a workflow so that the check runs on
// the worker, where the cloud credentials are; callers need only Temporal.
func RegisterClusterWorkflow(ctx workflow.Context, req api.RegisterClusterRequest) (api.Cluster, error) {
	if err := inputError("cluster", req.InputError()); err != nil {
		return api.Cluster{}, err
	}
	in := activities.RegisterClusterInput{
		ID: req.ID, Description: req.Description, Provider: req.Provider, Region: req.Region,
		ProjectID: req.ProjectID, NetworkID: req.NetworkID,
	}
	for _, n := range req.Nodes {
		in.Nodes = append(in.Nodes, activities.RegisterNode{ID: n.ID, VolumeRefs: n.Volumes})
	}
	var cl api.Cluster
	err := workflow.ExecuteActivity(stepOptions(ctx, "register cluster "+req.ID), clusters.RegisterCluster, in).Get(ctx, &cl)
	return cl, failure(ctx, err)
}
