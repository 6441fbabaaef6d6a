package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
)

// Restore points are per cluster and unique by name; a restored cluster
// learns its servers with SetNodeServer; a point-in-time restore keeps its
// target.
func TestRestorePointsAndTargets(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		require.NoError(t, s.CreateCluster(ctx, postgresCluster("pg")))
		mustCluster(t, s, "other")
		at := time.UnixMilli(1_800_000_000_000).UTC()
		p := catalog.RestorePoint{ClusterID: "pg", Name: "before-migration", LSN: "0/3000148", Timeline: 2, Archived: true, CreatedAt: at}
		require.NoError(t, s.CreateRestorePoint(ctx, p))
		require.NoError(t, s.CreateRestorePoint(ctx, catalog.RestorePoint{ClusterID: "other", Name: "before-migration", LSN: "0/1", Timeline: 1, CreatedAt: at}))
		err := s.CreateRestorePoint(ctx, catalog.RestorePoint{ClusterID: "pg", Name: "before-migration", LSN: "0/4000000", Timeline: 2})
		assert.True(t, errors.Is(err, catalog.ErrExists), "%v", err)
		requireNotFound(t, s.CreateRestorePoint(ctx, catalog.RestorePoint{ClusterID: "nope", Name: "x", LSN: "0/1"}), "cluster", "nope")

		got, err := s.GetRestorePoint(ctx, "pg", "before-migration")
		require.NoError(t, err)
		assert.Equal(t, p, got)
		_, err = s.GetRestorePoint(ctx, "pg", "missing")
		requireNotFound(t, err, "restore point", "missing")
		later := catalog.RestorePoint{ClusterID: "pg", Name: "after", LSN: "0/5000000", Timeline: 2, CreatedAt: at.Add(time.Minute)}
		require.NoError(t, s.CreateRestorePoint(ctx, later))
		list, err := s.ListRestorePoints(ctx, "pg")
		require.NoError(t, err)
		assert.Equal(t, []catalog.RestorePoint{p, later}, list)

		require.NoError(t, s.SetNodeServer(ctx, "pg", "pg-n2", api.NodePrimary, "127.0.0.1:6000"))
		cl, err := s.GetCluster(ctx, "pg")
		require.NoError(t, err)
		assert.Equal(t, api.NodePrimary, cl.Nodes[1].Role)
		assert.Equal(t, "127.0.0.1:6000", cl.Nodes[1].Endpoint)
		requireNotFound(t, s.SetNodeServer(ctx, "pg", "ghost", api.NodeReplica, ""), "node", "ghost")

		target := time.UnixMilli(1_800_000_060_000).UTC()
		r, _, err := s.CreateRestore(ctx, catalog.Restore{ID: "rs1", BackupID: "bk", SourceClusterID: "pg", ClusterID: "rc1", CreatedAt: at,
			Target: &api.RecoveryTarget{Time: &target}})
		require.NoError(t, err)
		require.NotNil(t, r.Target)
		assert.Equal(t, target, r.Target.Time.UTC())
		r, _, err = s.CreateRestore(ctx, catalog.Restore{ID: "rs2", BackupID: "bk", SourceClusterID: "pg", ClusterID: "rc2", CreatedAt: at})
		require.NoError(t, err)
		assert.Nil(t, r.Target)
	})
}
