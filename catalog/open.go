package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// SQLiteBusyTimeout is how long a SQLite connection waits for another
// connection or process to release the database lock before failing with
// SQLITE_BUSY.
const SQLiteBusyTimeout = 30 * time.Second

// Option configures Open.
type Option func(*options)

type options struct {
	now          func() time.Time
	maxOpenConns int
}

// WithClock sets the clock the store uses for timestamps it assigns and for
// lease expiry. Tests use it to move time.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithMaxOpenConns caps the store's connection pool (0 = the default: no cap
// for Postgres, 8 for SQLite).
func WithMaxOpenConns(n int) Option {
	return func(o *options) { o.maxOpenConns = n }
}

// Engine names the SQL engine behind a DSN.
type Engine string

const (
	EngineSQLite   Engine = "sqlite"
	EnginePostgres Engine = "postgres"
)

// ParseDSN tells which engine a DSN selects and returns what is passed to
// that engine: the Postgres URL unchanged, or the SQLite file path.
//
//	postgres://...  postgresql://...   Postgres
//	sqlite:PATH  sqlite://PATH  PATH   SQLite file (sqlite:///abs/path is /abs/path)
//	sqlite::memory:  :memory:          SQLite in memory (one connection; tests only)
func ParseDSN(dsn string) (Engine, string, error) {
	dsn = strings.TrimSpace(dsn)
	lower := strings.ToLower(dsn)
	switch {
	case dsn == "":
		return "", "", errors.New("catalog: empty DSN")
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return EnginePostgres, dsn, nil
	case strings.HasPrefix(lower, "sqlite://"):
		dsn = dsn[len("sqlite://"):]
	case strings.HasPrefix(lower, "sqlite:"):
		dsn = dsn[len("sqlite:"):]
	}
	if dsn == "" {
		return "", "", errors.New("catalog: SQLite DSN has no file path")
	}
	return EngineSQLite, dsn, nil
}

// Open opens the catalog named by dsn (see ParseDSN) and migrates its schema.
func Open(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	engine, target, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	var s *sqlStore
	switch engine {
	case EnginePostgres:
		s, err = openPostgres(ctx, target, o)
	default:
		s, err = openSQLite(ctx, target, o)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("catalog: migrate %s schema: %w", engine, err)
	}
	return s, nil
}

func openPostgres(ctx context.Context, dsn string, o options) (*sqlStore, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("catalog: open postgres: %w", err)
	}
	if o.maxOpenConns > 0 {
		db.SetMaxOpenConns(o.maxOpenConns)
		db.SetMaxIdleConns(o.maxOpenConns)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("catalog: connect to postgres: %w", err)
	}
	return newSQLStore(db, dialectPostgres, o), nil
}

// sqliteDSN returns the modernc.org/sqlite DSN for path: WAL, a busy
// timeout, foreign keys, and write transactions that BEGIN IMMEDIATE so that
// they take the write lock up front (and wait for it under busy_timeout)
// instead of failing with SQLITE_BUSY when upgrading a read lock.
func sqliteDSN(path string) string {
	path, extra, _ := strings.Cut(path, "?")
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", SQLiteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Deleted content is overwritten, so a secret replaced by its sealed
	// form does not linger in free pages.
	q.Add("_pragma", "secure_delete(1)")
	// journal_mode is not set here but once by openSQLite: WAL is
	// persistent, and switching to it needs an exclusive lock for which
	// SQLite does not always wait, so concurrent first opens of a new file
	// could fail with SQLITE_BUSY while setting up connections.
	q.Set("_txlock", "immediate")
	dsn := path + "?" + q.Encode()
	if extra != "" {
		dsn += "&" + extra
	}
	return dsn
}

func openSQLite(ctx context.Context, path string, o options) (*sqlStore, error) {
	memory := path == ":memory:"
	if !memory {
		file, _, _ := strings.Cut(path, "?")
		if dir := filepath.Dir(file); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("catalog: create directory for SQLite catalog: %w", err)
			}
		}
		if err := privateFile(file); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
	}
	db, err := newStmtCacheDB("sqlite", sqliteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("catalog: open sqlite %s: %w", path, err)
	}
	switch {
	case memory:
		// Every connection to :memory: is its own database.
		db.SetMaxOpenConns(1)
	case o.maxOpenConns > 0:
		db.SetMaxOpenConns(o.maxOpenConns)
		db.SetMaxIdleConns(o.maxOpenConns)
	default:
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("catalog: open sqlite %s: %w", path, err)
	}
	if !memory {
		if err := enableWAL(ctx, db); err != nil {
			db.Close()
			return nil, fmt.Errorf("catalog: open sqlite %s: %w", path, err)
		}
	}
	return newSQLStore(db, dialectSQLite, o), nil
}

// privateFile makes the catalog file (and its WAL and shared-memory files,
// which SQLite creates with the database file's mode) readable by its owner
// only: channel settings and the whole history of the fleet are in it.
func privateFile(file string) error {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create SQLite catalog %s: %w", file, err)
	}
	for _, f := range []string{file, file + "-wal", file + "-shm"} {
		if fi, err := os.Stat(f); err == nil && fi.Mode().Perm()&0o077 != 0 {
			_ = os.Chmod(f, 0o600) // not ours to change when another user owns it
		}
	}
	return nil
}

// enableWAL switches the database to WAL mode, retrying while another
// connection (or process) holds a lock that SQLite does not wait for.
func enableWAL(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, SQLiteBusyTimeout)
	defer cancel()
	delay := 5 * time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("cannot enable WAL mode: journal mode is %q", mode)
		case !isSQLiteBusy(err):
			return fmt.Errorf("enable WAL mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("enable WAL mode: %w", err)
		case <-time.After(delay):
		}
		if delay < 200*time.Millisecond {
			delay *= 2
		}
	}
}

// isSQLiteBusy reports whether err is SQLITE_BUSY or SQLITE_LOCKED (with
// any extended code).
func isSQLiteBusy(err error) bool {
	var coder interface{ Code() int }
	if errors.As(err, &coder) {
		switch coder.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
	}
	return false
}
