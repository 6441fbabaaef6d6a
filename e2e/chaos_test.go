package e2e

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/local"
	"github.com/stratabackup/strata/starter/strata"
)

// EnvChaosDuration lengthens the chaos test (a Go duration, e.g. "10m");
// by default it runs for chaosDefault.
const EnvChaosDuration = "STRATA_CHAOS_DURATION"

const chaosDefault = 45 * time.Second

// TestChaosWorkersKilledAtRandom: worker processes backing up, restoring,
// pruning and deleting on several clusters (snapshots and restores take a
// while) are SIGKILLed at random moments, again and again, while another
// worker process keeps running. When the load stops, every workflow
// closes, and the invariants hold: nothing Pending, InProgress or Deleting,
// no lock or hold left, every Completed backup with exactly one snapshot
// per volume that exists at the provider, every snapshot at the provider on
// some backup's record, no snapshot left of a Deleted backup.
func TestChaosWorkersKilledAtRandom(t *testing.T) {
	duration := chaosDefault
	if v := os.Getenv(EnvChaosDuration); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, EnvChaosDuration)
		duration = d
	}
	cfg := stratatest.TestConfig()
	cfg.ProgressStep = 0
	e := server.NewEnv(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), duration+5*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	t.Logf("chaos for %s", duration)

	var clusters []api.Cluster
	var jobs []string
	for i := 0; i < 4; i++ {
		cl := e.Cluster(strata.ClusterSpec{ID: fmt.Sprintf("chaos-%d", i), Nodes: 1 + i%3, VolumesPerNode: 1 + i%2})
		require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{
			SnapshotDelay: catalog.Duration(time.Duration(300+rng.IntN(900)) * time.Millisecond),
			RestoreDelay:  catalog.Duration(time.Duration(200+rng.IntN(600)) * time.Millisecond),
		}))
		clusters = append(clusters, cl)
		jobs = append(jobs, newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Retention: api.Retention{KeepLast: 2}, Paused: true}).ID)
	}
	// Every worker is a process: one survives, two are killed at random.
	e.StopWorker()
	survivor := e.StartWorkerProcess("survivor")
	var mu sync.Mutex
	victims := map[string]*stratatest.WorkerProcess{}
	for _, n := range []string{"victim-a", "victim-b"} {
		victims[n] = e.StartWorkerProcess(n)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range victims {
			_ = p.Kill()
		}
	})

	var kills, started atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the killer
		defer wg.Done()
		krng := rand.New(rand.NewPCG(rng.Uint64(), 11))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(300+krng.IntN(2500)) * time.Millisecond):
			}
			name := []string{"victim-a", "victim-b"}[krng.IntN(2)]
			mu.Lock()
			p := victims[name]
			mu.Unlock()
			if err := p.Kill(); err != nil {
				t.Errorf("kill %s: %v", name, err)
				return
			}
			kills.Add(1)
			// Back after a moment, as a supervisor restarts a crashed worker.
			time.Sleep(time.Duration(krng.IntN(1500)) * time.Millisecond)
			np, err := stratatest.StartWorkerProcess(e.ProcessConfig(name))
			if err != nil {
				t.Errorf("restart %s: %v", name, err)
				return
			}
			mu.Lock()
			victims[name] = np
			mu.Unlock()
		}
	}()

	// The load: manual backups, scheduled runs (each prunes its job),
	// restores of Completed backups, deletions of manual ones.
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		cl := clusters[rng.IntN(len(clusters))]
		switch n := rng.IntN(10); {
		case n < 4:
			if _, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID}); err == nil {
				started.Add(1)
			}
		case n < 6:
			if err := e.Strata.TriggerJob(ctx, jobs[rng.IntN(len(jobs))]); err == nil {
				started.Add(1)
			}
		case n < 8:
			if b := pick(t, e, rng, cl.ID, false); b != "" {
				if _, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b, Nodes: 1}); err == nil {
					started.Add(1)
				}
			}
		default:
			if b := pick(t, e, rng, cl.ID, true); b != "" {
				if _, err := e.Strata.DeleteBackup(ctx, b, false); err == nil {
					started.Add(1)
				}
			}
		}
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	// Every workflow closes: the surviving and restarted workers finish
	// what the killed ones left.
	// (The control workflow runs for as long as the task queue has callers,
	// a lifecycle workflow for as long as its cluster exists.)
	query := fmt.Sprintf(`TaskQueue = %q AND ExecutionStatus = "Running" AND WorkflowType != %q AND WorkflowType != %q`, e.TaskQueue, api.ControlWorkflowName, api.ClusterLifecycleWorkflowName)
	stratatest.Eventually(t, 4*time.Minute, "every workflow to close", func() bool {
		resp, err := server.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		return err == nil && resp.GetCount() == 0
	})
	checks := chaosInvariants(t, e)
	_, err := survivor.Stop()
	require.NoError(t, err, "the surviving worker stops cleanly")
	t.Logf("chaos: %d operations started (%s), %d worker kills survived, %d invariant checks held",
		started.Load(), outcomes(t, e), kills.Load(), checks)
}

// outcomes counts backups and restores by final status.
func outcomes(t *testing.T, e *stratatest.Env) string {
	t.Helper()
	ctx := context.Background()
	bs, err := e.Catalog.ListBackups(ctx, catalog.BackupFilter{IncludeDeleted: true})
	require.NoError(t, err)
	rs, err := e.Catalog.ListRestores(ctx, "")
	require.NoError(t, err)
	count := map[string]int{}
	for _, b := range bs {
		count["backups "+string(b.Status)]++
	}
	for _, r := range rs {
		count["restores "+string(r.Status)]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(count)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, count[k]))
	}
	return strings.Join(parts, ", ")
}

// pick returns a random Completed backup of a cluster (a manual one when
// manual), or "".
func pick(t *testing.T, e *stratatest.Env, rng *rand.Rand, clusterID string, manual bool) string {
	t.Helper()
	bs, err := e.Catalog.ListBackups(context.Background(), catalog.BackupFilter{ClusterID: clusterID, ManualOnly: manual,
		Statuses: []catalog.BackupStatus{catalog.BackupCompleted}, Limit: 10})
	if err != nil || len(bs) == 0 {
		return ""
	}
	return bs[rng.IntN(len(bs))].ID
}

// chaosInvariants checks the end state and returns how many checks held.
func chaosInvariants(t *testing.T, e *stratatest.Env) int {
	t.Helper()
	ctx := context.Background()
	checks := 0
	check := func(ok bool, format string, args ...any) {
		t.Helper()
		checks++
		if !ok {
			t.Errorf(format, args...)
		}
	}
	lp, err := local.New(local.Options{Root: e.Root})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lp.Close() })

	backups, err := e.Catalog.ListBackups(ctx, catalog.BackupFilter{IncludeDeleted: true})
	require.NoError(t, err)
	byID := map[string]catalog.Backup{}
	for _, b := range backups {
		byID[b.ID] = b
		check(b.Status != catalog.BackupPending && b.Status != catalog.BackupInProgress && b.Status != catalog.BackupDeleting,
			"backup %s is %s (%s %s)", b.ID, b.Status, b.Reason, b.DeletionError)
		check(len(b.Holds) == 0, "backup %s still held by %v", b.ID, b.Holds)
	}
	restores, err := e.Catalog.ListRestores(ctx, "")
	require.NoError(t, err)
	for _, r := range restores {
		check(r.Status == catalog.RestoreCompleted || r.Status == catalog.RestoreFailed, "restore %s is %s", r.ID, r.Status)
	}
	clusters, err := e.Catalog.ListClusters(ctx)
	require.NoError(t, err)
	vols := map[string]int{}
	for _, cl := range clusters {
		check(cl.Lock == nil, "cluster %s is still locked by %+v", cl.ID, cl.Lock)
		check(cl.Status != catalog.ClusterCreating, "cluster %s is still Creating", cl.ID)
		vols[cl.ID] = len(cl.Volumes())
	}

	all, err := lp.ListSnapshots(ctx, providers.SnapshotFilter{})
	require.NoError(t, err)
	atProvider := map[string]providers.Snapshot{}
	for _, s := range all {
		atProvider[s.ID] = s
		b, known := byID[s.BackupID]
		onRecord := false
		for _, rs := range b.Snapshots {
			onRecord = onRecord || rs.SnapshotID == s.ID
		}
		check(known && onRecord, "snapshot %s (backup %s) at the provider is on no backup's record", s.ID, s.BackupID)
		check(!known || b.Status != catalog.BackupDeleted, "snapshot %s of Deleted backup %s is left at the provider", s.ID, s.BackupID)
	}
	for _, b := range backups {
		if b.Status != catalog.BackupCompleted {
			continue
		}
		perVolume := map[string]int{}
		for _, s := range b.Snapshots {
			perVolume[s.VolumeID]++
			ps, ok := atProvider[s.SnapshotID]
			check(ok && ps.State == providers.StateCompleted && s.Status == catalog.SnapshotCompleted,
				"Completed backup %s: snapshot %s of volume %s is not complete at the provider", b.ID, s.SnapshotID, s.VolumeID)
		}
		check(len(perVolume) == vols[b.ClusterID], "Completed backup %s has snapshots of %d volumes, its cluster has %d", b.ID, len(perVolume), vols[b.ClusterID])
		for v, n := range perVolume {
			check(n == 1, "Completed backup %s has %d snapshots of volume %s", b.ID, n, v)
		}
	}
	return checks
}
