package catalog

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn    string
		engine Engine
		target string
	}{
		{"postgres://u@h:5432/db?sslmode=disable", EnginePostgres, "postgres://u@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db", EnginePostgres, "postgresql://u@h/db"},
		{"sqlite:/var/lib/strata/catalog.db", EngineSQLite, "/var/lib/strata/catalog.db"},
		{"sqlite:catalog.db", EngineSQLite, "catalog.db"},
		{"sqlite:///var/lib/strata/catalog.db", EngineSQLite, "/var/lib/strata/catalog.db"},
		{"sqlite://data/catalog.db", EngineSQLite, "data/catalog.db"},
		{"/tmp/x/catalog.db", EngineSQLite, "/tmp/x/catalog.db"},
		{"catalog.db", EngineSQLite, "catalog.db"},
		{"sqlite::memory:", EngineSQLite, ":memory:"},
	} {
		engine, target, err := ParseDSN(tc.dsn)
		require.NoError(t, err, tc.dsn)
		assert.Equal(t, tc.engine, engine, tc.dsn)
		assert.Equal(t, tc.target, target, tc.dsn)
	}
	for _, bad := range []string{"", "sqlite:", "sqlite://"} {
		_, _, err := ParseDSN(bad)
		assert.Error(t, err, bad)
	}
}

func TestRebind(t *testing.T) {
	pg := &sqlStore{dialect: dialectPostgres}
	assert.Equal(t, `SELECT a FROM t WHERE x = $1 AND y IN ($2, $3) AND z = '?'`,
		pg.rebind(`SELECT a FROM t WHERE x = ? AND y IN (?, ?) AND z = '?'`))
	lite := &sqlStore{dialect: dialectSQLite}
	assert.Equal(t, `x = ?`, lite.rebind(`x = ?`))
}

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "deeper", "catalog.db")
	for _, dsn := range []string{"sqlite:" + path, "sqlite://" + path, path} {
		st, err := Open(ctx, dsn)
		require.NoError(t, err, dsn)
		s := st.(*sqlStore)

		var mode string
		require.NoError(t, s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode))
		assert.Equal(t, "wal", mode)
		var fk, busy int
		require.NoError(t, s.db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk))
		assert.Equal(t, 1, fk)
		require.NoError(t, s.db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy))
		assert.GreaterOrEqual(t, busy, 10000)

		var versions []int64
		rows, err := s.db.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
		require.NoError(t, err)
		for rows.Next() {
			var v int64
			require.NoError(t, rows.Scan(&v))
			versions = append(versions, v)
		}
		require.NoError(t, rows.Err())
		rows.Close()
		assert.Len(t, versions, len(migrations), "each migration recorded once, across reopens")
		require.NoError(t, st.Close())
	}
	_, err := os.Stat(path)
	require.NoError(t, err)

	// In-memory, for quick throwaway use.
	st, err := Open(ctx, "sqlite::memory:")
	require.NoError(t, err)
	require.NoError(t, st.CreateCluster(ctx, Cluster{ID: "m"}))
	_, err = st.GetCluster(ctx, "m")
	require.NoError(t, err)
	require.NoError(t, st.Close())
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, err := Open(ctx, "")
	assert.Error(t, err)
	_, err = Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	assert.Error(t, err)
}

func TestMigrationsAppendOnly(t *testing.T) {
	for i, m := range migrations {
		assert.Equal(t, int64(i+1), m.version, "migration versions are 1, 2, 3, ... in order")
	}
}
