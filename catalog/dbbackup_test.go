package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
)

func testDatabaseBackup() api.DatabaseBackup {
	return api.DatabaseBackup{
		Engine:        api.EnginePostgres,
		NodeID:        "c-n1",
		StartLSN:      "0/2000028",
		StopLSN:       "0/2000138",
		Timeline:      1,
		BackupLabel:   "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nCHECKPOINT LOCATION: 0/2000060\n",
		TablespaceMap: "16385 /mnt/ts1\n",
		StartedAt:     t0,
		StoppedAt:     ptr(t0.Add(1500 * time.Millisecond).Add(7)),
	}
}

func TestBackupDatabase(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, _ := lockStore(t, dsn)
		_, _, err := s.CreateBackup(ctx, newBackup("bk", "c", "", t0))
		require.NoError(t, err)
		_, _, err = s.CreateBackup(ctx, newBackup("plain", "c", "", t0.Add(time.Second)))
		require.NoError(t, err)

		// A backup without one reads Database nil, in every view.
		b, err := s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Nil(t, b.Database)

		// Started: what pg_backup_start said.
		start := testDatabaseBackup()
		start.StopLSN, start.BackupLabel, start.TablespaceMap, start.StoppedAt = "", "", "", nil
		require.NoError(t, s.SetBackupDatabase(ctx, "bk", start, nil))
		b, err = s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, &start, b.Database)

		// Stopped: replaces it whole.
		want := testDatabaseBackup()
		require.NoError(t, s.SetBackupDatabase(ctx, "bk", want, nil))
		b, err = s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, &want, b.Database)
		assert.Equal(t, catalog.BackupPending, b.Status, "nothing else changes")
		assert.Equal(t, "backup-001", b.Label)

		// The full view lists it; the basic view leaves it out, as it
		// does snapshots.
		list, err := s.ListBackups(ctx, catalog.BackupFilter{})
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, "plain", list[0].ID)
		assert.Nil(t, list[0].Database)
		assert.Equal(t, "bk", list[1].ID)
		assert.Equal(t, &want, list[1].Database)
		assert.Equal(t, b, list[1])
		basic, err := s.ListBackups(ctx, catalog.BackupFilter{NoDetails: true})
		require.NoError(t, err)
		require.Len(t, basic, 2)
		for _, b := range basic {
			assert.Nil(t, b.Database, b.ID)
			assert.Nil(t, b.Snapshots, b.ID)
		}

		// Other reads of a backup return it too.
		tr, err := s.TransitionBackup(ctx, "bk", catalog.Transition{To: catalog.BackupInProgress, From: []catalog.BackupStatus{catalog.BackupPending}})
		require.NoError(t, err)
		assert.Equal(t, &want, tr.Database)
		again, created, err := s.CreateBackup(ctx, newBackup("bk", "c", "", t0))
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, &want, again.Database)

		// An unknown backup.
		requireNotFound(t, s.SetBackupDatabase(ctx, "ghost", want, nil), "backup", "ghost")
		b, err = s.GetBackup(ctx, "plain")
		require.NoError(t, err)
		assert.Nil(t, b.Database)
	})
}

func TestBackupDatabaseFenced(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, clock := lockStore(t, dsn)
		_, _, err := s.CreateBackup(ctx, newBackup("bk", "c", "", t0))
		require.NoError(t, err)
		a, err := s.AcquireLock(ctx, "c", "backup bk", 30*time.Second)
		require.NoError(t, err)
		fence := &catalog.Fence{ClusterID: "c", Token: a.Token, TTL: time.Minute}

		// While the lease holds, the write lands and extends it.
		clock.Advance(20 * time.Second)
		start := testDatabaseBackup()
		start.StopLSN, start.StoppedAt = "", nil
		require.NoError(t, s.SetBackupDatabase(ctx, "bk", start, fence))
		l, err := s.GetLock(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, clock.Now().Add(time.Minute), l.ExpiresAt, "a fenced write extends the lease")
		b, err := s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, &start, b.Database)

		// A token that is not the lease's: ErrLockLost, and nothing written.
		stop := testDatabaseBackup()
		err = s.SetBackupDatabase(ctx, "bk", stop, &catalog.Fence{ClusterID: "c", Token: a.Token + 1, TTL: time.Minute})
		assert.ErrorIs(t, err, catalog.ErrLockLost)
		b, err = s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, &start, b.Database)

		// A lease that lapsed and was taken by someone else.
		clock.Advance(2 * time.Minute)
		_, err = s.AcquireLock(ctx, "c", "resize", time.Hour)
		require.NoError(t, err)
		err = s.SetBackupDatabase(ctx, "bk", stop, fence)
		assert.ErrorIs(t, err, catalog.ErrLockLost)
		b, err = s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, &start, b.Database)

		// The fence is checked before the backup: a lost lock wins.
		assert.ErrorIs(t, s.SetBackupDatabase(ctx, "ghost", stop, fence), catalog.ErrLockLost)

		// No fence (nil, or token 0) writes as before.
		require.NoError(t, s.SetBackupDatabase(ctx, "bk", stop, &catalog.Fence{ClusterID: "c"}))
		b, err = s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, &stop, b.Database)
	})
}
