package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stratabackup/strata/api"
)

const restoreColumns = `id, backup_id, source_cluster_id, cluster_id, status, reason, workflow_id,
	created_at, started_at, completed_at, target`

func scanRestore(sc scanner) (Restore, error) {
	var (
		r                  Restore
		created            int64
		started, completed sql.NullInt64
		target             string
	)
	if err := sc.Scan(&r.ID, &r.BackupID, &r.SourceClusterID, &r.ClusterID, &r.Status, &r.Reason, &r.WorkflowID,
		&created, &started, &completed, &target); err != nil {
		return Restore{}, err
	}
	if target != "" {
		r.Target = &api.RecoveryTarget{}
		if err := json.Unmarshal([]byte(target), r.Target); err != nil {
			return Restore{}, fmt.Errorf("restore %s: target: %w", r.ID, err)
		}
	}
	r.CreatedAt = fromMS(created)
	r.StartedAt = fromNullMS(started)
	r.CompletedAt = fromNullMS(completed)
	return r, nil
}

func validRestoreStatus(st RestoreStatus) bool {
	switch st {
	case RestorePending, RestoreRunning, RestoreCompleted, RestoreFailed:
		return true
	}
	return false
}

// restoreTerminal reports whether a restore in st never changes any more.
func restoreTerminal(st RestoreStatus) bool {
	return st == RestoreCompleted || st == RestoreFailed
}

func (s *sqlStore) getRestore(ctx context.Context, r runner, id string, lock bool) (Restore, error) {
	q := `SELECT ` + restoreColumns + ` FROM restores WHERE id = ?`
	if lock {
		q += s.forUpdate()
	}
	return getByID(ctx, r, scanRestore, "restore", q, id)
}

func (s *sqlStore) CreateRestore(ctx context.Context, rs Restore) (Restore, bool, error) {
	if rs.ID == "" || rs.BackupID == "" {
		return Restore{}, false, errors.New("catalog: restore ID and backup ID are required")
	}
	if rs.Status == "" {
		rs.Status = RestorePending
	}
	if !validRestoreStatus(rs.Status) {
		return Restore{}, false, fmt.Errorf("catalog: restore %s: unknown status %q", rs.ID, rs.Status)
	}
	rs.CreatedAt = s.orNow(rs.CreatedAt)
	target := ""
	if rs.Target != nil {
		b, err := json.Marshal(rs.Target)
		if err != nil {
			return Restore{}, false, err
		}
		target = string(b)
	}
	var (
		out     Restore
		created bool
	)
	err := s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `INSERT INTO restores (`+restoreColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			rs.ID, rs.BackupID, rs.SourceClusterID, rs.ClusterID, string(rs.Status), rs.Reason, rs.WorkflowID,
			ms(rs.CreatedAt), nullMS(rs.StartedAt), nullMS(rs.CompletedAt), target)
		if err != nil {
			return fmt.Errorf("catalog: create restore %s: %w", rs.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		created = n > 0
		out, err = s.getRestore(ctx, r, rs.ID, false)
		return err
	})
	if err != nil {
		return Restore{}, false, err
	}
	return out, created, nil
}

func (s *sqlStore) GetRestore(ctx context.Context, id string) (Restore, error) {
	return s.getRestore(ctx, s.direct(), id, false)
}

func (s *sqlStore) ListRestores(ctx context.Context, backupID string) ([]Restore, error) {
	if backupID != "" {
		return s.listRestores(ctx, ` WHERE backup_id = ?`, backupID)
	}
	return s.listRestores(ctx, "")
}

func (s *sqlStore) ListOpenRestores(ctx context.Context) ([]Restore, error) {
	return s.listRestores(ctx, ` WHERE status IN (?, ?)`, string(RestorePending), string(RestoreRunning))
}

// listRestores lists the restores a WHERE clause selects, newest first.
func (s *sqlStore) listRestores(ctx context.Context, where string, args ...any) ([]Restore, error) {
	rows, err := s.direct().query(ctx, `SELECT `+restoreColumns+` FROM restores`+where+
		` ORDER BY created_at DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list restores: %w", err)
	}
	return collect(rows, scanRestore)
}

func (s *sqlStore) SetRestoreStatus(ctx context.Context, id string, status RestoreStatus, reason string, at time.Time) (Restore, error) {
	if !validRestoreStatus(status) {
		return Restore{}, fmt.Errorf("catalog: unknown restore status %q", status)
	}
	at = s.orNow(at)
	var out Restore
	err := s.write(ctx, func(r runner) error {
		cur, err := s.getRestore(ctx, r, id, true)
		if err != nil {
			return err
		}
		if restoreTerminal(cur.Status) {
			if cur.Status == status {
				out = cur // a retried final update: nothing changes
				return nil
			}
			return fmt.Errorf("catalog: restore %s is %s and cannot move to %s", id, cur.Status, status)
		}
		sets, args := []string{"status = ?"}, []any{string(status)}
		switch status {
		case RestoreRunning:
			if cur.StartedAt == nil {
				sets, args = append(sets, "started_at = ?"), append(args, ms(at))
			}
		case RestoreCompleted, RestoreFailed:
			sets, args = append(sets, "completed_at = ?"), append(args, ms(at))
		}
		if reason != "" {
			sets, args = append(sets, "reason = ?"), append(args, reason)
		}
		if _, err := r.exec(ctx, `UPDATE restores SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...); err != nil {
			return fmt.Errorf("catalog: set status of restore %s: %w", id, err)
		}
		out, err = s.getRestore(ctx, r, id, false)
		return err
	})
	return out, err
}
