package e2e

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/notify"
	"github.com/stratabackup/strata/providers/local"
	"github.com/stratabackup/strata/starter/strata"
)

// volumeSums are the checksums of every volume of a cluster, by volume ID.
func volumeSums(t *testing.T, cl api.Cluster) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, v := range cl.Volumes() {
		sums, err := local.DirChecksums(v.Path)
		require.NoError(t, err)
		require.NotEmpty(t, sums, "volume %s holds data", v.ID)
		out[v.ID] = sums
	}
	return out
}

func strataCode(t *testing.T, err error, code string) *strata.Error {
	t.Helper()
	var se *strata.Error
	require.True(t, errors.As(err, &se), "want *strata.Error %s, got %v", code, err)
	require.Equal(t, code, se.Code, se.Message)
	return se
}

// waitLifecycle waits for a cluster's lifecycle workflow to answer.
func waitLifecycle(t *testing.T, e *stratatest.Env, clusterID string) api.ClusterLifecycleState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := e.Strata.LifecycleState(ctxT(t), clusterID)
		if err == nil && st.Power != "" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster %s's lifecycle workflow does not answer: %v", clusterID, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Power-off takes a final backup of the cluster's last state, deletes its
// volumes and pauses its jobs; power-on restores that state into the same
// cluster ID and resumes them. A powered-off cluster takes no manual
// backup, and the requests its state refuses are refused with what to do.
func TestPowerOffAndOnKeepTheClusterAndItsData(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{ID: "pw", Nodes: 2, VolumesPerNode: 2})
	waitLifecycle(t, e, cl.ID)
	st, err := e.Strata.SetProfile(ctx, cl.ID, "dr-single")
	require.NoError(t, err)
	assert.Equal(t, "dr-single", st.Profile)
	jobs, err := e.Strata.ListJobs(ctx, cl.ID)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	job := jobs[0]
	assert.Equal(t, "dr-single", job.Profile)
	_, err = e.Strata.UpdateJob(ctx, job.ID, strata.JobUpdate{Label: new("x-{index}")})
	se := strataCode(t, err, api.ReasonInvalidRequest)
	assert.Contains(t, se.Message, "belongs to profile dr-single")

	// A backup, then a change: the power-off's final backup has the change.
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.NoError(t, err)
	first := cl.Volumes()[0]
	require.NoError(t, os.WriteFile(filepath.Join(first.Path, "late-write"), []byte("written after the first backup"), 0o600))
	before := volumeSums(t, cl)

	st, err = e.Strata.PowerOff(ctx, cl.ID, "plan paused")
	require.NoError(t, err)
	assert.Equal(t, api.PowerPoweredOff, st.Power)
	require.NotEmpty(t, st.FinalBackupID)
	finalID := st.FinalBackupID
	off, err := e.Strata.GetCluster(ctx, cl.ID)
	require.NoError(t, err)
	assert.Equal(t, api.PowerPoweredOff, off.Power)
	require.NotNil(t, off.PoweredOffAt)
	require.NotNil(t, off.DeletionAt)
	assert.Equal(t, api.DefaultPowerOffRetention, off.DeletionAt.Sub(*off.PoweredOffAt))
	for _, v := range cl.Volumes() {
		_, err := os.Stat(v.Path)
		assert.True(t, os.IsNotExist(err), "volume %s deleted at power-off", v.ID)
	}
	for _, v := range off.Volumes() {
		assert.Empty(t, v.Path, "volume %s has no provider reference while off", v.ID)
	}
	final, err := e.Strata.GetBackup(ctx, st.FinalBackupID)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupCompleted, final.Status)
	assert.Equal(t, job.ID, final.JobID, "the final backup counts for the profile's job")
	jv, err := e.Strata.GetJob(ctx, job.ID)
	require.NoError(t, err)
	assert.True(t, jv.Schedule.Paused, "the job's schedule is paused while the cluster is off")
	requireUnlocked(t, e, cl.ID)

	run, err = e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	if err == nil {
		_, err = run.Wait(ctx)
	}
	require.Error(t, err, "a manual backup of a powered-off cluster")
	assert.Contains(t, err.Error(), "power-on")
	// A scheduled run finds it off: Defunct ClusterPoweredOff, pruned with
	// the job's other Defunct backups.
	require.NoError(t, e.Strata.TriggerJob(ctx, job.ID))
	stratatest.Eventually(t, time.Minute, "the triggered run Defunct", func() bool {
		bs, err := e.Strata.ListBackups(ctx, api.BackupFilter{JobID: job.ID, Statuses: []api.BackupStatus{catalog.BackupDefunct}})
		return err == nil && len(bs) == 1 && strings.HasPrefix(bs[0].Reason, api.ReasonClusterPoweredOff+":")
	})
	_, err = e.Strata.PauseJob(ctx, job.ID, false)
	require.NoError(t, err)
	jv, err = e.Strata.GetJob(ctx, job.ID)
	require.NoError(t, err)
	assert.True(t, jv.Schedule.Paused, "resuming a job of a powered-off cluster leaves its schedule paused")
	_, err = e.Strata.PowerOff(ctx, cl.ID, "")
	se = strataCode(t, err, api.ReasonInvalidState)
	assert.Contains(t, se.Message, "only a running cluster powers off")

	// A power-on that fails leaves the cluster PoweredOff, nothing built.
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{RestoreFail: true}))
	_, err = e.Strata.PowerOn(ctx, cl.ID, "")
	se = strataCode(t, err, api.ReasonPowerFailed)
	assert.Contains(t, se.Message, "power-on of cluster "+cl.ID+" failed")
	failed, err := e.Strata.GetCluster(ctx, cl.ID)
	require.NoError(t, err)
	assert.Equal(t, api.PowerPoweredOff, failed.Power)
	assert.Contains(t, failed.ClusterPower.Reason, "power-on of cluster "+cl.ID+" failed")
	assert.Equal(t, off.DeletionAt, failed.DeletionAt, "the clean-up clock is unchanged")
	for _, v := range failed.Volumes() {
		assert.Empty(t, v.Path, "volume %s", v.ID)
	}
	left, err := filepath.Glob(filepath.Join(e.Root, "volumes", cl.ID+"-*"))
	require.NoError(t, err)
	assert.Empty(t, left, "the failed power-on's volumes are deleted")
	requireUnlocked(t, e, cl.ID)
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{}))

	st, err = e.Strata.PowerOn(ctx, cl.ID, "plan resumed")
	require.NoError(t, err)
	assert.Equal(t, api.PowerRunning, st.Power)
	on, err := e.Strata.GetCluster(ctx, cl.ID)
	require.NoError(t, err)
	assert.Equal(t, cl.ID, on.ID)
	assert.Equal(t, api.PowerRunning, on.Power)
	assert.Nil(t, on.DeletionAt, "the clean-up clock stopped")
	require.Len(t, on.Nodes, len(cl.Nodes))
	for i, n := range on.Nodes {
		assert.Equal(t, cl.Nodes[i].ID, n.ID, "same nodes")
		assert.True(t, n.Healthy)
	}
	assert.Equal(t, before, volumeSums(t, on), "the cluster holds its data as it was at power-off")
	jv, err = e.Strata.GetJob(ctx, job.ID)
	require.NoError(t, err)
	assert.False(t, jv.Schedule.Paused, "the job resumed")
	final, err = e.Strata.GetBackup(ctx, finalID)
	require.NoError(t, err)
	assert.Empty(t, final.Holds, "the final backup is released for retention")
	_, err = e.Strata.PowerOn(ctx, cl.ID, "")
	strataCode(t, err, api.ReasonInvalidState)
	requireUnlocked(t, e, cl.ID)
	recordHistory(t, api.ClusterLifecycleWorkflowID(cl.ID), "lifecycle_profile_power_off_on")
	recordHistory(t, api.PowerOnWorkflowID(cl.ID, 3), "power_on")

	// It backs up again, and the job's prune follows the profile: one kept.
	require.NoError(t, e.Strata.TriggerJob(ctx, job.ID))
	stratatest.Eventually(t, time.Minute, "the job's backup and prune", func() bool {
		bs, err := e.Strata.ListBackups(ctx, api.BackupFilter{JobID: job.ID, Statuses: []api.BackupStatus{catalog.BackupCompleted, catalog.BackupDefunct}})
		return err == nil && len(bs) == 1 && bs[0].ID != final.ID && bs[0].Status == catalog.BackupCompleted
	})
}

// A profile makes its clusters' jobs (offsets spread between them);
// updating it moves every cluster on it; one in use is not deleted; the
// `none` profile refuses manual backups.
func TestProfilesDriveJobs(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	req := api.ProfileRequest{Name: "gold", Description: "hourly and daily"}
	for _, s := range []string{"every=1h keep-hourly=24", "every=24h offset=3h keep-daily=14"} {
		ps, err := api.ParseProfileSchedule(s)
		require.NoError(t, err)
		req.Schedules = append(req.Schedules, ps)
	}
	_, err := e.Strata.CreateProfile(ctx, req)
	require.NoError(t, err)
	_, err = e.Strata.CreateProfile(ctx, api.ProfileRequest{Name: "bad", PITR: api.Duration(48 * time.Hour)})
	strataCode(t, err, api.ReasonInvalidRequest)

	a := e.Cluster(strata.ClusterSpec{ID: "pa", Nodes: 1})
	b := e.Cluster(strata.ClusterSpec{ID: "pb", Nodes: 1})
	for _, cl := range []api.Cluster{a, b} {
		waitLifecycle(t, e, cl.ID)
		_, err := e.Strata.SetProfile(ctx, cl.ID, "gold")
		require.NoError(t, err)
	}
	v, err := e.Strata.GetProfile(ctx, "gold")
	require.NoError(t, err)
	require.Len(t, v.Clusters, 2)
	for _, c := range v.Clusters {
		assert.True(t, c.InSync, "%s: %v", c.ClusterID, c.Differences)
	}
	ja, err := e.Strata.ListJobs(ctx, a.ID)
	require.NoError(t, err)
	jb, err := e.Strata.ListJobs(ctx, b.ID)
	require.NoError(t, err)
	require.Len(t, ja, 2)
	require.Len(t, jb, 2)
	assert.NotEqual(t, ja[0].Offset, jb[0].Offset, "offsets spread across the profile's clusters")

	// Update: every cluster follows.
	req.Schedules = req.Schedules[:1]
	req.Schedules[0].Retention = api.Retention{KeepLast: 3}
	_, err = e.Strata.UpdateProfile(ctx, req)
	require.NoError(t, err)
	stratatest.Eventually(t, time.Minute, "both clusters to follow the profile", func() bool {
		v, err := e.Strata.GetProfile(ctx, "gold")
		if err != nil || len(v.Clusters) != 2 {
			return false
		}
		for _, c := range v.Clusters {
			if !c.InSync {
				return false
			}
		}
		return true
	})
	ja, err = e.Strata.ListJobs(ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, ja, 1)
	assert.Equal(t, api.Retention{KeepLast: 3}, ja[0].Retention)

	_, err = e.Strata.DeleteProfile(ctx, "gold")
	se := strataCode(t, err, api.ReasonInvalidState)
	assert.Contains(t, se.Message, "set-profile")

	// none: no jobs, manual backups refused naming the profile.
	_, err = e.Strata.SetProfile(ctx, a.ID, "none")
	require.NoError(t, err)
	ja, err = e.Strata.ListJobs(ctx, a.ID)
	require.NoError(t, err)
	assert.Empty(t, ja)
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: a.ID})
	if err == nil {
		_, err = run.Wait(ctx)
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "profile none")
}

// A cluster powered off past --poweroff-retention is deleted with its
// backups, after the notice --poweroff-notice before; each event reaches
// the project's webhook exactly once. The power-off is a plain SDK signal.
func TestPoweredOffClusterIsNotifiedThenDeleted(t *testing.T) {
	cfg := stratatest.TestConfig()
	cfg.PowerOffRetention, cfg.PowerOffNotice = 8*time.Second, 4*time.Second
	e := server.NewEnv(t, cfg)
	ctx := ctxT(t)
	hook := &receiver{accepted: map[string]int{}}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	_, err := e.Strata.AddChannel(ctx, api.AddChannelRequest{ProjectID: "default", Kind: "webhook", URL: srv.URL})
	require.NoError(t, err)
	cl, b := backedUp(t, e, strata.ClusterSpec{ID: "old", Nodes: 1})
	waitLifecycle(t, e, cl.ID)

	require.NoError(t, e.Client.SignalWorkflow(ctx, api.ClusterLifecycleWorkflowID(cl.ID), "", api.UpdatePowerOff, api.PowerRequest{RequestID: "off-1"}))
	require.NoError(t, e.Client.SignalWorkflow(ctx, api.ClusterLifecycleWorkflowID(cl.ID), "", api.UpdatePowerOff, api.PowerRequest{RequestID: "off-1"}))
	var off api.Cluster
	stratatest.Eventually(t, time.Minute, "the signalled power-off", func() bool {
		off, err = e.Strata.GetCluster(ctx, cl.ID)
		return err == nil && off.Power == api.PowerPoweredOff
	})
	stratatest.Eventually(t, time.Minute, "the cluster deleted", func() bool {
		c, err := e.Catalog.GetCluster(ctx, cl.ID)
		return err == nil && c.Status == catalog.ClusterDeleted
	})
	stratatest.Eventually(t, time.Minute, "both events delivered", func() bool { return hook.count() >= 2 })
	var bs []catalog.Backup
	defer func() {
		if t.Failed() {
			for _, x := range bs {
				t.Logf("backup %s %s %s holds %v", x.ID, x.Status, x.Reason, x.Holds)
			}
		}
	}()
	stratatest.Eventually(t, time.Minute, "its backups deleted", func() bool {
		bs, err = e.Catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: cl.ID, IncludeDeleted: true})
		if err != nil {
			return false
		}
		for _, x := range bs {
			if x.Status != catalog.BackupDeleted {
				return false
			}
		}
		return len(bs) == 2
	})
	got, err := e.Catalog.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupDeleted, got.Status)

	hook.mu.Lock()
	defer hook.mu.Unlock()
	byType := map[string][]notify.Event{}
	for _, body := range hook.bodies {
		var ev notify.Event
		require.NoError(t, json.Unmarshal(body, &ev))
		byType[ev.Type] = append(byType[ev.Type], ev)
	}
	require.Len(t, byType[api.EventClusterDeletionScheduled], 1, "one notice")
	require.Len(t, byType[api.EventClusterDeleted], 1, "one deletion")
	notice := byType[api.EventClusterDeletionScheduled][0]
	assert.Equal(t, off.DeletionAt.UTC().Format(time.RFC3339), notice.Details["deletionAt"], "the notice gives the date")
	assert.WithinDuration(t, off.DeletionAt.Add(-cfg.PowerOffNotice), notice.Time, 3*time.Second)
	deleted := byType[api.EventClusterDeleted][0]
	assert.False(t, deleted.Time.Before(*off.DeletionAt), "deleted at its date, not before")
	for id, n := range hook.accepted {
		assert.Equal(t, 1, n, "event %s delivered once", id)
	}
	assert.Equal(t, 1, countPowerOffs(t, e, cl.ID), "the repeated signal acted once")
	recordHistory(t, api.ClusterLifecycleWorkflowID(cl.ID), "lifecycle_cleanup")

	// A deleted cluster is not listed, and takes no more operations.
	cls, err := e.Strata.ListClusters(ctx)
	require.NoError(t, err)
	for _, c := range cls {
		assert.NotEqual(t, cl.ID, c.ID)
	}
}

// countPowerOffs counts a cluster's final backups.
func countPowerOffs(t *testing.T, e *stratatest.Env, clusterID string) int {
	t.Helper()
	bs, err := e.Catalog.ListBackups(ctxT(t), catalog.BackupFilter{ClusterID: clusterID, IncludeDeleted: true})
	require.NoError(t, err)
	n := 0
	for _, b := range bs {
		if api.IsFinalBackupOf(b.WorkflowID, clusterID) {
			n++
		}
	}
	return n
}

// A postgres cluster powered off and on holds every row it had.
func TestPostgresPowerOffAndOn(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl, primary, _ := pgTable(t, e, 2)
	waitLifecycle(t, e, cl.ID)
	pgBackup(t, e, cl.ID)
	insert(t, primary, "after-the-backup")
	want := pgRows(t, e, cl.ID)
	primary.Close(ctx)

	st, err := e.Strata.PowerOff(ctx, cl.ID, "")
	require.NoError(t, err)
	require.Equal(t, api.PowerPoweredOff, st.Power)
	_, err = e.Strata.ConnectCluster(ctx, cl.ID)
	require.Error(t, err, "no server runs while off")

	st, err = e.Strata.PowerOn(ctx, cl.ID, "")
	require.NoError(t, err)
	require.Equal(t, api.PowerRunning, st.Power)
	assert.Equal(t, want, pgRows(t, e, cl.ID), "every row, also the one written after the last backup")
	on, err := e.Strata.GetCluster(ctx, cl.ID)
	require.NoError(t, err)
	roles := map[string]int{}
	for _, n := range on.Nodes {
		roles[n.Role]++
		assert.True(t, n.Healthy, "node %s", n.ID)
	}
	assert.Equal(t, map[string]int{api.NodePrimary: 1, api.NodeReplica: 1}, roles)
}

// A worker SIGKILLed during a power-off's final backup, and again during
// a power-on's restore, leaves nothing half done: the other worker
// finishes each, the cluster ends PoweredOff then Running with its data,
// and no lock is left.
func TestWorkerKilledMidPowerOffAndMidPowerOn(t *testing.T) {
	cfg := stratatest.TestConfig()
	cfg.ProgressStep = 0
	e := server.NewEnv(t, cfg)
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{ID: "pk", Nodes: 2})
	waitLifecycle(t, e, cl.ID)
	before := volumeSums(t, cl)
	e.StopWorker()
	a := e.StartWorkerProcess("A")
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: catalog.Duration(3 * time.Second)}))

	type outcome struct {
		st  api.ClusterLifecycleState
		err error
	}
	offDone := make(chan outcome, 1)
	go func() {
		st, err := e.Strata.PowerOff(ctx, cl.ID, "")
		offDone <- outcome{st, err}
	}()
	stratatest.Eventually(t, time.Minute, "the final backup InProgress", func() bool {
		bs, err := e.Catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: cl.ID, Statuses: []catalog.BackupStatus{catalog.BackupInProgress}})
		return err == nil && len(bs) == 1 && api.IsFinalBackupOf(bs[0].WorkflowID, cl.ID)
	})
	require.NoError(t, a.Kill())
	b := e.StartWorkerProcess("B")
	off := <-offDone
	require.NoError(t, off.err)
	assert.Equal(t, api.PowerPoweredOff, off.st.Power)
	for _, v := range cl.Volumes() {
		_, err := os.Stat(v.Path)
		assert.True(t, os.IsNotExist(err), "volume %s deleted", v.ID)
	}
	requireUnlocked(t, e, cl.ID)
	assert.Equal(t, 1, countPowerOffs(t, e, cl.ID), "one final backup")

	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{RestoreDelay: catalog.Duration(3 * time.Second)}))
	onDone := make(chan outcome, 1)
	go func() {
		st, err := e.Strata.PowerOn(ctx, cl.ID, "")
		onDone <- outcome{st, err}
	}()
	stratatest.Eventually(t, time.Minute, "the power-on creating volumes", func() bool {
		rs, err := e.Catalog.ListOpenRestores(ctx)
		if err != nil || len(rs) != 1 || rs[0].ClusterID != cl.ID {
			return false
		}
		c, err := e.Catalog.GetCluster(ctx, cl.ID)
		return err == nil && len(c.Volumes()) > 0 && c.Volumes()[0].Path != ""
	})
	require.NoError(t, b.Kill())
	e.StartWorker()
	on := <-onDone
	require.NoError(t, on.err)
	assert.Equal(t, api.PowerRunning, on.st.Power)
	got, err := e.Strata.GetCluster(ctx, cl.ID)
	require.NoError(t, err)
	assert.Equal(t, before, volumeSums(t, got), "the data survived both kills")
	requireUnlocked(t, e, cl.ID)
	rs, err := e.Catalog.ListOpenRestores(ctx)
	require.NoError(t, err)
	assert.Empty(t, rs, "no restore left open")
}
