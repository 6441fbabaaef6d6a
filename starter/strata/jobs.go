package strata

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
)

// MinEvery and MaxEvery bound the interval a job backs up at.
const (
	MinEvery = validate.MinEvery
	MaxEvery = validate.MaxEvery
)

// JobSpec describes a scheduled backup job.
type JobSpec struct {
	ClusterID string
	Every     time.Duration
	// Offset shifts the backup time within each interval (intervals are
	// aligned to the Unix epoch): every 24h with offset 3h backs up daily at
	// 03:00 UTC.
	Offset    time.Duration
	Label     string
	Retention api.Retention
	Paused    bool
}

func validateJob(id string, newID bool, s JobSpec) error {
	r := s.Retention
	return validate.Job{ID: id, NewID: newID, ClusterID: s.ClusterID, Every: s.Every, Offset: s.Offset, Label: s.Label,
		KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily, KeepWeekly: r.KeepWeekly}.Check()
}

// CreateJob records a job and creates its Temporal Schedule (on the
// worker, update createJob).
func (c *Client) CreateJob(ctx context.Context, s JobSpec) (api.JobView, error) {
	id := "job-" + randomID(8)
	if err := validateJob(id, true, s); err != nil {
		return api.JobView{}, err
	}
	var v api.JobView
	return v, c.write(ctx, api.UpdateCreateJob, api.CreateJobRequest{
		ID: id, ClusterID: s.ClusterID, Every: api.Duration(s.Every), Offset: api.Duration(s.Offset),
		Label: s.Label, Retention: s.Retention, Paused: s.Paused,
	}, &v)
}

// GetJob returns a job and its schedule's state.
func (c *Client) GetJob(ctx context.Context, id string) (api.JobView, error) {
	var v api.JobView
	return v, c.read(ctx, api.QueryGetJob, api.GetRequest{ID: id}, &v)
}

// ListJobs lists jobs (of one cluster, or all), without schedule state.
func (c *Client) ListJobs(ctx context.Context, clusterID string) ([]api.Job, error) {
	return pages[api.Job](ctx, c, api.QueryListJobs, 0, func(size int, token string) any {
		return api.ListJobsRequest{ClusterID: clusterID, PageSize: size, PageToken: token}
	})
}

// JobUpdate changes the fields that are set.
type JobUpdate struct {
	Every     *time.Duration
	Offset    *time.Duration
	Label     *string
	Retention *api.Retention
}

// UpdateJob changes a job and rewrites its schedule's spec and action to
// match: shifting the offset moves the backup time.
func (c *Client) UpdateJob(ctx context.Context, id string, u JobUpdate) (api.JobView, error) {
	req := api.UpdateJobRequest{ID: id, Label: u.Label, Retention: u.Retention}
	if u.Every != nil {
		d := api.Duration(*u.Every)
		req.Every = &d
	}
	if u.Offset != nil {
		d := api.Duration(*u.Offset)
		req.Offset = &d
	}
	var v api.JobView
	return v, c.write(ctx, api.UpdateUpdateJob, req, &v)
}

// PauseJob pauses (or, with pause false, resumes) a job's schedule.
func (c *Client) PauseJob(ctx context.Context, id string, pause bool) (api.JobView, error) {
	var v api.JobView
	return v, c.write(ctx, api.UpdatePauseJob, api.PauseJobRequest{ID: id, Paused: pause}, &v)
}

// TriggerJob runs the job now (subject to its overlap policy).
func (c *Client) TriggerJob(ctx context.Context, id string) error {
	var v api.JobView
	return c.write(ctx, api.UpdateTriggerJob, api.JobRequest{ID: id}, &v)
}

// DeleteJob deletes a job's schedule and marks the job deleted. Its backups
// stay (delete them with DeleteBackup); they are no longer pruned.
func (c *Client) DeleteJob(ctx context.Context, id string) error {
	var v api.JobView
	return c.write(ctx, api.UpdateDeleteJob, api.JobRequest{ID: id}, &v)
}

// PrunePlan is what pruning the job now would do, and why.
func (c *Client) PrunePlan(ctx context.Context, id string) ([]api.PruneDecision, error) {
	var out []api.PruneDecision
	return out, c.read(ctx, api.QueryPlanPrune, api.GetRequest{ID: id}, &out)
}

// PruneJob prunes the job now and waits for it.
func (c *Client) PruneJob(ctx context.Context, id string) (api.PruneResult, error) {
	var res api.PruneResult
	j, err := c.GetJob(ctx, id)
	if err != nil {
		return res, err
	}
	if j.DeletedAt != nil {
		return res, fmt.Errorf("job %s was deleted", id)
	}
	return res, c.runWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    api.ManualPruneWorkflowID(id, time.Now()),
		TypedSearchAttributes: temporal.NewSearchAttributes(api.SearchAttrJobID.ValueSet(id)),
		StaticSummary:         "Prune job " + id,
	}, api.PruneWorkflowName, api.PruneRequest{JobID: id}, &res)
}

// DeleteBackup deletes a backup (Completed or Defunct; a manual one is
// deleted only this way) and, with wait, waits for it to be Deleted. A
// deletion that failed can be retried by calling it again.
func (c *Client) DeleteBackup(ctx context.Context, id string, wait bool) (api.Backup, error) {
	tc := c.Temporal
	b, err := c.GetBackup(ctx, id)
	if err != nil {
		return b, err
	}
	switch b.Status {
	case api.BackupPending, api.BackupInProgress:
		return b, fmt.Errorf("backup %s is %s: cancel it first (starter backup cancel %s)", b.ID, b.Status, b.ID)
	case api.BackupDeleted:
		return b, nil
	}
	if len(b.Holds) > 0 {
		return b, fmt.Errorf("backup %s is in use by %s and cannot be deleted until they finish", b.ID, strings.Join(b.Holds, ", "))
	}
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: api.DeleteWorkflowID(b.ID), TaskQueue: c.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(api.SearchAttrClusterID.ValueSet(b.ClusterID)),
		StaticSummary:            "Delete backup " + b.ID,
	}, api.DeleteBackupWorkflowName, api.DeleteBackupRequest{BackupID: b.ID})
	if err != nil {
		return b, fmt.Errorf("deleting backup %s: %w", b.ID, err)
	}
	if !wait {
		return c.GetBackup(ctx, b.ID)
	}
	werr := run.Get(ctx, nil)
	nb, err := c.GetBackup(ctx, b.ID)
	if err != nil {
		return nb, err
	}
	if werr != nil {
		var appErr *temporal.ApplicationError
		if errors.As(werr, &appErr) {
			return nb, fmt.Errorf("deleting backup %s failed: %s", b.ID, appErr.Message())
		}
		return nb, fmt.Errorf("deleting backup %s failed: %w", b.ID, werr)
	}
	return nb, nil
}
