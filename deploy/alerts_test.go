package deploy

import (
	"context"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/template"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/stratabackup/strata/metrics"
)

// These tests evaluate the alerting rules and the dashboard's queries with
// Prometheus's own engine over synthetic scrapes of one worker: a healthy
// busy fleet fires nothing and fills every panel, a quiet or just-started
// one fires nothing, and each incident fires its alert.

// scrape is how often the synthetic worker is scraped; history is how far
// back its series go (the rules look 6h back).
const (
	scrape  = 30 * time.Second
	history = 7 * time.Hour
)

var evalTime = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// fleet is a synthetic Prometheus storage: series computed from functions
// of time, sampled every scrape interval.
type fleet struct {
	now    time.Time
	series map[string]*genSeries
}

type genSeries struct {
	lset     labels.Labels
	from, to time.Time
	value    func(t time.Time) float64
	cached   []chunks.Sample
}

func newFleet() *fleet { return &fleet{now: evalTime, series: map[string]*genSeries{}} }

func (f *fleet) start() time.Time { return f.now.Add(-history) }

// set adds (or replaces) a series of the worker from from until now.
func (f *fleet) set(name string, lbls map[string]string, from time.Time, value func(t time.Time) float64) {
	b := labels.NewBuilder(labels.EmptyLabels())
	b.Set(labels.MetricName, name)
	b.Set("instance", "strata-worker:9464")
	b.Set("job", "strata-worker")
	for k, v := range lbls {
		if v != "" {
			b.Set(k, v)
		}
	}
	ls := b.Labels()
	f.series[ls.String()] = &genSeries{lset: ls, from: from, to: f.now, value: value}
}

// drop removes the series of name matching lbls.
func (f *fleet) drop(name string, lbls map[string]string) {
	for k, s := range f.series {
		if s.lset.Get(labels.MetricName) != name {
			continue
		}
		match := true
		for l, v := range lbls {
			match = match && s.lset.Get(l) == v
		}
		if match {
			delete(f.series, k)
		}
	}
}

func (f *fleet) gauge(name string, lbls map[string]string, v float64) {
	f.set(name, lbls, f.start(), func(time.Time) float64 { return v })
}

// counter grows by perHour from 0 at the fleet's start.
func (f *fleet) counter(name string, lbls map[string]string, perHour float64) {
	f.counterFrom(name, lbls, f.start(), 0, perHour)
}

// counterFrom exists from from, at base, growing by perHour.
func (f *fleet) counterFrom(name string, lbls map[string]string, from time.Time, base, perHour float64) {
	f.set(name, lbls, from, func(t time.Time) float64 { return base + perHour*t.Sub(from).Hours() })
}

// histogram records perHour observations of value v.
func (f *fleet) histogram(name string, buckets []float64, lbls map[string]string, perHour, v float64) {
	count := func(t time.Time) float64 { return perHour * t.Sub(f.start()).Hours() }
	for _, le := range append(slices.Clone(buckets), math.Inf(1)) {
		with := copyMap(lbls)
		with["le"] = strconv.FormatFloat(le, 'f', -1, 64)
		if math.IsInf(le, 1) {
			with["le"] = "+Inf"
		}
		in := 0.0
		if v <= le {
			in = 1
		}
		f.set(name+"_bucket", with, f.start(), func(t time.Time) float64 { return in * count(t) })
	}
	f.set(name+"_count", lbls, f.start(), count)
	f.set(name+"_sum", lbls, f.start(), func(t time.Time) float64 { return v * count(t) })
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Querier implements storage.Queryable.
func (f *fleet) Querier(_, _ int64) (storage.Querier, error) {
	return &storage.MockQuerier{SelectMockFunction: func(_ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
		var out []storage.Series
		for _, s := range f.series {
			match := true
			for _, m := range ms {
				match = match && m.Matches(s.lset.Get(m.Name))
			}
			if match {
				out = append(out, storage.NewListSeries(s.lset, s.samples()))
			}
		}
		sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels(), out[j].Labels()) < 0 })
		return &seriesSet{series: out}
	}}, nil
}

// samples are the series' scrapes, computed once.
func (s *genSeries) samples() []chunks.Sample {
	if s.cached == nil {
		first := s.from.Truncate(scrape)
		if first.Before(s.from) {
			first = first.Add(scrape)
		}
		s.cached = []chunks.Sample{}
		for t := first; !t.After(s.to); t = t.Add(scrape) {
			s.cached = append(s.cached, sample{t: t.UnixMilli(), f: s.value(t)})
		}
	}
	return s.cached
}

// sample is one float sample.
type sample struct {
	t int64
	f float64
}

func (s sample) T() int64                      { return s.t }
func (s sample) F() float64                    { return s.f }
func (s sample) H() *histogram.Histogram       { return nil }
func (s sample) FH() *histogram.FloatHistogram { return nil }
func (s sample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s sample) Copy() chunks.Sample           { return s }

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i <= len(s.series) }
func (s *seriesSet) At() storage.Series                { return s.series[s.i-1] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// Label sets of the synthetic fleet.
var (
	aws    = map[string]string{"provider": "aws", "region": "us-east-1"}
	gcp    = map[string]string{"provider": "gcp", "region": "europe-west1"}
	sdkTag = map[string]string{"namespace": "default", "client_name": "temporal_go", "task_queue": "strata",
		"worker_type": "none", "workflow_type": "none", "activity_type": "none"}
)

func with(base map[string]string, kv ...string) map[string]string {
	out := copyMap(base)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// newWorker is a worker that started at from with every counter declared
// at zero (metrics.Declare) and nothing else recorded yet.
func (f *fleet) newWorker(from time.Time) {
	for _, m := range metrics.All {
		if m.Kind == metrics.Counter {
			f.counterFrom(m.Name, nil, from, 0, 0)
		}
	}
	f.set("process_start_time_seconds", nil, from, func(time.Time) float64 { return float64(from.Unix()) })
	f.set("process_cpu_seconds_total", nil, from, func(t time.Time) float64 { return 0.05 * t.Sub(from).Seconds() })
	for name, v := range map[string]float64{"go_goroutines": 150, "go_memstats_heap_inuse_bytes": 40 << 20, "process_resident_memory_bytes": 90 << 20} {
		f.set(name, nil, from, func(time.Time) float64 { return v })
	}
	for wt, n := range map[string]float64{"ActivityWorker": 1000, "WorkflowWorker": 200, "LocalActivityWorker": 1000} {
		f.set("temporal_worker_task_slots_available", with(sdkTag, "worker_type", wt), from, func(time.Time) float64 { return n })
		f.set("temporal_worker_task_slots_used", with(sdkTag, "worker_type", wt), from, func(time.Time) float64 { return 0 })
	}
	for _, pt := range []string{"workflow_task", "workflow_sticky_task", "activity_task"} {
		f.set("temporal_num_pollers", with(sdkTag, "poller_type", pt), from, func(time.Time) float64 { return 2 })
	}
}

// monitor makes the worker's fleet gauges those of a monitor run every
// 5m since from (the last at refreshed), with the given values.
func (f *fleet) monitor(from time.Time, jobs map[string]float64, rpo float64) {
	last := func(t time.Time) float64 { return float64(t.Truncate(5 * time.Minute).Unix()) }
	f.set("strata_fleet_refreshed_timestamp_seconds", nil, from, last)
	for state, n := range jobs {
		f.set("strata_jobs", map[string]string{"state": state}, from, func(time.Time) float64 { return n })
	}
	if rpo > 0 {
		f.set("strata_fleet_rpo_seconds", nil, from, func(time.Time) float64 { return rpo })
	}
	f.set("strata_wal_archive_lag_seconds", nil, from, func(time.Time) float64 { return 4 })
	f.set("strata_wal_archive_stalled_clusters", nil, from, func(time.Time) float64 { return 0 })
}

// healthy is a busy fleet doing well: a worker up for the whole history,
// ~100 backups an hour with the odd failure, some throttling, a few
// notification retries, orphans found long ago.
func healthy() *fleet {
	f := newFleet()
	f.newWorker(f.start())
	f.monitor(f.start(), map[string]float64{"fresh": 100, "stale": 0, "paused": 2}, 0)
	// The fleet RPO saw-tooths between 1h and 2h as rounds of backups end.
	f.set("strata_fleet_rpo_seconds", nil, f.start(), func(t time.Time) float64 { return 3600 + float64(t.Unix()%3600) })
	for status, n := range map[string]float64{"Completed": 5000, "Defunct": 40, "Missing": 1} {
		f.gauge("strata_backups", map[string]string{"status": status}, n)
	}

	vol := with(aws, "engine", "volume")
	pg := map[string]string{"provider": "local", "region": "local", "engine": "postgres"}
	f.counter("strata_backups_started_total", with(vol, "trigger", "scheduled"), 119)
	f.counter("strata_backups_started_total", with(pg, "trigger", "manual"), 2)
	f.counter("strata_backups_finished_total", with(vol, "status", "Completed", "reason", ""), 98)
	// 3% Defunct: more than the minimum count, under the 10% ratio.
	f.counter("strata_backups_finished_total", with(vol, "status", "Defunct", "reason", "Timeout"), 3)
	// Cancelled is a caller's choice: 20 an hour must not count as failures.
	f.counter("strata_backups_finished_total", with(vol, "status", "Defunct", "reason", "Cancelled"), 20)
	f.counter("strata_backups_finished_total", with(pg, "status", "Completed", "reason", ""), 2)
	f.histogram("strata_backup_duration_seconds", metrics.BackupDuration.Buckets, with(vol, "status", "Completed"), 98, 150)
	f.histogram("strata_backup_duration_seconds", metrics.BackupDuration.Buckets, with(vol, "status", "Defunct"), 23, 3000)
	for step, v := range map[string]float64{"lock": 0.02, "health": 0.3, "snapshot": 120, "completion": 0.04} {
		f.histogram("strata_backup_step_duration_seconds", metrics.BackupStepDuration.Buckets, with(vol, "step", step), 98, v)
	}
	f.counter("strata_snapshots_total", aws, 300)
	f.counter("strata_snapshot_bytes_total", aws, 300*100<<30)
	f.counter("strata_lock_contention_total", with(aws, "operation", "backup"), 0.5)

	f.counter("strata_restores_started_total", vol, 1)
	f.counter("strata_restores_finished_total", with(vol, "status", "Completed", "reason", ""), 1)
	f.counter("strata_restores_finished_total", with(vol, "status", "Failed", "reason", "RestoreFailed"), 0.1)
	f.histogram("strata_restore_duration_seconds", metrics.RestoreDuration.Buckets, with(vol, "status", "Completed"), 1, 900)
	f.counter("strata_deletions_started_total", nil, 90)
	f.counter("strata_deletions_finished_total", map[string]string{"status": "Deleted", "reason": ""}, 90)
	f.counter("strata_deletions_finished_total", map[string]string{"status": "Failed", "reason": "DeleteFailed"}, 0.1)
	f.histogram("strata_deletion_duration_seconds", metrics.DeletionDuration.Buckets, map[string]string{"status": "Deleted"}, 90, 20)
	f.counter("strata_prunes_started_total", nil, 100)
	f.counter("strata_prunes_finished_total", map[string]string{"status": "Completed"}, 100)
	f.counter("strata_prunes_finished_total", map[string]string{"status": "Partial"}, 0.1)
	f.counter("strata_pruned_backups_total", nil, 90)
	f.histogram("strata_prune_duration_seconds", metrics.PruneDuration.Buckets, map[string]string{"status": "Completed"}, 100, 30)

	// Three leaked snapshots found (and deleted) before the rules' 6h
	// window, and Defunct backups' snapshots cleaned up all along.
	f.counterFrom("strata_reconcile_orphans_found_total", with(aws, "owner", "unknown"), f.start(), 3, 0)
	f.counterFrom("strata_reconcile_orphans_deleted_total", with(aws, "owner", "unknown"), f.start(), 3, 0)
	f.counter("strata_reconcile_orphans_found_total", with(aws, "owner", "defunct"), 2)
	f.counter("strata_reconcile_orphans_deleted_total", with(aws, "owner", "defunct"), 2)
	f.counterFrom("strata_reconcile_missing_backups_total", nil, f.start(), 1, 0)

	// 10% of the requests throttled, but only 0.05/s: backoff absorbs it.
	for op, perSec := range map[string]float64{"CreateSnapshot": 0.1, "DescribeSnapshots": 0.34} {
		f.counter("strata_provider_api_calls_total", with(aws, "operation", op, "outcome", "ok"), perSec*3600)
	}
	f.counter("strata_provider_api_calls_total", with(aws, "operation", "CreateSnapshot", "outcome", "throttled"), 0.05*3600)
	f.counter("strata_provider_api_calls_total", with(aws, "operation", "DescribeSnapshots", "outcome", "error"), 0.01*3600)
	f.counter("strata_provider_api_throttles_total", with(aws, "operation", "CreateSnapshot"), 0.05*3600)
	f.counter("strata_provider_api_retries_total", with(aws, "operation", "CreateSnapshot"), 0.03*3600)
	f.counter("strata_notifications_total", map[string]string{"kind": "webhook", "outcome": "delivered"}, 6)
	f.counter("strata_notifications_total", map[string]string{"kind": "webhook", "outcome": "failed"}, 1)

	wf := with(sdkTag, "workflow_type", "BackupWorkflow")
	act := with(wf, "activity_type", "WaitSnapshots")
	f.histogram("temporal_activity_schedule_to_start_latency_seconds", metrics.SDKBuckets, act, 120, 0.02)
	f.histogram("temporal_workflow_task_schedule_to_start_latency_seconds", metrics.SDKBuckets, wf, 400, 0.01)
	f.histogram("temporal_activity_execution_latency_seconds", metrics.SDKBuckets, act, 120, 120)
	f.histogram("temporal_workflow_task_execution_latency_seconds", metrics.SDKBuckets, wf, 400, 0.02)
	f.counter("temporal_workflow_completed_total", wf, 118)
	f.counter("temporal_workflow_failed_total", wf, 1)
	f.counter("temporal_activity_execution_failed_total", act, 2)
	f.gauge("temporal_sticky_cache_size", wf, 80)
	f.gauge("temporal_sticky_cache_size", with(sdkTag, "workflow_type", "PruneWorkflow"), 80)
	f.gauge("temporal_worker_task_slots_available", with(sdkTag, "worker_type", "ActivityWorker"), 880)
	f.gauge("temporal_worker_task_slots_used", with(sdkTag, "worker_type", "ActivityWorker"), 120)
	return f
}

func newEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
}

func query(t *testing.T, ng *promql.Engine, f *fleet, expr string, at time.Time) promql.Vector {
	t.Helper()
	q, err := ng.NewInstantQuery(context.Background(), f, nil, expr, at)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("%s: %v", expr, res.Err)
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return v
	case promql.Scalar:
		return promql.Vector{{F: v.V}}
	}
	t.Fatalf("%s: result %T", expr, res.Value)
	return nil
}

// firing evaluates every rule as Prometheus would at f.now: an alert fires
// when its expression has had a result at every evaluation (each minute)
// through its `for`. It returns each firing alert's results there, and
// checks that their annotations expand.
func firing(t *testing.T, f *fleet) map[string]promql.Vector {
	t.Helper()
	groups, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	ng := newEngine()
	out := map[string]promql.Vector{}
	for _, r := range groups.Groups[0].Rules {
		var last promql.Vector
		fires := true
		for at := f.now.Add(-time.Duration(r.For)); !at.After(f.now); at = at.Add(time.Minute) {
			if last = query(t, ng, f, r.Expr.Value, at); len(last) == 0 {
				fires = false
				break
			}
		}
		if fires {
			out[r.Alert.Value] = last
			expandAnnotations(t, r, last)
		}
	}
	return out
}

func expandAnnotations(t *testing.T, r rulefmt.RuleNode, v promql.Vector) {
	t.Helper()
	for _, s := range v {
		lbls := s.Metric.Map()
		for k, text := range r.Annotations {
			defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
			data := template.AlertTemplateData(lbls, nil, "", s)
			exp := template.NewTemplateExpander(context.Background(), defs+text, "__alert_"+r.Alert.Value, data,
				model.Time(evalTime.UnixMilli()), nil, nil, nil)
			got, err := exp.Expand()
			if err != nil {
				t.Errorf("%s: annotation %s: %v", r.Alert.Value, k, err)
			}
			if strings.Contains(got, "<no value>") || strings.Contains(got, "NaN") {
				t.Errorf("%s: annotation %s expands to %q", r.Alert.Value, k, got)
			}
		}
	}
}

func names(m map[string]promql.Vector) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestAlertsQuietOnAHealthyFleet(t *testing.T) {
	if got := firing(t, healthy()); len(got) > 0 {
		for name, v := range got {
			t.Errorf("%s fires on a healthy fleet: %v", name, v)
		}
	}
}

func TestAlertsQuietOnAQuietFleet(t *testing.T) {
	for name, build := range map[string]func() *fleet{
		// Up 20 minutes, no job, no backup: nothing recorded but the
		// declared counters and the gauges.
		"no jobs yet": func() *fleet {
			f := newFleet()
			from := f.now.Add(-20 * time.Minute)
			f.newWorker(from)
			f.monitor(from, map[string]float64{"fresh": 0, "stale": 0, "paused": 0}, 0)
			return f
		},
		// Up 20 minutes and the monitor has not refreshed the gauges
		// yet (its first runs failed, say): not yet worth an alert.
		"monitor not run for 20m": func() *fleet {
			f := newFleet()
			f.newWorker(f.now.Add(-20 * time.Minute))
			return f
		},
		// Started 3 minutes ago: the monitor has not run yet.
		"just started": func() *fleet {
			f := newFleet()
			f.newWorker(f.now.Add(-3 * time.Minute))
			return f
		},
		// A fleet that went quiet an hour ago: no backup ended in the
		// rules' windows, so every ratio is 0/0.
		"idle for hours": func() *fleet {
			f := newFleet()
			f.newWorker(f.start())
			f.monitor(f.start(), map[string]float64{"fresh": 3}, 7200)
			f.counterFrom("strata_backups_finished_total", with(aws, "engine", "volume", "status", "Defunct", "reason", "Timeout"), f.start(), 40, 0)
			f.counterFrom("strata_notifications_total", map[string]string{"kind": "email", "outcome": "failed"}, f.start(), 9, 0)
			return f
		},
	} {
		t.Run(name, func(t *testing.T) {
			if got := firing(t, build()); len(got) > 0 {
				t.Errorf("alerts fire: %v", got)
			}
		})
	}
}

func TestAlertsFire(t *testing.T) {
	for _, c := range []struct {
		alert  string
		change func(f *fleet)
		labels map[string]string // on one of the alert's results
	}{
		{"StrataWorkerDown", func(f *fleet) { f.series = map[string]*genSeries{} }, nil},
		{"StrataBackupFailureRate", func(f *fleet) {
			f.counter("strata_backups_finished_total", with(aws, "engine", "volume", "status", "Defunct", "reason", "SnapshotFailed"), 20)
		}, aws},
		{"StrataJobsStale", func(f *fleet) { f.gauge("strata_jobs", map[string]string{"state": "stale"}, 3) }, nil},
		{"StrataFleetRPOOverBound", func(f *fleet) { f.gauge("strata_fleet_rpo_seconds", nil, 30*3600) }, nil},
		{"StrataFleetGaugesNotRefreshed", func(f *fleet) {
			stuck := float64(f.now.Add(-2 * time.Hour).Unix())
			f.set("strata_fleet_refreshed_timestamp_seconds", nil, f.start(), func(t time.Time) float64 {
				return math.Min(stuck, float64(t.Truncate(5*time.Minute).Unix()))
			})
		}, nil},
		{"StrataFleetGaugesNotRefreshed", func(f *fleet) {
			// Up for 7h and the monitor never ran.
			f.drop("strata_fleet_refreshed_timestamp_seconds", nil)
		}, nil},
		{"StrataWorkerTaskBacklog", func(f *fleet) {
			f.drop("temporal_activity_schedule_to_start_latency_seconds_bucket", nil)
			act := with(sdkTag, "workflow_type", "BackupWorkflow", "activity_type", "WaitSnapshots")
			f.histogram("temporal_activity_schedule_to_start_latency_seconds", metrics.SDKBuckets, act, 120, 90)
		}, map[string]string{"signal": "activity schedule-to-start p95"}},
		{"StrataWorkerTaskBacklog", func(f *fleet) {
			f.gauge("temporal_worker_task_slots_available", with(sdkTag, "worker_type", "ActivityWorker"), 0)
		}, map[string]string{"worker_type": "ActivityWorker", "signal": "free ActivityWorker slots"}},
		{"StrataProviderThrottling", func(f *fleet) {
			f.counter("strata_provider_api_throttles_total", with(aws, "operation", "CreateSnapshot"), 0.5*3600)
			f.counter("strata_provider_api_calls_total", with(aws, "operation", "CreateSnapshot", "outcome", "throttled"), 0.5*3600)
		}, aws},
		{"StrataReconcilerFoundOrphans", func(f *fleet) {
			// The first orphan ever found on gcp, two hours ago: a series
			// born at 1, which increase() alone cannot see.
			f.counterFrom("strata_reconcile_orphans_found_total", with(gcp, "owner", "unknown"), f.now.Add(-2*time.Hour), 1, 0)
		}, gcp},
		{"StrataReconcilerFoundOrphans", func(f *fleet) {
			found := f.now.Add(-time.Hour)
			f.set("strata_reconcile_orphans_found_total", with(aws, "owner", "deleted"), f.start(), func(t time.Time) float64 {
				if t.Before(found) {
					return 3
				}
				return 5
			})
		}, aws},
		{"StrataWALArchiveStalled", func(f *fleet) { f.gauge("strata_wal_archive_stalled_clusters", nil, 1) }, nil},
		{"StrataNotificationsFailing", func(f *fleet) {
			f.counter("strata_notifications_total", map[string]string{"kind": "email", "outcome": "delivered"}, 4)
			f.counter("strata_notifications_total", map[string]string{"kind": "email", "outcome": "failed"}, 8)
		}, map[string]string{"kind": "email"}},
		{"StrataRetentionFailing", func(f *fleet) {
			f.counter("strata_deletions_finished_total", map[string]string{"status": "Failed", "reason": "DeleteFailed"}, 2)
		}, nil},
	} {
		t.Run(c.alert, func(t *testing.T) {
			f := healthy()
			c.change(f)
			got := firing(t, f)
			v, ok := got[c.alert]
			if !ok {
				t.Fatalf("%s does not fire; firing: %v", c.alert, names(got))
			}
			if len(got) > 1 {
				t.Errorf("%s fires with %v", c.alert, names(got))
			}
			if c.labels != nil {
				found := false
				for _, s := range v {
					match := true
					for k, want := range c.labels {
						match = match && s.Metric.Get(k) == want
					}
					found = found || match
				}
				if !found {
					t.Errorf("%s fires with %v, want labels %v", c.alert, v, c.labels)
				}
			}
		})
	}
}

// Every dashboard query returns data on a busy fleet: a label or metric
// name the worker does not export would leave its panel empty.
func TestDashboardQueriesHaveData(t *testing.T) {
	f := healthy()
	ng := newEngine()
	qs, err := DashboardQueries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		v := query(t, ng, f, q.PromQL, f.now)
		finite := false
		for _, s := range v {
			finite = finite || !math.IsNaN(s.F) && !math.IsInf(s.F, 0)
		}
		if !finite {
			t.Errorf("%s: no data on a busy fleet: %s = %v", q.Source, q.PromQL, v)
		}
	}
}
