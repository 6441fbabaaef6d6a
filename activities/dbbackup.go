package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/databases/postgres"
)

// A backup of a postgres cluster holds backup mode (non-exclusive
// pg_backup_start/pg_backup_stop, one session) on its preferred node from
// before its snapshots start until every one has completed: the local
// provider copies a volume over time, so its copy is consistent only with
// the WAL written until pg_backup_stop. StartBackupMode and StopBackupMode
// run in one Temporal session, on the worker that holds the database
// session; AbortBackupMode, the compensation, runs anywhere.

// BackupModeInput names the node whose server holds a backup's backup
// mode; the cluster is the lock's (LockRef.ClusterID).
type BackupModeInput struct {
	BackupID string
	NodeID   string
	// Start is what StartBackupMode answered (StopBackupMode).
	Start api.DatabaseBackup
	LockRef
}

// endpointOf is the server endpoint of one node of a postgres cluster.
func (a *Backups) endpointOf(ctx context.Context, in BackupModeInput) (string, error) {
	if a.Databases == nil {
		return "", permanent(api.ReasonDatabaseBackupFailed, "backup %s: cluster %s runs PostgreSQL and this worker runs no PostgreSQL servers", in.BackupID, in.ClusterID)
	}
	cl, err := a.Catalog.GetCluster(ctx, in.ClusterID)
	if err != nil {
		return "", classify(err, "cluster "+in.ClusterID)
	}
	for _, n := range cl.Nodes {
		if n.ID == in.NodeID {
			return n.Endpoint, nil
		}
	}
	return "", permanent(api.ReasonDatabaseBackupFailed, "backup %s: cluster %s has no node %s", in.BackupID, in.ClusterID, in.NodeID)
}

// StartBackupMode runs pg_backup_start on the node and records its start
// LSN and timeline with the backup. A server that refuses is not retried.
func (a *Backups) StartBackupMode(ctx context.Context, in BackupModeInput) (api.DatabaseBackup, error) {
	endpoint, err := a.endpointOf(ctx, in)
	if err != nil {
		return api.DatabaseBackup{}, err
	}
	st, err := a.Databases.BeginBackup(ctx, in.ClusterID, in.NodeID, endpoint, in.BackupID)
	if err != nil {
		return api.DatabaseBackup{}, permanent(api.ReasonDatabaseBackupFailed, "backup %s: starting backup mode on node %s of cluster %s: %v", in.BackupID, in.NodeID, in.ClusterID, err)
	}
	db := api.DatabaseBackup{Engine: api.EnginePostgres, NodeID: in.NodeID, StartLSN: st.StartLSN, Timeline: st.Timeline, StartedAt: a.now()}
	if err := a.Catalog.SetBackupDatabase(ctx, in.BackupID, db, in.fence()); err != nil {
		return api.DatabaseBackup{}, classify(err, "backup "+in.BackupID)
	}
	return db, nil
}

// StopBackupMode runs pg_backup_stop in the session StartBackupMode opened
// and records the stop LSN, backup_label and tablespace_map with the
// backup. A session that is gone (its worker died, and PostgreSQL ended
// backup mode with it) fails the backup: its snapshots may not be
// consistent.
func (a *Backups) StopBackupMode(ctx context.Context, in BackupModeInput) (api.DatabaseBackup, error) {
	if a.Databases == nil {
		return api.DatabaseBackup{}, permanent(api.ReasonDatabaseBackupFailed, "backup %s: this worker runs no PostgreSQL servers", in.BackupID)
	}
	st, err := a.Databases.EndBackup(ctx, in.BackupID)
	if errors.Is(err, postgres.ErrNoBackupSession) {
		return api.DatabaseBackup{}, permanent(api.ReasonDatabaseBackupFailed, "backup %s: the session holding backup mode on node %s of cluster %s is gone (its worker stopped); PostgreSQL ended backup mode with it, so the snapshots may not be consistent", in.BackupID, in.NodeID, in.ClusterID)
	}
	if err != nil {
		return api.DatabaseBackup{}, permanent(api.ReasonDatabaseBackupFailed, "backup %s: stopping backup mode on node %s of cluster %s: %v", in.BackupID, in.NodeID, in.ClusterID, err)
	}
	if err := a.waitReplicaWAL(ctx, in, st.StopLSN); err != nil {
		return api.DatabaseBackup{}, err
	}
	db := in.Start
	now := a.now()
	db.StopLSN, db.BackupLabel, db.TablespaceMap, db.StoppedAt = st.StopLSN, st.BackupLabel, st.TablespaceMap, &now
	if err := a.Catalog.SetBackupDatabase(ctx, in.BackupID, db, in.fence()); err != nil {
		return api.DatabaseBackup{}, classify(err, "backup "+in.BackupID)
	}
	return db, nil
}

// waitReplicaWAL waits until the WAL a backup taken on a replica ends at
// is archived (pg_backup_stop waits for it only on a primary), so that
// every Completed backup restores from its snapshots and the archive
// alone; the primary is asked to switch segments.
func (a *Backups) waitReplicaWAL(ctx context.Context, in BackupModeInput, stopLSN string) error {
	cl, err := a.Catalog.GetCluster(ctx, in.ClusterID)
	if err != nil {
		return classify(err, "cluster "+in.ClusterID)
	}
	onReplica := false
	for _, n := range cl.Nodes {
		onReplica = onReplica || (n.ID == in.NodeID && n.Role == api.NodeReplica)
	}
	primary, _ := primaryOf(cl)
	if !onReplica || a.Databases.ArchiveDir(in.ClusterID) == "" {
		return nil
	}
	lsn, err := postgres.ParseLSN(stopLSN)
	if err != nil {
		return permanent(api.ReasonDatabaseBackupFailed, "backup %s: stop LSN %q: %v", in.BackupID, stopLSN, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := a.Databases.WaitArchived(wctx, in.ClusterID, primary.Endpoint, lsn); err != nil {
		return permanent(api.ReasonDatabaseBackupFailed, "backup %s of cluster %s: the WAL it ends at (%s) was not archived: %v (see the cluster's wal in `starter cluster show %s`)", in.BackupID, in.ClusterID, stopLSN, err, in.ClusterID)
	}
	return nil
}

// AbortBackupMode ends the backup's backup mode wherever it is still held
// (the compensation of StartBackupMode): idempotent, and a server that is
// down has no backup mode to end.
func (a *Backups) AbortBackupMode(ctx context.Context, in BackupModeInput) error {
	endpoint, err := a.endpointOf(ctx, in)
	if err != nil {
		var nf *catalog.NotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	if err := a.Databases.AbortBackup(ctx, in.ClusterID, endpoint, in.BackupID); err != nil {
		return fmt.Errorf("backup %s: ending backup mode on node %s of cluster %s: %w", in.BackupID, in.NodeID, in.ClusterID, err)
	}
	return nil
}
