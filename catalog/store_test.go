package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
)

// The contract suite: every test runs against SQLite and (when
// STRATA_TEST_POSTGRES_DSN is set) Postgres.

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func testCluster(id string) catalog.Cluster {
	return catalog.Cluster{
		ID:           id,
		Description:  "cluster " + id,
		Provider:     "local",
		Region:       "eu-west-1",
		Engine:       api.EngineVolume,
		ProjectID:    "proj-" + id,
		NetworkID:    "net-" + id,
		Status:       catalog.ClusterRunning,
		CreatedAt:    t0,
		ClusterPower: catalog.ClusterPower{Power: api.PowerRunning},
		Nodes: []catalog.Node{
			// IDs deliberately out of alphabetical order: ordinal order wins.
			{ID: id + "-n2", Healthy: true, ReplicationLagSeconds: ptr(0.0), Volumes: []catalog.Volume{
				{ID: id + "-n2-vb", NodeID: id + "-n2", SizeGB: 10, Path: "/data/" + id + "/n2/b", Zone: "z1"},
				{ID: id + "-n2-va", NodeID: id + "-n2", SizeGB: 20, Path: "/data/" + id + "/n2/a", Zone: "z1"},
			}},
			{ID: id + "-n1", Healthy: true, Volumes: []catalog.Volume{
				{ID: id + "-n1-v", NodeID: id + "-n1", SizeGB: 30, Path: "/data/" + id + "/n1", Zone: "z2"},
			}},
			{ID: id + "-n3", Healthy: false, Volumes: []catalog.Volume{}},
		},
	}
}

func mustCluster(t *testing.T, s catalog.Store, id string) catalog.Cluster {
	t.Helper()
	c := testCluster(id)
	require.NoError(t, s.CreateCluster(context.Background(), c))
	return c
}

func label(i int64) (string, error) { return fmt.Sprintf("backup-%03d", i), nil }

func newBackup(id, cluster, job string, at time.Time) catalog.NewBackup {
	return catalog.NewBackup{ID: id, ClusterID: cluster, JobID: job, RequestID: "req-" + id, WorkflowID: "wf-" + id, CreatedAt: at, Label: label}
}

func requireNotFound(t *testing.T, err error, kind, id string) {
	t.Helper()
	var nf *catalog.NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, kind, nf.Kind)
	assert.Equal(t, id, nf.ID)
	assert.True(t, catalog.IsNotFound(err))
}

func TestClusters(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		want := mustCluster(t, s, "c2")
		mustCluster(t, s, "c1")

		got, err := s.GetCluster(ctx, "c2")
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Nil(t, got.Lock)
		assert.Equal(t, []string{"c2-n2-vb", "c2-n2-va", "c2-n1-v"}, volumeIDs(got.Volumes()))

		list, err := s.ListClusters(ctx)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, "c1", list[0].ID)
		assert.Equal(t, testCluster("c1"), list[0])
		assert.Equal(t, want, list[1])

		err = s.CreateCluster(ctx, testCluster("c1"))
		assert.ErrorIs(t, err, catalog.ErrExists)

		_, err = s.GetCluster(ctx, "nope")
		requireNotFound(t, err, "cluster", "nope")
	})
}

func TestClusterDefaults(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := catalogtest.NewClock(t0)
		s := catalogtest.Open(t, dsn, catalog.WithClock(clock.Now))

		list, err := s.ListClusters(ctx)
		require.NoError(t, err)
		assert.Empty(t, list)

		require.NoError(t, s.CreateCluster(ctx, catalog.Cluster{ID: "bare"}))
		c, err := s.GetCluster(ctx, "bare")
		require.NoError(t, err)
		assert.Equal(t, t0, c.CreatedAt)
		assert.Equal(t, catalog.ClusterRunning, c.Status, "an empty status is stored as Running")
		assert.NotNil(t, c.Nodes)
		assert.Empty(t, c.Nodes)

		assert.Error(t, s.CreateCluster(ctx, catalog.Cluster{}))
		// A failed insert leaves nothing behind.
		bad := testCluster("bad")
		bad.Nodes[1].ID = bad.Nodes[0].ID
		assert.Error(t, s.CreateCluster(ctx, bad))
		_, err = s.GetCluster(ctx, "bad")
		requireNotFound(t, err, "cluster", "bad")
	})
}

func volumeIDs(vs []catalog.Volume) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

func TestNodeHealth(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "c")

		require.NoError(t, s.SetNodeHealth(ctx, "c", "c-n1", false, ptr(12.5)))
		require.NoError(t, s.SetNodeHealth(ctx, "c", "c-n2", true, nil))
		require.NoError(t, s.SetNodeHealth(ctx, "c", "c-n3", true, ptr(0.25)))

		c, err := s.GetCluster(ctx, "c")
		require.NoError(t, err)
		byID := map[string]catalog.Node{}
		for _, n := range c.Nodes {
			byID[n.ID] = n
		}
		assert.False(t, byID["c-n1"].Healthy)
		assert.Equal(t, ptr(12.5), byID["c-n1"].ReplicationLagSeconds)
		assert.True(t, byID["c-n2"].Healthy)
		assert.Nil(t, byID["c-n2"].ReplicationLagSeconds)
		assert.True(t, byID["c-n3"].Healthy)
		assert.Equal(t, ptr(0.25), byID["c-n3"].ReplicationLagSeconds)
		// Volumes are untouched.
		assert.Equal(t, testCluster("c").Volumes(), c.Volumes())

		requireNotFound(t, s.SetNodeHealth(ctx, "c", "ghost", true, nil), "node", "ghost")
		requireNotFound(t, s.SetNodeHealth(ctx, "nope", "c-n1", true, nil), "cluster", "nope")
	})
}

// postgresCluster is a postgres-engine cluster: a primary and two
// replicas, one volume each, every node with its server's endpoint.
func postgresCluster(id string) catalog.Cluster {
	c := catalog.Cluster{
		ID: id, Description: "pg " + id, Provider: "local", Region: "local", Engine: api.EnginePostgres,
		ProjectID: "default", NetworkID: "default", Status: catalog.ClusterRunning, CreatedAt: t0,
		ClusterPower: catalog.ClusterPower{Power: api.PowerRunning},
	}
	for i, role := range []string{api.NodePrimary, api.NodeReplica, api.NodeReplica} {
		n := catalog.Node{ID: fmt.Sprintf("%s-n%d", id, i+1), Healthy: true, Role: role, Endpoint: fmt.Sprintf("127.0.0.1:%d", 54320+i)}
		if role == api.NodeReplica {
			n.ReplicationLagSeconds = ptr(0.5)
		}
		n.Volumes = []catalog.Volume{{ID: n.ID + "-v1", NodeID: n.ID, SizeGB: 10, Path: "/data/" + n.ID + "-v1"}}
		c.Nodes = append(c.Nodes, n)
	}
	return c
}

// TestClusterEngine: a postgres cluster's engine, node roles and endpoints
// round-trip; a cluster recorded without an engine reads as a volume one;
// SetNodeStatus sets health, lag and role and nothing else.
func TestClusterEngine(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		pg := postgresCluster("pg")
		require.NoError(t, s.CreateCluster(ctx, pg))
		old := testCluster("old")
		old.Engine = ""
		require.NoError(t, s.CreateCluster(ctx, old))

		got, err := s.GetCluster(ctx, "pg")
		require.NoError(t, err)
		assert.Equal(t, pg, got)
		assert.Equal(t, api.EnginePostgres, got.Engine)
		assert.Equal(t, []string{api.NodePrimary, api.NodeReplica, api.NodeReplica}, []string{got.Nodes[0].Role, got.Nodes[1].Role, got.Nodes[2].Role})
		assert.Equal(t, "127.0.0.1:54321", got.Nodes[1].Endpoint)

		got, err = s.GetCluster(ctx, "old")
		require.NoError(t, err)
		assert.Equal(t, api.EngineVolume, got.Engine, "an empty engine is stored as volume")
		for _, n := range got.Nodes {
			assert.Empty(t, n.Role, n.ID)
			assert.Empty(t, n.Endpoint, n.ID)
		}

		list, err := s.ListClusters(ctx)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, testCluster("old"), list[0])
		assert.Equal(t, pg, list[1])

		// A failover: the old primary is down, a replica took over.
		require.NoError(t, s.SetNodeStatus(ctx, "pg", "pg-n1", false, nil, api.NodeReplica))
		require.NoError(t, s.SetNodeStatus(ctx, "pg", "pg-n2", true, nil, api.NodePrimary))
		require.NoError(t, s.SetNodeStatus(ctx, "pg", "pg-n3", true, ptr(2.25), api.NodeReplica))
		want := postgresCluster("pg")
		want.Nodes[0].Healthy, want.Nodes[0].Role = false, api.NodeReplica
		want.Nodes[1].ReplicationLagSeconds, want.Nodes[1].Role = nil, api.NodePrimary
		want.Nodes[2].ReplicationLagSeconds = ptr(2.25)
		got, err = s.GetCluster(ctx, "pg")
		require.NoError(t, err)
		assert.Equal(t, want, got, "endpoints and volumes are untouched")

		// SetNodeHealth leaves the role alone.
		require.NoError(t, s.SetNodeHealth(ctx, "pg", "pg-n1", true, ptr(1.0)))
		got, err = s.GetCluster(ctx, "pg")
		require.NoError(t, err)
		assert.Equal(t, api.NodeReplica, got.Nodes[0].Role)
		assert.True(t, got.Nodes[0].Healthy)

		// An empty role clears it.
		require.NoError(t, s.SetNodeStatus(ctx, "old", "old-n1", false, ptr(3.0), ""))
		got, err = s.GetCluster(ctx, "old")
		require.NoError(t, err)
		assert.False(t, got.Nodes[1].Healthy)
		assert.Equal(t, ptr(3.0), got.Nodes[1].ReplicationLagSeconds)
		assert.Empty(t, got.Nodes[1].Role)

		requireNotFound(t, s.SetNodeStatus(ctx, "pg", "ghost", true, nil, api.NodeReplica), "node", "ghost")
		requireNotFound(t, s.SetNodeStatus(ctx, "nope", "pg-n1", true, nil, api.NodePrimary), "cluster", "nope")
		requireNotFound(t, s.SetNodeStatus(ctx, "old", "pg-n1", true, nil, api.NodePrimary), "node", "pg-n1")
	})
}

func TestFaults(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "c")
		mustCluster(t, s, "d")

		f, err := s.GetFaults(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, catalog.Faults{}, f)

		want := catalog.Faults{SnapshotDelay: catalog.Duration(90 * time.Second), SnapshotFail: true, SnapshotHang: true,
			RestoreDelay: catalog.Duration(2 * time.Minute), RestoreFail: true}
		require.NoError(t, s.SetFaults(ctx, "c", want))
		f, err = s.GetFaults(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, want, f)

		f, err = s.GetFaults(ctx, "d")
		require.NoError(t, err)
		assert.Equal(t, catalog.Faults{}, f, "faults are per cluster")

		// The restore faults alone round-trip too.
		onlyRestore := catalog.Faults{RestoreDelay: catalog.Duration(1500 * time.Millisecond), RestoreFail: true}
		require.NoError(t, s.SetFaults(ctx, "d", onlyRestore))
		f, err = s.GetFaults(ctx, "d")
		require.NoError(t, err)
		assert.Equal(t, onlyRestore, f)

		require.NoError(t, s.SetFaults(ctx, "c", catalog.Faults{}))
		f, err = s.GetFaults(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, catalog.Faults{}, f)

		_, err = s.GetFaults(ctx, "nope")
		requireNotFound(t, err, "cluster", "nope")
		requireNotFound(t, s.SetFaults(ctx, "nope", want), "cluster", "nope")
	})
}

// lockStore opens a catalog with a settable clock and one cluster "c".
func lockStore(t *testing.T, dsn string) (catalog.Store, *catalogtest.Clock) {
	clock := catalogtest.NewClock(t0)
	s := catalogtest.Open(t, dsn, catalog.WithClock(clock.Now))
	mustCluster(t, s, "c")
	return s, clock
}

func TestLockAcquireAndContend(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, clock := lockStore(t, dsn)

		l, err := s.AcquireLock(ctx, "c", "alice", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, catalog.Lock{Holder: "alice", Token: 1, AcquiredAt: t0, ExpiresAt: t0.Add(time.Minute)}, l)

		clock.Advance(10 * time.Second)
		_, err = s.AcquireLock(ctx, "c", "bob", time.Hour)
		var le *catalog.LockedError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, "c", le.ClusterID)
		assert.Equal(t, "alice", le.Holder)
		assert.Equal(t, t0.Add(time.Minute), le.ExpiresAt)

		got, err := s.GetLock(ctx, "c")
		require.NoError(t, err)
		require.NotNil(t, got)
		assert.Equal(t, l, *got, "the other holder's lease is untouched")

		c, err := s.GetCluster(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, &l, c.Lock)
		list, err := s.ListClusters(ctx)
		require.NoError(t, err)
		assert.Equal(t, &l, list[0].Lock)

		_, err = s.AcquireLock(ctx, "nope", "alice", time.Minute)
		requireNotFound(t, err, "cluster", "nope")
		_, err = s.GetLock(ctx, "nope")
		requireNotFound(t, err, "cluster", "nope")
	})
}

func TestLockReentrant(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, clock := lockStore(t, dsn)

		l1, err := s.AcquireLock(ctx, "c", "alice", time.Minute)
		require.NoError(t, err)
		clock.Advance(50 * time.Second)
		l2, err := s.AcquireLock(ctx, "c", "alice", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, l1.Token, l2.Token, "a retried acquire keeps the token")
		assert.Equal(t, l1.AcquiredAt, l2.AcquiredAt)
		assert.Equal(t, t0.Add(110*time.Second), l2.ExpiresAt, "and extends the lease")

		clock.Advance(30 * time.Second) // past l1's expiry, within l2's
		got, err := s.GetLock(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, &l2, got)
	})
}

func TestLockRenewRelease(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, clock := lockStore(t, dsn)

		l, err := s.AcquireLock(ctx, "c", "alice", time.Minute)
		require.NoError(t, err)

		clock.Advance(45 * time.Second)
		r, err := s.RenewLock(ctx, "c", l.Token, 2*time.Minute)
		require.NoError(t, err)
		assert.Equal(t, catalog.Lock{Holder: "alice", Token: l.Token, AcquiredAt: t0, ExpiresAt: t0.Add(45*time.Second + 2*time.Minute)}, r)

		_, err = s.RenewLock(ctx, "c", l.Token+1, time.Minute)
		assert.ErrorIs(t, err, catalog.ErrLockLost)
		_, err = s.RenewLock(ctx, "nope", l.Token, time.Minute)
		assert.ErrorIs(t, err, catalog.ErrLockLost)

		// A release with a wrong token frees nothing.
		require.NoError(t, s.ReleaseLock(ctx, "c", l.Token+7))
		got, err := s.GetLock(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, &r, got)

		require.NoError(t, s.ReleaseLock(ctx, "c", l.Token))
		got, err = s.GetLock(ctx, "c")
		require.NoError(t, err)
		assert.Nil(t, got)
		require.NoError(t, s.ReleaseLock(ctx, "c", l.Token), "repeated release is a no-op")
		require.NoError(t, s.ReleaseLock(ctx, "nope", 1))

		_, err = s.RenewLock(ctx, "c", l.Token, time.Minute)
		assert.ErrorIs(t, err, catalog.ErrLockLost)

		// Re-acquiring after release, even by the same holder, takes a new token.
		l2, err := s.AcquireLock(ctx, "c", "alice", time.Minute)
		require.NoError(t, err)
		assert.Greater(t, l2.Token, l.Token)
	})
}

func TestLockExpiryAndFencing(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, clock := lockStore(t, dsn)

		a, err := s.AcquireLock(ctx, "c", "alice", 30*time.Second)
		require.NoError(t, err)

		clock.Advance(30 * time.Second) // expires_at is exclusive
		got, err := s.GetLock(ctx, "c")
		require.NoError(t, err)
		assert.Nil(t, got, "an expired lease is no lock")
		c, err := s.GetCluster(ctx, "c")
		require.NoError(t, err)
		assert.Nil(t, c.Lock)
		_, err = s.RenewLock(ctx, "c", a.Token, time.Minute)
		assert.ErrorIs(t, err, catalog.ErrLockLost, "an expired lease cannot be renewed")

		b, err := s.AcquireLock(ctx, "c", "bob", time.Minute)
		require.NoError(t, err)
		assert.Greater(t, b.Token, a.Token)

		// Alice's stale release and renew must not touch Bob's lease.
		require.NoError(t, s.ReleaseLock(ctx, "c", a.Token))
		_, err = s.RenewLock(ctx, "c", a.Token, time.Minute)
		assert.ErrorIs(t, err, catalog.ErrLockLost)
		got, err = s.GetLock(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, &b, got)
		_, err = s.AcquireLock(ctx, "c", "alice", time.Minute)
		var le *catalog.LockedError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, "bob", le.Holder)

		// An expired lease re-acquired by its own holder gets a new token.
		clock.Advance(2 * time.Minute)
		b2, err := s.AcquireLock(ctx, "c", "bob", time.Minute)
		require.NoError(t, err)
		assert.Greater(t, b2.Token, b.Token)
		assert.Equal(t, clock.Now(), b2.AcquiredAt)

		// Tokens strictly increase across many acquisitions, never reused.
		last := b2.Token
		require.NoError(t, s.ReleaseLock(ctx, "c", b2.Token))
		for i := 0; i < 5; i++ {
			l, err := s.AcquireLock(ctx, "c", fmt.Sprintf("h%d", i), time.Minute)
			require.NoError(t, err)
			assert.Equal(t, last+1, l.Token)
			last = l.Token
			if i%2 == 0 {
				require.NoError(t, s.ReleaseLock(ctx, "c", l.Token))
			} else {
				clock.Advance(time.Minute)
			}
		}
	})
}

func TestLockTokensPerCluster(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "a")
		mustCluster(t, s, "b")
		la, err := s.AcquireLock(ctx, "a", "w", time.Minute)
		require.NoError(t, err)
		lb, err := s.AcquireLock(ctx, "b", "w", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, int64(1), la.Token)
		assert.Equal(t, int64(1), lb.Token)
		require.NoError(t, s.ReleaseLock(ctx, "a", lb.Token+1), "other cluster's token")
		got, err := s.GetLock(ctx, "b")
		require.NoError(t, err)
		assert.NotNil(t, got)
	})
}

func TestLockRace(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "c")
		const n = 20
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []catalog.Lock
			holders []string
			errs    []error
		)
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				l, err := s.AcquireLock(ctx, "c", fmt.Sprintf("worker-%02d", i), time.Minute)
				mu.Lock()
				defer mu.Unlock()
				var le *catalog.LockedError
				switch {
				case err == nil:
					winners = append(winners, l)
				case errors.As(err, &le):
					holders = append(holders, le.Holder)
				default:
					errs = append(errs, err)
				}
			}(i)
		}
		close(start)
		wg.Wait()
		require.Empty(t, errs)
		require.Len(t, winners, 1, "exactly one acquire wins")
		assert.Equal(t, int64(1), winners[0].Token)
		require.Len(t, holders, n-1)
		for _, h := range holders {
			assert.Equal(t, winners[0].Holder, h)
		}
		got, err := s.GetLock(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, &winners[0], got)
	})
}

func TestCreateBackupIndexes(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := catalogtest.NewClock(t0)
		s := catalogtest.Open(t, dsn, catalog.WithClock(clock.Now))
		mustCluster(t, s, "a")
		mustCluster(t, s, "b")

		for i := int64(1); i <= 3; i++ {
			b, created, err := s.CreateBackup(ctx, newBackup(fmt.Sprintf("a%d", i), "a", "job1", t0.Add(time.Duration(i)*time.Second)))
			require.NoError(t, err)
			assert.True(t, created)
			assert.Equal(t, i, b.Index)
			assert.Equal(t, fmt.Sprintf("backup-%03d", i), b.Label)
		}
		b1, created, err := s.CreateBackup(ctx, newBackup("b1", "b", "", time.Time{}))
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, int64(1), b1.Index, "indexes are per cluster")
		assert.Equal(t, t0, b1.CreatedAt, "CreatedAt defaults to the clock")

		want := catalog.Backup{
			ID: "a2", ClusterID: "a", JobID: "job1", Label: "backup-002", Index: 2, Status: catalog.BackupPending,
			Snapshots: []catalog.Snapshot{}, CreatedAt: t0.Add(2 * time.Second), WorkflowID: "wf-a2", RequestID: "req-a2",
		}
		got, err := s.GetBackup(ctx, "a2")
		require.NoError(t, err)
		assert.Equal(t, want, got)

		// Idempotent by ID: no new index, label func not called, nothing changes.
		retry := newBackup("a2", "a", "other-job", t0.Add(time.Hour))
		retry.Label = func(int64) (string, error) { t.Error("label called on retry"); return "", nil }
		got, created, err = s.CreateBackup(ctx, retry)
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, want, got)

		b4, created, err := s.CreateBackup(ctx, newBackup("a4", "a", "", t0))
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, int64(4), b4.Index)

		_, _, err = s.CreateBackup(ctx, newBackup("x", "nope", "", t0))
		requireNotFound(t, err, "cluster", "nope")
		_, err = s.GetBackup(ctx, "nope")
		requireNotFound(t, err, "backup", "nope")
	})
}

func TestCreateBackupLabelError(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "c")
		boom := errors.New("label template broken")
		nb := newBackup("bk", "c", "", t0)
		var seen int64
		nb.Label = func(i int64) (string, error) { seen = i; return "", boom }
		_, created, err := s.CreateBackup(ctx, nb)
		assert.Same(t, boom, err, "the label error is returned unchanged")
		assert.False(t, created)
		assert.Equal(t, int64(1), seen)

		_, err = s.GetBackup(ctx, "bk")
		requireNotFound(t, err, "backup", "bk")
		list, err := s.ListBackups(ctx, catalog.BackupFilter{})
		require.NoError(t, err)
		assert.Empty(t, list)

		b, created, err := s.CreateBackup(ctx, newBackup("bk", "c", "", t0))
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, int64(1), b.Index, "the failed create consumed no index")
	})
}

func TestCreateBackupConcurrent(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "c")
		const n = 20
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			indexes []int64
		)
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				b, created, err := s.CreateBackup(ctx, newBackup(fmt.Sprintf("bk-%02d", i), "c", "", t0))
				assert.NoError(t, err)
				assert.True(t, created)
				mu.Lock()
				indexes = append(indexes, b.Index)
				mu.Unlock()
			}(i)
		}
		close(start)
		wg.Wait()
		sort.Slice(indexes, func(i, j int) bool { return indexes[i] < indexes[j] })
		want := make([]int64, n)
		for i := range want {
			want[i] = int64(i + 1)
		}
		assert.Equal(t, want, indexes, "distinct consecutive indexes")

		// Concurrent creates of one ID: one creates, all see the same backup.
		var (
			createdCount int
			seen         = map[int64]bool{}
		)
		start = make(chan struct{})
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				b, created, err := s.CreateBackup(ctx, newBackup("same", "c", "", t0))
				assert.NoError(t, err)
				mu.Lock()
				defer mu.Unlock()
				if created {
					createdCount++
				}
				seen[b.Index] = true
			}()
		}
		close(start)
		wg.Wait()
		assert.Equal(t, 1, createdCount)
		assert.Equal(t, map[int64]bool{n + 1: true}, seen)
		b, _, err := s.CreateBackup(ctx, newBackup("next", "c", "", t0))
		require.NoError(t, err)
		assert.Equal(t, int64(n+2), b.Index)
	})
}

func TestTransitions(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := catalogtest.NewClock(t0)
		s := catalogtest.Open(t, dsn, catalog.WithClock(clock.Now))
		mustCluster(t, s, "c")
		_, _, err := s.CreateBackup(ctx, newBackup("bk", "c", "", t0))
		require.NoError(t, err)

		deadline := t0.Add(time.Hour)
		start := catalog.Transition{
			To: catalog.BackupInProgress, From: []catalog.BackupStatus{catalog.BackupPending},
			At: t0.Add(time.Second), Deadline: &deadline, PreferredNodeID: "c-n2", Reason: "started",
		}
		b, err := s.TransitionBackup(ctx, "bk", start)
		require.NoError(t, err)
		assert.Equal(t, catalog.BackupInProgress, b.Status)
		assert.Equal(t, ptr(t0.Add(time.Second)), b.StartedAt)
		assert.Nil(t, b.CompletedAt)
		assert.Equal(t, &deadline, b.Deadline)
		assert.Equal(t, "c-n2", b.PreferredNodeID)
		assert.Equal(t, "started", b.Reason)

		// Retrying the same transition is a no-op that succeeds.
		again := start
		again.At = t0.Add(time.Minute)
		again.Reason = "ignored"
		b2, err := s.TransitionBackup(ctx, "bk", again)
		require.NoError(t, err)
		assert.Equal(t, b, b2)

		// A same-status transition still records a later deadline (an
		// extended backup), and nothing else.
		later := t0.Add(2 * time.Hour)
		b2, err = s.TransitionBackup(ctx, "bk", catalog.Transition{To: catalog.BackupInProgress, Deadline: &later, Reason: "ignored"})
		require.NoError(t, err)
		assert.Equal(t, &later, b2.Deadline)
		assert.Equal(t, b.StartedAt, b2.StartedAt)
		assert.Equal(t, "started", b2.Reason)
		deadline = later

		// An empty reason keeps the recorded one; At defaults to the clock.
		clock.Advance(5 * time.Minute)
		b, err = s.TransitionBackup(ctx, "bk", catalog.Transition{
			To: catalog.BackupCompleted, From: []catalog.BackupStatus{catalog.BackupInProgress},
		})
		require.NoError(t, err)
		assert.Equal(t, catalog.BackupCompleted, b.Status)
		assert.Equal(t, ptr(t0.Add(5*time.Minute)), b.CompletedAt)
		assert.Equal(t, ptr(t0.Add(time.Second)), b.StartedAt)
		assert.Equal(t, "started", b.Reason)
		assert.Equal(t, &deadline, b.Deadline)

		_, err = s.TransitionBackup(ctx, "bk", catalog.Transition{
			To: catalog.BackupInProgress, From: []catalog.BackupStatus{catalog.BackupPending},
		})
		var te *catalog.TransitionError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, catalog.TransitionError{BackupID: "bk", From: catalog.BackupCompleted, To: catalog.BackupInProgress}, *te)
		got, err := s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, b, got, "a refused transition changes nothing")

		// Pending -> Defunct records the reason and completion time.
		_, _, err = s.CreateBackup(ctx, newBackup("bk2", "c", "", t0))
		require.NoError(t, err)
		d, err := s.TransitionBackup(ctx, "bk2", catalog.Transition{
			To: catalog.BackupDefunct, From: []catalog.BackupStatus{catalog.BackupPending, catalog.BackupInProgress},
			Reason: "snapshot failed", At: t0.Add(time.Hour),
		})
		require.NoError(t, err)
		assert.Equal(t, catalog.BackupDefunct, d.Status)
		assert.Equal(t, "snapshot failed", d.Reason)
		assert.Nil(t, d.StartedAt)
		assert.Equal(t, ptr(t0.Add(time.Hour)), d.CompletedAt)
		assert.True(t, d.Status.Terminal())

		_, err = s.TransitionBackup(ctx, "ghost", start)
		requireNotFound(t, err, "backup", "ghost")
		_, err = s.TransitionBackup(ctx, "bk2", catalog.Transition{To: "Bogus"})
		assert.Error(t, err)
	})
}

func TestSnapshots(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "c")
		_, _, err := s.CreateBackup(ctx, newBackup("bk", "c", "", t0))
		require.NoError(t, err)

		// Inserted out of order; read back in the cluster's node/volume order.
		snaps := []catalog.Snapshot{
			{NodeID: "c-n1", VolumeID: "c-n1-v", Status: catalog.SnapshotPending},
			{NodeID: "c-n2", VolumeID: "c-n2-va", SnapshotID: "snap-a", Status: catalog.SnapshotPending, Progress: 10},
			{NodeID: "c-n2", VolumeID: "c-n2-vb", SnapshotID: "snap-b", Status: catalog.SnapshotCompleted, Progress: 100, SizeGB: 10},
		}
		require.NoError(t, s.UpsertSnapshots(ctx, "bk", snaps, nil))
		b, err := s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, []catalog.Snapshot{snaps[2], snaps[1], snaps[0]}, b.Snapshots)

		update := []catalog.Snapshot{
			{NodeID: "c-n1", VolumeID: "c-n1-v", SnapshotID: "snap-1", Status: catalog.SnapshotFailed, Progress: 40, Error: "disk gone"},
			{NodeID: "c-n2", VolumeID: "c-n2-va", SnapshotID: "snap-a", Status: catalog.SnapshotCompleted, Progress: 100, SizeGB: 20},
		}
		require.NoError(t, s.UpsertSnapshots(ctx, "bk", update, nil))
		b, err = s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, []catalog.Snapshot{snaps[2], update[1], update[0]}, b.Snapshots)

		// An unknown volume sorts last; an empty status is Pending.
		require.NoError(t, s.UpsertSnapshots(ctx, "bk", []catalog.Snapshot{{NodeID: "x", VolumeID: "extra"}}, nil))
		b, err = s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		require.Len(t, b.Snapshots, 4)
		assert.Equal(t, catalog.Snapshot{NodeID: "x", VolumeID: "extra", Status: catalog.SnapshotPending}, b.Snapshots[3])

		require.NoError(t, s.UpsertSnapshots(ctx, "bk", nil, nil))
		requireNotFound(t, s.UpsertSnapshots(ctx, "ghost", snaps, nil), "backup", "ghost")
		assert.Error(t, s.UpsertSnapshots(ctx, "bk", []catalog.Snapshot{{NodeID: "c-n1"}}, nil))
	})
}

func TestListBackups(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "a")
		mustCluster(t, s, "b")
		create := func(id, cluster, job string, at time.Duration) {
			t.Helper()
			_, _, err := s.CreateBackup(ctx, newBackup(id, cluster, job, t0.Add(at)))
			require.NoError(t, err)
		}
		create("a1", "a", "j1", 1*time.Second)
		create("a2", "a", "j1", 2*time.Second)
		create("a3", "a", "j2", 2*time.Second) // same time as a2: higher index first
		create("b1", "b", "j1", 3*time.Second)
		create("b2", "b", "", 0) // oldest
		_, err := s.TransitionBackup(ctx, "a2", catalog.Transition{To: catalog.BackupInProgress, From: []catalog.BackupStatus{catalog.BackupPending}})
		require.NoError(t, err)
		_, err = s.TransitionBackup(ctx, "b1", catalog.Transition{To: catalog.BackupCompleted, From: []catalog.BackupStatus{catalog.BackupPending}})
		require.NoError(t, err)
		require.NoError(t, s.UpsertSnapshots(ctx, "a2", []catalog.Snapshot{{NodeID: "a-n1", VolumeID: "a-n1-v", Status: catalog.SnapshotPending}}, nil))
		require.NoError(t, s.UpsertSnapshots(ctx, "b2", []catalog.Snapshot{
			{NodeID: "b-n1", VolumeID: "b-n1-v", Status: catalog.SnapshotPending},
			{NodeID: "b-n2", VolumeID: "b-n2-va", Status: catalog.SnapshotPending},
		}, nil))

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
		assert.Equal(t, []string{"b1", "a3", "a2", "a1", "b2"}, ids(catalog.BackupFilter{}))
		assert.Equal(t, []string{"a3", "a2", "a1"}, ids(catalog.BackupFilter{ClusterID: "a"}))
		assert.Equal(t, []string{"b1", "a2", "a1"}, ids(catalog.BackupFilter{JobID: "j1"}))
		assert.Equal(t, []string{"a2", "a1"}, ids(catalog.BackupFilter{ClusterID: "a", JobID: "j1"}))
		assert.Equal(t, []string{"a3", "a1", "b2"}, ids(catalog.BackupFilter{Statuses: []catalog.BackupStatus{catalog.BackupPending}}))
		assert.Equal(t, []string{"b1", "a2"}, ids(catalog.BackupFilter{Statuses: []catalog.BackupStatus{catalog.BackupInProgress, catalog.BackupCompleted}}))
		assert.Equal(t, []string{"b1", "a3"}, ids(catalog.BackupFilter{Limit: 2}))
		assert.Equal(t, []string{"a2"}, ids(catalog.BackupFilter{ClusterID: "a", Limit: 1, Statuses: []catalog.BackupStatus{catalog.BackupInProgress}}))
		assert.Equal(t, []string{}, ids(catalog.BackupFilter{ClusterID: "nope"}))
		assert.Equal(t, []string{"b1", "a1"}, ids(catalog.BackupFilter{IDs: []string{"a1", "b1", "unknown"}}), "by ID, newest first")
		assert.Equal(t, []string{"a1"}, ids(catalog.BackupFilter{IDs: []string{"a1", "b1"}, ClusterID: "a"}))
		_, err = s.ListBackups(ctx, catalog.BackupFilter{IDs: make([]string, catalog.MaxFilterIDs+1)})
		assert.ErrorContains(t, err, "at most 1000")

		// Snapshots come with the list, also across a limit.
		list, err := s.ListBackups(ctx, catalog.BackupFilter{})
		require.NoError(t, err)
		snapCount := map[string]int{}
		for _, b := range list {
			assert.NotNil(t, b.Snapshots)
			snapCount[b.ID] = len(b.Snapshots)
		}
		assert.Equal(t, map[string]int{"b1": 0, "a3": 0, "a2": 1, "a1": 0, "b2": 2}, snapCount)
		assert.Equal(t, []string{"b-n2-va", "b-n1-v"}, []string{list[4].Snapshots[0].VolumeID, list[4].Snapshots[1].VolumeID})
		list, err = s.ListBackups(ctx, catalog.BackupFilter{Limit: 3})
		require.NoError(t, err)
		require.Len(t, list, 3)
		assert.Len(t, list[2].Snapshots, 1)
		one, err := s.GetBackup(ctx, "a2")
		require.NoError(t, err)
		assert.Equal(t, one, list[2])
	})
}

// TestTwoStoresOneDatabase simulates the worker and the CLI: two stores
// opened at once on one database, both working concurrently.
func TestTwoStoresOneDatabase(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		stores := make([]catalog.Store, 2)
		var wg sync.WaitGroup
		for i := range stores {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				s, err := catalog.Open(ctx, dsn)
				if !assert.NoError(t, err) {
					return
				}
				t.Cleanup(func() { s.Close() })
				stores[i] = s
			}(i)
		}
		wg.Wait()
		require.NotNil(t, stores[0])
		require.NotNil(t, stores[1])
		w, cli := stores[0], stores[1]

		require.NoError(t, w.CreateCluster(ctx, testCluster("c")))
		c, err := cli.GetCluster(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, "c", c.ID)

		l, err := w.AcquireLock(ctx, "c", "worker", time.Minute)
		require.NoError(t, err)
		_, err = cli.AcquireLock(ctx, "c", "cli", time.Minute)
		var le *catalog.LockedError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, "worker", le.Holder)
		require.NoError(t, cli.ReleaseLock(ctx, "c", l.Token))
		got, err := w.GetLock(ctx, "c")
		require.NoError(t, err)
		assert.Nil(t, got)

		const perStore = 10
		var (
			mu      sync.Mutex
			indexes = map[int64]bool{}
		)
		for i, s := range stores {
			for j := 0; j < perStore; j++ {
				wg.Add(1)
				go func(s catalog.Store, id string) {
					defer wg.Done()
					b, created, err := s.CreateBackup(ctx, newBackup(id, "c", "", t0))
					if assert.NoError(t, err) {
						assert.True(t, created)
						mu.Lock()
						indexes[b.Index] = true
						mu.Unlock()
					}
					_, err = s.TransitionBackup(ctx, id, catalog.Transition{To: catalog.BackupInProgress, From: []catalog.BackupStatus{catalog.BackupPending}})
					assert.NoError(t, err)
					assert.NoError(t, s.UpsertSnapshots(ctx, id, []catalog.Snapshot{{NodeID: "c-n1", VolumeID: "c-n1-v"}}, nil))
				}(s, fmt.Sprintf("s%d-%d", i, j))
			}
		}
		wg.Wait()
		assert.Len(t, indexes, 2*perStore)
		for i := int64(1); i <= 2*perStore; i++ {
			assert.True(t, indexes[i], "index %d", i)
		}
		list, err := cli.ListBackups(ctx, catalog.BackupFilter{ClusterID: "c", Statuses: []catalog.BackupStatus{catalog.BackupInProgress}})
		require.NoError(t, err)
		assert.Len(t, list, 2*perStore)
	})
}

const (
	helperDSNEnv = "STRATA_CATALOG_TEST_HELPER_DSN"
	helperIDEnv  = "STRATA_CATALOG_TEST_HELPER_ID"
	perProcess   = 15
)

// TestMultiProcess runs three processes (this one and two children running
// TestHelperProcess) that open one fresh database at the same time, then
// create backups and contend for the cluster lock.
func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		var cmds []*exec.Cmd
		for i := 1; i <= 2; i++ {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperDSNEnv+"="+dsn, helperIDEnv+"="+strconv.Itoa(i))
			require.NoError(t, cmd.Start())
			cmds = append(cmds, cmd)
		}
		s := catalogtest.Open(t, dsn)
		require.NoError(t, s.CreateCluster(ctx, testCluster("c")))
		helperWork(t, s, 0)
		for _, cmd := range cmds {
			require.NoError(t, cmd.Wait(), "helper process failed")
		}
		list, err := s.ListBackups(ctx, catalog.BackupFilter{ClusterID: "c"})
		require.NoError(t, err)
		require.Len(t, list, 3*perProcess)
		for i, b := range list {
			assert.Equal(t, int64(3*perProcess-i), b.Index)
		}
	})
}

// helperWork creates backups and takes and releases the cluster lock.
func helperWork(t testing.TB, s catalog.Store, id int) {
	ctx := context.Background()
	holder := fmt.Sprintf("proc-%d", id)
	for j := 0; j < perProcess; j++ {
		_, created, err := s.CreateBackup(ctx, newBackup(fmt.Sprintf("p%d-%d", id, j), "c", "", t0))
		require.NoError(t, err)
		require.True(t, created)
		l, err := s.AcquireLock(ctx, "c", holder, time.Minute)
		var le *catalog.LockedError
		if errors.As(err, &le) {
			require.NotEqual(t, holder, le.Holder)
			continue
		}
		require.NoError(t, err)
		require.NoError(t, s.ReleaseLock(ctx, "c", l.Token))
	}
}

func TestHelperProcess(t *testing.T) {
	dsn := os.Getenv(helperDSNEnv)
	if dsn == "" {
		t.Skip("helper process for TestMultiProcess")
	}
	id, err := strconv.Atoi(os.Getenv(helperIDEnv))
	require.NoError(t, err)
	s := catalogtest.Open(t, dsn)
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := s.GetCluster(context.Background(), "c")
		if err == nil {
			break
		}
		require.True(t, catalog.IsNotFound(err), "%v", err)
		require.True(t, time.Now().Before(deadline), "cluster never created")
		time.Sleep(5 * time.Millisecond)
	}
	helperWork(t, s, id)
}

func TestFencedWrites(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, clock := lockStore(t, dsn)
		_, _, err := s.CreateBackup(ctx, newBackup("bk", "c", "", t0))
		require.NoError(t, err)
		a, err := s.AcquireLock(ctx, "c", "backup bk", 30*time.Second)
		require.NoError(t, err)
		fence := &catalog.Fence{ClusterID: "c", Token: a.Token, TTL: time.Minute}
		snap := []catalog.Snapshot{{NodeID: "c-n1", VolumeID: "c-n1-v", SnapshotID: "s1"}}

		// While the lease holds, fenced writes land and extend it.
		clock.Advance(20 * time.Second)
		_, err = s.TransitionBackup(ctx, "bk", catalog.Transition{To: catalog.BackupInProgress, From: []catalog.BackupStatus{catalog.BackupPending}, Fence: fence})
		require.NoError(t, err)
		require.NoError(t, s.UpsertSnapshots(ctx, "bk", snap, fence))
		l, err := s.GetLock(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, clock.Now().Add(time.Minute), l.ExpiresAt, "a fenced write extends the lease")

		// The lease lapses and someone else takes the lock: every fenced
		// write of the old holder fails, and changes nothing.
		clock.Advance(2 * time.Minute)
		_, err = s.AcquireLock(ctx, "c", "resize", time.Hour)
		require.NoError(t, err)
		err = s.UpsertSnapshots(ctx, "bk", []catalog.Snapshot{{NodeID: "c-n1", VolumeID: "c-n1-v", SnapshotID: "s1", Status: catalog.SnapshotCompleted}}, fence)
		assert.ErrorIs(t, err, catalog.ErrLockLost)
		_, err = s.TransitionBackup(ctx, "bk", catalog.Transition{To: catalog.BackupCompleted, From: []catalog.BackupStatus{catalog.BackupInProgress}, Fence: fence})
		assert.ErrorIs(t, err, catalog.ErrLockLost)
		b, err := s.GetBackup(ctx, "bk")
		require.NoError(t, err)
		assert.Equal(t, catalog.BackupInProgress, b.Status)
		assert.Equal(t, catalog.SnapshotPending, b.Snapshots[0].Status)

		// An expired lease nobody took is lost too: its holder may no
		// longer assume it excludes anyone.
		r, err := s.GetLock(ctx, "c")
		require.NoError(t, err)
		require.NoError(t, s.ReleaseLock(ctx, "c", r.Token))
		a2, err := s.AcquireLock(ctx, "c", "backup bk", 30*time.Second)
		require.NoError(t, err)
		clock.Advance(30 * time.Second)
		err = s.UpsertSnapshots(ctx, "bk", snap, &catalog.Fence{ClusterID: "c", Token: a2.Token, TTL: time.Minute})
		assert.ErrorIs(t, err, catalog.ErrLockLost)

		// No fence (nil, or token 0 from an activity scheduled before
		// fencing) writes as before.
		require.NoError(t, s.UpsertSnapshots(ctx, "bk", snap, nil))
		require.NoError(t, s.UpsertSnapshots(ctx, "bk", snap, &catalog.Fence{ClusterID: "c"}))
	})
}

func TestReleaseOutsideLock(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, clock := lockStore(t, dsn)
		assert.ErrorContains(t, s.ReleaseOutsideLock(ctx, "c", 1), "not locked")
		requireNotFound(t, s.ReleaseOutsideLock(ctx, "nope", 1), "cluster", "nope")

		// A backup's lock is released only by the backup.
		b, err := s.AcquireLock(ctx, "c", "backup bk-0123456789ab", time.Minute)
		require.NoError(t, err)
		var op *catalog.OperationLockError
		require.ErrorAs(t, s.ReleaseOutsideLock(ctx, "c", b.Token), &op)
		assert.Equal(t, "backup bk-0123456789ab", op.Holder)
		got, err := s.GetLock(ctx, "c")
		require.NoError(t, err)
		assert.Equal(t, &b, got, "still held")
		require.NoError(t, s.ReleaseLock(ctx, "c", b.Token))

		// An outside lock is released by its current token only.
		o, err := s.AcquireLock(ctx, "c", "resize", time.Minute)
		require.NoError(t, err)
		assert.ErrorContains(t, s.ReleaseOutsideLock(ctx, "c", o.Token+1), "not the current lock")
		require.NoError(t, s.ReleaseOutsideLock(ctx, "c", o.Token))
		got, err = s.GetLock(ctx, "c")
		require.NoError(t, err)
		assert.Nil(t, got)

		// An expired one is no lock to release.
		o, err = s.AcquireLock(ctx, "c", "resize", time.Minute)
		require.NoError(t, err)
		clock.Advance(time.Minute)
		assert.ErrorContains(t, s.ReleaseOutsideLock(ctx, "c", o.Token), "not locked")
	})
}

func TestVolumeBelongsToOneLiveCluster(t *testing.T) {
	catalogtest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := catalogtest.Open(t, dsn)
		cloud := func(id, status string, refs ...string) catalog.Cluster {
			c := catalog.Cluster{ID: id, Provider: "aws", Region: "us-east-1", Status: catalog.ClusterStatus(status)}
			n := catalog.Node{ID: id + "-n1", Healthy: true}
			for i, r := range refs {
				n.Volumes = append(n.Volumes, catalog.Volume{ID: fmt.Sprintf("%s-v%d", n.ID, i+1), NodeID: n.ID, SizeGB: 1, Path: r})
			}
			c.Nodes = []catalog.Node{n}
			return c
		}
		require.NoError(t, s.CreateCluster(ctx, cloud("orders", "Running", "vol-0aaa", "vol-0bbb")))
		var inUse *catalog.VolumeInUseError
		require.ErrorAs(t, s.CreateCluster(ctx, cloud("thief", "Running", "vol-0ccc", "vol-0bbb")), &inUse)
		assert.Equal(t, catalog.VolumeInUseError{Ref: "vol-0bbb", ClusterID: "orders"}, *inUse)
		_, err := s.GetCluster(ctx, "thief")
		requireNotFound(t, err, "cluster", "thief")

		// Another provider's reference of the same text is another volume,
		// and a Failed cluster (a torn-down restore) holds nothing.
		c := cloud("elsewhere", "Running", "vol-0bbb")
		c.Provider = "gcp"
		require.NoError(t, s.CreateCluster(ctx, c))
		require.NoError(t, s.CreateCluster(ctx, cloud("failed", "Failed", "vol-0ddd")))
		require.NoError(t, s.CreateCluster(ctx, cloud("reuse", "Running", "vol-0ddd")))
	})
}
