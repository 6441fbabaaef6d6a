package catalog

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
)

// maxCachedStmts bounds each connection's statement cache: queries with a
// variable number of placeholders (IN lists) have many texts.
const maxCachedStmts = 256

// stmtCacheConnector opens SQLite connections that keep their prepared
// statements, keyed by query text. database/sql prepares a statement for
// every query when the driver runs queries directly, and parsing SQL was
// most of the catalog's CPU: each backup runs the same few dozen queries.
type stmtCacheConnector struct {
	drv driver.Driver
	dsn string
}

// newStmtCacheDB opens a *sql.DB on driverName whose connections cache
// their statements.
func newStmtCacheDB(driverName, dsn string) (*sql.DB, error) {
	probe, err := sql.Open(driverName, "")
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	_ = probe.Close()
	return sql.OpenDB(stmtCacheConnector{drv: drv, dsn: dsn}), nil
}

func (c stmtCacheConnector) Connect(ctx context.Context) (driver.Conn, error) {
	var (
		conn driver.Conn
		err  error
	)
	if dc, ok := c.drv.(driver.DriverContext); ok {
		var connector driver.Connector
		if connector, err = dc.OpenConnector(c.dsn); err == nil {
			conn, err = connector.Connect(ctx)
		}
	} else {
		conn, err = c.drv.Open(c.dsn)
	}
	if err != nil {
		return nil, err
	}
	if _, ok := conn.(driver.ConnPrepareContext); !ok {
		return conn, nil // nothing to cache with
	}
	return &cachingConn{inner: conn, stmts: map[string]*cachedStmt{}}, nil
}

func (c stmtCacheConnector) Driver() driver.Driver { return c.drv }

// cachingConn is used by one goroutine at a time (database/sql's contract),
// so its cache needs no lock. A statement in use (its rows still open, as
// in a query nested in another's iteration) is not handed out twice: the
// second user gets a fresh one.
type cachingConn struct {
	inner driver.Conn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	stmt driver.Stmt
	busy bool
}

var (
	_ driver.QueryerContext     = (*cachingConn)(nil)
	_ driver.ExecerContext      = (*cachingConn)(nil)
	_ driver.ConnBeginTx        = (*cachingConn)(nil)
	_ driver.ConnPrepareContext = (*cachingConn)(nil)
	_ driver.SessionResetter    = (*cachingConn)(nil)
	_ driver.Validator          = (*cachingConn)(nil)
	_ driver.Pinger             = (*cachingConn)(nil)
	_ driver.NamedValueChecker  = (*cachingConn)(nil)
)

// take returns a statement for query and what to do when done with it;
// failed is true when the statement errored and must not be reused.
func (c *cachingConn) take(ctx context.Context, query string) (driver.Stmt, func(failed bool), error) {
	if cs := c.stmts[query]; cs != nil && !cs.busy {
		cs.busy = true
		return cs.stmt, func(failed bool) { c.release(query, cs, failed) }, nil
	}
	st, err := c.inner.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, nil, err
	}
	if _, cached := c.stmts[query]; !cached && len(c.stmts) < maxCachedStmts {
		cs := &cachedStmt{stmt: st, busy: true}
		c.stmts[query] = cs
		return st, func(failed bool) { c.release(query, cs, failed) }, nil
	}
	return st, func(bool) { _ = st.Close() }, nil
}

func (c *cachingConn) release(query string, cs *cachedStmt, failed bool) {
	cs.busy = false
	if failed && c.stmts[query] == cs {
		delete(c.stmts, query)
		_ = cs.stmt.Close()
	}
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, done, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	q, ok := st.(driver.StmtQueryContext)
	if !ok {
		done(false)
		return nil, driver.ErrSkip
	}
	rows, err := q.QueryContext(ctx, args)
	if err != nil {
		done(true)
		return nil, err
	}
	return &releasingRows{Rows: rows, done: done}, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, done, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	e, ok := st.(driver.StmtExecContext)
	if !ok {
		done(false)
		return nil, driver.ErrSkip
	}
	res, err := e.ExecContext(ctx, args)
	done(err != nil)
	return res, err
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.inner.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.inner.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return c.inner.Begin() //nolint:staticcheck // the driver has nothing better
}

func (c *cachingConn) Close() error {
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.stmt.Close())
		delete(c.stmts, q)
	}
	errs = append(errs, c.inner.Close())
	return errors.Join(errs...)
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.inner.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.inner.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *cachingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.inner.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// releasingRows gives its statement back when the rows are closed, which
// database/sql always does (at the end of iteration, on error, or with
// the transaction).
type releasingRows struct {
	driver.Rows
	done     func(failed bool)
	released bool
}

func (r *releasingRows) Close() error {
	err := r.Rows.Close()
	if !r.released {
		r.released = true
		r.done(err != nil)
	}
	return err
}
