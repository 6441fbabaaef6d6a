package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// StartDeletion and AddHold both lock the backup's row (Postgres: FOR NO
// KEY UPDATE; SQLite: write transactions are serialized) before reading its
// status and holds, so that a hold and a deletion never both succeed.

// attachHolds loads the holders of the backups selected by where (on
// backup_holds, unqualified columns) and attaches them, sorted, to backups.
// Backups without holds keep Holds nil.
func attachHolds(ctx context.Context, r runner, backups []Backup, where string, args ...any) error {
	if len(backups) == 0 {
		return nil
	}
	idx := indexByID(backups)
	rows, err := r.query(ctx, `SELECT backup_id, holder FROM backup_holds WHERE `+where+` ORDER BY backup_id, holder`, args...)
	if err != nil {
		return fmt.Errorf("catalog: list backup holds: %w", err)
	}
	err = eachRow(rows, func(sc scanner) error {
		var backupID, holder string
		if err := sc.Scan(&backupID, &holder); err != nil {
			return err
		}
		if i, ok := idx[backupID]; ok {
			backups[i].Holds = append(backups[i].Holds, holder)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Byte order whatever the database's collation.
	for i := range backups {
		slices.Sort(backups[i].Holds)
	}
	return nil
}

// lockBackup returns the backup's status with its row locked until the
// transaction ends; *NotFoundError if there is no such backup.
func (s *sqlStore) lockBackup(ctx context.Context, r runner, id string) (BackupStatus, error) {
	var cur BackupStatus
	err := r.queryRow(ctx, `SELECT status FROM backups WHERE id = ?`+s.forUpdate(), id).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return "", &NotFoundError{Kind: "backup", ID: id}
	}
	if err != nil {
		return "", fmt.Errorf("catalog: lock backup %s: %w", id, err)
	}
	return cur, nil
}

// withLockedBackup runs fn in a write transaction on the backup's status,
// with its row locked (lockBackup) so that the status fn acts on stays
// current until it commits.
func (s *sqlStore) withLockedBackup(ctx context.Context, id string, fn func(r runner, cur BackupStatus) error) error {
	return s.write(ctx, func(r runner) error {
		cur, err := s.lockBackup(ctx, r, id)
		if err != nil {
			return err
		}
		return fn(r, cur)
	})
}

// holders returns the backup's holders, sorted.
func (s *sqlStore) holders(ctx context.Context, r runner, id string) ([]string, error) {
	list := []Backup{{ID: id}}
	if err := attachHolds(ctx, r, list, `backup_id = ?`, id); err != nil {
		return nil, err
	}
	return list[0].Holds, nil
}

func (s *sqlStore) StartDeletion(ctx context.Context, backupID string, at time.Time) (Backup, error) {
	at = s.orNow(at)
	var out Backup
	err := s.withLockedBackup(ctx, backupID, func(r runner, cur BackupStatus) error {
		switch cur {
		case BackupCompleted, BackupDefunct, BackupMissing, BackupDeleting:
		default:
			return &TransitionError{BackupID: backupID, From: cur, To: BackupDeleting}
		}
		holders, err := s.holders(ctx, r, backupID)
		if err != nil {
			return err
		}
		if len(holders) > 0 {
			return &InUseError{BackupID: backupID, Holders: holders}
		}
		// deletion_started_at records the first attempt; a retry only
		// clears the last attempt's error.
		if _, err := r.exec(ctx, `UPDATE backups SET status = ?, deletion_error = '',
			deletion_started_at = COALESCE(deletion_started_at, ?) WHERE id = ?`,
			string(BackupDeleting), ms(at), backupID); err != nil {
			return fmt.Errorf("catalog: start deletion of backup %s: %w", backupID, err)
		}
		out, err = s.getBackup(ctx, r, backupID)
		return err
	})
	return out, err
}

func (s *sqlStore) FailDeletion(ctx context.Context, backupID, reason string) error {
	return s.withLockedBackup(ctx, backupID, func(r runner, cur BackupStatus) error {
		if cur != BackupDeleting {
			return &TransitionError{BackupID: backupID, From: cur, To: BackupDeleting}
		}
		if _, err := r.exec(ctx, `UPDATE backups SET deletion_error = ? WHERE id = ?`, reason, backupID); err != nil {
			return fmt.Errorf("catalog: fail deletion of backup %s: %w", backupID, err)
		}
		return nil
	})
}

func (s *sqlStore) FinishDeletion(ctx context.Context, backupID string, at time.Time) (Backup, error) {
	at = s.orNow(at)
	var out Backup
	err := s.withLockedBackup(ctx, backupID, func(r runner, cur BackupStatus) error {
		switch cur {
		case BackupDeleted:
		case BackupDeleting:
			if _, err := r.exec(ctx, `UPDATE backups SET status = ?, deletion_error = '', deleted_at = ? WHERE id = ?`,
				string(BackupDeleted), ms(at), backupID); err != nil {
				return fmt.Errorf("catalog: finish deletion of backup %s: %w", backupID, err)
			}
			if _, err := r.exec(ctx, `UPDATE backup_snapshots SET status = ? WHERE backup_id = ?`,
				string(SnapshotDeleted), backupID); err != nil {
				return fmt.Errorf("catalog: finish deletion of backup %s: %w", backupID, err)
			}
		default:
			return &TransitionError{BackupID: backupID, From: cur, To: BackupDeleted}
		}
		var err error
		out, err = s.getBackup(ctx, r, backupID)
		return err
	})
	return out, err
}

func (s *sqlStore) AddHold(ctx context.Context, backupID, holder string) error {
	if holder == "" {
		return errors.New("catalog: hold holder is required")
	}
	return s.withLockedBackup(ctx, backupID, func(r runner, cur BackupStatus) error {
		if cur != BackupCompleted {
			// To names the status a held backup must have.
			return &TransitionError{BackupID: backupID, From: cur, To: BackupCompleted}
		}
		if _, err := r.exec(ctx, `INSERT INTO backup_holds (backup_id, holder, created_at) VALUES (?, ?, ?)
			ON CONFLICT (backup_id, holder) DO NOTHING`, backupID, holder, ms(s.now())); err != nil {
			return fmt.Errorf("catalog: hold backup %s for %s: %w", backupID, holder, err)
		}
		return nil
	})
}

func (s *sqlStore) ListHolds(ctx context.Context) ([]Hold, error) {
	rows, err := s.direct().query(ctx, `SELECT backup_id, holder, created_at FROM backup_holds ORDER BY backup_id, holder`)
	if err != nil {
		return nil, fmt.Errorf("catalog: list holds: %w", err)
	}
	return collect(rows, func(sc scanner) (Hold, error) {
		var h Hold
		var at int64
		if err := sc.Scan(&h.BackupID, &h.Holder, &at); err != nil {
			return Hold{}, err
		}
		h.CreatedAt = fromMS(at)
		return h, nil
	})
}

func (s *sqlStore) RemoveHold(ctx context.Context, backupID, holder string) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `DELETE FROM backup_holds WHERE backup_id = ? AND holder = ?`, backupID, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("catalog: release hold of backup %s for %s: %w", backupID, holder, err)
	}
	return nil
}
