package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/providers/local"
	"github.com/stratabackup/strata/starter/strata"
)

// backedUp creates a cluster with distinct data per volume and a Completed
// backup of it.
func backedUp(t *testing.T, e *stratatest.Env, spec strata.ClusterSpec) (api.Cluster, api.Backup) {
	t.Helper()
	ctx := ctxT(t)
	cl := e.Cluster(spec)
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	b, err := run.Wait(ctx)
	require.NoError(t, err)
	return cl, b
}

func restoreErr(t *testing.T, err error, code string) *strata.RestoreError {
	t.Helper()
	var re *strata.RestoreError
	require.True(t, errors.As(err, &re), "want *strata.RestoreError, got %v", err)
	require.Equal(t, code, re.Code, re.Reason)
	return re
}

// sameData asserts the new volume holds exactly the source volume's data.
func sameData(t *testing.T, sourcePath, restoredPath string) {
	t.Helper()
	want, err := local.DirChecksums(sourcePath)
	require.NoError(t, err)
	require.NotEmpty(t, want)
	got, err := local.DirChecksums(restoredPath)
	require.NoError(t, err)
	assert.Equal(t, want, got, "restored %s holds %s's data", restoredPath, sourcePath)
}

func TestRestoreThreeNodesToOneAndToThree(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	src, b := backedUp(t, e, strata.ClusterSpec{Nodes: 3, VolumesPerNode: 2, DiskGB: 20})
	vol := map[string]api.Volume{}
	for _, v := range src.Volumes() {
		vol[v.ID] = v
	}

	// 3 → 1: the preferred node's volumes.
	run, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b.ID, Nodes: 1})
	require.NoError(t, err)
	res, err := run.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, catalog.RestoreCompleted, res.Restore.Status)
	cl := res.Cluster
	assert.NotEqual(t, src.ID, cl.ID, "a restore always creates a new cluster")
	assert.Equal(t, run.ClusterID, cl.ID)
	assert.Equal(t, catalog.ClusterRunning, cl.Status)
	assert.Equal(t, b.ID, cl.RestoredFrom)
	require.Len(t, cl.Nodes, 1)
	require.Len(t, cl.Nodes[0].Volumes, 2)
	assert.True(t, cl.Nodes[0].Healthy)
	for j, v := range cl.Nodes[0].Volumes {
		source := vol[b.PreferredNodeID+"-v"+string(rune('1'+j))]
		assert.Equal(t, 20, v.SizeGB)
		sameData(t, source.Path, v.Path)
	}
	// The source is untouched and the backup is free again.
	again, err := e.Catalog.GetCluster(ctx, src.ID)
	require.NoError(t, err)
	assert.Equal(t, src.Nodes, again.Nodes)
	bb, err := e.Catalog.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	assert.Empty(t, bb.Holds, "the restore released its hold")

	// 3 → 3: node i from source node i, bigger disks allowed.
	run, err = e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b.ID, DiskGB: 50, Description: "copy"})
	require.NoError(t, err)
	res, err = run.Wait(ctx)
	require.NoError(t, err)
	require.Len(t, res.Cluster.Nodes, 3)
	assert.Equal(t, "copy", res.Cluster.Description)
	for i, n := range res.Cluster.Nodes {
		for j, v := range n.Volumes {
			assert.Equal(t, 50, v.SizeGB)
			sameData(t, src.Nodes[i].Volumes[j].Path, v.Path)
		}
	}
	rs, err := e.Strata.ListRestores(ctx, b.ID)
	require.NoError(t, err)
	assert.Len(t, rs, 2)
	recordHistory(t, run.WorkflowID, "restore_completed")
}

func TestRestoreIntoAnotherProjectAndNetwork(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	_, b := backedUp(t, e, strata.ClusterSpec{Nodes: 1})
	_, err := e.Strata.CreateProject(ctx, "analytics")
	require.NoError(t, err)
	_, err = e.Strata.CreateNetwork(ctx, api.Network{ID: "analytics-net", ProjectID: "analytics", Provider: "local", Region: "local"})
	require.NoError(t, err)

	run, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b.ID, ProjectID: "analytics", NetworkID: "analytics-net"})
	require.NoError(t, err)
	res, err := run.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, "analytics", res.Cluster.ProjectID)
	assert.Equal(t, "analytics-net", res.Cluster.NetworkID)
}

func TestInvalidRestoresCreateNothing(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	src, b := backedUp(t, e, strata.ClusterSpec{Nodes: 1, DiskGB: 20})
	_, err := e.Strata.CreateProject(ctx, "other")
	require.NoError(t, err)
	_, err = e.Strata.CreateNetwork(ctx, api.Network{ID: "other-net", ProjectID: "other", Provider: "local", Region: "local"})
	require.NoError(t, err)
	require.NoError(t, e.Strata.SetNodeHealth(ctx, src.ID, src.Nodes[0].ID, false))
	bad, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: src.ID})
	require.NoError(t, err)
	_, err = bad.Wait(ctx)
	defunct := backupErr(t, err, api.ReasonClusterUnhealthy)

	before, err := e.Catalog.ListClusters(ctx)
	require.NoError(t, err)
	for name, c := range map[string]struct {
		req  api.RestoreRequest
		want string
	}{
		"region":         {api.RestoreRequest{BackupID: b.ID, Region: "eu-west-1"}, `region "eu-west-1": a restore stays in the source's region "local"`},
		"provider":       {api.RestoreRequest{BackupID: b.ID, Provider: "aws"}, `provider "aws": a restore stays on the source's provider "local"`},
		"smaller disk":   {api.RestoreRequest{BackupID: b.ID, DiskGB: 10}, "disk size 10 GB is smaller than source volume"},
		"defunct backup": {api.RestoreRequest{BackupID: defunct.BackupID}, "is Defunct: only Completed backups can be restored"},
		"network":        {api.RestoreRequest{BackupID: b.ID, NetworkID: "other-net"}, `network "other-net" belongs to project "other", not "default"`},
		"no network":     {api.RestoreRequest{BackupID: b.ID, NetworkID: "nope"}, `network "nope"`},
		"project":        {api.RestoreRequest{BackupID: b.ID, ProjectID: "other"}, "give a network of that project"},
		"no backup":      {api.RestoreRequest{LatestOfJob: "job-none"}, "job job-none has no Completed backup"},
	} {
		run, err := e.Strata.StartRestore(ctx, c.req)
		require.NoError(t, err, name)
		_, err = run.Wait(ctx)
		re := restoreErr(t, err, api.ReasonInvalidRequest)
		assert.Contains(t, re.Reason, c.want, name)
		assert.Nil(t, re.Result, "%s: no restore record", name)
	}
	after, err := e.Catalog.ListClusters(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(before), len(after), "no cluster was created")
	rs, err := e.Strata.ListRestores(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, rs)
	assert.Len(t, volumeDirs(t, e), 1, "only the source volume exists")
}

func TestFailedRestoreLeavesNothingBehind(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	src, b := backedUp(t, e, strata.ClusterSpec{Nodes: 2, VolumesPerNode: 2})
	// Provisioning fails after every volume exists.
	require.NoError(t, e.Strata.SetFaults(ctx, src.ID, api.Faults{RestoreFail: true}))

	run, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b.ID})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	re := restoreErr(t, err, api.ReasonProviderError)
	assert.Contains(t, re.Reason, "injected restore failure")
	require.NotNil(t, re.Result)
	assert.Equal(t, catalog.RestoreFailed, re.Result.Restore.Status)
	cl := re.Result.Cluster
	assert.Equal(t, catalog.ClusterFailed, cl.Status)
	assert.Contains(t, cl.StatusReason, "injected restore failure")
	for _, v := range cl.Volumes() {
		assert.Empty(t, v.Path, "volume %s was deleted", v.ID)
		_, err := os.Stat(filepath.Join(e.Root, "volumes", v.ID))
		assert.True(t, os.IsNotExist(err), "volume %s is gone from disk", v.ID)
	}
	_, err = os.Stat(filepath.Join(e.Root, "nodes", cl.ID))
	if err == nil {
		entries, _ := os.ReadDir(filepath.Join(e.Root, "nodes", cl.ID))
		assert.Empty(t, entries, "no node of the failed cluster is left")
	}
	bb, err := e.Catalog.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	assert.Empty(t, bb.Holds, "the hold was released")
	recordHistory(t, run.WorkflowID, "restore_failed")
	recorded := []string{}
	for _, v := range src.Volumes() {
		recorded = append(recorded, v.ID)
	}
	assert.ElementsMatch(t, recorded, volumeDirs(t, e), "only the source's volumes remain")
	meta, _ := os.ReadDir(filepath.Join(e.Root, "volumes", ".restored"))
	assert.Empty(t, meta, "no restored volume's metadata is left")
}

// volumeDirs lists the volumes on disk (the provider's dot-folders aside).
func volumeDirs(t *testing.T, e *stratatest.Env) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.Root, "volumes"))
	require.NoError(t, err)
	var out []string
	for _, en := range entries {
		if en.Name()[0] != '.' {
			out = append(out, en.Name())
		}
	}
	return out
}

func TestCancelledRestoreIsTornDown(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	src, b := backedUp(t, e, strata.ClusterSpec{Nodes: 1})
	require.NoError(t, e.Strata.SetFaults(ctx, src.ID, api.Faults{RestoreDelay: catalog.Duration(time.Minute)}))
	run, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b.ID})
	require.NoError(t, err)
	stratatest.Eventually(t, 30*time.Second, "the restore to create volumes", func() bool {
		_, live, err := e.Strata.GetRestore(ctx, run.RestoreID)
		return err == nil && live != nil && live.Step == api.StepCreatingVolumes
	})
	require.NoError(t, e.Strata.CancelRestore(ctx, run.RestoreID))
	_, err = run.Wait(ctx)
	re := restoreErr(t, err, "Cancelled")
	require.NotNil(t, re.Result)
	assert.Equal(t, catalog.RestoreFailed, re.Result.Restore.Status)
	assert.Equal(t, catalog.ClusterFailed, re.Result.Cluster.Status)
	bb, err := e.Catalog.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	assert.Empty(t, bb.Holds)
}

func TestRestoreLatestOfJob(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	job := newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Retention: api.Retention{KeepLast: 5}})
	triggerAndWait(t, e, job.ID)
	triggerAndWait(t, e, job.ID)
	require.NoError(t, e.Strata.SetNodeHealth(ctx, cl.ID, cl.Nodes[0].ID, false))
	triggerAndWait(t, e, job.ID) // Defunct: not a candidate
	require.NoError(t, e.Strata.SetNodeHealth(ctx, cl.ID, cl.Nodes[0].ID, true))
	manual, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = manual.Wait(ctx) // newer, but not the job's
	require.NoError(t, err)
	newest := jobBackups(t, e, job.ID)[catalog.BackupCompleted][0]

	run, err := e.Strata.StartRestore(ctx, api.RestoreRequest{LatestOfJob: job.ID})
	require.NoError(t, err)
	res, err := run.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, newest.ID, res.Restore.BackupID, "the job's newest Completed backup")

	run, err = e.Strata.StartRestore(ctx, api.RestoreRequest{LatestOfCluster: cl.ID})
	require.NoError(t, err)
	res, err = run.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, manual.BackupID, res.Restore.BackupID, "the cluster's newest Completed backup")
}

func TestRestoreRunningWhileItsJobPrunesKeepsItsBackup(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	job := newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Retention: api.Retention{KeepLast: 1}})
	triggerAndWait(t, e, job.ID)
	first := jobBackups(t, e, job.ID)[catalog.BackupCompleted][0]

	// A slow restore of the first backup is running...
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{RestoreDelay: catalog.Duration(4 * time.Second)}))
	run, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: first.ID})
	require.NoError(t, err)
	stratatest.Eventually(t, 30*time.Second, "the restore to hold its backup", func() bool {
		b, err := e.Catalog.GetBackup(ctx, first.ID)
		return err == nil && len(b.Holds) == 1
	})
	// ...while the job runs and prunes with keep 1.
	triggerAndWait(t, e, job.ID)
	got := jobBackups(t, e, job.ID)
	assert.Len(t, got[catalog.BackupCompleted], 2, "the backup in use survives pruning")
	assert.Contains(t, ids(got[catalog.BackupCompleted]), first.ID)
	_, err = e.Strata.DeleteBackup(ctx, first.ID, true)
	require.Error(t, err, "nor can it be deleted by hand")
	assert.Contains(t, err.Error(), "in use by restore "+run.RestoreID)

	res, err := run.Wait(ctx)
	require.NoError(t, err)
	sameData(t, cl.Nodes[0].Volumes[0].Path, res.Cluster.Nodes[0].Volumes[0].Path)

	// Once the restore is done, the next prune may take it.
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{}))
	triggerAndWait(t, e, job.ID)
	got = jobBackups(t, e, job.ID)
	assert.Len(t, got[catalog.BackupCompleted], 1)
	assert.Contains(t, ids(got[catalog.BackupDeleted]), first.ID)
}
