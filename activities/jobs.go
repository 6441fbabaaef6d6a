package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/retention"
)

// Jobs are the activities that create, change and delete scheduled backup
// jobs: a catalog record and its Temporal Schedule, kept in step.
type Jobs struct {
	Common
	Catalog   JobCatalog
	Schedules client.ScheduleClient
	// TaskQueue is where the schedules start their backups.
	TaskQueue string
}

// JobCatalog is the part of the catalog job writes use.
type JobCatalog interface {
	catalog.Jobs
	catalog.Clusters
}

// scheduleAction starts the job's backups. The schedule's other choices
// are deliberate (see createSchedule).
func (j *Jobs) scheduleAction(job catalog.Job) *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		ID:        api.JobRunActionID(job.ID),
		Workflow:  api.BackupWorkflowName,
		Args:      []interface{}{api.BackupRequest{ClusterID: job.ClusterID, JobID: job.ID, Label: job.Label}},
		TaskQueue: j.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			api.SearchAttrClusterID.ValueSet(job.ClusterID), api.SearchAttrJobID.ValueSet(job.ID),
			api.SearchAttrBackupStatus.ValueSet(string(api.BackupPending))),
		StaticSummary: fmt.Sprintf("Scheduled backup of cluster %s (job %s)", job.ClusterID, job.ID),
	}
}

// scheduleAttributes name the job's cluster and the job on its schedule,
// so that `temporal schedule list --query 'StrataClusterId="db1"'` finds
// a cluster's schedules.
func scheduleAttributes(job catalog.Job) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(api.SearchAttrClusterID.ValueSet(job.ClusterID), api.SearchAttrJobID.ValueSet(job.ID))
}

// scheduleMemo names the job's cluster and job on its schedule, for
// callers that describe it (the note says the same to a person).
func scheduleMemo(job catalog.Job) map[string]interface{} {
	return map[string]interface{}{
		"cluster": job.ClusterID,
		"job":     job.ID,
		"summary": scheduleNote(job, ""),
	}
}

func scheduleSpec(job catalog.Job) client.ScheduleSpec {
	return client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: job.Every.D(), Offset: job.Offset.D()}}}
}

// scheduleNote is a job schedule's note: whose schedule it is (the Web UI
// shows the note on the schedule's page, where its ID alone would not say),
// then why it was last paused or resumed.
func scheduleNote(job catalog.Job, why string) string {
	note := fmt.Sprintf("Backups of cluster %s every %s (job %s)", job.ClusterID, api.FormatDuration(job.Every.D()), job.ID)
	if why != "" {
		note += "; " + why
	}
	return note
}

func pausedNote(paused bool) string {
	if paused {
		return "paused by starter"
	}
	return ""
}

// CreateJob records a job and creates its Temporal Schedule. A retry finds
// its own record and schedule and finishes the one that is missing.
func (j *Jobs) CreateJob(ctx context.Context, req api.CreateJobRequest) (api.JobView, error) {
	subject := "job " + req.ID
	if _, err := j.Catalog.GetCluster(ctx, req.ClusterID); err != nil {
		if catalog.IsNotFound(err) {
			return api.JobView{}, InvalidRequest("invalid schedule: cluster %q not found (see `starter cluster list`)", req.ClusterID)
		}
		return api.JobView{}, classify(err, subject)
	}
	job := catalog.Job{
		ID: req.ID, ClusterID: req.ClusterID, ScheduleID: api.JobScheduleID(req.ID), Every: catalog.Duration(req.Every),
		Offset: catalog.Duration(req.Offset), Label: req.Label, Retention: req.Retention, Paused: req.Paused,
	}
	return j.createJob(ctx, job, j.clusterOff(ctx, job.ClusterID))
}

// createJob records a job and creates its schedule; powerPaused creates
// the schedule paused for a powered-off cluster (the job itself is not
// paused, and resumes with the cluster).
func (j *Jobs) createJob(ctx context.Context, job catalog.Job, powerPaused bool) (api.JobView, error) {
	subject := "job " + job.ID
	now := j.now()
	job.CreatedAt, job.UpdatedAt = now, now
	if err := j.Catalog.CreateJob(ctx, job); err != nil {
		if !errors.Is(err, catalog.ErrExists) {
			return api.JobView{}, classify(err, subject)
		}
		got, gerr := j.Catalog.GetJob(ctx, job.ID)
		if gerr != nil || got.ClusterID != job.ClusterID || got.Every != job.Every || got.Offset != job.Offset || got.Label != job.Label || got.DeletedAt != nil {
			return api.JobView{}, InvalidRequest("invalid schedule: job %s already exists", job.ID)
		}
		job = got
	}
	// The choices are deliberate:
	//   - Overlap SKIP: a run due while the job's previous backup still
	//     runs is skipped (and counted as skipped), never queued behind it;
	//   - CatchupWindow = Every: after the worker or Temporal was down, only
	//     a run due within the last interval is taken late, so a long outage
	//     yields at most one catch-up backup, never a burst;
	//   - no PauseOnFailure: a Defunct run (say, ClusterLocked) is normal and
	//     must not stop the next one.
	why := pausedNote(job.Paused)
	if powerPaused && !job.Paused {
		why = powerOffNote
	}
	note := scheduleNote(job, why)
	_, err := j.Schedules.Create(ctx, client.ScheduleOptions{
		ID:                    job.ScheduleID,
		Spec:                  scheduleSpec(job),
		Action:                j.scheduleAction(job),
		Overlap:               enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow:         job.Every.D(),
		Paused:                job.Paused || powerPaused,
		Note:                  note,
		TypedSearchAttributes: scheduleAttributes(job),
		Memo:                  scheduleMemo(job),
	})
	if err != nil && !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		// Without its schedule the job would never run: undo the record.
		_ = j.Catalog.DeleteJob(ctx, job.ID, j.now())
		return api.JobView{}, fmt.Errorf("creating schedule for job %s: %w", job.ID, err)
	}
	return JobView(ctx, j.Catalog, j.Schedules, job.ID)
}

// liveJob reads a job that has not been deleted.
func (j *Jobs) liveJob(ctx context.Context, id string) (catalog.Job, error) {
	job, err := j.Catalog.GetJob(ctx, id)
	if err != nil {
		return job, jobNotFound(err, id)
	}
	if job.DeletedAt != nil {
		return job, permanent(api.ReasonJobNotFound, "job %s was deleted", id)
	}
	return job, nil
}

func jobNotFound(err error, id string) error {
	if catalog.IsNotFound(err) {
		return permanent(api.ReasonJobNotFound, "job %s not found (see `starter schedule list`)", id)
	}
	return classify(err, "job "+id)
}

// UpdateJob changes a job and rewrites its schedule's spec and action to
// match: shifting the offset moves the backup time.
func (j *Jobs) UpdateJob(ctx context.Context, req api.UpdateJobRequest) (api.JobView, error) {
	job, err := j.liveJob(ctx, req.ID)
	if err != nil {
		return api.JobView{}, err
	}
	if err := ownedByProfile(job, "changed"); err != nil {
		return api.JobView{}, err
	}
	ApplyJobUpdate(&job, req)
	if err := CheckJob(job); err != nil {
		return api.JobView{}, err
	}
	if err := j.rewriteJob(ctx, job); err != nil {
		return api.JobView{}, err
	}
	return JobView(ctx, j.Catalog, j.Schedules, req.ID)
}

// ownedByProfile refuses a change to a job its cluster's profile owns.
func ownedByProfile(job catalog.Job, what string) error {
	if job.Profile == "" {
		return nil
	}
	return InvalidRequest("job %s belongs to profile %s and is not %s by hand: change the profile (`starter profile update %s`) or move cluster %s to another (`starter cluster set-profile %s PROFILE`)",
		job.ID, job.Profile, what, job.Profile, job.ClusterID, job.ClusterID)
}

// rewriteJob stores a changed job and rewrites its schedule to match.
func (j *Jobs) rewriteJob(ctx context.Context, job catalog.Job) error {
	if err := j.Catalog.UpdateJob(ctx, job); err != nil {
		return classify(err, "job "+job.ID)
	}
	err := j.Schedules.GetHandle(ctx, job.ScheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			spec := scheduleSpec(job)
			s.Spec = &spec
			s.Action = j.scheduleAction(job)
			if s.Policy != nil {
				s.Policy.CatchupWindow = job.Every.D()
			}
			// Also gives the attributes to schedules made before they had them.
			attrs := scheduleAttributes(job)
			return &client.ScheduleUpdate{Schedule: &s, TypedSearchAttributes: &attrs}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("job %s: updating schedule %s: %w", job.ID, job.ScheduleID, err)
	}
	return nil
}

// ApplyJobUpdate sets the fields req sets.
func ApplyJobUpdate(job *catalog.Job, req api.UpdateJobRequest) {
	if req.Every != nil {
		job.Every = catalog.Duration(*req.Every)
	}
	if req.Offset != nil {
		job.Offset = catalog.Duration(*req.Offset)
	}
	if req.Label != nil {
		job.Label = *req.Label
	}
	if req.Retention != nil {
		job.Retention = *req.Retention
	}
}

// CheckJob applies a job's rules to the job as it would be stored.
func CheckJob(job catalog.Job) error {
	r := job.Retention
	err := validate.Job{
		ID: job.ID, ClusterID: job.ClusterID, Every: job.Every.D(), Offset: job.Offset.D(), Label: job.Label,
		KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily, KeepWeekly: r.KeepWeekly,
	}.Check()
	if err != nil {
		return InvalidRequest("%v", err)
	}
	return nil
}

// PauseJob pauses (or resumes) a job's schedule.
func (j *Jobs) PauseJob(ctx context.Context, req api.PauseJobRequest) (api.JobView, error) {
	job, err := j.liveJob(ctx, req.ID)
	if err != nil {
		return api.JobView{}, err
	}
	h := j.Schedules.GetHandle(ctx, job.ScheduleID)
	switch {
	case req.Paused:
		err = h.Pause(ctx, client.SchedulePauseOptions{Note: scheduleNote(job, "paused by starter")})
	case j.clusterOff(ctx, job.ClusterID):
		// Resumed with its cluster's power-on: until then its schedule
		// stays paused for the power-off.
	default:
		err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: scheduleNote(job, "resumed by starter")})
	}
	if err != nil {
		return api.JobView{}, fmt.Errorf("job %s: %w", req.ID, err)
	}
	job.Paused = req.Paused
	if err := j.Catalog.UpdateJob(ctx, job); err != nil {
		return api.JobView{}, classify(err, "job "+req.ID)
	}
	return JobView(ctx, j.Catalog, j.Schedules, req.ID)
}

// clusterOff reports whether a job's cluster is powered off (or powering
// off or on).
func (j *Jobs) clusterOff(ctx context.Context, clusterID string) bool {
	cl, err := j.Catalog.GetCluster(ctx, clusterID)
	return err == nil && cl.Power != "" && cl.Power != api.PowerRunning
}

// TriggerJob runs the job now (subject to its overlap policy).
func (j *Jobs) TriggerJob(ctx context.Context, req api.JobRequest) (api.JobView, error) {
	job, err := j.liveJob(ctx, req.ID)
	if err != nil {
		return api.JobView{}, err
	}
	if err := j.Schedules.GetHandle(ctx, job.ScheduleID).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		return api.JobView{}, fmt.Errorf("job %s: %w", req.ID, err)
	}
	return JobView(ctx, j.Catalog, j.Schedules, req.ID)
}

// DeleteJob deletes a job's schedule and marks the job deleted. Its
// backups stay; they are no longer pruned. Deleting a deleted job is a
// no-op. It returns the deleted job. A job a profile owns is refused.
func (j *Jobs) DeleteJob(ctx context.Context, req api.JobRequest) (api.JobView, error) {
	job, err := j.Catalog.GetJob(ctx, req.ID)
	if err != nil {
		return api.JobView{}, jobNotFound(err, req.ID)
	}
	if job.DeletedAt == nil {
		if err := ownedByProfile(job, "deleted"); err != nil {
			return api.JobView{}, err
		}
	}
	return j.deleteJob(ctx, job)
}

// deleteJob deletes a job and its schedule.
func (j *Jobs) deleteJob(ctx context.Context, job catalog.Job) (api.JobView, error) {
	req := api.JobRequest{ID: job.ID}
	err := j.Schedules.GetHandle(ctx, job.ScheduleID).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return api.JobView{}, fmt.Errorf("job %s: deleting schedule %s: %w", req.ID, job.ScheduleID, err)
	}
	if err := j.Catalog.DeleteJob(ctx, req.ID, j.now()); err != nil {
		return api.JobView{}, classify(err, "job "+req.ID)
	}
	return JobView(ctx, j.Catalog, nil, req.ID)
}

// JobView is a job with its schedule's state (a deleted job's schedule is
// gone: its view has none).
func JobView(ctx context.Context, cat catalog.Jobs, schedules client.ScheduleClient, id string) (api.JobView, error) {
	job, err := cat.GetJob(ctx, id)
	if err != nil {
		return api.JobView{}, jobNotFound(err, id)
	}
	v := api.JobView{Job: job, Retention: retention.Describe(job.Retention), Schedule: api.ScheduleView{
		ID: job.ScheduleID, Running: []string{}, NextRuns: []time.Time{}, RecentRuns: []api.ScheduleRun{},
	}}
	if job.DeletedAt != nil || schedules == nil {
		return v, nil
	}
	d, err := schedules.GetHandle(ctx, job.ScheduleID).Describe(ctx)
	if err != nil {
		return v, fmt.Errorf("job %s: describing schedule %s: %w", id, job.ScheduleID, err)
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

// ScheduleCountsOf reads schedules' skipped and missed run counts through
// Temporal (the monitor's ScheduleCounts).
func ScheduleCountsOf(schedules client.ScheduleClient) ScheduleCounts {
	return func(ctx context.Context, id string) (int, int, error) {
		d, err := schedules.GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			return 0, 0, err
		}
		return d.Info.NumActionsSkippedOverlap, d.Info.NumActionsMissedCatchupWindow, nil
	}
}

// EnsureWorkerSchedule creates (or updates) one of the worker's own
// schedules (overlap SKIP, catch-up of one interval); zero every means
// none.
func EnsureWorkerSchedule(ctx context.Context, schedules client.ScheduleClient, taskQueue, id string, every time.Duration, workflow string, arg any, summary string) error {
	if every <= 0 {
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{
		ID: api.WorkerScheduleActionID(id), Workflow: workflow, TaskQueue: taskQueue, Args: []interface{}{arg}, StaticSummary: summary,
	}
	_, err := schedules.Create(ctx, client.ScheduleOptions{
		ID: id, Spec: spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: every,
		Memo: map[string]interface{}{"summary": summary + " every " + api.FormatDuration(every) + " (Strata worker schedule)"},
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = schedules.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				s.Spec, s.Action = &spec, action
				return &client.ScheduleUpdate{Schedule: &s}, nil
			},
		})
	}
	if err != nil {
		return fmt.Errorf("schedule %s: %w", id, err)
	}
	return nil
}
