package catalog

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratabackup/strata/api/validate"
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

// ---------------------------------------------------------------- clusters

func (s *sqlStore) CreateCluster(ctx context.Context, c Cluster) error {
	if c.ID == "" {
		return errors.New("catalog: cluster ID is required")
	}
	created := c.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	status := c.Status
	if status == "" {
		status = ClusterRunning
	}
	if !validClusterStatus(status) {
		return fmt.Errorf("catalog: cluster %s: unknown status %q", c.ID, c.Status)
	}
	return s.write(ctx, func(r runner) error {
		if err := s.checkVolumesFree(ctx, r, c); err != nil {
			return err
		}
		res, err := r.exec(ctx, `INSERT INTO clusters
			(id, description, provider, region, project_id, network_id, faults, created_at,
			 status, status_reason, restored_from)
			VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			c.ID, c.Description, c.Provider, c.Region, c.ProjectID, c.NetworkID, ms(created),
			string(status), c.StatusReason, c.RestoredFrom)
		if err != nil {
			return fmt.Errorf("catalog: create cluster %s: %w", c.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("cluster %q: %w", c.ID, ErrExists)
		}
		for i, n := range c.Nodes {
			if n.ID == "" {
				return fmt.Errorf("catalog: cluster %s: node %d has no ID", c.ID, i)
			}
			if _, err := r.exec(ctx, `INSERT INTO nodes (cluster_id, id, ordinal, healthy, replication_lag_seconds)
				VALUES (?, ?, ?, ?, ?)`, c.ID, n.ID, i, n.Healthy, nullFloat(n.ReplicationLagSeconds)); err != nil {
				return fmt.Errorf("catalog: cluster %s: insert node %s: %w", c.ID, n.ID, err)
			}
			for j, v := range n.Volumes {
				if v.ID == "" {
					return fmt.Errorf("catalog: cluster %s: node %s: volume %d has no ID", c.ID, n.ID, j)
				}
				if _, err := r.exec(ctx, `INSERT INTO volumes (cluster_id, node_id, id, ordinal, size_gb, path, zone)
					VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ID, n.ID, v.ID, j, v.SizeGB, v.Path, v.Zone); err != nil {
					return fmt.Errorf("catalog: cluster %s: insert volume %s: %w", c.ID, v.ID, err)
				}
			}
		}
		return nil
	})
}

// volumeLockKey is the first key of the Postgres advisory locks that
// serialise claims on one volume reference ("VOLU").
const volumeLockKey int32 = 0x564f4c55

// checkVolumesFree refuses a new cluster any of whose volumes (by provider
// reference) already belongs to a live cluster of the same provider: two
// clusters backing up and restoring one disk would each believe it theirs.
// A Failed cluster (a restore that was torn down) does not count.
func (s *sqlStore) checkVolumesFree(ctx context.Context, r runner, c Cluster) error {
	for _, v := range c.Volumes() {
		if v.Path == "" {
			continue
		}
		if s.dialect == dialectPostgres {
			if _, err := r.exec(ctx, `SELECT pg_advisory_xact_lock(?, hashtext(?))`, volumeLockKey, v.Path); err != nil {
				return fmt.Errorf("catalog: cluster %s: lock volume %s: %w", c.ID, v.Path, err)
			}
		}
		var owner string
		err := r.queryRow(ctx, `SELECT v.cluster_id FROM volumes v JOIN clusters c ON c.id = v.cluster_id
			WHERE v.path = ? AND c.provider = ? AND c.status <> ? AND c.id <> ? LIMIT 1`,
			v.Path, c.Provider, string(ClusterFailed), c.ID).Scan(&owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("catalog: cluster %s: check volume %s: %w", c.ID, v.Path, err)
		default:
			return &VolumeInUseError{Ref: v.Path, ClusterID: owner}
		}
	}
	return nil
}

func (s *sqlStore) GetCluster(ctx context.Context, id string) (Cluster, error) {
	var out []Cluster
	err := s.read(ctx, func(r runner) error {
		var err error
		out, err = s.loadClusters(ctx, r, id)
		return err
	})
	if err != nil {
		return Cluster{}, err
	}
	if len(out) == 0 {
		return Cluster{}, &NotFoundError{Kind: "cluster", ID: id}
	}
	return out[0], nil
}

func (s *sqlStore) ListClusters(ctx context.Context) ([]Cluster, error) {
	var out []Cluster
	err := s.read(ctx, func(r runner) error {
		var err error
		out, err = s.loadClusters(ctx, r, "")
		return err
	})
	return out, err
}

// loadClusters loads one cluster (id != "") or all, ordered by ID, with their
// current locks, nodes and volumes: three queries whatever the count.
func (s *sqlStore) loadClusters(ctx context.Context, r runner, id string) ([]Cluster, error) {
	where, args := "", []any{ms(s.now())}
	if id != "" {
		where = " WHERE c.id = ?"
		args = append(args, id)
	}
	rows, err := r.query(ctx, `SELECT c.id, c.description, c.provider, c.region, c.project_id, c.network_id, c.created_at,
			c.status, c.status_reason, c.restored_from,
			l.holder, l.token, l.acquired_at, l.expires_at
		FROM clusters c
		LEFT JOIN locks l ON l.cluster_id = c.id AND l.expires_at > ?`+where+`
		ORDER BY c.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list clusters: %w", err)
	}
	out := []Cluster{}
	byID := map[string]int{}
	for rows.Next() {
		var (
			c                 Cluster
			created           int64
			holder            sql.NullString
			token, acq, expir sql.NullInt64
		)
		if err := rows.Scan(&c.ID, &c.Description, &c.Provider, &c.Region, &c.ProjectID, &c.NetworkID, &created,
			&c.Status, &c.StatusReason, &c.RestoredFrom,
			&holder, &token, &acq, &expir); err != nil {
			rows.Close()
			return nil, err
		}
		c.CreatedAt = fromMS(created)
		if holder.Valid {
			c.Lock = &Lock{Holder: holder.String, Token: token.Int64, AcquiredAt: fromMS(acq.Int64), ExpiresAt: fromMS(expir.Int64)}
		}
		c.Nodes = []Node{}
		byID[c.ID] = len(out)
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}

	where, args = "", nil
	if id != "" {
		where = " WHERE cluster_id = ?"
		args = []any{id}
	}
	rows, err = r.query(ctx, `SELECT cluster_id, id, healthy, replication_lag_seconds FROM nodes`+where+`
		ORDER BY cluster_id, ordinal`, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list nodes: %w", err)
	}
	type nodeKey struct{ cluster, node string }
	nodeIdx := map[nodeKey]int{}
	for rows.Next() {
		var (
			clusterID string
			n         Node
			lag       sql.NullFloat64
		)
		if err := rows.Scan(&clusterID, &n.ID, &n.Healthy, &lag); err != nil {
			rows.Close()
			return nil, err
		}
		if lag.Valid {
			v := lag.Float64
			n.ReplicationLagSeconds = &v
		}
		n.Volumes = []Volume{}
		ci, ok := byID[clusterID]
		if !ok {
			continue
		}
		nodeIdx[nodeKey{clusterID, n.ID}] = len(out[ci].Nodes)
		out[ci].Nodes = append(out[ci].Nodes, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = r.query(ctx, `SELECT cluster_id, node_id, id, size_gb, path, zone FROM volumes`+where+`
		ORDER BY cluster_id, node_id, ordinal`, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list volumes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			clusterID string
			v         Volume
		)
		if err := rows.Scan(&clusterID, &v.NodeID, &v.ID, &v.SizeGB, &v.Path, &v.Zone); err != nil {
			return nil, err
		}
		ci, ok := byID[clusterID]
		if !ok {
			continue
		}
		ni, ok := nodeIdx[nodeKey{clusterID, v.NodeID}]
		if !ok {
			continue
		}
		out[ci].Nodes[ni].Volumes = append(out[ci].Nodes[ni].Volumes, v)
	}
	return out, rows.Err()
}

// clusterExists reports whether the cluster exists.
func (s *sqlStore) clusterExists(ctx context.Context, r runner, id string) (bool, error) {
	var one int
	err := r.queryRow(ctx, `SELECT 1 FROM clusters WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (s *sqlStore) SetNodeHealth(ctx context.Context, clusterID, nodeID string, healthy bool, replicationLagSeconds *float64) error {
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE nodes SET healthy = ?, replication_lag_seconds = ? WHERE cluster_id = ? AND id = ?`,
			healthy, nullFloat(replicationLagSeconds), clusterID, nodeID)
		if err != nil {
			return fmt.Errorf("catalog: set health of node %s/%s: %w", clusterID, nodeID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		ok, err := s.clusterExists(ctx, r, clusterID)
		if err != nil {
			return err
		}
		if !ok {
			return &NotFoundError{Kind: "cluster", ID: clusterID}
		}
		return &NotFoundError{Kind: "node", ID: nodeID}
	})
}

func (s *sqlStore) SetFaults(ctx context.Context, clusterID string, f Faults) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE clusters SET faults = ? WHERE id = ?`, string(b), clusterID)
		if err != nil {
			return fmt.Errorf("catalog: set faults of cluster %s: %w", clusterID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return &NotFoundError{Kind: "cluster", ID: clusterID}
		}
		return nil
	})
}

func (s *sqlStore) GetFaults(ctx context.Context, clusterID string) (Faults, error) {
	var raw string
	err := s.direct().queryRow(ctx, `SELECT faults FROM clusters WHERE id = ?`, clusterID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return Faults{}, &NotFoundError{Kind: "cluster", ID: clusterID}
	}
	if err != nil {
		return Faults{}, fmt.Errorf("catalog: get faults of cluster %s: %w", clusterID, err)
	}
	var f Faults
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			return Faults{}, fmt.Errorf("catalog: faults of cluster %s: %w", clusterID, err)
		}
	}
	return f, nil
}

// ------------------------------------------------------------------- locks

func (s *sqlStore) AcquireLock(ctx context.Context, clusterID, holder string, ttl time.Duration) (Lock, error) {
	if holder == "" {
		return Lock{}, errors.New("catalog: lock holder is required")
	}
	if ttl < time.Millisecond {
		return Lock{}, fmt.Errorf("catalog: lock TTL %s is too short", ttl)
	}
	var out Lock
	err := s.write(ctx, func(r runner) error {
		var lockSeq int64
		err := r.queryRow(ctx, `SELECT lock_seq FROM clusters WHERE id = ?`+s.forUpdate(), clusterID).Scan(&lockSeq)
		if errors.Is(err, sql.ErrNoRows) {
			return &NotFoundError{Kind: "cluster", ID: clusterID}
		}
		if err != nil {
			return fmt.Errorf("catalog: lock cluster %s: %w", clusterID, err)
		}
		now := ms(s.now())
		expires := now + ttl.Milliseconds()

		var cur Lock
		var acq, exp int64
		err = r.queryRow(ctx, `SELECT holder, token, acquired_at, expires_at FROM locks WHERE cluster_id = ?`, clusterID).
			Scan(&cur.Holder, &cur.Token, &acq, &exp)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("catalog: lock cluster %s: %w", clusterID, err)
		case exp > now && cur.Holder == holder:
			// The holder's own live lease: extend it, same token.
			if _, err := r.exec(ctx, `UPDATE locks SET expires_at = ? WHERE cluster_id = ? AND token = ?`,
				expires, clusterID, cur.Token); err != nil {
				return fmt.Errorf("catalog: extend lock of cluster %s: %w", clusterID, err)
			}
			out = Lock{Holder: holder, Token: cur.Token, AcquiredAt: fromMS(acq), ExpiresAt: fromMS(expires)}
			return nil
		case exp > now:
			return &LockedError{ClusterID: clusterID, Holder: cur.Holder, ExpiresAt: fromMS(exp)}
		}

		// Free or expired: a new lease with the next fencing token.
		token := lockSeq + 1
		if _, err := r.exec(ctx, `UPDATE clusters SET lock_seq = ? WHERE id = ?`, token, clusterID); err != nil {
			return fmt.Errorf("catalog: lock cluster %s: %w", clusterID, err)
		}
		if _, err := r.exec(ctx, `INSERT INTO locks (cluster_id, holder, token, acquired_at, expires_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (cluster_id) DO UPDATE SET holder = excluded.holder, token = excluded.token,
				acquired_at = excluded.acquired_at, expires_at = excluded.expires_at`,
			clusterID, holder, token, now, expires); err != nil {
			return fmt.Errorf("catalog: lock cluster %s: %w", clusterID, err)
		}
		out = Lock{Holder: holder, Token: token, AcquiredAt: fromMS(now), ExpiresAt: fromMS(expires)}
		return nil
	})
	return out, err
}

func (s *sqlStore) RenewLock(ctx context.Context, clusterID string, token int64, ttl time.Duration) (Lock, error) {
	if ttl < time.Millisecond {
		return Lock{}, fmt.Errorf("catalog: lock TTL %s is too short", ttl)
	}
	var (
		out      Lock
		acq, exp int64
	)
	err := s.write(ctx, func(r runner) error {
		now := ms(s.now())
		return r.queryRow(ctx, `UPDATE locks SET expires_at = ?
			WHERE cluster_id = ? AND token = ? AND expires_at > ?
			RETURNING holder, token, acquired_at, expires_at`,
			now+ttl.Milliseconds(), clusterID, token, now).Scan(&out.Holder, &out.Token, &acq, &exp)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Lock{}, ErrLockLost
	}
	if err != nil {
		return Lock{}, fmt.Errorf("catalog: renew lock of cluster %s: %w", clusterID, err)
	}
	out.AcquiredAt, out.ExpiresAt = fromMS(acq), fromMS(exp)
	return out, nil
}

func (s *sqlStore) ReleaseLock(ctx context.Context, clusterID string, token int64) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `DELETE FROM locks WHERE cluster_id = ? AND token = ?`, clusterID, token)
		return err
	})
	if err != nil {
		return fmt.Errorf("catalog: release lock of cluster %s: %w", clusterID, err)
	}
	return nil
}

func (s *sqlStore) ReleaseOutsideLock(ctx context.Context, clusterID string, token int64) error {
	return s.write(ctx, func(r runner) error {
		if ok, err := s.clusterExists(ctx, r, clusterID); err != nil {
			return fmt.Errorf("catalog: unlock cluster %s: %w", clusterID, err)
		} else if !ok {
			return &NotFoundError{Kind: "cluster", ID: clusterID}
		}
		var holder string
		var cur int64
		err := r.queryRow(ctx, `SELECT holder, token FROM locks WHERE cluster_id = ? AND expires_at > ?`, clusterID, ms(s.now())).Scan(&holder, &cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return &StateError{Msg: fmt.Sprintf("cluster %s is not locked", clusterID)}
		case err != nil:
			return fmt.Errorf("catalog: unlock cluster %s: %w", clusterID, err)
		case validate.IsOperationHolder(holder):
			return &OperationLockError{ClusterID: clusterID, Holder: holder}
		case cur != token:
			return &StateError{Msg: fmt.Sprintf("token %d is not the current lock on cluster %s (held by %q with another token); nothing released", token, clusterID, holder)}
		}
		_, err = r.exec(ctx, `DELETE FROM locks WHERE cluster_id = ? AND token = ?`, clusterID, token)
		return err
	})
}

func (s *sqlStore) GetLock(ctx context.Context, clusterID string) (*Lock, error) {
	var (
		id                string
		holder            sql.NullString
		token, acq, expir sql.NullInt64
	)
	err := s.direct().queryRow(ctx, `SELECT c.id, l.holder, l.token, l.acquired_at, l.expires_at
		FROM clusters c
		LEFT JOIN locks l ON l.cluster_id = c.id AND l.expires_at > ?
		WHERE c.id = ?`, ms(s.now()), clusterID).Scan(&id, &holder, &token, &acq, &expir)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &NotFoundError{Kind: "cluster", ID: clusterID}
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: get lock of cluster %s: %w", clusterID, err)
	}
	if !holder.Valid {
		return nil, nil
	}
	return &Lock{Holder: holder.String, Token: token.Int64, AcquiredAt: fromMS(acq.Int64), ExpiresAt: fromMS(expir.Int64)}, nil
}

// ----------------------------------------------------------------- backups

const backupColumns = `b.id, b.cluster_id, b.job_id, b.request_id, b.workflow_id, b.label, b.idx, b.status, b.reason,
	b.created_at, b.started_at, b.completed_at, b.deadline, b.preferred_node_id, b.deletion_error, b.deleted_at`

type scanner interface{ Scan(dest ...any) error }

func scanBackup(sc scanner) (Backup, error) {
	var (
		b                         Backup
		created                   int64
		started, completed, deadl sql.NullInt64
		deleted                   sql.NullInt64
	)
	if err := sc.Scan(&b.ID, &b.ClusterID, &b.JobID, &b.RequestID, &b.WorkflowID, &b.Label, &b.Index, &b.Status, &b.Reason,
		&created, &started, &completed, &deadl, &b.PreferredNodeID, &b.DeletionError, &deleted); err != nil {
		return Backup{}, err
	}
	b.CreatedAt = fromMS(created)
	b.StartedAt = fromNullMS(started)
	b.CompletedAt = fromNullMS(completed)
	b.Deadline = fromNullMS(deadl)
	b.DeletedAt = fromNullMS(deleted)
	b.Snapshots = []Snapshot{}
	return b, nil
}

// attachSnapshots loads the snapshots of backups (where selects them on
// backup_snapshots, unqualified columns) and attaches them, each backup's
// in its cluster's node and volume order (see sortSnapshots).
func attachSnapshots(ctx context.Context, r runner, backups []Backup, where string, args ...any) error {
	if len(backups) == 0 {
		return nil
	}
	idx := make(map[string]int, len(backups))
	for i, b := range backups {
		idx[b.ID] = i
	}
	rows, err := r.query(ctx, `SELECT backup_id, node_id, volume_id, snapshot_id, status, progress, size_gb, error
		FROM backup_snapshots WHERE `+where, args...)
	if err != nil {
		return fmt.Errorf("catalog: list snapshots: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			backupID string
			sn       Snapshot
		)
		if err := rows.Scan(&backupID, &sn.NodeID, &sn.VolumeID, &sn.SnapshotID, &sn.Status, &sn.Progress, &sn.SizeGB, &sn.Error); err != nil {
			return err
		}
		if i, ok := idx[backupID]; ok {
			backups[i].Snapshots = append(backups[i].Snapshots, sn)
		}
	}
	return rows.Err()
}

// ordinals are the node and volume ordinals of clusters, loaded once per
// cluster for ordering snapshots.
type ordinals struct {
	loaded map[string]bool
	nodes  map[[2]string]int // cluster ID, node ID
	vols   map[[2]string]int // cluster ID, volume ID
}

func newOrdinals() *ordinals {
	return &ordinals{loaded: map[string]bool{}, nodes: map[[2]string]int{}, vols: map[[2]string]int{}}
}

// load reads the ordinals of the clusters of backups not loaded yet.
func (o *ordinals) load(ctx context.Context, r runner, backups []Backup) error {
	var ids []any
	for _, b := range backups {
		if !o.loaded[b.ClusterID] {
			o.loaded[b.ClusterID] = true
			ids = append(ids, b.ClusterID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := r.query(ctx, `SELECT n.cluster_id, n.id, n.ordinal, v.id, v.ordinal
		FROM nodes n LEFT JOIN volumes v ON v.cluster_id = n.cluster_id AND v.node_id = n.id
		WHERE n.cluster_id IN (`+placeholders(len(ids))+`)`, ids...)
	if err != nil {
		return fmt.Errorf("catalog: list volumes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			clusterID, nodeID string
			nodeOrd           int
			volID             sql.NullString
			volOrd            sql.NullInt64
		)
		if err := rows.Scan(&clusterID, &nodeID, &nodeOrd, &volID, &volOrd); err != nil {
			return err
		}
		o.nodes[[2]string{clusterID, nodeID}] = nodeOrd
		if volID.Valid {
			o.vols[[2]string{clusterID, volID.String}] = int(volOrd.Int64)
		}
	}
	return rows.Err()
}

// sortSnapshots orders a backup's snapshots by their node's ordinal in the
// cluster, then their volume's ordinal on its node (snapshots of nodes or
// volumes the cluster no longer has last), then volume ID (byte order).
func (o *ordinals) sortSnapshots(b *Backup) {
	const unknown = math.MaxInt32
	ord := func(m map[[2]string]int, id string) int {
		if v, ok := m[[2]string{b.ClusterID, id}]; ok {
			return v
		}
		return unknown
	}
	slices.SortFunc(b.Snapshots, func(x, y Snapshot) int {
		return cmp.Or(
			cmp.Compare(ord(o.nodes, x.NodeID), ord(o.nodes, y.NodeID)),
			cmp.Compare(ord(o.vols, x.VolumeID), ord(o.vols, y.VolumeID)),
			strings.Compare(x.VolumeID, y.VolumeID))
	})
}

// detailsChunk is how many backup IDs one snapshots or holds query names
// (far below either engine's limit on parameters; a var for tests).
var detailsChunk = 500

// attachDetails loads the snapshots and holds of backups by their IDs (a
// few hundred a query), within the caller's transaction. Naming the IDs,
// rather than repeating the list's filter in an IN (SELECT ...) subquery,
// keeps every lookup on the primary keys of backup_snapshots and
// backup_holds, whatever the planner thinks of the filter; snapshots are
// ordered here, from each cluster's ordinals read once, rather than by
// joining every snapshot row to nodes and volumes.
func attachDetails(ctx context.Context, r runner, backups []Backup) error {
	ords := newOrdinals()
	for lo := 0; lo < len(backups); lo += detailsChunk {
		part := backups[lo:min(lo+detailsChunk, len(backups))]
		ids := make([]any, len(part))
		for i, b := range part {
			ids[i] = b.ID
		}
		in := `backup_id IN (` + placeholders(len(ids)) + `)`
		if err := attachSnapshots(ctx, r, part, in, ids...); err != nil {
			return err
		}
		if err := attachHolds(ctx, r, part, in, ids...); err != nil {
			return err
		}
		if err := ords.load(ctx, r, part); err != nil {
			return err
		}
		for i := range part {
			ords.sortSnapshots(&part[i])
		}
	}
	return nil
}

// getBackup loads one backup and its snapshots; *NotFoundError if missing.
func (s *sqlStore) getBackup(ctx context.Context, r runner, id string) (Backup, error) {
	b, err := scanBackup(r.queryRow(ctx, `SELECT `+backupColumns+` FROM backups b WHERE b.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Backup{}, &NotFoundError{Kind: "backup", ID: id}
	}
	if err != nil {
		return Backup{}, fmt.Errorf("catalog: get backup %s: %w", id, err)
	}
	list := []Backup{b}
	if err := attachDetails(ctx, r, list); err != nil {
		return Backup{}, err
	}
	return list[0], nil
}

// errBackupRace is returned inside CreateBackup's transaction when a
// concurrent call inserted the same backup ID first.
var errBackupRace = errors.New("backup created concurrently")

func (s *sqlStore) CreateBackup(ctx context.Context, nb NewBackup) (Backup, bool, error) {
	if nb.ID == "" || nb.ClusterID == "" {
		return Backup{}, false, errors.New("catalog: backup ID and cluster ID are required")
	}
	if nb.Label == nil {
		return Backup{}, false, errors.New("catalog: NewBackup.Label is required")
	}
	created := nb.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	var (
		out     Backup
		isFresh bool
	)
	err := s.write(ctx, func(r runner) error {
		// Lock the cluster row first: concurrent creates on one cluster
		// queue here, and each then sees whether its ID already exists.
		var seq int64
		err := r.queryRow(ctx, `SELECT backup_seq FROM clusters WHERE id = ?`+s.forUpdate(), nb.ClusterID).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			// An existing backup is returned even so (clusters are not
			// deleted while they have backups, but stay idempotent).
			if b, gerr := s.getBackup(ctx, r, nb.ID); gerr == nil {
				out = b
				return nil
			}
			return &NotFoundError{Kind: "cluster", ID: nb.ClusterID}
		}
		if err != nil {
			return fmt.Errorf("catalog: create backup %s: %w", nb.ID, err)
		}
		if b, err := s.getBackup(ctx, r, nb.ID); err == nil {
			out = b
			return nil
		} else if !IsNotFound(err) {
			return err
		}

		index := seq + 1
		label, err := nb.Label(index)
		if err != nil {
			return err // unchanged, as documented
		}
		if _, err := r.exec(ctx, `UPDATE clusters SET backup_seq = ? WHERE id = ?`, index, nb.ClusterID); err != nil {
			return fmt.Errorf("catalog: create backup %s: %w", nb.ID, err)
		}
		res, err := r.exec(ctx, `INSERT INTO backups
			(id, cluster_id, job_id, request_id, workflow_id, label, idx, status, reason, created_at, preferred_node_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, '')
			ON CONFLICT (id) DO NOTHING`,
			nb.ID, nb.ClusterID, nb.JobID, nb.RequestID, nb.WorkflowID, label, index, string(BackupPending), ms(created))
		if err != nil {
			return fmt.Errorf("catalog: create backup %s: %w", nb.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			// Same ID inserted concurrently under another cluster's lock.
			return errBackupRace
		}
		out = Backup{
			ID: nb.ID, ClusterID: nb.ClusterID, JobID: nb.JobID, RequestID: nb.RequestID, WorkflowID: nb.WorkflowID,
			Label: label, Index: index, Status: BackupPending, CreatedAt: fromMS(ms(created)), Snapshots: []Snapshot{},
		}
		isFresh = true
		return nil
	})
	if errors.Is(err, errBackupRace) {
		b, err := s.GetBackup(ctx, nb.ID)
		return b, false, err
	}
	if err != nil {
		return Backup{}, false, err
	}
	return out, isFresh, nil
}

func (s *sqlStore) GetBackup(ctx context.Context, id string) (Backup, error) {
	var out Backup
	err := s.read(ctx, func(r runner) error {
		var err error
		out, err = s.getBackup(ctx, r, id)
		return err
	})
	return out, err
}

// backupFilterSQL renders f as a WHERE clause (empty when f matches
// everything) and its arguments, on "backups b" (columns unqualified).
func backupFilterSQL(f BackupFilter) (string, []any) {
	var (
		conds []string
		args  []any
	)
	if len(f.IDs) > 0 {
		conds = append(conds, "id IN ("+placeholders(len(f.IDs))+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if f.ClusterID != "" {
		conds = append(conds, "cluster_id = ?")
		args = append(args, f.ClusterID)
	}
	if f.JobID != "" {
		conds = append(conds, "job_id = ?")
		args = append(args, f.JobID)
	}
	if f.ManualOnly {
		conds = append(conds, "job_id = ?")
		args = append(args, "")
	}
	if len(f.Statuses) > 0 {
		conds = append(conds, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	} else if !f.IncludeDeleted {
		// (Statuses without Deleted leave Deleted backups out already.)
		conds = append(conds, "status <> ?")
		args = append(args, string(BackupDeleted))
	}
	if c := f.After; c != nil {
		at := ms(c.CreatedAt)
		// The redundant created_at <= ? is what lets the planner start the
		// index scan at the cursor instead of skipping every earlier page.
		conds = append(conds, "created_at <= ? AND (created_at < ? OR idx < ? OR (idx = ? AND id < ?))")
		args = append(args, at, at, c.Index, c.Index, c.ID)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func (s *sqlStore) ListBackups(ctx context.Context, f BackupFilter) ([]Backup, error) {
	if len(f.IDs) > MaxFilterIDs {
		return nil, fmt.Errorf("catalog: list backups: %d IDs in one filter, at most %d", len(f.IDs), MaxFilterIDs)
	}
	where, args := backupFilterSQL(f)
	limit := ""
	if f.Limit > 0 {
		limit = " LIMIT " + strconv.Itoa(f.Limit)
	}

	var out []Backup
	err := s.read(ctx, func(r runner) error {
		rows, err := r.query(ctx, `SELECT `+backupColumns+` FROM backups b`+where+
			` ORDER BY b.created_at DESC, b.idx DESC, b.id DESC`+limit, args...)
		if err != nil {
			return fmt.Errorf("catalog: list backups: %w", err)
		}
		for rows.Next() {
			b, err := scanBackup(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if f.NoDetails {
			for i := range out {
				out[i].Snapshots = nil
			}
			return nil
		}
		return attachDetails(ctx, r, out)
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []Backup{}
	}
	return out, nil
}

func validBackupStatus(st BackupStatus) bool {
	switch st {
	case BackupPending, BackupInProgress, BackupCompleted, BackupDefunct, BackupMissing, BackupDeleting, BackupDeleted:
		return true
	}
	return false
}

func (s *sqlStore) TransitionBackup(ctx context.Context, id string, t Transition) (Backup, error) {
	if !validBackupStatus(t.To) {
		return Backup{}, fmt.Errorf("catalog: unknown backup status %q", t.To)
	}
	at := t.At
	if at.IsZero() {
		at = s.now()
	}
	var out Backup
	err := s.write(ctx, func(r runner) error {
		if err := s.checkFence(ctx, r, t.Fence); err != nil {
			return err
		}
		var cur BackupStatus
		err := r.queryRow(ctx, `SELECT status FROM backups WHERE id = ?`+s.forUpdate(), id).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return &NotFoundError{Kind: "backup", ID: id}
		}
		if err != nil {
			return fmt.Errorf("catalog: transition backup %s: %w", id, err)
		}
		var sets []string
		var args []any
		if cur != t.To {
			if !slices.Contains(t.From, cur) {
				return &TransitionError{BackupID: id, From: cur, To: t.To}
			}
			sets, args = append(sets, "status = ?"), append(args, string(t.To))
			switch t.To {
			case BackupInProgress:
				sets, args = append(sets, "started_at = ?"), append(args, ms(at))
			case BackupCompleted, BackupDefunct:
				sets, args = append(sets, "completed_at = ?"), append(args, ms(at))
			case BackupDeleted:
				sets, args = append(sets, "deleted_at = ?"), append(args, ms(at))
			}
			if t.Reason != "" {
				sets, args = append(sets, "reason = ?"), append(args, t.Reason)
			}
		}
		// A deadline or preferred node is recorded even when the status
		// stays: extending a running backup's deadline is such a transition.
		if t.Deadline != nil {
			sets, args = append(sets, "deadline = ?"), append(args, ms(*t.Deadline))
		}
		if t.PreferredNodeID != "" {
			sets, args = append(sets, "preferred_node_id = ?"), append(args, t.PreferredNodeID)
		}
		if len(sets) > 0 {
			if _, err := r.exec(ctx, `UPDATE backups SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...); err != nil {
				return fmt.Errorf("catalog: transition backup %s: %w", id, err)
			}
		}
		out, err = s.getBackup(ctx, r, id)
		return err
	})
	return out, err
}

// checkFence fails with ErrLockLost unless f's token is its cluster's
// current, unexpired lease, and extends that lease to at least f.TTL from
// now: a fenced write both proves and keeps its holder's lock. A nil f (or
// token 0) is no fence.
func (s *sqlStore) checkFence(ctx context.Context, r runner, f *Fence) error {
	if f == nil || f.Token == 0 {
		return nil
	}
	now := ms(s.now())
	until := now + f.TTL.Milliseconds()
	res, err := r.exec(ctx, `UPDATE locks SET expires_at = CASE WHEN expires_at < ? THEN ? ELSE expires_at END
		WHERE cluster_id = ? AND token = ? AND expires_at > ?`, until, until, f.ClusterID, f.Token, now)
	if err != nil {
		return fmt.Errorf("catalog: check lock of cluster %s: %w", f.ClusterID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrLockLost
	}
	return nil
}

func (s *sqlStore) UpsertSnapshots(ctx context.Context, backupID string, snaps []Snapshot, fence *Fence) error {
	for _, sn := range snaps {
		if sn.VolumeID == "" {
			return fmt.Errorf("catalog: backup %s: snapshot has no volume ID", backupID)
		}
	}
	return s.write(ctx, func(r runner) error {
		if err := s.checkFence(ctx, r, fence); err != nil {
			return err
		}
		var one int
		err := r.queryRow(ctx, `SELECT 1 FROM backups WHERE id = ?`, backupID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return &NotFoundError{Kind: "backup", ID: backupID}
		}
		if err != nil {
			return fmt.Errorf("catalog: upsert snapshots of backup %s: %w", backupID, err)
		}
		for _, sn := range snaps {
			status := sn.Status
			if status == "" {
				status = SnapshotPending
			}
			if _, err := r.exec(ctx, `INSERT INTO backup_snapshots
				(backup_id, volume_id, node_id, snapshot_id, status, progress, size_gb, error)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (backup_id, volume_id) DO UPDATE SET node_id = excluded.node_id,
					snapshot_id = excluded.snapshot_id, status = excluded.status, progress = excluded.progress,
					size_gb = excluded.size_gb, error = excluded.error`,
				backupID, sn.VolumeID, sn.NodeID, sn.SnapshotID, string(status), sn.Progress, sn.SizeGB, sn.Error); err != nil {
				return fmt.Errorf("catalog: upsert snapshot %s of backup %s: %w", sn.VolumeID, backupID, err)
			}
		}
		return nil
	})
}
