package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
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
func (a *Clusters) RegisterCluster(ctx context.Context, in RegisterClusterInput) (catalog.Cluster, error) {
	cl, err := a.registerCluster(ctx, in)
	if err != nil {
		return cl, err
	}
	return cl, a.Lifecycles.EnsureLifecycle(ctx, cl.ID)
}

func (a *Clusters) registerCluster(ctx context.Context, in RegisterClusterInput) (catalog.Cluster, error) {
	req := validate.Register{ID: in.ID, Description: in.Description, Provider: in.Provider, Region: in.Region, ProjectID: in.ProjectID, NetworkID: in.NetworkID}
	for _, n := range in.Nodes {
		req.Nodes = append(req.Nodes, validate.RegisterNode{ID: n.ID, Volumes: n.VolumeRefs})
	}
	if err := req.Check(); err != nil {
		return catalog.Cluster{}, InvalidRequest("%v", err)
	}
	var problems []string
	p, err := a.Providers.For(in.Provider, in.Region)
	if err != nil {
		return catalog.Cluster{}, permanent(api.ReasonInvalidRequest, "invalid cluster %s: %v", in.ID, err)
	}
	problems = append(problems, CheckPlacement(ctx, a.Catalog, in.ProjectID, in.NetworkID, in.Provider, in.Region)...)
	var refs []string
	for _, n := range in.Nodes {
		refs = append(refs, n.VolumeRefs...)
	}
	if len(problems) > 0 {
		return catalog.Cluster{}, permanent(api.ReasonInvalidRequest, "invalid cluster %s: %s", in.ID, strings.Join(problems, "; "))
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
		return catalog.Cluster{}, permanent(api.ReasonInvalidRequest, "invalid cluster %s: %s", in.ID, strings.Join(problems, "; "))
	}
	if err := a.Catalog.CreateCluster(ctx, cl); err != nil {
		if errors.Is(err, catalog.ErrExists) {
			if got, gerr := a.Catalog.GetCluster(ctx, in.ID); gerr == nil && sameVolumes(got, cl) {
				return got, nil // a retry of this registration
			}
			return catalog.Cluster{}, InvalidRequest("invalid cluster %s: it already exists", in.ID)
		}
		var inUse *catalog.VolumeInUseError
		if errors.As(err, &inUse) {
			return catalog.Cluster{}, InvalidRequest("invalid cluster %s: %v", in.ID, inUse)
		}
		return catalog.Cluster{}, classify(err, "cluster "+in.ID)
	}
	return a.Catalog.GetCluster(ctx, in.ID)
}

// sameVolumes reports whether an existing cluster is the one a
// registration describes (a retried registration), node by node and
// volume by volume at the same provider and region.
func sameVolumes(got, want catalog.Cluster) bool {
	if got.Provider != want.Provider || got.Region != want.Region || len(got.Nodes) != len(want.Nodes) {
		return false
	}
	for i, n := range got.Nodes {
		w := want.Nodes[i]
		if n.ID != w.ID || len(n.Volumes) != len(w.Volumes) {
			return false
		}
		for j, v := range n.Volumes {
			if v.Path != w.Volumes[j].Path {
				return false
			}
		}
	}
	return true
}
