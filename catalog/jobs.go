package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Every and Offset are stored in whole milliseconds.
const jobColumns = `id, cluster_id, schedule_id, every_ms, offset_ms, label,
	keep_last, keep_hourly, keep_daily, keep_weekly, paused, created_at, updated_at, deleted_at,
	stale, seen_skipped, seen_missed, schedule_checked_at, profile`

func scanJob(sc scanner) (Job, error) {
	var (
		j                Job
		every, offset    int64
		created, updated int64
		deleted, checked sql.NullInt64
	)
	if err := sc.Scan(&j.ID, &j.ClusterID, &j.ScheduleID, &every, &offset, &j.Label,
		&j.Retention.KeepLast, &j.Retention.KeepHourly, &j.Retention.KeepDaily, &j.Retention.KeepWeekly,
		&j.Paused, &created, &updated, &deleted, &j.Monitor.Stale, &j.Monitor.SeenSkipped, &j.Monitor.SeenMissed, &checked, &j.Profile); err != nil {
		return Job{}, err
	}
	j.Every = Duration(time.Duration(every) * time.Millisecond)
	j.Offset = Duration(time.Duration(offset) * time.Millisecond)
	j.CreatedAt = fromMS(created)
	j.UpdatedAt = fromMS(updated)
	j.DeletedAt = fromNullMS(deleted)
	j.Monitor.ScheduleCheckedAt = fromNullMS(checked)
	return j, nil
}

func (s *sqlStore) CreateJob(ctx context.Context, j Job) error {
	if j.ID == "" || j.ClusterID == "" {
		return errors.New("catalog: job ID and cluster ID are required")
	}
	created, updated := s.orNow(j.CreatedAt), s.orNow(j.UpdatedAt)
	return s.write(ctx, func(r runner) error {
		ok, err := exists(ctx, r, "clusters", j.ClusterID)
		if err != nil {
			return fmt.Errorf("catalog: create job %s: %w", j.ID, err)
		}
		if !ok {
			return &NotFoundError{Kind: "cluster", ID: j.ClusterID}
		}
		res, err := r.exec(ctx, `INSERT INTO jobs
			(id, cluster_id, schedule_id, every_ms, offset_ms, label,
			 keep_last, keep_hourly, keep_daily, keep_weekly, paused, created_at, updated_at, profile)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			j.ID, j.ClusterID, j.ScheduleID, j.Every.D().Milliseconds(), j.Offset.D().Milliseconds(), j.Label,
			j.Retention.KeepLast, j.Retention.KeepHourly, j.Retention.KeepDaily, j.Retention.KeepWeekly,
			j.Paused, ms(created), ms(updated), j.Profile)
		if err != nil {
			return fmt.Errorf("catalog: create job %s: %w", j.ID, err)
		}
		return affected(res, fmt.Errorf("job %q: %w", j.ID, ErrExists))
	})
}

func (s *sqlStore) GetJob(ctx context.Context, id string) (Job, error) {
	return getByID(ctx, s.direct(), scanJob, "job", `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id)
}

func (s *sqlStore) ListJobs(ctx context.Context, clusterID string) ([]Job, error) {
	where, args := ` WHERE deleted_at IS NULL`, []any(nil)
	if clusterID != "" {
		where += ` AND cluster_id = ?`
		args = append(args, clusterID)
	}
	rows, err := s.direct().query(ctx, `SELECT `+jobColumns+` FROM jobs`+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list jobs: %w", err)
	}
	return collect(rows, scanJob)
}

func (s *sqlStore) UpdateJob(ctx context.Context, j Job) error {
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE jobs SET every_ms = ?, offset_ms = ?, label = ?,
			keep_last = ?, keep_hourly = ?, keep_daily = ?, keep_weekly = ?, paused = ?, updated_at = ?, profile = ?
			WHERE id = ? AND deleted_at IS NULL`,
			j.Every.D().Milliseconds(), j.Offset.D().Milliseconds(), j.Label,
			j.Retention.KeepLast, j.Retention.KeepHourly, j.Retention.KeepDaily, j.Retention.KeepWeekly,
			j.Paused, ms(s.now()), j.Profile, j.ID)
		if err != nil {
			return fmt.Errorf("catalog: update job %s: %w", j.ID, err)
		}
		return affected(res, &NotFoundError{Kind: "job", ID: j.ID})
	})
}

func (s *sqlStore) DeleteJob(ctx context.Context, id string, at time.Time) error {
	at = s.orNow(at)
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE jobs SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, ms(at), id)
		if err != nil {
			return fmt.Errorf("catalog: delete job %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		ok, err := exists(ctx, r, "jobs", id)
		if err != nil {
			return err
		}
		if !ok {
			return &NotFoundError{Kind: "job", ID: id}
		}
		return nil // already deleted: nothing to do
	})
}

func (s *sqlStore) SetJobMonitor(ctx context.Context, id string, m JobMonitor) error {
	return s.write(ctx, func(r runner) error {
		var checked any
		if m.ScheduleCheckedAt != nil {
			checked = ms(*m.ScheduleCheckedAt)
		}
		res, err := r.exec(ctx, `UPDATE jobs SET stale = ?, seen_skipped = ?, seen_missed = ?, schedule_checked_at = ? WHERE id = ?`,
			m.Stale, m.SeenSkipped, m.SeenMissed, checked, id)
		if err != nil {
			return fmt.Errorf("catalog: job %s monitor: %w", id, err)
		}
		return affected(res, &NotFoundError{Kind: "job", ID: id})
	})
}
