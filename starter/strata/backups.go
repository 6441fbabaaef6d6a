package strata

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/labels"
	"github.com/stratabackup/strata/api/validate"
)

// BackupRun is a started backup.
type BackupRun struct {
	BackupID   string `json:"backupId"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	c          *Client
}

// BackupError is a backup that ended Defunct (or whose workflow failed
// before it had a record). Code is the reason code, e.g. ClusterLocked.
type BackupError struct {
	BackupID string
	Code     string
	Reason   string
	// Backup is the Defunct record, when one exists.
	Backup *api.Backup
}

func (e *BackupError) Error() string {
	return fmt.Sprintf("backup %s failed: %s", e.BackupID, e.Reason)
}

// StartBackup validates req and starts a backup. Bad input (unknown
// cluster, bad label template, bad timeout) fails here, before anything is
// created. Starting again with the same RequestID returns the first run
// instead of starting a second backup.
func (c *Client) StartBackup(ctx context.Context, req api.BackupRequest) (*BackupRun, error) {
	limits, err := c.limits(ctx)
	if err != nil {
		return nil, err
	}
	if err := (validate.Backup{
		ClusterID: req.ClusterID, Label: req.Label, Timeout: req.Timeout.D(), JobID: req.JobID, RequestID: req.RequestID,
	}).Check(limits); err != nil {
		return nil, err
	}
	if req.JobID != "" {
		// The workflow would refuse it: only the job's own schedule starts
		// backups that name it.
		return nil, fmt.Errorf("invalid backup request: jobId %s: only the job's own schedule starts its backups (starter schedule trigger %s); leave jobId empty for a manual backup", req.JobID, req.JobID)
	}
	cl, err := c.GetCluster(ctx, req.ClusterID)
	if err != nil {
		if IsNotFound(err) {
			return nil, fmt.Errorf("invalid backup request: cluster %q not found (see `starter cluster list`)", req.ClusterID)
		}
		return nil, err
	}
	if msg := validate.RenderedLabel(labels.MustParse(req.Label), labels.Vars{ClusterID: cl.ID, ClusterDescription: cl.Description, Provider: cl.Provider}); msg != "" {
		return nil, errors.New("invalid backup request: " + msg)
	}
	if req.RequestID == "" {
		req.RequestID = uuid.NewString()
	}
	wfID := api.BackupWorkflowID(req.RequestID)
	attrs := []temporal.SearchAttributeUpdate{
		api.SearchAttrClusterID.ValueSet(req.ClusterID),
		api.SearchAttrBackupStatus.ValueSet(string(api.BackupPending)),
	}
	if req.JobID != "" {
		attrs = append(attrs, api.SearchAttrJobID.ValueSet(req.JobID))
	}
	run, err := c.startOnce(ctx, client.StartWorkflowOptions{
		ID:                    wfID,
		TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
		StaticSummary:         fmt.Sprintf("Backup of cluster %s", req.ClusterID),
	}, api.BackupWorkflowName, req)
	if err != nil {
		return nil, fmt.Errorf("starting backup of cluster %s: %w", req.ClusterID, err)
	}
	return &BackupRun{BackupID: api.BackupIDFor(wfID), WorkflowID: wfID, RunID: run.GetRunID(), c: c}, nil
}

// Wait blocks until the backup ends. It returns the Completed record, or a
// *BackupError with the reason for a Defunct one.
func (r *BackupRun) Wait(ctx context.Context) (api.Backup, error) {
	return r.c.WaitBackup(ctx, r.WorkflowID)
}

// WaitBackup waits for the backup with this ID (or workflow ID) to end.
func (c *Client) WaitBackup(ctx context.Context, id string) (api.Backup, error) {
	backupID, wfID, _, err := c.resolveBackup(ctx, id)
	if err != nil {
		return api.Backup{}, err
	}
	var res api.Backup
	werr := c.Temporal.GetWorkflow(ctx, wfID, "").Get(ctx, &res)
	if werr == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		return api.Backup{}, ctx.Err()
	}
	be := &BackupError{BackupID: backupID}
	be.Code, be.Reason = failureOf(werr, "backup")
	if b, err := c.GetBackup(ctx, backupID); err == nil {
		be.Backup = &b
		if b.Reason != "" {
			be.Reason = b.Reason
		}
	}
	return api.Backup{}, be
}

// resolveBackup accepts a backup ID or its workflow ID. rec is the record
// when finding the workflow meant reading it (nil for a workflow ID), so
// callers that need it read it once.
func (c *Client) resolveBackup(ctx context.Context, id string) (backupID, workflowID string, rec *api.Backup, err error) {
	if !strings.HasPrefix(id, "bk-") {
		return api.BackupIDFor(id), id, nil, nil
	}
	b, err := c.GetBackup(ctx, id)
	if err != nil {
		return "", "", nil, err
	}
	return b.ID, b.WorkflowID, &b, nil
}

// record returns rec, or reads the backup when resolveBackup did not.
func (c *Client) record(ctx context.Context, backupID string, rec *api.Backup) (api.Backup, error) {
	if rec != nil {
		return *rec, nil
	}
	return c.GetBackup(ctx, backupID)
}

// GetBackup returns a backup record by backup ID or workflow ID.
func (c *Client) GetBackup(ctx context.Context, id string) (api.Backup, error) {
	var b api.Backup
	return b, c.read(ctx, api.QueryGetBackup, api.GetRequest{ID: id}, &b)
}

// ListBackups lists backups, newest first, reading them a page at a time
// (f.Limit bounds the total; 0 lists all).
func (c *Client) ListBackups(ctx context.Context, f api.BackupFilter) ([]api.Backup, error) {
	return pages[api.Backup](ctx, c, api.QueryListBackups, f.Limit, func(size int, token string) any {
		return api.ListBackupsRequest{
			ClusterID: f.ClusterID, JobID: f.JobID, ManualOnly: f.ManualOnly, Statuses: f.Statuses,
			IncludeDeleted: f.IncludeDeleted, View: f.View, PageSize: size, PageToken: token,
		}
	})
}

// BackupStatus is a running backup's live progress (query `status`), or a
// finished one's final state from the catalog.
func (c *Client) BackupStatus(ctx context.Context, id string) (api.BackupProgress, error) {
	p, _, err := c.backupStatus(ctx, id)
	return p, err
}

// LiveBackupStatus is BackupStatus with the snapshots as the catalog has
// them, for a watcher: the wait activity records every snapshot's progress
// on each poll, while the workflow's copy changes only when that wait
// returns.
func (c *Client) LiveBackupStatus(ctx context.Context, id string) (api.BackupProgress, error) {
	p, rec, err := c.backupStatus(ctx, id)
	if err != nil || rec == nil || len(rec.Snapshots) == 0 {
		return p, err
	}
	p.Snapshots = rec.Snapshots
	p.Completed, p.Total = completedSnapshots(rec.Snapshots), len(rec.Snapshots)
	return p, nil
}

// backupStatus is BackupStatus and the record it read (nil when the
// backup is not recorded yet).
func (c *Client) backupStatus(ctx context.Context, id string) (api.BackupProgress, *api.Backup, error) {
	backupID, wfID, rec, err := c.resolveBackup(ctx, id)
	if err != nil {
		return api.BackupProgress{}, nil, err
	}
	var found *api.Backup
	if b, err := c.record(ctx, backupID, rec); err == nil {
		found = &b
		if b.Status.Terminal() {
			return progressFromRecord(b), found, nil
		}
	}
	v, err := c.Temporal.QueryWorkflow(ctx, wfID, "", api.QueryStatus)
	if err != nil {
		if found != nil {
			return progressFromRecord(*found), found, nil
		}
		return api.BackupProgress{}, nil, fmt.Errorf("backup %s: %w", id, err)
	}
	var p api.BackupProgress
	if err := v.Get(&p); err != nil {
		return api.BackupProgress{}, found, err
	}
	return p, found, nil
}

func progressFromRecord(b api.Backup) api.BackupProgress {
	return api.BackupProgress{
		BackupID: b.ID, ClusterID: b.ClusterID, JobID: b.JobID, Label: b.Label, Step: api.StepDone,
		Status: b.Status, Reason: b.Reason, Deadline: b.Deadline, Snapshots: b.Snapshots, WorkflowID: b.WorkflowID,
		Completed: completedSnapshots(b.Snapshots), Total: len(b.Snapshots),
	}
}

func completedSnapshots(snaps []api.Snapshot) int {
	n := 0
	for _, s := range snaps {
		if s.Status == api.SnapshotCompleted {
			n++
		}
	}
	return n
}

// CancelBackup cancels a running backup: it ends Defunct with reason
// Cancelled and its lock released.
func (c *Client) CancelBackup(ctx context.Context, id string) error {
	tc := c.Temporal
	backupID, wfID, rec, err := c.resolveBackup(ctx, id)
	if err != nil {
		return err
	}
	b, berr := c.record(ctx, backupID, rec)
	if berr == nil && b.Status.Terminal() {
		return fmt.Errorf("backup %s already ended %s; nothing to cancel", backupID, b.Status)
	}
	if berr == nil {
		// A run terminated (or timed out) before it could finish cannot
		// be cancelled: say what finishes it instead of "requested".
		d, err := tc.DescribeWorkflowExecution(ctx, wfID, "")
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) || (err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING) {
			return fmt.Errorf("backup %s is %s, but its workflow %s has already closed, so there is nothing to cancel: the reconciler finishes it (Defunct, its lock released); run `starter reconcile` to do it now",
				backupID, b.Status, wfID)
		}
	}
	if err := tc.CancelWorkflow(ctx, wfID, ""); err != nil {
		return fmt.Errorf("cancelling backup %s: %w", backupID, err)
	}
	return nil
}

// ExtendBackupTimeout moves a running backup's deadline later (update
// `extendTimeout`); it is rejected if the new deadline is not later.
func (c *Client) ExtendBackupTimeout(ctx context.Context, id string, req api.ExtendTimeoutRequest) (api.ExtendTimeoutResult, error) {
	var res api.ExtendTimeoutResult
	backupID, wfID, _, err := c.resolveBackup(ctx, id)
	if err != nil {
		return res, err
	}
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: wfID, UpdateName: api.UpdateExtendTimeout, Args: []interface{}{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return res, fmt.Errorf("extending backup %s: %w", backupID, err)
	}
	if err := h.Get(ctx, &res); err != nil {
		return res, fmt.Errorf("extending backup %s: %w", backupID, err)
	}
	return res, nil
}
