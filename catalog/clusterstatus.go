package catalog

import (
	"context"
	"fmt"
)

// ------------------------------------------------ cluster status, volumes

func validClusterStatus(st ClusterStatus) bool {
	switch st {
	case ClusterCreating, ClusterRunning, ClusterFailed:
		return true
	}
	return false
}

func (s *sqlStore) SetClusterStatus(ctx context.Context, clusterID string, status ClusterStatus, reason string) error {
	if !validClusterStatus(status) {
		return fmt.Errorf("catalog: unknown cluster status %q", status)
	}
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE clusters SET status = ?, status_reason = ? WHERE id = ?`,
			string(status), reason, clusterID)
		if err != nil {
			return fmt.Errorf("catalog: set status of cluster %s: %w", clusterID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return &NotFoundError{Kind: "cluster", ID: clusterID}
		}
		return nil
	})
}

func (s *sqlStore) UpdateVolumes(ctx context.Context, clusterID string, vols []Volume) error {
	return s.write(ctx, func(r runner) error {
		ok, err := s.clusterExists(ctx, r, clusterID)
		if err != nil {
			return fmt.Errorf("catalog: update volumes of cluster %s: %w", clusterID, err)
		}
		if !ok {
			return &NotFoundError{Kind: "cluster", ID: clusterID}
		}
		for _, v := range vols {
			res, err := r.exec(ctx, `UPDATE volumes SET path = ?, zone = ?, size_gb = ? WHERE cluster_id = ? AND id = ?`,
				v.Path, v.Zone, v.SizeGB, clusterID, v.ID)
			if err != nil {
				return fmt.Errorf("catalog: update volume %s of cluster %s: %w", v.ID, clusterID, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return &NotFoundError{Kind: "volume", ID: v.ID}
			}
		}
		return nil
	})
}
