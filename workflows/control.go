package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
)

// Reads is what the control workflow's queries answer from: the worker's
// catalog (activities.Reads). Lists answer with a page already encoded,
// the JSON of an api.Page of the list's type. A query runs on the worker outside the
// workflow's own code, records nothing in its history, and only reads,
// so reading there keeps the workflow deterministic.
type Reads interface {
	GetCluster(ctx context.Context, req api.GetRequest) (api.Cluster, error)
	ListClusters(ctx context.Context, req api.ListRequest) (converter.RawValue, error)
	GetBackup(ctx context.Context, req api.GetRequest) (api.Backup, error)
	ListBackups(ctx context.Context, req api.ListBackupsRequest) (converter.RawValue, error)
	GetJob(ctx context.Context, req api.GetRequest) (api.JobView, error)
	ListJobs(ctx context.Context, req api.ListJobsRequest) (converter.RawValue, error)
	PlanPrune(ctx context.Context, req api.GetRequest) ([]api.PruneDecision, error)
	GetRestore(ctx context.Context, req api.GetRequest) (api.RestoreResult, error)
	ListRestores(ctx context.Context, req api.ListRestoresRequest) (converter.RawValue, error)
	ListChannels(ctx context.Context, req api.ListChannelsRequest) (converter.RawValue, error)
	ListProjects(ctx context.Context, req api.ListRequest) (converter.RawValue, error)
	ListNetworks(ctx context.Context, req api.ListNetworksRequest) (converter.RawValue, error)
	ConnectCluster(ctx context.Context, req api.GetRequest) (api.ConnectInfo, error)
	ListRestorePoints(ctx context.Context, req api.GetRequest) ([]api.RestorePoint, error)
	WorkerInfo(ctx context.Context) (api.WorkerInfo, error)
	GetProfile(ctx context.Context, req api.GetRequest) (api.ProfileView, error)
	ListProfiles(ctx context.Context, req api.ListRequest) (converter.RawValue, error)
}

// readTimeout bounds one query's catalog read: a query holds its
// workflow's place on the worker while it runs.
const readTimeout = 10 * time.Second

// Control is the control workflow: callers' reads (queries) and writes
// (updates) of the catalog, so that a caller needs only a Temporal
// connection. It runs forever, continuing as new every MaxUpdates updates.
type Control struct {
	Reads Reads
	// MaxUpdates is how many updates one run takes (default
	// api.MaxControlUpdates).
	MaxUpdates int
}

// request is what every control request type has: its decoding problem.
type request interface{ InputError() error }

// Workflow is the control workflow's code.
func (c *Control) Workflow(ctx workflow.Context) error {
	updates := 0
	r := c.Reads
	query(ctx, r, api.QueryGetCluster, "A cluster with its nodes, volumes and lock", func(q api.GetRequest) error { return validate.One("cluster", q.ID) }, Reads.GetCluster)
	query(ctx, r, api.QueryConnectCluster, "How to connect to a postgres cluster's primary (a libpq URI with its password)", func(q api.GetRequest) error { return validate.One("cluster", q.ID) }, Reads.ConnectCluster)
	query(ctx, r, api.QueryListRestorePoints, "A postgres cluster's restore points, oldest first", func(q api.GetRequest) error { return validate.One("cluster", q.ID) }, Reads.ListRestorePoints)
	query(ctx, r, api.QueryListClusters, "Every cluster, a page at a time", listCheck, Reads.ListClusters)
	query(ctx, r, api.QueryGetBackup, "A backup by its ID or its workflow ID", func(q api.GetRequest) error { return validate.One("backup", q.ID) }, Reads.GetBackup)
	query(ctx, r, api.QueryListBackups, "Backups newest first, by cluster, job or status, a page at a time", func(q api.ListBackupsRequest) error {
		var p validate.Problems
		p.Add(validate.OptionalID("clusterId", q.ClusterID))
		p.Add(validate.OptionalID("jobId", q.JobID))
		p.Add(validate.Count("statuses", len(q.Statuses), 0, 16))
		if q.View != "" && q.View != api.BackupViewFull && q.View != api.BackupViewBasic {
			p.Addf("view %s: give %q or %q", validate.Quote(q.View), api.BackupViewFull, api.BackupViewBasic)
		}
		if err := p.Err("list request"); err != nil {
			return err
		}
		return validate.Page(q.PageSize, q.PageToken)
	}, Reads.ListBackups)
	query(ctx, r, api.QueryGetJob, "A job with its schedule's state", func(q api.GetRequest) error { return validate.One("job", q.ID) }, Reads.GetJob)
	query(ctx, r, api.QueryListJobs, "Jobs of one cluster or all, a page at a time", func(q api.ListJobsRequest) error {
		return firstErr(validate.OptionalOne("cluster", q.ClusterID), validate.Page(q.PageSize, q.PageToken))
	}, Reads.ListJobs)
	query(ctx, r, api.QueryPlanPrune, "What pruning a job now would delete and keep, and why", func(q api.GetRequest) error { return validate.One("job", q.ID) }, Reads.PlanPrune)
	query(ctx, r, api.QueryGetRestore, "A restore and its new cluster", func(q api.GetRequest) error { return validate.One("restore", q.ID) }, Reads.GetRestore)
	query(ctx, r, api.QueryListRestores, "Restores of one backup or all, a page at a time", func(q api.ListRestoresRequest) error {
		return firstErr(validate.OptionalOne("backup", q.BackupID), validate.Page(q.PageSize, q.PageToken))
	}, Reads.ListRestores)
	query(ctx, r, api.QueryListChannels, "Notification channels of one project or all (no secrets), a page at a time", func(q api.ListChannelsRequest) error {
		return firstErr(validate.OptionalOne("project", q.ProjectID), validate.Page(q.PageSize, q.PageToken))
	}, Reads.ListChannels)
	query(ctx, r, api.QueryListProjects, "Every project, a page at a time", listCheck, Reads.ListProjects)
	query(ctx, r, api.QueryListNetworks, "Networks of one project or all, a page at a time", func(q api.ListNetworksRequest) error {
		return firstErr(validate.OptionalOne("project", q.ProjectID), validate.Page(q.PageSize, q.PageToken))
	}, Reads.ListNetworks)
	query(ctx, r, api.QueryGetProfile, "A backup profile with its clusters and whether each one's jobs match it", func(q api.GetRequest) error { return validate.One("profile", q.ID) }, Reads.GetProfile)
	query(ctx, r, api.QueryListProfiles, "The built-in backup profiles, then the stored ones, a page at a time", listCheck, Reads.ListProfiles)
	_ = workflow.SetQueryHandlerWithOptions(ctx, api.QueryWorkerInfo, func() (api.WorkerInfo, error) {
		if r == nil {
			return api.WorkerInfo{}, noReads()
		}
		rctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		return r.WorkerInfo(rctx)
	}, workflow.QueryHandlerOptions{Description: "The key to seal channel secrets to, and the worker's bounds on requests"})

	w := &writes{updates: &updates}
	update(ctx, w, api.UpdateCreateProject, "Create a project", func(q api.CreateProjectRequest) error { return validate.Project(q.ID) }, clusters.CreateProject)
	update(ctx, w, api.UpdateCreateNetwork, "Create a network in a project", func(q api.CreateNetworkRequest) error {
		return validate.Network(q.ID, q.ProjectID, q.Provider, q.Region)
	}, clusters.CreateNetwork)
	update(ctx, w, api.UpdateSetNodeHealth, "Mark a node healthy or unhealthy", func(q api.SetNodeHealthRequest) error {
		return validate.NodeHealth(q.ClusterID, q.NodeID)
	}, clusters.SetNodeHealth)
	update(ctx, w, api.UpdateCreateRestorePoint, "Make a named restore point on a postgres cluster's primary (restore to it with toName)", func(q api.CreateRestorePointRequest) error {
		var p validate.Problems
		p.Add(validate.ID("clusterId", q.ClusterID))
		p.Add(validate.RestorePointName("name", q.Name))
		return p.Err("restore point")
	}, clusters.CreateRestorePoint)
	update(ctx, w, api.UpdateSetFaults, "Replace a cluster's fault settings (local provider)", func(q api.SetFaultsRequest) error {
		return validate.Faults{ClusterID: q.ClusterID, SnapshotDelay: q.Faults.SnapshotDelay.D(), RestoreDelay: q.Faults.RestoreDelay.D()}.Check()
	}, clusters.SetFaults)
	update(ctx, w, api.UpdateLockCluster, "Lock a cluster for an outside operation", func(q api.LockClusterRequest) error {
		// The worker's own --max-lock-ttl is applied by the activity.
		return validate.Lock{ClusterID: q.ClusterID, Holder: q.Holder, TTL: q.TTL.D()}.Check(validate.Limits{MaxLockTTL: 100 * 365 * 24 * time.Hour})
	}, clusters.LockCluster)
	update(ctx, w, api.UpdateUnlockCluster, "Release a lock taken with lockCluster", func(q api.UnlockClusterRequest) error {
		return validate.One("cluster", q.ClusterID)
	}, clusters.UnlockCluster)
	update(ctx, w, api.UpdateAddChannel, "Add a notification channel (URL and secret sealed to the worker's key)", func(q api.AddChannelRequest) error {
		var p validate.Problems
		p.Add(validate.OptionalNewID("channel", q.ID))
		p.Add(validate.ID("project", q.ProjectID))
		return p.Err("channel")
	}, channels.AddChannel, newID("ch-", func(q *api.AddChannelRequest) *string { return &q.ID }))
	update(ctx, w, api.UpdateRemoveChannel, "Delete a notification channel", func(q api.RemoveChannelRequest) error { return validate.One("channel", q.ID) }, channels.RemoveChannel)
	update(ctx, w, api.UpdateCreateJob, "Create a scheduled backup job and its schedule", func(q api.CreateJobRequest) error {
		r := q.Retention
		return validate.Job{ID: q.ID, NewID: true, ClusterID: q.ClusterID, Every: q.Every.D(), Offset: q.Offset.D(), Label: q.Label,
			KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily, KeepWeekly: r.KeepWeekly}.Check()
	}, jobs.CreateJob, newID("job-", func(q *api.CreateJobRequest) *string { return &q.ID }))
	update(ctx, w, api.UpdateUpdateJob, "Change a job and its schedule", func(q api.UpdateJobRequest) error { return validate.One("job", q.ID) }, jobs.UpdateJob)
	update(ctx, w, api.UpdatePauseJob, "Pause or resume a job's schedule", func(q api.PauseJobRequest) error { return validate.One("job", q.ID) }, jobs.PauseJob)
	update(ctx, w, api.UpdateTriggerJob, "Run a job now", func(q api.JobRequest) error { return validate.One("job", q.ID) }, jobs.TriggerJob)
	update(ctx, w, api.UpdateDeleteJob, "Delete a job's schedule (its backups stay)", func(q api.JobRequest) error { return validate.One("job", q.ID) }, jobs.DeleteJob)
	update(ctx, w, api.UpdateCreateProfile, "Create a backup profile", api.ProfileRequest.Check, profiles.CreateProfile)
	update(ctx, w, api.UpdateUpdateProfile, "Replace a backup profile and move every cluster on it to the new one", api.ProfileRequest.Check, profiles.UpdateProfile)
	update(ctx, w, api.UpdateDeleteProfile, "Delete a backup profile no cluster is on", func(q api.GetRequest) error { return validate.One("profile", q.ID) }, profiles.DeleteProfile)

	// The limit is the worker's setting, recorded once per run so that a
	// replay (on a worker set otherwise) continues as new where the run did.
	var limit int
	if err := workflow.SideEffect(ctx, func(workflow.Context) any {
		if c.MaxUpdates > 0 {
			return c.MaxUpdates
		}
		return api.MaxControlUpdates
	}).Get(&limit); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool {
		return updates >= limit || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	}); err != nil {
		return err
	}
	// Updates already accepted finish in this run; the server hands later
	// ones to the next.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, api.ControlWorkflowName)
}

func listCheck(q api.ListRequest) error { return validate.Page(q.PageSize, q.PageToken) }

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func noReads() error {
	return temporal.NewNonRetryableApplicationError("this worker does not answer reads", api.ReasonInternal, nil)
}

// query registers a read: the request is checked, then read from the
// catalog on the worker.
func query[Req request, Res any](ctx workflow.Context, r Reads, name, desc string, check func(Req) error, read func(Reads, context.Context, Req) (Res, error)) {
	_ = workflow.SetQueryHandlerWithOptions(ctx, name, func(req Req) (Res, error) {
		var zero Res
		if err := checked(name, req, check); err != nil {
			return zero, err
		}
		if r == nil {
			return zero, noReads()
		}
		rctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		return read(r, rctx, req)
	}, workflow.QueryHandlerOptions{Description: desc})
}

// checked is a request's decoding problem or rule violation as an
// InvalidRequest, nil if it has none.
func checked[Req request](name string, req Req, check func(Req) error) error {
	if err := inputError(name+" request", req.InputError()); err != nil {
		return err
	}
	if err := check(req); err != nil {
		return activities.InvalidRequest("%v", err)
	}
	return nil
}

// writes counts the updates a run has taken.
type writes struct{ updates *int }

// update registers a write: its validator rejects bad input before
// anything is recorded (a rejection adds nothing to the history), then a
// local activity applies it to the catalog.
func update[Req request, Res any](ctx workflow.Context, w *writes, name, desc string, check func(Req) error, act func(context.Context, Req) (Res, error), fill ...func(*Req, string)) {
	_ = workflow.SetUpdateHandlerWithOptions(ctx, name, func(ctx workflow.Context, req Req) (Res, error) {
		*w.updates++
		for _, f := range fill {
			f(&req, workflow.GetCurrentUpdateInfo(ctx).ID)
		}
		var res Res
		err := workflow.ExecuteLocalActivity(controlOptions(ctx, name), act, req).Get(ctx, &res)
		return res, failure(ctx, err)
	}, workflow.UpdateHandlerOptions{
		Description: desc,
		Validator:   func(req Req) error { return checked(name, req, check) },
	})
}

// newID fills an empty ID from the update's ID: a caller's retry of one
// update makes one record.
func newID[Req any](prefix string, field func(*Req) *string) func(*Req, string) {
	return func(req *Req, updateID string) {
		if id := field(req); *id == "" {
			sum := sha256.Sum256([]byte(updateID))
			*id = prefix + hex.EncodeToString(sum[:])[:8]
		}
	}
}
