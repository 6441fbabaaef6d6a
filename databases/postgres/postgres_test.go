package postgres_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/databases/postgres"
	"github.com/stratabackup/strata/providers/local"
)

// newManager returns a manager and a root directory for volumes that the
// server user can reach, or skips where PostgreSQL is not installed.
func newManager(t *testing.T) (*postgres.Manager, string) {
	t.Helper()
	root, err := os.MkdirTemp("", "strata-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(root) })
	archive, err := local.NewWALArchive(filepath.Join(root, "wal"))
	require.NoError(t, err)
	m, err := postgres.New(postgres.Config{Root: root, Archive: archive, SecretsDir: filepath.Join(root, "secrets")})
	if errors.Is(err, postgres.ErrUnavailable) {
		t.Skip(err)
	}
	require.NoError(t, err)
	return m, root
}

func volumes(t *testing.T, root, cluster string, n int) postgres.ClusterSpec {
	t.Helper()
	spec := postgres.ClusterSpec{ID: cluster}
	for i := 1; i <= n; i++ {
		dir := filepath.Join(root, "volumes", cluster+"-n"+string(rune('0'+i)))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		spec.Nodes = append(spec.Nodes, postgres.NodeSpec{ID: cluster + "-n" + string(rune('0'+i)), VolumeDir: dir})
	}
	return spec
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestClusterPrimaryAndReplicas(t *testing.T) {
	m, root := newManager(t)
	ctx := context.Background()
	spec := volumes(t, root, "pg1", 2)
	t.Cleanup(func() { _ = m.StopCluster(context.Background(), spec) })

	nodes, err := m.EnsureCluster(ctx, spec)
	require.NoError(t, err)
	require.Len(t, nodes, 2)
	assert.Equal(t, postgres.Primary, nodes[0].Role)
	assert.Equal(t, postgres.Replica, nodes[1].Role)
	assert.NotEqual(t, nodes[0].Endpoint, nodes[1].Endpoint)

	// Idempotent: the same ports, nothing re-made.
	again, err := m.EnsureCluster(ctx, spec)
	require.NoError(t, err)
	assert.Equal(t, nodes, again)

	// The URI works as is; a row written on the primary reaches the
	// replica.
	uri, err := m.URI("pg1", nodes[0].Endpoint)
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, uri)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE t (v int); INSERT INTO t VALUES (42)`)
	require.NoError(t, err)
	conn.Close(ctx)
	ruri, _ := m.URI("pg1", nodes[1].Endpoint)
	waitFor(t, "the row on the replica", 30*time.Second, func() bool {
		c, err := pgx.Connect(ctx, ruri)
		if err != nil {
			return false
		}
		defer c.Close(ctx)
		var v int
		return c.QueryRow(ctx, `SELECT v FROM t`).Scan(&v) == nil && v == 42
	})

	// Data directories are the server user's alone.
	fi, err := os.Stat(postgres.DataDir(spec.Nodes[0].VolumeDir))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	var hs []postgres.Health
	waitFor(t, "both nodes healthy", 30*time.Second, func() bool {
		hs = m.Check(ctx, "pg1", nodes, time.Now())
		return hs[0].Healthy && hs[1].Healthy
	})
	assert.Nil(t, hs[0].LagSeconds)
	require.NotNil(t, hs[1].LagSeconds)

	// A stopped replica is unhealthy, and says so; started again, healthy.
	require.NoError(t, m.Stop(ctx, postgres.DataDir(spec.Nodes[1].VolumeDir)))
	hs = m.Check(ctx, "pg1", nodes, time.Now())
	assert.True(t, hs[0].Healthy)
	assert.False(t, hs[1].Healthy)
	assert.Contains(t, hs[1].Problem, "stopped")
	_, err = m.EnsureCluster(ctx, spec)
	require.NoError(t, err)
	waitFor(t, "the replica healthy again", 30*time.Second, func() bool {
		return m.Check(ctx, "pg1", nodes, time.Now())[1].Healthy
	})

	// A replica whose replay is paused falls behind as the primary writes.
	rc, err := pgx.Connect(ctx, ruri)
	require.NoError(t, err)
	_, err = rc.Exec(ctx, `SELECT pg_wal_replay_pause()`)
	require.NoError(t, err)
	rc.Close(ctx)
	pc, err := pgx.Connect(ctx, uri)
	require.NoError(t, err)
	defer pc.Close(ctx)
	_, err = pc.Exec(ctx, `INSERT INTO t VALUES (1)`)
	require.NoError(t, err)
	waitFor(t, "the paused replica lagging", 30*time.Second, func() bool {
		h := m.Check(ctx, "pg1", nodes, time.Now().Add(time.Minute))[1]
		return h.LagSeconds != nil && *h.LagSeconds >= 59
	})
}

func TestStopLeavesNoServer(t *testing.T) {
	m, root := newManager(t)
	ctx := context.Background()
	spec := volumes(t, root, "pg2", 1)
	t.Cleanup(func() { _ = m.StopCluster(context.Background(), spec) })
	nodes, err := m.EnsureCluster(ctx, spec)
	require.NoError(t, err)
	require.NoError(t, m.StopCluster(ctx, spec))
	assert.False(t, m.Running(ctx, postgres.DataDir(spec.Nodes[0].VolumeDir)))
	h := m.Check(ctx, "pg2", nodes, time.Now())
	assert.False(t, h[0].Healthy)
	assert.Contains(t, h[0].Problem, "stopped")
}

func TestLSN(t *testing.T) {
	v, err := postgres.ParseLSN("16/B374D848")
	require.NoError(t, err)
	assert.Equal(t, uint64(0x16B374D848), v)
	assert.Equal(t, "16/B374D848", postgres.FormatLSN(v))
	for _, bad := range []string{"", "1", "x/1", "1/y", "100000000/0"} {
		_, err := postgres.ParseLSN(bad)
		assert.Error(t, err, bad)
	}
}
