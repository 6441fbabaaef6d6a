package workflows

import (
	"time"

	"go.temporal.io/sdk/worker"
)

// WorkerTuning are the concurrency settings of a Strata worker; zero fields
// take the defaults below, which the benchmarks in bench/ ran with.
type WorkerTuning struct {
	// Identity names the worker in workflow histories (default: the SDK's
	// pid@host).
	Identity string
}

// WorkerOptions are the options every Strata worker runs with: the worker
// command, the tests' workers and the benchmarks', so that what is
// measured is what runs.
func WorkerOptions(t WorkerTuning) worker.Options {
	return worker.Options{
		Identity: t.Identity,
		// Give running activities a moment to record their last heartbeat
		// before they are cancelled, so another worker resumes promptly.
		WorkerStopTimeout: 10 * time.Second,
		// WorkflowPanicPolicy stays BlockWorkflow: failing a workflow on a
		// panic would skip its compensations and leave its backup and lock
		// behind, while a blocked one resumes once a fixed worker deploys.
	}
}
