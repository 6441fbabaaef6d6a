package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/databases/postgres"
)

// DatabaseServers run the PostgreSQL servers of postgres clusters
// (package databases/postgres); nil on a worker without PostgreSQL.
type DatabaseServers interface {
	EnsureCluster(ctx context.Context, c postgres.ClusterSpec) ([]postgres.Node, error)
	Check(ctx context.Context, clusterID string, nodes []postgres.Node, now time.Time) []postgres.Health
	URI(clusterID, endpoint string) (string, error)
	BeginBackup(ctx context.Context, clusterID, nodeID, endpoint, backupID string) (postgres.BackupStart, error)
	EndBackup(ctx context.Context, backupID string) (postgres.BackupStop, error)
	AbortBackup(ctx context.Context, clusterID, endpoint, backupID string) error
	Archiving(ctx context.Context, clusterID, endpoint string) (postgres.ArchiveStatus, error)
	ArchiveDir(clusterID string) string
	ArchiveEnd(ctx context.Context, clusterID string) (postgres.ArchivePoint, bool, error)
	WaitArchived(ctx context.Context, clusterID, endpoint string, lsn uint64) error
	CreateRestorePoint(ctx context.Context, clusterID, endpoint, name string) (lsn string, timeline int, archived bool, err error)
	PrepareRecovery(ctx context.Context, spec postgres.RecoverySpec) error
	Replay(ctx context.Context, spec postgres.RecoverySpec) (postgres.Recovery, error)
	Promote(ctx context.Context, spec postgres.RecoverySpec) (postgres.Recovery, error)
	Verify(ctx context.Context, clusterID, endpoint, query string) error
	PruneArchive(ctx context.Context, clusterID string, keepFrom uint64) (files int, bytes int64, err error)
	StopCluster(ctx context.Context, c postgres.ClusterSpec) error
	ForgetCluster(clusterID string) error
}

// noDatabases is the refusal of a postgres request on a worker without
// PostgreSQL.
func noDatabases(clusterID string) error {
	return InvalidRequest("cluster %s: this worker runs no PostgreSQL servers (install PostgreSQL on the worker's machine, or give its binaries with STRATA_PG_BINDIR, and restart the worker)", clusterID)
}

// ServerSpec is a postgres cluster's nodes as its servers know them: each
// node's one volume holds its data directory.
func ServerSpec(cl catalog.Cluster) postgres.ClusterSpec {
	spec := postgres.ClusterSpec{ID: cl.ID}
	for _, n := range cl.Nodes {
		dir := ""
		if len(n.Volumes) > 0 {
			dir = n.Volumes[0].Path
		}
		spec.Nodes = append(spec.Nodes, postgres.NodeSpec{ID: n.ID, VolumeDir: dir})
	}
	return spec
}

// serverNodes are a postgres cluster's servers as the catalog records them.
func serverNodes(cl catalog.Cluster) []postgres.Node {
	out := make([]postgres.Node, len(cl.Nodes))
	for i, n := range cl.Nodes {
		out[i] = postgres.Node{ID: n.ID, Role: n.Role, Endpoint: n.Endpoint}
	}
	return out
}

// probeServers asks every server of a postgres cluster how it is and
// records what changed in the catalog, so listings show the last check.
func probeServers(ctx context.Context, db DatabaseServers, cat catalog.Clusters, cl catalog.Cluster, now time.Time) ([]postgres.Health, error) {
	hs := db.Check(ctx, cl.ID, serverNodes(cl), now)
	for i, h := range hs {
		n := cl.Nodes[i]
		if n.Healthy != h.Healthy || !sameLag(n.ReplicationLagSeconds, h.LagSeconds) {
			if err := cat.SetNodeStatus(ctx, cl.ID, n.ID, h.Healthy, h.LagSeconds, n.Role); err != nil {
				return hs, classify(err, "cluster "+cl.ID)
			}
		}
	}
	return hs, nil
}

func sameLag(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	// Lag moves by fractions of a second between probes; a write each
	// probe is not worth it.
	return *a == *b || (*a < 1 && *b < 1)
}

// serverProblems names every node a backup cannot go ahead with: stopped,
// not replicating, or lagging more than maxLag.
func serverProblems(hs []postgres.Health, maxLag time.Duration) []string {
	var bad []string
	for _, h := range hs {
		switch {
		case !h.Healthy:
			bad = append(bad, fmt.Sprintf("%s (%s)", h.NodeID, h.Problem))
		case maxLag > 0 && h.LagSeconds != nil && *h.LagSeconds > maxLag.Seconds():
			bad = append(bad, fmt.Sprintf("%s (lagging by %.1fs > %s)", h.NodeID, *h.LagSeconds, maxLag))
		}
	}
	return bad
}

// preferredServer is the node a backup of a postgres cluster reads from:
// the healthy replica with the least lag, else the primary.
func preferredServer(hs []postgres.Health) string {
	best, bestLag := "", 0.0
	for _, h := range hs {
		if !h.Healthy || h.Role != postgres.Replica || h.LagSeconds == nil {
			continue
		}
		if best == "" || *h.LagSeconds < bestLag {
			best, bestLag = h.NodeID, *h.LagSeconds
		}
	}
	if best != "" {
		return best
	}
	for _, h := range hs {
		if h.Role == postgres.Primary {
			return h.NodeID
		}
	}
	return ""
}

// primaryOf is a postgres cluster's primary node, as the catalog
// records it; ok is false when it has none.
func primaryOf(cl catalog.Cluster) (catalog.Node, bool) {
	for _, n := range cl.Nodes {
		if n.Role == api.NodePrimary {
			return n, true
		}
	}
	return catalog.Node{}, false
}

// isPostgres says whether the cluster's servers are Strata's.
func isPostgres(cl catalog.Cluster) bool { return api.EngineOf(cl.Engine) == api.EnginePostgres }
