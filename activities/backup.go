package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/labels"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/providers"
)

// Backups are the steps of a backup: validate, record, lock, check health,
// snapshot, complete, and their compensations.
type Backups struct {
	Common
	Catalog   BackupCatalog
	Providers providers.Registry
	Config    Config
	// Databases check postgres clusters' servers (nil: none here).
	Databases DatabaseServers
}

// BackupCatalog is the part of the catalog a backup uses.
type BackupCatalog interface {
	catalog.Clusters
	catalog.Locks
	catalog.Backups
	catalog.Jobs
	catalog.Projects
	catalog.Profiles
}

// ValidateBackupInput is the request as the workflow received it, and what
// the workflow knows of how it was started.
type ValidateBackupInput struct {
	ClusterID string
	Label     string
	Timeout   time.Duration
	JobID     string
	RequestID string
	// WorkflowID is the backup's workflow ID.
	WorkflowID string
	// ScheduledBy is the TemporalScheduledById search attribute the
	// server sets on runs a Temporal Schedule starts ("" otherwise).
	ScheduledBy string
}

// BackupPlan is a validated request with every default resolved: what the
// rest of the saga runs on.
type BackupPlan struct {
	ClusterID     string
	Provider      string
	Region        string
	ProjectID     string
	LabelTemplate string
	Timeout       time.Duration
	// MaxTimeout bounds extensions of Timeout (zero: not bounded, as for
	// backups planned before it existed).
	MaxTimeout       time.Duration
	LockTTL          time.Duration
	PollInterval     time.Duration
	HeartbeatTimeout time.Duration
	MaxLag           time.Duration
	ProgressStep     int
	Volumes          []catalog.Volume
	// Engine is the cluster's: a postgres cluster's snapshots are taken
	// in backup mode.
	Engine string
}

// ValidateBackup checks a request before anything is created, so that bad
// input fails at once with an error that says what to fix and leaves no
// record behind: every field's bound, the cluster, the label as it renders
// for that cluster, and a job's claim to the run.
func (a *Backups) ValidateBackup(ctx context.Context, in ValidateBackupInput) (BackupPlan, error) {
	req := validate.Backup{ClusterID: in.ClusterID, Label: in.Label, Timeout: in.Timeout, JobID: in.JobID, RequestID: in.RequestID}
	if err := req.Check(a.Config.Limits()); err != nil {
		return BackupPlan{}, InvalidRequest("%v", err)
	}
	cl, err := a.Catalog.GetCluster(ctx, in.ClusterID)
	if err != nil {
		return BackupPlan{}, classify(err, "backup request")
	}
	if in.JobID != "" {
		if err := a.checkJobRun(ctx, in, cl); err != nil {
			return BackupPlan{}, err
		}
	}
	if err := a.checkPower(ctx, in, cl); err != nil {
		return BackupPlan{}, err
	}
	if _, err := a.Providers.For(cl.Provider, cl.Region); err != nil {
		return BackupPlan{}, InvalidRequest("cluster %s: %v", cl.ID, err)
	}
	vols := cl.Volumes()
	if len(vols) == 0 {
		return BackupPlan{}, InvalidRequest("cluster %s has no volumes to back up", cl.ID)
	}
	tmpl := labels.MustParse(in.Label)
	if msg := validate.RenderedLabel(tmpl, labels.Vars{ClusterID: cl.ID, ClusterDescription: cl.Description, Provider: cl.Provider}); msg != "" {
		return BackupPlan{}, InvalidRequest("invalid backup request: %s", msg)
	}
	timeout := in.Timeout
	if timeout == 0 {
		timeout = a.Config.DefaultBackupTimeout
	}
	return BackupPlan{
		ClusterID:        cl.ID,
		Provider:         cl.Provider,
		Region:           cl.Region,
		ProjectID:        cl.ProjectID,
		LabelTemplate:    tmpl.String(),
		Timeout:          timeout,
		MaxTimeout:       a.Config.Limits().BackupTimeout(),
		LockTTL:          a.Config.LockTTL,
		PollInterval:     a.Config.PollInterval,
		HeartbeatTimeout: a.Config.HeartbeatTimeout,
		MaxLag:           a.Config.MaxReplicationLag,
		ProgressStep:     a.Config.ProgressStep,
		Volumes:          vols,
		Engine:           api.EngineOf(cl.Engine),
	}, nil
}

// checkPower refuses a backup of a cluster whose profile takes none, and a
// manual backup of a cluster that is not running (a scheduled one goes on
// and ends Defunct ClusterPoweredOff at its health check, so that its job
// shows the run and prunes it). A power-off's final backup is the one
// backup of a cluster powering off.
func (a *Backups) checkPower(ctx context.Context, in ValidateBackupInput, cl catalog.Cluster) error {
	if cl.Status == catalog.ClusterDeleted {
		return permanent(api.ReasonClusterNotFound, "cluster %s was deleted", cl.ID)
	}
	if cl.Profile != "" {
		if p, err := ResolveProfile(ctx, a.Catalog, cl.Profile); err == nil && p.NoBackups {
			return permanent(api.ReasonNoBackups, "cluster %s is on profile %s, which takes no backups: move it to a profile with backups (`starter cluster set-profile %s PROFILE`)", cl.ID, cl.Profile, cl.ID)
		}
	}
	if in.JobID != "" || powerAdmits(cl, in.WorkflowID) {
		return nil
	}
	return permanent(api.ReasonClusterPoweredOff, "cluster %s is %s: it has no volumes to back up until it is powered on (`starter cluster power-on %s`)", cl.ID, cl.Power, cl.ID)
}

// powerAdmits reports whether a cluster's power lets the backup of this
// workflow run: a running cluster any backup, a cluster powering off only
// its power-off's final backup.
func powerAdmits(cl catalog.Cluster, workflowID string) bool {
	switch cl.Power {
	case "", api.PowerRunning:
		return true
	case api.PowerPoweringOff:
		return api.IsFinalBackupOf(workflowID, cl.ID)
	}
	return false
}

// checkJobRun admits a backup that names a job only when that job's own
// Temporal Schedule started it, for the job's own cluster: a job's prune
// deletes the job's backups, so a run that could claim any job could make
// another cluster's retention delete real backups.
func (a *Backups) checkJobRun(ctx context.Context, in ValidateBackupInput, cl catalog.Cluster) error {
	job, err := a.Catalog.GetJob(ctx, in.JobID)
	if catalog.IsNotFound(err) {
		return InvalidRequest("invalid backup request: job %s not found", in.JobID)
	}
	if err != nil {
		return classify(err, "job "+in.JobID)
	}
	manual := "; start a manual backup without jobId"
	switch {
	case job.DeletedAt != nil:
		return InvalidRequest("invalid backup request: job %s was deleted%s", job.ID, manual)
	case job.ClusterID != cl.ID:
		return InvalidRequest("invalid backup request: job %s backs up cluster %s, not %s%s", job.ID, job.ClusterID, cl.ID, manual)
	case api.IsFinalBackupOf(in.WorkflowID, cl.ID) && cl.Power == api.PowerPoweringOff:
		// A power-off's final backup counts for the cluster's job, so that
		// its retention prunes it once the cluster runs again.
	case in.ScheduledBy != job.ScheduleID || !strings.HasPrefix(in.WorkflowID, api.JobRunWorkflowIDPrefix(job.ID)):
		return InvalidRequest("invalid backup request: only job %s's own Temporal Schedule (%s) may start a backup that names it%s", job.ID, job.ScheduleID, manual)
	}
	return nil
}

// CreateBackupRecordInput creates the Pending record.
type CreateBackupRecordInput struct {
	BackupID      string
	ClusterID     string
	JobID         string
	RequestID     string
	WorkflowID    string
	LabelTemplate string
	CreatedAt     time.Time
}

// CreateBackupRecord inserts the backup as Pending with the cluster's next
// index and its rendered label. A retry, or a workflow re-run under the same
// ID, gets the existing record back.
func (a *Backups) CreateBackupRecord(ctx context.Context, in CreateBackupRecordInput) (catalog.Backup, error) {
	tmpl, err := labels.Parse(in.LabelTemplate)
	if err != nil {
		return catalog.Backup{}, permanent(api.ReasonInvalidRequest, "label template %q: %v", in.LabelTemplate, err)
	}
	cl, err := a.Catalog.GetCluster(ctx, in.ClusterID)
	if err != nil {
		return catalog.Backup{}, classify(err, "backup "+in.BackupID)
	}
	b, created, err := a.Catalog.CreateBackup(ctx, catalog.NewBackup{
		ID: in.BackupID, ClusterID: in.ClusterID, JobID: in.JobID, RequestID: in.RequestID,
		WorkflowID: in.WorkflowID, CreatedAt: in.CreatedAt,
		Label: func(index int64) (string, error) {
			label := tmpl.Render(labels.Vars{Index: index, ClusterID: cl.ID, ClusterDescription: cl.Description, Provider: cl.Provider, Time: in.CreatedAt})
			if n := utf8.RuneCountInString(label); n > validate.MaxLabelLen {
				// Validation bounds it first; this keeps a cluster whose
				// description changed since from storing a long label.
				return "", InvalidRequest("label of backup %s renders to %d characters: at most %d", in.BackupID, n, validate.MaxLabelLen)
			}
			return label, nil
		},
	})
	if err != nil {
		return catalog.Backup{}, classify(err, "backup "+in.BackupID)
	}
	if created {
		a.log().Info("backup record created", zap.String("backup", b.ID), zap.String("cluster", b.ClusterID), zap.String("label", b.Label), zap.Int64("index", b.Index))
	}
	return b, nil
}

// LockInput names a cluster lease.
type LockInput struct {
	ClusterID string
	Holder    string
	TTL       time.Duration
}

// AcquireLock takes the cluster's lease, failing at once (not retried) when
// another operation holds it.
func (a *Backups) AcquireLock(ctx context.Context, in LockInput) (catalog.Lock, error) {
	l, err := a.Catalog.AcquireLock(ctx, in.ClusterID, in.Holder, in.TTL)
	if err != nil {
		return catalog.Lock{}, classify(err, "cluster "+in.ClusterID)
	}
	return l, nil
}

// ReleaseInput names the lease to free by its fencing token.
type ReleaseInput struct {
	ClusterID string
	Token     int64
}

// ReleaseLock frees the lease if it is still ours; releasing a lease that
// lapsed and was taken by someone else frees nothing.
func (a *Backups) ReleaseLock(ctx context.Context, in ReleaseInput) error {
	return classify(a.Catalog.ReleaseLock(ctx, in.ClusterID, in.Token), "cluster "+in.ClusterID)
}

// HealthInput asks whether a cluster can be backed up now.
type HealthInput struct {
	ClusterID string
	MaxLag    time.Duration
}

// HealthResult names the node a restore to fewer nodes should use.
type HealthResult struct {
	PreferredNodeID string
}

// CheckHealth fails, not retried, when any node is unhealthy or lags more
// than allowed, naming every such node. A postgres cluster's health is
// what its servers answer now; a volume cluster's is what the catalog says.
func (a *Backups) CheckHealth(ctx context.Context, in HealthInput) (HealthResult, error) {
	cl, err := a.Catalog.GetCluster(ctx, in.ClusterID)
	if err != nil {
		return HealthResult{}, classify(err, "cluster "+in.ClusterID)
	}
	wf := ""
	if activity.IsActivity(ctx) {
		wf = activity.GetInfo(ctx).WorkflowExecution.ID
	}
	if !powerAdmits(cl, wf) {
		return HealthResult{}, permanent(api.ReasonClusterPoweredOff, "cluster %s is %s: nothing to back up until it is powered on", cl.ID, cl.Power)
	}
	if isPostgres(cl) {
		if a.Databases == nil {
			return HealthResult{}, permanent(api.ReasonClusterUnhealthy, "cluster %s runs PostgreSQL and this worker cannot reach its servers (no PostgreSQL here)", cl.ID)
		}
		hs, err := probeServers(ctx, a.Databases, a.Catalog, cl, a.now())
		if err != nil {
			return HealthResult{}, err
		}
		if bad := serverProblems(hs, in.MaxLag); len(bad) > 0 {
			return HealthResult{}, permanent(api.ReasonClusterUnhealthy, "cluster %s has unhealthy nodes: %s", cl.ID, strings.Join(bad, ", "))
		}
		return HealthResult{PreferredNodeID: preferredServer(hs)}, nil
	}
	var bad []string
	preferred := ""
	bestLag := -1.0
	for _, n := range cl.Nodes {
		switch {
		case !n.Healthy:
			bad = append(bad, n.ID+" (unhealthy)")
		case in.MaxLag > 0 && n.ReplicationLagSeconds != nil && *n.ReplicationLagSeconds > in.MaxLag.Seconds():
			bad = append(bad, fmt.Sprintf("%s (replication lag %.1fs > %s)", n.ID, *n.ReplicationLagSeconds, in.MaxLag))
		default:
			// The most up-to-date node is the best restore source; a node
			// that reports no lag (a primary) beats any replica.
			lag := 0.0
			if n.ReplicationLagSeconds != nil {
				lag = *n.ReplicationLagSeconds
			}
			if preferred == "" || lag < bestLag {
				preferred, bestLag = n.ID, lag
			}
		}
	}
	if len(bad) > 0 {
		return HealthResult{}, permanent(api.ReasonClusterUnhealthy, "cluster %s has unhealthy nodes: %s", cl.ID, strings.Join(bad, ", "))
	}
	return HealthResult{PreferredNodeID: preferred}, nil
}

// LockRef is the cluster lease a backup's writes are fenced by: each write
// happens only while LockToken is the cluster's current lease (and extends
// it by LockTTL), else it fails LockLost. A zero token (an activity
// scheduled before fencing existed) writes unfenced.
type LockRef struct {
	ClusterID string
	LockToken int64
	LockTTL   time.Duration
}

func (l LockRef) fence() *catalog.Fence {
	if l.LockToken == 0 {
		return nil
	}
	return &catalog.Fence{ClusterID: l.ClusterID, Token: l.LockToken, TTL: l.LockTTL}
}

// MarkInProgressInput starts the snapshot phase of a backup.
type MarkInProgressInput struct {
	BackupID        string
	Deadline        time.Time
	PreferredNodeID string
	LockRef
}

// MarkInProgress moves the backup from Pending to InProgress and records its
// deadline.
func (a *Backups) MarkInProgress(ctx context.Context, in MarkInProgressInput) error {
	d := in.Deadline
	_, err := a.Catalog.TransitionBackup(ctx, in.BackupID, catalog.Transition{
		To: catalog.BackupInProgress, From: []catalog.BackupStatus{catalog.BackupPending},
		At: a.now(), Deadline: &d, PreferredNodeID: in.PreferredNodeID, Fence: in.fence(),
	})
	return classify(err, "backup "+in.BackupID)
}

// RecordDeadlineInput moves a running backup's recorded deadline.
type RecordDeadlineInput struct {
	BackupID string
	Deadline time.Time
	LockRef
}

// RecordDeadline records an extended deadline, so `backup show` agrees with
// the workflow.
func (a *Backups) RecordDeadline(ctx context.Context, in RecordDeadlineInput) error {
	d := in.Deadline
	_, err := a.Catalog.TransitionBackup(ctx, in.BackupID, catalog.Transition{
		To: catalog.BackupInProgress, At: a.now(), Deadline: &d, Fence: in.fence(),
	})
	return classify(err, "backup "+in.BackupID)
}

// SnapshotsInput names a backup's volumes at its provider.
type SnapshotsInput struct {
	BackupID string
	Provider string
	Region   string
	Volumes  []catalog.Volume
	// LockRef names the cluster and fences the snapshot records.
	LockRef
}

// StartSnapshots starts a snapshot of every volume in parallel and records
// each snapshot ID the moment it exists. Providers make starting idempotent
// per (backup, volume), so a retry adopts what an earlier attempt started.
func (a *Backups) StartSnapshots(ctx context.Context, in SnapshotsInput) (_ []catalog.Snapshot, err error) {
	p, err := a.Providers.For(in.Provider, in.Region)
	if err != nil {
		return nil, permanent(api.ReasonInvalidRequest, "backup %s: %v", in.BackupID, err)
	}
	// A cloud may take as long as the snapshot itself to answer (GCE's
	// insert operation): the lease must not lapse meanwhile.
	defer heartbeating(ctx)()
	ctx, release := a.keepLease(ctx, in.LockRef)
	defer func() {
		if lost := release(); lost != nil {
			err = lost
		}
	}()
	out := make([]catalog.Snapshot, len(in.Volumes))
	err = fanOut(len(in.Volumes), 0, func(i int) error {
		v := in.Volumes[i]
		s, err := p.StartSnapshot(ctx, providers.SnapshotSpec{
			BackupID: in.BackupID, ClusterID: in.ClusterID, NodeID: v.NodeID, VolumeID: v.ID,
			VolumeRef: v.Path, Zone: v.Zone, SizeGB: v.SizeGB,
		})
		if err != nil {
			return classify(err, fmt.Sprintf("volume %s of backup %s", v.ID, in.BackupID))
		}
		out[i] = toCatalog(s, v)
		return classify(a.Catalog.UpsertSnapshots(ctx, in.BackupID, []catalog.Snapshot{out[i]}, in.fence()), "backup "+in.BackupID)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// keepLease renews ref's lease every quarter of its TTL until release is
// called. A lease found lost (it lapsed and someone else holds the lock)
// cancels the returned context, so the activity stops at once, and release
// returns LockLost. A zero token holds no lease: nothing to renew.
func (a *Backups) keepLease(ctx context.Context, ref LockRef) (context.Context, func() error) {
	if ref.LockToken == 0 || ref.LockTTL <= 0 {
		return ctx, func() error { return nil }
	}
	ctx, cancel := context.WithCancel(ctx)
	var lost error
	stop := repeat(ctx, ref.LockTTL/4, false, func() bool {
		if _, err := a.Catalog.RenewLock(ctx, ref.ClusterID, ref.LockToken, ref.LockTTL); errors.Is(err, catalog.ErrLockLost) {
			lost = classify(err, "cluster "+ref.ClusterID)
			cancel()
			return false
		}
		return true
	})
	return ctx, func() error {
		stop()
		cancel()
		return lost
	}
}

// repeat calls fn every interval (and at once when first) until fn returns
// false, ctx ends or the returned stop is called; stop returns once fn is
// not running.
func repeat(ctx context.Context, interval time.Duration, first bool, fn func() bool) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(interval)
		defer t.Stop()
		if first && !fn() {
			return
		}
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !fn() {
				return
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// WaitSnapshotsInput is the state the wait resumes from.
type WaitSnapshotsInput struct {
	BackupID  string
	Provider  string
	Region    string
	Snapshots []catalog.Snapshot
	// LockRef is the lease the wait renews and fences its records by.
	LockRef
	PollInterval time.Duration
	ProgressStep int
	// Until is the backup's deadline (zero: none): the wait returns there
	// by itself, Expired, so that a backup that timed out does not wait a
	// heartbeat interval for its cancelled wait to notice.
	Until time.Time
}

// WaitSnapshotsResult is the snapshots' state when the wait returns.
type WaitSnapshotsResult struct {
	Snapshots []catalog.Snapshot
	// Done is true when every snapshot completed.
	Done bool
	// Expired is true when the wait returned at its Until.
	Expired bool
}

// WaitSnapshots polls the provider for all of a backup's snapshots in one
// call per interval, records progress, heartbeats, and renews the cluster
// lease. It returns when all completed; with a positive ProgressStep also
// early when a snapshot completed or crossed a ProgressStep boundary, so the
// workflow can show progress at a bounded number of history events. A
// failed or vanished snapshot fails it, not retried.
func (a *Backups) WaitSnapshots(ctx context.Context, in WaitSnapshotsInput) (res WaitSnapshotsResult, err error) {
	p, err := a.Providers.For(in.Provider, in.Region)
	if err != nil {
		return WaitSnapshotsResult{}, permanent(api.ReasonInvalidRequest, "backup %s: %v", in.BackupID, err)
	}
	ctx, release := a.keepLease(ctx, in.LockRef)
	defer func() {
		if lost := release(); lost != nil {
			res, err = WaitSnapshotsResult{}, lost
		}
	}()
	snaps := append([]catalog.Snapshot(nil), in.Snapshots...)
	interval := in.PollInterval
	if interval <= 0 {
		interval = time.Second
	}
	// Polls start fast and back off to the interval: a snapshot that takes
	// a moment is seen within a moment, and one that takes minutes costs
	// four extra polls, not hundreds of waits polling flat out.
	wait := firstPollWait(interval)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		changed, reportable, err := a.pollOnce(ctx, p, in, snaps)
		if err != nil {
			return WaitSnapshotsResult{}, err
		}
		if len(changed) > 0 {
			err := a.Catalog.UpsertSnapshots(ctx, in.BackupID, changed, in.fence())
			if errors.Is(err, catalog.ErrLockLost) {
				return WaitSnapshotsResult{}, classify(err, "cluster "+in.ClusterID)
			}
			if err != nil {
				a.log().Warn("recording snapshot progress failed; will retry", zap.String("backup", in.BackupID), zap.Error(err))
			}
		}
		activity.RecordHeartbeat(ctx, progressSummary(snaps))
		if allCompleted(snaps) {
			return WaitSnapshotsResult{Snapshots: snaps, Done: true}, nil
		}
		if reportable {
			return WaitSnapshotsResult{Snapshots: snaps}, nil
		}
		if !in.Until.IsZero() && !a.now().Before(in.Until) {
			return WaitSnapshotsResult{Snapshots: snaps, Expired: true}, nil
		}
		select {
		case <-ctx.Done():
			return WaitSnapshotsResult{}, ctx.Err()
		case <-timer.C:
		}
		wait = min(2*wait, interval)
		if !in.Until.IsZero() {
			wait = max(min(wait, in.Until.Sub(a.now())), time.Millisecond)
		}
		timer.Reset(wait)
	}
}

// firstPollWait is the wait before the second poll: a sixteenth of the
// interval (at least 10ms), doubling up to the interval from there.
func firstPollWait(interval time.Duration) time.Duration {
	return min(interval, max(interval/16, 10*time.Millisecond))
}

// pollOnce reads every unfinished snapshot in one provider call and updates
// snaps in place. It returns the snapshots that changed, and whether a
// change is worth reporting to the workflow.
func (a *Backups) pollOnce(ctx context.Context, p providers.Provider, in WaitSnapshotsInput, snaps []catalog.Snapshot) ([]catalog.Snapshot, bool, error) {
	var ids []string
	for _, s := range snaps {
		if s.Status == catalog.SnapshotPending {
			ids = append(ids, s.SnapshotID)
		}
	}
	if len(ids) == 0 {
		return nil, false, nil
	}
	got, err := p.GetSnapshots(ctx, ids)
	if err != nil {
		if pe, ok := providers.AsError(err); ok && pe.Retryable() {
			// Throttling or a passing fault: the next tick tries again, and
			// the heartbeat keeps the activity alive meanwhile.
			a.log().Info("snapshot status poll failed; retrying", zap.String("backup", in.BackupID), zap.Error(err))
			return nil, false, nil
		}
		return nil, false, classify(err, "backup "+in.BackupID)
	}
	byID := make(map[string]providers.Snapshot, len(got))
	for _, s := range got {
		byID[s.ID] = s
	}
	var changed []catalog.Snapshot
	reportable := false
	for i := range snaps {
		s := &snaps[i]
		if s.Status != catalog.SnapshotPending {
			continue
		}
		ps, ok := byID[s.SnapshotID]
		if !ok {
			s.Status, s.Error = catalog.SnapshotFailed, "snapshot no longer exists at the provider"
			_ = a.Catalog.UpsertSnapshots(ctx, in.BackupID, []catalog.Snapshot{*s}, in.fence())
			return nil, false, permanent(api.ReasonSnapshotMissing, "snapshot %s of volume %s (backup %s) disappeared at provider %s before it completed", s.SnapshotID, s.VolumeID, in.BackupID, in.Provider)
		}
		next := *s
		next.Status, next.Progress, next.Error = mapState(ps.State), ps.Progress, ps.Error
		if ps.SizeGB > 0 {
			next.SizeGB = ps.SizeGB
		}
		if next == *s {
			continue
		}
		if in.ProgressStep > 0 && (next.Status != s.Status || crossed(s.Progress, next.Progress, in.ProgressStep)) {
			reportable = true
		}
		*s = next
		changed = append(changed, next)
		if next.Status == catalog.SnapshotFailed {
			_ = a.Catalog.UpsertSnapshots(ctx, in.BackupID, changed, in.fence())
			return nil, false, permanent(api.ReasonSnapshotFailed, "snapshot %s of volume %s (node %s, backup %s) failed at provider %s: %s", s.SnapshotID, s.VolumeID, s.NodeID, in.BackupID, in.Provider, ps.Error)
		}
	}
	return changed, reportable, nil
}

// crossed reports whether progress moved past a multiple of step.
func crossed(from, to, step int) bool {
	return step > 0 && to/step > from/step
}

func allCompleted(snaps []catalog.Snapshot) bool {
	for _, s := range snaps {
		if s.Status != catalog.SnapshotCompleted {
			return false
		}
	}
	return true
}

// progressSummary is the heartbeat detail: small, since heartbeat details
// are stored with the activity.
func progressSummary(snaps []catalog.Snapshot) map[string]int {
	out := make(map[string]int, len(snaps))
	for _, s := range snaps {
		out[s.VolumeID] = s.Progress
	}
	return out
}

// CompleteInput finishes a backup.
type CompleteInput struct {
	BackupID  string
	Snapshots []catalog.Snapshot
	LockRef
}

// CompleteBackup records the final snapshots and moves the backup to
// Completed, both only while the backup still holds its cluster's lock.
func (a *Backups) CompleteBackup(ctx context.Context, in CompleteInput) (catalog.Backup, error) {
	if err := a.Catalog.UpsertSnapshots(ctx, in.BackupID, in.Snapshots, in.fence()); err != nil {
		if errors.Is(err, catalog.ErrLockLost) {
			// Run again after it succeeded and the lock was released (a
			// local activity whose workflow task failed): the backup is
			// Completed already.
			if b, gerr := a.Catalog.GetBackup(ctx, in.BackupID); gerr == nil && b.Status == catalog.BackupCompleted {
				return b, nil
			}
		}
		return catalog.Backup{}, classify(err, "backup "+in.BackupID)
	}
	b, err := a.Catalog.TransitionBackup(ctx, in.BackupID, catalog.Transition{
		To: catalog.BackupCompleted, From: []catalog.BackupStatus{catalog.BackupInProgress}, At: a.now(), Fence: in.fence(),
	})
	if err != nil {
		return catalog.Backup{}, classify(err, "backup "+in.BackupID)
	}
	a.log().Info("backup completed", zap.String("backup", b.ID), zap.String("cluster", b.ClusterID), zap.Int("snapshots", len(b.Snapshots)))
	return b, nil
}

// MarkDefunctInput fails a backup.
type MarkDefunctInput struct {
	BackupID  string
	ClusterID string
	Provider  string
	Region    string
	Reason    string
}

// MarkDefunct records every snapshot the backup created, including ones
// whose start response was lost (found at the provider by their backup tag),
// and moves the backup to Defunct with its reason. Those snapshots may still
// complete and cost money, so they must be on the record for cleanup.
func (a *Backups) MarkDefunct(ctx context.Context, in MarkDefunctInput) (catalog.Backup, error) {
	if in.Provider != "" {
		if p, err := a.Providers.For(in.Provider, in.Region); err == nil {
			found, err := p.ListSnapshots(ctx, providers.SnapshotFilter{BackupID: in.BackupID})
			if err != nil {
				return catalog.Backup{}, classify(err, "backup "+in.BackupID)
			}
			if len(found) > 0 {
				cur, err := a.Catalog.GetBackup(ctx, in.BackupID)
				if err != nil {
					return catalog.Backup{}, classify(err, "backup "+in.BackupID)
				}
				known := map[string]catalog.Snapshot{}
				for _, s := range cur.Snapshots {
					known[s.VolumeID] = s
				}
				var add []catalog.Snapshot
				for _, s := range found {
					cs := toCatalog(s, catalog.Volume{ID: s.VolumeID, NodeID: s.NodeID})
					if k, ok := known[s.VolumeID]; !ok || k.Status != cs.Status || k.Progress != cs.Progress {
						add = append(add, cs)
					}
				}
				sort.Slice(add, func(i, j int) bool { return add[i].VolumeID < add[j].VolumeID })
				if err := a.Catalog.UpsertSnapshots(ctx, in.BackupID, add, nil); err != nil {
					return catalog.Backup{}, classify(err, "backup "+in.BackupID)
				}
			}
		}
	}
	b, err := a.Catalog.TransitionBackup(ctx, in.BackupID, catalog.Transition{
		To: catalog.BackupDefunct, From: []catalog.BackupStatus{catalog.BackupPending, catalog.BackupInProgress},
		Reason: in.Reason, At: a.now(),
	})
	var te *catalog.TransitionError
	if errors.As(err, &te) {
		// Already Completed: a compensation must never undo a success.
		return a.Catalog.GetBackup(ctx, in.BackupID)
	}
	if err != nil {
		return catalog.Backup{}, classify(err, "backup "+in.BackupID)
	}
	logAt := a.log().Warn
	if code := api.ReasonCode(in.Reason); code == api.ReasonClusterLocked || code == api.ReasonCancelled {
		logAt = a.log().Info // expected: another operation held the cluster, or someone cancelled
	}
	logAt("backup defunct", zap.String("backup", b.ID), zap.String("cluster", b.ClusterID), zap.String("reason", in.Reason), zap.Int("snapshots", len(b.Snapshots)))
	return b, nil
}

func toCatalog(s providers.Snapshot, v catalog.Volume) catalog.Snapshot {
	size := s.SizeGB
	if size == 0 {
		size = v.SizeGB
	}
	node := v.NodeID
	if node == "" {
		node = s.NodeID
	}
	return catalog.Snapshot{
		NodeID: node, VolumeID: v.ID, SnapshotID: s.ID, Status: mapState(s.State),
		Progress: s.Progress, SizeGB: size, Error: s.Error,
	}
}

func mapState(s providers.SnapshotState) catalog.SnapshotStatus {
	switch s {
	case providers.StateCompleted:
		return catalog.SnapshotCompleted
	case providers.StateFailed:
		return catalog.SnapshotFailed
	}
	return catalog.SnapshotPending
}
