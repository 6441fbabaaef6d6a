package e2e

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/starter/strata"
)

func newJob(t *testing.T, e *stratatest.Env, spec strata.JobSpec) api.JobView {
	t.Helper()
	if spec.Every == 0 {
		spec.Every = time.Hour
	}
	v, err := e.Strata.CreateJob(ctxT(t), spec)
	require.NoError(t, err)
	// Gone with the test, so it never fires later; straight at Temporal,
	// since the test may have stopped every worker by then.
	t.Cleanup(func() {
		_ = server.Client.ScheduleClient().GetHandle(context.Background(), v.ScheduleID).Delete(context.Background())
	})
	return v
}

// triggerAndWait runs the job once and waits until the run (backup, then
// prune) has finished, as the schedule reports it.
func triggerAndWait(t *testing.T, e *stratatest.Env, jobID string) {
	t.Helper()
	ctx := ctxT(t)
	before, err := e.Strata.GetJob(ctx, jobID)
	require.NoError(t, err)
	// A scheduled run's workflow ID ends in its start time to the second,
	// so a second trigger within the same second is the same run (and the
	// same backup). Trigger in a new second.
	if n := len(before.Schedule.RecentRuns); n > 0 {
		last := before.Schedule.RecentRuns[n-1].StartedAt.Truncate(time.Second)
		stratatest.Eventually(t, 3*time.Second, "a new second", func() bool { return time.Now().Truncate(time.Second).After(last) })
	}
	require.NoError(t, e.Strata.TriggerJob(ctx, jobID))
	stratatest.Eventually(t, time.Minute, "run of job "+jobID+" to finish", func() bool {
		v, err := e.Strata.GetJob(ctx, jobID)
		return err == nil && v.Schedule.Runs == before.Schedule.Runs+1 && len(v.Schedule.Running) == 0
	})
}

// jobBackups returns the job's backups by status, newest first.
func jobBackups(t *testing.T, e *stratatest.Env, jobID string) map[catalog.BackupStatus][]catalog.Backup {
	t.Helper()
	bs, err := e.Catalog.ListBackups(context.Background(), catalog.BackupFilter{JobID: jobID, IncludeDeleted: true})
	require.NoError(t, err)
	out := map[catalog.BackupStatus][]catalog.Backup{}
	for _, b := range bs {
		out[b.Status] = append(out[b.Status], b)
	}
	return out
}

func ids(bs []catalog.Backup) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.ID)
	}
	sort.Strings(out)
	return out
}

func TestScheduledJobKeepsNewestN(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 2})
	manual, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = manual.Wait(ctx)
	require.NoError(t, err)

	job := newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Label: "hourly-{index}", Retention: api.Retention{KeepLast: 2}})
	for range 4 {
		triggerAndWait(t, e, job.ID)
	}
	got := jobBackups(t, e, job.ID)
	require.Len(t, got[catalog.BackupCompleted], 2, "keeps exactly N")
	require.Len(t, got[catalog.BackupDeleted], 2)
	assert.Equal(t, "hourly-5", got[catalog.BackupCompleted][0].Label, "the newest are kept")
	assert.Equal(t, "hourly-4", got[catalog.BackupCompleted][1].Label)
	for _, b := range got[catalog.BackupDeleted] {
		for _, s := range b.Snapshots {
			assert.Equal(t, catalog.SnapshotDeleted, s.Status)
		}
		atProvider, err := e.Local.ListSnapshots(ctx, providers.SnapshotFilter{BackupID: b.ID})
		require.NoError(t, err)
		assert.Empty(t, atProvider, "a pruned backup's snapshots are gone at the provider")
	}
	m, err := e.Catalog.GetBackup(ctx, manual.BackupID)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupCompleted, m.Status, "manual backups are never pruned")
	newest := got[catalog.BackupCompleted][0]
	recordHistory(t, newest.WorkflowID, "backup_scheduled_with_prune")
	recordHistory(t, newest.WorkflowID+"-prune", "prune")

	// Deleted backups are hidden unless asked for.
	visible, err := e.Catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: cl.ID})
	require.NoError(t, err)
	assert.Len(t, visible, 3)

	v, err := e.Strata.GetJob(ctx, job.ID)
	require.NoError(t, err)
	assert.Equal(t, 4, v.Schedule.Runs)
	require.NotEmpty(t, v.Schedule.RecentRuns)
	assert.Equal(t, got[catalog.BackupCompleted][0].ID, v.Schedule.RecentRuns[len(v.Schedule.RecentRuns)-1].BackupID)
}

func TestTwoJobsOnOneClusterPruneIndependently(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	hourly := newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Retention: api.Retention{KeepLast: 1}})
	weekly := newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Every: 7 * 24 * time.Hour, Retention: api.Retention{KeepLast: 2}})
	triggerAndWait(t, e, weekly.ID)
	triggerAndWait(t, e, hourly.ID)
	triggerAndWait(t, e, weekly.ID)
	triggerAndWait(t, e, hourly.ID)
	triggerAndWait(t, e, weekly.ID)
	triggerAndWait(t, e, hourly.ID)

	h := jobBackups(t, e, hourly.ID)
	w := jobBackups(t, e, weekly.ID)
	assert.Len(t, h[catalog.BackupCompleted], 1)
	assert.Len(t, h[catalog.BackupDeleted], 2)
	assert.Len(t, w[catalog.BackupCompleted], 2, "the hourly job's pruning never touches the weekly job's backups")
	assert.Len(t, w[catalog.BackupDeleted], 1)
}

func TestDefunctRunsArePrunedManualBackupsSurvive(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 2})
	job := newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Retention: api.Retention{KeepLast: 3}})
	triggerAndWait(t, e, job.ID)

	require.NoError(t, e.Strata.SetNodeHealth(ctx, cl.ID, cl.Nodes[0].ID, false))
	triggerAndWait(t, e, job.ID)
	manual, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = manual.Wait(ctx)
	backupErr(t, err, api.ReasonClusterUnhealthy)
	defunct := jobBackups(t, e, job.ID)[catalog.BackupDefunct]
	require.Len(t, defunct, 1)

	require.NoError(t, e.Strata.SetNodeHealth(ctx, cl.ID, cl.Nodes[0].ID, true))
	triggerAndWait(t, e, job.ID)
	got := jobBackups(t, e, job.ID)
	assert.Len(t, got[catalog.BackupCompleted], 2, "Defunct runs do not count towards keep 3")
	assert.Empty(t, got[catalog.BackupDefunct], "the job's Defunct backup went with its pruning")
	require.Len(t, got[catalog.BackupDeleted], 1)
	assert.Equal(t, defunct[0].ID, got[catalog.BackupDeleted][0].ID)
	m, err := e.Catalog.GetBackup(ctx, manual.BackupID)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupDefunct, m.Status, "a manual Defunct backup is not pruned")
}

func TestLockedClusterMakesScheduledRunDefunct(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	job := newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Retention: api.Retention{KeepLast: 2}})
	lock, err := e.Strata.LockCluster(ctx, cl.ID, "resize", time.Hour)
	require.NoError(t, err)
	triggerAndWait(t, e, job.ID)
	got := jobBackups(t, e, job.ID)
	require.Len(t, got[catalog.BackupDefunct], 1)
	b := got[catalog.BackupDefunct][0]
	assert.Contains(t, b.Reason, `ClusterLocked: cluster `+cl.ID+` is locked by "resize"`)
	assert.Equal(t, job.ID, b.JobID)
	l, err := e.Catalog.GetLock(ctx, cl.ID)
	require.NoError(t, err)
	require.NotNil(t, l)
	assert.Equal(t, lock.Token, l.Token, "the outside lock is untouched")
}

func TestScheduleUpdateChangesTheTemporalSchedule(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	job := newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Every: 24 * time.Hour, Offset: 3 * time.Hour, Retention: api.Retention{KeepDaily: 7}})

	h := server.Client.ScheduleClient().GetHandle(ctx, job.ScheduleID)
	d, err := h.Describe(ctx)
	require.NoError(t, err)
	require.Len(t, d.Schedule.Spec.Intervals, 1)
	assert.Equal(t, 24*time.Hour, d.Schedule.Spec.Intervals[0].Every)
	assert.Equal(t, 3*time.Hour, d.Schedule.Spec.Intervals[0].Offset)
	assert.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, d.Schedule.Policy.Overlap, "a run due while the last one runs is skipped, visibly")
	assert.Equal(t, 24*time.Hour, d.Schedule.Policy.CatchupWindow, "after an outage at most one catch-up run")
	require.NotEmpty(t, d.Info.NextActionTimes)
	assert.Equal(t, 3, d.Info.NextActionTimes[0].UTC().Hour(), "daily at 03:00 UTC")

	every, offset, label := 12*time.Hour, 5*time.Hour, "{cluster:id}-twice-daily-{index}"
	v, err := e.Strata.UpdateJob(ctx, job.ID, strata.JobUpdate{Every: &every, Offset: &offset, Label: &label})
	require.NoError(t, err)
	assert.Equal(t, catalog.Duration(every), v.Every)
	d, err = h.Describe(ctx)
	require.NoError(t, err)
	assert.Equal(t, 12*time.Hour, d.Schedule.Spec.Intervals[0].Every)
	assert.Equal(t, 5*time.Hour, d.Schedule.Spec.Intervals[0].Offset)
	assert.Equal(t, 12*time.Hour, d.Schedule.Policy.CatchupWindow)
	for _, next := range d.Info.NextActionTimes {
		assert.Equal(t, 5*time.Hour, time.Duration(next.Unix()%int64((12*time.Hour).Seconds()))*time.Second, "runs at 05:00 and 17:00 UTC, got %s", next)
	}

	// The new label reaches the next run.
	triggerAndWait(t, e, job.ID)
	got := jobBackups(t, e, job.ID)[catalog.BackupCompleted]
	require.Len(t, got, 1)
	assert.Equal(t, cl.ID+"-twice-daily-1", got[0].Label)

	_, err = e.Strata.UpdateJob(ctx, job.ID, strata.JobUpdate{Every: ptr(30 * time.Minute)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "at most hourly")
	_, err = e.Strata.CreateJob(ctx, strata.JobSpec{ClusterID: cl.ID, Every: 10 * time.Minute, Retention: api.Retention{KeepLast: 1}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "at most hourly")

	v, err = e.Strata.PauseJob(ctx, job.ID, true)
	require.NoError(t, err)
	assert.True(t, v.Schedule.Paused)
	assert.True(t, v.Paused)
	v, err = e.Strata.PauseJob(ctx, job.ID, false)
	require.NoError(t, err)
	assert.False(t, v.Schedule.Paused)
}

func ptr[T any](v T) *T { return &v }

func TestDeleteIsIdempotentWhenASnapshotIsAlreadyGone(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 2})
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	b, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Len(t, b.Snapshots, 2)
	require.NoError(t, e.Local.DeleteSnapshot(ctx, b.Snapshots[0].SnapshotID), "deleted out of band")

	d, err := e.Strata.DeleteBackup(ctx, b.ID, true)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupDeleted, d.Status)
	require.NotNil(t, d.DeletedAt)
	for _, s := range d.Snapshots {
		assert.Equal(t, catalog.SnapshotDeleted, s.Status)
	}
	left, err := e.Local.ListSnapshots(ctx, providers.SnapshotFilter{BackupID: b.ID})
	require.NoError(t, err)
	assert.Empty(t, left)

	again, err := e.Strata.DeleteBackup(ctx, b.ID, true)
	require.NoError(t, err, "deleting a deleted backup is a no-op")
	assert.Equal(t, catalog.BackupDeleted, again.Status)
	recordHistory(t, api.DeleteWorkflowID(b.ID), "delete")
}

func TestOverlappingRunIsSkippedVisibly(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: catalog.Duration(3 * time.Second)}))
	job := newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Retention: api.Retention{KeepLast: 2}})
	require.NoError(t, e.Strata.TriggerJob(ctx, job.ID))
	stratatest.Eventually(t, 30*time.Second, "the first run to be running", func() bool {
		v, err := e.Strata.GetJob(ctx, job.ID)
		return err == nil && len(v.Schedule.Running) == 1
	})
	require.NoError(t, e.Strata.TriggerJob(ctx, job.ID))
	stratatest.Eventually(t, 30*time.Second, "the overlapping run to be skipped and the first to finish", func() bool {
		v, err := e.Strata.GetJob(ctx, job.ID)
		return err == nil && v.Schedule.SkippedOverlap == 1 && len(v.Schedule.Running) == 0
	})
	v, err := e.Strata.GetJob(ctx, job.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, v.Schedule.Runs, "the skipped run started nothing")
	got := jobBackups(t, e, job.ID)
	assert.Len(t, got[catalog.BackupCompleted], 1)
	assert.Empty(t, got[catalog.BackupDefunct], "a skipped run is not a Defunct backup: it never started")
}
