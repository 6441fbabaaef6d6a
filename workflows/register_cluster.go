package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/catalog"
)

// RegisterClusterWorkflow records an existing cloud cluster after checking
// its volumes at the provider. It is a workflow so that the check runs on
// the worker, where the cloud credentials are; callers need only Temporal.
func RegisterClusterWorkflow(ctx workflow.Context, req RegisterClusterRequest) (catalog.Cluster, error) {
	if err := req.input.inputError("cluster"); err != nil {
		return catalog.Cluster{}, err
	}
	in := activities.RegisterClusterInput{
		ID: req.ID, Description: req.Description, Provider: req.Provider, Region: req.Region,
		ProjectID: req.ProjectID, NetworkID: req.NetworkID,
	}
	for _, n := range req.Nodes {
		in.Nodes = append(in.Nodes, activities.RegisterNode{ID: n.ID, VolumeRefs: n.Volumes})
	}
	var cl catalog.Cluster
	err := workflow.ExecuteActivity(stepOptions(ctx, "register cluster "+req.ID), a.RegisterCluster, in).Get(ctx, &cl)
	return cl, failure(ctx, err)
}
