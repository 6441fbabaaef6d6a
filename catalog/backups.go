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
)

// backupColumns are the columns of a backup's basic view (scanBackup);
// backupFullColumns add its database backup (scanBackupFull).
const (
	backupColumns = `b.id, b.cluster_id, b.job_id, b.request_id, b.workflow_id, b.label, b.idx, b.status, b.reason,
	b.created_at, b.started_at, b.completed_at, b.deadline, b.preferred_node_id, b.deletion_error, b.deleted_at`
	backupFullColumns = backupColumns + `, b.db_backup`
)

func scanBackup(sc scanner) (Backup, error) { return scanBackupCols(sc, false) }

func scanBackupFull(sc scanner) (Backup, error) { return scanBackupCols(sc, true) }

// scanBackupCols scans backupColumns, or backupFullColumns when full.
func scanBackupCols(sc scanner, full bool) (Backup, error) {
	var (
		b                         Backup
		created                   int64
		started, completed, deadl sql.NullInt64
		deleted                   sql.NullInt64
		dbBackup                  string
	)
	dest := []any{&b.ID, &b.ClusterID, &b.JobID, &b.RequestID, &b.WorkflowID, &b.Label, &b.Index, &b.Status, &b.Reason,
		&created, &started, &completed, &deadl, &b.PreferredNodeID, &b.DeletionError, &deleted}
	if full {
		dest = append(dest, &dbBackup)
	}
	if err := sc.Scan(dest...); err != nil {
		return Backup{}, err
	}
	if dbBackup != "" {
		var db DatabaseBackup
		if err := json.Unmarshal([]byte(dbBackup), &db); err != nil {
			return Backup{}, fmt.Errorf("catalog: database backup of backup %s: %w", b.ID, err)
		}
		b.Database = &db
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
	idx := indexByID(backups)
	rows, err := r.query(ctx, `SELECT backup_id, node_id, volume_id, snapshot_id, status, progress, size_gb, error
		FROM backup_snapshots WHERE `+where, args...)
	if err != nil {
		return fmt.Errorf("catalog: list snapshots: %w", err)
	}
	return eachRow(rows, func(sc scanner) error {
		var (
			backupID string
			sn       Snapshot
		)
		if err := sc.Scan(&backupID, &sn.NodeID, &sn.VolumeID, &sn.SnapshotID, &sn.Status, &sn.Progress, &sn.SizeGB, &sn.Error); err != nil {
			return err
		}
		if i, ok := idx[backupID]; ok {
			backups[i].Snapshots = append(backups[i].Snapshots, sn)
		}
		return nil
	})
}

// indexByID maps each backup's ID to its index in backups.
func indexByID(backups []Backup) map[string]int {
	idx := make(map[string]int, len(backups))
	for i, b := range backups {
		idx[b.ID] = i
	}
	return idx
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
	return eachRow(rows, func(sc scanner) error {
		var (
			clusterID, nodeID string
			nodeOrd           int
			volID             sql.NullString
			volOrd            sql.NullInt64
		)
		if err := sc.Scan(&clusterID, &nodeID, &nodeOrd, &volID, &volOrd); err != nil {
			return err
		}
		o.nodes[[2]string{clusterID, nodeID}] = nodeOrd
		if volID.Valid {
			o.vols[[2]string{clusterID, volID.String}] = int(volOrd.Int64)
		}
		return nil
	})
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

// getBackup loads one backup in full (its snapshots, holds and database
// backup); *NotFoundError if missing.
func (s *sqlStore) getBackup(ctx context.Context, r runner, id string) (Backup, error) {
	b, err := getByID(ctx, r, scanBackupFull, "backup", `SELECT `+backupFullColumns+` FROM backups b WHERE b.id = ?`, id)
	if err != nil {
		return Backup{}, err
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
	created := s.orNow(nb.CreatedAt)
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
		// No row: the same ID was inserted concurrently, under another cluster's lock.
		if err := affected(res, errBackupRace); err != nil {
			return err
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

// listBackupsQuery is ListBackups' query for f, newest first: of
// backupColumns with f.NoDetails, else of backupFullColumns.
func listBackupsQuery(f BackupFilter) (string, []any) {
	where, args := backupFilterSQL(f)
	limit := ""
	if f.Limit > 0 {
		limit = " LIMIT " + strconv.Itoa(f.Limit)
	}
	cols := backupFullColumns
	if f.NoDetails {
		cols = backupColumns
	}
	return `SELECT ` + cols + ` FROM backups b` + where +
		` ORDER BY b.created_at DESC, b.idx DESC, b.id DESC` + limit, args
}

func (s *sqlStore) ListBackups(ctx context.Context, f BackupFilter) ([]Backup, error) {
	if len(f.IDs) > MaxFilterIDs {
		return nil, fmt.Errorf("catalog: list backups: %d IDs in one filter, at most %d", len(f.IDs), MaxFilterIDs)
	}
	q, args := listBackupsQuery(f)
	var out []Backup
	err := s.read(ctx, func(r runner) error {
		rows, err := r.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("catalog: list backups: %w", err)
		}
		if f.NoDetails {
			if out, err = collect(rows, scanBackup); err != nil {
				return err
			}
			for i := range out {
				out[i].Snapshots = nil
			}
			return nil
		}
		if out, err = collect(rows, scanBackupFull); err != nil {
			return err
		}
		return attachDetails(ctx, r, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *sqlStore) CountBackups(ctx context.Context) (map[BackupStatus]int, error) {
	rows, err := s.direct().query(ctx, `SELECT status, COUNT(*) FROM backups GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("catalog: count backups: %w", err)
	}
	type count struct {
		status BackupStatus
		n      int
	}
	counts, err := collect(rows, func(sc scanner) (count, error) {
		var c count
		err := sc.Scan(&c.status, &c.n)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: count backups: %w", err)
	}
	out := make(map[BackupStatus]int, len(counts))
	for _, c := range counts {
		out[c.status] = c.n
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
	at := s.orNow(t.At)
	var out Backup
	err := s.write(ctx, func(r runner) error {
		if err := s.checkFence(ctx, r, t.Fence); err != nil {
			return err
		}
		cur, err := s.lockBackup(ctx, r, id)
		if err != nil {
			return err
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
		if ok, err := exists(ctx, r, "backups", backupID); err != nil {
			return fmt.Errorf("catalog: upsert snapshots of backup %s: %w", backupID, err)
		} else if !ok {
			return &NotFoundError{Kind: "backup", ID: backupID}
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

func (s *sqlStore) SetBackupDatabase(ctx context.Context, backupID string, db DatabaseBackup, fence *Fence) error {
	raw, err := json.Marshal(db)
	if err != nil {
		return fmt.Errorf("catalog: database backup of backup %s: %w", backupID, err)
	}
	return s.write(ctx, func(r runner) error {
		if err := s.checkFence(ctx, r, fence); err != nil {
			return err
		}
		res, err := r.exec(ctx, `UPDATE backups SET db_backup = ? WHERE id = ?`, string(raw), backupID)
		if err != nil {
			return fmt.Errorf("catalog: set database backup of backup %s: %w", backupID, err)
		}
		return affected(res, &NotFoundError{Kind: "backup", ID: backupID})
	})
}
