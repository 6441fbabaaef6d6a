package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// sqlStore implements Store on database/sql for both engines with one set of
// queries: written with ? placeholders (rebound to $n for Postgres), times as
// BIGINT unix milliseconds (UTC), INSERT ... ON CONFLICT and RETURNING.
type sqlStore struct {
	db      *sql.DB
	dialect dialect
	now     func() time.Time
	// writeSem serializes this process's SQLite write transactions, so that
	// they queue in Go rather than in SQLite's busy handler (which polls).
	// Other processes are excluded by SQLite's lock and busy_timeout. nil
	// for Postgres.
	writeSem chan struct{}
}

func newSQLStore(db *sql.DB, d dialect, o options) *sqlStore {
	s := &sqlStore{db: db, dialect: d, now: o.now}
	if d == dialectSQLite {
		s.writeSem = make(chan struct{}, 1)
	}
	return s
}

func (s *sqlStore) Close() error { return s.db.Close() }

// rebind turns ? placeholders into $1, $2, ... for Postgres. Queries never
// contain a literal ? inside quotes outside of this convention, but quoted
// text is skipped anyway.
func (s *sqlStore) rebind(q string) string {
	if s.dialect != dialectPostgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// forUpdate is appended to a SELECT of a row the transaction will update, so
// that concurrent transactions on Postgres queue on it. SQLite needs nothing:
// its write transactions are serialized (BEGIN IMMEDIATE).
func (s *sqlStore) forUpdate() string {
	if s.dialect == dialectPostgres {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// runner runs rebound queries on the database or a transaction.
type runner struct {
	s *sqlStore
	q queryer
}

func (r runner) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return r.q.ExecContext(ctx, r.s.rebind(q), args...)
}

func (r runner) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, r.s.rebind(q), args...)
}

func (r runner) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, r.s.rebind(q), args...)
}

func (s *sqlStore) direct() runner { return runner{s: s, q: s.db} }

// write runs fn in a read-write transaction (BEGIN IMMEDIATE on SQLite; READ
// COMMITTED on Postgres, where fn locks the rows it updates) and commits it
// if fn returns nil. fn's error is returned unchanged.
func (s *sqlStore) write(ctx context.Context, fn func(r runner) error) error {
	if s.writeSem != nil {
		select {
		case s.writeSem <- struct{}{}:
			defer func() { <-s.writeSem }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: begin: %w", err)
	}
	if err := fn(runner{s: s, q: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("catalog: commit: %w", err)
	}
	return nil
}

// read runs fn in a read-only transaction that sees one snapshot of the
// database (SQLite's deferred read transaction; REPEATABLE READ on Postgres).
func (s *sqlStore) read(ctx context.Context, fn func(r runner) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == dialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("catalog: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	return fn(runner{s: s, q: tx})
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullMS(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func nullFloat(f *float64) sql.NullFloat64 {
	if f == nil {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: *f, Valid: true}
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// orNow is t, or the store's clock's time when the caller left t zero.
func (s *sqlStore) orNow(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

// exists reports whether table (a name in the caller's code, never input:
// it is spliced into the query) has a row with this id.
func exists(ctx context.Context, r runner, table, id string) (bool, error) {
	var one int
	err := r.queryRow(ctx, `SELECT 1 FROM `+table+` WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// getByID scans the one row q (with one placeholder, for id) selects;
// *NotFoundError naming kind if there is none.
func getByID[T any](ctx context.Context, r runner, scan func(sc scanner) (T, error), kind, q, id string) (T, error) {
	v, err := scan(r.queryRow(ctx, q, id))
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, &NotFoundError{Kind: kind, ID: id}
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("catalog: get %s %s: %w", kind, id, err)
	}
	return v, nil
}

// affected returns none if res changed no row: an UPDATE or DELETE whose
// row is missing, or an INSERT ... ON CONFLICT DO NOTHING whose row exists.
func affected(res sql.Result, none error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return none
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows, so that one scan function reads a
// record for both a get and a list.
type scanner interface{ Scan(dest ...any) error }

// eachRow calls fn on every row of rows until fn fails, and closes rows
// before it returns: a transaction's Postgres connection fails any other
// query while rows are open on it.
func eachRow(rows *sql.Rows, fn func(sc scanner) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// collect scans every row of rows with scan (see eachRow). No rows is an
// empty slice, not nil, as every listing of the catalog returns: rows
// leave the worker as JSON, where nil would be null.
func collect[T any](rows *sql.Rows, scan func(sc scanner) (T, error)) ([]T, error) {
	out := []T{}
	err := eachRow(rows, func(sc scanner) error {
		v, err := scan(sc)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
