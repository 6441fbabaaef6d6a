package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
	"github.com/stratabackup/strata/internal/localfaults"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/local"
	"github.com/stratabackup/strata/starter/strata"
	"github.com/stratabackup/strata/workflows"
)

var server *stratatest.Server

func TestMain(m *testing.M) {
	stratatest.RunWorkerProcessIfAsked()
	// The process-wide settings the worker command applies.
	workflows.ConfigureProcess(workflows.WorkerTuning{})
	var err error
	server, err = stratatest.StartServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Temporal test server:", err)
		os.Exit(1)
	}
	code := m.Run()
	server.Stop()
	printReport(os.Stdout)
	os.Exit(code)
}

// benchConfig is the production configuration with the poll interval of
// dev mode, the local provider's home (1 s: polls at 0, 62 ms, 187 ms, ...).
func benchConfig() activities.Config {
	c := activities.DefaultConfig()
	c.PollInterval = time.Second
	return c
}

// env is one benchmark's Strata: its own task queue, SQLite catalog file,
// local provider and one worker that serves both Strata and the minimal
// workflow, with the worker options the real worker uses.
type env struct {
	tb       testing.TB
	queue    string
	catalog  catalog.Store
	local    *local.Provider
	strata   *strata.Client
	acts     *activities.Set
	tc       client.Client
	worker   worker.Worker
	clusters []string
}

var queues atomic.Int64

func newEnv(tb testing.TB, cfg activities.Config) *env {
	tb.Helper()
	e := &env{tb: tb, tc: server.Client, queue: fmt.Sprintf("bench-%d", queues.Add(1))}
	e.catalog = catalogtest.Open(tb, catalogtest.SQLiteDSN(tb))
	lp, err := local.New(local.Options{Root: filepath.Join(tb.TempDir(), "local"), Faults: localfaults.FromCatalog(e.catalog.GetFaults), Logger: zap.NewNop()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = lp.Close() })
	e.local = lp
	e.strata = strata.New(server.Client)
	e.strata.TaskQueue = e.queue
	if err := activities.EnsureDefaults(context.Background(), e.catalog); err != nil {
		tb.Fatal(err)
	}
	w := worker.New(server.Client, e.queue, workflows.WorkerOptions(workflows.WorkerTuning{}))
	e.acts = activities.New(activities.Deps{
		Catalog: e.catalog, Providers: providers.Registry{local.Name: lp},
		Provisioners: map[string]providers.Provisioner{local.Name: lp.Provisioner()},
		Config:       cfg, Logger: zap.NewNop(), Temporal: server.Client, TaskQueue: e.queue,
		Volumes: map[string]activities.VolumeProvisioner{local.Name: lp},
	})
	workflows.Register(w, e.acts, workflows.Options{})
	w.RegisterWorkflowWithOptions(minimalWorkflow, workflow.RegisterOptions{Name: minimalWorkflowName})
	w.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: noopActivityName})
	if err := w.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(w.Stop)
	e.worker = w
	return e
}

// addClusters creates n local clusters of nodes×volumes volumes each.
func (e *env) addClusters(n, nodes, volumes int) []string {
	e.tb.Helper()
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("c%d-%dx%d-%d", len(e.clusters), nodes, volumes, i)
		// Set up in the catalog directly: what is measured starts after.
		if _, err := e.acts.Clusters.CreateCluster(context.Background(), newCluster(id, nodes, volumes)); err != nil {
			e.tb.Fatal(err)
		}
		e.clusters = append(e.clusters, id)
		ids = append(ids, id)
	}
	return ids
}

func newCluster(id string, nodes, volumes int) api.CreateClusterRequest {
	r := api.CreateClusterRequest{ID: id, Nodes: nodes, VolumesPerNode: volumes, DiskGB: 10, DataBytes: 4 << 10}
	r.SetDefaults()
	return r
}

// backup runs one manual backup of cluster to completion.
func (e *env) backup(ctx context.Context, cluster string) (api.Backup, string, error) {
	run, err := e.strata.StartBackup(ctx, api.BackupRequest{ClusterID: cluster})
	if err != nil {
		return api.Backup{}, "", err
	}
	b, err := run.Wait(ctx)
	return b, run.WorkflowID, err
}

var minimalIDs atomic.Int64

// minimal runs the minimal workflow with these steps to completion.
func (e *env) minimal(ctx context.Context, steps string) (string, error) {
	id := fmt.Sprintf("bench-minimal-%d", minimalIDs.Add(1))
	run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: e.queue}, minimalWorkflowName, steps)
	if err != nil {
		return "", err
	}
	return id, run.Get(ctx, nil)
}

// runInFlight runs total calls of one with inFlight of them at a time; slot
// is the caller's index in [0, inFlight), so each slot can own a cluster.
func runInFlight(ctx context.Context, inFlight, total int, one func(ctx context.Context, slot int) error) (time.Duration, error) {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		mu       sync.Mutex
	)
	start := time.Now()
	for slot := 0; slot < inFlight; slot++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(total) {
				if err := one(ctx, slot); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// historyStats counts a closed workflow's events and lists its steps in
// order: 'A' per activity, 'L' per local activity.
type historyStats struct {
	Events int
	Steps  string
}

func (s historyStats) Activities() int      { return strings.Count(s.Steps, string(stepActivity)) }
func (s historyStats) LocalActivities() int { return strings.Count(s.Steps, string(stepLocalActivity)) }

// describeSteps is "9 steps: 2 activities + 7 local".
func (s historyStats) describeSteps() string {
	if s.LocalActivities() == 0 {
		return fmt.Sprintf("%d activities", s.Activities())
	}
	return fmt.Sprintf("%d steps: %d activities + %d local", len(s.Steps), s.Activities(), s.LocalActivities())
}

// localActivityMarker is the marker the Go SDK records a local activity's
// result in.
const localActivityMarker = "LocalActivity"

func history(ctx context.Context, tb testing.TB, workflowID string) historyStats {
	tb.Helper()
	var s historyStats
	iter := server.Client.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			tb.Fatal(err)
		}
		s.Events++
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			s.Steps += string(stepActivity)
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if ev.GetMarkerRecordedEventAttributes().GetMarkerName() == localActivityMarker {
				s.Steps += string(stepLocalActivity)
			}
		}
	}
	return s
}
