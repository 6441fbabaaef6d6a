package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
)

// CompleteBackup run again after it succeeded and the lock was released
// (a local activity whose workflow task failed and ran again) answers the
// Completed backup instead of LockLost; a backup whose lock was lost
// before it completed still fails LockLost.
func TestCompleteBackupAgainAfterRelease(t *testing.T) {
	ctx := context.Background()
	cat := catalogtest.Open(t, catalogtest.SQLiteDSN(t))
	for _, id := range []string{"c1", "c2"} {
		require.NoError(t, cat.CreateCluster(ctx, catalog.Cluster{ID: id, Provider: "local", Region: "local", Status: catalog.ClusterRunning,
			Nodes: []catalog.Node{{ID: id + "-n1", Healthy: true, Volumes: []catalog.Volume{{ID: id + "-v", NodeID: id + "-n1", SizeGB: 1}}}}}))
	}
	a := &Backups{Catalog: cat}
	start := func(cluster, backup string) CompleteInput {
		_, _, err := cat.CreateBackup(ctx, catalog.NewBackup{ID: backup, ClusterID: cluster, Label: func(int64) (string, error) { return backup, nil }})
		require.NoError(t, err)
		lock, err := cat.AcquireLock(ctx, cluster, "backup "+backup, time.Minute)
		require.NoError(t, err)
		_, err = cat.TransitionBackup(ctx, backup, catalog.Transition{To: catalog.BackupInProgress, From: []catalog.BackupStatus{catalog.BackupPending}})
		require.NoError(t, err)
		return CompleteInput{BackupID: backup, Snapshots: []catalog.Snapshot{{NodeID: cluster + "-n1", VolumeID: cluster + "-v", SnapshotID: "s-" + backup,
			Status: catalog.SnapshotCompleted, Progress: 100}}, LockRef: LockRef{ClusterID: cluster, LockToken: lock.Token, LockTTL: time.Minute}}
	}

	in := start("c1", "bk-1")
	b, err := a.CompleteBackup(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupCompleted, b.Status)
	require.NoError(t, cat.ReleaseLock(ctx, "c1", in.LockToken))
	again, err := a.CompleteBackup(ctx, in)
	require.NoError(t, err)
	assert.Equal(t, catalog.BackupCompleted, again.Status)

	in = start("c2", "bk-2")
	require.NoError(t, cat.ReleaseLock(ctx, "c2", in.LockToken))
	_, err = a.CompleteBackup(ctx, in)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "LockLost")
}
