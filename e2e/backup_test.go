package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/local"
	"github.com/stratabackup/strata/starter/strata"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// backupErr asserts err is a Defunct backup with the reason code.
func backupErr(t *testing.T, err error, code string) *strata.BackupError {
	t.Helper()
	var be *strata.BackupError
	require.True(t, errors.As(err, &be), "want *strata.BackupError, got %v", err)
	require.Equal(t, code, be.Code, be.Reason)
	require.NotNil(t, be.Backup, "a Defunct backup has a record")
	require.Equal(t, catalog.BackupDefunct, be.Backup.Status)
	require.True(t, strings.HasPrefix(be.Backup.Reason, code+": "), be.Backup.Reason)
	return be
}

func requireUnlocked(t *testing.T, e *stratatest.Env, clusterID string) {
	t.Helper()
	l, err := e.Catalog.GetLock(context.Background(), clusterID)
	require.NoError(t, err)
	require.Nil(t, l, "cluster %s is still locked", clusterID)
}

func TestBackupSnapshotsEveryVolumeWithItsData(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{ID: "pg-main", Description: "orders", Nodes: 3, VolumesPerNode: 2})

	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID, Label: "{cluster}-{index}"})
	require.NoError(t, err)
	b, err := run.Wait(ctx)
	require.NoError(t, err)

	assert.Equal(t, catalog.BackupCompleted, b.Status)
	assert.Equal(t, "orders-1", b.Label)
	assert.EqualValues(t, 1, b.Index)
	assert.Equal(t, run.WorkflowID, b.WorkflowID)
	assert.NotNil(t, b.CompletedAt)
	require.Len(t, b.Snapshots, 6)
	for _, v := range cl.Volumes() {
		var snap *api.Snapshot
		for i := range b.Snapshots {
			if b.Snapshots[i].VolumeID == v.ID {
				snap = &b.Snapshots[i]
			}
		}
		require.NotNil(t, snap, "no snapshot of volume %s", v.ID)
		assert.Equal(t, catalog.SnapshotCompleted, snap.Status)
		assert.Equal(t, 100, snap.Progress)
		assert.Equal(t, v.NodeID, snap.NodeID)
		want, err := local.DirChecksums(v.Path)
		require.NoError(t, err)
		require.NotEmpty(t, want)
		got, err := local.DirChecksums(e.Local.SnapshotDataDir(snap.SnapshotID))
		require.NoError(t, err)
		assert.Equal(t, want, got, "snapshot %s holds volume %s's data", snap.SnapshotID, v.ID)
	}
	requireUnlocked(t, e, cl.ID)
	recordHistory(t, run.WorkflowID, "backup_completed")

	// The index counts per cluster.
	run2, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	b2, err := run2.Wait(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2, b2.Index)
	assert.Equal(t, "pg-main-2", b2.Label)

	// The Web UI finds it by cluster and status.
	query := fmt.Sprintf("StrataClusterId = %q AND StrataBackupStatus = 'Completed' AND TaskQueue = %q", cl.ID, e.TaskQueue)
	stratatest.Eventually(t, 30*time.Second, "visibility to list both backups", func() bool {
		resp, err := server.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		return err == nil && len(resp.GetExecutions()) == 2
	})
}

func TestBackupFailsFastWhenAnOutsideOperationHoldsTheLock(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	outside, err := e.Strata.LockCluster(ctx, cl.ID, "disk expansion", time.Hour)
	require.NoError(t, err)

	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	be := backupErr(t, err, api.ReasonClusterLocked)
	assert.Contains(t, be.Reason, `"disk expansion"`, "the reason names the holder")
	assert.Empty(t, be.Backup.Snapshots)
	recordHistory(t, run.WorkflowID, "backup_cluster_locked")

	l, err := e.Catalog.GetLock(ctx, cl.ID)
	require.NoError(t, err)
	require.NotNil(t, l, "the outside lock is untouched")
	assert.Equal(t, outside.Token, l.Token)
	assert.Equal(t, "disk expansion", l.Holder)
	require.NoError(t, e.Strata.UnlockCluster(ctx, cl.ID, outside.Token))
}

func TestConcurrentBackupsOfOneClusterOneWins(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 3})
	// Slow snapshots keep the first backup holding the lock while the
	// second one tries to take it.
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: catalog.Duration(2 * time.Second)}))

	var wg sync.WaitGroup
	results := make([]error, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
			if err == nil {
				_, err = run.Wait(ctx)
			}
			results[i] = err
		}()
	}
	wg.Wait()
	var completed, locked int
	for _, err := range results {
		if err == nil {
			completed++
			continue
		}
		backupErr(t, err, api.ReasonClusterLocked)
		locked++
	}
	assert.Equal(t, 1, completed)
	assert.Equal(t, 1, locked)
	requireUnlocked(t, e, cl.ID)
	bs, err := e.Catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: cl.ID})
	require.NoError(t, err)
	require.Len(t, bs, 2)
}

func TestUnhealthyNodeMakesBackupDefunct(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 3})
	require.NoError(t, e.Strata.SetNodeHealth(ctx, cl.ID, cl.Nodes[1].ID, false))

	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	be := backupErr(t, err, api.ReasonClusterUnhealthy)
	assert.Contains(t, be.Reason, cl.Nodes[1].ID)
	assert.NotContains(t, be.Reason, cl.Nodes[0].ID)
	requireUnlocked(t, e, cl.ID)
}

func TestHungSnapshotTimesOutWithSnapshotRecorded(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1, VolumesPerNode: 2})
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotHang: true}))

	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID, Timeout: catalog.Duration(2 * time.Second)})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	be := backupErr(t, err, api.ReasonTimeout)
	assert.Contains(t, be.Reason, "did not complete within 2s")
	require.Len(t, be.Backup.Snapshots, 2, "every snapshot the backup created is on the record")
	for _, s := range be.Backup.Snapshots {
		assert.NotEmpty(t, s.SnapshotID)
		assert.Equal(t, catalog.SnapshotPending, s.Status, "the hung snapshot may still complete later: it is recorded as pending")
		got, err := e.Local.GetSnapshots(ctx, []string{s.SnapshotID})
		require.NoError(t, err)
		require.Len(t, got, 1, "the recorded ID is the provider's snapshot")
	}
	requireUnlocked(t, e, cl.ID)
	recordHistory(t, run.WorkflowID, "backup_timeout")
}

func TestWorkerStoppedMidBackupResumesWithOneSnapshotPerVolume(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 2, VolumesPerNode: 2})
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: catalog.Duration(3 * time.Second)}))

	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	stratatest.Eventually(t, 30*time.Second, "snapshots to be started and recorded", func() bool {
		b, err := e.Catalog.GetBackup(ctx, run.BackupID)
		return err == nil && len(b.Snapshots) == 4
	})
	e.StopWorker()
	e.StartWorker()

	b, err := run.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupCompleted, b.Status)
	require.Len(t, b.Snapshots, 4)
	atProvider, err := e.Local.ListSnapshots(ctx, providers.SnapshotFilter{BackupID: run.BackupID})
	require.NoError(t, err)
	assert.Len(t, atProvider, 4, "exactly one snapshot per volume exists at the provider")
	for _, s := range b.Snapshots {
		want, err := local.DirChecksums(volumePath(cl, s.VolumeID))
		require.NoError(t, err)
		got, err := local.DirChecksums(e.Local.SnapshotDataDir(s.SnapshotID))
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	bs, err := e.Catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: cl.ID})
	require.NoError(t, err)
	assert.Len(t, bs, 1, "the backup completed once")
	requireUnlocked(t, e, cl.ID)
	recordHistory(t, run.WorkflowID, "backup_worker_restarted")
}

func volumePath(cl api.Cluster, volumeID string) string {
	for _, v := range cl.Volumes() {
		if v.ID == volumeID {
			return v.Path
		}
	}
	return ""
}

func TestBadInputIsRejectedBeforeAnythingIsCreated(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})

	for name, req := range map[string]api.BackupRequest{
		"bad label":       {ClusterID: cl.ID, Label: "nightly-{nope}"},
		"unknown cluster": {ClusterID: "no-such-cluster"},
		"bad timeout":     {ClusterID: cl.ID, Timeout: catalog.Duration(-time.Minute)},
	} {
		_, err := e.Strata.StartBackup(ctx, req)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "invalid backup request", name)
	}
	_, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID, Label: "nightly-{nope}"})
	assert.Contains(t, err.Error(), `unknown variable "nope"`)

	// Started around the client (as `temporal workflow start` does), the
	// workflow rejects it itself, non-retryably, before creating a record.
	wr, err := server.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: e.TaskQueue}, api.BackupWorkflowName,
		map[string]any{"clusterId": cl.ID, "label": "{cluster:nope}"})
	require.NoError(t, err)
	err = wr.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v", err)
	assert.Equal(t, api.ReasonInvalidRequest, appErr.Type())
	assert.Contains(t, appErr.Message(), "unknown format")

	bs, err := e.Catalog.ListBackups(ctx, catalog.BackupFilter{})
	require.NoError(t, err)
	assert.Empty(t, bs, "no record was created")
	requireUnlocked(t, e, cl.ID)
}

func TestBackupStartedLikeTheTemporalCLI(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	// The JSON input a user types: plain field names, a duration string.
	wr, err := server.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: e.TaskQueue}, api.BackupWorkflowName,
		map[string]any{"clusterId": cl.ID, "timeout": "10m", "label": "manual {datetime:date}"})
	require.NoError(t, err)
	var res map[string]any
	require.NoError(t, wr.Get(ctx, &res))
	assert.Equal(t, "Completed", res["status"])
	assert.Equal(t, cl.ID, res["clusterId"])
	assert.Equal(t, api.BackupIDFor(wr.GetID()), res["id"])
	assert.Regexp(t, `^manual \d{4}-\d\d-\d\d$`, res["label"])
}

func TestCancelMakesBackupDefunctAndReleasesLock(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotHang: true}))
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	waitForStep(t, e, run.BackupID, api.StepWaiting)

	require.NoError(t, e.Strata.CancelBackup(ctx, run.BackupID))
	_, err = run.Wait(ctx)
	be := backupErr(t, err, api.ReasonCancelled)
	assert.Len(t, be.Backup.Snapshots, 1, "the snapshot it started is recorded")
	requireUnlocked(t, e, cl.ID)
	recordHistory(t, run.WorkflowID, "backup_cancelled")
}

func waitForStep(t *testing.T, e *stratatest.Env, backupID, step string) {
	t.Helper()
	stratatest.Eventually(t, 30*time.Second, "step "+step, func() bool {
		p, err := e.Strata.BackupStatus(context.Background(), backupID)
		return err == nil && p.Step == step
	})
}

func TestExtendTimeoutOnARunningBackup(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: catalog.Duration(4 * time.Second)}))
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID, Timeout: catalog.Duration(2 * time.Second)})
	require.NoError(t, err)
	waitForStep(t, e, run.BackupID, api.StepWaiting)

	_, err = e.Strata.ExtendBackupTimeout(ctx, run.BackupID, api.ExtendTimeoutRequest{Timeout: catalog.Duration(time.Second)})
	require.Error(t, err, "a deadline that is not later is rejected")
	assert.Contains(t, err.Error(), "not later than the current deadline")

	res, err := e.Strata.ExtendBackupTimeout(ctx, run.BackupID, api.ExtendTimeoutRequest{Timeout: catalog.Duration(time.Minute)})
	require.NoError(t, err)
	b, err := run.Wait(ctx)
	require.NoError(t, err, "the extended backup outlives its original 2s timeout")
	assert.Equal(t, catalog.BackupCompleted, b.Status)
	require.NotNil(t, b.Deadline)
	assert.WithinDuration(t, res.Deadline, *b.Deadline, time.Millisecond, "the catalog records the extended deadline")
	recordHistory(t, run.WorkflowID, "backup_extended")
}

func TestSameRequestIDRunsOneBackup(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	req := api.BackupRequest{ClusterID: cl.ID, RequestID: "nightly-2026-11-23"}
	r1, err := e.Strata.StartBackup(ctx, req)
	require.NoError(t, err)
	r2, err := e.Strata.StartBackup(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, r1.BackupID, r2.BackupID)
	assert.Equal(t, r1.RunID, r2.RunID)
	_, err = r1.Wait(ctx)
	require.NoError(t, err)
	// Also after it finished.
	r3, err := e.Strata.StartBackup(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, r1.RunID, r3.RunID)
	bs, err := e.Catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: cl.ID})
	require.NoError(t, err)
	assert.Len(t, bs, 1)
}

// The starter sets cluster and Pending status at start, so the workflow
// does not upsert them again (one event and one visibility write less per
// backup); a run that fails before it has a record does not stay Pending.
func TestStartSearchAttributesAreNotUpsertedAgain(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})

	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, strataUpserts(t, run.WorkflowID), "only InProgress and Completed are upserted")

	wr, err := server.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		TaskQueue: e.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			api.SearchAttrClusterID.ValueSet(cl.ID), api.SearchAttrBackupStatus.ValueSet(string(catalog.BackupPending))),
	}, api.BackupWorkflowName, api.BackupRequest{ClusterID: cl.ID, Label: "{cluster:nope}"})
	require.NoError(t, err)
	require.Error(t, wr.Get(ctx, nil))
	desc, err := server.Client.DescribeWorkflowExecution(ctx, wr.GetID(), "")
	require.NoError(t, err)
	fields := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	assert.NotContains(t, fields, api.SearchAttrBackupStatus.GetName(), "a rejected backup must not stay Pending")
	assert.Contains(t, fields, api.SearchAttrClusterID.GetName())
}

// strataUpserts counts the workflow's upserts of Strata's search attributes
// (not the SDK's own TemporalChangeVersion upsert that comes with a
// workflow.GetVersion marker).
func strataUpserts(t *testing.T, workflowID string) int {
	t.Helper()
	iter := server.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if ev.GetEventType() != enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES {
			continue
		}
		for name := range ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields() {
			if strings.HasPrefix(name, "Strata") {
				n++
				break
			}
		}
	}
	return n
}
