package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/starter/strata"
)

func TestReconcileDeletesOrphansOfTimedOutBackups(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	// The backup times out, but its slow snapshot completes afterwards at
	// the provider: an orphan that would cost money.
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: catalog.Duration(2 * time.Second)}))
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID, Timeout: catalog.Duration(time.Second)})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	be := backupErr(t, err, api.ReasonTimeout)
	snapID := be.Backup.Snapshots[0].SnapshotID
	stratatest.Eventually(t, 30*time.Second, "the orphan to complete at the provider", func() bool {
		got, err := e.Local.GetSnapshots(ctx, []string{snapID})
		return err == nil && len(got) == 1 && got[0].State == providers.StateCompleted
	})

	// A running backup's snapshot is never touched.
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotHang: true}))
	running, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	waitForStep(t, e, running.BackupID, api.StepWaiting)

	// Within the grace period nothing is deleted.
	res, err := e.Strata.Reconcile(ctx, ptr(time.Hour), false)
	require.NoError(t, err)
	assert.Empty(t, res.Plan.Orphans)
	assert.Equal(t, 1, res.Plan.Skipped)

	dry, err := e.Strata.Reconcile(ctx, ptr(time.Nanosecond), true)
	require.NoError(t, err)
	require.Len(t, dry.Plan.Orphans, 1)
	assert.False(t, dry.Applied)
	got, err := e.Local.GetSnapshots(ctx, []string{snapID})
	require.NoError(t, err)
	require.Len(t, got, 1, "a dry run deletes nothing")

	res, err = e.Strata.Reconcile(ctx, ptr(time.Nanosecond), false)
	require.NoError(t, err)
	require.Len(t, res.Plan.Orphans, 1)
	assert.Equal(t, snapID, res.Plan.Orphans[0].SnapshotID)
	assert.Contains(t, res.Plan.Orphans[0].Reason, "Defunct: Timeout")
	assert.True(t, res.Applied)
	got, err = e.Local.GetSnapshots(ctx, []string{snapID})
	require.NoError(t, err)
	assert.Empty(t, got, "the orphan is gone")
	b, err := e.Catalog.GetBackup(ctx, be.BackupID)
	require.NoError(t, err)
	assert.Equal(t, catalog.SnapshotDeleted, b.Snapshots[0].Status, "and recorded as deleted")

	p, err := e.Strata.BackupStatus(ctx, running.BackupID)
	require.NoError(t, err)
	atProvider, err := e.Local.ListSnapshots(ctx, providers.SnapshotFilter{BackupID: running.BackupID})
	require.NoError(t, err)
	assert.Len(t, atProvider, 1, "the running backup's snapshot is untouched")
	assert.Equal(t, api.StepWaiting, p.Step)
	require.NoError(t, e.Strata.CancelBackup(ctx, running.BackupID))
	_, _ = running.Wait(ctx)
}

func TestReconcileMarksBackupsWhoseSnapshotsAreGone(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	_, b := backedUp(t, e, strata.ClusterSpec{Nodes: 2})
	_, keep := backedUp(t, e, strata.ClusterSpec{Nodes: 1})
	require.NoError(t, e.Local.DeleteSnapshot(context.Background(), b.Snapshots[1].SnapshotID), "deleted out of band")

	res, err := e.Strata.Reconcile(ctx, ptr(time.Duration(0)), false)
	require.NoError(t, err)
	require.Len(t, res.Plan.Missing, 1)
	assert.Equal(t, b.Snapshots[1].SnapshotID, res.Plan.Missing[0].SnapshotID)
	got, err := e.Catalog.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupMissing, got.Status)
	assert.Contains(t, got.Reason, b.Snapshots[1].SnapshotID)
	other, err := e.Catalog.GetBackup(ctx, keep.ID)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupCompleted, other.Status)

	// A Missing backup cannot be restored.
	rr, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b.ID})
	require.NoError(t, err)
	_, err = rr.Wait(ctx)
	restoreErr(t, err, api.ReasonInvalidRequest)
}
