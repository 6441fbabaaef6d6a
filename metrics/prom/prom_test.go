package prom_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
	"github.com/stratabackup/strata/metrics"
	"github.com/stratabackup/strata/metrics/prom"
)

func scrape(t testing.TB, e *prom.Exporter) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(e.HTTP())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// What the handler records comes out under the names metrics.All gives,
// with help text, histograms in the metric's buckets; every counter is
// there at zero from the start, the fleet gauges only once read.
func TestExportedNamesKindsAndHelp(t *testing.T) {
	e, err := prom.New(nil)
	require.NoError(t, err)
	defer e.Close()
	fams := scrape(t, e)
	for _, m := range metrics.All {
		f, ok := fams[m.Name]
		if m.Kind == metrics.Counter {
			require.True(t, ok, "%s is declared at zero", m.Name)
			assert.Equal(t, dto.MetricType_COUNTER, f.GetType(), m.Name)
			assert.Equal(t, m.Help, f.GetHelp(), m.Name)
		}
		if m.Kind == metrics.Gauge {
			assert.False(t, ok, "%s is not shown before the monitor read it", m.Name)
		}
	}

	h := e.Handler()
	tags := metrics.Tags{metrics.LabelProvider: "aws", metrics.LabelRegion: "r1", metrics.LabelEngine: "volume", metrics.LabelStatus: "Completed"}
	metrics.Inc(h, metrics.BackupsFinished, tags, 2)
	metrics.Observe(h, metrics.BackupDuration, tags, 90*time.Second)
	h.WithTags(map[string]string{"task_queue": "q"}).Timer("temporal_workflow_task_schedule_to_start_latency").Record(3 * time.Millisecond)
	e.Fleet.SetJobs(time.Unix(1000, 0), map[string]int{metrics.JobFresh: 7, metrics.JobStale: 2}, time.Hour, true)
	e.Fleet.SetBackups(time.Unix(1001, 0), map[string]int{"Completed": 40, "Defunct": 3})

	fams = scrape(t, e)
	f := fams[metrics.BackupsFinished.Name]
	var got float64
	for _, m := range f.GetMetric() {
		got += m.GetCounter().GetValue()
	}
	assert.EqualValues(t, 2, got)
	d := fams[metrics.BackupDuration.Name]
	require.NotNil(t, d)
	assert.Equal(t, dto.MetricType_HISTOGRAM, d.GetType())
	hist := d.GetMetric()[0].GetHistogram()
	assert.EqualValues(t, 1, hist.GetSampleCount())
	assert.EqualValues(t, 90, hist.GetSampleSum())
	buckets := hist.GetBucket()
	require.Len(t, buckets, len(metrics.BackupDuration.Buckets)+1, "the metric's buckets and +Inf")
	for i, b := range buckets[:len(buckets)-1] {
		want := uint64(0)
		if b.GetUpperBound() >= 90 {
			want = 1
		}
		assert.Equal(t, metrics.BackupDuration.Buckets[i], b.GetUpperBound())
		assert.Equal(t, want, b.GetCumulativeCount(), "le=%g", b.GetUpperBound())
	}
	sdk := fams["temporal_workflow_task_schedule_to_start_latency_seconds"]
	require.NotNil(t, sdk, "the SDK's latencies are in seconds")
	assert.Len(t, sdk.GetMetric()[0].GetHistogram().GetBucket(), len(metrics.SDKBuckets)+1)

	jobs := map[string]float64{}
	for _, m := range fams[metrics.FleetJobs.Name].GetMetric() {
		jobs[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	assert.Equal(t, map[string]float64{"fresh": 7, "stale": 2, "paused": 0}, jobs)
	assert.EqualValues(t, 3600, fams[metrics.FleetRPO.Name].GetMetric()[0].GetGauge().GetValue())
	assert.EqualValues(t, 1001, fams[metrics.FleetRefreshed.Name].GetMetric()[0].GetGauge().GetValue())
	_, ok := fams[metrics.FleetArchiveLag.Name]
	assert.False(t, ok, "no archive was read")
}

// A reason code outside Strata's own becomes "Other".
func TestReasonLabelIsBounded(t *testing.T) {
	assert.Equal(t, "Timeout", metrics.Reason("Timeout"))
	assert.Equal(t, "", metrics.Reason(""))
	assert.Equal(t, "Other", metrics.Reason("SomeLibraryError"))
}

// Serve answers /metrics on the address it was given and stops with its
// context.
func TestServe(t *testing.T) {
	e, err := prom.New(nil)
	require.NoError(t, err)
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := e.Serve(ctx, "127.0.0.1:0", nil)
	require.NoError(t, err)
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), metrics.BackupsStarted.Name)
	cancel()
	require.Eventually(t, func() bool {
		_, err := http.Get("http://" + addr.String() + "/metrics")
		return err != nil
	}, 10*time.Second, 20*time.Millisecond, "the listener closes with its context")
}

// BenchmarkScrape times one /metrics scrape after the monitor read a fleet
// of 100 and of 10,000 jobs: the fleet gauges are its last reading, so a
// scrape costs the same at both sizes. The SDK and Strata series are those
// of a busy worker: every workflow and activity type, every step and
// outcome, recorded.
func BenchmarkScrape(b *testing.B) {
	for _, jobs := range []int{100, 10000} {
		b.Run(fmt.Sprintf("jobs=%d", jobs), func(b *testing.B) {
			e, err := prom.New(nil)
			require.NoError(b, err)
			defer e.Close()
			cat := seedJobs(b, jobs)
			start := time.Now()
			mon := &activities.Monitor{Catalog: cat, Fleet: e.Fleet}
			_, err = mon.CheckJobs(context.Background(), activities.CheckJobsInput{Now: time.Now(), FreshnessMultiple: 2})
			require.NoError(b, err)
			monitor := time.Since(start)
			busyWorker(e)
			srv := httptest.NewServer(e.HTTP())
			defer srv.Close()
			b.ResetTimer()
			var n int64
			for b.Loop() {
				resp, err := http.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				m, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n = m
			}
			b.ReportMetric(float64(n), "bytes/scrape")
			b.ReportMetric(monitor.Seconds(), "monitor-run-s")
			fams := scrape(b, e)
			var total float64
			for _, m := range fams[metrics.FleetJobs.Name].GetMetric() {
				total += m.GetGauge().GetValue()
			}
			if int(total) != jobs {
				b.Fatalf("strata_jobs sums to %v, want %d", total, jobs)
			}
		})
	}
}

// busyWorker records the series a worker running every kind of operation
// has: SDK metrics per workflow and activity type, Strata's per provider,
// step, status and reason.
func busyWorker(e *prom.Exporter) {
	h := e.Handler()
	for _, wt := range []string{"BackupWorkflow", "RestoreWorkflow", "DeleteBackupWorkflow", "PruneWorkflow", "ReconcileWorkflow", "MonitorWorkflow", "ClusterLifecycleWorkflow", "ControlWorkflow"} {
		for _, at := range []string{"StartSnapshots", "WaitSnapshots", "AcquireLock", "CheckHealth", "CompleteBackup", "MarkDefunct", "Deliver", "CheckJobs"} {
			ah := h.WithTags(map[string]string{"namespace": "default", "task_queue": "strata", "workflow_type": wt, "activity_type": at})
			ah.Timer("temporal_activity_execution_latency").Record(time.Second)
			ah.Timer("temporal_activity_schedule_to_start_latency").Record(time.Millisecond)
			ah.Counter("temporal_activity_execution_failed").Inc(1)
		}
		wh := h.WithTags(map[string]string{"namespace": "default", "task_queue": "strata", "workflow_type": wt})
		wh.Timer("temporal_workflow_task_execution_latency").Record(time.Millisecond)
		wh.Counter("temporal_workflow_completed").Inc(1)
	}
	for _, p := range []string{"aws", "gcp", "local"} {
		for _, r := range []string{"r1", "r2", "r3"} {
			tags := metrics.Tags{metrics.LabelProvider: p, metrics.LabelRegion: r, metrics.LabelEngine: "volume"}
			for _, step := range []string{"lock", "health", "snapshot", "completion"} {
				metrics.Observe(h, metrics.BackupStepDuration, withTag(tags, metrics.LabelStep, step), time.Second)
			}
			for _, reason := range []string{"", "Timeout", "ClusterLocked", "SnapshotFailed", "ProviderError"} {
				st := "Defunct"
				if reason == "" {
					st = "Completed"
				}
				metrics.Inc(h, metrics.BackupsFinished, withTag(withTag(tags, metrics.LabelStatus, st), metrics.LabelReason, reason), 1)
				metrics.Observe(h, metrics.BackupDuration, withTag(tags, metrics.LabelStatus, st), time.Minute)
			}
			calls := metrics.NewAPICalls(h, p, r)
			for _, op := range []string{"CreateSnapshot", "DescribeSnapshots", "DeleteSnapshot", "CreateVolume", "DescribeVolumes", "CreateTags"} {
				calls.APICall(op, metrics.OutcomeOK, false)
				calls.APICall(op, metrics.OutcomeThrottled, true)
			}
		}
	}
}

func withTag(t metrics.Tags, k, v string) metrics.Tags {
	out := metrics.Tags{k: v}
	for a, b := range t {
		out[a] = b
	}
	return out
}

// seedJobs is a SQLite catalog of n hourly jobs over n/100 clusters (at
// least one), with no backups.
func seedJobs(b *testing.B, n int) catalog.Store {
	b.Helper()
	ctx := context.Background()
	cat := catalogtest.Open(b, catalogtest.SQLiteDSN(b))
	now := time.Now().Add(-30 * time.Minute)
	clusters := max(1, n/100)
	for c := range clusters {
		id := fmt.Sprintf("c%05d", c)
		require.NoError(b, cat.CreateCluster(ctx, catalog.Cluster{ID: id, Provider: "local", Status: catalog.ClusterRunning, CreatedAt: now,
			Nodes: []catalog.Node{{ID: id + "-n1", Healthy: true, Volumes: []catalog.Volume{{ID: id + "-v", NodeID: id + "-n1", SizeGB: 1}}}}}))
	}
	for j := range n {
		id := fmt.Sprintf("j%05d", j)
		require.NoError(b, cat.CreateJob(ctx, catalog.Job{ID: id, ClusterID: fmt.Sprintf("c%05d", j%clusters), ScheduleID: "sched-" + id,
			Every: catalog.Duration(time.Hour), Retention: catalog.Retention{KeepLast: 1}, CreatedAt: now, UpdatedAt: now,
			Paused: strings.HasSuffix(id, "7")}))
	}
	return cat
}

// A worker that stopped running the monitor stops serving its old
// reading once it is older than MaxAge.
func TestOldFleetReadingsAreLeftOut(t *testing.T) {
	e, err := prom.New(nil)
	require.NoError(t, err)
	defer e.Close()
	e.Fleet.MaxAge = time.Minute
	e.Fleet.SetJobs(time.Now().Add(-2*time.Minute), map[string]int{metrics.JobStale: 3}, time.Hour, true)
	e.Fleet.SetBackups(time.Now(), map[string]int{"Completed": 1})
	fams := scrape(t, e)
	_, ok := fams[metrics.FleetJobs.Name]
	assert.False(t, ok, "the jobs reading is too old")
	_, ok = fams[metrics.FleetRPO.Name]
	assert.False(t, ok)
	require.NotNil(t, fams[metrics.FleetBackups.Name], "the backups reading is fresh")
	assert.InDelta(t, float64(time.Now().Unix()), fams[metrics.FleetRefreshed.Name].GetMetric()[0].GetGauge().GetValue(), 5)
}

// BenchmarkRecord times what a backup's workflow pays per metric event: a
// counter and a histogram observation with a backup's labels.
func BenchmarkRecord(b *testing.B) {
	e, err := prom.New(nil)
	require.NoError(b, err)
	defer e.Close()
	h := e.Handler().WithTags(map[string]string{"namespace": "default", "task_queue": "strata", "workflow_type": "BackupWorkflow"})
	tags := metrics.Tags{metrics.LabelProvider: "aws", metrics.LabelRegion: "us-east-1", metrics.LabelEngine: "volume", metrics.LabelStatus: "Completed", metrics.LabelReason: ""}
	b.ReportAllocs()
	for b.Loop() {
		metrics.Inc(h, metrics.BackupsFinished, tags, 1)
		metrics.Observe(h, metrics.BackupDuration, tags, time.Minute)
	}
}

// Every outcome's series is there at zero before its first event, so
// that increase() sees the first one.
func TestDeclareOutcomes(t *testing.T) {
	e, err := prom.New(nil)
	require.NoError(t, err)
	defer e.Close()
	tags := metrics.Tags{metrics.LabelProvider: "aws", metrics.LabelRegion: "r1", metrics.LabelEngine: "volume"}
	metrics.DeclareOutcomes(e.Handler(), metrics.BackupsFinished, tags, "Completed", "Defunct")
	seen := map[string]float64{}
	for _, m := range scrape(t, e)[metrics.BackupsFinished.Name].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		if l["provider"] == "aws" {
			seen[l["status"]+"/"+l["reason"]] = m.GetCounter().GetValue()
		}
	}
	assert.Equal(t, 0.0, seen["Completed/"])
	assert.Equal(t, 0.0, seen["Defunct/Timeout"])
	assert.Contains(t, seen, "Defunct/ClusterLocked")
	assert.NotContains(t, seen, "Completed/Timeout")
}
