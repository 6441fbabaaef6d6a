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

// Profiles are unique by name, keep their schedules, PITR and NoBackups,
// and cannot be deleted while a cluster is on them.
func TestProfiles(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		at := time.UnixMilli(1_800_000_000_000).UTC()
		p := catalog.Profile{Name: "gold", Description: "hourly and daily", CreatedAt: at, UpdatedAt: at,
			Schedules: []catalog.ProfileSchedule{
				{Every: api.Duration(time.Hour), Retention: api.Retention{KeepHourly: 24}},
				{Every: api.Duration(24 * time.Hour), Offset: api.Duration(3 * time.Hour), Retention: api.Retention{KeepDaily: 14}},
			},
			PITR: api.Duration(48 * time.Hour)}
		require.NoError(t, s.CreateProfile(ctx, p))
		assert.True(t, errors.Is(s.CreateProfile(ctx, p), catalog.ErrExists))
		require.NoError(t, s.CreateProfile(ctx, catalog.Profile{Name: "empty", NoBackups: true, CreatedAt: at}))

		got, err := s.GetProfile(ctx, "gold")
		require.NoError(t, err)
		assert.Equal(t, p, got)
		_, err = s.GetProfile(ctx, "missing")
		requireNotFound(t, err, "profile", "missing")

		list, err := s.ListProfiles(ctx)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, "empty", list[0].Name)
		assert.True(t, list[0].NoBackups)
		assert.Equal(t, []catalog.ProfileSchedule{}, list[0].Schedules)

		p.Description = "daily only"
		p.Schedules = p.Schedules[1:]
		p.PITR = 0
		require.NoError(t, s.UpdateProfile(ctx, p))
		got, err = s.GetProfile(ctx, "gold")
		require.NoError(t, err)
		assert.Equal(t, "daily only", got.Description)
		assert.Equal(t, p.Schedules, got.Schedules)
		assert.Zero(t, got.PITR)
		assert.Equal(t, at, got.CreatedAt)
		requireNotFound(t, s.UpdateProfile(ctx, catalog.Profile{Name: "missing"}), "profile", "missing")

		mustCluster(t, s, "c1")
		mustCluster(t, s, "c2")
		require.NoError(t, s.SetClusterProfile(ctx, "c2", "gold"))
		require.NoError(t, s.SetClusterProfile(ctx, "c1", "gold"))
		requireNotFound(t, s.SetClusterProfile(ctx, "ghost", "gold"), "cluster", "ghost")
		ids, err := s.ListClusterIDsByProfile(ctx, "gold")
		require.NoError(t, err)
		assert.Equal(t, []string{"c1", "c2"}, ids)

		var inUse *catalog.ProfileInUseError
		require.ErrorAs(t, s.DeleteProfile(ctx, "gold"), &inUse)
		assert.Equal(t, []string{"c1", "c2"}, inUse.Clusters)
		assert.Contains(t, inUse.Error(), "set-profile")

		// A Deleted cluster no longer holds its profile.
		require.NoError(t, s.SetClusterStatus(ctx, "c1", catalog.ClusterDeleted, "deleted by a user"))
		require.NoError(t, s.SetClusterProfile(ctx, "c2", ""))
		ids, err = s.ListClusterIDsByProfile(ctx, "gold")
		require.NoError(t, err)
		assert.Empty(t, ids)
		require.NoError(t, s.DeleteProfile(ctx, "gold"))
		requireNotFound(t, s.DeleteProfile(ctx, "gold"), "profile", "gold")
	})
}

// A cluster's power state is stored whole and read back with the cluster;
// a new cluster is Running; a Deleted cluster's volumes are free again.
func TestClusterPower(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		c := mustCluster(t, s, "c1")
		got, err := s.GetCluster(ctx, "c1")
		require.NoError(t, err)
		assert.Equal(t, api.PowerRunning, got.Power)
		assert.Empty(t, got.Profile)

		off := time.UnixMilli(1_800_000_000_000).UTC()
		del := off.Add(180 * 24 * time.Hour)
		p := catalog.ClusterPower{Power: api.PowerPoweredOff, Reason: "powered off by a user", PoweredOffAt: &off, DeletionAt: &del, FinalBackupID: "bk-final"}
		require.NoError(t, s.SetClusterPower(ctx, "c1", p))
		got, err = s.GetCluster(ctx, "c1")
		require.NoError(t, err)
		assert.Equal(t, p, got.ClusterPower)
		require.Error(t, s.SetClusterPower(ctx, "c1", catalog.ClusterPower{Power: "Sleeping"}))
		requireNotFound(t, s.SetClusterPower(ctx, "ghost", p), "cluster", "ghost")

		require.NoError(t, s.SetClusterPower(ctx, "c1", catalog.ClusterPower{Power: api.PowerRunning}))
		got, err = s.GetCluster(ctx, "c1")
		require.NoError(t, err)
		assert.Equal(t, catalog.ClusterPower{Power: api.PowerRunning}, got.ClusterPower)

		// Another cluster on the same disks is refused until c1 is Deleted.
		twin := c
		twin.ID = "twin"
		var inUse *catalog.VolumeInUseError
		require.ErrorAs(t, s.CreateCluster(ctx, twin), &inUse)
		require.NoError(t, s.SetClusterStatus(ctx, "c1", catalog.ClusterDeleted, "deleted"))
		require.NoError(t, s.CreateCluster(ctx, twin))

		// A job keeps the profile that made it.
		require.NoError(t, s.CreateJob(ctx, catalog.Job{ID: "j", ClusterID: "twin", Profile: "gold", Every: api.Duration(time.Hour)}))
		j, err := s.GetJob(ctx, "j")
		require.NoError(t, err)
		assert.Equal(t, "gold", j.Profile)
		j.Profile = ""
		require.NoError(t, s.UpdateJob(ctx, j))
		j, err = s.GetJob(ctx, "j")
		require.NoError(t, err)
		assert.Empty(t, j.Profile)
	})
}
