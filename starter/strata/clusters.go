package strata

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/workflows"
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

var idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

// Validate checks a spec and fills defaults; the error lists every problem.
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
	var problems []string
	if s.ID != "" && !idPattern.MatchString(s.ID) {
		problems = append(problems, fmt.Sprintf("id %q: use 1-40 lowercase letters, digits and inner hyphens", s.ID))
	}
	if s.Nodes < 1 || s.Nodes > 64 {
		problems = append(problems, fmt.Sprintf("nodes %d: give 1 to 64 (--nodes)", s.Nodes))
	}
	if s.VolumesPerNode < 1 || s.VolumesPerNode > 16 {
		problems = append(problems, fmt.Sprintf("volumes per node %d: give 1 to 16", s.VolumesPerNode))
	}
	if s.DiskGB < 1 || s.DiskGB > 65536 {
		problems = append(problems, fmt.Sprintf("disk size %d GB: give 1 to 65536 (--disk-gb)", s.DiskGB))
	}
	if s.Region == "" {
		problems = append(problems, "region is required for provider "+s.Provider+" (--region)")
	}
	if s.DataBytes < 0 {
		problems = append(problems, "data bytes must not be negative")
	}
	if len(problems) > 0 {
		return errors.New("invalid cluster: " + strings.Join(problems, "; "))
	}
	return nil
}

// CreateCluster provisions the volumes of a new cluster at its provider and
// records it in the catalog, healthy.
func (c *Client) CreateCluster(ctx context.Context, spec ClusterSpec) (catalog.Cluster, error) {
	if err := spec.Validate(); err != nil {
		return catalog.Cluster{}, err
	}
	prov, ok := c.Provisioners[spec.Provider]
	if !ok {
		return catalog.Cluster{}, fmt.Errorf("invalid cluster: provider %q cannot create clusters here (available: local)", spec.Provider)
	}
	if spec.ID == "" {
		spec.ID = "cl-" + randomID(8)
	}
	if _, err := c.Catalog.GetCluster(ctx, spec.ID); err == nil {
		return catalog.Cluster{}, fmt.Errorf("cluster %s already exists", spec.ID)
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
				return catalog.Cluster{}, fmt.Errorf("cluster %s: provisioning volume %s: %w", spec.ID, volID, err)
			}
			node.Volumes = append(node.Volumes, catalog.Volume{ID: volID, NodeID: node.ID, SizeGB: spec.DiskGB, Path: path})
		}
		cl.Nodes = append(cl.Nodes, node)
	}
	if err := c.Catalog.CreateCluster(ctx, cl); err != nil {
		return catalog.Cluster{}, fmt.Errorf("cluster %s: %w", spec.ID, err)
	}
	return c.Catalog.GetCluster(ctx, cl.ID)
}

// GetCluster returns a cluster with its current lock.
func (c *Client) GetCluster(ctx context.Context, id string) (catalog.Cluster, error) {
	return c.Catalog.GetCluster(ctx, id)
}

// ListClusters lists all clusters.
func (c *Client) ListClusters(ctx context.Context) ([]catalog.Cluster, error) {
	return c.Catalog.ListClusters(ctx)
}

// SetNodeHealth marks a node healthy or unhealthy.
func (c *Client) SetNodeHealth(ctx context.Context, clusterID, nodeID string, healthy bool) error {
	return c.Catalog.SetNodeHealth(ctx, clusterID, nodeID, healthy, nil)
}

// SetFaults replaces a cluster's fault settings (local provider).
func (c *Client) SetFaults(ctx context.Context, clusterID string, f catalog.Faults) error {
	if _, err := c.Catalog.GetCluster(ctx, clusterID); err != nil {
		return err
	}
	return c.Catalog.SetFaults(ctx, clusterID, f)
}

// LockCluster takes a cluster's lock for an outside operation (resize, disk
// expansion, upgrade...). Backups fail with ClusterLocked while it is held.
// Keep the token: unlocking needs it.
func (c *Client) LockCluster(ctx context.Context, clusterID, holder string, ttl time.Duration) (catalog.Lock, error) {
	if strings.TrimSpace(holder) == "" {
		return catalog.Lock{}, errors.New("a lock needs a holder name (--holder) saying what operation holds it")
	}
	if ttl <= 0 {
		return catalog.Lock{}, fmt.Errorf("lock ttl %s must be positive (--ttl)", ttl)
	}
	return c.Catalog.AcquireLock(ctx, clusterID, holder, ttl)
}

// UnlockCluster releases a lock taken with LockCluster. A token that is no
// longer current (the lease lapsed and someone else holds the lock) frees
// nothing and says so.
func (c *Client) UnlockCluster(ctx context.Context, clusterID string, token int64) error {
	cur, err := c.Catalog.GetLock(ctx, clusterID)
	if err != nil {
		return err
	}
	if cur == nil {
		return fmt.Errorf("cluster %s is not locked", clusterID)
	}
	if cur.Token != token {
		return fmt.Errorf("token %d is not the current lock on cluster %s (held by %q with another token); nothing released", token, clusterID, cur.Holder)
	}
	return c.Catalog.ReleaseLock(ctx, clusterID, token)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:n]
}

// RegisterCluster records an existing cloud cluster (AWS or GCP) by its
// nodes' volumes. The worker checks at the provider that every volume
// exists and reads its zone and size, so this needs no cloud credentials.
func (c *Client) RegisterCluster(ctx context.Context, req workflows.RegisterClusterRequest) (catalog.Cluster, error) {
	tc, err := c.temporal()
	if err != nil {
		return catalog.Cluster{}, err
	}
	if req.ID == "" {
		req.ID = "cl-" + randomID(8)
	}
	if !idPattern.MatchString(req.ID) {
		return catalog.Cluster{}, fmt.Errorf("invalid cluster: id %q: use 1-40 lowercase letters, digits and inner hyphens", req.ID)
	}
	if req.Region == "" {
		return catalog.Cluster{}, fmt.Errorf("invalid cluster: --region is required for provider %s", req.Provider)
	}
	if len(req.Nodes) == 0 {
		return catalog.Cluster{}, errors.New("invalid cluster: give each node and its volumes: --node NAME=VOLUME[,VOLUME...]")
	}
	if req.ProjectID == "" {
		req.ProjectID = "default"
	}
	if req.NetworkID == "" {
		// The project's one network in that provider and region, if unique.
		nets, err := c.Catalog.ListNetworks(ctx, req.ProjectID)
		if err != nil {
			return catalog.Cluster{}, err
		}
		var match []string
		for _, n := range nets {
			if n.Provider == req.Provider && n.Region == req.Region {
				match = append(match, n.ID)
			}
		}
		if len(match) != 1 {
			return catalog.Cluster{}, fmt.Errorf("invalid cluster: give --network: project %s has %d networks on %s/%s %v (create one with `starter network create NAME --project %s --provider %s --region %s`)",
				req.ProjectID, len(match), req.Provider, req.Region, match, req.ProjectID, req.Provider, req.Region)
		}
		req.NetworkID = match[0]
	}
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "register-" + req.ID, TaskQueue: c.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         "Register cluster " + req.ID,
	}, workflows.RegisterClusterWorkflowName, req)
	if err != nil {
		return catalog.Cluster{}, fmt.Errorf("registering cluster %s: %w", req.ID, err)
	}
	var cl catalog.Cluster
	if err := run.Get(ctx, &cl); err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			return cl, errors.New(appErr.Message())
		}
		return cl, err
	}
	return cl, nil
}
