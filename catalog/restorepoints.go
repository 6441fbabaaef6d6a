package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

const restorePointColumns = `cluster_id, name, lsn, timeline, archived, created_at`

func scanRestorePoint(sc scanner) (RestorePoint, error) {
	var (
		p       RestorePoint
		created int64
	)
	if err := sc.Scan(&p.ClusterID, &p.Name, &p.LSN, &p.Timeline, &p.Archived, &created); err != nil {
		return RestorePoint{}, err
	}
	p.CreatedAt = fromMS(created)
	return p, nil
}

func (s *sqlStore) CreateRestorePoint(ctx context.Context, p RestorePoint) error {
	if p.ClusterID == "" || p.Name == "" || p.LSN == "" {
		return errors.New("catalog: a restore point's cluster, name and LSN are required")
	}
	created := s.orNow(p.CreatedAt)
	return s.write(ctx, func(r runner) error {
		ok, err := exists(ctx, r, "clusters", p.ClusterID)
		if err != nil {
			return err
		}
		if !ok {
			return &NotFoundError{Kind: "cluster", ID: p.ClusterID}
		}
		res, err := r.exec(ctx, `INSERT INTO restore_points (`+restorePointColumns+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (cluster_id, name) DO NOTHING`, p.ClusterID, p.Name, p.LSN, p.Timeline, p.Archived, ms(created))
		if err != nil {
			return fmt.Errorf("catalog: create restore point %s of cluster %s: %w", p.Name, p.ClusterID, err)
		}
		return affected(res, fmt.Errorf("restore point %q of cluster %s: %w", p.Name, p.ClusterID, ErrExists))
	})
}

func (s *sqlStore) GetRestorePoint(ctx context.Context, clusterID, name string) (RestorePoint, error) {
	p, err := scanRestorePoint(s.direct().queryRow(ctx, `SELECT `+restorePointColumns+` FROM restore_points WHERE cluster_id = ? AND name = ?`, clusterID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return RestorePoint{}, &NotFoundError{Kind: "restore point", ID: name}
	}
	if err != nil {
		return RestorePoint{}, fmt.Errorf("catalog: get restore point %s of cluster %s: %w", name, clusterID, err)
	}
	return p, nil
}

func (s *sqlStore) ListRestorePoints(ctx context.Context, clusterID string) ([]RestorePoint, error) {
	rows, err := s.direct().query(ctx, `SELECT `+restorePointColumns+` FROM restore_points WHERE cluster_id = ? ORDER BY created_at, name`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("catalog: list restore points of cluster %s: %w", clusterID, err)
	}
	return collect(rows, scanRestorePoint)
}
