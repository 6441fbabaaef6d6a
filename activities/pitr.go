package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/databases/postgres"
)

// A restore of a postgres backup is a point-in-time recovery (package
// databases/postgres): the new primary's volume comes from the snapshot
// of the node the backup held backup mode on, the archived WAL of the
// source cluster is replayed to the target, the server is promoted, the
// replicas are copied from it, and the database must answer before the
// cluster is Running.

// RecoveryPlan is what a postgres restore recovers to.
type RecoveryPlan struct {
	// Target as given; TargetLSN is a restore point's position.
	Target    api.RecoveryTarget
	TargetLSN string
	// BackupNodeID held backup mode; its snapshot becomes the primary.
	BackupNodeID  string
	BackupStopLSN string
	Window        api.PITRWindow
	VerifySQL     string
}

// pitrSelect picks, for a target, the newest Completed backup of a
// postgres cluster that ends before it: bs are Completed backups without
// details, newest first, read in full one at a time; lsn is the target's
// position (time targets give 0).
func pitrSelect(ctx context.Context, cat catalog.Backups, bs []catalog.Backup, t api.RecoveryTarget, lsn uint64) (catalog.Backup, bool, error) {
	for _, b := range bs {
		full, err := cat.GetBackup(ctx, b.ID)
		if catalog.IsNotFound(err) {
			continue
		}
		if err != nil {
			return b, false, classify(err, "backup "+b.ID)
		}
		if endsBefore(full, t, lsn) {
			return full, true, nil
		}
	}
	return catalog.Backup{}, false, nil
}

// endsBefore says whether backup b is consistent before the target.
func endsBefore(b catalog.Backup, t api.RecoveryTarget, lsn uint64) bool {
	db := b.Database
	if db == nil || db.StopLSN == "" || db.StoppedAt == nil {
		return false
	}
	if t.Time != nil {
		return !db.StoppedAt.After(*t.Time)
	}
	stop, err := postgres.ParseLSN(db.StopLSN)
	return err == nil && stop <= lsn
}

// completedBackups lists a cluster's Completed backups, newest first,
// without their details (a cluster read computes its window each time, so
// only the few backups looked at are read in full).
func completedBackups(ctx context.Context, cat catalog.Backups, clusterID string) ([]catalog.Backup, error) {
	bs, err := cat.ListBackups(ctx, catalog.BackupFilter{ClusterID: clusterID, Statuses: []catalog.BackupStatus{catalog.BackupCompleted}, Limit: 100000, NoDetails: true})
	return bs, classify(err, "cluster "+clusterID)
}

// PITRWindow is the span a postgres cluster can be restored to: from the
// end of its oldest Completed backup to the newest archived WAL; nil when
// there is no such span.
func PITRWindow(ctx context.Context, cat catalog.Backups, db DatabaseServers, clusterID string) (*api.PITRWindow, error) {
	if db == nil {
		return nil, nil
	}
	bs, err := completedBackups(ctx, cat, clusterID)
	if err != nil {
		return nil, err
	}
	return pitrWindow(ctx, cat, db, clusterID, bs)
}

// pitrWindow is PITRWindow from the cluster's Completed backups, newest
// first, without details.
func pitrWindow(ctx context.Context, cat catalog.Backups, db DatabaseServers, clusterID string, bs []catalog.Backup) (*api.PITRWindow, error) {
	end, ok, err := db.ArchiveEnd(ctx, clusterID)
	if err != nil || !ok {
		return nil, err
	}
	// A cluster's backups are one at a time (its lock), so the oldest
	// created is the oldest ended.
	var from *time.Time
	for i := len(bs) - 1; i >= 0 && from == nil; i-- {
		b, err := cat.GetBackup(ctx, bs[i].ID)
		if catalog.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, classify(err, "backup "+bs[i].ID)
		}
		if d := b.Database; d != nil && d.StoppedAt != nil && d.StopLSN != "" {
			if stop, err := postgres.ParseLSN(d.StopLSN); err == nil && stop < end.LSN {
				from = d.StoppedAt
			}
		}
	}
	if from == nil || end.At.Before(*from) {
		return nil, nil
	}
	return &api.PITRWindow{From: from.UTC(), To: end.At, ToLSN: postgres.FormatLSN(end.LSN)}, nil
}

// planRecovery resolves a postgres restore: the base backup (for a
// target, the newest Completed one ending before it unless one was
// named), and the checks that the archive holds the WAL from that
// backup's end to the target. It returns the backup and the problems.
func (a *Restores) planRecovery(ctx context.Context, req api.RestoreRequest, b catalog.Backup, src catalog.Cluster) (catalog.Backup, *RecoveryPlan, []string) {
	t := req.Target()
	rp := &RecoveryPlan{Target: t, VerifySQL: req.VerifySQL}
	if a.Databases == nil {
		return b, rp, []string{fmt.Sprintf("restoring postgres cluster %s's backups needs PostgreSQL on this worker", src.ID)}
	}
	var targetLSN uint64
	var problems []string
	if t.LSN != "" {
		targetLSN, _ = postgres.ParseLSN(t.LSN)
	}
	if t.Name != "" {
		p, err := a.Catalog.GetRestorePoint(ctx, src.ID, t.Name)
		if err != nil {
			return b, rp, []string{fmt.Sprintf("restore point %q of cluster %s: %v (make one with `starter cluster restore-point %s NAME`)", t.Name, src.ID, err, src.ID)}
		}
		rp.TargetLSN = p.LSN
		targetLSN, _ = postgres.ParseLSN(p.LSN)
	}
	bs, err := completedBackups(ctx, a.Catalog, src.ID)
	if err != nil {
		return b, rp, []string{err.Error()}
	}
	window, err := pitrWindow(ctx, a.Catalog, a.Databases, src.ID, bs)
	if err != nil {
		return b, rp, []string{fmt.Sprintf("reading cluster %s's WAL archive: %v", src.ID, err)}
	}
	outside := func(what string) string {
		if window == nil {
			return fmt.Sprintf("%s: cluster %s has no restorable window yet (no Completed backup with its WAL archived)", what, src.ID)
		}
		return fmt.Sprintf("%s is outside cluster %s's restorable window, %s (WAL to %s)", what, src.ID, window, window.ToLSN)
	}
	if !t.IsZero() && req.BackupID == "" {
		if req.LatestOfJob != "" {
			bs = onlyJob(bs, req.LatestOfJob)
		}
		chosen, ok, err := pitrSelect(ctx, a.Catalog, bs, t, targetLSN)
		if err != nil {
			return b, rp, []string{err.Error()}
		}
		if !ok {
			return b, rp, []string{outside("target " + describeTarget(t, rp.TargetLSN))}
		}
		b = chosen
	} else if !t.IsZero() && !endsBefore(b, t, targetLSN) {
		end := "has not ended"
		if b.Database != nil && b.Database.StoppedAt != nil {
			end = fmt.Sprintf("ends at %s (WAL %s)", b.Database.StoppedAt.UTC().Format(time.RFC3339), b.Database.StopLSN)
		}
		problems = append(problems, fmt.Sprintf("backup %s %s, after the target %s: give a later target or an earlier backup (or --latest-of-cluster %s)", b.ID, end, describeTarget(t, rp.TargetLSN), src.ID))
	}
	db := b.Database
	if db == nil || db.StopLSN == "" || db.BackupLabel == "" {
		return b, rp, append(problems, fmt.Sprintf("backup %s of postgres cluster %s was not taken in backup mode: it cannot be restored as a database", b.ID, src.ID))
	}
	rp.BackupNodeID, rp.BackupStopLSN = db.NodeID, db.StopLSN
	if window != nil {
		rp.Window = *window
	}
	end, _ := postgres.ParseLSN(rp.Window.ToLSN)
	stop, _ := postgres.ParseLSN(db.StopLSN)
	switch {
	case window == nil || stop >= end:
		problems = append(problems, fmt.Sprintf("the WAL backup %s needs (to %s) is not in cluster %s's archive yet", b.ID, db.StopLSN, src.ID))
	case t.Time != nil && (t.Time.After(window.To) || t.Time.Before(window.From)):
		problems = append(problems, outside("target time "+t.Time.UTC().Format(time.RFC3339Nano)))
	case (t.LSN != "" || t.Name != "") && targetLSN >= end:
		problems = append(problems, outside("target "+describeTarget(t, rp.TargetLSN)))
	}
	return b, rp, problems
}

func onlyJob(bs []catalog.Backup, jobID string) []catalog.Backup {
	var out []catalog.Backup
	for _, b := range bs {
		if b.JobID == jobID {
			out = append(out, b)
		}
	}
	return out
}

func describeTarget(t api.RecoveryTarget, lsn string) string {
	if t.Name != "" && lsn != "" {
		return fmt.Sprintf("restore point %s (WAL %s)", t.Name, lsn)
	}
	return t.String()
}

// recoverySpec is the new primary's recovery.
func (a *Restores) recoverySpec(ctx context.Context, plan RestorePlan) (postgres.RecoverySpec, error) {
	if a.Databases == nil {
		return postgres.RecoverySpec{}, noDatabases(plan.ClusterID)
	}
	if plan.Recovery == nil || len(plan.Nodes) == 0 {
		return postgres.RecoverySpec{}, permanent(api.ReasonInternal, "restore into %s: no recovery planned", plan.ClusterID)
	}
	b, err := a.Catalog.GetBackup(ctx, plan.BackupID)
	if err != nil {
		return postgres.RecoverySpec{}, classify(err, "backup "+plan.BackupID)
	}
	cl, err := a.Catalog.GetCluster(ctx, plan.ClusterID)
	if err != nil {
		return postgres.RecoverySpec{}, classify(err, "cluster "+plan.ClusterID)
	}
	pri, ok := nodeByID(cl, plan.primaryNodeID())
	if b.Database == nil || !ok || len(pri.Volumes) == 0 || pri.Volumes[0].Path == "" {
		return postgres.RecoverySpec{}, permanent(api.ReasonRestoreFailed, "restore into %s: the primary's volume or backup %s's backup mode is missing", plan.ClusterID, plan.BackupID)
	}
	t := plan.Recovery.Target
	spec := postgres.RecoverySpec{
		ClusterID: plan.ClusterID, SourceClusterID: plan.SourceClusterID, NodeID: pri.ID,
		VolumeDir: pri.Volumes[0].Path, BackupLabel: b.Database.BackupLabel, TablespaceMap: b.Database.TablespaceMap,
		Target: postgres.Target{Time: t.Time, LSN: t.LSN, Name: t.Name}, RecoveryID: plan.Generation,
	}
	return spec, nil
}

// PrepareRecovery makes the new primary's data directory ready to recover
// (idempotent; nothing once its server has started).
func (a *Restores) PrepareRecovery(ctx context.Context, plan RestorePlan) error {
	spec, err := a.recoverySpec(ctx, plan)
	if err != nil {
		return err
	}
	if err := a.Databases.PrepareRecovery(ctx, spec); err != nil {
		return permanent(api.ReasonRestoreFailed, "restore into %s: preparing node %s's recovery: %v", plan.ClusterID, spec.NodeID, err)
	}
	return nil
}

// replayPoll is how long one ReplayWAL call watches the replay before it
// reports: the workflow's status shows the position at least this often.
const replayPoll = 5 * time.Second

// ReplayWAL starts the new primary's server (unless it runs: a worker
// killed during the replay finds it carrying on) and watches it replay
// for a few seconds; it answers where the replay is, Paused at the
// target, or Promoted (at the end of the archive). A server whose
// recovery failed fails the restore with what it logged.
func (a *Restores) ReplayWAL(ctx context.Context, plan RestorePlan) (api.RecoveryProgress, error) {
	spec, err := a.recoverySpec(ctx, plan)
	if err != nil {
		return api.RecoveryProgress{}, err
	}
	deadline := time.Now().Add(replayPoll)
	for {
		r, err := a.Databases.Replay(ctx, spec)
		if errors.Is(err, postgres.ErrRecoveryFailed) {
			return api.RecoveryProgress{}, permanent(api.ReasonRestoreFailed, "restore into %s: %v", plan.ClusterID, err)
		}
		if err != nil {
			return api.RecoveryProgress{}, fmt.Errorf("restore into %s: replaying WAL on node %s: %w", plan.ClusterID, spec.NodeID, err)
		}
		p := progressOf(plan, r)
		activity.RecordHeartbeat(ctx, p)
		if r.Phase == postgres.PhasePaused || r.Phase == postgres.PhasePromoted || time.Now().After(deadline) {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func progressOf(plan RestorePlan, r postgres.Recovery) api.RecoveryProgress {
	return api.RecoveryProgress{
		Target: plan.Recovery.Target, BackupStopLSN: plan.Recovery.BackupStopLSN, Phase: r.Phase,
		ReplayLSN: r.ReplayLSN, ReplayedAt: r.ReplayedAt, Timeline: r.Timeline,
	}
}

// Promote ends the new primary's recovery at its target, on a new
// timeline, and records it as the cluster's primary.
func (a *Restores) Promote(ctx context.Context, plan RestorePlan) (api.RecoveryProgress, error) {
	spec, err := a.recoverySpec(ctx, plan)
	if err != nil {
		return api.RecoveryProgress{}, err
	}
	r, err := a.Databases.Promote(ctx, spec)
	if err != nil {
		return api.RecoveryProgress{}, fmt.Errorf("restore into %s: promoting node %s: %w", plan.ClusterID, spec.NodeID, err)
	}
	if err := a.Catalog.SetNodeServer(ctx, plan.ClusterID, spec.NodeID, api.NodePrimary, r.Endpoint); err != nil {
		return api.RecoveryProgress{}, classify(err, "cluster "+plan.ClusterID)
	}
	a.log().Info("restored database promoted", zap.String("cluster", plan.ClusterID), zap.String("restore", plan.BackupID), zap.Int("timeline", r.Timeline))
	return progressOf(plan, r), nil
}

// StartReplicas copies every other node of the new cluster from its
// promoted primary and starts them, recording their servers.
func (a *Restores) StartReplicas(ctx context.Context, plan RestorePlan) error {
	if a.Databases == nil {
		return noDatabases(plan.ClusterID)
	}
	cl, err := a.Catalog.GetCluster(ctx, plan.ClusterID)
	if err != nil {
		return classify(err, "cluster "+plan.ClusterID)
	}
	stop := heartbeating(ctx)
	nodes, err := a.Databases.EnsureCluster(ctx, primaryFirst(ServerSpec(cl), plan.primaryNodeID()))
	stop()
	if err != nil {
		return fmt.Errorf("restore into %s: starting its replicas: %w", plan.ClusterID, err)
	}
	for _, n := range nodes {
		if err := a.Catalog.SetNodeServer(ctx, plan.ClusterID, n.ID, n.Role, n.Endpoint); err != nil {
			return classify(err, "cluster "+plan.ClusterID)
		}
	}
	return nil
}

// VerifyDatabase checks that the restored database answers: its catalog
// reads, and the restore's verify query runs (and does not answer false).
// A database that does not answer fails the restore; it is torn down.
func (a *Restores) VerifyDatabase(ctx context.Context, plan RestorePlan) error {
	if a.Databases == nil {
		return noDatabases(plan.ClusterID)
	}
	cl, err := a.Catalog.GetCluster(ctx, plan.ClusterID)
	if err != nil {
		return classify(err, "cluster "+plan.ClusterID)
	}
	pri, ok := nodeByID(cl, plan.primaryNodeID())
	if !ok || pri.Endpoint == "" {
		return permanent(api.ReasonRestoreFailed, "restore into %s: its primary has no server", plan.ClusterID)
	}
	if err := a.Databases.Verify(ctx, cl.ID, pri.Endpoint, plan.Recovery.VerifySQL); err != nil {
		return permanent(api.ReasonRestoreFailed, "restore into %s: the restored database failed its check: %v", plan.ClusterID, err)
	}
	return nil
}

// CheckRestoredServers waits for every server of the new cluster to be
// healthy (the replicas streaming), records it, and marks the cluster
// Running.
func (a *Restores) CheckRestoredServers(ctx context.Context, plan RestorePlan) (catalog.Cluster, error) {
	cl, err := a.Catalog.GetCluster(ctx, plan.ClusterID)
	if err != nil {
		return cl, classify(err, "cluster "+plan.ClusterID)
	}
	hs, err := probeServers(ctx, a.Databases, a.Catalog, cl, a.now())
	if err != nil {
		return cl, err
	}
	if bad := serverProblems(hs, 0); len(bad) > 0 {
		// Replicas catch up: retried within the step's window.
		return cl, fmt.Errorf("restored cluster %s: not healthy yet: %v", plan.ClusterID, bad)
	}
	if err := a.Catalog.SetClusterStatus(ctx, plan.ClusterID, catalog.ClusterRunning, ""); err != nil {
		return cl, classify(err, "cluster "+plan.ClusterID)
	}
	return a.restoredRunning(ctx, plan)
}

// StopServers stops the servers of a failed postgres restore (before its
// volumes are deleted) and forgets its password; idempotent.
func (a *Restores) StopServers(ctx context.Context, plan RestorePlan) error {
	if a.Databases == nil {
		return nil
	}
	cl, err := a.Catalog.GetCluster(ctx, plan.ClusterID)
	if catalog.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return classify(err, "cluster "+plan.ClusterID)
	}
	var spec postgres.ClusterSpec
	for _, n := range ServerSpec(cl).Nodes {
		if n.VolumeDir != "" {
			spec.Nodes = append(spec.Nodes, n)
		}
	}
	spec.ID = cl.ID
	if err := a.Databases.StopCluster(ctx, spec); err != nil {
		return fmt.Errorf("restore into %s: stopping its servers: %w", plan.ClusterID, err)
	}
	if plan.InPlace {
		return nil // the cluster keeps its password for its backups
	}
	return a.Databases.ForgetCluster(plan.ClusterID)
}

// nodeByID is a cluster's node by ID.
func nodeByID(cl catalog.Cluster, id string) (catalog.Node, bool) {
	for _, n := range cl.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return catalog.Node{}, false
}

// primaryFirst orders a cluster's servers so that the primary comes first
// (EnsureCluster makes the first node the primary).
func primaryFirst(spec postgres.ClusterSpec, primary string) postgres.ClusterSpec {
	for i, n := range spec.Nodes {
		if n.ID == primary && i > 0 {
			nodes := append([]postgres.NodeSpec{n}, spec.Nodes[:i]...)
			spec.Nodes = append(nodes, spec.Nodes[i+1:]...)
			break
		}
	}
	return spec
}

// CreateRestorePoint makes a named restore point on a postgres cluster's
// primary, switches WAL so that it is archived, and records it.
func (c *Clusters) CreateRestorePoint(ctx context.Context, req api.CreateRestorePointRequest) (api.RestorePoint, error) {
	cl, err := c.Catalog.GetCluster(ctx, req.ClusterID)
	if catalog.IsNotFound(err) {
		return api.RestorePoint{}, permanent(api.ReasonClusterNotFound, "cluster %s not found", req.ClusterID)
	}
	if err != nil {
		return api.RestorePoint{}, classify(err, "cluster "+req.ClusterID)
	}
	if !isPostgres(cl) {
		return api.RestorePoint{}, InvalidRequest("cluster %s is a %s cluster: restore points are for postgres clusters", cl.ID, api.EngineOf(cl.Engine))
	}
	if c.Databases == nil {
		return api.RestorePoint{}, noDatabases(cl.ID)
	}
	if p, err := c.Catalog.GetRestorePoint(ctx, cl.ID, req.Name); err == nil {
		return api.RestorePoint{}, InvalidRequest("cluster %s already has restore point %q (at %s): give another name", cl.ID, req.Name, p.LSN)
	}
	primary, ok := primaryOf(cl)
	if !ok {
		return api.RestorePoint{}, InvalidRequest("cluster %s has no primary", cl.ID)
	}
	lsn, tli, archived, err := c.Databases.CreateRestorePoint(ctx, cl.ID, primary.Endpoint, req.Name)
	if err != nil {
		return api.RestorePoint{}, permanent(api.ReasonInvalidState, "cluster %s: making restore point %q: %v", cl.ID, req.Name, err)
	}
	p := api.RestorePoint{ClusterID: cl.ID, Name: req.Name, LSN: lsn, Timeline: tli, Archived: archived, CreatedAt: c.now()}
	if err := c.Catalog.CreateRestorePoint(ctx, p); err != nil {
		if errors.Is(err, catalog.ErrExists) {
			return api.RestorePoint{}, InvalidRequest("cluster %s already has restore point %q: give another name", cl.ID, req.Name)
		}
		return api.RestorePoint{}, classify(err, "cluster "+cl.ID)
	}
	c.log().Info("restore point created", zap.String("cluster", cl.ID), zap.String("name", req.Name), zap.String("lsn", lsn), zap.Bool("archived", archived))
	return p, nil
}
