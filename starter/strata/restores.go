package strata

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
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
	if err := req.Check(); err != nil {
		return nil, err
	}
	if req.RequestID == "" {
		req.RequestID = uuid.NewString()
	}
	wfID := api.RestoreWorkflowID(req.RequestID)
	run, err := c.startOnce(ctx, client.StartWorkflowOptions{
		ID: wfID, StaticSummary: "Restore into a new cluster",
	}, api.RestoreWorkflowName, req)
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
	re := &RestoreError{RestoreID: r.RestoreID}
	re.Code, re.Reason = failureOf(werr, "restore")
	var out api.RestoreResult
	if err := r.c.read(ctx, api.QueryGetRestore, api.GetRequest{ID: r.RestoreID}, &out); err == nil {
		if out.Restore.Reason != "" {
			re.Reason = out.Restore.Reason
		}
		re.Result = &out
	}
	return res, re
}

// GetRestore returns a restore record and its cluster, with the live step
// while it runs.
func (c *Client) GetRestore(ctx context.Context, id string) (api.RestoreResult, *api.RestoreProgress, error) {
	var res api.RestoreResult
	if err := c.read(ctx, api.QueryGetRestore, api.GetRequest{ID: id}, &res); err != nil {
		return res, nil, err
	}
	if res.Restore.Status == api.RestoreCompleted || res.Restore.Status == api.RestoreFailed {
		return res, nil, nil
	}
	v, err := c.Temporal.QueryWorkflow(ctx, res.Restore.WorkflowID, "", api.QueryStatus)
	if err != nil {
		return res, nil, nil
	}
	var p api.RestoreProgress
	if err := v.Get(&p); err != nil {
		return res, nil, nil
	}
	return res, &p, nil
}

// RestoreStatus is a restore's live progress: query `status` of its
// workflow, a restore's or a power-on's (which restores too).
func (c *Client) RestoreStatus(ctx context.Context, workflowID string) (api.RestoreProgress, error) {
	var p api.RestoreProgress
	v, err := c.Temporal.QueryWorkflow(ctx, workflowID, "", api.QueryStatus)
	if err != nil {
		return p, fmt.Errorf("restore workflow %s: %w", workflowID, c.asError(err))
	}
	return p, v.Get(&p)
}

// CancelRestore cancels a running restore; what it created is torn down.
func (c *Client) CancelRestore(ctx context.Context, id string) error {
	var res api.RestoreResult
	if err := c.read(ctx, api.QueryGetRestore, api.GetRequest{ID: id}, &res); err != nil {
		return err
	}
	return c.Temporal.CancelWorkflow(ctx, res.Restore.WorkflowID, "")
}

// ListRestores lists restores, newest first, of one backup or all.
func (c *Client) ListRestores(ctx context.Context, backupID string) ([]api.Restore, error) {
	return pages[api.Restore](ctx, c, api.QueryListRestores, 0, func(size int, token string) any {
		return api.ListRestoresRequest{BackupID: backupID, PageSize: size, PageToken: token}
	})
}

// CreateProject creates a project (idempotent).
func (c *Client) CreateProject(ctx context.Context, id string) (api.Project, error) {
	if err := validate.Project(id); err != nil {
		return api.Project{}, err
	}
	var p api.Project
	return p, c.write(ctx, api.UpdateCreateProject, api.CreateProjectRequest{ID: id}, &p)
}

// ListProjects lists every project.
func (c *Client) ListProjects(ctx context.Context) ([]api.Project, error) {
	return pages[api.Project](ctx, c, api.QueryListProjects, 0, func(size int, token string) any {
		return api.ListRequest{PageSize: size, PageToken: token}
	})
}

// ListNetworks lists the networks of one project, or all.
func (c *Client) ListNetworks(ctx context.Context, projectID string) ([]api.Network, error) {
	return pages[api.Network](ctx, c, api.QueryListNetworks, 0, func(size int, token string) any {
		return api.ListNetworksRequest{ProjectID: projectID, PageSize: size, PageToken: token}
	})
}

// CreateNetwork creates a network in a project, on a provider and region.
func (c *Client) CreateNetwork(ctx context.Context, n api.Network) (api.Network, error) {
	if err := validate.Network(n.ID, n.ProjectID, n.Provider, n.Region); err != nil {
		return n, err
	}
	var out api.Network
	return out, c.write(ctx, api.UpdateCreateNetwork, api.CreateNetworkRequest{ID: n.ID, ProjectID: n.ProjectID, Provider: n.Provider, Region: n.Region}, &out)
}
