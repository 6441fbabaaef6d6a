package strata

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"github.com/stratabackup/strata/api"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/validate"
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
	// DataBytes of generated data per volume (local provider).
	DataBytes int64
}

// Validate checks a spec and fills defaults; the error lists every problem
// (the rules of validate.Cluster).
func (s *ClusterSpec) Validate() error {
	if s.Provider == "" {
		s.Provider = "local"
	}
	if s.VolumesPerNode == 0 {
		s.VolumesPerNode = 1
	}
	if s.Region == "" && s.Provider == "local" {
		s.Region = "local"
	}
	if s.ProjectID == "" {
		s.ProjectID = "default"
	}
	if s.NetworkID == "" {
		s.NetworkID = "default"
	}
	if s.DataBytes == 0 {
		s.DataBytes = 2 << 20
	}
	return validate.Cluster{
		ID: s.ID, Provider: s.Provider, Nodes: s.Nodes, VolumesPerNode: s.VolumesPerNode, DiskGB: s.DiskGB,
		Description: s.Description, Region: s.Region, ProjectID: s.ProjectID, NetworkID: s.NetworkID, DataBytes: s.DataBytes,
	}.Check()
}

// CreateCluster provisions the volumes of a new cluster at its provider and
// records it in the catalog, healthy. Its project and network must exist,
// the network in that project and on the cluster's provider and region.
func (c *Client) CreateCluster(ctx context.Context, spec ClusterSpec) (api.Cluster, error) {
	if err := spec.Validate(); err != nil {
		return api.Cluster{}, err
	}
	prov, ok := c.Provisioners[spec.Provider]
	if !ok {
		return api.Cluster{}, fmt.Errorf("invalid cluster: provider %q cannot create clusters here (available: local)", spec.Provider)
	}
	if problems := activities.CheckPlacement(ctx, c.Catalog, spec.ProjectID, spec.NetworkID, spec.Provider, spec.Region); len(problems) > 0 {
		return api.Cluster{}, fmt.Errorf("invalid cluster: %s", strings.Join(problems, "; "))
	}
	if spec.ID == "" {
		spec.ID = "cl-" + randomID(8)
	}
	if _, err := c.Catalog.GetCluster(ctx, spec.ID); err == nil {
		return api.Cluster{}, fmt.Errorf("cluster %s already exists", spec.ID)
	}
	cl := catalog.Cluster{
		ID: spec.ID, Description: spec.Description, Provider: spec.Provider, Region: spec.Region,
		ProjectID: spec.ProjectID, NetworkID: spec.NetworkID, CreatedAt: time.Now().UTC(),
	}
	for n := 1; n <= spec.Nodes; n++ {
		node := catalog.Node{ID: fmt.Sprintf("%s-n%d", spec.ID, n), Healthy: true}
		for v := 1; v <= spec.VolumesPerNode; v++ {
			volID := fmt.Sprintf("%s-v%d", node.ID, v)
			path, err := prov.ProvisionVolume(ctx, volID, spec.DataBytes)
			if err != nil {
				return api.Cluster{}, fmt.Errorf("cluster %s: provisioning volume %s: %w", spec.ID, volID, err)
			}
			node.Volumes = append(node.Volumes, catalog.Volume{ID: volID, NodeID: node.ID, SizeGB: spec.DiskGB, Path: path})
		}
		cl.Nodes = append(cl.Nodes, node)
	}
	if err := c.Catalog.CreateCluster(ctx, cl); err != nil {
		return api.Cluster{}, fmt.Errorf("cluster %s: %w", spec.ID, err)
	}
	return c.GetCluster(ctx, cl.ID)
}

// GetCluster returns a cluster with its current lock.
func (c *Client) GetCluster(ctx context.Context, id string) (api.Cluster, error) {
	cl, err := c.Catalog.GetCluster(ctx, id)
	return cl.API(), err
}

// ListClusters lists all clusters.
func (c *Client) ListClusters(ctx context.Context) ([]api.Cluster, error) {
	cls, err := c.Catalog.ListClusters(ctx)
	return catalog.ClustersAPI(cls), err
}

// SetNodeHealth marks a node healthy or unhealthy.
func (c *Client) SetNodeHealth(ctx context.Context, clusterID, nodeID string, healthy bool) error {
	var p validate.Problems
	p.Add(validate.ID("cluster", clusterID))
	p.Add(validate.ID("node (--node)", nodeID))
	if err := p.Err("health setting"); err != nil {
		return err
	}
	return c.Catalog.SetNodeHealth(ctx, clusterID, nodeID, healthy, nil)
}

// MaxFaultDelay bounds the delays fault settings inject.
const MaxFaultDelay = 24 * time.Hour

// SetFaults replaces a cluster's fault settings (local provider).
func (c *Client) SetFaults(ctx context.Context, clusterID string, f api.Faults) error {
	var p validate.Problems
	p.Add(validate.ID("cluster", clusterID))
	p.Add(validate.Duration("--snapshot-delay", f.SnapshotDelay.D(), 0, MaxFaultDelay))
	p.Add(validate.Duration("--restore-delay", f.RestoreDelay.D(), 0, MaxFaultDelay))
	if err := p.Err("fault settings"); err != nil {
		return err
	}
	if _, err := c.Catalog.GetCluster(ctx, clusterID); err != nil {
		return err
	}
	return c.Catalog.SetFaults(ctx, clusterID, catalog.FaultsOf(f))
}

// LockCluster takes a cluster's lock for an outside operation (resize, disk
// expansion, upgrade...). Backups fail with ClusterLocked while it is held.
// Keep the token: unlocking needs it.
func (c *Client) LockCluster(ctx context.Context, clusterID, holder string, ttl time.Duration) (api.Lock, error) {
	if err := (validate.Lock{ClusterID: clusterID, Holder: holder, TTL: ttl}).Check(c.Config.Limits()); err != nil {
		return api.Lock{}, err
	}
	l, err := c.Catalog.AcquireLock(ctx, clusterID, holder, ttl)
	return l.API(), err
}

// UnlockCluster releases a lock taken with LockCluster. A token that is no
// longer current (the lease lapsed and someone else holds the lock) frees
// nothing and says so, and a lock a Strata operation holds (a backup) is
// released only by that operation: cancel the operation instead.
func (c *Client) UnlockCluster(ctx context.Context, clusterID string, token int64) error {
	if msg := validate.ID("cluster", clusterID); msg != "" {
		return errors.New("invalid unlock: " + msg)
	}
	err := c.Catalog.ReleaseOutsideLock(ctx, clusterID, token)
	var op *catalog.OperationLockError
	if errors.As(err, &op) {
		return fmt.Errorf("cluster %s is locked by %s, which releases its own lock when it ends: cancel it instead (starter backup cancel %s); nothing released",
			clusterID, op.Holder, strings.TrimPrefix(op.Holder, "backup "))
	}
	return err
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
	tc, err := c.temporal()
	if err != nil {
		return api.Cluster{}, err
	}
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
		nets, err := c.Catalog.ListNetworks(ctx, req.ProjectID)
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
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: api.RegisterWorkflowID(req.ID), TaskQueue: c.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         "Register cluster " + req.ID,
	}, api.RegisterClusterWorkflowName, req)
	if err != nil {
		return api.Cluster{}, fmt.Errorf("registering cluster %s: %w", req.ID, err)
	}
	var cl api.Cluster
	if err := run.Get(ctx, &cl); err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			return cl, errors.New(appErr.Message())
		}
		return cl, err
	}
	return cl, nil
}
