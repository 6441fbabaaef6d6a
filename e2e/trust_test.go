package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/notify"
	"github.com/stratabackup/strata/retention"
	"github.com/stratabackup/strata/starter/strata"
)

// The workflows are the public API: these start them the way the temporal
// CLI or another service does, around the Go client, and check that each
// defends itself before anything exists.

// startRaw starts a workflow with a hand-written JSON-like input and
// returns its failure, which must be a non-retryable application error.
func startRaw(t *testing.T, e *stratatest.Env, opts client.StartWorkflowOptions, workflow string, input any) *temporal.ApplicationError {
	t.Helper()
	ctx := ctxT(t)
	opts.TaskQueue = e.TaskQueue
	run, err := server.Client.ExecuteWorkflow(ctx, opts, workflow, input)
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "want an application error, got %v", err)
	return appErr
}

func requireInvalid(t *testing.T, appErr *temporal.ApplicationError, contains ...string) {
	t.Helper()
	assert.Equal(t, api.ReasonInvalidRequest, appErr.Type(), appErr.Message())
	assert.LessOrEqual(t, len(appErr.Message()), 700, "a rejection stays short: %.200s", appErr.Message())
	for _, c := range contains {
		assert.Contains(t, appErr.Message(), c)
	}
}

func requireNoBackups(t *testing.T, e *stratatest.Env) {
	t.Helper()
	bs, err := e.Catalog.ListBackups(context.Background(), catalog.BackupFilter{IncludeDeleted: true})
	require.NoError(t, err)
	require.Empty(t, bs, "no backup record was created")
}

// A backup may carry a job ID only when that job's own schedule started it
// for that job's cluster: otherwise another cluster's retention could be
// made to delete real backups.
func TestBackupCannotClaimAnotherJob(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	victim := e.Cluster(strata.ClusterSpec{Nodes: 1})
	other := e.Cluster(strata.ClusterSpec{Nodes: 1})
	job := newJob(t, e, strata.JobSpec{ClusterID: victim.ID, Retention: api.Retention{KeepLast: 1}, Paused: true})

	// The attack: a raw start naming the victim's job for another cluster.
	requireInvalid(t, startRaw(t, e, client.StartWorkflowOptions{}, api.BackupWorkflowName,
		map[string]any{"clusterId": other.ID, "jobId": job.ID}), "job "+job.ID+" backs up cluster "+victim.ID)
	// Naming the job for its own cluster, but not from its schedule.
	requireInvalid(t, startRaw(t, e, client.StartWorkflowOptions{}, api.BackupWorkflowName,
		map[string]any{"clusterId": victim.ID, "jobId": job.ID}), "only job "+job.ID+"'s own Temporal Schedule")
	// Even under the schedule's own workflow ID prefix.
	requireInvalid(t, startRaw(t, e, client.StartWorkflowOptions{ID: api.JobRunWorkflowIDPrefix(job.ID) + "2026-01-01T00:00:00Z"},
		api.BackupWorkflowName, map[string]any{"clusterId": victim.ID, "jobId": job.ID}), "Temporal Schedule")
	requireInvalid(t, startRaw(t, e, client.StartWorkflowOptions{}, api.BackupWorkflowName,
		map[string]any{"clusterId": victim.ID, "jobId": "job-nosuchjob"}), "job job-nosuchjob not found")
	requireNoBackups(t, e)
	requireUnlocked(t, e, victim.ID)
	requireUnlocked(t, e, other.ID)

	// The Go client refuses it too, earlier.
	_, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: other.ID, JobID: job.ID})
	assert.ErrorContains(t, err, "only the job's own schedule")

	// The job's own schedule still runs and prunes.
	require.NoError(t, func() error { _, err := e.Strata.PauseJob(ctx, job.ID, false); return err }())
	triggerAndWait(t, e, job.ID)
	triggerAndWait(t, e, job.ID)
	got := jobBackups(t, e, job.ID)
	require.Len(t, got[catalog.BackupCompleted], 1, "keep 1")
	require.Len(t, got[catalog.BackupDeleted], 1)
}

// A backup record that names a job but is of another cluster (written
// before this check existed) is never counted or deleted by that job.
func TestPruneLeavesOtherClustersBackupsAlone(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	victim := e.Cluster(strata.ClusterSpec{Nodes: 1})
	other := e.Cluster(strata.ClusterSpec{Nodes: 1})
	job := newJob(t, e, strata.JobSpec{ClusterID: victim.ID, Retention: api.Retention{KeepLast: 1}, Paused: true})
	planted := []string{}
	for i := 0; i < 3; i++ {
		b, _, err := e.Catalog.CreateBackup(ctx, catalog.NewBackup{ID: "bk-planted00000" + string(rune('a'+i)), ClusterID: other.ID, JobID: job.ID,
			CreatedAt: time.Now().Add(-time.Duration(3-i) * time.Hour), Label: func(int64) (string, error) { return "planted", nil }})
		require.NoError(t, err)
		_, err = e.Catalog.TransitionBackup(ctx, b.ID, catalog.Transition{To: catalog.BackupInProgress, From: []catalog.BackupStatus{catalog.BackupPending}})
		require.NoError(t, err)
		_, err = e.Catalog.TransitionBackup(ctx, b.ID, catalog.Transition{To: catalog.BackupCompleted, From: []catalog.BackupStatus{catalog.BackupInProgress}})
		require.NoError(t, err)
		planted = append(planted, b.ID)
	}
	res, err := e.Strata.PruneJob(ctx, job.ID)
	require.NoError(t, err)
	assert.Empty(t, res.Deleted)
	for _, d := range res.Decisions {
		assert.False(t, d.Delete, d.BackupID)
		assert.Contains(t, d.Reason, retention.ReasonOtherCluster)
	}
	for _, id := range planted {
		b, err := e.Catalog.GetBackup(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, catalog.BackupCompleted, b.Status, "another cluster's backup %s survives", id)
	}
}

// Inputs past Temporal's limits are refused before a record or a lock
// exists, so the server never gets to terminate a run that holds them.
func TestOversizedInputsAreRejectedBeforeAnythingExists(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1, Description: strings.Repeat("d", 200)})
	long := strings.Repeat("x", 2100)
	for name, in := range map[string]map[string]any{
		"job ID past the search-attribute limit":     {"clusterId": cl.ID, "jobId": long},
		"cluster ID past the search-attribute limit": {"clusterId": long},
		"a megabyte label":                           {"clusterId": cl.ID, "label": strings.Repeat("l", 1<<20)},
		"a request ID with a newline":                {"clusterId": cl.ID, "requestId": "nightly\n1"},
		"a bidi override in the label":               {"clusterId": cl.ID, "label": "x\u202e{index}"},
		"a timeout of 1e30 seconds":                  {"clusterId": cl.ID, "timeout": 1e30},
		"an unknown field":                           {"clusterId": cl.ID, "timout": "30m"},
		"a description expanded past the bound":      {"clusterId": cl.ID, "label": "{cluster}{cluster:description}"},
	} {
		t.Run(name, func(t *testing.T) {
			requireInvalid(t, startRaw(t, e, client.StartWorkflowOptions{}, api.BackupWorkflowName, in))
		})
	}
	requireNoBackups(t, e)
	requireUnlocked(t, e, cl.ID)

	// The client reads the cluster, so it says so earlier.
	_, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID, Label: "{cluster}{cluster}"})
	assert.ErrorContains(t, err, "renders to up to 400 characters")
}

func TestRestoreAndReconcileBoundsWhenRaw(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	_, b := backedUp(t, e, strata.ClusterSpec{Nodes: 1})
	for name, tc := range map[string]struct {
		in   map[string]any
		want string
	}{
		"disk of 9.2e18 GB": {map[string]any{"backupId": b.ID, "diskGb": 9200000000000000000}, "diskGb 9200000000000000000: give 1 to 65536"},
		"negative disk":     {map[string]any{"backupId": b.ID, "diskGb": -10}, "diskGb -10: give 1 to 65536"},
		"negative nodes":    {map[string]any{"backupId": b.ID, "nodes": -1}, "nodes -1: give 1 to 64"},
	} {
		t.Run(name, func(t *testing.T) {
			requireInvalid(t, startRaw(t, e, client.StartWorkflowOptions{}, api.RestoreWorkflowName, tc.in), tc.want)
		})
	}
	rs, err := e.Catalog.ListRestores(context.Background(), "")
	require.NoError(t, err)
	assert.Empty(t, rs, "no restore record")

	requireInvalid(t, startRaw(t, e, client.StartWorkflowOptions{}, api.ReconcileWorkflowName, map[string]any{"grace": 1e30}), "out of range")
	requireInvalid(t, startRaw(t, e, client.StartWorkflowOptions{}, api.ReconcileWorkflowName, map[string]any{"grace": "-1h"}), "grace")
}

// Register applies the same rules as the client when started raw, and a
// volume belongs to at most one live cluster.
func TestRegisterValidatesRawInput(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	owner := e.Cluster(strata.ClusterSpec{Nodes: 1})
	ownedPath := owner.Nodes[0].Volumes[0].Path

	requireInvalid(t, startRaw(t, e, client.StartWorkflowOptions{}, api.RegisterClusterWorkflowName, map[string]any{
		"id": "../../etc", "provider": "local", "region": "local", "projectId": "default", "networkId": "default",
		"nodes": []map[string]any{{"id": "n\x00\n1", "volumes": []string{ownedPath}}},
	}), `id "../../etc"`, "node 1 name")
	requireInvalid(t, startRaw(t, e, client.StartWorkflowOptions{}, api.RegisterClusterWorkflowName, map[string]any{
		"id": "thief", "provider": "local", "region": "local", "projectId": "default", "networkId": "default",
		"nodes": []map[string]any{{"id": "thief-1", "volumes": []string{ownedPath}}},
	}), "already belongs to cluster "+owner.ID)
	_, err := e.Catalog.GetCluster(context.Background(), "thief")
	assert.True(t, catalog.IsNotFound(err), "nothing recorded")

	// cluster create refuses unknown projects, networks and regions.
	for _, spec := range []strata.ClusterSpec{
		{Nodes: 1, ProjectID: "nope"},
		{Nodes: 1, NetworkID: "nope"},
		{Nodes: 1, Region: "mars"},
		{Nodes: 1, DiskGB: 1, DataBytes: 46 << 30},
	} {
		_, err := e.Strata.CreateCluster(ctxT(t), spec)
		assert.ErrorContains(t, err, "invalid cluster", "%+v", spec)
	}
}

// A lock a backup holds is released only by that backup, and a backup
// whose lock was taken from it fails LockLost instead of completing.
func TestBackupLockCannotBeBroken(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 2})
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: catalog.Duration(2 * time.Second)}))
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	var held *catalog.Lock
	stratatest.Eventually(t, 30*time.Second, "the backup to hold the lock", func() bool {
		held, err = e.Catalog.GetLock(ctx, cl.ID)
		return err == nil && held != nil
	})
	err = e.Strata.UnlockCluster(ctx, cl.ID, held.Token)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "backup "+run.BackupID)
	assert.Contains(t, err.Error(), "cancel it instead")
	second, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = second.Wait(ctx)
	backupErr(t, err, api.ReasonClusterLocked)
	_, err = run.Wait(ctx)
	require.NoError(t, err, "the first backup completes, its lock untouched")

	// Break the lock behind Strata's back (a lease lapsing, an operator
	// editing the catalog): the backup's next write is refused.
	third, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	stratatest.Eventually(t, 30*time.Second, "the third backup to snapshot", func() bool {
		b, err := e.Catalog.GetBackup(ctx, third.BackupID)
		return err == nil && b.Status == catalog.BackupInProgress && len(b.Snapshots) == 2
	})
	held, err = e.Catalog.GetLock(ctx, cl.ID)
	require.NoError(t, err)
	require.NoError(t, e.Catalog.ReleaseLock(ctx, cl.ID, held.Token))
	intruder, err := e.Catalog.AcquireLock(ctx, cl.ID, "intruder", time.Hour)
	require.NoError(t, err)
	_, err = third.Wait(ctx)
	be := backupErr(t, err, api.ReasonLockLost)
	assert.Len(t, be.Backup.Snapshots, 2, "its snapshots are on the record")
	l, err := e.Catalog.GetLock(ctx, cl.ID)
	require.NoError(t, err)
	require.NotNil(t, l)
	assert.Equal(t, intruder.Token, l.Token, "the compensation left the new holder's lock alone")

	// Lock TTLs have a maximum.
	_, err = e.Strata.LockCluster(ctx, cl.ID, "resize", 48*time.Hour)
	assert.ErrorContains(t, err, "exceeds the maximum 24h0m0s")
	_, err = e.Strata.LockCluster(ctx, cl.ID, "backup bk-fake", time.Hour)
	assert.ErrorContains(t, err, "reserved")
}

// extendTimeout is bounded by --max-backup-timeout.
func TestExtendTimeoutHasAMaximum(t *testing.T) {
	cfg := stratatest.TestConfig()
	cfg.MaxBackupTimeout = 10 * time.Minute
	e := server.NewEnv(t, cfg)
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotHang: true}))
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID, Timeout: catalog.Duration(time.Minute)})
	require.NoError(t, err)
	stratatest.Eventually(t, 30*time.Second, "the backup to snapshot", func() bool {
		p, err := e.Strata.BackupStatus(ctx, run.BackupID)
		return err == nil && p.Step == api.StepWaiting
	})
	_, err = e.Strata.ExtendBackupTimeout(ctx, run.BackupID, api.ExtendTimeoutRequest{Timeout: catalog.Duration(time.Hour)})
	assert.ErrorContains(t, err, "more than the maximum 10m0s")
	far := time.Now().Add(100 * 365 * 24 * time.Hour)
	_, err = e.Strata.ExtendBackupTimeout(ctx, run.BackupID, api.ExtendTimeoutRequest{Deadline: &far})
	assert.ErrorContains(t, err, "more than the maximum 10m0s")
	_, err = e.Strata.ExtendBackupTimeout(ctx, run.BackupID, api.ExtendTimeoutRequest{Timeout: catalog.Duration(5 * time.Minute)})
	require.NoError(t, err)
	require.NoError(t, e.Strata.CancelBackup(ctx, run.BackupID))
	_, err = run.Wait(ctx)
	backupErr(t, err, api.ReasonCancelled)
}

// Nothing stays stuck when an operator presses "Terminate" (or a server
// limit closes a run): the next reconcile finishes what the workflow's
// compensations would have done.
func TestReconcileFinishesWhatTerminatedWorkflowsLeft(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	src, done := backedUp(t, e, strata.ClusterSpec{Nodes: 2})
	require.NoError(t, e.Strata.SetFaults(ctx, src.ID, api.Faults{
		SnapshotDelay: catalog.Duration(time.Minute), RestoreDelay: catalog.Duration(time.Minute),
	}))

	// A backup terminated while it snapshots, holding the lock.
	backup, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: src.ID})
	require.NoError(t, err)
	stratatest.Eventually(t, 30*time.Second, "the backup to snapshot", func() bool {
		b, err := e.Catalog.GetBackup(ctx, backup.BackupID)
		return err == nil && b.Status == catalog.BackupInProgress && len(b.Snapshots) == 2
	})
	require.NoError(t, server.Client.TerminateWorkflow(ctx, backup.WorkflowID, "", "operator pressed Terminate"))
	err = e.Strata.CancelBackup(ctx, backup.BackupID)
	assert.ErrorContains(t, err, "has already closed", "cancel says why it cannot help, and what will")

	// A restore terminated while it creates volumes, holding the backup.
	restore, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: done.ID})
	require.NoError(t, err)
	stratatest.Eventually(t, 30*time.Second, "the restore to create volumes", func() bool {
		_, live, err := e.Strata.GetRestore(ctx, restore.RestoreID)
		return err == nil && live != nil && live.Step == api.StepCreatingVolumes
	})
	require.NoError(t, server.Client.TerminateWorkflow(ctx, restore.WorkflowID, "", "operator pressed Terminate"))

	b2, err := e.Catalog.GetBackup(ctx, done.ID)
	require.NoError(t, err)
	require.NotEmpty(t, b2.Holds)

	// Stuck once the closed workflows' activities have noticed (StuckAfter);
	// a dry run says so without touching anything.
	var dry api.ReconcileResult
	stratatest.Eventually(t, 30*time.Second, "both records to count as stuck", func() bool {
		dry, err = e.Strata.Reconcile(ctx, ptr(time.Hour), true)
		return err == nil && len(dry.Plan.Stuck) == 2
	})
	kinds := map[string]string{}
	for _, s := range dry.Plan.Stuck {
		kinds[s.ID] = s.Kind
		assert.Contains(t, s.Reason, "Terminated: workflow "+s.WorkflowID+" terminated")
		assert.Contains(t, s.Reason, "operator pressed Terminate")
	}
	assert.Equal(t, map[string]string{backup.BackupID: api.StuckBackup, restore.RestoreID: api.StuckRestore}, kinds)
	b, err := e.Catalog.GetBackup(ctx, backup.BackupID)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupInProgress, b.Status, "a dry run changes nothing")

	res, err := e.Strata.Reconcile(ctx, ptr(time.Hour), false)
	require.NoError(t, err)
	assert.Len(t, res.Plan.Stuck, 2)

	b, err = e.Catalog.GetBackup(ctx, backup.BackupID)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupDefunct, b.Status)
	assert.True(t, strings.HasPrefix(b.Reason, "Terminated: workflow "+backup.WorkflowID+" terminated"), b.Reason)
	assert.Len(t, b.Snapshots, 2, "its snapshots are on the record")
	requireUnlocked(t, e, src.ID)

	r, err := e.Catalog.GetRestore(ctx, restore.RestoreID)
	require.NoError(t, err)
	assert.Equal(t, catalog.RestoreFailed, r.Status)
	assert.Contains(t, r.Reason, "Terminated: workflow "+restore.WorkflowID)
	rc, err := e.Catalog.GetCluster(ctx, restore.ClusterID)
	require.NoError(t, err)
	assert.Equal(t, catalog.ClusterFailed, rc.Status)
	for _, v := range rc.Volumes() {
		assert.Empty(t, v.Path, "volume %s of the half-built cluster is deleted", v.ID)
	}
	b2, err = e.Catalog.GetBackup(ctx, done.ID)
	require.NoError(t, err)
	assert.Empty(t, b2.Holds, "the restore's hold is released")

	// A new backup takes the freed lock; a second reconcile has nothing left.
	require.NoError(t, e.Strata.SetFaults(ctx, src.ID, api.Faults{}))
	next, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: src.ID})
	require.NoError(t, err)
	_, err = next.Wait(ctx)
	require.NoError(t, err)
	again, err := e.Strata.Reconcile(ctx, ptr(time.Hour), true)
	require.NoError(t, err)
	assert.Empty(t, again.Plan.Stuck)
}

// A deletion whose workflow was terminated is marked failed (retryable with
// `backup delete`), not left Deleting forever.
func TestReconcileMarksATerminatedDeletionFailed(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	_, b := backedUp(t, e, strata.ClusterSpec{Nodes: 1})
	_, err := e.Catalog.StartDeletion(ctx, b.ID, time.Now())
	require.NoError(t, err, "as a deletion's first step does before its workflow is terminated")
	res, err := e.Strata.Reconcile(ctx, ptr(time.Hour), false)
	require.NoError(t, err)
	require.Len(t, res.Plan.Stuck, 1)
	assert.Equal(t, api.StuckDeletion, res.Plan.Stuck[0].Kind)
	got, err := e.Catalog.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupDeleting, got.Status)
	assert.Contains(t, got.DeletionError, "Terminated: workflow "+api.DeleteWorkflowID(b.ID)+" no run found")
	// And the retry finishes it.
	del, err := e.Strata.DeleteBackup(ctx, b.ID, true)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupDeleted, del.Status)
}

// Channel secrets are sealed to the worker's key before they are stored, so
// neither the catalog file nor a listing shows them, and a channel cannot
// be made to mail the worker's other environment variables.
func TestChannelSecretsAreSealedAtRest(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	ch, err := e.Strata.AddChannel(ctx, api.AddChannelRequest{ProjectID: "default", Kind: "chat", URL: "https://chat.example/hooks/T0/B0/tok3nXYZ?sig=q9"})
	require.NoError(t, err)
	assert.Equal(t, "https://chat.example/...", ch.URL)
	wh, err := e.Strata.AddChannel(ctx, api.AddChannelRequest{ProjectID: "default", Kind: "webhook", URL: "https://hooks.example/in", Secret: "s3cretVALUE"})
	require.NoError(t, err)
	assert.True(t, wh.HasSecret)

	list, err := e.Strata.ListChannels(ctx, "")
	require.NoError(t, err)
	out, err := json.Marshal(list)
	require.NoError(t, err)
	for _, leak := range []string{"tok3nXYZ", "q9", "s3cretVALUE", "/hooks/T0"} {
		assert.NotContains(t, string(out), leak, "a listing shows no secret, token or path")
	}
	// The catalog's SQLite file and its WAL hold only ciphertext.
	_, path, err := catalog.ParseDSN(e.CatalogDSN)
	require.NoError(t, err)
	for _, f := range []string{path, path + "-wal"} {
		raw, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		assert.NotContains(t, string(raw), "tok3nXYZ", f)
		assert.NotContains(t, string(raw), "s3cretVALUE", f)
		fi, err := os.Stat(f)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "%s is private to the worker", f)
	}
	// The worker opens them to deliver (signed with the real secret).
	hook := &receiver{accepted: map[string]int{}}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	sealed, err := e.Strata.AddChannel(ctx, api.AddChannelRequest{ProjectID: "default", Kind: "webhook", URL: srv.URL + "/in", Secret: "s3cretVALUE"})
	require.NoError(t, err)
	res, err := e.Strata.TestChannel(ctx, sealed.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{sealed.ID}, res.Delivered)
	require.Equal(t, 1, hook.count())
	h := hook.headers[0]
	assert.True(t, notify.Verify("s3cretVALUE", h.Get(notify.HeaderTimestamp), hook.bodies[0], h.Get(notify.HeaderSignature)),
		"the delivery was signed with the unsealed secret")

	_, err = e.Strata.AddChannel(ctx, api.AddChannelRequest{ProjectID: "default", Kind: "email", Email: "ops@example.com", SMTPHost: "smtp.example.com:587",
		SMTPUser: "strata", SMTPPasswordEnv: "AWS_SECRET_ACCESS_KEY"})
	assert.ErrorContains(t, err, "only STRATA_SMTP_PASSWORD")
	_, err = e.Strata.AddChannel(ctx, api.AddChannelRequest{ProjectID: "default", Kind: "webhook", URL: "http://169.254.169.254/latest/meta-data/iam"})
	assert.ErrorContains(t, err, "metadata")
}
