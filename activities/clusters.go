package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/databases/postgres"
	"github.com/stratabackup/strata/providers"
)

// VolumeProvisioner creates the volumes of a new cluster at its provider
// (the local provider: a directory of generated data).
type VolumeProvisioner interface {
	ProvisionVolume(ctx context.Context, volumeID string, dataBytes int64) (path string, err error)
	// ProvisionEmptyVolume creates a volume for a database server's data.
	ProvisionEmptyVolume(ctx context.Context, volumeID string) (path string, err error)
}

// Clusters are the activities that create and register clusters and
// change what the catalog says of them (health, faults, locks) and of
// projects and networks.
type Clusters struct {
	Common
	Catalog ClusterCatalog
	// Providers check the volumes of clusters being registered.
	Providers providers.Registry
	// Volumes create new clusters' volumes, by provider name.
	Volumes map[string]VolumeProvisioner
	// Databases run postgres clusters' servers (nil: none here).
	Databases DatabaseServers
	// Limits bound lock TTLs.
	Limits validate.Limits
	// Lifecycles start each new cluster's lifecycle workflow.
	Lifecycles *LifecycleStarter
}

// ClusterCatalog is the part of the catalog cluster writes use.
type ClusterCatalog interface {
	catalog.Clusters
	catalog.Locks
	catalog.Projects
	catalog.RestorePoints
}

// CreateCluster provisions the volumes of a new cluster and records it,
// healthy. It is idempotent: a retry after the record was written returns
// the cluster; a different cluster with the same ID is refused before any
// volume is touched (its volumes have the same IDs).
func (c *Clusters) CreateCluster(ctx context.Context, req api.CreateClusterRequest) (api.Cluster, error) {
	cl, err := c.createCluster(ctx, req)
	if err != nil {
		return cl, err
	}
	return cl, c.Lifecycles.EnsureLifecycle(ctx, cl.ID)
}

func (c *Clusters) createCluster(ctx context.Context, req api.CreateClusterRequest) (api.Cluster, error) {
	subject := "cluster " + req.ID
	prov, ok := c.Volumes[req.Provider]
	if !ok {
		return api.Cluster{}, InvalidRequest("invalid cluster: provider %s cannot create clusters here (available: local; register existing cloud clusters with `starter cluster register`)", validate.Quote(req.Provider))
	}
	if problems := CheckPlacement(ctx, c.Catalog, req.ProjectID, req.NetworkID, req.Provider, req.Region); len(problems) > 0 {
		return api.Cluster{}, InvalidRequest("invalid cluster: %s", strings.Join(problems, "; "))
	}
	engine := api.EngineOf(req.Engine)
	if engine == api.EnginePostgres && c.Databases == nil {
		return api.Cluster{}, noDatabases(req.ID)
	}
	want := catalog.Cluster{
		ID: req.ID, Description: req.Description, Provider: req.Provider, Region: req.Region,
		ProjectID: req.ProjectID, NetworkID: req.NetworkID, Engine: engine,
	}
	for n := 1; n <= req.Nodes; n++ {
		node := catalog.Node{ID: fmt.Sprintf("%s-n%d", req.ID, n), Healthy: true}
		for v := 1; v <= req.VolumesPerNode; v++ {
			node.Volumes = append(node.Volumes, catalog.Volume{ID: fmt.Sprintf("%s-v%d", node.ID, v), NodeID: node.ID, SizeGB: req.DiskGB})
		}
		want.Nodes = append(want.Nodes, node)
	}
	if got, err := c.Catalog.GetCluster(ctx, req.ID); err == nil {
		if sameShape(got, want) {
			if engine == api.EnginePostgres {
				// A retry after the record was written: its servers run
				// (started again if they had stopped).
				_, err := c.startServers(ctx, got)
				return got, err
			}
			return got, nil
		}
		return api.Cluster{}, InvalidRequest("invalid cluster: cluster %s already exists", req.ID)
	} else if !catalog.IsNotFound(err) {
		return api.Cluster{}, classify(err, subject)
	}
	for i := range want.Nodes {
		for j := range want.Nodes[i].Volumes {
			vol := &want.Nodes[i].Volumes[j]
			var path string
			var err error
			if engine == api.EnginePostgres {
				path, err = prov.ProvisionEmptyVolume(ctx, vol.ID)
			} else {
				path, err = prov.ProvisionVolume(ctx, vol.ID, req.DataBytes)
			}
			if err != nil {
				return api.Cluster{}, classify(err, fmt.Sprintf("%s: provisioning volume %s", subject, vol.ID))
			}
			vol.Path = path
		}
	}
	if engine == api.EnginePostgres {
		servers, err := c.startServers(ctx, want)
		if err != nil {
			return api.Cluster{}, err
		}
		for i, s := range servers {
			want.Nodes[i].Role, want.Nodes[i].Endpoint = s.Role, s.Endpoint
		}
	}
	want.CreatedAt = c.now()
	if err := c.Catalog.CreateCluster(ctx, want); err != nil {
		var inUse *catalog.VolumeInUseError
		if errors.As(err, &inUse) {
			return api.Cluster{}, InvalidRequest("invalid cluster: %v", err)
		}
		if !errors.Is(err, catalog.ErrExists) {
			return api.Cluster{}, classify(err, subject)
		}
		// Created concurrently: the shape check below says whether by us.
	}
	got, err := c.Catalog.GetCluster(ctx, req.ID)
	if err != nil {
		return api.Cluster{}, classify(err, subject)
	}
	if !sameShape(got, want) {
		return api.Cluster{}, InvalidRequest("invalid cluster: cluster %s already exists", req.ID)
	}
	return got, nil
}

// startServers makes a postgres cluster's servers exist and run. Its
// failures are retried: a half-made node is made again.
func (c *Clusters) startServers(ctx context.Context, cl catalog.Cluster) ([]postgres.Node, error) {
	servers, err := c.Databases.EnsureCluster(ctx, ServerSpec(cl))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: starting its PostgreSQL servers: %w", cl.ID, err)
	}
	return servers, nil
}

// sameShape says whether a recorded cluster is the one a create asked for
// (a retried create finds its own record).
func sameShape(got, want catalog.Cluster) bool {
	if api.EngineOf(got.Engine) != api.EngineOf(want.Engine) || got.Provider != want.Provider || got.Region != want.Region || got.Description != want.Description ||
		got.ProjectID != want.ProjectID || got.NetworkID != want.NetworkID || len(got.Nodes) != len(want.Nodes) {
		return false
	}
	for i := range got.Nodes {
		if got.Nodes[i].ID != want.Nodes[i].ID || len(got.Nodes[i].Volumes) != len(want.Nodes[i].Volumes) {
			return false
		}
		for j, v := range got.Nodes[i].Volumes {
			if w := want.Nodes[i].Volumes[j]; v.ID != w.ID || v.SizeGB != w.SizeGB {
				return false
			}
		}
	}
	return true
}

// EnsureDefaults creates the "default" project and its "default" network
// on the local provider (new catalogs have them; older ones get them).
func EnsureDefaults(ctx context.Context, cat catalog.Store) error {
	if err := cat.CreateProject(ctx, catalog.Project{ID: "default", CreatedAt: time.Now().UTC()}); err != nil {
		return err
	}
	err := cat.CreateNetwork(ctx, catalog.Network{ID: "default", ProjectID: "default", Provider: "local", Region: "local", CreatedAt: time.Now().UTC()})
	if err != nil && !errors.Is(err, catalog.ErrExists) {
		return err
	}
	return nil
}

// SetNodeHealth marks a node healthy or unhealthy.
func (c *Clusters) SetNodeHealth(ctx context.Context, req api.SetNodeHealthRequest) (api.Cluster, error) {
	subject := "cluster " + req.ClusterID
	if cl, err := c.Catalog.GetCluster(ctx, req.ClusterID); err != nil {
		return api.Cluster{}, notFound(err, subject)
	} else if isPostgres(cl) {
		return api.Cluster{}, InvalidRequest("cluster %s runs PostgreSQL: its health is what its servers say, not set by hand (stop a server to make it unhealthy)", req.ClusterID)
	}
	if err := c.Catalog.SetNodeHealth(ctx, req.ClusterID, req.NodeID, req.Healthy, nil); err != nil {
		return api.Cluster{}, notFound(err, subject)
	}
	cl, err := c.Catalog.GetCluster(ctx, req.ClusterID)
	return cl, notFound(err, subject)
}

// SetFaults replaces a cluster's fault settings (local provider).
func (c *Clusters) SetFaults(ctx context.Context, req api.SetFaultsRequest) (api.Cluster, error) {
	subject := "cluster " + req.ClusterID
	cl, err := c.Catalog.GetCluster(ctx, req.ClusterID)
	if err != nil {
		return api.Cluster{}, notFound(err, subject)
	}
	if err := c.Catalog.SetFaults(ctx, req.ClusterID, req.Faults); err != nil {
		return api.Cluster{}, classify(err, subject)
	}
	return cl, nil
}

// LockCluster takes a cluster's lock for an outside operation.
func (c *Clusters) LockCluster(ctx context.Context, req api.LockClusterRequest) (api.Lock, error) {
	if err := (validate.Lock{ClusterID: req.ClusterID, Holder: req.Holder, TTL: req.TTL.D()}).Check(c.Limits); err != nil {
		return api.Lock{}, InvalidRequest("%v", err)
	}
	l, err := c.Catalog.AcquireLock(ctx, req.ClusterID, req.Holder, req.TTL.D())
	if err != nil {
		return api.Lock{}, notFound(err, "cluster "+req.ClusterID)
	}
	return l, nil
}

// UnlockCluster releases a lock taken with LockCluster. A token that is no
// longer current frees nothing and says so, and a lock a Strata operation
// holds is released only by that operation.
func (c *Clusters) UnlockCluster(ctx context.Context, req api.UnlockClusterRequest) (api.Cluster, error) {
	subject := "cluster " + req.ClusterID
	err := c.Catalog.ReleaseOutsideLock(ctx, req.ClusterID, req.Token)
	var op *catalog.OperationLockError
	if errors.As(err, &op) {
		return api.Cluster{}, permanent(api.ReasonInvalidState, "cluster %s is locked by %s, which releases its own lock when it ends: cancel it instead (starter backup cancel %s); nothing released",
			req.ClusterID, op.Holder, strings.TrimPrefix(op.Holder, "backup "))
	}
	if err != nil {
		return api.Cluster{}, notFound(err, subject)
	}
	cl, err := c.Catalog.GetCluster(ctx, req.ClusterID)
	return cl, notFound(err, subject)
}

// CreateProject creates a project; one that exists is returned.
func (c *Clusters) CreateProject(ctx context.Context, req api.CreateProjectRequest) (api.Project, error) {
	if err := c.Catalog.CreateProject(ctx, catalog.Project{ID: req.ID, CreatedAt: c.now()}); err != nil {
		return api.Project{}, classify(err, "project "+req.ID)
	}
	p, err := c.Catalog.GetProject(ctx, req.ID)
	return p, classify(err, "project "+req.ID)
}

// CreateNetwork creates a network in an existing project.
func (c *Clusters) CreateNetwork(ctx context.Context, req api.CreateNetworkRequest) (api.Network, error) {
	subject := "network " + req.ID
	if _, err := c.Catalog.GetProject(ctx, req.ProjectID); err != nil {
		if catalog.IsNotFound(err) {
			return api.Network{}, permanent(api.ReasonNotFound, "%s: project %q not found (create it with `starter project create %s`)", subject, req.ProjectID, req.ProjectID)
		}
		return api.Network{}, classify(err, subject)
	}
	n := catalog.Network{ID: req.ID, ProjectID: req.ProjectID, Provider: req.Provider, Region: req.Region, CreatedAt: c.now()}
	if err := c.Catalog.CreateNetwork(ctx, n); err != nil {
		if !errors.Is(err, catalog.ErrExists) {
			return api.Network{}, classify(err, subject)
		}
		// A retry finds its own network; anything else is a clash.
		got, gerr := c.Catalog.GetNetwork(ctx, req.ID)
		if gerr != nil || got.ProjectID != n.ProjectID || got.Provider != n.Provider || got.Region != n.Region {
			return api.Network{}, permanent(api.ReasonInvalidRequest, "network %s already exists", req.ID)
		}
	}
	got, err := c.Catalog.GetNetwork(ctx, req.ID)
	return got, classify(err, subject)
}

// notFound is classify with a missing record reported as NotFound (a read
// or write that named something that does not exist).
func notFound(err error, subject string) error {
	if err == nil {
		return nil
	}
	var nf *catalog.NotFoundError
	if errors.As(err, &nf) {
		return permanent(api.ReasonNotFound, "%v", nf)
	}
	return classify(err, subject)
}
