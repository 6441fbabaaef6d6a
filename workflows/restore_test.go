package workflows

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
)

type restoreCase struct {
	env   *testsuite.TestWorkflowEnvironment
	calls []string
}

// newRestoreCase mocks every step to succeed; first registers the mocks a
// test exercises (the first matching mock wins).
func newRestoreCase(t *testing.T, first func(e *testsuite.TestWorkflowEnvironment)) *restoreCase {
	rc := &restoreCase{env: (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()}
	rc.env.RegisterWorkflowWithOptions(RestoreWorkflow, workflow.RegisterOptions{Name: api.RestoreWorkflowName})
	registerActivities(rc.env)
	rc.env.RegisterWorkflowWithOptions(NotifyWorkflow, workflow.RegisterOptions{Name: api.NotifyWorkflowName})
	rc.env.OnWorkflow(api.NotifyWorkflowName, mock.Anything, mock.Anything).Return(api.NotifyResult{}, nil).Maybe()
	rc.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		rc.calls = append(rc.calls, info.ActivityType.Name)
	})
	plan := activities.RestorePlan{BackupID: "bk-1", SourceClusterID: "src", ClusterID: "rc-1", Provider: "local",
		Nodes: []activities.RestoreNode{{NodeID: "rc-1-n1", Volumes: []activities.RestoreVolume{{VolumeID: "rc-1-n1-v1", SnapshotID: "snap-1"}}}}}
	e := rc.env
	first(e)
	e.OnActivity(restores.PlanRestore, mock.Anything, mock.Anything).Return(plan, nil).Maybe()
	e.OnActivity(restores.CreateRestoreRecord, mock.Anything, mock.Anything).Return(catalog.Restore{ID: "rs-1", Status: catalog.RestoreRunning}, nil).Maybe()
	e.OnActivity(restores.HoldBackup, mock.Anything, mock.Anything).Return(nil).Maybe()
	e.OnActivity(restores.CreateRestoredCluster, mock.Anything, mock.Anything).Return(catalog.Cluster{ID: "rc-1", Status: catalog.ClusterCreating}, nil).Maybe()
	e.OnActivity(restores.CreateVolumes, mock.Anything, mock.Anything).Return(nil, nil).Maybe()
	e.OnActivity(restores.CheckRestoredNodes, mock.Anything, mock.Anything).Return(catalog.Cluster{ID: "rc-1", Status: catalog.ClusterRunning}, nil).Maybe()
	e.OnActivity(restores.FinishRestore, mock.Anything, mock.Anything).Return(catalog.Restore{ID: "rs-1"}, nil).Maybe()
	e.OnActivity(restores.ReleaseBackup, mock.Anything, mock.Anything).Return(nil).Maybe()
	e.OnActivity(restores.DeleteVolumes, mock.Anything, mock.Anything).Return(nil).Maybe()
	e.OnActivity(restores.DeleteNodes, mock.Anything, mock.Anything).Return(nil).Maybe()
	e.OnActivity(restores.SetClusterStatus, mock.Anything, mock.Anything).Return(nil).Maybe()
	e.OnActivity(restores.ProvisionNodes, mock.Anything, mock.Anything).Return(nil).Maybe()
	return rc
}

func TestRestoreSuccess(t *testing.T) {
	rc := newRestoreCase(t, func(*testsuite.TestWorkflowEnvironment) {})
	rc.env.ExecuteWorkflow(api.RestoreWorkflowName, api.RestoreRequest{BackupID: "bk-1"})
	require.NoError(t, rc.env.GetWorkflowError())
	require.Equal(t, []string{"PlanRestore", "CreateRestoreRecord", "HoldBackup", "CreateRestoredCluster", "CreateVolumes",
		"ProvisionNodes", "CheckRestoredNodes", "FinishRestore", "ReleaseBackup"}, rc.calls)
}

func TestRestoreFailureTearsDownInReverse(t *testing.T) {
	rc := newRestoreCase(t, func(e *testsuite.TestWorkflowEnvironment) {
		e.OnActivity(restores.ProvisionNodes, mock.Anything, mock.Anything).Return(
			temporal.NewNonRetryableApplicationError("injected", api.ReasonProviderError, nil))
	})
	rc.env.ExecuteWorkflow(api.RestoreWorkflowName, api.RestoreRequest{BackupID: "bk-1"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(rc.env.GetWorkflowError(), &appErr))
	require.Equal(t, api.ReasonProviderError, appErr.Type())
	n := len(rc.calls)
	require.Equal(t, []string{"DeleteNodes", "DeleteVolumes", "SetClusterStatus", "ReleaseBackup", "FinishRestore"}, rc.calls[n-5:])
}

func TestInvalidRestoreCreatesNothing(t *testing.T) {
	rc := newRestoreCase(t, func(e *testsuite.TestWorkflowEnvironment) {
		e.OnActivity(restores.PlanRestore, mock.Anything, mock.Anything).Return(activities.RestorePlan{},
			temporal.NewNonRetryableApplicationError("invalid restore", api.ReasonInvalidRequest, nil))
	})
	rc.env.ExecuteWorkflow(api.RestoreWorkflowName, api.RestoreRequest{BackupID: "bk-1", Region: "elsewhere"})
	require.Error(t, rc.env.GetWorkflowError())
	require.Equal(t, []string{"PlanRestore"}, rc.calls)
}

// pgRestoreCase is a restore of a postgres backup: its plan has a
// recovery, and the replay reports twice before it reaches the target.
func pgRestoreCase(t *testing.T, first func(e *testsuite.TestWorkflowEnvironment)) *restoreCase {
	plan := activities.RestorePlan{BackupID: "bk-1", SourceClusterID: "src", ClusterID: "rc-1", Provider: "local", Engine: api.EnginePostgres,
		Nodes:    []activities.RestoreNode{{NodeID: "rc-1-n1", Volumes: []activities.RestoreVolume{{VolumeID: "rc-1-n1-v1", SnapshotID: "snap-1"}}}},
		Recovery: &activities.RecoveryPlan{Target: api.RecoveryTarget{LSN: "0/5000000"}, BackupNodeID: "src-n2", BackupStopLSN: "0/3000100"}}
	return newRestoreCase(t, func(e *testsuite.TestWorkflowEnvironment) {
		first(e)
		e.OnActivity(restores.PlanRestore, mock.Anything, mock.Anything).Return(plan, nil).Maybe()
		e.OnActivity(restores.PrepareRecovery, mock.Anything, mock.Anything).Return(nil).Maybe()
		e.OnActivity(restores.ReplayWAL, mock.Anything, mock.Anything).Return(api.RecoveryProgress{Phase: api.RecoveryReplaying, ReplayLSN: "0/4000000"}, nil).Once()
		e.OnActivity(restores.ReplayWAL, mock.Anything, mock.Anything).Return(api.RecoveryProgress{Phase: api.RecoveryPaused, ReplayLSN: "0/5000000"}, nil).Maybe()
		e.OnActivity(restores.Promote, mock.Anything, mock.Anything).Return(api.RecoveryProgress{Phase: api.RecoveryPromoted, Timeline: 2}, nil).Maybe()
		e.OnActivity(restores.StartReplicas, mock.Anything, mock.Anything).Return(nil).Maybe()
		e.OnActivity(restores.VerifyDatabase, mock.Anything, mock.Anything).Return(nil).Maybe()
		e.OnActivity(restores.CheckRestoredServers, mock.Anything, mock.Anything).Return(catalog.Cluster{ID: "rc-1", Status: catalog.ClusterRunning}, nil).Maybe()
		e.OnActivity(restores.StopServers, mock.Anything, mock.Anything).Return(nil).Maybe()
	})
}

func TestPostgresRestoreSteps(t *testing.T) {
	rc := pgRestoreCase(t, func(*testsuite.TestWorkflowEnvironment) {})
	rc.env.ExecuteWorkflow(api.RestoreWorkflowName, api.RestoreRequest{BackupID: "bk-1", ToLSN: "0/5000000"})
	require.NoError(t, rc.env.GetWorkflowError())
	require.Equal(t, []string{"PlanRestore", "CreateRestoreRecord", "HoldBackup", "CreateRestoredCluster", "CreateVolumes",
		"PrepareRecovery", "ReplayWAL", "ReplayWAL", "Promote", "StartReplicas", "VerifyDatabase", "CheckRestoredServers",
		"FinishRestore", "ReleaseBackup"}, rc.calls)
	v, err := rc.env.QueryWorkflow(api.QueryStatus)
	require.NoError(t, err)
	var p api.RestoreProgress
	require.NoError(t, v.Get(&p))
	require.NotNil(t, p.Recovery)
	require.Equal(t, api.RecoveryPromoted, p.Recovery.Phase)
	require.Equal(t, 2, p.Recovery.Timeline)
}

// A database that fails its check: its servers are stopped before its
// volumes are deleted, then the rest unwinds.
func TestPostgresRestoreVerifyFailureStopsServersFirst(t *testing.T) {
	rc := pgRestoreCase(t, func(e *testsuite.TestWorkflowEnvironment) {
		e.OnActivity(restores.VerifyDatabase, mock.Anything, mock.Anything).Return(
			temporal.NewNonRetryableApplicationError("verify query answered false", api.ReasonRestoreFailed, nil))
	})
	rc.env.ExecuteWorkflow(api.RestoreWorkflowName, api.RestoreRequest{BackupID: "bk-1"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(rc.env.GetWorkflowError(), &appErr))
	require.Equal(t, api.ReasonRestoreFailed, appErr.Type())
	n := len(rc.calls)
	require.Equal(t, []string{"VerifyDatabase", "StopServers", "DeleteVolumes", "SetClusterStatus", "ReleaseBackup", "FinishRestore"}, rc.calls[n-6:])
}
