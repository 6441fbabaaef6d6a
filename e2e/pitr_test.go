package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
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

// pgRows lists column v of table t on the cluster's primary, sorted.
func pgRows(t *testing.T, e *stratatest.Env, clusterID string) []string {
	t.Helper()
	info, err := e.Strata.ConnectCluster(ctxT(t), clusterID)
	require.NoError(t, err)
	conn := pgConnect(t, info.URI)
	rows, err := conn.Query(ctxT(t), `SELECT v FROM t`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	sort.Strings(got)
	return got
}

// insert adds row v and answers the server's clock just after it
// committed, and its WAL position.
func insert(t *testing.T, conn *pgx.Conn, v string) (time.Time, string) {
	t.Helper()
	ctx := ctxT(t)
	_, err := conn.Exec(ctx, `INSERT INTO t VALUES ($1)`, v)
	require.NoError(t, err)
	var at time.Time
	var lsn string
	require.NoError(t, conn.QueryRow(ctx, `SELECT clock_timestamp(), pg_current_wal_lsn()::text`).Scan(&at, &lsn))
	return at, lsn
}

// archivedPast waits until the cluster's restorable window reaches past
// lsn, switching WAL so that it does.
func archivedPast(t *testing.T, e *stratatest.Env, conn *pgx.Conn, clusterID, lsn string) api.Cluster {
	t.Helper()
	ctx := ctxT(t)
	_, err := conn.Exec(ctx, `SELECT pg_switch_wal()`)
	require.NoError(t, err)
	want, err := postgres.ParseLSN(lsn)
	require.NoError(t, err)
	var shown api.Cluster
	eventually(t, "WAL archived past "+lsn, func() bool {
		shown, err = e.Strata.GetCluster(ctx, clusterID)
		require.NoError(t, err)
		if shown.PITR == nil {
			return false
		}
		to, err := postgres.ParseLSN(shown.PITR.ToLSN)
		return err == nil && to > want
	})
	return shown
}

// pgTable creates a postgres cluster of n nodes whose primary has table t
// with row "base", committed before the time answered.
func pgTable(t *testing.T, e *stratatest.Env, n int) (api.Cluster, *pgx.Conn, time.Time) {
	t.Helper()
	cl := pgCluster(t, e, n)
	info, err := e.Strata.ConnectCluster(ctxT(t), cl.ID)
	require.NoError(t, err)
	primary := pgConnect(t, info.URI)
	_, err = primary.Exec(ctxT(t), `CREATE TABLE t (v text PRIMARY KEY)`)
	require.NoError(t, err)
	at, _ := insert(t, primary, "base")
	return cl, primary, at
}

// pgBackup backs a cluster up and waits for it to complete.
func pgBackup(t *testing.T, e *stratatest.Env, clusterID string) (*strata.BackupRun, api.Backup) {
	t.Helper()
	run, err := e.Strata.StartBackup(ctxT(t), api.BackupRequest{ClusterID: clusterID})
	require.NoError(t, err)
	b, err := run.Wait(ctxT(t))
	require.NoError(t, err)
	return run, b
}

func restored(t *testing.T, e *stratatest.Env, req api.RestoreRequest) api.RestoreResult {
	t.Helper()
	run, err := e.Strata.StartRestore(ctxT(t), req)
	require.NoError(t, err)
	res, err := run.Wait(ctxT(t))
	require.NoError(t, err)
	require.Equal(t, api.ClusterRunning, res.Cluster.Status)
	return res
}

// Rows written between timestamps, restore points and WAL positions: each
// restore has exactly the rows committed before its target.
func TestPostgresPointInTimeRestore(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl, primary, _ := pgTable(t, e, 3)
	eventually(t, "every node healthy", func() bool {
		shown, err := e.Strata.GetCluster(ctx, cl.ID)
		require.NoError(t, err)
		return shown.Nodes[1].Healthy && shown.Nodes[2].Healthy
	})
	run, b := pgBackup(t, e, cl.ID)
	require.NotEqual(t, cl.Nodes[0].ID, b.Database.NodeID, "taken on a replica")

	afterA, _ := insert(t, primary, "a")
	insert(t, primary, "b")
	rp, err := e.Strata.CreateRestorePoint(ctx, cl.ID, "after-b")
	require.NoError(t, err)
	assert.Equal(t, 1, rp.Timeline)
	_, afterC := insert(t, primary, "c")
	_, last := insert(t, primary, "d")
	shown := archivedPast(t, e, primary, cl.ID, last)
	w := shown.PITR
	require.NotNil(t, w)
	assert.False(t, w.From.After(afterA), "the window starts at the backup's end: %s", w)

	// To a time between two commits.
	res := restored(t, e, api.RestoreRequest{LatestOfCluster: cl.ID, ToTime: &afterA, Nodes: 1})
	assert.Equal(t, []string{"a", "base"}, pgRows(t, e, res.Cluster.ID))
	recordHistory(t, run.WorkflowID, "backup_postgres_online")
	recordHistory(t, res.Restore.WorkflowID, "restore_postgres_to_time")
	assert.Equal(t, b.ID, res.Restore.BackupID)
	require.NotNil(t, res.Restore.Target)
	assert.Equal(t, afterA.UTC(), res.Restore.Target.Time.UTC())
	assert.Equal(t, api.EnginePostgres, res.Cluster.Engine)
	assert.Equal(t, api.NodePrimary, res.Cluster.Nodes[0].Role)

	// To a restore point, with its replicas.
	res = restored(t, e, api.RestoreRequest{BackupID: b.ID, ToName: "after-b", VerifySQL: `SELECT count(*) = 3 FROM t`})
	assert.Equal(t, []string{"a", "b", "base"}, pgRows(t, e, res.Cluster.ID))
	require.Len(t, res.Cluster.Nodes, 3)
	for i, n := range res.Cluster.Nodes {
		assert.True(t, n.Healthy, "node %s", n.ID)
		if i > 0 {
			assert.Equal(t, api.NodeReplica, n.Role)
		}
	}

	// To a WAL position.
	res = restored(t, e, api.RestoreRequest{LatestOfCluster: cl.ID, ToLSN: afterC, Nodes: 1})
	assert.Equal(t, []string{"a", "b", "base", "c"}, pgRows(t, e, res.Cluster.ID))

	// Without a target: the end of the backup.
	res = restored(t, e, api.RestoreRequest{BackupID: b.ID, Nodes: 1})
	assert.Equal(t, []string{"base"}, pgRows(t, e, res.Cluster.ID))

	// The CLI shows the window.
	code, out, stderr := starter(t, e, "cluster", "show", cl.ID)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "Restorable: "+w.From.UTC().Format(time.RFC3339Nano))
}

// A target outside the restorable window is refused with the window in
// the message, before anything is created; so is a verify query that
// fails, after the fact, with everything it made torn down.
func TestPostgresRestoreRefusals(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl, primary, before := pgTable(t, e, 1)
	_, b := pgBackup(t, e, cl.ID)
	_, last := insert(t, primary, "a")
	archivedPast(t, e, primary, cl.ID, last)
	clusters, err := e.Strata.ListClusters(ctx)
	require.NoError(t, err)

	later := time.Now().Add(time.Hour)
	for name, req := range map[string]api.RestoreRequest{
		"after the archive":  {LatestOfCluster: cl.ID, ToTime: &later},
		"before any backup":  {LatestOfCluster: cl.ID, ToTime: &before},
		"backup after it":    {BackupID: b.ID, ToTime: &before},
		"unknown name":       {LatestOfCluster: cl.ID, ToName: "nope"},
		"beyond the archive": {LatestOfCluster: cl.ID, ToLSN: "FF/0"},
	} {
		t.Run(name, func(t *testing.T) {
			run, err := e.Strata.StartRestore(ctx, req)
			require.NoError(t, err)
			_, err = run.Wait(ctx)
			re := restoreErr(t, err, api.ReasonInvalidRequest)
			switch name {
			case "after the archive", "before any backup", "beyond the archive":
				assert.Contains(t, re.Reason, "outside cluster "+cl.ID+"'s restorable window")
			case "unknown name":
				assert.Contains(t, re.Reason, `restore point "nope"`)
			default:
				assert.Contains(t, re.Reason, "after the target")
			}
		})
	}
	// Bad input never reaches a workflow.
	_, err = e.Strata.StartRestore(ctx, api.RestoreRequest{LatestOfCluster: cl.ID, ToLSN: "12", ToName: "x y"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "toLsn")
	assert.Contains(t, err.Error(), "at most one of toTime")
	after, err := e.Strata.ListClusters(ctx)
	require.NoError(t, err)
	assert.Len(t, after, len(clusters), "nothing was created")

	// A database that fails its check is torn down.
	run2, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b.ID, VerifySQL: `SELECT count(*) = 99 FROM t`})
	require.NoError(t, err)
	_, err = run2.Wait(ctx)
	re := restoreErr(t, err, api.ReasonRestoreFailed)
	recordHistory(t, run2.WorkflowID, "restore_postgres_verify_failed")
	assert.Contains(t, re.Reason, "answered false")
	failed, err := e.Strata.GetCluster(ctx, run2.ClusterID)
	require.NoError(t, err)
	assert.Equal(t, api.ClusterFailed, failed.Status)
	for _, v := range failed.Volumes() {
		assert.Empty(t, v.Path, "volume %s deleted", v.ID)
	}
	require.NotEmpty(t, failed.Nodes[0].Endpoint)
	if c, err := net.DialTimeout("tcp", failed.Nodes[0].Endpoint, time.Second); err == nil {
		c.Close()
		t.Errorf("the failed restore's server still listens on %s", failed.Nodes[0].Endpoint)
	}
}

// A restore of a restored cluster: its backups are on a later timeline,
// whose history its own archive holds.
func TestPostgresRestoreOfRestore(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl, primary, _ := pgTable(t, e, 1)
	pgBackup(t, e, cl.ID)
	_, last := insert(t, primary, "a")
	archivedPast(t, e, primary, cl.ID, last)

	first := restored(t, e, api.RestoreRequest{LatestOfCluster: cl.ID, ToLSN: last})
	info2, err := e.Strata.ConnectCluster(ctx, first.Cluster.ID)
	require.NoError(t, err)
	second := pgConnect(t, info2.URI)
	var tli int
	require.NoError(t, second.QueryRow(ctx, `SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int`).Scan(&tli))
	assert.Equal(t, 2, tli, "promoted onto a new timeline")
	insert(t, second, "r")
	_, b2 := pgBackup(t, e, first.Cluster.ID)
	assert.Equal(t, 2, b2.Database.Timeline)
	at, last2 := insert(t, second, "s")
	archivedPast(t, e, second, first.Cluster.ID, last2)

	res := restored(t, e, api.RestoreRequest{LatestOfCluster: first.Cluster.ID, ToTime: &at})
	assert.Equal(t, []string{"a", "base", "r", "s"}, pgRows(t, e, res.Cluster.ID))
	// No commit follows the target in the archive: PostgreSQL ends that
	// recovery short of it, and Strata recovers to the archive's end,
	// which is the database at that time.
	log, err := os.ReadFile(filepath.Join(res.Cluster.Nodes[0].Volumes[0].Path, postgres.DataDirName, "server.log"))
	require.NoError(t, err)
	t.Logf("target not reached, recovered to the archive's end: %v", strings.Contains(string(log), "recovery ended before configured recovery target was reached"))
}

// A worker killed while the restored server replays WAL: the server
// carries on, the next worker finds it, and the restore completes.
func TestPostgresWorkerKilledDuringReplay(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl, primary, _ := pgTable(t, e, 1)
	pgBackup(t, e, cl.ID)
	// Some WAL to replay: a few segments.
	_, err := primary.Exec(ctx, `CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 300000) g`)
	require.NoError(t, err)
	_, last := insert(t, primary, "a")
	archivedPast(t, e, primary, cl.ID, last)

	e.StopWorker()
	victim := e.StartWorkerProcess("victim")
	rr, err := e.Strata.StartRestore(ctx, api.RestoreRequest{LatestOfCluster: cl.ID, ToLSN: last})
	require.NoError(t, err)
	eventually(t, "the restore replaying WAL", func() bool {
		_, live, err := e.Strata.GetRestore(ctx, rr.RestoreID)
		return err == nil && live != nil && live.Step == api.StepReplayingWAL
	})
	require.NoError(t, victim.Kill())
	e.StartWorker()
	// The killed worker's activity moves on after its timeout (heartbeat
	// 30s, or a short step's start-to-close 30s).
	wctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := rr.Wait(wctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "base"}, pgRows(t, e, res.Cluster.ID))
	var n int
	info3, err := e.Strata.ConnectCluster(ctx, res.Cluster.ID)
	require.NoError(t, err)
	require.NoError(t, pgConnect(t, info3.URI).QueryRow(ctx, `SELECT count(*) FROM filler`).Scan(&n))
	assert.Equal(t, 300000, n)
}

// Deleting a backup prunes the WAL that only it needed: the archive keeps
// everything from the oldest remaining backup's start, and the window
// starts at that backup's end.
func TestPostgresWALRetention(t *testing.T) {
	e := server.NewPostgresEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl, primary, _ := pgTable(t, e, 1)
	_, b1 := pgBackup(t, e, cl.ID)
	for _, v := range []string{"a", "b", "c"} {
		_, lsn := insert(t, primary, v)
		archivedPast(t, e, primary, cl.ID, lsn)
	}
	_, b2 := pgBackup(t, e, cl.ID)
	_, last := insert(t, primary, "d")
	archivedPast(t, e, primary, cl.ID, last)
	archive := e.Databases.ArchiveDir(cl.ID)
	segments := func() []string {
		entries, err := os.ReadDir(archive)
		require.NoError(t, err)
		var out []string
		for _, en := range entries {
			if len(en.Name()) == 24 {
				out = append(out, en.Name())
			}
		}
		return out
	}
	before := segments()
	b1start, err := postgres.ParseLSN(b1.Database.StartLSN)
	require.NoError(t, err)
	b2start, err := postgres.ParseLSN(b2.Database.StartLSN)
	require.NoError(t, err)
	firstKept := fmt.Sprintf("00000001%08X%08X", b2start>>32, (b2start&0xffffffff)/(16<<20))
	require.Contains(t, before, firstKept)
	require.Less(t, before[0], firstKept, "the archive holds WAL from before backup %s", b2.ID)
	require.LessOrEqual(t, before[0], fmt.Sprintf("00000001%08X%08X", b1start>>32, (b1start&0xffffffff)/(16<<20)))

	// Deleting b1 prunes what only it needed.
	_, err = e.Strata.DeleteBackup(ctx, b1.ID, true)
	require.NoError(t, err)
	recordHistory(t, api.DeleteWorkflowID(b1.ID), "delete_postgres_prunes_wal")
	after := segments()
	require.NotEmpty(t, after)
	assert.Equal(t, firstKept, after[0], "the chain from backup %s's start is whole", b2.ID)
	assert.Equal(t, before[len(before)-1], after[len(after)-1])

	shown, err := e.Strata.GetCluster(ctx, cl.ID)
	require.NoError(t, err)
	require.NotNil(t, shown.PITR)
	assert.Equal(t, b2.Database.StoppedAt.UTC(), shown.PITR.From.UTC())
	res := restored(t, e, api.RestoreRequest{LatestOfCluster: cl.ID, ToLSN: last, Nodes: 1})
	assert.Equal(t, []string{"a", "b", "base", "c", "d"}, pgRows(t, e, res.Cluster.ID))
}
