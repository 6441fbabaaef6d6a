package strata

import (
	"context"
	"errors"
	"fmt"
	"github.com/stratabackup/strata/api"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/validate"
)

// RestoreRun is a started restore.
type RestoreRun struct {
	RestoreID  string `json:"restoreId"`
	ClusterID  string `json:"clusterId"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	c          *Client
}

// RestoreError is a restore that failed: Code is the reason code, and the
// new cluster (marked Failed, its volumes and nodes deleted) and the restore
// record say why.
type RestoreError struct {
	RestoreID string
	Code      string
	Reason    string
	Result    *api.RestoreResult
}

func (e *RestoreError) Error() string {
	return fmt.Sprintf("restore %s failed: %s", e.RestoreID, e.Reason)
}

// StartRestore starts restoring a backup into a new cluster. Every rule
// (Completed backup with its snapshots, same provider and region, disk at
// least the source's, existing project and network) is checked by the
// workflow's first step before anything is created; Wait reports a
// rejection as a *RestoreError with code InvalidRequest.
func (c *Client) StartRestore(ctx context.Context, req api.RestoreRequest) (*RestoreRun, error) {
	tc, err := c.temporal()
	if err != nil {
		return nil, err
	}
	if err := (validate.Restore{
		BackupID: req.BackupID, LatestOfJob: req.LatestOfJob, LatestOfCluster: req.LatestOfCluster, Nodes: req.Nodes,
		DiskGB: req.DiskGB, NetworkID: req.NetworkID, ProjectID: req.ProjectID, Description: req.Description,
		Region: req.Region, Provider: req.Provider, RequestID: req.RequestID,
	}).Check(); err != nil {
		return nil, err
	}
	if req.RequestID == "" {
		req.RequestID = uuid.NewString()
	}
	wfID := api.RestoreWorkflowID(req.RequestID)
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: wfID, TaskQueue: c.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Restore into a new cluster",
	}, api.RestoreWorkflowName, req)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		run, err = tc.GetWorkflow(ctx, wfID, started.RunId), nil
	}
	if err != nil {
		return nil, fmt.Errorf("starting restore: %w", err)
	}
	restoreID, clusterID := api.RestoreIDsFor(wfID)
	return &RestoreRun{RestoreID: restoreID, ClusterID: clusterID, WorkflowID: wfID, RunID: run.GetRunID(), c: c}, nil
}

// Wait blocks until the restore ends: the new cluster and the restore
// record, or a *RestoreError.
func (r *RestoreRun) Wait(ctx context.Context) (api.RestoreResult, error) {
	var res api.RestoreResult
	werr := r.c.Temporal.GetWorkflow(ctx, r.WorkflowID, "").Get(ctx, &res)
	if werr == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	re := &RestoreError{RestoreID: r.RestoreID, Code: "Internal", Reason: werr.Error()}
	var appErr *temporal.ApplicationError
	var canceled *temporal.CanceledError
	switch {
	case errors.As(werr, &appErr):
		re.Code, re.Reason = appErr.Type(), appErr.Message()
	case errors.As(werr, &canceled):
		re.Code, re.Reason = "Cancelled", "Cancelled: restore cancelled by request"
	}
	if rec, err := r.c.Catalog.GetRestore(ctx, r.RestoreID); err == nil {
		out := api.RestoreResult{Restore: rec.API()}
		if rec.Reason != "" {
			re.Reason = rec.Reason
		}
		if cl, err := r.c.Catalog.GetCluster(ctx, rec.ClusterID); err == nil {
			out.Cluster = cl.API()
		}
		re.Result = &out
	}
	return res, re
}

// GetRestore returns a restore record and its cluster, with the live step
// while it runs.
func (c *Client) GetRestore(ctx context.Context, id string) (api.RestoreResult, *api.RestoreProgress, error) {
	var res api.RestoreResult
	rec, err := c.Catalog.GetRestore(ctx, id)
	if err != nil {
		return res, nil, err
	}
	res.Restore = rec.API()
	if cl, err := c.Catalog.GetCluster(ctx, rec.ClusterID); err == nil {
		res.Cluster = cl.API()
	}
	if rec.Status == catalog.RestoreCompleted || rec.Status == catalog.RestoreFailed || c.Temporal == nil {
		return res, nil, nil
	}
	v, err := c.Temporal.QueryWorkflow(ctx, rec.WorkflowID, "", api.QueryStatus)
	if err != nil {
		return res, nil, nil
	}
	var p api.RestoreProgress
	if err := v.Get(&p); err != nil {
		return res, nil, nil
	}
	return res, &p, nil
}

// CancelRestore cancels a running restore; what it created is torn down.
func (c *Client) CancelRestore(ctx context.Context, id string) error {
	tc, err := c.temporal()
	if err != nil {
		return err
	}
	rec, err := c.Catalog.GetRestore(ctx, id)
	if err != nil {
		return err
	}
	return tc.CancelWorkflow(ctx, rec.WorkflowID, "")
}

// ListRestores lists restores, newest first, of one backup or all.
func (c *Client) ListRestores(ctx context.Context, backupID string) ([]api.Restore, error) {
	rs, err := c.Catalog.ListRestores(ctx, backupID)
	return catalog.RestoresAPI(rs), err
}

// CreateProject creates a project (idempotent).
func (c *Client) CreateProject(ctx context.Context, id string) (api.Project, error) {
	if msg := validate.NewID("project", id); msg != "" {
		return api.Project{}, errors.New("invalid project: " + msg)
	}
	if err := c.Catalog.CreateProject(ctx, catalog.Project{ID: id, CreatedAt: time.Now().UTC()}); err != nil {
		return api.Project{}, err
	}
	p, err := c.Catalog.GetProject(ctx, id)
	return p.API(), err
}

// ListProjects lists every project.
func (c *Client) ListProjects(ctx context.Context) ([]api.Project, error) {
	ps, err := c.Catalog.ListProjects(ctx)
	out := make([]api.Project, len(ps))
	for i, p := range ps {
		out[i] = p.API()
	}
	return out, err
}

// ListNetworks lists the networks of one project, or all.
func (c *Client) ListNetworks(ctx context.Context, projectID string) ([]api.Network, error) {
	ns, err := c.Catalog.ListNetworks(ctx, projectID)
	out := make([]api.Network, len(ns))
	for i, n := range ns {
		out[i] = n.API()
	}
	return out, err
}

// CreateNetwork creates a network in a project, on a provider and region.
func (c *Client) CreateNetwork(ctx context.Context, n api.Network) (api.Network, error) {
	if n.ProjectID == "" {
		return n, errors.New("a network belongs to a project: give --project")
	}
	var p validate.Problems
	p.Add(validate.NewID("network", n.ID))
	p.Add(validate.ID("project", n.ProjectID))
	p.Add(validate.Provider("provider", n.Provider))
	p.Add(validate.Region("region", n.Region))
	if err := p.Err("network"); err != nil {
		return n, err
	}
	if _, err := c.Catalog.GetProject(ctx, n.ProjectID); err != nil {
		return n, fmt.Errorf("network %s: %w (create it with `starter project create %s`)", n.ID, err, n.ProjectID)
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = time.Now().UTC()
	}
	if err := c.Catalog.CreateNetwork(ctx, catalog.Network{ID: n.ID, ProjectID: n.ProjectID, Provider: n.Provider, Region: n.Region, CreatedAt: n.CreatedAt}); err != nil {
		if errors.Is(err, catalog.ErrExists) {
			return n, fmt.Errorf("network %s already exists", n.ID)
		}
		return n, err
	}
	got, err := c.Catalog.GetNetwork(ctx, n.ID)
	return got.API(), err
}

// EnsureDefaults creates the "default" project and its "default" network on
// the local provider, as dev mode has them.
func (c *Client) EnsureDefaults(ctx context.Context) error {
	if err := c.Catalog.CreateProject(ctx, catalog.Project{ID: "default", CreatedAt: time.Now().UTC()}); err != nil {
		return err
	}
	err := c.Catalog.CreateNetwork(ctx, catalog.Network{ID: "default", ProjectID: "default", Provider: "local", Region: "local", CreatedAt: time.Now().UTC()})
	if err != nil && !errors.Is(err, catalog.ErrExists) {
		return err
	}
	return nil
}
