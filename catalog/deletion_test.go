package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
)

// backupIn creates backup id (of job, "" for manual) on cluster "c" and
// moves it to status through the store's own operations.
func backupIn(t *testing.T, s catalog.Store, id, job string, at time.Time, status catalog.BackupStatus) catalog.Backup {
	t.Helper()
	ctx := context.Background()
	b, created, err := s.CreateBackup(ctx, newBackup(id, "c", job, at))
	require.NoError(t, err)
	require.True(t, created)
	to := func(st catalog.BackupStatus, from ...catalog.BackupStatus) {
		t.Helper()
		b, err = s.TransitionBackup(ctx, id, catalog.Transition{To: st, From: from, At: at})
		require.NoError(t, err)
	}
	switch status {
	case catalog.BackupPending:
	case catalog.BackupInProgress:
		to(catalog.BackupInProgress, catalog.BackupPending)
	case catalog.BackupCompleted, catalog.BackupDefunct:
		to(catalog.BackupInProgress, catalog.BackupPending)
		to(status, catalog.BackupInProgress)
	case catalog.BackupDeleting, catalog.BackupDeleted:
		to(catalog.BackupInProgress, catalog.BackupPending)
		to(catalog.BackupCompleted, catalog.BackupInProgress)
		b, err = s.StartDeletion(ctx, id, at)
		require.NoError(t, err)
		if status == catalog.BackupDeleted {
			b, err = s.FinishDeletion(ctx, id, at)
			require.NoError(t, err)
		}
	default:
		t.Fatalf("backupIn: status %q", status)
	}
	require.Equal(t, status, b.Status)
	return b
}

func requireTransitionError(t *testing.T, err error, id string, from, to catalog.BackupStatus) {
	t.Helper()
	var te *catalog.TransitionError
	require.ErrorAs(t, err, &te, "%v", err)
	assert.Equal(t, catalog.TransitionError{BackupID: id, From: from, To: to}, *te)
}

func requireInUse(t *testing.T, err error, id string, holders ...string) {
	t.Helper()
	var iu *catalog.InUseError
	require.ErrorAs(t, err, &iu, "%v", err)
	assert.Equal(t, catalog.InUseError{BackupID: id, Holders: holders}, *iu)
	for _, h := range holders {
		assert.Contains(t, err.Error(), h)
	}
}

func getBackup(t *testing.T, s catalog.Store, id string) catalog.Backup {
	t.Helper()
	b, err := s.GetBackup(context.Background(), id)
	require.NoError(t, err)
	return b
}

func TestDeletionLifecycle(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := catalogtest.NewClock(t0)
		s := catalogtest.Open(t, dsn, catalog.WithClock(clock.Now))
		mustCluster(t, s, "c")

		done := backupIn(t, s, "bk", "j", t0, catalog.BackupCompleted)
		snaps := []catalog.Snapshot{
			{NodeID: "c-n2", VolumeID: "c-n2-vb", SnapshotID: "snap-b", Status: catalog.SnapshotCompleted, Progress: 100, SizeGB: 10},
			{NodeID: "c-n2", VolumeID: "c-n2-va", SnapshotID: "snap-a", Status: catalog.SnapshotCompleted, Progress: 100, SizeGB: 20},
			{NodeID: "c-n1", VolumeID: "c-n1-v", SnapshotID: "", Status: catalog.SnapshotFailed, Progress: 40, Error: "disk gone"},
		}
		require.NoError(t, s.UpsertSnapshots(ctx, "bk", snaps, nil))
		done.Snapshots = snaps

		t1 := t0.Add(time.Hour)
		b, err := s.StartDeletion(ctx, "bk", t1)
		require.NoError(t, err)
		want := done
		want.Status = catalog.BackupDeleting
		assert.Equal(t, want, b, "only the status changes")
		assert.True(t, b.Status.Terminal())
		assert.Equal(t, want, getBackup(t, s, "bk"))

		// A failed attempt is recorded; a retry clears it.
		require.NoError(t, s.FailDeletion(ctx, "bk", "provider unavailable"))
		failed := want
		failed.DeletionError = "provider unavailable"
		assert.Equal(t, failed, getBackup(t, s, "bk"))
		b, err = s.StartDeletion(ctx, "bk", t1.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, want, b)
		b, err = s.StartDeletion(ctx, "bk", time.Time{})
		require.NoError(t, err, "StartDeletion on Deleting is repeatable")
		assert.Equal(t, want, b)
		require.NoError(t, s.FailDeletion(ctx, "bk", "again"))

		// Finish: Deleted, DeletedAt, error cleared, every snapshot Deleted.
		t2 := t1.Add(time.Hour)
		b, err = s.FinishDeletion(ctx, "bk", t2)
		require.NoError(t, err)
		gone := want
		gone.Status = catalog.BackupDeleted
		gone.DeletedAt = &t2
		gone.Snapshots = nil
		for _, sn := range snaps {
			sn.Status = catalog.SnapshotDeleted
			gone.Snapshots = append(gone.Snapshots, sn)
		}
		assert.Equal(t, gone, b)
		assert.Equal(t, gone, getBackup(t, s, "bk"))
		assert.True(t, b.Status.Terminal())

		// Finishing again is a no-op; restarting or failing it is refused.
		b, err = s.FinishDeletion(ctx, "bk", t2.Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, gone, b)
		_, err = s.StartDeletion(ctx, "bk", t2)
		requireTransitionError(t, err, "bk", catalog.BackupDeleted, catalog.BackupDeleting)
		requireTransitionError(t, s.FailDeletion(ctx, "bk", "x"), "bk", catalog.BackupDeleted, catalog.BackupDeleting)
		assert.Equal(t, gone, getBackup(t, s, "bk"))

		// Defunct backups can be deleted too; FinishDeletion's At defaults to the clock.
		backupIn(t, s, "defunct", "", t0, catalog.BackupDefunct)
		b, err = s.StartDeletion(ctx, "defunct", time.Time{})
		require.NoError(t, err)
		assert.Equal(t, catalog.BackupDeleting, b.Status)
		clock.Advance(time.Minute)
		b, err = s.FinishDeletion(ctx, "defunct", time.Time{})
		require.NoError(t, err)
		assert.Equal(t, ptr(clock.Now()), b.DeletedAt)
		assert.Equal(t, []catalog.Snapshot{}, b.Snapshots)

		// Running backups must be cancelled first; nothing changes.
		for _, st := range []catalog.BackupStatus{catalog.BackupPending, catalog.BackupInProgress} {
			id := "running-" + string(st)
			before := backupIn(t, s, id, "", t0, st)
			_, err := s.StartDeletion(ctx, id, t1)
			requireTransitionError(t, err, id, st, catalog.BackupDeleting)
			requireTransitionError(t, s.FailDeletion(ctx, id, "x"), id, st, catalog.BackupDeleting)
			_, err = s.FinishDeletion(ctx, id, t1)
			requireTransitionError(t, err, id, st, catalog.BackupDeleted)
			assert.Equal(t, before, getBackup(t, s, id))
		}
		// A Completed backup cannot skip Deleting.
		backupIn(t, s, "kept", "", t0, catalog.BackupCompleted)
		_, err = s.FinishDeletion(ctx, "kept", t1)
		requireTransitionError(t, err, "kept", catalog.BackupCompleted, catalog.BackupDeleted)
		requireTransitionError(t, s.FailDeletion(ctx, "kept", "x"), "kept", catalog.BackupCompleted, catalog.BackupDeleting)

		_, err = s.StartDeletion(ctx, "ghost", t1)
		requireNotFound(t, err, "backup", "ghost")
		requireNotFound(t, s.FailDeletion(ctx, "ghost", "x"), "backup", "ghost")
		_, err = s.FinishDeletion(ctx, "ghost", t1)
		requireNotFound(t, err, "backup", "ghost")
		requireNotFound(t, s.AddHold(ctx, "ghost", "r"), "backup", "ghost")
		require.NoError(t, s.RemoveHold(ctx, "ghost", "r"))

		// TransitionBackup knows the new statuses.
		backupIn(t, s, "tb", "", t0, catalog.BackupDefunct)
		b, err = s.TransitionBackup(ctx, "tb", catalog.Transition{To: catalog.BackupDeleting, From: []catalog.BackupStatus{catalog.BackupDefunct}})
		require.NoError(t, err)
		assert.Equal(t, catalog.BackupDeleting, b.Status)
		b, err = s.TransitionBackup(ctx, "tb", catalog.Transition{To: catalog.BackupDeleted, From: []catalog.BackupStatus{catalog.BackupDeleting}, At: t2})
		require.NoError(t, err)
		assert.Equal(t, catalog.BackupDeleted, b.Status)
		assert.Equal(t, &t2, b.DeletedAt)
	})
}

func TestHolds(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "c")
		backupIn(t, s, "bk", "", t0, catalog.BackupCompleted)
		other := backupIn(t, s, "other", "", t0.Add(time.Second), catalog.BackupCompleted)
		assert.Nil(t, other.Holds)

		require.NoError(t, s.AddHold(ctx, "bk", "restore-b"))
		require.NoError(t, s.AddHold(ctx, "bk", "restore-a"))
		require.NoError(t, s.AddHold(ctx, "bk", "restore-b"), "idempotent")
		require.NoError(t, s.AddHold(ctx, "other", "Restore-Z"))
		assert.Error(t, s.AddHold(ctx, "bk", ""))

		held := getBackup(t, s, "bk")
		assert.Equal(t, []string{"restore-a", "restore-b"}, held.Holds)
		assert.Equal(t, catalog.BackupCompleted, held.Status)
		list, err := s.ListBackups(ctx, catalog.BackupFilter{})
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, []string{"Restore-Z"}, list[0].Holds)
		assert.Equal(t, held, list[1])
		retry, created, err := s.CreateBackup(ctx, newBackup("bk", "c", "", t0))
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, held, retry)

		// Holds block deletion and change nothing.
		_, err = s.StartDeletion(ctx, "bk", t0)
		requireInUse(t, err, "bk", "restore-a", "restore-b")
		assert.Equal(t, held, getBackup(t, s, "bk"))

		require.NoError(t, s.RemoveHold(ctx, "bk", "restore-a"))
		require.NoError(t, s.RemoveHold(ctx, "bk", "restore-a"), "removing a gone hold is a no-op")
		require.NoError(t, s.RemoveHold(ctx, "bk", "never"))
		_, err = s.StartDeletion(ctx, "bk", t0)
		requireInUse(t, err, "bk", "restore-b")
		require.NoError(t, s.RemoveHold(ctx, "bk", "restore-b"))
		assert.Nil(t, getBackup(t, s, "bk").Holds)
		assert.Equal(t, []string{"Restore-Z"}, getBackup(t, s, "other").Holds, "holds are per backup")

		b, err := s.StartDeletion(ctx, "bk", t0)
		require.NoError(t, err)
		assert.Equal(t, catalog.BackupDeleting, b.Status)

		// Only Completed backups can be held.
		requireTransitionError(t, s.AddHold(ctx, "bk", "late"), "bk", catalog.BackupDeleting, catalog.BackupCompleted)
		for _, st := range []catalog.BackupStatus{catalog.BackupPending, catalog.BackupInProgress, catalog.BackupDefunct, catalog.BackupDeleted} {
			id := "x-" + string(st)
			backupIn(t, s, id, "", t0, st)
			requireTransitionError(t, s.AddHold(ctx, id, "r"), id, st, catalog.BackupCompleted)
			assert.Nil(t, getBackup(t, s, id).Holds)
		}
		_, err = s.FinishDeletion(ctx, "bk", t0)
		require.NoError(t, err)
		requireTransitionError(t, s.AddHold(ctx, "bk", "late"), "bk", catalog.BackupDeleted, catalog.BackupCompleted)
	})
}

// TestHoldDeletionRace races AddHold against StartDeletion on one Completed
// backup: either the deletion started and no hold exists, or holds exist
// and the backup is still Completed. Two stores share the database, as the
// worker and the CLI do, so SQLite's cross-connection locking is exercised
// too.
func TestHoldDeletionRace(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		stores := []catalog.Store{catalogtest.Open(t, dsn), catalogtest.Open(t, dsn)}
		s := stores[0]
		mustCluster(t, s, "c")
		outcomes := map[catalog.BackupStatus]int{}
		for round := 0; round < 8; round++ {
			id := fmt.Sprintf("bk-%d", round)
			backupIn(t, s, id, "", t0, catalog.BackupCompleted)
			const n = 10
			var (
				wg        sync.WaitGroup
				mu        sync.Mutex
				holdsOK   []string
				deletesOK int
			)
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					s := stores[i/2%2]
					<-start
					// Alternate which kind goes first between rounds.
					if (i+round)%2 == 0 {
						holder := fmt.Sprintf("restore-%02d", i)
						err := s.AddHold(ctx, id, holder)
						var te *catalog.TransitionError
						switch {
						case err == nil:
							mu.Lock()
							holdsOK = append(holdsOK, holder)
							mu.Unlock()
						case errors.As(err, &te):
							assert.Equal(t, catalog.BackupDeleting, te.From)
						default:
							t.Errorf("AddHold: %v", err)
						}
						return
					}
					_, err := s.StartDeletion(ctx, id, t0)
					var iu *catalog.InUseError
					switch {
					case err == nil:
						mu.Lock()
						deletesOK++
						mu.Unlock()
					case errors.As(err, &iu):
						assert.NotEmpty(t, iu.Holders)
					default:
						t.Errorf("StartDeletion: %v", err)
					}
				}(i)
			}
			close(start)
			wg.Wait()

			b := getBackup(t, s, id)
			outcomes[b.Status]++
			switch b.Status {
			case catalog.BackupDeleting:
				assert.Empty(t, b.Holds)
				assert.Empty(t, holdsOK)
				assert.Positive(t, deletesOK)
			case catalog.BackupCompleted:
				sort.Strings(holdsOK)
				assert.NotEmpty(t, holdsOK)
				assert.Equal(t, holdsOK, b.Holds)
				assert.Zero(t, deletesOK)
			default:
				t.Fatalf("round %d: backup ended %s", round, b.Status)
			}
		}
		t.Logf("outcomes: %v", outcomes)
	})
}

func TestListBackupsDeletedAndManual(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "c")
		mustCluster(t, s, "d")
		backupIn(t, s, "m1", "", t0.Add(1*time.Second), catalog.BackupCompleted)
		backupIn(t, s, "j1", "job", t0.Add(2*time.Second), catalog.BackupCompleted)
		backupIn(t, s, "j2", "job", t0.Add(3*time.Second), catalog.BackupDeleting)
		backupIn(t, s, "jd", "job", t0.Add(4*time.Second), catalog.BackupDeleted)
		backupIn(t, s, "md", "", t0.Add(5*time.Second), catalog.BackupDeleted) // newest
		_, _, err := s.CreateBackup(ctx, newBackup("dm", "d", "", t0))
		require.NoError(t, err)

		ids := func(f catalog.BackupFilter) []string {
			t.Helper()
			list, err := s.ListBackups(ctx, f)
			require.NoError(t, err)
			out := []string{}
			for _, b := range list {
				out = append(out, b.ID)
			}
			return out
		}
		deleted := []catalog.BackupStatus{catalog.BackupDeleted}
		assert.Equal(t, []string{"j2", "j1", "m1", "dm"}, ids(catalog.BackupFilter{}))
		assert.Equal(t, []string{"md", "jd", "j2", "j1", "m1", "dm"}, ids(catalog.BackupFilter{IncludeDeleted: true}))
		assert.Equal(t, []string{"md", "jd"}, ids(catalog.BackupFilter{Statuses: deleted}))
		assert.Equal(t, []string{"md", "jd"}, ids(catalog.BackupFilter{Statuses: deleted, IncludeDeleted: true}))
		assert.Equal(t, []string{"md", "jd", "j1", "m1"}, ids(catalog.BackupFilter{ClusterID: "c",
			Statuses: []catalog.BackupStatus{catalog.BackupCompleted, catalog.BackupDeleted}}))
		assert.Equal(t, []string{"j1", "m1"}, ids(catalog.BackupFilter{Statuses: []catalog.BackupStatus{catalog.BackupCompleted}, IncludeDeleted: true}))
		assert.Equal(t, []string{"j2"}, ids(catalog.BackupFilter{ClusterID: "c", Limit: 1}), "the limit counts visible backups")
		assert.Equal(t, []string{"md"}, ids(catalog.BackupFilter{ClusterID: "c", Limit: 1, IncludeDeleted: true}))

		assert.Equal(t, []string{"j2", "j1"}, ids(catalog.BackupFilter{JobID: "job"}))
		assert.Equal(t, []string{"jd", "j2", "j1"}, ids(catalog.BackupFilter{JobID: "job", IncludeDeleted: true}))
		assert.Equal(t, []string{"m1", "dm"}, ids(catalog.BackupFilter{ManualOnly: true}))
		assert.Equal(t, []string{"md", "m1", "dm"}, ids(catalog.BackupFilter{ManualOnly: true, IncludeDeleted: true}))
		assert.Equal(t, []string{"m1"}, ids(catalog.BackupFilter{ManualOnly: true, ClusterID: "c"}))
		assert.Equal(t, []string{"dm"}, ids(catalog.BackupFilter{ManualOnly: true, Statuses: []catalog.BackupStatus{catalog.BackupPending}}))
		assert.Equal(t, []string{"m1"}, ids(catalog.BackupFilter{ManualOnly: true, Limit: 1}))
		assert.Equal(t, []string{}, ids(catalog.BackupFilter{ManualOnly: true, JobID: "job"}))

		// Deleted backups stay readable by ID, with their snapshots' state.
		b := getBackup(t, s, "md")
		assert.Equal(t, catalog.BackupDeleted, b.Status)
		list, err := s.ListBackups(ctx, catalog.BackupFilter{IncludeDeleted: true, Limit: 1})
		require.NoError(t, err)
		assert.Equal(t, []catalog.Backup{b}, list)
	})
}

// Keyset pages (After) visit every backup once, in the list's order, also
// across backups created in the same millisecond and across clusters
// (whose indexes repeat), and while newer backups are added.
func TestListBackupsAfterCursorPages(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "c")
		mustCluster(t, s, "d")
		for i := 0; i < 7; i++ {
			at := t0.Add(time.Duration(i/3) * time.Second) // three share each instant
			for _, cl := range []string{"c", "d"} {
				id := fmt.Sprintf("%s%d", cl, i)
				_, _, err := s.CreateBackup(ctx, newBackup(id, cl, "", at))
				require.NoError(t, err)
			}
		}
		for _, f := range []catalog.BackupFilter{{}, {ClusterID: "c"}} {
			all, err := s.ListBackups(ctx, f)
			require.NoError(t, err)
			var want []string
			for _, b := range all {
				want = append(want, b.ID)
			}
			var got []string
			var after *catalog.BackupCursor
			for pages := 0; ; pages++ {
				require.Less(t, pages, 20, "paging ends")
				f.Limit, f.After = 2, after
				page, err := s.ListBackups(ctx, f)
				require.NoError(t, err)
				if len(page) == 0 {
					break
				}
				for _, b := range page {
					got = append(got, b.ID)
				}
				c := catalog.CursorOf(page[len(page)-1])
				after = &c
				if pages == 0 {
					// Newer than every page: never seen by this paging.
					_, _, err := s.CreateBackup(ctx, newBackup(fmt.Sprintf("new%d", len(got)), "c", "", t0.Add(time.Hour)))
					require.NoError(t, err)
				}
			}
			assert.Equal(t, want, got, "filter %+v", f)
		}
	})
}

// CountBackups counts every backup by its status, leaving out statuses
// with none.
func TestCountBackups(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		counts, err := s.CountBackups(ctx)
		require.NoError(t, err)
		assert.Empty(t, counts)
		mustCluster(t, s, "c")
		for i, st := range []catalog.BackupStatus{catalog.BackupCompleted, catalog.BackupCompleted, catalog.BackupDefunct, catalog.BackupDeleted, catalog.BackupCompleted} {
			backupIn(t, s, fmt.Sprintf("b%d", i), "", t0.Add(time.Duration(i)*time.Second), st)
		}
		counts, err = s.CountBackups(ctx)
		require.NoError(t, err)
		assert.Equal(t, map[catalog.BackupStatus]int{catalog.BackupCompleted: 3, catalog.BackupDefunct: 1, catalog.BackupDeleted: 1}, counts)
	})
}
