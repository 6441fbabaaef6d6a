package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/databases/postgres"
	"github.com/stratabackup/strata/providers"
)

// Lifecycles are the activities of clusters' lifecycle workflows: power
// off and on, clean-up and deletion.
type Lifecycles struct {
	Common
	Catalog   LifecycleCatalog
	Providers providers.Registry
	// Provisioners tear down nodes of clusters powering off, by provider.
	Provisioners map[string]providers.Provisioner
	// Databases stop postgres clusters' servers (nil: none here).
	Databases DatabaseServers
	// Jobs pause and resume clusters' schedules.
	Jobs *Jobs
	// Profiles move clusters to profiles.
	Profiles *Profiles
	// PowerOffRetention is how long a cluster stays powered off before it
	// is deleted with its backups; PowerOffNotice how long before that its
	// project is told.
	PowerOffRetention, PowerOffNotice time.Duration
}

// LifecycleCatalog is the part of the catalog lifecycles use.
type LifecycleCatalog interface {
	catalog.Clusters
	catalog.Locks
	catalog.Backups
	catalog.Jobs
	catalog.Profiles
	catalog.Restores
}

// lifecycleLockTTL is the lease a lifecycle operation holds on its
// cluster, renewed while it runs (HoldLifecycleLock).
const lifecycleLockTTL = 5 * time.Minute

// LifecycleHolder is the lock holder of a cluster's lifecycle operations.
func LifecycleHolder(clusterID string) string {
	return validate.OperationHolder("lifecycle", clusterID)
}

// LifecycleStart is what a lifecycle run starts from.
type LifecycleStart struct {
	Cluster catalog.Cluster
	// NoticeBefore is how long before a powered-off cluster's deletion
	// its project is told (the worker's --poweroff-notice).
	NoticeBefore time.Duration
	// Gone: the cluster was deleted (or never existed): the run ends.
	Gone bool
}

// LoadLifecycle reads a cluster's state for its lifecycle workflow.
func (a *Lifecycles) LoadLifecycle(ctx context.Context, clusterID string) (LifecycleStart, error) {
	cl, err := a.Catalog.GetCluster(ctx, clusterID)
	if catalog.IsNotFound(err) {
		return LifecycleStart{Gone: true, NoticeBefore: a.notice()}, nil
	}
	if err != nil {
		return LifecycleStart{}, classify(err, "cluster "+clusterID)
	}
	cl.Nodes = nil
	return LifecycleStart{Cluster: cl, NoticeBefore: a.notice(), Gone: cl.Status == catalog.ClusterDeleted}, nil
}

func (a *Lifecycles) notice() time.Duration {
	if a.PowerOffNotice > 0 {
		return a.PowerOffNotice
	}
	return api.DefaultPowerOffNotice
}

func (a *Lifecycles) retention() time.Duration {
	if a.PowerOffRetention > 0 {
		return a.PowerOffRetention
	}
	return api.DefaultPowerOffRetention
}

// AcquireLifecycleLock takes the cluster's lock for a lifecycle operation.
// A lock held by a backup or a restore is retried (it ends soon) up to the
// activity's schedule-to-close timeout.
func (a *Lifecycles) AcquireLifecycleLock(ctx context.Context, clusterID string) (LockRef, error) {
	l, err := a.Catalog.AcquireLock(ctx, clusterID, LifecycleHolder(clusterID), lifecycleLockTTL)
	var locked *catalog.LockedError
	if errors.As(err, &locked) {
		return LockRef{}, temporal.NewApplicationErrorWithOptions(fmt.Sprintf("cluster %s: %v (waiting for it)", clusterID, err), api.ReasonClusterLocked,
			temporal.ApplicationErrorOptions{Category: temporal.ApplicationErrorCategoryBenign})
	}
	if err != nil {
		return LockRef{}, classify(err, "cluster "+clusterID)
	}
	return LockRef{ClusterID: clusterID, LockToken: l.Token, LockTTL: lifecycleLockTTL}, nil
}

// HoldLifecycleLock renews the lock until it is cancelled (the operation
// is done) or the lock is lost.
func (a *Lifecycles) HoldLifecycleLock(ctx context.Context, ref LockRef) error {
	t := time.NewTicker(ref.LockTTL / 4)
	defer t.Stop()
	for {
		activity.RecordHeartbeat(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := a.Catalog.RenewLock(ctx, ref.ClusterID, ref.LockToken, ref.LockTTL); err != nil {
			if errors.Is(err, catalog.ErrLockLost) {
				// Released by its operation before this hold heard it was
				// cancelled (the usual end), or lapsed: nothing to renew.
				a.log().Debug("lifecycle lock no longer held", zap.String("cluster", ref.ClusterID))
				return nil
			}
			if ctx.Err() != nil {
				return nil
			}
			a.log().Warn("renewing the lifecycle lock failed", zap.String("cluster", ref.ClusterID), zap.Error(err))
		}
	}
}

// ReleaseLifecycleLock releases it (a lapsed or repeated release frees
// nothing).
func (a *Lifecycles) ReleaseLifecycleLock(ctx context.Context, ref LockRef) error {
	return classify(a.Catalog.ReleaseLock(ctx, ref.ClusterID, ref.LockToken), "cluster "+ref.ClusterID)
}

// PowerInput names a cluster and why its power changes.
type PowerInput struct {
	ClusterID string
	Reason    string
	At        time.Time
	// FinalBackupID is a power-off's final backup.
	FinalBackupID string
}

// PowerOffPlan is a power-off once it may go ahead.
type PowerOffPlan struct {
	// JobID is the job the final backup counts for ("" if the cluster has
	// none): its retention prunes it like the job's other backups once the
	// cluster runs again.
	JobID string
}

// BeginPowerOff checks a cluster may power off, marks it PoweringOff (its
// scheduled backups from now on end Defunct ClusterPoweredOff) and pauses
// its schedules.
func (a *Lifecycles) BeginPowerOff(ctx context.Context, in PowerInput) (PowerOffPlan, error) {
	cl, err := a.cluster(ctx, in.ClusterID)
	if err != nil {
		return PowerOffPlan{}, err
	}
	switch {
	case cl.Status != catalog.ClusterRunning:
		return PowerOffPlan{}, permanent(api.ReasonInvalidState, "cluster %s is %s: only a Running cluster powers off", cl.ID, cl.Status)
	case cl.Power == api.PowerPoweredOff:
		return PowerOffPlan{}, permanent(api.ReasonInvalidState, "cluster %s is already powered off", cl.ID)
	}
	if cl.Profile != "" {
		p, err := ResolveProfile(ctx, a.Catalog, cl.Profile)
		if err != nil {
			return PowerOffPlan{}, err
		}
		if p.NoBackups {
			return PowerOffPlan{}, permanent(api.ReasonNoBackups, "cluster %s is on profile %s, which takes no backups: powering it off would lose its data (move it to a profile with backups first: `starter cluster set-profile %s PROFILE`)", cl.ID, p.Name, cl.ID)
		}
	}
	if err := a.setPower(ctx, cl, api.ClusterPower{Power: api.PowerPoweringOff, Reason: in.Reason}); err != nil {
		return PowerOffPlan{}, err
	}
	if err := a.Jobs.setSchedulesPaused(ctx, cl.ID, true); err != nil {
		return PowerOffPlan{}, err
	}
	plan := PowerOffPlan{}
	jobs, err := a.Catalog.ListJobs(ctx, cl.ID)
	if err != nil {
		return plan, classify(err, "cluster "+cl.ID)
	}
	// The profile's first job, else the cluster's first.
	for _, j := range jobs {
		if j.Profile != "" {
			plan.JobID = j.ID
			break
		}
	}
	if plan.JobID == "" && len(jobs) > 0 {
		plan.JobID = jobs[0].ID
	}
	a.log().Info("cluster powering off", zap.String("cluster", cl.ID))
	return plan, nil
}

// AbortPowerOff puts a cluster whose final backup failed back to Running
// with the reason, and resumes its schedules.
func (a *Lifecycles) AbortPowerOff(ctx context.Context, in PowerInput) error {
	cl, err := a.cluster(ctx, in.ClusterID)
	if err != nil {
		return err
	}
	if cl.Power != api.PowerPoweringOff {
		return nil // not this power-off's to undo (refused, or undone already)
	}
	if err := a.setPower(ctx, cl, api.ClusterPower{Power: api.PowerRunning, Reason: in.Reason}); err != nil {
		return err
	}
	return a.Jobs.setSchedulesPaused(ctx, cl.ID, false)
}

// ReleaseResources releases a cluster's compute and volumes after its
// final backup: a postgres cluster's WAL is switched and archived and its
// servers stopped; the nodes are torn down and every volume deleted at the
// provider (its snapshots stay). Idempotent: a volume already gone counts
// as deleted, and the catalog keeps the cluster's nodes and volumes
// (without provider references) for its power-on.
func (a *Lifecycles) ReleaseResources(ctx context.Context, in PowerInput) error {
	cl, err := a.cluster(ctx, in.ClusterID)
	if err != nil {
		return err
	}
	stop := heartbeating(ctx)
	defer stop()
	if isPostgres(cl) && a.Databases != nil {
		if err := a.stopServers(ctx, cl); err != nil {
			return err
		}
	}
	if prov, ok := provisionerFor(a.Provisioners, cl.Provider, cl.Region); ok {
		for _, n := range cl.Nodes {
			if err := prov.DeleteNode(ctx, cl.ID, n.ID); err != nil {
				return classify(err, fmt.Sprintf("node %s of cluster %s", n.ID, cl.ID))
			}
		}
	}
	p, err := a.Providers.For(cl.Provider, cl.Region)
	if err != nil {
		return permanent(api.ReasonInvalidRequest, "cluster %s: %v", cl.ID, err)
	}
	for _, v := range cl.Volumes() {
		if v.Path == "" {
			continue
		}
		if err := p.DeleteVolume(ctx, v.Path); err != nil {
			return classify(err, fmt.Sprintf("volume %s of cluster %s", v.ID, cl.ID))
		}
		v.Path = ""
		if err := a.Catalog.UpdateVolumes(ctx, cl.ID, []catalog.Volume{v}); err != nil {
			return classify(err, "cluster "+cl.ID)
		}
	}
	for _, n := range cl.Nodes {
		if err := a.Catalog.SetNodeServer(ctx, cl.ID, n.ID, "", ""); err != nil {
			return classify(err, "cluster "+cl.ID)
		}
		if err := a.Catalog.SetNodeHealth(ctx, cl.ID, n.ID, false, nil); err != nil {
			return classify(err, "cluster "+cl.ID)
		}
	}
	a.log().Info("cluster resources released", zap.String("cluster", cl.ID), zap.Int("volumes", len(cl.Volumes())))
	return nil
}

// stopServers archives what a postgres cluster's primary wrote since its
// final backup (a switch to a new WAL segment, waited for) and stops every
// server, so its power-on replays to the last write.
func (a *Lifecycles) stopServers(ctx context.Context, cl catalog.Cluster) error {
	spec := postgres.ClusterSpec{ID: cl.ID}
	for _, n := range ServerSpec(cl).Nodes {
		if n.VolumeDir != "" {
			spec.Nodes = append(spec.Nodes, n)
		}
	}
	if len(spec.Nodes) == 0 {
		return nil
	}
	if pri, ok := primaryOf(cl); ok && pri.Endpoint != "" {
		name := fmt.Sprintf("strata-power-off-%d", a.now().UnixMilli())
		if lsn, _, archived, err := a.Databases.CreateRestorePoint(ctx, cl.ID, pri.Endpoint, name); err == nil && !archived {
			if at, perr := postgres.ParseLSN(lsn); perr == nil {
				if err := a.Databases.WaitArchived(ctx, cl.ID, pri.Endpoint, at); err != nil {
					return fmt.Errorf("cluster %s: archiving its last WAL before power-off: %w", cl.ID, err)
				}
			}
		} else if err != nil {
			// A server already stopped (a retried release) has nothing new.
			a.log().Warn("no last WAL switch before power-off", zap.String("cluster", cl.ID), zap.Error(err))
		}
	}
	if err := a.Databases.StopCluster(ctx, spec); err != nil {
		return fmt.Errorf("cluster %s: stopping its servers: %w", cl.ID, err)
	}
	return nil
}

// FinishPowerOff marks a cluster PoweredOff: since when, when it will be
// deleted unless powered on, and its final backup, which is held so that
// retention never deletes it while the cluster is off.
func (a *Lifecycles) FinishPowerOff(ctx context.Context, in PowerInput) (api.ClusterPower, error) {
	cl, err := a.cluster(ctx, in.ClusterID)
	if err != nil {
		return api.ClusterPower{}, err
	}
	if in.FinalBackupID != "" {
		if err := a.Catalog.AddHold(ctx, in.FinalBackupID, LifecycleHolder(cl.ID)); err != nil {
			return api.ClusterPower{}, classify(err, "backup "+in.FinalBackupID)
		}
	}
	at := in.At.UTC()
	del := at.Add(a.retention())
	p := api.ClusterPower{Power: api.PowerPoweredOff, Reason: in.Reason, PoweredOffAt: &at, DeletionAt: &del, FinalBackupID: in.FinalBackupID}
	if err := a.setPower(ctx, cl, p); err != nil {
		return p, err
	}
	a.log().Info("cluster powered off", zap.String("cluster", cl.ID), zap.String("backup", in.FinalBackupID), zap.Time("deletionAt", del))
	return p, nil
}

// BeginPowerOn checks a cluster is powered off and marks it PoweringOn.
func (a *Lifecycles) BeginPowerOn(ctx context.Context, in PowerInput) error {
	cl, err := a.cluster(ctx, in.ClusterID)
	if err != nil {
		return err
	}
	if cl.Power != api.PowerPoweredOff && cl.Power != api.PowerPoweringOn {
		return permanent(api.ReasonInvalidState, "cluster %s is %s: only a powered-off cluster powers on", cl.ID, cl.Power)
	}
	p := cl.ClusterPower
	p.Power, p.Reason = api.PowerPoweringOn, in.Reason
	return a.setPower(ctx, cl, p)
}

// FinishPowerOn marks a powered-on cluster Running, clears its clean-up
// clock, releases its final backup and resumes its schedules.
func (a *Lifecycles) FinishPowerOn(ctx context.Context, in PowerInput) error {
	cl, err := a.cluster(ctx, in.ClusterID)
	if err != nil {
		return err
	}
	if cl.FinalBackupID != "" {
		if err := a.Catalog.RemoveHold(ctx, cl.FinalBackupID, LifecycleHolder(cl.ID)); err != nil {
			return classify(err, "backup "+cl.FinalBackupID)
		}
	}
	if err := a.setPower(ctx, cl, api.ClusterPower{Power: api.PowerRunning, Reason: in.Reason}); err != nil {
		return err
	}
	if err := a.Jobs.setSchedulesPaused(ctx, cl.ID, false); err != nil {
		return err
	}
	a.log().Info("cluster powered on", zap.String("cluster", cl.ID))
	return nil
}

// AbortPowerOn leaves a cluster whose power-on failed PoweredOff with the
// reason (its clean-up clock unchanged).
func (a *Lifecycles) AbortPowerOn(ctx context.Context, in PowerInput) error {
	cl, err := a.cluster(ctx, in.ClusterID)
	if err != nil {
		return err
	}
	p := cl.ClusterPower
	p.Power, p.Reason = api.PowerPoweredOff, in.Reason
	return a.setPower(ctx, cl, p)
}

// DeletePlan is what deleting a cluster deletes.
type DeletePlan struct {
	// BackupIDs are its backups to delete (with backups).
	BackupIDs []string
}

// DeleteClusterInput deletes a cluster.
type DeleteClusterInput struct {
	ClusterID   string
	WithBackups bool
}

// PlanDeleteCluster checks a cluster may be deleted (no restore from it
// runs) and lists the backups to delete with it; it changes nothing.
func (a *Lifecycles) PlanDeleteCluster(ctx context.Context, in DeleteClusterInput) (DeletePlan, error) {
	cl, err := a.cluster(ctx, in.ClusterID)
	if err != nil {
		return DeletePlan{}, err
	}
	open, err := a.Catalog.ListOpenRestores(ctx)
	if err != nil {
		return DeletePlan{}, classify(err, "cluster "+cl.ID)
	}
	for _, r := range open {
		if r.SourceClusterID == cl.ID && r.ClusterID != cl.ID {
			return DeletePlan{}, permanent(api.ReasonInvalidState, "cluster %s: restore %s from its backup %s is running: wait for it (or cancel it) before deleting the cluster", cl.ID, r.ID, r.BackupID)
		}
	}
	plan := DeletePlan{BackupIDs: []string{}}
	if !in.WithBackups {
		return plan, nil
	}
	bs, err := a.Catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: cl.ID, Limit: 100000, NoDetails: true})
	if err != nil {
		return plan, classify(err, "cluster "+cl.ID)
	}
	for _, b := range bs {
		switch b.Status {
		case catalog.BackupPending, catalog.BackupInProgress:
			return DeletePlan{}, permanent(api.ReasonInvalidState, "cluster %s: backup %s is %s: wait for it before deleting the cluster with its backups", cl.ID, b.ID, b.Status)
		case catalog.BackupDeleted:
			continue
		}
		plan.BackupIDs = append(plan.BackupIDs, b.ID)
	}
	return plan, nil
}

// DeleteClusterResources deletes a cluster's jobs, compute and volumes
// and marks it Deleted (its record stays for the backups it keeps).
func (a *Lifecycles) DeleteClusterResources(ctx context.Context, in DeleteClusterInput) error {
	cl, err := a.cluster(ctx, in.ClusterID)
	if err != nil {
		return err
	}
	jobs, err := a.Catalog.ListJobs(ctx, cl.ID)
	if err != nil {
		return classify(err, "cluster "+cl.ID)
	}
	for _, j := range jobs {
		if _, err := a.Jobs.deleteJob(ctx, j); err != nil {
			return err
		}
	}
	if err := a.ReleaseResources(ctx, PowerInput{ClusterID: cl.ID}); err != nil {
		return err
	}
	// Backups kept without their cluster still restore with its password.
	if isPostgres(cl) && a.Databases != nil && in.WithBackups {
		if err := a.Databases.ForgetCluster(cl.ID); err != nil {
			return fmt.Errorf("cluster %s: %w", cl.ID, err)
		}
	}
	if cl.FinalBackupID != "" {
		if err := a.Catalog.RemoveHold(ctx, cl.FinalBackupID, LifecycleHolder(cl.ID)); err != nil {
			return classify(err, "backup "+cl.FinalBackupID)
		}
	}
	if err := a.setPower(ctx, cl, api.ClusterPower{Power: api.PowerDeleted, PoweredOffAt: cl.PoweredOffAt}); err != nil {
		return err
	}
	if err := a.Catalog.SetClusterStatus(ctx, cl.ID, catalog.ClusterDeleted, ""); err != nil {
		return classify(err, "cluster "+cl.ID)
	}
	a.log().Info("cluster deleted", zap.String("cluster", cl.ID), zap.Bool("withBackups", in.WithBackups))
	return nil
}

// MoveToProfile moves a cluster to a profile (its lifecycle's setProfile);
// a powered-off cluster's jobs stay paused.
func (a *Lifecycles) MoveToProfile(ctx context.Context, in ApplyProfileInput) (api.ProfileCluster, error) {
	return a.Profiles.ApplyProfile(ctx, in)
}

func (a *Lifecycles) cluster(ctx context.Context, id string) (catalog.Cluster, error) {
	cl, err := a.Catalog.GetCluster(ctx, id)
	if err != nil {
		return cl, classify(err, "cluster "+id)
	}
	if cl.Status == catalog.ClusterDeleted {
		return cl, permanent(api.ReasonClusterNotFound, "cluster %s was deleted", id)
	}
	return cl, nil
}

func (a *Lifecycles) setPower(ctx context.Context, cl catalog.Cluster, p api.ClusterPower) error {
	p.Reason = validate.Truncate(p.Reason, validate.MaxMessageLen)
	return classify(a.Catalog.SetClusterPower(ctx, cl.ID, p), "cluster "+cl.ID)
}

// provisionerFor is the provisioner of a provider in a region (keyed like
// providers.Registry), and whether there is one.
func provisionerFor(ps map[string]providers.Provisioner, provider, region string) (providers.Provisioner, bool) {
	if p, ok := ps[providers.Key(provider, region)]; ok {
		return p, true
	}
	p, ok := ps[provider]
	return p, ok
}

// LifecycleStarter starts clusters' lifecycle workflows and signals them.
type LifecycleStarter struct {
	Temporal  client.Client
	TaskQueue string
}

// EnsureLifecycle starts the cluster's lifecycle workflow unless it runs.
func (s *LifecycleStarter) EnsureLifecycle(ctx context.Context, clusterID string) error {
	if s == nil || s.Temporal == nil {
		return nil
	}
	_, err := s.Temporal.ExecuteWorkflow(ctx, api.LifecycleStartOptions(s.TaskQueue, clusterID), api.ClusterLifecycleWorkflowName, api.LifecycleRequest{ClusterID: clusterID})
	if err != nil {
		return fmt.Errorf("cluster %s: starting its lifecycle workflow: %w", clusterID, err)
	}
	return nil
}

// SignalLifecycle signals the cluster's lifecycle workflow, starting it
// if it does not run.
func (s *LifecycleStarter) SignalLifecycle(ctx context.Context, clusterID, signal string, arg any) error {
	if s == nil || s.Temporal == nil {
		return nil
	}
	_, err := s.Temporal.SignalWithStartWorkflow(ctx, api.ClusterLifecycleWorkflowID(clusterID), signal, arg,
		api.LifecycleStartOptions(s.TaskQueue, clusterID), api.ClusterLifecycleWorkflowName, api.LifecycleRequest{ClusterID: clusterID})
	if err != nil {
		return fmt.Errorf("cluster %s: signalling its lifecycle workflow: %w", clusterID, err)
	}
	return nil
}

// EnsureLifecycles starts the lifecycle workflow of every cluster that has
// none (a worker's start: clusters recorded before lifecycles existed).
func EnsureLifecycles(ctx context.Context, cat catalog.Clusters, s *LifecycleStarter, log *zap.Logger) (int, error) {
	cls, err := cat.ListClusters(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, cl := range cls {
		if cl.Status == catalog.ClusterDeleted || cl.Status == catalog.ClusterFailed || cl.Status == catalog.ClusterCreating {
			continue
		}
		if err := s.EnsureLifecycle(ctx, cl.ID); err != nil {
			return n, err
		}
		n++
	}
	log.Info("cluster lifecycle workflows running", zap.Int("clusters", n))
	return n, nil
}
