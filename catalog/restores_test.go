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

func TestClusterStatus(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "c")

		restored := testCluster("r")
		restored.Status = catalog.ClusterCreating
		restored.StatusReason = "restoring"
		restored.RestoredFrom = "bk"
		require.NoError(t, s.CreateCluster(ctx, restored))
		got, err := s.GetCluster(ctx, "r")
		require.NoError(t, err)
		assert.Equal(t, restored, got)

		require.NoError(t, s.SetClusterStatus(ctx, "r", catalog.ClusterFailed, "no capacity"))
		got, err = s.GetCluster(ctx, "r")
		require.NoError(t, err)
		assert.Equal(t, catalog.ClusterFailed, got.Status)
		assert.Equal(t, "no capacity", got.StatusReason)
		assert.Equal(t, "bk", got.RestoredFrom, "restored_from stays")

		require.NoError(t, s.SetClusterStatus(ctx, "r", catalog.ClusterRunning, ""))
		list, err := s.ListClusters(ctx)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, testCluster("c"), list[0], "other clusters untouched")
		assert.Equal(t, catalog.ClusterRunning, list[1].Status)
		assert.Empty(t, list[1].StatusReason)
		assert.Equal(t, "bk", list[1].RestoredFrom)

		requireNotFound(t, s.SetClusterStatus(ctx, "nope", catalog.ClusterRunning, ""), "cluster", "nope")
		assert.Error(t, s.SetClusterStatus(ctx, "r", "Exploded", ""))
		assert.Error(t, s.SetClusterStatus(ctx, "r", "", ""))
		bad := testCluster("bad")
		bad.Status = "Exploded"
		assert.Error(t, s.CreateCluster(ctx, bad))
		_, err = s.GetCluster(ctx, "bad")
		requireNotFound(t, err, "cluster", "bad")
	})
}

func TestUpdateVolumes(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		want := mustCluster(t, s, "c")
		mustCluster(t, s, "d")

		require.NoError(t, s.UpdateVolumes(ctx, "c", []catalog.Volume{
			{ID: "c-n2-va", Path: "vol-a", Zone: "z9", SizeGB: 25},
			{ID: "c-n1-v", Path: "vol-1", Zone: "", SizeGB: 31},
		}))
		want.Nodes[0].Volumes[1] = catalog.Volume{ID: "c-n2-va", NodeID: "c-n2", Path: "vol-a", Zone: "z9", SizeGB: 25}
		want.Nodes[1].Volumes[0] = catalog.Volume{ID: "c-n1-v", NodeID: "c-n1", Path: "vol-1", Zone: "", SizeGB: 31}
		got, err := s.GetCluster(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, want, got)
		other, err := s.GetCluster(ctx, "d")
		require.NoError(t, err)
		assert.Equal(t, testCluster("d"), other, "other clusters untouched")

		require.NoError(t, s.UpdateVolumes(ctx, "c", nil))

		// An unknown volume (or one of another cluster) fails the whole update.
		err = s.UpdateVolumes(ctx, "c", []catalog.Volume{
			{ID: "c-n2-vb", Path: "changed", SizeGB: 1},
			{ID: "d-n1-v", Path: "changed", SizeGB: 1},
		})
		requireNotFound(t, err, "volume", "d-n1-v")
		got, err = s.GetCluster(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, want, got, "nothing changed")

		requireNotFound(t, s.UpdateVolumes(ctx, "nope", []catalog.Volume{{ID: "c-n1-v"}}), "cluster", "nope")
	})
}

func TestProjects(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := catalogtest.NewClock(t0)
		s := catalogtest.Open(t, dsn, catalog.WithClock(clock.Now))

		// A new catalog has the default project (and network), whatever
		// mode created it.
		list, err := s.ListProjects(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, "default", list[0].ID)
		assert.WithinDuration(t, time.Now(), list[0].CreatedAt, time.Hour, "created when the catalog was")
		def, err := s.GetNetwork(ctx, "default")
		require.NoError(t, err)
		assert.Equal(t, catalog.Network{ID: "default", ProjectID: "default", Provider: "local", Region: "local", CreatedAt: def.CreatedAt}, def)

		require.NoError(t, s.CreateProject(ctx, catalog.Project{ID: "p2"}))
		require.NoError(t, s.CreateProject(ctx, catalog.Project{ID: "p1", CreatedAt: t0.Add(-time.Hour)}))
		// Idempotent: the existing project is left as it is.
		require.NoError(t, s.CreateProject(ctx, catalog.Project{ID: "p2", CreatedAt: t0.Add(time.Hour)}))
		assert.Error(t, s.CreateProject(ctx, catalog.Project{}))

		p, err := s.GetProject(ctx, "p2")
		require.NoError(t, err)
		assert.Equal(t, catalog.Project{ID: "p2", CreatedAt: t0}, p)
		list, err = s.ListProjects(ctx)
		require.NoError(t, err)
		assert.Equal(t, []catalog.Project{list[0], {ID: "p1", CreatedAt: t0.Add(-time.Hour)}, {ID: "p2", CreatedAt: t0}}, list)
		assert.Equal(t, "default", list[0].ID)

		_, err = s.GetProject(ctx, "nope")
		requireNotFound(t, err, "project", "nope")
	})
}

func networkIDs(t *testing.T, s catalog.Store, projectID string) []string {
	t.Helper()
	list, err := s.ListNetworks(context.Background(), projectID)
	require.NoError(t, err)
	require.NotNil(t, list)
	out := []string{}
	for _, n := range list {
		out = append(out, n.ID)
	}
	return out
}

func TestNetworks(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := catalogtest.NewClock(t0)
		s := catalogtest.Open(t, dsn, catalog.WithClock(clock.Now))
		require.NoError(t, s.CreateProject(ctx, catalog.Project{ID: "p1"}))
		require.NoError(t, s.CreateProject(ctx, catalog.Project{ID: "p2"}))

		assert.Equal(t, []string{"default"}, networkIDs(t, s, ""))

		n1 := catalog.Network{ID: "net-b", ProjectID: "p1", Provider: "local", Region: "eu-west-1"}
		require.NoError(t, s.CreateNetwork(ctx, n1))
		n1.CreatedAt = t0 // from the clock
		got, err := s.GetNetwork(ctx, "net-b")
		require.NoError(t, err)
		assert.Equal(t, n1, got)

		n2 := catalog.Network{ID: "net-a", ProjectID: "p1", Provider: "aws", Region: "us-east-1", CreatedAt: t0.Add(time.Hour)}
		require.NoError(t, s.CreateNetwork(ctx, n2))
		require.NoError(t, s.CreateNetwork(ctx, catalog.Network{ID: "net-c", ProjectID: "p2", Provider: "gcp", Region: "europe-west1"}))

		assert.Equal(t, []string{"default", "net-a", "net-b", "net-c"}, networkIDs(t, s, ""))
		assert.Equal(t, []string{"net-a", "net-b"}, networkIDs(t, s, "p1"))
		assert.Equal(t, []string{"net-c"}, networkIDs(t, s, "p2"))
		assert.Equal(t, []string{}, networkIDs(t, s, "nope"))
		list, err := s.ListNetworks(ctx, "p1")
		require.NoError(t, err)
		assert.Equal(t, []catalog.Network{n2, n1}, list)

		assert.ErrorIs(t, s.CreateNetwork(ctx, catalog.Network{ID: "net-b", ProjectID: "p2", Provider: "x", Region: "y"}), catalog.ErrExists)
		got, err = s.GetNetwork(ctx, "net-b")
		require.NoError(t, err)
		assert.Equal(t, n1, got, "a duplicate leaves the network as it is")
		requireNotFound(t, s.CreateNetwork(ctx, catalog.Network{ID: "lost", ProjectID: "nope", Provider: "x", Region: "y"}), "project", "nope")
		for _, bad := range []catalog.Network{
			{ID: "bad", ProjectID: "p1", Region: "y"},
			{ID: "bad", ProjectID: "p1", Provider: "x"},
			{ProjectID: "p1", Provider: "x", Region: "y"},
		} {
			err := s.CreateNetwork(ctx, bad)
			assert.Error(t, err)
			assert.False(t, catalog.IsNotFound(err))
		}
		_, err = s.GetNetwork(ctx, "lost")
		requireNotFound(t, err, "network", "lost")
		_, err = s.GetNetwork(ctx, "bad")
		requireNotFound(t, err, "network", "bad")
	})
}

func restoreIDs(t *testing.T, s catalog.Store, backupID string) []string {
	t.Helper()
	list, err := s.ListRestores(context.Background(), backupID)
	require.NoError(t, err)
	require.NotNil(t, list)
	out := []string{}
	for _, r := range list {
		out = append(out, r.ID)
	}
	return out
}

func TestRestores(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := catalogtest.NewClock(t0)
		s := catalogtest.Open(t, dsn, catalog.WithClock(clock.Now))

		assert.Equal(t, []string{}, restoreIDs(t, s, ""))

		r1 := catalog.Restore{ID: "r1", BackupID: "bk1", SourceClusterID: "c", ClusterID: "c-restored", WorkflowID: "wf-r1"}
		got, created, err := s.CreateRestore(ctx, r1)
		require.NoError(t, err)
		assert.True(t, created)
		r1.Status, r1.CreatedAt = catalog.RestorePending, t0 // defaults
		assert.Equal(t, r1, got)
		got, err = s.GetRestore(ctx, "r1")
		require.NoError(t, err)
		assert.Equal(t, r1, got)

		// Idempotent by ID: the existing restore is returned unchanged.
		again, created, err := s.CreateRestore(ctx, catalog.Restore{ID: "r1", BackupID: "other", ClusterID: "x", CreatedAt: t0.Add(time.Hour)})
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, r1, again)

		clock.Advance(time.Minute)
		_, _, err = s.CreateRestore(ctx, catalog.Restore{ID: "r2", BackupID: "bk2"})
		require.NoError(t, err)
		_, _, err = s.CreateRestore(ctx, catalog.Restore{ID: "r0", BackupID: "bk1", CreatedAt: t0.Add(-time.Hour)})
		require.NoError(t, err)
		_, _, err = s.CreateRestore(ctx, catalog.Restore{ID: "r3", BackupID: "bk1", CreatedAt: t0.Add(time.Hour)})
		require.NoError(t, err)

		assert.Equal(t, []string{"r3", "r2", "r1", "r0"}, restoreIDs(t, s, ""))
		assert.Equal(t, []string{"r3", "r1", "r0"}, restoreIDs(t, s, "bk1"))
		assert.Equal(t, []string{"r2"}, restoreIDs(t, s, "bk2"))
		assert.Equal(t, []string{}, restoreIDs(t, s, "nope"))

		_, _, err = s.CreateRestore(ctx, catalog.Restore{BackupID: "bk1"})
		assert.Error(t, err)
		_, _, err = s.CreateRestore(ctx, catalog.Restore{ID: "bad", BackupID: "bk1", Status: "Exploded"})
		assert.Error(t, err)
		_, err = s.GetRestore(ctx, "bad")
		requireNotFound(t, err, "restore", "bad")
	})
}

func TestRestoreStatus(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := catalogtest.NewClock(t0)
		s := catalogtest.Open(t, dsn, catalog.WithClock(clock.Now))
		for _, id := range []string{"ok", "fail"} {
			_, _, err := s.CreateRestore(ctx, catalog.Restore{ID: id, BackupID: "bk", ClusterID: id + "-cluster"})
			require.NoError(t, err)
		}
		t1, t2, t3 := t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)

		// Running sets started_at once.
		r, err := s.SetRestoreStatus(ctx, "ok", catalog.RestoreRunning, "", t1)
		require.NoError(t, err)
		assert.Equal(t, catalog.RestoreRunning, r.Status)
		assert.Equal(t, &t1, r.StartedAt)
		assert.Nil(t, r.CompletedAt)
		assert.Empty(t, r.Reason)
		r, err = s.SetRestoreStatus(ctx, "ok", catalog.RestoreRunning, "creating volumes", t2)
		require.NoError(t, err)
		assert.Equal(t, &t1, r.StartedAt, "started_at is set once")
		assert.Equal(t, "creating volumes", r.Reason)

		// Completed sets completed_at; an empty reason keeps the last one.
		r, err = s.SetRestoreStatus(ctx, "ok", catalog.RestoreCompleted, "", t3)
		require.NoError(t, err)
		want := catalog.Restore{ID: "ok", BackupID: "bk", ClusterID: "ok-cluster", Status: catalog.RestoreCompleted,
			Reason: "creating volumes", CreatedAt: t0, StartedAt: &t1, CompletedAt: &t3}
		assert.Equal(t, want, r)
		got, err := s.GetRestore(ctx, "ok")
		require.NoError(t, err)
		assert.Equal(t, want, got)

		// Terminal: the same status again changes nothing and succeeds; any
		// other fails, naming both statuses.
		r, err = s.SetRestoreStatus(ctx, "ok", catalog.RestoreCompleted, "again", t3.Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, want, r)
		for _, st := range []catalog.RestoreStatus{catalog.RestoreFailed, catalog.RestoreRunning, catalog.RestorePending} {
			_, err = s.SetRestoreStatus(ctx, "ok", st, "late", t3.Add(time.Hour))
			require.Error(t, err)
			assert.Contains(t, err.Error(), string(catalog.RestoreCompleted))
			assert.Contains(t, err.Error(), string(st))
			assert.False(t, catalog.IsNotFound(err))
		}
		got, err = s.GetRestore(ctx, "ok")
		require.NoError(t, err)
		assert.Equal(t, want, got)

		// Failed straight from Pending, at defaulting to the clock.
		clock.Advance(time.Hour)
		r, err = s.SetRestoreStatus(ctx, "fail", catalog.RestoreFailed, "no capacity", time.Time{})
		require.NoError(t, err)
		assert.Equal(t, catalog.RestoreFailed, r.Status)
		assert.Equal(t, "no capacity", r.Reason)
		assert.Nil(t, r.StartedAt)
		assert.Equal(t, ptr(clock.Now()), r.CompletedAt)
		failed := r
		r, err = s.SetRestoreStatus(ctx, "fail", catalog.RestoreFailed, "other reason", time.Time{})
		require.NoError(t, err)
		assert.Equal(t, failed, r)
		_, err = s.SetRestoreStatus(ctx, "fail", catalog.RestoreCompleted, "", time.Time{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Failed")
		assert.Contains(t, err.Error(), "Completed")

		_, err = s.SetRestoreStatus(ctx, "nope", catalog.RestoreRunning, "", t1)
		requireNotFound(t, err, "restore", "nope")
		_, err = s.SetRestoreStatus(ctx, "fail", "Exploded", "", t1)
		assert.Error(t, err)
	})
}
