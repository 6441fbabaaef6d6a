package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/databases/postgres"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/starter/strata"
)

// pgCluster creates a postgres cluster of n nodes through the client.
func pgCluster(t *testing.T, e *stratatest.Env, n int) api.Cluster {
	t.Helper()
	cl, err := e.Strata.CreateCluster(ctxT(t), strata.ClusterSpec{Engine: api.EnginePostgres, Nodes: n, DiskGB: 10})
	require.NoError(t, err)
	return cl
}

func pgConnect(t *testing.T, uri string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctxT(t), uri)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPostgresClusterThreeNodes(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := pgCluster(t, e, 3)

	assert.Equal(t, api.EnginePostgres, cl.Engine)
	require.Len(t, cl.Nodes, 3)
	assert.Equal(t, api.NodePrimary, cl.Nodes[0].Role)
	ports := map[string]bool{}
	for i, n := range cl.Nodes {
		if i > 0 {
			assert.Equal(t, api.NodeReplica, n.Role)
		}
		assert.True(t, strings.HasPrefix(n.Endpoint, "127.0.0.1:"), n.Endpoint)
		ports[n.Endpoint] = true
		require.Len(t, n.Volumes, 1)
		_, err := os.Stat(filepath.Join(postgres.DataDir(n.Volumes[0].Path), "PG_VERSION"))
		require.NoError(t, err, "node %s's volume holds a data directory", n.ID)
	}
	assert.Len(t, ports, 3, "every server has its own port")

	// The connect URI works as is; the replicas stream what the primary
	// writes.
	info, err := e.Strata.ConnectCluster(ctx, cl.ID)
	require.NoError(t, err)
	assert.Equal(t, cl.Nodes[0].Endpoint, info.Endpoint)
	primary := pgConnect(t, info.URI)
	_, err = primary.Exec(ctx, `CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1), (2)`)
	require.NoError(t, err)
	for _, n := range cl.Nodes[1:] {
		uri := strings.Replace(info.URI, info.Endpoint, n.Endpoint, 1)
		eventually(t, "the rows on "+n.ID, func() bool {
			c, err := pgx.Connect(ctx, uri)
			if err != nil {
				return false
			}
			defer c.Close(ctx)
			var count int
			return c.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&count) == nil && count == 2
		})
	}

	// Health is what the servers say: all healthy, replicas with a lag.
	var shown api.Cluster
	eventually(t, "every node healthy", func() bool {
		shown, err = e.Strata.GetCluster(ctx, cl.ID)
		require.NoError(t, err)
		for _, n := range shown.Nodes {
			if !n.Healthy {
				return false
			}
		}
		return true
	})
	assert.Nil(t, shown.Nodes[0].ReplicationLagSeconds)
	require.NotNil(t, shown.Nodes[1].ReplicationLagSeconds)

	// A backup of the healthy cluster completes, from a replica.
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	b, err := run.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, api.BackupCompleted, b.Status)
	assert.NotEqual(t, cl.Nodes[0].ID, b.PreferredNodeID, "a replica is preferred")
	assert.Len(t, b.Snapshots, 3)

	// Health cannot be set by hand on a postgres cluster.
	err = e.Strata.SetNodeHealth(ctx, cl.ID, cl.Nodes[1].ID, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "runs PostgreSQL")

	// A stopped replica makes the backup Defunct ClusterUnhealthy, naming
	// it; the lock is released.
	require.NoError(t, e.Databases.Stop(ctx, postgres.DataDir(cl.Nodes[2].Volumes[0].Path)))
	run, err = e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	be := backupErr(t, err, api.ReasonClusterUnhealthy)
	assert.Contains(t, be.Reason, cl.Nodes[2].ID)
	assert.Contains(t, be.Reason, "stopped")
	shown, err = e.Strata.GetCluster(ctx, cl.ID)
	require.NoError(t, err)
	assert.Nil(t, shown.Lock)
	assert.False(t, shown.Nodes[2].Healthy)

	// Restoring a postgres backup is refused before anything is created:
	// WAL replay is not there yet.
	rr, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b.ID})
	require.NoError(t, err)
	_, err = rr.Wait(ctx)
	restoreErr(t, err, api.ReasonInvalidRequest)
	_, err = e.Strata.GetCluster(ctx, rr.ClusterID)
	assert.True(t, strata.IsNotFound(err), "no cluster was created: %v", err)
}

func TestPostgresReplicaLagging(t *testing.T) {
	cfg := stratatest.TestConfig()
	cfg.MaxReplicationLag = 2 * time.Second
	e := server.NewPostgresEnv(t, cfg)
	ctx := ctxT(t)
	cl := pgCluster(t, e, 2)
	info, err := e.Strata.ConnectCluster(ctx, cl.ID)
	require.NoError(t, err)
	primary := pgConnect(t, info.URI)
	_, err = primary.Exec(ctx, `CREATE TABLE t (v int)`)
	require.NoError(t, err)

	// The replica stops replaying; the primary goes on writing.
	replica := pgConnect(t, strings.Replace(info.URI, info.Endpoint, cl.Nodes[1].Endpoint, 1))
	eventually(t, "the table on the replica", func() bool {
		var n int
		return replica.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = 't'`).Scan(&n) == nil && n == 1
	})
	_, err = replica.Exec(ctx, `SELECT pg_wal_replay_pause()`)
	require.NoError(t, err)
	var lag float64
	eventually(t, "the replica lagging", func() bool {
		_, err := primary.Exec(ctx, `INSERT INTO t VALUES (1)`)
		require.NoError(t, err)
		shown, err := e.Strata.GetCluster(ctx, cl.ID)
		require.NoError(t, err)
		l := shown.Nodes[1].ReplicationLagSeconds
		if l != nil {
			lag = *l
		}
		return l != nil && *l > 3
	})
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	be := backupErr(t, err, api.ReasonClusterUnhealthy)
	assert.Contains(t, be.Reason, cl.Nodes[1].ID+" (lagging by")
	assert.Greater(t, lag, 2.0)
}

func TestPostgresClusterCLIAndRefusals(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	var cl api.Cluster
	starterJSON(t, e, &cl, "cluster", "create", "--engine", "postgres", "--id", "pg-one", "--disk-gb", "5")
	assert.Equal(t, "pg-one", cl.ID)
	assert.Equal(t, api.EnginePostgres, cl.Engine)
	require.Len(t, cl.Nodes, 1)
	assert.Equal(t, api.NodePrimary, cl.Nodes[0].Role)

	code, out, stderr := starter(t, e, "cluster", "connect", "pg-one")
	require.Equal(t, 0, code, stderr)
	uri := strings.TrimSpace(out)
	assert.True(t, strings.HasPrefix(uri, "postgresql://postgres:"), uri)
	conn := pgConnect(t, uri)
	var one int
	require.NoError(t, conn.QueryRow(ctxT(t), `SELECT 1`).Scan(&one))

	// The text view names engine, roles and endpoints.
	code, out, stderr = starter(t, e, "cluster", "show", "pg-one")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "Engine:      postgres")
	assert.Contains(t, out, cl.Nodes[0].Endpoint)

	// Refused with what to fix, before anything is created.
	for _, args := range [][]string{
		{"cluster", "create", "--engine", "mysql"},
		{"cluster", "create", "--engine", "postgres", "--nodes", "9"},
		{"cluster", "create", "--engine", "postgres", "--volumes-per-node", "2"},
		{"cluster", "create", "--engine", "postgres", "--data-mb", "5"},
	} {
		code, _, stderr := starter(t, e, args...)
		assert.NotEqual(t, 0, code, args)
		assert.NotEmpty(t, stderr, args)
	}
	cls, err := e.Strata.ListClusters(ctxT(t))
	require.NoError(t, err)
	assert.Len(t, cls, 1)

	// A volume cluster has nothing to connect to.
	vol := e.Cluster(strata.ClusterSpec{Nodes: 1})
	code, _, stderr = starter(t, e, "cluster", "connect", vol.ID)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr, "runs no database")
}

// activityOrder is the workflow's activities in the order they started,
// each once.
func activityOrder(t *testing.T, workflowID string) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for _, s := range taskStarts(t, ctxT(t), workflowID) {
		if s.Type != workflowTask && !seen[s.Type] {
			seen[s.Type] = true
			out = append(out, s.Type)
		}
	}
	return out
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

func TestPostgresOnlineBackup(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := pgCluster(t, e, 3)
	eventually(t, "every node healthy", func() bool {
		shown, err := e.Strata.GetCluster(ctx, cl.ID)
		require.NoError(t, err)
		return shown.Nodes[1].Healthy && shown.Nodes[2].Healthy
	})

	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	b, err := run.Wait(ctx)
	require.NoError(t, err)

	// The snapshots were taken in backup mode on a replica, and the
	// backup keeps what pg_backup_start and pg_backup_stop said.
	got, err := e.Strata.GetBackup(ctx, b.ID)
	require.NoError(t, err)
	db := got.Database
	require.NotNil(t, db, "a postgres backup records its backup mode")
	assert.Equal(t, api.EnginePostgres, db.Engine)
	assert.Equal(t, b.PreferredNodeID, db.NodeID)
	assert.NotEqual(t, cl.Nodes[0].ID, db.NodeID)
	assert.Equal(t, 1, db.Timeline)
	start, err := postgres.ParseLSN(db.StartLSN)
	require.NoError(t, err)
	stop, err := postgres.ParseLSN(db.StopLSN)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, stop, start)
	assert.Contains(t, db.BackupLabel, "START WAL LOCATION: "+db.StartLSN)
	require.NotNil(t, db.StoppedAt)

	order := activityOrder(t, run.WorkflowID)
	begin, snap, wait, end := indexOf(order, "StartBackupMode"), indexOf(order, "StartSnapshots"), indexOf(order, "WaitSnapshots"), indexOf(order, "StopBackupMode")
	require.True(t, begin >= 0 && end >= 0, "%v", order)
	assert.True(t, begin < snap && snap < wait && wait < end, "backup mode brackets the snapshots: %v", order)

	// The CLI's text view shows it.
	code, out, stderr := starter(t, e, "backup", "show", b.ID)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "Database:  postgres on node "+db.NodeID+", timeline 1, WAL "+db.StartLSN+" to "+db.StopLSN)

	// No session holds backup mode afterwards.
	in, err := e.Databases.InBackup(ctx, cl.ID, cl.Nodes[1].Endpoint)
	require.NoError(t, err)
	assert.False(t, in)
}

func TestPostgresBackupFailureEndsBackupMode(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := pgCluster(t, e, 1)
	node := cl.Nodes[0]

	// A snapshot that fails mid-backup: Defunct, backup mode ended.
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotFail: true}))
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	backupErr(t, err, api.ReasonSnapshotFailed)
	in, err := e.Databases.InBackup(ctx, cl.ID, node.Endpoint)
	require.NoError(t, err)
	assert.False(t, in, "the server is out of backup mode")
	b, err := e.Strata.GetBackup(ctx, run.BackupID)
	require.NoError(t, err)
	require.NotNil(t, b.Database)
	assert.NotEmpty(t, b.Database.StartLSN)
	assert.Empty(t, b.Database.StopLSN)

	// A backup cancelled while its snapshots hang: the same.
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotHang: true}))
	run, err = e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	eventually(t, "backup mode held", func() bool {
		in, err := e.Databases.InBackup(ctx, cl.ID, node.Endpoint)
		return err == nil && in
	})
	require.NoError(t, e.Strata.CancelBackup(ctx, run.BackupID))
	_, err = run.Wait(ctx)
	backupErr(t, err, api.ReasonCancelled)
	in, err = e.Databases.InBackup(ctx, cl.ID, node.Endpoint)
	require.NoError(t, err)
	assert.False(t, in, "the server is out of backup mode")

	// And the cluster backs up again.
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{}))
	run, err = e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	b2, err := run.Wait(ctx)
	require.NoError(t, err)
	assert.Equal(t, node.ID, b2.PreferredNodeID, "a single node is its own preferred node")
}

// A worker killed while it holds backup mode: PostgreSQL ends backup mode
// with the worker's session, the backup ends Defunct with the lock
// released, and the cluster backs up again.
func TestPostgresWorkerKilledInBackupMode(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := pgCluster(t, e, 1)
	node := cl.Nodes[0]
	// Snapshots take a while: backup mode is held meanwhile.
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: api.Duration(10 * time.Second)}))

	// Only a worker process serves the task queue, so that killing it kills
	// backup mode's session.
	e.StopWorker()
	victim := e.StartWorkerProcess("victim")
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	eventually(t, "backup mode held", func() bool {
		in, err := e.Databases.InBackup(ctx, cl.ID, node.Endpoint)
		return err == nil && in
	})

	require.NoError(t, victim.Kill())
	eventually(t, "backup mode ended with the killed worker's session", func() bool {
		in, err := e.Databases.InBackup(ctx, cl.ID, node.Endpoint)
		return err == nil && !in
	})
	e.StartWorker()
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{}))

	_, err = run.Wait(ctx)
	be := backupErr(t, err, api.ReasonDatabaseBackupFailed)
	assert.Contains(t, be.Reason, node.ID)
	shown, err := e.Strata.GetCluster(ctx, cl.ID)
	require.NoError(t, err)
	assert.Nil(t, shown.Lock, "the lock is released")

	run, err = e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	b, err := run.Wait(ctx)
	require.NoError(t, err)
	require.NotNil(t, b.Database)
	assert.NotEmpty(t, b.Database.StopLSN)
}

// Every completed WAL segment of the primary is archived into the
// cluster's archive; a failing archive_command shows in cluster show and
// the server keeps the segment until archiving works again.
func TestPostgresWALArchiving(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := pgCluster(t, e, 2)
	info, err := e.Strata.ConnectCluster(ctx, cl.ID)
	require.NoError(t, err)
	primary := pgConnect(t, info.URI)
	switchWAL := func() string {
		_, err := primary.Exec(ctx, `CREATE TABLE IF NOT EXISTS t (v int); INSERT INTO t VALUES (1)`)
		require.NoError(t, err)
		var seg string
		require.NoError(t, primary.QueryRow(ctx, `SELECT pg_walfile_name(pg_switch_wal())`).Scan(&seg))
		return seg
	}

	seg := switchWAL()
	var shown api.Cluster
	eventually(t, "segment "+seg+" archived", func() bool {
		shown, err = e.Strata.GetCluster(ctx, cl.ID)
		require.NoError(t, err)
		return shown.WAL != nil && shown.WAL.LastArchived >= seg
	})
	archive := shown.WAL.Archive
	assert.Equal(t, e.Databases.ArchiveDir(cl.ID), archive)
	fi, err := os.Stat(filepath.Join(archive, seg))
	require.NoError(t, err, "the segment is in the archive")
	assert.Equal(t, int64(16<<20), fi.Size())
	assert.Zero(t, shown.WAL.FailedCount)

	// The archive made unwritable: archiving fails, visibly.
	require.NoError(t, os.Chmod(archive, 0o500))
	t.Cleanup(func() { _ = os.Chmod(archive, 0o700) })
	stuck := switchWAL()
	eventually(t, "the failure shown", func() bool {
		shown, err = e.Strata.GetCluster(ctx, cl.ID)
		require.NoError(t, err)
		return shown.WAL != nil && shown.WAL.FailedCount > 0
	})
	assert.Equal(t, stuck, shown.WAL.LastFailed)
	assert.Less(t, shown.WAL.LastArchived, stuck)
	assert.Equal(t, stuck, shown.WAL.OldestPending)

	// The monitor raises the stall once, past --max-archive-lag.
	monitorFor := func(typ string) api.Event {
		var found api.Event
		eventually(t, "the monitor's "+typ, func() bool {
			events, err := e.Strata.Monitor(ctx, api.MonitorRequest{MaxArchiveLag: api.Duration(time.Second)})
			require.NoError(t, err)
			for _, ev := range events {
				if ev.ClusterID == cl.ID && strings.HasPrefix(ev.Type, "wal.") {
					require.Equal(t, typ, ev.Type, ev.Summary)
					found = ev
					return true
				}
			}
			return false
		})
		return found
	}
	ev := monitorFor(api.EventArchiveStalled)
	assert.Contains(t, ev.Summary, stuck)
	fleet := e.Fleet.Snapshot(time.Now())
	assert.Equal(t, 1, fleet.ArchiveStalled, "the fleet gauges count the stalled cluster")
	assert.Greater(t, fleet.ArchiveLag, time.Second)
	events, err := e.Strata.Monitor(ctx, api.MonitorRequest{MaxArchiveLag: api.Duration(time.Second)})
	require.NoError(t, err)
	for _, ev := range events {
		assert.NotEqual(t, api.EventArchiveStalled, ev.Type, "raised once")
	}
	shown, err = e.Strata.GetCluster(ctx, cl.ID)
	require.NoError(t, err)
	assert.NotNil(t, shown.WALStalledSince)

	// Fixed: the kept segment is archived after all.
	require.NoError(t, os.Chmod(archive, 0o700))
	eventually(t, "segment "+stuck+" archived after the fix", func() bool {
		shown, err = e.Strata.GetCluster(ctx, cl.ID)
		require.NoError(t, err)
		return shown.WAL != nil && shown.WAL.LastArchived >= stuck
	})
	_, err = os.Stat(filepath.Join(archive, stuck))
	require.NoError(t, err)
	monitorFor(api.EventArchiveRecovered)
	fleet = e.Fleet.Snapshot(time.Now())
	assert.Zero(t, fleet.ArchiveStalled)
	assert.Less(t, fleet.ArchiveLag, time.Second, "every completed segment archived")
	shown, err = e.Strata.GetCluster(ctx, cl.ID)
	require.NoError(t, err)
	assert.Nil(t, shown.WALStalledSince)

	// The CLI shows it.
	code, out, stderr := starter(t, e, "cluster", "show", cl.ID)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "WAL archive: "+archive)
}
