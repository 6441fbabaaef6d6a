package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/stratabackup/strata/catalog"
)

// RegisterClusterInput names an existing cloud cluster by its volumes.
type RegisterClusterInput struct {
	ID          string
	Description string
	Provider    string
	Region      string
	ProjectID   string
	NetworkID   string
	Nodes       []RegisterNode
}

// RegisterNode is a node and the provider references of its volumes (EBS
// volume IDs; GCE "zones/<zone>/disks/<name>").
type RegisterNode struct {
	ID         string
	VolumeRefs []string
}

// RegisterCluster records an existing cloud cluster after checking at its
// provider that every volume exists, reading each one's zone and size from
// there. It runs on the worker, which holds the cloud credentials.
func (a *Activities) RegisterCluster(ctx context.Context, in RegisterClusterInput) (catalog.Cluster, error) {
	var problems []string
	if in.ID == "" || len(in.Nodes) == 0 {
		problems = append(problems, "a cluster ID and at least one --node NAME=VOLUME[,VOLUME...] are required")
	}
	p, err := a.Providers.For(in.Provider, in.Region)
	if err != nil {
		return catalog.Cluster{}, permanent(ReasonInvalidRequest, "invalid cluster %s: %v", in.ID, err)
	}
	probe := RestorePlan{Provider: in.Provider, Region: in.Region, ProjectID: in.ProjectID, NetworkID: in.NetworkID}
	problems = append(problems, a.checkPlacement(ctx, probe)...)
	var refs []string
	for _, n := range in.Nodes {
		if n.ID == "" || len(n.VolumeRefs) == 0 {
			problems = append(problems, fmt.Sprintf("node %q needs a name and at least one volume", n.ID))
		}
		refs = append(refs, n.VolumeRefs...)
	}
	if len(problems) > 0 {
		return catalog.Cluster{}, permanent(ReasonInvalidRequest, "invalid cluster %s: %s", in.ID, strings.Join(problems, "; "))
	}
	found, err := p.GetVolumes(ctx, dedupe(refs))
	if err != nil {
		return catalog.Cluster{}, classify(err, "cluster "+in.ID)
	}
	byRef := map[string]int{}
	zones := map[string]string{}
	for _, v := range found {
		byRef[v.Ref], zones[v.Ref] = v.SizeGB, v.Zone
	}
	cl := catalog.Cluster{
		ID: in.ID, Description: in.Description, Provider: in.Provider, Region: in.Region, ProjectID: in.ProjectID,
		NetworkID: in.NetworkID, Status: catalog.ClusterRunning, CreatedAt: a.now(),
	}
	for _, n := range in.Nodes {
		node := catalog.Node{ID: n.ID, Healthy: true}
		for j, ref := range n.VolumeRefs {
			size, ok := byRef[ref]
			if !ok {
				problems = append(problems, fmt.Sprintf("volume %s of node %s does not exist at %s in %s", ref, n.ID, in.Provider, in.Region))
				continue
			}
			node.Volumes = append(node.Volumes, catalog.Volume{ID: fmt.Sprintf("%s-v%d", n.ID, j+1), NodeID: n.ID, SizeGB: size, Path: ref, Zone: zones[ref]})
		}
		cl.Nodes = append(cl.Nodes, node)
	}
	if len(problems) > 0 {
		return catalog.Cluster{}, permanent(ReasonInvalidRequest, "invalid cluster %s: %s", in.ID, strings.Join(problems, "; "))
	}
	if err := a.Catalog.CreateCluster(ctx, cl); err != nil {
		if errors.Is(err, catalog.ErrExists) {
			if got, gerr := a.Catalog.GetCluster(ctx, in.ID); gerr == nil && got.Provider == in.Provider && len(got.Nodes) == len(in.Nodes) {
				return got, nil // a retry of this registration
			}
			return catalog.Cluster{}, permanent(ReasonInvalidRequest, "cluster %s already exists", in.ID)
		}
		return catalog.Cluster{}, classify(err, "cluster "+in.ID)
	}
	return a.Catalog.GetCluster(ctx, in.ID)
}
