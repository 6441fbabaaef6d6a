package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/fakeclouds"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/providers"
)

// cloud adapts one fake cloud for the shared scenarios below.
type cloud struct {
	name, region, network, zone string
	provider                    func(e *stratatest.Env) providers.Provider
	newVolume                   func(e *stratatest.Env, name string, sizeGB int) (ref, handle string)
	throttle                    func(e *stratatest.Env, n int)
	loseCreate                  func(e *stratatest.Env)
	failSnapshotsOf             func(e *stratatest.Env, handle string)
	neverComplete               func(e *stratatest.Env, handle string)
	failNextVolumeCreate        func(e *stratatest.Env)
	volumeDeletes               func(e *stratatest.Env) int
}

var clouds = []cloud{
	{
		name: "aws", region: fakeclouds.AWSRegion, network: stratatest.AWSNetwork, zone: fakeclouds.AWSZone,
		provider: func(e *stratatest.Env) providers.Provider { return e.Clouds.AWSProvider },
		newVolume: func(e *stratatest.Env, _ string, size int) (string, string) {
			id := e.Clouds.AWS.NewVolume(fakeclouds.AWSZone, size)
			return id, id
		},
		throttle:             func(e *stratatest.Env, n int) { e.Clouds.AWS.ThrottleNext(n) },
		loseCreate:           func(e *stratatest.Env) { e.Clouds.AWS.LoseResponseNext("CreateSnapshot") },
		failSnapshotsOf:      func(e *stratatest.Env, h string) { e.Clouds.AWS.FailSnapshotsOf(h) },
		neverComplete:        func(e *stratatest.Env, h string) { e.Clouds.AWS.NeverComplete(h) },
		failNextVolumeCreate: func(e *stratatest.Env) { e.Clouds.AWS.FailNext("CreateVolume", "InvalidParameterValue", 1) },
		volumeDeletes:        func(e *stratatest.Env) int { return e.Clouds.AWS.Calls()["DeleteVolume"] },
	},
	{
		name: "gcp", region: fakeclouds.GCPRegion, network: stratatest.GCPNetwork, zone: fakeclouds.GCPZone,
		provider: func(e *stratatest.Env) providers.Provider { return e.Clouds.GCPProvider },
		newVolume: func(e *stratatest.Env, name string, size int) (string, string) {
			return e.Clouds.GCP.AddDisk(fakeclouds.GCPZone, name, size), name
		},
		throttle:             func(e *stratatest.Env, n int) { e.Clouds.GCP.ThrottleNext(n) },
		loseCreate:           func(e *stratatest.Env) { e.Clouds.GCP.LoseResponseNext("disks.createSnapshot") },
		failSnapshotsOf:      func(e *stratatest.Env, h string) { e.Clouds.GCP.FailSnapshotsOf(h) },
		neverComplete:        func(e *stratatest.Env, h string) { e.Clouds.GCP.NeverComplete(h) },
		failNextVolumeCreate: func(e *stratatest.Env) { e.Clouds.GCP.FailNext("disks.insert", 400, "invalid", 1) },
		volumeDeletes:        func(e *stratatest.Env) int { return e.Clouds.GCP.Calls()["disks.delete"] },
	},
}

// cloudCluster registers a 2-node, 1-volume-per-node cluster at c.
func cloudCluster(t *testing.T, e *stratatest.Env, c cloud, id string) (api.Cluster, []string) {
	t.Helper()
	var handles []string
	// No network: the project's only network in that region is used.
	req := api.RegisterClusterRequest{ID: id, Provider: c.name, Region: c.region}
	for i := 1; i <= 2; i++ {
		ref, h := c.newVolume(e, fmt.Sprintf("%s-disk-%d", id, i), 10+i)
		handles = append(handles, h)
		req.Nodes = append(req.Nodes, api.RegisterNode{ID: fmt.Sprintf("%s-n%d", id, i), Volumes: []string{ref}})
	}
	cl, err := e.Strata.RegisterCluster(ctxT(t), req)
	require.NoError(t, err)
	require.Equal(t, c.network, cl.NetworkID)
	return cl, handles
}

func TestCloudBackupAndRestore(t *testing.T) {
	for _, c := range clouds {
		t.Run(c.name, func(t *testing.T) {
			e := server.NewCloudEnv(t, stratatest.TestConfig(), 300*time.Millisecond)
			ctx := ctxT(t)
			cl, _ := cloudCluster(t, e, c, "db-"+c.name)
			assert.Equal(t, c.zone, cl.Nodes[0].Volumes[0].Zone, "the zone is read from the provider")
			assert.Equal(t, 12, cl.Nodes[1].Volumes[0].SizeGB, "the size is read from the provider")

			// A throttling storm and a lost create response still end in
			// one Completed backup with exactly one snapshot per volume.
			c.throttle(e, 15)
			c.loseCreate(e)
			run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
			require.NoError(t, err)
			b, err := run.Wait(ctx)
			require.NoError(t, err)
			require.Len(t, b.Snapshots, 2)
			atProvider, err := c.provider(e).ListSnapshots(ctx, providers.SnapshotFilter{BackupID: b.ID})
			require.NoError(t, err)
			assert.Len(t, atProvider, 2, "no duplicate snapshot after the lost response")

			// Restore to one node.
			rr, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b.ID, Nodes: 1})
			require.NoError(t, err)
			res, err := rr.Wait(ctx)
			require.NoError(t, err)
			assert.Equal(t, catalog.ClusterRunning, res.Cluster.Status)
			require.Len(t, res.Cluster.Nodes, 1)
			v := res.Cluster.Nodes[0].Volumes[0]
			got, err := c.provider(e).GetVolumes(ctx, []string{v.Path})
			require.NoError(t, err)
			require.Len(t, got, 1, "the restored volume exists at the provider")
			assert.Equal(t, providers.VolumeAvailable, got[0].State)

			// A failed volume creation deletes what the restore created.
			deletes := c.volumeDeletes(e)
			c.failNextVolumeCreate(e)
			rr, err = e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b.ID})
			require.NoError(t, err)
			_, err = rr.Wait(ctx)
			re := restoreErr(t, err, api.ReasonProviderError)
			require.NotNil(t, re.Result)
			assert.Equal(t, catalog.ClusterFailed, re.Result.Cluster.Status)
			for _, v := range re.Result.Cluster.Volumes() {
				assert.Empty(t, v.Path, "volume %s was deleted", v.ID)
			}
			assert.Greater(t, c.volumeDeletes(e), deletes, "the volume created before the failure was deleted at the provider")
		})
	}
}

func TestCloudSnapshotFailures(t *testing.T) {
	for _, c := range clouds {
		t.Run(c.name, func(t *testing.T) {
			e := server.NewCloudEnv(t, stratatest.TestConfig(), 300*time.Millisecond)
			ctx := ctxT(t)

			cl, handles := cloudCluster(t, e, c, "bad-"+c.name)
			c.failSnapshotsOf(e, handles[1])
			run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
			require.NoError(t, err)
			_, err = run.Wait(ctx)
			be := backupErr(t, err, api.ReasonSnapshotFailed)
			assert.Contains(t, be.Reason, cl.Nodes[1].Volumes[0].ID)
			requireUnlocked(t, e, cl.ID)

			cl, handles = cloudCluster(t, e, c, "slow-"+c.name)
			c.neverComplete(e, handles[0])
			run, err = e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID, Timeout: catalog.Duration(2 * time.Second)})
			require.NoError(t, err)
			_, err = run.Wait(ctx)
			be = backupErr(t, err, api.ReasonTimeout)
			require.Len(t, be.Backup.Snapshots, 2)
			for _, s := range be.Backup.Snapshots {
				assert.NotEmpty(t, s.SnapshotID, "every snapshot created is on the record")
			}
			requireUnlocked(t, e, cl.ID)

			// The reconciler finds the Defunct backups' snapshots by their
			// tags/labels at the cloud and deletes them.
			res, err := e.Strata.Reconcile(ctx, ptr(time.Nanosecond), false)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, len(res.Plan.Orphans), 2)
			left, err := c.provider(e).ListSnapshots(ctx, providers.SnapshotFilter{BackupID: be.BackupID})
			require.NoError(t, err)
			assert.Empty(t, left, "the timed-out backup's snapshots are gone at %s", c.name)
		})
	}
}
