package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
)

const day = 24 * time.Hour

// lifecycleEnv is a time-skipping test environment whose activities act
// on one in-memory cluster.
type lifecycleEnv struct {
	t      *testing.T
	env    *testsuite.TestWorkflowEnvironment
	start  time.Time
	cl     catalog.Cluster
	gone   bool
	events []eventAt
	calls  []string
	// finalErr fails the final backup.
	finalErr error
	backups  int
}

type eventAt struct {
	typ string
	at  time.Duration // since the start
	id  string
}

func newLifecycleEnv(t *testing.T) *lifecycleEnv {
	var ts testsuite.WorkflowTestSuite
	e := &lifecycleEnv{t: t, env: ts.NewTestWorkflowEnvironment()}
	env := e.env
	e.start = env.Now()
	e.cl = catalog.Cluster{ID: "c1", ProjectID: "p1", Status: catalog.ClusterRunning, ClusterPower: api.ClusterPower{Power: api.PowerRunning}}
	env.RegisterWorkflowWithOptions(ClusterLifecycleWorkflow, workflow.RegisterOptions{Name: api.ClusterLifecycleWorkflowName})
	env.RegisterWorkflowWithOptions(NotifyWorkflow, workflow.RegisterOptions{Name: api.NotifyWorkflowName})
	env.RegisterWorkflowWithOptions(BackupWorkflow, workflow.RegisterOptions{Name: api.BackupWorkflowName})
	env.RegisterWorkflowWithOptions(PowerOnWorkflow, workflow.RegisterOptions{Name: api.PowerOnWorkflowName})
	env.RegisterWorkflowWithOptions(DeleteBackupWorkflow, workflow.RegisterOptions{Name: api.DeleteBackupWorkflowName})
	registerActivities(env)
	call := func(name string) { e.calls = append(e.calls, name) }
	env.OnWorkflow(api.NotifyWorkflowName, mock.Anything, mock.Anything).Return(func(_ workflow.Context, req api.NotifyRequest) (api.NotifyResult, error) {
		e.events = append(e.events, eventAt{typ: req.Type, at: env.Now().Sub(e.start), id: req.ID})
		return api.NotifyResult{}, nil
	}).Maybe()
	env.OnActivity(lifecycles.LoadLifecycle, mock.Anything, mock.Anything).Return(func(context.Context, string) (activities.LifecycleStart, error) {
		return activities.LifecycleStart{Cluster: e.cl, NoticeBefore: api.DefaultPowerOffNotice, Gone: e.gone}, nil
	}).Maybe()
	env.OnActivity(lifecycles.AcquireLifecycleLock, mock.Anything, mock.Anything).Return(activities.LockRef{ClusterID: "c1", LockToken: 7, LockTTL: time.Minute}, nil).Maybe()
	env.OnActivity(lifecycles.HoldLifecycleLock, mock.Anything, mock.Anything).Return(nil).Maybe()
	env.OnActivity(lifecycles.ReleaseLifecycleLock, mock.Anything, mock.Anything).Return(nil).Maybe()
	env.OnActivity(lifecycles.BeginPowerOff, mock.Anything, mock.Anything).Return(func(context.Context, activities.PowerInput) (activities.PowerOffPlan, error) {
		call("BeginPowerOff")
		e.cl.Power = api.PowerPoweringOff
		return activities.PowerOffPlan{JobID: "c1-s0"}, nil
	}).Maybe()
	env.OnWorkflow(api.BackupWorkflowName, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, req api.BackupRequest) (api.Backup, error) {
		call("FinalBackup")
		if req.JobID != "c1-s0" {
			return api.Backup{}, errors.New("the final backup should count for the profile's job")
		}
		if e.finalErr != nil {
			return api.Backup{}, e.finalErr
		}
		e.backups++
		return api.Backup{ID: api.BackupIDFor(workflow.GetInfo(ctx).WorkflowExecution.ID), Status: catalog.BackupCompleted}, nil
	}).Maybe()
	env.OnActivity(lifecycles.AbortPowerOff, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PowerInput) error {
		call("AbortPowerOff")
		e.cl.Power, e.cl.ClusterPower.Reason = api.PowerRunning, in.Reason
		return nil
	}).Maybe()
	env.OnActivity(lifecycles.ReleaseResources, mock.Anything, mock.Anything).Return(func(context.Context, activities.PowerInput) error {
		call("ReleaseResources")
		return nil
	}).Maybe()
	env.OnActivity(lifecycles.FinishPowerOff, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PowerInput) (api.ClusterPower, error) {
		call("FinishPowerOff")
		at := in.At
		del := at.Add(api.DefaultPowerOffRetention)
		e.cl.ClusterPower = api.ClusterPower{Power: api.PowerPoweredOff, PoweredOffAt: &at, DeletionAt: &del, FinalBackupID: in.FinalBackupID}
		return e.cl.ClusterPower, nil
	}).Maybe()
	env.OnActivity(lifecycles.BeginPowerOn, mock.Anything, mock.Anything).Return(func(context.Context, activities.PowerInput) error {
		call("BeginPowerOn")
		if e.cl.Power != api.PowerPoweredOff {
			return temporal.NewNonRetryableApplicationError("not powered off", api.ReasonInvalidState, nil)
		}
		e.cl.Power = api.PowerPoweringOn
		return nil
	}).Maybe()
	env.OnWorkflow(api.PowerOnWorkflowName, mock.Anything, mock.Anything).Return(func(_ workflow.Context, req api.PowerOnRequest) (api.RestoreResult, error) {
		call("PowerOnWorkflow")
		if req.LockToken != 7 {
			return api.RestoreResult{}, errors.New("the power-on should get the lifecycle's lock")
		}
		return api.RestoreResult{}, nil
	}).Maybe()
	env.OnActivity(lifecycles.FinishPowerOn, mock.Anything, mock.Anything).Return(func(context.Context, activities.PowerInput) error {
		call("FinishPowerOn")
		e.cl.ClusterPower = api.ClusterPower{Power: api.PowerRunning}
		return nil
	}).Maybe()
	env.OnActivity(lifecycles.PlanDeleteCluster, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeleteClusterInput) (activities.DeletePlan, error) {
		call("PlanDeleteCluster")
		if !in.WithBackups {
			return activities.DeletePlan{}, nil
		}
		return activities.DeletePlan{BackupIDs: []string{"bk-1", "bk-2"}}, nil
	}).Maybe()
	env.OnActivity(lifecycles.DeleteClusterResources, mock.Anything, mock.Anything).Return(func(context.Context, activities.DeleteClusterInput) error {
		call("DeleteClusterResources")
		e.gone = true
		return nil
	}).Maybe()
	env.OnWorkflow(api.DeleteBackupWorkflowName, mock.Anything, mock.Anything).Return(func(_ workflow.Context, req api.DeleteBackupRequest) (api.Backup, error) {
		call("DeleteBackup " + req.BackupID)
		return api.Backup{ID: req.BackupID, Status: catalog.BackupDeleted}, nil
	}).Maybe()
	env.OnActivity(lifecycles.MoveToProfile, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ApplyProfileInput) (api.ProfileCluster, error) {
		call("ApplyProfile " + in.Profile)
		e.cl.Profile = in.Profile
		return api.ProfileCluster{ClusterID: "c1", InSync: true}, nil
	}).Maybe()
	return e
}

// update sends an update at a moment (since the start) and records its
// outcome.
func (e *lifecycleEnv) update(at time.Duration, name string, arg any, out *updateOutcome) {
	e.env.RegisterDelayedCallback(func() {
		e.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() { out.accepted = true },
			OnReject: func(err error) { out.err = err },
			OnComplete: func(v interface{}, err error) {
				out.done, out.err = true, err
				if st, ok := v.(api.ClusterLifecycleState); ok {
					out.state = st
				}
			},
		}, arg)
	}, at)
}

type updateOutcome struct {
	accepted, done bool
	err            error
	state          api.ClusterLifecycleState
}

func (e *lifecycleEnv) run() {
	e.env.ExecuteWorkflow(api.ClusterLifecycleWorkflowName, api.LifecycleRequest{ClusterID: "c1"})
}

func (e *lifecycleEnv) eventsOf(typ string) []eventAt {
	var out []eventAt
	for _, ev := range e.events {
		if ev.typ == typ {
			out = append(out, ev)
		}
	}
	return out
}

// A cluster powered off and left off gets the notice at day 166 and is
// deleted with its backups at day 180, each announced exactly once; the
// workflow then ends.
func TestLifecycle180DayCleanUp(t *testing.T) {
	e := newLifecycleEnv(t)
	var off updateOutcome
	e.update(time.Minute, api.UpdatePowerOff, api.PowerRequest{Reason: "plan ended"}, &off)
	e.run()
	require.True(t, e.env.IsWorkflowCompleted())
	require.NoError(t, e.env.GetWorkflowError())
	require.True(t, off.done)
	require.NoError(t, off.err)
	assert.Equal(t, api.PowerPoweredOff, off.state.Power)
	require.NotNil(t, off.state.DeletionAt)
	assert.Equal(t, 180*day, off.state.DeletionAt.Sub(*off.state.PoweredOffAt))

	notices := e.eventsOf(api.EventClusterDeletionScheduled)
	require.Len(t, notices, 1)
	assert.Equal(t, 166*day, notices[0].at.Truncate(day), "notice on day 166")
	deleted := e.eventsOf(api.EventClusterDeleted)
	require.Len(t, deleted, 1)
	assert.Equal(t, 180*day, deleted[0].at.Truncate(day), "deleted on day 180")
	assert.Contains(t, e.calls, "DeleteBackup bk-1")
	assert.Contains(t, e.calls, "DeleteBackup bk-2")
	assert.True(t, e.gone)
	var st api.ClusterLifecycleState
	require.NoError(t, e.env.GetWorkflowResult(&st))
	assert.Equal(t, api.PowerDeleted, st.Power)
}

// A power-on before the date stops the clock; a power-off after it starts
// a new one: the notice and deletion follow the second power-off.
func TestLifecyclePowerOnResetsTheClock(t *testing.T) {
	e := newLifecycleEnv(t)
	var off1, on, off2 updateOutcome
	e.update(time.Minute, api.UpdatePowerOff, api.PowerRequest{}, &off1)
	e.update(100*day, api.UpdatePowerOn, api.PowerRequest{}, &on)
	e.update(101*day, api.UpdatePowerOff, api.PowerRequest{}, &off2)
	e.run()
	require.NoError(t, e.env.GetWorkflowError())
	for _, o := range []updateOutcome{off1, on, off2} {
		require.True(t, o.done)
		require.NoError(t, o.err)
	}
	assert.Equal(t, api.PowerRunning, on.state.Power)
	notices := e.eventsOf(api.EventClusterDeletionScheduled)
	require.Len(t, notices, 1)
	assert.Equal(t, (101+166)*day, notices[0].at.Truncate(day))
	deleted := e.eventsOf(api.EventClusterDeleted)
	require.Len(t, deleted, 1)
	assert.Equal(t, (101+180)*day, deleted[0].at.Truncate(day))
	assert.Equal(t, 2, e.backups, "one final backup per power-off")
}

// Updates the state refuses are rejected before anything runs; signals
// act as the updates do, once per request ID.
func TestLifecycleValidatesAndTakesSignals(t *testing.T) {
	e := newLifecycleEnv(t)
	var onRunning, offTwice, badProfile updateOutcome
	e.update(time.Minute, api.UpdatePowerOn, api.PowerRequest{}, &onRunning)
	e.update(2*time.Minute, api.UpdateSetProfile, api.SetProfileRequest{Profile: "bad name!"}, &badProfile)
	e.env.RegisterDelayedCallback(func() {
		e.env.SignalWorkflow(api.UpdatePowerOff, api.PowerRequest{RequestID: "r1"})
		e.env.SignalWorkflow(api.UpdatePowerOff, api.PowerRequest{RequestID: "r1"})
	}, 3*time.Minute)
	e.update(time.Hour, api.UpdatePowerOff, api.PowerRequest{}, &offTwice)
	e.env.RegisterDelayedCallback(func() {
		e.env.SignalWorkflow(api.UpdatePowerOn, api.PowerRequest{RequestID: "r2"})
	}, 2*time.Hour)
	e.env.RegisterDelayedCallback(func() {
		v, err := e.env.QueryWorkflow(api.QueryLifecycleState)
		require.NoError(t, err)
		var st api.ClusterLifecycleState
		require.NoError(t, v.Get(&st))
		assert.Equal(t, api.PowerRunning, st.Power)
		e.env.SignalWorkflow(api.UpdateDeleteCluster, api.DeleteClusterRequest{RequestID: "r3"})
	}, 3*time.Hour)
	e.run()
	require.NoError(t, e.env.GetWorkflowError())

	require.Error(t, onRunning.err)
	assert.False(t, onRunning.accepted, "rejected by the validator")
	assert.Contains(t, onRunning.err.Error(), "only a powered-off cluster powers on")
	require.Error(t, badProfile.err)
	assert.False(t, badProfile.accepted)
	require.Error(t, offTwice.err, "the signalled power-off ran: the cluster is off")
	assert.False(t, offTwice.accepted)

	count := func(name string) int {
		n := 0
		for _, c := range e.calls {
			if c == name {
				n++
			}
		}
		return n
	}
	assert.Equal(t, 1, count("BeginPowerOff"), "the duplicate signal acted once: %v", e.calls)
	assert.Equal(t, 1, count("FinishPowerOn"))
	assert.Equal(t, 1, count("DeleteClusterResources"))
	assert.True(t, e.gone)
}

// A final backup that fails leaves the cluster running, its jobs resumed,
// and the update says why.
func TestLifecycleFinalBackupFailure(t *testing.T) {
	e := newLifecycleEnv(t)
	e.finalErr = temporal.NewNonRetryableApplicationError("node c1-n1 unhealthy", api.ReasonClusterUnhealthy, nil)
	var off updateOutcome
	e.update(time.Minute, api.UpdatePowerOff, api.PowerRequest{}, &off)
	var st api.ClusterLifecycleState
	e.env.RegisterDelayedCallback(func() {
		v, err := e.env.QueryWorkflow(api.QueryLifecycleState)
		require.NoError(t, err)
		require.NoError(t, v.Get(&st))
		e.env.CancelWorkflow()
	}, time.Hour)
	e.run()
	require.True(t, off.done)
	require.Error(t, off.err)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, off.err, &appErr)
	assert.Equal(t, api.ReasonPowerFailed, appErr.Type())
	assert.Contains(t, appErr.Message(), "ClusterUnhealthy")
	assert.Contains(t, e.calls, "AbortPowerOff")
	assert.NotContains(t, e.calls, "ReleaseResources")
	assert.Equal(t, api.PowerRunning, st.Power)
	assert.Contains(t, st.Reason, "ClusterUnhealthy")
}
