package catalog

import (
	"context"
	"path/filepath"
	"testing"
)

// A statement whose rows are still open is not handed out again: a query
// nested in the iteration of the same query gets its own statement, and
// both see every row.
func TestStatementCacheNestedSameQuery(t *testing.T) {
	ctx := context.Background()
	db, err := newStmtCacheDB("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "c.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: both queries share its cache
	for _, q := range []string{`CREATE TABLE t (v INTEGER)`, `INSERT INTO t VALUES (1), (2), (3)`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	const q = `SELECT v FROM t WHERE v >= ? ORDER BY v`
	outer, err := tx.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var pairs int
	for outer.Next() {
		var v int
		if err := outer.Scan(&v); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, q, v)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			pairs++
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if pairs != 3+2+1 {
		t.Fatalf("nested queries saw %d rows, want 6", pairs)
	}
	// And the cached statement serves again, with new arguments.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM t WHERE v >= ?`, 2).Scan(&n); err != nil || n != 2 {
		t.Fatalf("count = %d, %v; want 2", n, err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM t WHERE v >= ?`, 3).Scan(&n); err != nil || n != 1 {
		t.Fatalf("count = %d, %v; want 1", n, err)
	}
}
