package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stratabackup/strata/api"
)

func (s *sqlStore) CreateCluster(ctx context.Context, c Cluster) error {
	if c.ID == "" {
		return errors.New("catalog: cluster ID is required")
	}
	created := s.orNow(c.CreatedAt)
	status := c.Status
	if status == "" {
		status = ClusterRunning
	}
	if !validClusterStatus(status) {
		return fmt.Errorf("catalog: cluster %s: unknown status %q", c.ID, c.Status)
	}
	power := c.Power
	if power == "" {
		power = api.PowerRunning
	}
	if !validPower(power) {
		return fmt.Errorf("catalog: cluster %s: unknown power state %q", c.ID, c.Power)
	}
	return s.write(ctx, func(r runner) error {
		if err := s.checkVolumesFree(ctx, r, c); err != nil {
			return err
		}
		res, err := r.exec(ctx, `INSERT INTO clusters
			(id, description, provider, region, engine, project_id, network_id, faults, created_at,
			 status, status_reason, restored_from, profile, power, power_reason, powered_off_at, deletion_at, final_backup_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			c.ID, c.Description, c.Provider, c.Region, api.EngineOf(c.Engine), c.ProjectID, c.NetworkID, ms(created),
			string(status), c.StatusReason, c.RestoredFrom, c.Profile, power, c.ClusterPower.Reason,
			nullMS(c.PoweredOffAt), nullMS(c.DeletionAt), c.FinalBackupID)
		if err != nil {
			return fmt.Errorf("catalog: create cluster %s: %w", c.ID, err)
		}
		if err := affected(res, fmt.Errorf("cluster %q: %w", c.ID, ErrExists)); err != nil {
			return err
		}
		for i, n := range c.Nodes {
			if n.ID == "" {
				return fmt.Errorf("catalog: cluster %s: node %d has no ID", c.ID, i)
			}
			if _, err := r.exec(ctx, `INSERT INTO nodes (cluster_id, id, ordinal, healthy, replication_lag_seconds, role, endpoint)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ID, n.ID, i, n.Healthy, nullFloat(n.ReplicationLagSeconds), n.Role, n.Endpoint); err != nil {
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
// A Failed cluster (a restore that was torn down) or a Deleted one does not
// count.
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
			WHERE v.path = ? AND c.provider = ? AND c.status NOT IN (?, ?) AND c.id <> ? LIMIT 1`,
			v.Path, c.Provider, string(ClusterFailed), string(ClusterDeleted), c.ID).Scan(&owner)
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
	out, err := s.readClusters(ctx, id)
	if err != nil {
		return Cluster{}, err
	}
	if len(out) == 0 {
		return Cluster{}, &NotFoundError{Kind: "cluster", ID: id}
	}
	return out[0], nil
}

func (s *sqlStore) ListClusters(ctx context.Context) ([]Cluster, error) {
	return s.readClusters(ctx, "")
}

// readClusters is loadClusters in a read transaction of its own, so that
// its three queries see one snapshot.
func (s *sqlStore) readClusters(ctx context.Context, id string) ([]Cluster, error) {
	var out []Cluster
	err := s.read(ctx, func(r runner) error {
		var err error
		out, err = s.loadClusters(ctx, r, id)
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
	rows, err := r.query(ctx, `SELECT c.id, c.description, c.provider, c.region, c.engine, c.project_id, c.network_id, c.created_at,
			c.status, c.status_reason, c.restored_from, c.wal_stalled_at,
			c.profile, c.power, c.power_reason, c.powered_off_at, c.deletion_at, c.final_backup_id,
			l.holder, l.token, l.acquired_at, l.expires_at
		FROM clusters c
		LEFT JOIN locks l ON l.cluster_id = c.id AND l.expires_at > ?`+where+`
		ORDER BY c.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list clusters: %w", err)
	}
	out := []Cluster{}
	byID := map[string]int{}
	err = eachRow(rows, func(sc scanner) error {
		var (
			c                 Cluster
			created           int64
			holder            sql.NullString
			token, acq, expir sql.NullInt64
			stalled           sql.NullInt64
			offAt, deleteAt   sql.NullInt64
		)
		if err := sc.Scan(&c.ID, &c.Description, &c.Provider, &c.Region, &c.Engine, &c.ProjectID, &c.NetworkID, &created,
			&c.Status, &c.StatusReason, &c.RestoredFrom, &stalled,
			&c.Profile, &c.Power, &c.ClusterPower.Reason, &offAt, &deleteAt, &c.FinalBackupID,
			&holder, &token, &acq, &expir); err != nil {
			return err
		}
		c.CreatedAt = fromMS(created)
		c.WALStalledSince = fromNullMS(stalled)
		c.PoweredOffAt = fromNullMS(offAt)
		c.DeletionAt = fromNullMS(deleteAt)
		if holder.Valid {
			c.Lock = &Lock{Holder: holder.String, Token: token.Int64, AcquiredAt: fromMS(acq.Int64), ExpiresAt: fromMS(expir.Int64)}
		}
		c.Nodes = []Node{}
		byID[c.ID] = len(out)
		out = append(out, c)
		return nil
	})
	if err != nil {
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
	rows, err = r.query(ctx, `SELECT cluster_id, id, healthy, replication_lag_seconds, role, endpoint FROM nodes`+where+`
		ORDER BY cluster_id, ordinal`, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list nodes: %w", err)
	}
	type nodeKey struct{ cluster, node string }
	nodeIdx := map[nodeKey]int{}
	err = eachRow(rows, func(sc scanner) error {
		var (
			clusterID string
			n         Node
			lag       sql.NullFloat64
		)
		if err := sc.Scan(&clusterID, &n.ID, &n.Healthy, &lag, &n.Role, &n.Endpoint); err != nil {
			return err
		}
		if lag.Valid {
			v := lag.Float64
			n.ReplicationLagSeconds = &v
		}
		n.Volumes = []Volume{}
		ci, ok := byID[clusterID]
		if !ok {
			return nil
		}
		nodeIdx[nodeKey{clusterID, n.ID}] = len(out[ci].Nodes)
		out[ci].Nodes = append(out[ci].Nodes, n)
		return nil
	})
	if err != nil {
		return nil, err
	}

	rows, err = r.query(ctx, `SELECT cluster_id, node_id, id, size_gb, path, zone FROM volumes`+where+`
		ORDER BY cluster_id, node_id, ordinal`, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list volumes: %w", err)
	}
	err = eachRow(rows, func(sc scanner) error {
		var (
			clusterID string
			v         Volume
		)
		if err := sc.Scan(&clusterID, &v.NodeID, &v.ID, &v.SizeGB, &v.Path, &v.Zone); err != nil {
			return err
		}
		ci, ok := byID[clusterID]
		if !ok {
			return nil
		}
		ni, ok := nodeIdx[nodeKey{clusterID, v.NodeID}]
		if !ok {
			return nil
		}
		out[ci].Nodes[ni].Volumes = append(out[ci].Nodes[ni].Volumes, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *sqlStore) SetNodeHealth(ctx context.Context, clusterID, nodeID string, healthy bool, replicationLagSeconds *float64) error {
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE nodes SET healthy = ?, replication_lag_seconds = ? WHERE cluster_id = ? AND id = ?`,
			healthy, nullFloat(replicationLagSeconds), clusterID, nodeID)
		if err != nil {
			return fmt.Errorf("catalog: set health of node %s/%s: %w", clusterID, nodeID, err)
		}
		return nodeUpdated(ctx, r, res, clusterID, nodeID)
	})
}

func (s *sqlStore) SetNodeStatus(ctx context.Context, clusterID, nodeID string, healthy bool, lagSeconds *float64, role string) error {
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE nodes SET healthy = ?, replication_lag_seconds = ?, role = ? WHERE cluster_id = ? AND id = ?`,
			healthy, nullFloat(lagSeconds), role, clusterID, nodeID)
		if err != nil {
			return fmt.Errorf("catalog: set status of node %s/%s: %w", clusterID, nodeID, err)
		}
		return nodeUpdated(ctx, r, res, clusterID, nodeID)
	})
}

func (s *sqlStore) SetWALStalled(ctx context.Context, clusterID string, since *time.Time) error {
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE clusters SET wal_stalled_at = ? WHERE id = ?`, nullMS(since), clusterID)
		if err != nil {
			return fmt.Errorf("catalog: set WAL stalled of cluster %s: %w", clusterID, err)
		}
		return affected(res, &NotFoundError{Kind: "cluster", ID: clusterID})
	})
}

func (s *sqlStore) SetNodeServer(ctx context.Context, clusterID, nodeID, role, endpoint string) error {
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE nodes SET role = ?, endpoint = ? WHERE cluster_id = ? AND id = ?`, role, endpoint, clusterID, nodeID)
		if err != nil {
			return fmt.Errorf("catalog: set server of node %s/%s: %w", clusterID, nodeID, err)
		}
		return nodeUpdated(ctx, r, res, clusterID, nodeID)
	})
}

// nodeUpdated is nil when an UPDATE of one node changed its row, else the
// *NotFoundError of the cluster (when it does not exist) or of the node.
func nodeUpdated(ctx context.Context, r runner, res sql.Result, clusterID, nodeID string) error {
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	ok, err := exists(ctx, r, "clusters", clusterID)
	if err != nil {
		return err
	}
	if !ok {
		return &NotFoundError{Kind: "cluster", ID: clusterID}
	}
	return &NotFoundError{Kind: "node", ID: nodeID}
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
		return affected(res, &NotFoundError{Kind: "cluster", ID: clusterID})
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

func validClusterStatus(st ClusterStatus) bool {
	switch st {
	case ClusterCreating, ClusterRunning, ClusterFailed, ClusterDeleted:
		return true
	}
	return false
}

func validPower(p string) bool {
	switch p {
	case api.PowerRunning, api.PowerPoweringOff, api.PowerPoweredOff, api.PowerPoweringOn, api.PowerDeleted:
		return true
	}
	return false
}

func (s *sqlStore) SetClusterProfile(ctx context.Context, clusterID, profile string) error {
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE clusters SET profile = ? WHERE id = ?`, profile, clusterID)
		if err != nil {
			return fmt.Errorf("catalog: set profile of cluster %s: %w", clusterID, err)
		}
		return affected(res, &NotFoundError{Kind: "cluster", ID: clusterID})
	})
}

func (s *sqlStore) SetClusterPower(ctx context.Context, clusterID string, p ClusterPower) error {
	if !validPower(p.Power) {
		return fmt.Errorf("catalog: cluster %s: unknown power state %q", clusterID, p.Power)
	}
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE clusters SET power = ?, power_reason = ?, powered_off_at = ?, deletion_at = ?, final_backup_id = ?
			WHERE id = ?`, p.Power, p.Reason, nullMS(p.PoweredOffAt), nullMS(p.DeletionAt), p.FinalBackupID, clusterID)
		if err != nil {
			return fmt.Errorf("catalog: set power of cluster %s: %w", clusterID, err)
		}
		return affected(res, &NotFoundError{Kind: "cluster", ID: clusterID})
	})
}

func (s *sqlStore) ListClusterIDsByProfile(ctx context.Context, profile string) ([]string, error) {
	rows, err := s.direct().query(ctx, `SELECT id FROM clusters WHERE profile = ? AND status <> ? ORDER BY id`,
		profile, string(ClusterDeleted))
	if err != nil {
		return nil, fmt.Errorf("catalog: clusters of profile %s: %w", profile, err)
	}
	return collect(rows, func(sc scanner) (string, error) {
		var id string
		err := sc.Scan(&id)
		return id, err
	})
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
		return affected(res, &NotFoundError{Kind: "cluster", ID: clusterID})
	})
}

func (s *sqlStore) UpdateVolumes(ctx context.Context, clusterID string, vols []Volume) error {
	return s.write(ctx, func(r runner) error {
		ok, err := exists(ctx, r, "clusters", clusterID)
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
			if err := affected(res, &NotFoundError{Kind: "volume", ID: v.ID}); err != nil {
				return err
			}
		}
		return nil
	})
}
