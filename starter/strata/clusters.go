package strata

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
)

// ClusterSpec describes a cluster to create.
type ClusterSpec struct {
	// ID is generated when empty.
	ID             string
	Provider       string
	Nodes          int
	VolumesPerNode int
	DiskGB         int
	Description    string
	Region         string
	ProjectID      string
	NetworkID      string
	// DataBytes of generated data per volume (local provider, volume
	// engine).
	DataBytes int64
	// Engine is api.EngineVolume (the default) or api.EnginePostgres.
	Engine string
}

func (s ClusterSpec) request() api.CreateClusterRequest {
	r := api.CreateClusterRequest{
		ID: s.ID, Provider: s.Provider, Engine: s.Engine, Nodes: s.Nodes, VolumesPerNode: s.VolumesPerNode, DiskGB: s.DiskGB,
		Description: s.Description, Region: s.Region, ProjectID: s.ProjectID, NetworkID: s.NetworkID, DataBytes: s.DataBytes,
	}
	r.SetDefaults()
	return r
}

// Validate checks a spec (the rules of validate.Cluster); the error lists
// every problem.
func (s ClusterSpec) Validate() error {
	return s.request().Check()
}

// CreateCluster creates a new cluster: the worker provisions its volumes
// at the provider (local only) and records it, healthy. Its project and
// network must exist, the network in that project and on the cluster's
// provider and region.
func (c *Client) CreateCluster(ctx context.Context, spec ClusterSpec) (api.Cluster, error) {
	if err := spec.Validate(); err != nil {
		return api.Cluster{}, err
	}
	req := spec.request()
	if req.ID == "" {
		req.ID = "cl-" + randomID(8)
	}
	return c.clusterWorkflow(ctx, api.CreateClusterWorkflowID(req.ID), api.CreateClusterWorkflowName, "Create cluster "+req.ID, req)
}

// ConnectCluster says how to connect to a postgres cluster's primary: a
// libpq URI (with the superuser's password) that psql accepts as is.
func (c *Client) ConnectCluster(ctx context.Context, id string) (api.ConnectInfo, error) {
	var info api.ConnectInfo
	return info, c.read(ctx, api.QueryConnectCluster, api.GetRequest{ID: id}, &info)
}

// GetCluster returns a cluster with its current lock.
func (c *Client) GetCluster(ctx context.Context, id string) (api.Cluster, error) {
	var cl api.Cluster
	return cl, c.read(ctx, api.QueryGetCluster, api.GetRequest{ID: id}, &cl)
}

// ListClusters lists all clusters.
func (c *Client) ListClusters(ctx context.Context) ([]api.Cluster, error) {
	return pages[api.Cluster](ctx, c, api.QueryListClusters, 0, func(size int, token string) any {
		return api.ListRequest{PageSize: size, PageToken: token}
	})
}

// SetNodeHealth marks a node healthy or unhealthy.
func (c *Client) SetNodeHealth(ctx context.Context, clusterID, nodeID string, healthy bool) error {
	if err := validate.NodeHealth(clusterID, nodeID); err != nil {
		return err
	}
	var cl api.Cluster
	return c.write(ctx, api.UpdateSetNodeHealth, api.SetNodeHealthRequest{ClusterID: clusterID, NodeID: nodeID, Healthy: healthy}, &cl)
}

// MaxFaultDelay bounds the delays fault settings inject.
const MaxFaultDelay = validate.MaxFaultDelay

// SetFaults replaces a cluster's fault settings (local provider).
func (c *Client) SetFaults(ctx context.Context, clusterID string, f api.Faults) error {
	if err := (validate.Faults{ClusterID: clusterID, SnapshotDelay: f.SnapshotDelay.D(), RestoreDelay: f.RestoreDelay.D()}).Check(); err != nil {
		return err
	}
	var cl api.Cluster
	return c.write(ctx, api.UpdateSetFaults, api.SetFaultsRequest{ClusterID: clusterID, Faults: f}, &cl)
}

// LockCluster takes a cluster's lock for an outside operation (resize, disk
// expansion, upgrade...). Backups fail with ClusterLocked while it is held.
// Keep the token: unlocking needs it.
func (c *Client) LockCluster(ctx context.Context, clusterID, holder string, ttl time.Duration) (api.Lock, error) {
	l, err := c.limits(ctx)
	if err != nil {
		return api.Lock{}, err
	}
	if err := (validate.Lock{ClusterID: clusterID, Holder: holder, TTL: ttl}).Check(l); err != nil {
		return api.Lock{}, err
	}
	var lock api.Lock
	return lock, c.write(ctx, api.UpdateLockCluster, api.LockClusterRequest{ClusterID: clusterID, Holder: holder, TTL: api.Duration(ttl)}, &lock)
}

// UnlockCluster releases a lock taken with LockCluster. A token that is no
// longer current (the lease lapsed and someone else holds the lock) frees
// nothing and says so, and a lock a Strata operation holds (a backup) is
// released only by that operation: cancel the operation instead.
func (c *Client) UnlockCluster(ctx context.Context, clusterID string, token int64) error {
	if msg := validate.ID("cluster", clusterID); msg != "" {
		return errors.New("invalid unlock: " + msg)
	}
	var cl api.Cluster
	return c.write(ctx, api.UpdateUnlockCluster, api.UnlockClusterRequest{ClusterID: clusterID, Token: token}, &cl)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:n]
}

// RegisterCluster records an existing cloud cluster (AWS or GCP) by its
// nodes' volumes. The worker checks at the provider that every volume
// exists and reads its zone and size, so this needs no cloud credentials.
func (c *Client) RegisterCluster(ctx context.Context, req api.RegisterClusterRequest) (api.Cluster, error) {
	if req.ID == "" {
		req.ID = "cl-" + randomID(8)
	}
	if req.ProjectID == "" {
		req.ProjectID = "default"
	}
	if msg := validate.Region("region (--region)", req.Region); msg != "" {
		return api.Cluster{}, errors.New("invalid cluster: " + msg)
	}
	if req.NetworkID == "" {
		// The project's one network in that provider and region, if unique.
		nets, err := c.ListNetworks(ctx, req.ProjectID)
		if err != nil {
			return api.Cluster{}, err
		}
		var match []string
		for _, n := range nets {
			if n.Provider == req.Provider && n.Region == req.Region {
				match = append(match, n.ID)
			}
		}
		if len(match) != 1 {
			return api.Cluster{}, fmt.Errorf("invalid cluster: give --network: project %s has %d networks on %s/%s %v (create one with `starter network create NAME --project %s --provider %s --region %s`)",
				req.ProjectID, len(match), req.Provider, req.Region, match, req.ProjectID, req.Provider, req.Region)
		}
		req.NetworkID = match[0]
	}
	check := validate.Register{ID: req.ID, Description: req.Description, Provider: req.Provider, Region: req.Region, ProjectID: req.ProjectID, NetworkID: req.NetworkID}
	for _, n := range req.Nodes {
		check.Nodes = append(check.Nodes, validate.RegisterNode{ID: n.ID, Volumes: n.Volumes})
	}
	if err := check.Check(); err != nil {
		return api.Cluster{}, err
	}
	return c.clusterWorkflow(ctx, api.RegisterWorkflowID(req.ID), api.RegisterClusterWorkflowName, "Register cluster "+req.ID, req)
}

// clusterWorkflow runs a workflow that makes a cluster. Its ID is the
// cluster's, so a retry after the cluster exists runs again and reports
// the cluster.
func (c *Client) clusterWorkflow(ctx context.Context, wfID, name, summary string, req any) (api.Cluster, error) {
	var cl api.Cluster
	return cl, c.runWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    wfID,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         summary,
	}, name, req, &cl)
}

// CreateRestorePoint makes a named restore point on a postgres cluster's
// primary; restore to it with RestoreRequest.ToName.
func (c *Client) CreateRestorePoint(ctx context.Context, clusterID, name string) (api.RestorePoint, error) {
	req := api.CreateRestorePointRequest{ClusterID: clusterID, Name: name}
	var p api.RestorePoint
	return p, c.write(ctx, api.UpdateCreateRestorePoint, req, &p)
}

// ListRestorePoints lists a postgres cluster's restore points, oldest
// first.
func (c *Client) ListRestorePoints(ctx context.Context, clusterID string) ([]api.RestorePoint, error) {
	var ps []api.RestorePoint
	return ps, c.read(ctx, api.QueryListRestorePoints, api.GetRequest{ID: clusterID}, &ps)
}
