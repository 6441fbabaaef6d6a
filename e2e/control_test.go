package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/starter/strata"
)

// The control workflow is the whole API a caller with only a Temporal
// connection has: these drive it the way another service (or the temporal
// CLI) does, with raw queries and updates.

func historyLength(t *testing.T, workflowID string) int64 {
	t.Helper()
	d, err := server.Client.DescribeWorkflowExecution(ctxT(t), workflowID, "")
	require.NoError(t, err)
	return d.GetWorkflowExecutionInfo().GetHistoryLength()
}

func rawUpdate(ctx context.Context, e *stratatest.Env, name string, arg any, out any) error {
	h, err := server.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: api.ControlWorkflowID(e.TaskQueue), UpdateID: uuid.NewString(), UpdateName: name,
		Args: []interface{}{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, out)
	}
	return err
}

func TestControlReadsAndWritesWithOnlyTemporal(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{ID: "ctl", Nodes: 2})
	controlID := api.ControlWorkflowID(e.TaskQueue)

	// A raw query reads the catalog through the worker.
	v, err := server.Client.QueryWorkflow(ctx, controlID, "", api.QueryGetCluster, map[string]any{"id": "ctl"})
	require.NoError(t, err)
	var got api.Cluster
	require.NoError(t, v.Get(&got))
	assert.Equal(t, cl.Nodes, got.Nodes)

	// Reads add nothing to the control workflow's history.
	before := historyLength(t, controlID)
	for i := 0; i < 20; i++ {
		_, err := e.Strata.GetCluster(ctx, "ctl")
		require.NoError(t, err)
		_, err = e.Strata.ListBackups(ctx, api.BackupFilter{ClusterID: "ctl"})
		require.NoError(t, err)
	}
	assert.Equal(t, before, historyLength(t, controlID), "reads are queries: no history event")

	// A bad query says what is wrong, typed.
	_, err = e.Strata.GetCluster(ctx, "nope")
	require.True(t, strata.IsNotFound(err), "%v", err)
	_, err = server.Client.QueryWorkflow(ctx, controlID, "", api.QueryGetCluster, map[string]any{"id": "ctl", "extra": 1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "extra")

	// A raw update writes: the lock is the catalog's.
	var lock api.Lock
	require.NoError(t, rawUpdate(ctx, e, api.UpdateLockCluster, map[string]any{"clusterId": "ctl", "holder": "resize", "ttl": "10m"}, &lock))
	rec, err := e.Catalog.GetLock(ctx, "ctl")
	require.NoError(t, err)
	require.NotNil(t, rec)
	assert.Equal(t, lock.Token, rec.Token)
	assert.Equal(t, "resize", rec.Holder)

	// A rejected update (bad input, found by its validator) writes no
	// history and changes nothing.
	before = historyLength(t, controlID)
	err = rawUpdate(ctx, e, api.UpdateLockCluster, map[string]any{"clusterId": "ctl", "holder": "backup x", "ttl": "10m"}, nil)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, api.ReasonInvalidRequest, appErr.Type())
	assert.Contains(t, appErr.Message(), "reserved")
	assert.Equal(t, before, historyLength(t, controlID), "a rejected update writes no history")

	// The worker's bounds apply to raw updates too (default --max-lock-ttl 24h).
	err = rawUpdate(ctx, e, api.UpdateLockCluster, map[string]any{"clusterId": "ctl", "holder": "long", "ttl": "48h"}, nil)
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Contains(t, appErr.Message(), "maximum")

	// The worker tells callers what to seal secrets to.
	v, err = server.Client.QueryWorkflow(ctx, controlID, "", api.QueryWorkerInfo)
	require.NoError(t, err)
	var info api.WorkerInfo
	require.NoError(t, v.Get(&info))
	assert.Equal(t, e.Secrets.Public().String(), info.SealingKey)
}

// Updates that arrive while the control workflow continues as new are
// applied once each, by one run or the next.
func TestControlContinuesAsNewWithoutLosingWrites(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	controlID := api.ControlWorkflowID(e.TaskQueue)
	e.StopWorker()
	// A run records its limit at its first workflow task: the run the
	// first worker started may have recorded the default. End it, so that
	// the restarted worker starts one that takes 5.
	require.NoError(t, server.Client.TerminateWorkflow(ctx, controlID, "", "restart with a limit of 5"))
	e.ControlMaxUpdates = 5
	e.StartWorker()
	e.Cluster(strata.ClusterSpec{ID: "can", Nodes: 1})
	first, err := server.Client.DescribeWorkflowExecution(ctx, controlID, "")
	require.NoError(t, err)

	const writers, each = 4, 12
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := e.Strata.CreateProject(ctx, fmt.Sprintf("p-%d-%d", w, i))
				errs <- err
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	ps, err := e.Strata.ListProjects(ctx)
	require.NoError(t, err)
	assert.Len(t, ps, writers*each+1, "every project, and the default one")

	// The run that took the first writes has continued as new (its last
	// update may have answered a moment before it did).
	eventually(t, "the first control run continued as new", func() bool {
		d, err := server.Client.DescribeWorkflowExecution(ctx, controlID, first.GetWorkflowExecutionInfo().GetExecution().GetRunId())
		require.NoError(t, err)
		return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
	})
	recordRunHistory(t, controlID, first.GetWorkflowExecutionInfo().GetExecution().GetRunId(), "control_continued_as_new")
}

// With no worker, a read or a write says so instead of hanging.
func TestControlWithoutAWorkerSaysSo(t *testing.T) {
	c := strata.New(server.Client)
	c.TaskQueue = "strata-nobody-" + uuid.NewString()[:8]
	c.ReadTimeout, c.WriteTimeout = 2*time.Second, 2*time.Second
	ctx := ctxT(t)
	_, err := c.GetCluster(ctx, "any")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no Strata worker answered on task queue "+c.TaskQueue)
	_, err = c.CreateProject(ctx, "p")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no Strata worker answered")
}
