package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/retention"
)

// Profiles are the activities that keep backup profiles and make a
// cluster's jobs match its profile.
type Profiles struct {
	Common
	Catalog ProfileCatalog
	// Jobs create, change and delete the jobs a profile owns.
	Jobs *Jobs
	// Lifecycles signal clusters' lifecycle workflows (a profile update
	// moves every cluster on it through its own).
	Lifecycles LifecycleSignaler
}

// ProfileCatalog is the part of the catalog profiles use.
type ProfileCatalog interface {
	catalog.Profiles
	catalog.Clusters
	catalog.Jobs
}

// LifecycleSignaler signals a cluster's lifecycle workflow, starting it if
// it does not run.
type LifecycleSignaler interface {
	SignalLifecycle(ctx context.Context, clusterID, signal string, arg any) error
}

// ResolveProfile reads a profile, built-in or stored.
func ResolveProfile(ctx context.Context, cat catalog.Profiles, name string) (api.Profile, error) {
	if p, ok := api.BuiltinProfile(name); ok {
		return p, nil
	}
	p, err := cat.GetProfile(ctx, name)
	if catalog.IsNotFound(err) {
		return p, permanent(api.ReasonNotFound, "profile %s not found (see `starter profile list`)", name)
	}
	return p, classify(err, "profile "+name)
}

// CreateProfile records a new profile.
func (a *Profiles) CreateProfile(ctx context.Context, req api.ProfileRequest) (api.Profile, error) {
	if err := req.Check(); err != nil {
		return api.Profile{}, InvalidRequest("%v", err)
	}
	if _, ok := api.BuiltinProfile(req.Name); ok {
		return api.Profile{}, InvalidRequest("invalid profile: %s is a built-in profile (pick another name)", req.Name)
	}
	p := req.Profile()
	p.CreatedAt, p.UpdatedAt = a.now(), a.now()
	if err := a.Catalog.CreateProfile(ctx, p); err != nil {
		if errors.Is(err, catalog.ErrExists) {
			got, gerr := a.Catalog.GetProfile(ctx, p.Name)
			if gerr == nil && sameProfile(got, p) {
				return got, nil // a retried create
			}
			return api.Profile{}, InvalidRequest("invalid profile: %s already exists (change it with `starter profile update`)", p.Name)
		}
		return api.Profile{}, classify(err, "profile "+p.Name)
	}
	return ResolveProfile(ctx, a.Catalog, p.Name)
}

func sameProfile(a, b api.Profile) bool {
	if a.Description != b.Description || a.PITR != b.PITR || a.NoBackups != b.NoBackups || len(a.Schedules) != len(b.Schedules) {
		return false
	}
	for i := range a.Schedules {
		if a.Schedules[i] != b.Schedules[i] {
			return false
		}
	}
	return true
}

// UpdateProfile replaces a profile and moves every cluster on it to the
// new one, each through its lifecycle workflow (so each takes its
// cluster's lock). It returns the profile with its clusters as they are
// now: those not yet moved show as not in sync.
func (a *Profiles) UpdateProfile(ctx context.Context, req api.ProfileRequest) (api.ProfileView, error) {
	if err := req.Check(); err != nil {
		return api.ProfileView{}, InvalidRequest("%v", err)
	}
	if _, ok := api.BuiltinProfile(req.Name); ok {
		return api.ProfileView{}, InvalidRequest("invalid profile: %s is built in and cannot be changed (create a profile of your own)", req.Name)
	}
	p := req.Profile()
	if err := a.Catalog.UpdateProfile(ctx, p); err != nil {
		if catalog.IsNotFound(err) {
			return api.ProfileView{}, permanent(api.ReasonNotFound, "profile %s not found (see `starter profile list`)", p.Name)
		}
		return api.ProfileView{}, classify(err, "profile "+p.Name)
	}
	ids, err := a.Catalog.ListClusterIDsByProfile(ctx, p.Name)
	if err != nil {
		return api.ProfileView{}, classify(err, "profile "+p.Name)
	}
	for _, id := range ids {
		if a.Lifecycles == nil {
			break
		}
		if err := a.Lifecycles.SignalLifecycle(ctx, id, api.UpdateSetProfile, api.SetProfileRequest{Profile: p.Name}); err != nil {
			return api.ProfileView{}, fmt.Errorf("profile %s: moving cluster %s to it: %w", p.Name, id, err)
		}
	}
	a.log().Info("profile updated", zap.String("profile", p.Name), zap.Int("clusters", len(ids)))
	return a.ProfileView(ctx, p.Name)
}

// DeleteProfile deletes a profile no cluster is on.
func (a *Profiles) DeleteProfile(ctx context.Context, req api.GetRequest) (api.Profile, error) {
	if _, ok := api.BuiltinProfile(req.ID); ok {
		return api.Profile{}, InvalidRequest("profile %s is built in and cannot be deleted", req.ID)
	}
	p, err := ResolveProfile(ctx, a.Catalog, req.ID)
	if err != nil {
		return p, err
	}
	if err := a.Catalog.DeleteProfile(ctx, req.ID); err != nil {
		var inUse *catalog.ProfileInUseError
		if errors.As(err, &inUse) {
			return p, permanent(api.ReasonInvalidState, "%v", err)
		}
		if catalog.IsNotFound(err) {
			return p, nil
		}
		return p, classify(err, "profile "+req.ID)
	}
	return p, nil
}

// ProfileView is a profile with each of its clusters and whether its jobs
// match.
func (a *Profiles) ProfileView(ctx context.Context, name string) (api.ProfileView, error) {
	return ProfileViewOf(ctx, a.Catalog, name)
}

// ProfileViewOf is ProfileView on a catalog (the control workflow's reads).
func ProfileViewOf(ctx context.Context, cat ProfileCatalog, name string) (api.ProfileView, error) {
	p, err := ResolveProfile(ctx, cat, name)
	if err != nil {
		return api.ProfileView{}, err
	}
	v := api.ProfileView{Profile: p, Clusters: []api.ProfileCluster{}}
	// Two reads whatever the number of clusters on it.
	cls, err := cat.ListClusters(ctx)
	if err != nil {
		return v, classify(err, "profile "+name)
	}
	jobs, err := cat.ListJobs(ctx, "")
	if err != nil {
		return v, classify(err, "profile "+name)
	}
	byCluster := map[string][]catalog.Job{}
	for _, j := range jobs {
		byCluster[j.ClusterID] = append(byCluster[j.ClusterID], j)
	}
	for _, cl := range cls {
		if cl.Profile != name || cl.Status == catalog.ClusterDeleted {
			continue
		}
		diffs := profileDiff(p, cl, byCluster[cl.ID])
		v.Clusters = append(v.Clusters, api.ProfileCluster{ClusterID: cl.ID, Power: cl.Power, InSync: len(diffs) == 0, Differences: diffs})
	}
	return v, nil
}

// wantJobs are the jobs a profile gives a cluster, by job ID.
func wantJobs(p api.Profile, cl catalog.Cluster) []catalog.Job {
	var out []catalog.Job
	for i, s := range p.Schedules {
		out = append(out, catalog.Job{
			ID: api.ProfileJobID(cl.ID, i), ClusterID: cl.ID, ScheduleID: api.JobScheduleID(api.ProfileJobID(cl.ID, i)),
			Every: s.Every, Offset: api.Duration(api.ProfileOffset(p, cl.ID, i)), Retention: s.Retention, Profile: p.Name,
		})
	}
	return out
}

// profileDiff says how a cluster's jobs differ from what its profile
// gives it (nothing: in sync).
func profileDiff(p api.Profile, cl catalog.Cluster, have []catalog.Job) []string {
	var diffs []string
	if cl.Profile != p.Name {
		diffs = append(diffs, fmt.Sprintf("cluster is on profile %q", cl.Profile))
	}
	byID := map[string]catalog.Job{}
	for _, j := range have {
		byID[j.ID] = j
	}
	want := wantJobs(p, cl)
	for _, w := range want {
		j, ok := byID[w.ID]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("job %s missing", w.ID))
		case j.Every != w.Every || j.Offset != w.Offset:
			diffs = append(diffs, fmt.Sprintf("job %s runs every %s offset %s, not every %s offset %s", w.ID, j.Every, j.Offset, w.Every, w.Offset))
		case j.Retention != w.Retention:
			diffs = append(diffs, fmt.Sprintf("job %s keeps %s, not %s", w.ID, retention.Describe(j.Retention), retention.Describe(w.Retention)))
		case j.Profile != p.Name:
			diffs = append(diffs, fmt.Sprintf("job %s is not owned by the profile", w.ID))
		}
		delete(byID, w.ID)
	}
	var extra []string
	for id, j := range byID {
		if j.Profile != "" {
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	for _, id := range extra {
		diffs = append(diffs, fmt.Sprintf("job %s is not in the profile", id))
	}
	return diffs
}

// ApplyProfileInput moves a cluster to a profile.
type ApplyProfileInput struct {
	ClusterID string
	Profile   string
	// Paused creates and keeps the jobs' schedules paused (the cluster is
	// powered off).
	Paused bool
}

// ApplyProfile makes a cluster's jobs match a profile: it creates, changes
// and deletes the jobs the profile owns (a job the user made is left as
// it is), and records the cluster's profile. Idempotent.
func (a *Profiles) ApplyProfile(ctx context.Context, in ApplyProfileInput) (api.ProfileCluster, error) {
	p, err := ResolveProfile(ctx, a.Catalog, in.Profile)
	if err != nil {
		return api.ProfileCluster{}, err
	}
	cl, err := a.Catalog.GetCluster(ctx, in.ClusterID)
	if err != nil {
		return api.ProfileCluster{}, classify(err, "cluster "+in.ClusterID)
	}
	if p.PITR > 0 && !isPostgres(cl) {
		return api.ProfileCluster{}, InvalidRequest("profile %s restores to any point in time, which needs a postgres cluster: cluster %s is a %s cluster (pick a profile without --pitr)", p.Name, cl.ID, api.EngineOf(cl.Engine))
	}
	have, err := a.Catalog.ListJobs(ctx, cl.ID)
	if err != nil {
		return api.ProfileCluster{}, classify(err, "cluster "+cl.ID)
	}
	byID := map[string]catalog.Job{}
	for _, j := range have {
		byID[j.ID] = j
	}
	for _, w := range wantJobs(p, cl) {
		j, ok := byID[w.ID]
		delete(byID, w.ID)
		if !ok {
			if _, err := a.Jobs.createJob(ctx, w, in.Paused); err != nil {
				return api.ProfileCluster{}, err
			}
			continue
		}
		if j.Every == w.Every && j.Offset == w.Offset && j.Retention == w.Retention && j.Profile == w.Profile {
			continue
		}
		j.Every, j.Offset, j.Retention, j.Profile = w.Every, w.Offset, w.Retention, w.Profile
		if err := a.Jobs.rewriteJob(ctx, j); err != nil {
			return api.ProfileCluster{}, err
		}
	}
	for _, j := range byID {
		if j.Profile == "" {
			continue // the user's own job
		}
		if _, err := a.Jobs.deleteJob(ctx, j); err != nil {
			return api.ProfileCluster{}, err
		}
	}
	if err := a.Catalog.SetClusterProfile(ctx, cl.ID, p.Name); err != nil {
		return api.ProfileCluster{}, classify(err, "cluster "+cl.ID)
	}
	a.log().Info("cluster moved to profile", zap.String("cluster", cl.ID), zap.String("profile", p.Name))
	cl.Profile = p.Name
	jobs, err := a.Catalog.ListJobs(ctx, cl.ID)
	if err != nil {
		return api.ProfileCluster{}, classify(err, "cluster "+cl.ID)
	}
	diffs := profileDiff(p, cl, jobs)
	return api.ProfileCluster{ClusterID: cl.ID, Power: cl.Power, InSync: len(diffs) == 0, Differences: diffs}, nil
}

// setSchedulesPaused pauses or resumes the schedules of a cluster's jobs
// for its power state, leaving a job the user paused paused.
func (j *Jobs) setSchedulesPaused(ctx context.Context, clusterID string, paused bool) error {
	jobs, err := j.Catalog.ListJobs(ctx, clusterID)
	if err != nil {
		return classify(err, "cluster "+clusterID)
	}
	for _, job := range jobs {
		if job.Paused {
			continue
		}
		h := j.Schedules.GetHandle(ctx, job.ScheduleID)
		if paused {
			err = h.Pause(ctx, client.SchedulePauseOptions{Note: scheduleNote(job, powerOffNote)})
		} else {
			err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: scheduleNote(job, "resumed: cluster powered on")})
		}
		if err != nil {
			return fmt.Errorf("cluster %s: job %s: %w", clusterID, job.ID, err)
		}
	}
	return nil
}

// powerOffNote is the note of a schedule paused by its cluster's power-off.
const powerOffNote = "paused: cluster powered off"
