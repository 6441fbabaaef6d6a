package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/internal/stratatest"
)

func TestRegisterExistingClusterByItsVolumes(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	v1, err := e.Local.ProvisionVolume(ctx, "existing-a", 32<<10)
	require.NoError(t, err)
	v2, err := e.Local.ProvisionVolume(ctx, "existing-b", 32<<10)
	require.NoError(t, err)

	_, err = e.Strata.RegisterCluster(ctx, api.RegisterClusterRequest{
		ID: "legacy", Provider: "local", Region: "local", NetworkID: "default",
		Nodes: []api.RegisterNode{{ID: "legacy-1", Volumes: []string{v1, e.Root + "/volumes/missing"}}},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "volume "+e.Root+"/volumes/missing of node legacy-1 does not exist at local in local")
	_, err = e.Catalog.GetCluster(ctx, "legacy")
	require.Error(t, err, "nothing was recorded")

	_, err = e.Strata.RegisterCluster(ctx, api.RegisterClusterRequest{
		ID: "legacy", Provider: "local", Region: "elsewhere", NetworkID: "default",
		Nodes: []api.RegisterNode{{ID: "legacy-1", Volumes: []string{v1}}},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `network "default" is on local/local, not local/elsewhere`)

	cl, err := e.Strata.RegisterCluster(ctx, api.RegisterClusterRequest{
		ID: "legacy", Description: "registered", Provider: "local", Region: "local", NetworkID: "default",
		Nodes: []api.RegisterNode{{ID: "legacy-1", Volumes: []string{v1}}, {ID: "legacy-2", Volumes: []string{v2}}},
	})
	require.NoError(t, err)
	require.Len(t, cl.Nodes, 2)
	assert.Equal(t, v2, cl.Nodes[1].Volumes[0].Path)
	assert.True(t, cl.Nodes[0].Healthy)

	// It backs up like any other cluster.
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: "legacy"})
	require.NoError(t, err)
	b, err := run.Wait(ctx)
	require.NoError(t, err)
	assert.Len(t, b.Snapshots, 2)
}
