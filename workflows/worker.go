package workflows

import (
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/worker"
)

// WorkerTuning are the concurrency and memory settings of a Strata worker;
// zero fields take the defaults below, which the benchmarks in bench/ ran
// with (BenchmarkFleet: 10,000 hourly jobs on one worker).
type WorkerTuning struct {
	// Identity names the worker in workflow histories (default: the SDK's
	// pid@host).
	Identity string
	// MaxConcurrentActivities bounds the activities this worker runs at
	// once (default DefaultMaxConcurrentActivities). A backup's snapshot
	// wait holds a slot for as long as the provider takes, so this bounds
	// how many backups snapshot at once; the rest wait in the task queue.
	MaxConcurrentActivities int
	// MaxConcurrentWorkflowTasks bounds the workflow tasks (replays of
	// workflow code, CPU-bound and short) this worker runs at once
	// (default DefaultMaxConcurrentWorkflowTasks).
	MaxConcurrentWorkflowTasks int
	// StickyCacheSize is how many workflows the process keeps in memory
	// between their tasks (default DefaultStickyCacheSize). A workflow
	// that is not cached is replayed from its history on its next task:
	// CPU and a history fetch instead of memory. Keep it at least
	// MaxConcurrentWorkflowTasks: a workflow is cached while its task runs.
	// It is process-wide, so ConfigureProcess applies it, not
	// WorkerOptions.
	StickyCacheSize int
	// ActivitiesPerSecond caps the rate at which this worker starts
	// activities (default 0: no cap; providers have their own API rate
	// limits).
	ActivitiesPerSecond float64
}

// The defaults of WorkerTuning's zero fields.
const (
	// DefaultMaxConcurrentActivities is the SDK's default: activities are
	// mostly waiting on a provider or the catalog, and a lower bound
	// would delay snapshots at the top of the hour.
	DefaultMaxConcurrentActivities = 1000
	// DefaultMaxConcurrentWorkflowTasks: workflow tasks are CPU-bound, so
	// more than a few hundred at once only queue for the CPU while each
	// holds its workflow's state and history page in memory.
	DefaultMaxConcurrentWorkflowTasks = 200
	// DefaultStickyCacheSize: the SDK's default, 10,000, keeps every
	// workflow of a 10,000-job fleet in memory at the top of the hour,
	// which alone would take the worker past its memory budget
	// (BenchmarkFleet, docs/benchmarks.md). 2,000 bounds that share;
	// backups beyond it replay from history on their next task.
	DefaultStickyCacheSize = 2000
)

// WithDefaults is t with its zero fields set to their defaults.
func (t WorkerTuning) WithDefaults() WorkerTuning {
	if t.MaxConcurrentActivities <= 0 {
		t.MaxConcurrentActivities = DefaultMaxConcurrentActivities
	}
	if t.MaxConcurrentWorkflowTasks <= 0 {
		t.MaxConcurrentWorkflowTasks = DefaultMaxConcurrentWorkflowTasks
	}
	if t.StickyCacheSize <= 0 {
		t.StickyCacheSize = DefaultStickyCacheSize
	}
	return t
}

// String describes the settings, defaults filled in (for logs and the
// benchmarks' report).
func (t WorkerTuning) String() string {
	t = t.WithDefaults()
	rate := "unlimited"
	if t.ActivitiesPerSecond > 0 {
		rate = fmt.Sprintf("%g", t.ActivitiesPerSecond)
	}
	return fmt.Sprintf("activity slots %d, workflow-task slots %d, sticky cache %d workflows, activities/s %s",
		t.MaxConcurrentActivities, t.MaxConcurrentWorkflowTasks, t.StickyCacheSize, rate)
}

// WorkerOptions are the options every Strata worker runs with: the worker
// command, the tests' workers and the benchmarks', so that what is
// measured is what runs. Call ConfigureProcess once before creating the
// first worker.
func WorkerOptions(t WorkerTuning) worker.Options {
	t = t.WithDefaults()
	return worker.Options{
		Identity:                               t.Identity,
		MaxConcurrentActivityExecutionSize:     t.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: t.MaxConcurrentWorkflowTasks,
		WorkerActivitiesPerSecond:              t.ActivitiesPerSecond,
		// Give running activities a moment to record their last heartbeat
		// before they are cancelled, so another worker resumes promptly.
		WorkerStopTimeout: 10 * time.Second,
		// A postgres cluster's backup holds backup mode in one worker's
		// database session: starting and stopping it run in a session.
		EnableSessionWorker: true,
		// WorkflowPanicPolicy stays BlockWorkflow: failing a workflow on a
		// panic would skip its compensations and leave its backup and lock
		// behind, while a blocked one resumes once a fixed worker deploys.
	}
}

var configureOnce sync.Once

// ConfigureProcess applies t's process-wide setting, the sticky workflow
// cache's size (the Go runtime's memory limit is GOMEMLIMIT's). The SDK reads the cache size when the
// process's first worker is created, so call it before that; only the
// first call has an effect.
func ConfigureProcess(t WorkerTuning) {
	configureOnce.Do(func() {
		t = t.WithDefaults()
		worker.SetStickyWorkflowCacheSize(t.StickyCacheSize)
	})
}
