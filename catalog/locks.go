package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stratabackup/strata/api/validate"
)

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
		if ok, err := exists(ctx, r, "clusters", clusterID); err != nil {
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
	return affected(res, ErrLockLost)
}
