package strata

import (
	"context"
	"errors"
	"fmt"
	"github.com/stratabackup/strata/api"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/labels"
	"github.com/stratabackup/strata/retention"
	"github.com/stratabackup/strata/validate"
)

// MinEvery and MaxEvery bound the interval a job backs up at.
const (
	MinEvery = time.Hour
	MaxEvery = 366 * 24 * time.Hour
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

func validateJob(s JobSpec) error {
	var problems []string
	if msg := validate.ID("cluster (--cluster)", s.ClusterID); msg != "" {
		problems = append(problems, msg)
	}
	if s.Every < MinEvery {
		problems = append(problems, fmt.Sprintf("--every %s is too frequent: scheduled backups run at most hourly (give 1h or more)", s.Every))
	}
	if s.Every > MaxEvery {
		problems = append(problems, fmt.Sprintf("--every %s is too rare: give at most %s (a year)", s.Every, MaxEvery))
	}
	if s.Offset < 0 || (s.Every > 0 && s.Offset >= s.Every) {
		problems = append(problems, fmt.Sprintf("--offset %s must be at least 0 and less than --every %s", s.Offset, s.Every))
	}
	if _, err := labels.Parse(s.Label); err != nil {
		problems = append(problems, fmt.Sprintf("--label %q: %v", s.Label, err))
	}
	if err := retention.Validate(catalog.RetentionOf(s.Retention)); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return errors.New("invalid schedule: " + strings.Join(problems, "; "))
	}
	return nil
}


// scheduleOptions builds the job's schedule. The choices are deliberate:
//   - Overlap SKIP: a run due while the job's previous backup still runs is
//     skipped (and counted as skipped), never queued behind it;
//   - CatchupWindow = Every: after the worker or Temporal was down, only a
//     run due within the last interval is taken late, so a long outage
//     yields at most one catch-up backup, never a burst;
//   - no PauseOnFailure: a Defunct run (say, ClusterLocked) is normal and
//     must not stop the next one.
func (c *Client) scheduleAction(j catalog.Job) *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		ID:        api.JobRunActionID(j.ID),
		Workflow:  api.BackupWorkflowName,
		Args:      []interface{}{api.BackupRequest{ClusterID: j.ClusterID, JobID: j.ID, Label: j.Label}},
		TaskQueue: c.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			api.SearchAttrClusterID.ValueSet(j.ClusterID), api.SearchAttrJobID.ValueSet(j.ID),
			api.SearchAttrBackupStatus.ValueSet(string(catalog.BackupPending))),
		StaticSummary: fmt.Sprintf("Scheduled backup of cluster %s (job %s)", j.ClusterID, j.ID),
	}
}

func scheduleSpec(j catalog.Job) client.ScheduleSpec {
	return client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: j.Every.D(), Offset: j.Offset.D()}}}
}

// CreateJob records a job and creates its Temporal Schedule.
func (c *Client) CreateJob(ctx context.Context, s JobSpec) (api.JobView, error) {
	tc, err := c.temporal()
	if err != nil {
		return api.JobView{}, err
	}
	if err := validateJob(s); err != nil {
		return api.JobView{}, err
	}
	if _, err := c.Catalog.GetCluster(ctx, s.ClusterID); err != nil {
		if catalog.IsNotFound(err) {
			return api.JobView{}, fmt.Errorf("invalid schedule: cluster %q not found (see `starter cluster list`)", s.ClusterID)
		}
		return api.JobView{}, err
	}
	now := time.Now().UTC()
	id := "job-" + randomID(8)
	j := catalog.Job{
		ID: id, ClusterID: s.ClusterID, ScheduleID: api.JobScheduleID(id), Every: catalog.Duration(s.Every),
		Offset: catalog.Duration(s.Offset), Label: s.Label, Retention: catalog.RetentionOf(s.Retention), Paused: s.Paused,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := c.Catalog.CreateJob(ctx, j); err != nil {
		return api.JobView{}, err
	}
	_, err = tc.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:            j.ScheduleID,
		Spec:          scheduleSpec(j),
		Action:        c.scheduleAction(j),
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: j.Every.D(),
		Paused:        s.Paused,
		Note:          pausedNote(s.Paused),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			api.SearchAttrClusterID.ValueSet(j.ClusterID), api.SearchAttrJobID.ValueSet(j.ID)),
	})
	if err != nil && !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		// Without its schedule the job would never run: undo the record.
		_ = c.Catalog.DeleteJob(ctx, j.ID, time.Now())
		return api.JobView{}, fmt.Errorf("creating schedule for job %s: %w", j.ID, err)
	}
	return c.GetJob(ctx, j.ID)
}

func pausedNote(paused bool) string {
	if paused {
		return "paused by starter"
	}
	return ""
}

// GetJob returns a job and its schedule's state.
func (c *Client) GetJob(ctx context.Context, id string) (api.JobView, error) {
	j, err := c.Catalog.GetJob(ctx, id)
	if err != nil {
		return api.JobView{}, err
	}
	v := api.JobView{Job: j.API(), Retention: retention.Describe(j.Retention), Schedule: api.ScheduleView{ID: j.ScheduleID, Running: []string{}, NextRuns: []time.Time{}, RecentRuns: []api.ScheduleRun{}}}
	if j.DeletedAt != nil || c.Temporal == nil {
		return v, nil
	}
	d, err := c.Temporal.ScheduleClient().GetHandle(ctx, j.ScheduleID).Describe(ctx)
	if err != nil {
		return v, fmt.Errorf("job %s: describing schedule %s: %w", id, j.ScheduleID, err)
	}
	v.Schedule.Paused = d.Schedule.State.Paused
	v.Schedule.Note = d.Schedule.State.Note
	v.Schedule.Runs = d.Info.NumActions
	v.Schedule.MissedCatchup = d.Info.NumActionsMissedCatchupWindow
	v.Schedule.SkippedOverlap = d.Info.NumActionsSkippedOverlap
	for _, r := range d.Info.RunningWorkflows {
		v.Schedule.Running = append(v.Schedule.Running, r.WorkflowID)
	}
	v.Schedule.NextRuns = append(v.Schedule.NextRuns, d.Info.NextActionTimes...)
	for _, a := range d.Info.RecentActions {
		r := api.ScheduleRun{ScheduledAt: a.ScheduleTime, StartedAt: a.ActualTime}
		if a.StartWorkflowResult != nil {
			r.WorkflowID = a.StartWorkflowResult.WorkflowID
			r.BackupID = api.BackupIDFor(r.WorkflowID)
		}
		v.Schedule.RecentRuns = append(v.Schedule.RecentRuns, r)
	}
	if d.Schedule.Spec != nil {
		for _, iv := range d.Schedule.Spec.Intervals {
			v.Schedule.Spec = fmt.Sprintf("every %s offset %s", iv.Every, iv.Offset)
		}
	}
	return v, nil
}

// ListJobs lists jobs (of one cluster, or all), without schedule state.
func (c *Client) ListJobs(ctx context.Context, clusterID string) ([]api.Job, error) {
	js, err := c.Catalog.ListJobs(ctx, clusterID)
	out := make([]api.Job, len(js))
	for i, j := range js {
		out[i] = j.API()
	}
	return out, err
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
	tc, err := c.temporal()
	if err != nil {
		return api.JobView{}, err
	}
	j, err := c.liveJob(ctx, id)
	if err != nil {
		return api.JobView{}, err
	}
	if u.Every != nil {
		j.Every = catalog.Duration(*u.Every)
	}
	if u.Offset != nil {
		j.Offset = catalog.Duration(*u.Offset)
	}
	if u.Label != nil {
		j.Label = *u.Label
	}
	if u.Retention != nil {
		j.Retention = catalog.RetentionOf(*u.Retention)
	}
	if err := validateJob(JobSpec{ClusterID: j.ClusterID, Every: j.Every.D(), Offset: j.Offset.D(), Label: j.Label, Retention: j.Retention.API()}); err != nil {
		return api.JobView{}, err
	}
	if err := c.Catalog.UpdateJob(ctx, j); err != nil {
		return api.JobView{}, err
	}
	err = tc.ScheduleClient().GetHandle(ctx, j.ScheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			spec := scheduleSpec(j)
			s.Spec = &spec
			s.Action = c.scheduleAction(j)
			if s.Policy != nil {
				s.Policy.CatchupWindow = j.Every.D()
			}
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return api.JobView{}, fmt.Errorf("job %s: updating schedule %s: %w", id, j.ScheduleID, err)
	}
	return c.GetJob(ctx, id)
}

func (c *Client) liveJob(ctx context.Context, id string) (catalog.Job, error) {
	j, err := c.Catalog.GetJob(ctx, id)
	if err != nil {
		return j, err
	}
	if j.DeletedAt != nil {
		return j, fmt.Errorf("job %s was deleted", id)
	}
	return j, nil
}

// PauseJob pauses (or, with pause false, resumes) a job's schedule.
func (c *Client) PauseJob(ctx context.Context, id string, pause bool) (api.JobView, error) {
	tc, err := c.temporal()
	if err != nil {
		return api.JobView{}, err
	}
	j, err := c.liveJob(ctx, id)
	if err != nil {
		return api.JobView{}, err
	}
	h := tc.ScheduleClient().GetHandle(ctx, j.ScheduleID)
	if pause {
		err = h.Pause(ctx, client.SchedulePauseOptions{Note: "paused by starter"})
	} else {
		err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: "resumed by starter"})
	}
	if err != nil {
		return api.JobView{}, fmt.Errorf("job %s: %w", id, err)
	}
	j.Paused = pause
	if err := c.Catalog.UpdateJob(ctx, j); err != nil {
		return api.JobView{}, err
	}
	return c.GetJob(ctx, id)
}

// TriggerJob runs the job now (subject to its overlap policy).
func (c *Client) TriggerJob(ctx context.Context, id string) error {
	tc, err := c.temporal()
	if err != nil {
		return err
	}
	j, err := c.liveJob(ctx, id)
	if err != nil {
		return err
	}
	if err := tc.ScheduleClient().GetHandle(ctx, j.ScheduleID).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		return fmt.Errorf("job %s: %w", id, err)
	}
	return nil
}

// DeleteJob deletes a job's schedule and marks the job deleted. Its backups
// stay (delete them with DeleteBackup); they are no longer pruned.
func (c *Client) DeleteJob(ctx context.Context, id string) error {
	tc, err := c.temporal()
	if err != nil {
		return err
	}
	j, err := c.Catalog.GetJob(ctx, id)
	if err != nil {
		return err
	}
	err = tc.ScheduleClient().GetHandle(ctx, j.ScheduleID).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("job %s: deleting schedule %s: %w", id, j.ScheduleID, err)
	}
	return c.Catalog.DeleteJob(ctx, id, time.Now().UTC())
}

// PrunePlan is what pruning the job now would do, and why.
func (c *Client) PrunePlan(ctx context.Context, id string) ([]retention.Decision, error) {
	if _, err := c.Catalog.GetJob(ctx, id); err != nil {
		return nil, err
	}
	return activities.PlanPrune(ctx, c.Catalog, id, time.Now().UTC())
}

// PruneJob prunes the job now and waits for it.
func (c *Client) PruneJob(ctx context.Context, id string) (api.PruneResult, error) {
	var res api.PruneResult
	tc, err := c.temporal()
	if err != nil {
		return res, err
	}
	if _, err := c.liveJob(ctx, id); err != nil {
		return res, err
	}
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: api.ManualPruneWorkflowID(id, time.Now()), TaskQueue: c.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(api.SearchAttrJobID.ValueSet(id)),
		StaticSummary:         "Prune job " + id,
	}, api.PruneWorkflowName, api.PruneRequest{JobID: id})
	if err != nil {
		return res, err
	}
	err = run.Get(ctx, &res)
	return res, err
}

// DeleteBackup deletes a backup (Completed or Defunct; a manual one is
// deleted only this way) and, with wait, waits for it to be Deleted. A
// deletion that failed can be retried by calling it again.
func (c *Client) DeleteBackup(ctx context.Context, id string, wait bool) (api.Backup, error) {
	tc, err := c.temporal()
	if err != nil {
		return api.Backup{}, err
	}
	b, err := c.GetBackup(ctx, id)
	if err != nil {
		return b, err
	}
	switch b.Status {
	case catalog.BackupPending, catalog.BackupInProgress:
		return b, fmt.Errorf("backup %s is %s: cancel it first (starter backup cancel %s)", b.ID, b.Status, b.ID)
	case catalog.BackupDeleted:
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
