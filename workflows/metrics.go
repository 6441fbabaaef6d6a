package workflows

import (
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/metrics"
)

// Workflows record their metrics through the SDK's workflow metrics
// handler, which drops what a replay records again: a backup replayed on
// another worker, or after its cache entry was evicted, is still counted
// once.

func wfMetrics(ctx workflow.Context) client.MetricsHandler { return workflow.GetMetricsHandler(ctx) }

// opTags are the labels of an operation on a cluster at provider/region.
func opTags(provider, region, engine string) metrics.Tags {
	return metrics.Tags{metrics.LabelProvider: provider, metrics.LabelRegion: region, metrics.LabelEngine: api.EngineOf(engine)}
}

// with is tags plus more (tags is not changed).
func with(tags metrics.Tags, kv ...string) metrics.Tags {
	out := make(metrics.Tags, len(tags)+len(kv)/2)
	for k, v := range tags {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// since is the workflow time from t to now.
func since(ctx workflow.Context, t time.Time) time.Duration { return workflow.Now(ctx).Sub(t) }

// stepTimer measures one named step of a backup.
type stepTimer struct {
	ctx   workflow.Context
	tags  metrics.Tags
	step  string
	start time.Time
}

func (r *backupRun) startStep(ctx workflow.Context, step string) stepTimer {
	return stepTimer{ctx: ctx, tags: r.metricTags(), step: step, start: workflow.Now(ctx)}
}

// done records the step's duration.
func (t stepTimer) done() {
	metrics.Observe(wfMetrics(t.ctx), metrics.BackupStepDuration, with(t.tags, metrics.LabelStep, t.step), since(t.ctx, t.start))
}

func (r *backupRun) metricTags() metrics.Tags {
	return opTags(r.plan.Provider, r.plan.Region, r.plan.Engine)
}

// Backup steps (strata_backup_step_duration_seconds{step}).
const (
	stepLock       = "lock"
	stepHealth     = "health"
	stepSnapshot   = "snapshot"
	stepCompletion = "completion"
)

// countStarted counts a backup just recorded.
func (r *backupRun) countStarted(ctx workflow.Context) {
	r.recordedAt = workflow.Now(ctx)
	trigger := "manual"
	if scheduledBy(ctx) != "" {
		trigger = "scheduled"
	}
	h := wfMetrics(ctx)
	metrics.Inc(h, metrics.BackupsStarted, with(r.metricTags(), metrics.LabelTrigger, trigger), 1)
	metrics.DeclareOutcomes(h, metrics.BackupsFinished, r.metricTags(), string(api.BackupCompleted), string(api.BackupDefunct))
	metrics.Inc(h, metrics.LockContention, metrics.Tags{metrics.LabelProvider: r.plan.Provider, metrics.LabelRegion: r.plan.Region, metrics.LabelOperation: "backup"}, 0)
}

// countFinished counts a backup that ended, once it has a final status.
func (r *backupRun) countFinished(ctx workflow.Context) {
	if r.recordedAt.IsZero() || !r.progress.Status.Terminal() {
		return
	}
	h, tags := wfMetrics(ctx), r.metricTags()
	status := string(r.progress.Status)
	reason := ""
	if r.progress.Status != api.BackupCompleted {
		reason = metrics.Reason(api.ReasonCode(r.progress.Reason))
	}
	metrics.Inc(h, metrics.BackupsFinished, with(tags, metrics.LabelStatus, status, metrics.LabelReason, reason), 1)
	end := workflow.Now(ctx)
	if !r.completedAt.IsZero() {
		end = r.completedAt
	}
	metrics.Observe(h, metrics.BackupDuration, with(tags, metrics.LabelStatus, status), end.Sub(r.recordedAt))
	if reason == api.ReasonClusterLocked {
		metrics.Inc(h, metrics.LockContention, metrics.Tags{metrics.LabelProvider: r.plan.Provider, metrics.LabelRegion: r.plan.Region, metrics.LabelOperation: "backup"}, 1)
	}
	if r.progress.Status == api.BackupCompleted {
		var bytes int64
		for _, s := range r.progress.Snapshots {
			bytes += int64(s.SizeGB) << 30
		}
		pt := metrics.ProviderTags(r.plan.Provider, r.plan.Region)
		metrics.Inc(h, metrics.Snapshots, pt, int64(len(r.progress.Snapshots)))
		metrics.Inc(h, metrics.SnapshotBytes, pt, bytes)
	}
}

func (r *restoreRun) metricTags() metrics.Tags {
	return opTags(r.plan.Provider, r.plan.Region, r.plan.Engine)
}

func (r *restoreRun) countStarted(ctx workflow.Context) {
	r.recordedAt = workflow.Now(ctx)
	h := wfMetrics(ctx)
	metrics.Inc(h, metrics.RestoresStarted, r.metricTags(), 1)
	metrics.DeclareOutcomes(h, metrics.RestoresFinished, r.metricTags(), string(api.RestoreCompleted), string(api.RestoreFailed))
}

// countFinished counts a recorded restore that ended with err.
func (r *restoreRun) countFinished(ctx workflow.Context, err error) {
	if r.recordedAt.IsZero() {
		return
	}
	status, reason := string(api.RestoreCompleted), ""
	if err != nil {
		status = string(api.RestoreFailed)
		code, _ := reasonOf(ctx, err)
		reason = metrics.Reason(code)
	}
	h, tags := wfMetrics(ctx), r.metricTags()
	metrics.Inc(h, metrics.RestoresFinished, with(tags, metrics.LabelStatus, status, metrics.LabelReason, reason), 1)
	metrics.Observe(h, metrics.RestoreDuration, with(tags, metrics.LabelStatus, status), since(ctx, r.recordedAt))
}

// countDeletion counts a deletion that ended with err, started at start.
func countDeletion(ctx workflow.Context, start time.Time, err error) {
	status, reason := string(api.BackupDeleted), ""
	if err != nil {
		status = "Failed"
		code, _ := reasonOf(ctx, err)
		reason = metrics.Reason(code)
	}
	h := wfMetrics(ctx)
	metrics.Inc(h, metrics.DeletionsFinished, metrics.Tags{metrics.LabelStatus: status, metrics.LabelReason: reason}, 1)
	metrics.Observe(h, metrics.DeletionDuration, metrics.Tags{metrics.LabelStatus: status}, since(ctx, start))
}

// countPrune counts a prune's end (it started at start): Failed when it
// could not plan, Partial when some deletion failed, else Completed.
func countPrune(ctx workflow.Context, start time.Time, res api.PruneResult, err error) {
	status := "Completed"
	switch {
	case err != nil:
		status = "Failed"
	case len(res.Failed) > 0:
		status = "Partial"
	}
	h := wfMetrics(ctx)
	metrics.Inc(h, metrics.PrunesFinished, metrics.Tags{metrics.LabelStatus: status}, 1)
	metrics.Observe(h, metrics.PruneDuration, metrics.Tags{metrics.LabelStatus: status}, since(ctx, start))
	metrics.Inc(h, metrics.PrunedBackups, nil, int64(len(res.Deleted)))
}

// countReconcile counts what a reconciliation found and, when applied,
// fixed.
func countReconcile(ctx workflow.Context, plan api.ReconcilePlan, applied bool) {
	h := wfMetrics(ctx)
	for _, o := range plan.Orphans {
		provider, region, _ := strings.Cut(o.Provider, "/")
		tags := with(metrics.ProviderTags(provider, region), metrics.LabelOwner, o.Owner)
		metrics.Inc(h, metrics.ReconcileOrphansFound, tags, 1)
		if applied {
			metrics.Inc(h, metrics.ReconcileOrphansDeleted, tags, 1)
		}
	}
	if !applied {
		return
	}
	metrics.Inc(h, metrics.ReconcileMissing, nil, int64(len(plan.Missing)))
	// A run whose workflow was terminated never counted its end; the
	// reconciler has finished its record now.
	terminated := metrics.Tags{metrics.LabelReason: api.ReasonTerminated}
	for _, s := range plan.Stuck {
		switch s.Kind {
		case api.StuckBackup:
			metrics.Inc(h, metrics.BackupsFinished, with(terminated, metrics.LabelStatus, string(api.BackupDefunct)), 1)
		case api.StuckRestore:
			metrics.Inc(h, metrics.RestoresFinished, with(terminated, metrics.LabelStatus, string(api.RestoreFailed)), 1)
		case api.StuckDeletion:
			metrics.Inc(h, metrics.DeletionsFinished, with(terminated, metrics.LabelStatus, "Failed"), 1)
		}
	}
}
