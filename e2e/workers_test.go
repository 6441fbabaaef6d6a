package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/local"
	"github.com/stratabackup/strata/starter/strata"
)

// taskStart is one ActivityTaskStarted or WorkflowTaskStarted event: which
// worker ran which activity or workflow task (the attempt that closed it:
// retries are not in the history). Local activities run inside workflow
// tasks, so a workflow task's worker is also theirs.
type taskStart struct {
	Type, Identity string
	Attempt        int32
	At             time.Time
}

// workflowTask is taskStart.Type of a workflow task.
const workflowTask = "workflow task"

// taskStarts reads a workflow's history for the tasks it ran.
func taskStarts(t *testing.T, ctx context.Context, workflowID string) []taskStart {
	t.Helper()
	iter := server.Client.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]string{}
	var out []taskStart
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled[ev.GetEventId()] = ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			a := ev.GetActivityTaskStartedEventAttributes()
			out = append(out, taskStart{Type: scheduled[a.GetScheduledEventId()], Identity: a.GetIdentity(), Attempt: a.GetAttempt(), At: ev.GetEventTime().AsTime()})
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			a := ev.GetWorkflowTaskStartedEventAttributes()
			out = append(out, taskStart{Type: workflowTask, Identity: a.GetIdentity(), At: ev.GetEventTime().AsTime()})
		}
	}
	return out
}

// TestWorkersShareLoad: two worker processes on one task queue both serve
// a batch of concurrent backups, and every backup completes.
func TestWorkersShareLoad(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	const n = 8
	var clusters []api.Cluster
	for i := range n {
		clusters = append(clusters, e.Cluster(strata.ClusterSpec{ID: fmt.Sprintf("share-%d", i), Nodes: 1, VolumesPerNode: 2}))
	}
	e.StopWorker()
	a, b := e.StartWorkerProcess("A"), e.StartWorkerProcess("B")

	runs := make([]*strata.BackupRun, n)
	for i, cl := range clusters {
		run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
		require.NoError(t, err)
		runs[i] = run
	}
	var wg sync.WaitGroup
	results := make([]api.Backup, n)
	errs := make([]error, n)
	for i, run := range runs {
		wg.Go(func() { results[i], errs[i] = run.Wait(ctx) })
	}
	wg.Wait()

	ran := map[string]int{}
	for i, run := range runs {
		require.NoError(t, errs[i], "backup of %s", clusters[i].ID)
		assert.Equal(t, catalog.BackupCompleted, results[i].Status)
		require.Len(t, results[i].Snapshots, 2)
		for _, s := range results[i].Snapshots {
			assert.Equal(t, catalog.SnapshotCompleted, s.Status)
		}
		requireUnlocked(t, e, clusters[i].ID)
		for _, s := range taskStarts(t, ctx, run.WorkflowID) {
			ran[s.Identity]++
		}
	}
	t.Logf("workflow and activity tasks run per worker: %v", ran)
	assert.Len(t, ran, 2, "only workers A and B ran tasks")
	assert.Positive(t, ran[a.Identity], "worker A ran tasks")
	assert.Positive(t, ran[b.Identity], "worker B ran tasks")

	for _, p := range []*stratatest.WorkerProcess{a, b} {
		st, err := p.Stop()
		require.NoError(t, err, "worker %s stops on SIGTERM", p.Name)
		assert.Equal(t, 0, st.ExitCode())
		t.Logf("worker %s: user %s, system %s", p.Name, st.UserTime().Round(time.Millisecond), st.SystemTime().Round(time.Millisecond))
	}
}

// pendingOn reports whether the workflow's activity of this type is
// running on the worker with this identity.
func pendingOn(ctx context.Context, workflowID, activityType, identity string) bool {
	d, err := server.Client.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return false
	}
	for _, pa := range d.GetPendingActivities() {
		if pa.GetActivityType().GetName() == activityType &&
			pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && pa.GetLastWorkerIdentity() == identity {
			return true
		}
	}
	return false
}

// TestWorkersOneKilledMidBackupTheOtherFinishesIt: worker process A is killed
// (SIGKILL) while it waits for a backup's snapshots; worker process B
// finishes the backup, with one snapshot per volume.
func TestWorkersOneKilledMidBackupTheOtherFinishesIt(t *testing.T) {
	cfg := stratatest.TestConfig()
	// One wait activity for the whole copy (no returns to the workflow at
	// 25% steps), so that it is A's when A dies.
	cfg.ProgressStep = 0
	e := server.NewEnv(t, cfg)
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{ID: "killed", Nodes: 2, VolumesPerNode: 2})
	e.StopWorker()
	a := e.StartWorkerProcess("A")
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: catalog.Duration(8 * time.Second)}))

	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	stratatest.Eventually(t, 30*time.Second, "the backup to be InProgress with A waiting for its snapshots", func() bool {
		b, err := e.Catalog.GetBackup(ctx, run.BackupID)
		return err == nil && b.Status == catalog.BackupInProgress && len(b.Snapshots) == 4 &&
			pendingOn(ctx, run.WorkflowID, "WaitSnapshots", a.Identity)
	})
	started := time.Now()
	b := e.StartWorkerProcess("B")
	t.Logf("B polling %s after start", time.Since(started).Round(10*time.Millisecond))
	// B came up while A was waiting: A still has the wait, and the copy
	// is not done.
	require.True(t, pendingOn(ctx, run.WorkflowID, "WaitSnapshots", a.Identity), "A no longer runs the wait")
	bk, err := e.Catalog.GetBackup(ctx, run.BackupID)
	require.NoError(t, err)
	require.Equal(t, catalog.BackupInProgress, bk.Status)
	killed := time.Now()
	require.NoError(t, a.Kill())

	done, err := run.Wait(ctx)
	require.NoError(t, err)
	recovery := time.Since(killed)
	assert.Equal(t, catalog.BackupCompleted, done.Status)
	require.Len(t, done.Snapshots, 4)
	for _, s := range done.Snapshots {
		assert.Equal(t, catalog.SnapshotCompleted, s.Status)
	}
	requireUnlocked(t, e, cl.ID)

	lp, atProvider := snapshotsAtProvider(t, e, run.BackupID)
	require.Len(t, atProvider, 4, "exactly one snapshot per volume exists at the provider")
	ids := map[string]bool{}
	for _, s := range done.Snapshots {
		ids[s.SnapshotID] = true
	}
	for _, s := range atProvider {
		assert.True(t, ids[s.ID], "provider snapshot %s is on the record", s.ID)
		assert.Equal(t, providers.StateCompleted, s.State)
		want, err := local.DirChecksums(volumePath(cl, s.VolumeID))
		require.NoError(t, err)
		got, err := local.DirChecksums(lp.SnapshotDataDir(s.ID))
		require.NoError(t, err)
		assert.Equal(t, want, got, "snapshot %s has its volume's data", s.ID)
	}
	bs, err := e.Catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: cl.ID})
	require.NoError(t, err)
	assert.Len(t, bs, 1, "the backup completed once")

	var afterKill, onB int
	var timeline []string
	var last taskStart
	for _, s := range taskStarts(t, ctx, run.WorkflowID) {
		if s.At.After(killed) {
			afterKill++
			what := s.Type
			if s.Attempt > 0 {
				what = fmt.Sprintf("%s (attempt %d)", s.Type, s.Attempt)
			}
			timeline = append(timeline, fmt.Sprintf("%s +%s", what, s.At.Sub(killed).Round(100*time.Millisecond)))
			assert.Equal(t, b.Identity, s.Identity, "%s ran after A was killed, on B", s.Type)
		}
		if s.Identity == b.Identity {
			onB++
		}
		if s.Type == "WaitSnapshots" {
			assert.Equal(t, b.Identity, s.Identity, "%s finished on B", s.Type)
		}
		if s.Type == workflowTask {
			last = s
		}
	}
	assert.Equal(t, b.Identity, last.Identity, "the last workflow task (it marks the backup Completed and releases the lock) ran on B")
	assert.Positive(t, afterKill, "tasks ran after the kill")
	t.Logf("completed %s after the kill; %d tasks on B, started after the kill: %s; copies: %s",
		recovery.Round(100*time.Millisecond), onB, strings.Join(timeline, ", "), copyAttempts(t, lp, atProvider))
}

// snapshotsAtProvider lists a backup's snapshots at the env's local
// provider, read by a provider instance of its own (the workers' ran in
// their processes).
func snapshotsAtProvider(t *testing.T, e *stratatest.Env, backupID string) (*local.Provider, []providers.Snapshot) {
	t.Helper()
	lp, err := local.New(local.Options{Root: e.Root})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lp.Close() })
	snaps, err := lp.ListSnapshots(ctxT(t), providers.SnapshotFilter{BackupID: backupID})
	require.NoError(t, err)
	return lp, snaps
}

// copyAttempts describes how often each snapshot's copy was (re)started,
// from the local provider's metadata: more than once means a worker
// resumed a copy whose owner died.
func copyAttempts(t *testing.T, lp *local.Provider, snaps []providers.Snapshot) string {
	t.Helper()
	var out []string
	for _, s := range snaps {
		raw, err := os.ReadFile(filepath.Join(filepath.Dir(lp.SnapshotDataDir(s.ID)), "snapshot.json"))
		if err != nil {
			return fmt.Sprintf("unknown (%v)", err)
		}
		var m struct {
			Attempt int `json:"attempt"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Sprintf("unknown (%v)", err)
		}
		out = append(out, fmt.Sprintf("%s attempt %d", s.VolumeID, m.Attempt))
	}
	return strings.Join(out, ", ")
}

// TestWorkerKilledInTheCatalogStepsTheOtherFinishes: the short catalog
// steps run as local activities inside one workflow task. Worker process A
// is killed in the middle of them (the catalog's write lock is held by
// someone else, so A is stuck recording the backup); nothing of that task
// reached the history, so worker B runs the steps again after the task
// times out, and they are idempotent: one backup, Completed, one snapshot
// per volume, the lock released.
func TestWorkerKilledInTheCatalogStepsTheOtherFinishes(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{ID: "killed-in-steps", Nodes: 1, VolumesPerNode: 2})
	e.StopWorker()
	a := e.StartWorkerProcess("A")

	// Another writer holds the catalog's write lock (readers go on: WAL).
	db, err := sql.Open("sqlite", strings.TrimPrefix(e.CatalogDSN, "sqlite:"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	blocker, err := db.Conn(ctx)
	require.NoError(t, err)
	_, err = blocker.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.NoError(t, err)

	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	stratatest.Eventually(t, 30*time.Second, "A to be running the backup's first workflow task", func() bool {
		d, err := server.Client.DescribeWorkflowExecution(ctx, run.WorkflowID, "")
		return err == nil && d.GetPendingWorkflowTask().GetState() == enumspb.PENDING_WORKFLOW_TASK_STATE_STARTED
	})
	_, err = e.Catalog.GetBackup(ctx, run.BackupID)
	require.True(t, catalog.IsNotFound(err), "the backup cannot be recorded while the catalog is locked (got %v)", err)
	killed := time.Now()
	require.NoError(t, a.Kill())
	_, err = blocker.ExecContext(ctx, "ROLLBACK")
	require.NoError(t, err)
	require.NoError(t, blocker.Close())
	b := e.StartWorkerProcess("B")

	done, err := run.Wait(ctx)
	require.NoError(t, err)
	t.Logf("completed %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	assert.Equal(t, catalog.BackupCompleted, done.Status)
	require.Len(t, done.Snapshots, 2)
	requireUnlocked(t, e, cl.ID)
	bs, err := e.Catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: cl.ID})
	require.NoError(t, err)
	assert.Len(t, bs, 1, "one backup record")
	_, atProvider := snapshotsAtProvider(t, e, run.BackupID)
	assert.Len(t, atProvider, 2, "one snapshot per volume at the provider")

	var timedOut bool
	iter := server.Client.GetWorkflowHistory(ctx, run.WorkflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		timedOut = timedOut || ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
	}
	assert.True(t, timedOut, "A's workflow task timed out, so none of its local activities reached the history")
	recordHistory(t, run.WorkflowID, "backup_killed_in_catalog_steps")
	ran := map[string]int{}
	for _, s := range taskStarts(t, ctx, run.WorkflowID) {
		ran[s.Identity]++
	}
	assert.Equal(t, 1, ran[a.Identity], "A ran only the workflow task that timed out")
	assert.Len(t, ran, 2, "everything else ran on B: %v", ran)
	assert.Positive(t, ran[b.Identity])
}
