// Package catalogtest opens throwaway catalogs for tests: SQLite in a
// temporary directory, and Postgres in a fresh schema when
// STRATA_TEST_POSTGRES_DSN names a server (Postgres tests are skipped
// otherwise).
package catalogtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/fakeclock"
)

// EnvPostgresDSN names the environment variable holding the Postgres server
// DSN for tests, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgresDSN = "STRATA_TEST_POSTGRES_DSN"

// SQLiteDSN returns the DSN of a new SQLite catalog file in t.TempDir().
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "catalog.db")
}

// PostgresDSN creates a schema with a random name on the server named by
// STRATA_TEST_POSTGRES_DSN and returns a DSN whose search_path is that
// schema; the schema is dropped at cleanup. It skips the test when the
// variable is unset.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresDSN)
	if base == "" {
		t.Skipf("Postgres catalog tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run them", EnvPostgresDSN)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL, got %q", EnvPostgresDSN, base)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "strata_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", EnvPostgresDSN, err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create test schema on %s: %v", EnvPostgresDSN, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens the catalog at dsn and closes it at cleanup.
func Open(t testing.TB, dsn string, opts ...catalog.Option) catalog.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := catalog.Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("open catalog: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// SQLite returns a new, empty SQLite catalog in t.TempDir().
func SQLite(t testing.TB, opts ...catalog.Option) catalog.Store {
	t.Helper()
	return Open(t, SQLiteDSN(t), opts...)
}

// Postgres returns a new, empty Postgres catalog in its own schema, or skips
// the test when STRATA_TEST_POSTGRES_DSN is unset.
func Postgres(t testing.TB, opts ...catalog.Option) catalog.Store {
	t.Helper()
	return Open(t, PostgresDSN(t), opts...)
}

// Each runs fn as subtests "sqlite" and "postgres", each with a new, empty
// catalog (the Postgres subtest skips when STRATA_TEST_POSTGRES_DSN is
// unset).
func Each(t *testing.T, fn func(t *testing.T, s catalog.Store)) {
	t.Helper()
	EachDSN(t, func(t *testing.T, dsn string) { fn(t, Open(t, dsn)) })
}

// EachDSN is Each for tests that open the catalog themselves (with options,
// or several stores on one database): fn gets the DSN of a new, empty
// catalog; Open it with Open.
func EachDSN(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteDSN(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, PostgresDSN(t)) })
}

// Clock is a settable clock for catalog.WithClock.
type Clock = fakeclock.Manual

// NewClock returns a clock at start (a fixed date when start is zero).
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	return fakeclock.NewManual(start)
}
