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

// TestUpgradeFromV1 opens a catalog at schema version 1, records a backup,
// then reopens it with every migration: the backup reads back unchanged and
// the new features work on it.
func TestUpgradeFromV1(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		restore := catalog.UseMigrationsForTest(1)
		t.Cleanup(restore) // also when the test fails early
		old, err := catalog.Open(ctx, dsn)
		require.NoError(t, err)
		// Version 1 rows, written as version 1 code would (today's code
		// reads and writes columns version 1 lacks).
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO clusters (id, provider, region, created_at)
			VALUES ('c', 'local', 'eu-west-1', ?)`, t0.UnixMilli()))
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO nodes (cluster_id, id, ordinal) VALUES ('c', 'c-n1', 0)`))
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO backups
			(id, cluster_id, job_id, request_id, workflow_id, label, idx, status, reason, created_at, completed_at)
			VALUES ('bk', 'c', '', 'req', 'wf', 'backup-001', 1, 'Completed', '', ?, ?)`, t0.UnixMilli(), t0.UnixMilli()))
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO backup_snapshots
			(backup_id, volume_id, node_id, snapshot_id, status) VALUES ('bk', 'c-n1-v', 'c-n1', 'snap', 'Completed')`))
		require.NoError(t, old.Close())
		restore()

		s := catalogtest.Open(t, dsn)
		b, err := s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, catalog.BackupCompleted, b.Status)
		assert.Empty(t, b.DeletionError)
		assert.Nil(t, b.DeletedAt)
		assert.Nil(t, b.Holds)
		assert.Equal(t, &t0, b.CompletedAt)
		require.Len(t, b.Snapshots, 1)
		require.NoError(t, s.AddHold(ctx, "bk", "restore"))
		_, err = s.StartDeletion(ctx, "bk", t0)
		requireInUse(t, err, "bk", "restore")
		require.NoError(t, s.CreateJob(ctx, catalog.Job{ID: "j", ClusterID: "c", Every: catalog.Duration(time.Hour)}))
		assert.Equal(t, []string{"j"}, jobIDs(t, s, "c"))

		// Reopening applies nothing twice.
		catalogtest.Open(t, dsn)
	})
}

// TestUpgradeFromV2: clusters registered before cluster statuses existed
// read as Running after the upgrade, and the new tables work.
func TestUpgradeFromV2(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		restore := catalog.UseMigrationsForTest(2)
		t.Cleanup(restore)
		old, err := catalog.Open(ctx, dsn)
		require.NoError(t, err)
		// As version 2 code would write it (without the status columns).
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO clusters (id, provider, region, created_at)
			VALUES ('c', 'local', 'eu', ?)`, t0.UnixMilli()))
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO nodes (cluster_id, id, ordinal) VALUES ('c', 'c-n1', 0)`))
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO volumes (cluster_id, node_id, id, ordinal, size_gb, path)
			VALUES ('c', 'c-n1', 'c-n1-v', 0, 10, '/old')`))
		require.NoError(t, old.Close())
		restore()

		s := catalogtest.Open(t, dsn)
		c, err := s.GetCluster(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, catalog.ClusterRunning, c.Status)
		assert.Empty(t, c.StatusReason)
		assert.Empty(t, c.RestoredFrom)
		require.Len(t, c.Volumes(), 1)
		assert.Equal(t, "/old", c.Volumes()[0].Path)
		require.NoError(t, s.SetClusterStatus(ctx, "c", catalog.ClusterFailed, "x"))
		require.NoError(t, s.UpdateVolumes(ctx, "c", []catalog.Volume{{ID: "c-n1-v", Path: "/new", SizeGB: 20}}))
		require.NoError(t, s.CreateProject(ctx, catalog.Project{ID: "p"}))
		_, created, err := s.CreateRestore(ctx, catalog.Restore{ID: "r", BackupID: "bk"})
		require.NoError(t, err)
		assert.True(t, created)
	})
}

// TestUpgradeFromV8: clusters recorded before engines existed read as
// volume clusters whose nodes have no role or endpoint, and the new
// columns work on them.
func TestUpgradeFromV8(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		restore := catalog.UseMigrationsForTest(8)
		t.Cleanup(restore)
		old, err := catalog.Open(ctx, dsn)
		require.NoError(t, err)
		// As version 8 code would write it (without engine, role, endpoint).
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO clusters (id, provider, region, created_at)
			VALUES ('c', 'local', 'local', ?)`, t0.UnixMilli()))
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO nodes (cluster_id, id, ordinal) VALUES ('c', 'c-n1', 0)`))
		require.NoError(t, old.Close())
		restore()

		s := catalogtest.Open(t, dsn)
		c, err := s.GetCluster(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, api.EngineVolume, c.Engine)
		require.Len(t, c.Nodes, 1)
		assert.Empty(t, c.Nodes[0].Role)
		assert.Empty(t, c.Nodes[0].Endpoint)
		require.NoError(t, s.SetNodeStatus(ctx, "c", "c-n1", false, nil, api.NodePrimary))
		c, err = s.GetCluster(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, api.NodePrimary, c.Nodes[0].Role)
		assert.False(t, c.Nodes[0].Healthy)

		// Reopening applies nothing twice.
		catalogtest.Open(t, dsn)
	})
}

// TestUpgradeFromV9: backups recorded before database backups existed read
// with none, and one can be recorded on them.
func TestUpgradeFromV9(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		restore := catalog.UseMigrationsForTest(9)
		t.Cleanup(restore)
		old, err := catalog.Open(ctx, dsn)
		require.NoError(t, err)
		// As version 9 code would write it (without db_backup).
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO clusters (id, provider, region, engine, created_at)
			VALUES ('c', 'local', 'local', 'postgres', ?)`, t0.UnixMilli()))
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO nodes (cluster_id, id, ordinal, role) VALUES ('c', 'c-n1', 0, 'primary')`))
		require.NoError(t, catalog.ExecForTest(ctx, old, `INSERT INTO backups
			(id, cluster_id, job_id, request_id, workflow_id, label, idx, status, reason, created_at, completed_at)
			VALUES ('bk', 'c', '', 'req', 'wf', 'backup-001', 1, 'Completed', '', ?, ?)`, t0.UnixMilli(), t0.UnixMilli()))
		require.NoError(t, old.Close())
		restore()

		s := catalogtest.Open(t, dsn)
		b, err := s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, catalog.BackupCompleted, b.Status)
		assert.Nil(t, b.Database)
		list, err := s.ListBackups(ctx, catalog.BackupFilter{})
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Nil(t, list[0].Database)

		db := api.DatabaseBackup{Engine: api.EnginePostgres, NodeID: "c-n1", StartLSN: "0/3000028", Timeline: 1, StartedAt: t0}
		require.NoError(t, s.SetBackupDatabase(ctx, "bk", db, nil))
		b, err = s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, &db, b.Database)

		// Reopening applies nothing twice.
		catalogtest.Open(t, dsn)
	})
}
