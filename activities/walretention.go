package activities

import (
	"context"

	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/databases/postgres"
)

// WALPruneResult is what pruning a postgres cluster's WAL archive removed.
type WALPruneResult struct {
	// KeepFrom is the oldest WAL position a kept backup needs ("": none
	// pruned, as no backup bounds the archive).
	KeepFrom string
	Files    int
	Bytes    int64
}

// PruneWAL removes from a postgres cluster's WAL archive what no backup
// still needs: every segment before the start of the oldest backup that is
// Completed or still running. The chain from that backup to now stays
// whole, so every point of the restorable window stays restorable. A
// cluster with no such backup keeps its whole archive (its first backup
// needs none of it, but nothing is removed on an empty record).
func (a *Deletions) PruneWAL(ctx context.Context, clusterID string) (WALPruneResult, error) {
	var res WALPruneResult
	if a.Databases == nil {
		return res, nil
	}
	cl, err := a.Catalog.GetCluster(ctx, clusterID)
	if catalog.IsNotFound(err) || (err == nil && !isPostgres(cl)) {
		return res, nil
	}
	if err != nil {
		return res, classify(err, "cluster "+clusterID)
	}
	bs, err := a.Catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: clusterID, Limit: 100000, NoDetails: true,
		Statuses: []catalog.BackupStatus{catalog.BackupPending, catalog.BackupInProgress, catalog.BackupCompleted}})
	if err != nil {
		return res, classify(err, "cluster "+clusterID)
	}
	// A cluster's backups are one at a time (its lock) and its WAL only
	// moves forward, so the oldest backup with a start LSN has the lowest:
	// only backups up to it are read in full.
	var keep uint64
	found := false
	for i := len(bs) - 1; i >= 0 && !found; i-- {
		b, err := a.Catalog.GetBackup(ctx, bs[i].ID)
		if catalog.IsNotFound(err) {
			continue
		}
		if err != nil {
			return res, classify(err, "backup "+bs[i].ID)
		}
		if b.Database == nil || b.Database.StartLSN == "" {
			continue
		}
		if keep, err = postgres.ParseLSN(b.Database.StartLSN); err != nil {
			return res, permanent(api.ReasonInternal, "backup %s: start LSN %q: %v", b.ID, b.Database.StartLSN, err)
		}
		found = true
	}
	if !found {
		return res, nil
	}
	res.KeepFrom = postgres.FormatLSN(keep)
	if res.Files, res.Bytes, err = a.Databases.PruneArchive(ctx, clusterID, keep); err != nil {
		return res, classify(err, "cluster "+clusterID)
	}
	if res.Files > 0 {
		a.log().Info("WAL archive pruned", zap.String("cluster", clusterID), zap.String("keepFrom", res.KeepFrom),
			zap.Int("files", res.Files), zap.Int64("bytes", res.Bytes))
	}
	return res, nil
}
