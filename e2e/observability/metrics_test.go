package observability

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/deploy"
	"github.com/stratabackup/strata/internal/fakeclouds"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/metrics"
	"github.com/stratabackup/strata/starter/strata"
)

// awsCluster registers a cluster of two nodes with a volume each (11 and
// 12 GB) on the AWS fake; it returns the cluster and its volume IDs there.
func awsCluster(t *testing.T, e *stratatest.Env, id string) (api.Cluster, []string) {
	t.Helper()
	req := api.RegisterClusterRequest{ID: id, Provider: "aws", Region: fakeclouds.AWSRegion}
	var vols []string
	for i := 1; i <= 2; i++ {
		v := e.Clouds.AWS.NewVolume(fakeclouds.AWSZone, 10+i)
		vols = append(vols, v)
		req.Nodes = append(req.Nodes, api.RegisterNode{ID: fmt.Sprintf("%s-n%d", id, i), Volumes: []string{v}})
	}
	cl, err := e.Strata.RegisterCluster(ctxT(t), req)
	require.NoError(t, err)
	return cl, vols
}

func defunct(t *testing.T, err error, code string) {
	t.Helper()
	var be *strata.BackupError
	require.True(t, errors.As(err, &be), "want a Defunct backup, got %v", err)
	require.Equal(t, code, be.Code, be.Reason)
}

// The scrape after a known sequence (2 Completed backups, 1 Defunct on
// Timeout, 1 Defunct on ClusterLocked, a restore, a deletion, a
// reconciliation, notifications, throttled requests) shows exactly those
// counts and histogram observations; the provider counters are the fake
// cloud's own call counts, and the fleet gauges are the catalog's.
func TestScrapeAfterKnownBackups(t *testing.T) {
	e := server.NewMetricsEnv(t, stratatest.TestConfig(), 300*time.Millisecond)
	ctx := ctxT(t)
	// The receiver refuses its first request: that delivery is counted
	// failed, and its retry (dispatched through the task queue, not
	// eagerly) delivered.
	var requests, delivered atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		delivered.Add(1)
	}))
	defer hook.Close()
	_, err := e.Strata.AddChannel(ctx, api.AddChannelRequest{ProjectID: "default", Kind: "webhook", URL: hook.URL})
	require.NoError(t, err)

	cl, _ := awsCluster(t, e, "m-db")
	// Throttled requests are retried by the SDK and counted.
	e.Clouds.AWS.ThrottleNext(3)
	var completed []api.Backup
	for range 2 {
		run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
		require.NoError(t, err)
		b, err := run.Wait(ctx)
		require.NoError(t, err)
		completed = append(completed, b)
	}

	slow, vols := awsCluster(t, e, "m-slow")
	e.Clouds.AWS.NeverComplete(vols[0])
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: slow.ID, Timeout: catalog.Duration(2 * time.Second)})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	defunct(t, err, api.ReasonTimeout)

	lock, err := e.Strata.LockCluster(ctx, cl.ID, "maintenance", time.Minute)
	require.NoError(t, err)
	run, err = e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	defunct(t, err, api.ReasonClusterLocked)
	require.NoError(t, e.Strata.UnlockCluster(ctx, cl.ID, lock.Token))

	rr, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: completed[0].ID, Nodes: 1})
	require.NoError(t, err)
	_, err = rr.Wait(ctx)
	require.NoError(t, err)
	_, err = e.Strata.DeleteBackup(ctx, completed[1].ID, true)
	require.NoError(t, err)
	rec, err := e.Strata.Reconcile(ctx, new(time.Nanosecond), false)
	require.NoError(t, err)
	require.NotEmpty(t, rec.Plan.Orphans, "the Defunct backups' snapshots are orphans")

	job, err := e.Strata.CreateJob(ctx, strata.JobSpec{ClusterID: cl.ID, Every: time.Hour, Retention: api.Retention{KeepLast: 3}})
	require.NoError(t, err)
	pruned, err := e.Strata.PruneJob(ctx, job.ID)
	require.NoError(t, err)
	require.Empty(t, pruned.Failed)
	_, err = e.Strata.Monitor(ctx, api.MonitorRequest{FreshnessMultiple: 2})
	require.NoError(t, err)

	// Each Defunct backup notified the channel; deliveries are
	// asynchronous, so wait until the count is the receiver's.
	var s scrape
	stratatest.Eventually(t, time.Minute, "the Defunct notifications delivered and counted", func() bool {
		s = scrapeOf(t, e)
		n := s.value(metrics.Notifications.Name, map[string]string{"kind": "webhook", "outcome": "delivered"})
		return n >= 2 && n == float64(delivered.Load())
	})
	aws := map[string]string{"provider": "aws", "region": fakeclouds.AWSRegion, "engine": api.EngineVolume}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range aws {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	// Backups: counts by outcome, durations, steps.
	assert.EqualValues(t, 4, s.value(metrics.BackupsStarted.Name, with("trigger", "manual")))
	assert.EqualValues(t, 2, s.value(metrics.BackupsFinished.Name, with("status", "Completed", "reason", "")))
	assert.EqualValues(t, 1, s.value(metrics.BackupsFinished.Name, with("status", "Defunct", "reason", api.ReasonTimeout)))
	assert.EqualValues(t, 1, s.value(metrics.BackupsFinished.Name, with("status", "Defunct", "reason", api.ReasonClusterLocked)))
	assert.EqualValues(t, 4, s.value(metrics.BackupsFinished.Name, nil), "no other backup ended")
	assert.EqualValues(t, 2, s.count(metrics.BackupDuration.Name, with("status", "Completed")))
	assert.EqualValues(t, 2, s.count(metrics.BackupDuration.Name, with("status", "Defunct")))
	// The locked backup never got the lock; the timed-out one never
	// finished snapshotting.
	for step, n := range map[string]uint64{"lock": 3, "health": 3, "snapshot": 2, "completion": 2} {
		assert.EqualValues(t, n, s.count(metrics.BackupStepDuration.Name, with("step", step)), "step %s", step)
	}
	assert.EqualValues(t, 1, s.value(metrics.LockContention.Name, map[string]string{"provider": "aws", "operation": "backup"}))
	assert.EqualValues(t, 4, s.value(metrics.Snapshots.Name, map[string]string{"provider": "aws"}))
	assert.EqualValues(t, 2*(11+12)<<30, s.value(metrics.SnapshotBytes.Name, map[string]string{"provider": "aws"}))

	// Restores, deletions, reconciliation.
	assert.EqualValues(t, 1, s.value(metrics.RestoresStarted.Name, aws))
	assert.EqualValues(t, 1, s.value(metrics.RestoresFinished.Name, with("status", "Completed")))
	assert.EqualValues(t, 1, s.count(metrics.RestoreDuration.Name, with("status", "Completed")))
	assert.EqualValues(t, 1, s.value(metrics.DeletionsStarted.Name, nil))
	assert.EqualValues(t, 1, s.value(metrics.DeletionsFinished.Name, map[string]string{"status": "Deleted"}))
	assert.EqualValues(t, 1, s.count(metrics.DeletionDuration.Name, map[string]string{"status": "Deleted"}))
	assert.EqualValues(t, 1, s.value(metrics.PrunesStarted.Name, nil))
	assert.EqualValues(t, 1, s.value(metrics.PrunesFinished.Name, map[string]string{"status": "Completed"}))
	assert.EqualValues(t, 1, s.count(metrics.PruneDuration.Name, map[string]string{"status": "Completed"}))
	assert.EqualValues(t, len(pruned.Deleted), s.value(metrics.PrunedBackups.Name, nil))
	assert.EqualValues(t, len(rec.Plan.Orphans), s.value(metrics.ReconcileOrphansFound.Name, map[string]string{"provider": "aws"}))
	assert.EqualValues(t, len(rec.Plan.Orphans), s.value(metrics.ReconcileOrphansDeleted.Name, map[string]string{"provider": "aws"}))
	assert.EqualValues(t, len(rec.Plan.Orphans), s.value(metrics.ReconcileOrphansFound.Name, map[string]string{"provider": "aws", "owner": api.OrphanOfDefunct}),
		"the orphans are the Defunct backups' snapshots")

	// Provider requests: the fake's own count of each EC2 action, and the
	// throttles it answered.
	for provider, calls := range map[string]map[string]int{"aws": e.Clouds.AWS.Calls(), "gcp": e.Clouds.GCP.Calls()} {
		require.NotEmpty(t, calls, provider)
		for op, n := range calls {
			assert.EqualValues(t, n, s.value(metrics.ProviderCalls.Name, map[string]string{"provider": provider, "operation": op}), "%s %s", provider, op)
		}
		for op := range s.labelValues(metrics.ProviderCalls.Name, "operation") {
			if s.value(metrics.ProviderCalls.Name, map[string]string{"provider": provider, "operation": op}) > 0 {
				_, ok := calls[op]
				assert.True(t, ok, "the worker counted %s %s requests the fake never saw", provider, op)
			}
		}
	}
	assert.EqualValues(t, 3, s.value(metrics.ProviderThrottles.Name, map[string]string{"provider": "aws"}))
	assert.EqualValues(t, 3, s.value(metrics.ProviderCalls.Name, map[string]string{"provider": "aws", "outcome": "throttled"}))
	assert.GreaterOrEqual(t, s.value(metrics.ProviderRetries.Name, map[string]string{"provider": "aws"}), 1.0)

	assert.EqualValues(t, 1, s.value(metrics.Notifications.Name, map[string]string{"kind": "webhook", "outcome": "failed"}))

	// Fleet gauges: the catalog's.
	counts, err := e.Catalog.CountBackups(ctx)
	require.NoError(t, err)
	total := 0
	for st, n := range counts {
		total += n
		assert.EqualValues(t, n, s.value(metrics.FleetBackups.Name, map[string]string{"status": string(st)}), "backups %s", st)
	}
	assert.EqualValues(t, total, s.value(metrics.FleetBackups.Name, nil))
	jobs, err := e.Catalog.ListJobs(ctx, "")
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	state := metrics.JobFresh
	if jobs[0].Monitor.Stale {
		state = metrics.JobStale
	}
	assert.EqualValues(t, 1, s.value(metrics.FleetJobs.Name, map[string]string{"state": state}))
	assert.EqualValues(t, 1, s.value(metrics.FleetJobs.Name, nil))
	// The job has no Completed backup of its own: its recovery point is
	// its creation.
	rpo := s.value(metrics.FleetRPO.Name, nil)
	assert.Greater(t, rpo, 0.0)
	assert.LessOrEqual(t, rpo, time.Since(jobs[0].CreatedAt).Seconds()+1)
	assert.InDelta(t, float64(time.Now().Unix()), s.value(metrics.FleetRefreshed.Name, nil), 120)

	// The SDK's worker metrics come through the same handler.
	for _, name := range []string{
		"temporal_worker_task_slots_available", "temporal_num_pollers", "temporal_sticky_cache_size",
		"temporal_workflow_task_schedule_to_start_latency_seconds", "temporal_activity_execution_latency_seconds",
		"temporal_activity_schedule_to_start_latency_seconds",
	} {
		assert.True(t, s.has(name), "the scrape has %s", name)
	}

	// Every metric the shipped dashboard and alert rules name is in this
	// real scrape.
	names, err := deploy.MetricNames()
	require.NoError(t, err)
	require.NotEmpty(t, names)
	for _, name := range names {
		assert.True(t, s.has(name), "deploy/ names %s, which the worker's scrape does not have", name)
	}

	// Labels stay bounded: no cluster, backup or job ID anywhere.
	for name, f := range s {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, id := range []string{cl.ID, slow.ID, completed[0].ID, jobs[0].ID} {
					assert.NotContains(t, l.GetValue(), id, "%s{%s}", name, l.GetName())
				}
			}
		}
	}
}
