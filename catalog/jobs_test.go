package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
)

func jobIDs(t *testing.T, s catalog.Store, clusterID string) []string {
	t.Helper()
	list, err := s.ListJobs(context.Background(), clusterID)
	require.NoError(t, err)
	require.NotNil(t, list)
	out := []string{}
	for _, j := range list {
		out = append(out, j.ID)
	}
	return out
}

func TestJobs(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := catalogtest.NewClock(t0)
		s := catalogtest.Open(t, dsn, catalog.WithClock(clock.Now))
		mustCluster(t, s, "c")
		mustCluster(t, s, "d")

		assert.Equal(t, []string{}, jobIDs(t, s, ""))

		hourly := catalog.Job{
			ID: "hourly", ClusterID: "c", ScheduleID: "sched-hourly",
			Every: catalog.Duration(time.Hour), Offset: catalog.Duration(5 * time.Minute), Label: "{{.Cluster}}-hourly",
			Retention: catalog.Retention{KeepHourly: 24, KeepDaily: 7, KeepWeekly: 4},
		}
		require.NoError(t, s.CreateJob(ctx, hourly))
		hourly.CreatedAt, hourly.UpdatedAt = t0, t0 // from the clock
		got, err := s.GetJob(ctx, "hourly")
		require.NoError(t, err)
		assert.Equal(t, hourly, got)

		older := catalog.Job{
			ID: "older", ClusterID: "c", ScheduleID: "sched-older", Every: catalog.Duration(90 * time.Second),
			Retention: catalog.Retention{KeepLast: 3}, Paused: true,
			CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0.Add(-time.Minute),
		}
		require.NoError(t, s.CreateJob(ctx, older))
		got, err = s.GetJob(ctx, "older")
		require.NoError(t, err)
		assert.Equal(t, older, got)

		clock.Advance(time.Second)
		require.NoError(t, s.CreateJob(ctx, catalog.Job{ID: "other", ClusterID: "d", Every: catalog.Duration(time.Minute)}))
		require.NoError(t, s.CreateJob(ctx, catalog.Job{ID: "a-same-time", ClusterID: "c", CreatedAt: t0.Add(time.Second)}))

		assert.Equal(t, []string{"older", "hourly", "a-same-time", "other"}, jobIDs(t, s, ""))
		assert.Equal(t, []string{"older", "hourly", "a-same-time"}, jobIDs(t, s, "c"))
		assert.Equal(t, []string{"other"}, jobIDs(t, s, "d"))
		assert.Equal(t, []string{}, jobIDs(t, s, "nope"))
		list, err := s.ListJobs(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, older, list[0])
		assert.Equal(t, hourly, list[1])

		err = s.CreateJob(ctx, catalog.Job{ID: "hourly", ClusterID: "d"})
		assert.ErrorIs(t, err, catalog.ErrExists)
		requireNotFound(t, s.CreateJob(ctx, catalog.Job{ID: "lost", ClusterID: "nope"}), "cluster", "nope")
		assert.Error(t, s.CreateJob(ctx, catalog.Job{ClusterID: "c"}))
		_, err = s.GetJob(ctx, "lost")
		requireNotFound(t, err, "job", "lost")

		// Update replaces the schedule, label, retention and paused; the
		// rest stays.
		clock.Advance(time.Minute)
		upd := hourly
		upd.Every, upd.Offset = catalog.Duration(2*time.Hour), 0
		upd.Label = "renamed"
		upd.Retention = catalog.Retention{KeepLast: 10}
		upd.Paused = true
		upd.ScheduleID, upd.ClusterID, upd.CreatedAt = "ignored", "d", t0.Add(time.Hour)
		require.NoError(t, s.UpdateJob(ctx, upd))
		want := hourly
		want.Every, want.Offset, want.Label, want.Retention, want.Paused = upd.Every, upd.Offset, upd.Label, upd.Retention, true
		want.UpdatedAt = clock.Now()
		got, err = s.GetJob(ctx, "hourly")
		require.NoError(t, err)
		assert.Equal(t, want, got)
		requireNotFound(t, s.UpdateJob(ctx, catalog.Job{ID: "lost"}), "job", "lost")

		// A job's backups outlive it.
		_, _, err = s.CreateBackup(ctx, newBackup("bk", "c", "hourly", t0))
		require.NoError(t, err)

		// Delete: once, idempotent, hidden from lists, still readable.
		t5 := t0.Add(5 * time.Hour)
		require.NoError(t, s.DeleteJob(ctx, "hourly", t5))
		require.NoError(t, s.DeleteJob(ctx, "hourly", t5.Add(time.Hour)))
		got, err = s.GetJob(ctx, "hourly")
		require.NoError(t, err)
		want.DeletedAt = &t5
		assert.Equal(t, want, got, "deleted_at is set once")
		assert.Equal(t, []string{"older", "a-same-time"}, jobIDs(t, s, "c"))
		assert.Equal(t, []string{"older", "a-same-time", "other"}, jobIDs(t, s, ""))
		requireNotFound(t, s.UpdateJob(ctx, want), "job", "hourly")
		assert.ErrorIs(t, s.CreateJob(ctx, hourly), catalog.ErrExists, "IDs are not reused")
		requireNotFound(t, s.DeleteJob(ctx, "lost", t5), "job", "lost")
		bs, err := s.ListBackups(ctx, catalog.BackupFilter{JobID: "hourly"})
		require.NoError(t, err)
		require.Len(t, bs, 1)
		assert.Equal(t, "bk", bs[0].ID)

		// DeleteJob's At defaults to the clock.
		require.NoError(t, s.DeleteJob(ctx, "other", time.Time{}))
		got, err = s.GetJob(ctx, "other")
		require.NoError(t, err)
		assert.Equal(t, ptr(clock.Now()), got.DeletedAt)
		assert.Equal(t, []string{}, jobIDs(t, s, "d"))
	})
}
