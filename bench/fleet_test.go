package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
	"github.com/stratabackup/strata/internal/localfaults"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/providers/local"
	"github.com/stratabackup/strata/starter/strata"
	"github.com/stratabackup/strata/workflows"
)

var (
	fleetClusters = flag.Int("fleet.clusters", 10000, "BenchmarkFleet: clusters, each with one hourly job")
	fleetNodes    = flag.Int("fleet.nodes", 1, "BenchmarkFleet: nodes per cluster")
	fleetVolumes  = flag.Int("fleet.volumes", 1, "BenchmarkFleet: volumes per node")
	fleetInFlight = flag.Int("fleet.inflight", 32, "BenchmarkFleet: concurrent calls when creating clusters and jobs, triggering and deleting")
	fleetSticky   = flag.Int("fleet.sticky", 0, "BenchmarkFleet: worker sticky cache size (0: workflows.DefaultStickyCacheSize)")
	fleetWFTSlots = flag.Int("fleet.wftslots", 0, "BenchmarkFleet: worker workflow-task slots (0: the default)")
	fleetActSlots = flag.Int("fleet.actslots", 0, "BenchmarkFleet: worker activity slots (0: the default)")
	fleetWindow   = flag.Int("fleet.window", 0, "BenchmarkFleet: at most this many backups triggered and not yet completed (0: trigger all at once, as the top of the hour would)")
	fleetDeadline = flag.Duration("fleet.deadline", 45*time.Minute, "BenchmarkFleet: how long the triggered hour may take")
)

// fleetSection heads the fleet figures in the report.
const fleetSection = "Fleet (one worker process, hourly jobs as Temporal Schedules, local provider)"

// fleetRSSTarget is the target for the worker's peak RSS.
const fleetRSSTarget = 500 << 20

// fleetConfig is the production configuration but for the poll interval,
// as in benchConfig; 200 ms rather than 50 ms because ten thousand backups
// polling every 50 ms would measure the poll loop rather than the fleet.
func fleetConfig() activities.Config {
	c := activities.DefaultConfig()
	c.PollInterval = 200 * time.Millisecond
	return c
}

// BenchmarkFleet: -fleet.clusters clusters (of -fleet.nodes nodes ×
// -fleet.volumes volumes, 4 KiB of data per volume), each with an hourly
// job (keep last 3) registered as a Temporal Schedule, served by ONE
// worker process running the production worker options. The hour is
// compressed: every schedule is triggered at once (as they would all fire
// at the top of the hour with offset 0) and the benchmark waits until every
// scheduled backup, and the prune each runs as a child, has completed. It
// reports the worker process's CPU seconds and peak RSS over that hour,
// also per 1,000 backups. Target: peak RSS under 500 MB.
//
// The jobs' offset is (start + 58 min) mod 1 h, so that no schedule fires
// by itself for 58 minutes after the benchmark starts: every backup is a
// triggered one (the benchmark checks that each schedule took exactly one
// action).
func BenchmarkFleet(b *testing.B) {
	for i := 0; i < b.N; i++ {
		runFleet(b, *fleetClusters, *fleetNodes, *fleetVolumes)
	}
}

func runFleet(b *testing.B, n, nodes, volumes int) {
	ctx := context.Background()
	start := time.Now()
	offset := time.Duration((start.Add(58 * time.Minute).UnixNano()) % int64(time.Hour)).Truncate(time.Second)
	queue := fmt.Sprintf("bench-fleet-%d", queues.Add(1))
	dsn := catalogtest.SQLiteDSN(b)
	cat := catalogtest.Open(b, dsn)
	root := filepath.Join(b.TempDir(), "local")
	// The parent's local provider only provisions the clusters: the parent
	// runs no worker on the queue.
	lp, err := local.New(local.Options{Root: root, Faults: localfaults.FromCatalog(cat.GetFaults), Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer lp.Close()
	sc := strata.New(server.Client)
	sc.TaskQueue = queue
	if err := activities.EnsureDefaults(ctx, cat); err != nil {
		b.Fatal(err)
	}
	// The fleet is set up in the catalog and Temporal directly, as the
	// worker's activities do: what is measured starts after.
	admin := activities.New(activities.Deps{Catalog: cat, Temporal: server.Client, TaskQueue: queue,
		Volumes: map[string]activities.VolumeProvisioner{local.Name: lp}})
	inFlight := *fleetInFlight
	shape := fmt.Sprintf("%d clusters x %d nodes x %d volumes", n, nodes, volumes)
	fleetLog("%s: creating clusters (queue %s, job offset %s)", shape, queue, offset)

	// Clusters, then jobs (each a catalog record and a Schedule).
	clusters := make([]string, n)
	d, err := forEach(ctx, inFlight, n, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("fleet-%d", i)
		_, err := admin.Clusters.CreateCluster(ctx, newCluster(id, nodes, volumes))
		clusters[i] = id
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	clustersTime := d
	fleetLog("%d clusters in %s; creating jobs", n, d.Round(time.Millisecond))
	jobs := make([]string, n)
	d, err = forEach(ctx, inFlight, n, func(ctx context.Context, i int) error {
		j, err := admin.Jobs.CreateJob(ctx, api.CreateJobRequest{ID: fmt.Sprintf("job-fleet-%d", i), ClusterID: clusters[i],
			Every: api.Duration(time.Hour), Offset: api.Duration(offset), Retention: api.Retention{KeepLast: 3}})
		jobs[i] = j.ID
		return err
	})
	// Delete whatever schedules were created, so that a later benchmark in
	// this process does not see them fire.
	defer func() {
		d, err := forEach(context.Background(), inFlight, n, func(ctx context.Context, i int) error {
			if jobs[i] == "" {
				return nil
			}
			_, err := admin.Jobs.DeleteJob(ctx, api.JobRequest{ID: jobs[i]})
			return err
		})
		if err != nil {
			b.Errorf("deleting the fleet's jobs: %v", err)
		}
		fleetLog("deleted %d schedules in %s", n, d.Round(time.Millisecond))
	}()
	if err != nil {
		b.Fatal(err)
	}
	schedulesTime := d
	fleetLog("%d jobs and schedules in %s; starting the worker process", n, d.Round(time.Millisecond))

	// One worker process, production worker options (newWorker).
	tuning := workflows.WorkerTuning{
		StickyCacheSize: *fleetSticky, MaxConcurrentWorkflowTasks: *fleetWFTSlots,
		MaxConcurrentActivities: *fleetActSlots,
	}
	p, err := stratatest.StartWorkerProcess(stratatest.ProcessConfig{
		HostPort: server.HostPort(), Namespace: server.Namespace(), TaskQueue: queue,
		CatalogDSN: dsn, Root: root, Config: fleetConfig(), Name: "fleet", Tuning: tuning,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Kill() }()
	pid := p.Pid()
	// Let the process settle (connections, pollers) before the hour.
	time.Sleep(time.Second)
	rssStart, _ := procStatusKB(pid, "VmRSS")
	cpuStart, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	selfStart, _ := procCPU(os.Getpid())

	// Sample RSS while the hour runs.
	var peakRSS atomic.Int64
	peakRSS.Store(rssStart)
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				if kb, err := procStatusKB(pid, "VmRSS"); err == nil && kb > peakRSS.Load() {
					peakRSS.Store(kb)
				}
			}
		}
	}()

	// The hour: trigger every schedule, wait for every backup and prune.
	b.ResetTimer()
	hourStart := time.Now()
	fleetLog("triggering %d schedules (worker pid %d, RSS %.0f MB)", n, pid, float64(rssStart)/1024)
	// With a window, triggers wait for completions (which waitFleet
	// counts), so that at most window backups are open at once.
	var triggered, completedSoFar atomic.Int64
	type triggerResult struct {
		d   time.Duration
		err error
	}
	triggerDone := make(chan triggerResult, 1)
	triggerCtx, stopTriggers := context.WithCancel(ctx)
	defer stopTriggers()
	go func() {
		d, err := forEach(triggerCtx, inFlight, n, func(ctx context.Context, i int) error {
			for w := int64(*fleetWindow); w > 0 && triggered.Load()-completedSoFar.Load() >= w; {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				time.Sleep(100 * time.Millisecond)
			}
			triggered.Add(1)
			_, err := admin.Jobs.TriggerJob(ctx, api.JobRequest{ID: jobs[i]})
			return err
		})
		fleetLog("triggered %d in %s", triggered.Load(), d.Round(time.Millisecond))
		triggerDone <- triggerResult{d, err}
	}()
	counts, err := waitFleet(ctx, queue, n, hourStart.Add(*fleetDeadline), p, &peakRSS, &completedSoFar)
	var triggerTime time.Duration
	if err == nil || errors.Is(err, errFleetDeadline) {
		select {
		case r := <-triggerDone:
			if r.err != nil {
				b.Fatal(r.err)
			}
			triggerTime = r.d
		default:
			// Still waiting for the window at the deadline.
			triggerTime = time.Since(hourStart)
		}
	}
	partial := errors.Is(err, errFleetDeadline)
	if partial {
		// Report what the worker did by the deadline rather than nothing.
		fleetLog("%v; reporting partial figures", err)
		err = nil
	}
	hour := time.Since(hourStart)
	b.StopTimer()
	cpuEnd, cpuErr := procCPU(pid)
	selfEnd, _ := procCPU(os.Getpid())
	hwm, _ := procStatusKB(pid, "VmHWM")
	close(stopSampling)
	<-sampled
	if err != nil {
		b.Fatal(err)
	}
	if cpuErr != nil {
		b.Fatal(cpuErr)
	}

	// The catalog agrees, and each schedule took exactly one action.
	completed, err := cat.ListBackups(ctx, catalog.BackupFilter{Statuses: []catalog.BackupStatus{catalog.BackupCompleted}})
	if err != nil {
		b.Fatal(err)
	}
	if len(completed) != n && !partial {
		b.Fatalf("%d Completed backups in the catalog, want %d", len(completed), n)
	}
	done := n
	if partial {
		done = counts.backups
	}
	acts := scheduledBackupActivities(ctx, b, queue)
	var actions, skipped, missed int
	for _, i := range sampleIndexes(n, 50) {
		v, err := admin.Reads.GetJob(ctx, api.GetRequest{ID: jobs[i]})
		if err != nil {
			b.Fatal(err)
		}
		actions += v.Schedule.Runs
		skipped += v.Schedule.SkippedOverlap
		missed += v.Schedule.MissedCatchup
	}

	// The fleet's periodic upkeep on the same worker: one monitor run
	// (each job's freshness query and schedule description) and one
	// reconciliation plan (every snapshot's owner, every Completed
	// backup's snapshots at the provider), as their schedules would run
	// them.
	monStart := time.Now()
	evs, err := sc.CheckJobs(ctx, 2)
	if err != nil {
		b.Fatalf("monitor over the fleet: %v", err)
	}
	monTime := time.Since(monStart)
	recStart := time.Now()
	grace := time.Hour
	rec, err := sc.Reconcile(ctx, &grace, true)
	if err != nil {
		b.Fatalf("reconciliation plan over the fleet: %v", err)
	}
	recTime := time.Since(recStart)

	// Not the exited process's rusage Maxrss: it counts the parent's pages
	// the child shared between fork and exec, so it reads as the parent's
	// RSS (the in-process Temporal server's).
	if _, err := p.Stop(); err != nil {
		b.Errorf("stopping the worker process: %v", err)
	}

	cpu := cpuEnd - cpuStart
	per1k := float64(max(done, 1)) / 1000
	peak := max(peakRSS.Load(), hwm)
	b.ReportMetric(float64(done)/hour.Seconds(), "backups/s")
	b.ReportMetric(cpu/per1k, "cpu-s/1k-backups")
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MB")

	mb := func(kb int64) string { return fmt.Sprintf("%.0f MB", float64(kb)/1024) }
	add := func(name, value, target, v string) {
		addRow(row{Section: fleetSection, Name: name, Value: value, Target: target, Verdict: v})
	}
	add("shape", fmt.Sprintf("%s, 4 KiB/volume, hourly jobs keep 3, offset %s", shape, offset), "", "")
	add("clusters created", fmt.Sprintf("%d in %s (%.0f/s, %d at a time)", n, clustersTime.Round(time.Second), float64(n)/clustersTime.Seconds(), inFlight), "", "")
	add("jobs + schedules created", fmt.Sprintf("%d in %s (%.0f/s, %d at a time)", n, schedulesTime.Round(time.Second), float64(n)/schedulesTime.Seconds(), inFlight), "", "")
	window := "all at once"
	if *fleetWindow > 0 {
		window = fmt.Sprintf("at most %d open at once", *fleetWindow)
	}
	add("schedules triggered", fmt.Sprintf("%d in %s (%.0f/s, %s)", triggered.Load(), triggerTime.Round(time.Second), float64(triggered.Load())/triggerTime.Seconds(), window), "", "")
	add("backups completed (catalog) / prunes completed", fmt.Sprintf("%d / %d (%d activities per backup incl. prune)", len(completed), counts.prunes, acts), strconv.Itoa(n), verdict(len(completed) == n && counts.prunes == n))
	add("schedule actions in a sample of 50 (skipped, missed)", fmt.Sprintf("%d (%d, %d)", actions, skipped, missed), "1 each, 0, 0", verdict(actions == len(sampleIndexes(n, 50)) && skipped == 0 && missed == 0))
	if partial {
		add("DEADLINE: the hour did not finish", fmt.Sprintf("after %s: %d/%d backups and %d prunes completed, %d workflows running; per-1,000 figures are per completed backup", hour.Round(time.Second), counts.backups, n, counts.prunes, counts.running), "", "FAIL")
	}
	add("wall time of the hour (trigger to last prune)", fmt.Sprintf("%s (%.2f backups/s)", hour.Round(time.Second), float64(done)/hour.Seconds()), "", "")
	add("worker CPU seconds over the hour", fmt.Sprintf("%.1f s total (%.0f%% of one core), %.2f s per 1,000 backups", cpu, 100*cpu/hour.Seconds(), cpu/per1k), "", "")
	add("benchmark process CPU over the hour (Temporal server, schedules, polling)", fmt.Sprintf("%.1f s (%.0f%% of one core)", selfEnd-selfStart, 100*(selfEnd-selfStart)/hour.Seconds()), "", "")
	add("worker RSS at start of the hour", mb(rssStart), "", "")
	add("worker peak RSS (VmRSS every 250 ms / VmHWM)", fmt.Sprintf("%s / %s", mb(peakRSS.Load()), mb(hwm)), "< 500 MB", verdict(peak*1024 < fleetRSSTarget))
	add("worker peak RSS above start, per 1,000 backups", mb(int64(float64(peak-rssStart)/per1k)), "", "")
	add(fmt.Sprintf("monitor run over %d jobs (a freshness query each, at most %d schedule reads)", n, activities.DefaultScheduleChecks), fmt.Sprintf("%s, %d events", monTime.Round(10*time.Millisecond), len(evs)), "", "")
	add(fmt.Sprintf("reconciliation plan over %d backups (dry run)", len(completed)), fmt.Sprintf("%s, %d orphans, %d missing", recTime.Round(10*time.Millisecond), len(rec.Plan.Orphans), len(rec.Plan.Missing)), "", "")
	add("worker settings", describeWorker(tuning), "", "")
}

// fleetCounts are the fleet's workflows by type and state (visibility).
type fleetCounts struct {
	running, backups, prunes, failed int
}

var errFleetDeadline = errors.New("fleet deadline")

// waitFleet polls visibility until n BackupWorkflows and n PruneWorkflows
// on queue have completed and none is running; any other closed state
// fails it, as does the worker process exiting. At the deadline it returns
// the counts so far and an error wrapping errFleetDeadline.
func waitFleet(ctx context.Context, queue string, n int, deadline time.Time, p *stratatest.WorkerProcess, peak, completed *atomic.Int64) (fleetCounts, error) {
	q := fmt.Sprintf("TaskQueue = '%s'", queue)
	count := func(extra string) (int, error) {
		resp, err := server.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q + " AND " + extra})
		if err != nil {
			return 0, err
		}
		return int(resp.GetCount()), nil
	}
	var c fleetCounts
	lastLog := time.Now()
	for {
		var err error
		if c.backups, err = count(fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Completed'", api.BackupWorkflowName)); err != nil {
			return c, err
		}
		if c.prunes, err = count(fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Completed'", api.PruneWorkflowName)); err != nil {
			return c, err
		}
		completed.Store(int64(c.backups))
		if c.running, err = count("ExecutionStatus = 'Running'"); err != nil {
			return c, err
		}
		if c.failed, err = count("ExecutionStatus != 'Running' AND ExecutionStatus != 'Completed'"); err != nil {
			return c, err
		}
		if c.failed > 0 {
			return c, fmt.Errorf("%d of the fleet's workflows closed other than Completed", c.failed)
		}
		if c.backups >= n && c.prunes >= n && c.running == 0 {
			if c.backups > n {
				return c, fmt.Errorf("%d scheduled backups completed, want %d: a schedule fired by itself", c.backups, n)
			}
			return c, nil
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("%w: %d/%d backups and %d/%d prunes completed, %d running", errFleetDeadline, c.backups, n, c.prunes, n, c.running)
		}
		if time.Since(lastLog) > 30*time.Second || lastLog.IsZero() {
			rss, _ := procStatusKB(p.Pid(), "VmRSS")
			cpu, _ := procCPU(p.Pid())
			self, _ := procCPU(os.Getpid())
			fleetLog("%d/%d backups, %d prunes completed, %d running; worker RSS %.0f MB (peak %.0f), CPU %.1f s; this process CPU %.1f s",
				c.backups, n, c.prunes, c.running, float64(rss)/1024, float64(peak.Load())/1024, cpu, self)
			lastLog = time.Now()
		}
		select {
		case <-p.Done():
			return c, errors.New("the worker process exited")
		case <-time.After(5 * time.Second):
		}
	}
}

// scheduledBackupActivities counts the steps (activities and local
// activities) of one scheduled backup and of its prune.
func scheduledBackupActivities(ctx context.Context, tb testing.TB, queue string) int {
	resp, err := server.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query:    fmt.Sprintf("TaskQueue = '%s' AND WorkflowType = '%s' AND ExecutionStatus = 'Completed'", queue, api.BackupWorkflowName),
		PageSize: 1,
	})
	if err != nil || len(resp.GetExecutions()) == 0 {
		tb.Fatalf("listing a scheduled backup: %v", err)
	}
	id := resp.GetExecutions()[0].GetExecution().GetWorkflowId()
	return len(history(ctx, tb, id).Steps) + len(history(ctx, tb, id+"-prune").Steps)
}

// describeWorker is the worker settings the benchmark ran with.
func describeWorker(t workflows.WorkerTuning) string {
	o := workflows.WorkerOptions(t)
	pollers := func(n int) string {
		if n == 0 {
			return "2"
		}
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("%s; pollers wf/act %s/%s; poll interval %s", t, pollers(o.MaxConcurrentWorkflowTaskPollers), pollers(o.MaxConcurrentActivityTaskPollers), fleetConfig().PollInterval)
}

// forEach calls one(i) for every i in [0, total), inFlight at a time.
func forEach(ctx context.Context, inFlight, total int, one func(ctx context.Context, i int) error) (time.Duration, error) {
	var next atomic.Int64
	return runInFlight(ctx, inFlight, total, func(ctx context.Context, _ int) error {
		// runInFlight counts calls from 1; our indexes start at 0.
		return one(ctx, int(next.Add(1)-1))
	})
}

func sampleIndexes(n, k int) []int {
	k = min(k, n)
	out := make([]int, k)
	for i := range out {
		out[i] = i * n / k
	}
	return out
}

var fleetLogMu sync.Mutex

// fleetLog prints progress as it happens (b.Logf prints only at the end).
func fleetLog(format string, args ...any) {
	fleetLogMu.Lock()
	defer fleetLogMu.Unlock()
	fmt.Fprintf(os.Stderr, "%s fleet: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// procStatusKB reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func procStatusKB(pid int, field string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// clockTicks is sysconf(_SC_CLK_TCK), 100 on Linux.
const clockTicks = 100

// procCPU is the process's user+system CPU seconds so far.
func procCPU(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14 and stime 15.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicks, nil
}
