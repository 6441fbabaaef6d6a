package activities

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
	"github.com/stratabackup/strata/providers"
)

// fleetProvider holds a fixed set of snapshots and counts GetSnapshots
// calls; the reconciler uses no other method.
type fleetProvider struct {
	providers.Provider
	snaps []providers.Snapshot
	gets  int
}

func (p *fleetProvider) ListSnapshots(context.Context, providers.SnapshotFilter) ([]providers.Snapshot, error) {
	return p.snaps, nil
}

func (p *fleetProvider) GetSnapshots(_ context.Context, ids []string) ([]providers.Snapshot, error) {
	p.gets++
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []providers.Snapshot
	for _, s := range p.snaps {
		if want[s.ID] {
			out = append(out, s)
		}
	}
	return out, nil
}

// A fleet of small clusters: the reconciler asks the provider about every
// Completed backup's snapshots in a few pooled calls, not one per cluster,
// and finds the one that is gone, and the orphans of a Defunct backup and
// of one the catalog never knew.
func TestPlanReconcilePoolsClustersIntoFewProviderCalls(t *testing.T) {
	ctx := context.Background()
	cat := catalogtest.Open(t, catalogtest.SQLiteDSN(t))
	created := time.Now().Add(-2 * time.Hour)
	p := &fleetProvider{}
	const clusters = 1200 // more than one batch of missingBatch snapshots
	for i := range clusters {
		id := fmt.Sprintf("c%04d", i)
		require.NoError(t, cat.CreateCluster(ctx, catalog.Cluster{ID: id, Provider: "local", Region: fmt.Sprintf("r%d", i%3),
			Status: catalog.ClusterRunning, CreatedAt: created,
			Nodes: []catalog.Node{{ID: id + "-n1", Healthy: true, Volumes: []catalog.Volume{{ID: id + "-v", NodeID: id + "-n1", SizeGB: 1}}}}}))
		bk := "bk-" + id
		_, _, err := cat.CreateBackup(ctx, catalog.NewBackup{ID: bk, ClusterID: id, RequestID: bk, WorkflowID: bk, CreatedAt: created,
			Label: func(int64) (string, error) { return bk, nil }})
		require.NoError(t, err)
		snap := "snap-" + id
		require.NoError(t, cat.UpsertSnapshots(ctx, bk, []catalog.Snapshot{{NodeID: id + "-n1", VolumeID: id + "-v", SnapshotID: snap, Status: catalog.SnapshotCompleted}}, nil))
		to := catalog.BackupCompleted
		if i == 5 {
			to = catalog.BackupDefunct
		}
		_, err = cat.TransitionBackup(ctx, bk, catalog.Transition{To: to, From: []catalog.BackupStatus{catalog.BackupPending}, Reason: "Timeout: test"})
		require.NoError(t, err)
		if i != 7 { // gone at the provider
			p.snaps = append(p.snaps, providers.Snapshot{ID: snap, BackupID: bk, ClusterID: id, VolumeID: id + "-v", State: providers.StateCompleted, CreatedAt: created})
		}
	}
	p.snaps = append(p.snaps, providers.Snapshot{ID: "snap-stray", BackupID: "bk-unknown", ClusterID: "c-gone", State: providers.StateCompleted, CreatedAt: created})

	a := &Reconciler{Catalog: cat, Providers: providers.Registry{"local": p}}
	plan, err := a.PlanReconcile(ctx, PlanReconcileInput{Grace: time.Hour, Now: time.Now()})
	require.NoError(t, err)
	assert.Equal(t, []api.Missing{{BackupID: "bk-c0007", ClusterID: "c0007", VolumeID: "c0007-v", SnapshotID: "snap-c0007"}}, plan.Missing)
	var orphans []string
	for _, o := range plan.Orphans {
		orphans = append(orphans, o.SnapshotID+": "+o.Reason)
	}
	assert.ElementsMatch(t, []string{"snap-c0005: backup is Defunct: Timeout: test", "snap-stray: backup unknown to the catalog"}, orphans)
	assert.Equal(t, 2, p.gets, "%d clusters' snapshots in pooled calls of up to %d", clusters-1, missingBatch)
}
