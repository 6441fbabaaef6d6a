package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/retention"
)

func deleteEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(DeleteBackupWorkflow, workflow.RegisterOptions{Name: api.DeleteBackupWorkflowName})
	env.RegisterWorkflowWithOptions(PruneWorkflow, workflow.RegisterOptions{Name: api.PruneWorkflowName})
	registerActivities(env)
	env.RegisterWorkflowWithOptions(NotifyWorkflow, workflow.RegisterOptions{Name: api.NotifyWorkflowName})
	env.OnWorkflow(api.NotifyWorkflowName, mock.Anything, mock.Anything).Return(api.NotifyResult{}, nil).Maybe()
	t.Cleanup(func() { env.AssertExpectations(t) })
	return env
}

func TestDeleteBackupOrdered(t *testing.T) {
	env := deleteEnv(t)
	var order []string
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: api.DeleteWorkflowID("bk-1")})
	env.OnActivity(deletions.StartDeletion, mock.Anything, activities.BackupRef{BackupID: "bk-1", WorkflowID: api.DeleteWorkflowID("bk-1")}).Return(
		func(context.Context, activities.BackupRef) (catalog.Backup, error) {
			order = append(order, "Deleting")
			return catalog.Backup{ID: "bk-1", Status: catalog.BackupDeleting}, nil
		})
	env.OnActivity(deletions.DeleteSnapshots, mock.Anything, mock.Anything).Return(func(context.Context, activities.BackupRef) error {
		order = append(order, "snapshots")
		return nil
	})
	env.OnActivity(deletions.FinishDeletion, mock.Anything, mock.Anything).Return(func(context.Context, activities.BackupRef) (catalog.Backup, error) {
		order = append(order, "Deleted")
		return catalog.Backup{ID: "bk-1", Status: catalog.BackupDeleted}, nil
	})
	env.ExecuteWorkflow(api.DeleteBackupWorkflowName, api.DeleteBackupRequest{BackupID: "bk-1"})
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, []string{"Deleting", "snapshots", "Deleted"}, order)
}

func TestDeleteBackupThatKeepsFailingStopsWithAVisibleReason(t *testing.T) {
	env := deleteEnv(t)
	env.OnActivity(deletions.StartDeletion, mock.Anything, mock.Anything).Return(catalog.Backup{ID: "bk-1", Status: catalog.BackupDeleting}, nil)
	attempts := 0
	env.OnActivity(deletions.DeleteSnapshots, mock.Anything, mock.Anything).Return(func(context.Context, activities.BackupRef) error {
		attempts++
		return errors.New("aws: RequestLimitExceeded")
	})
	var recorded string
	env.OnActivity(deletions.FailDeletion, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FailDeletionInput) error {
		recorded = in.Reason
		return nil
	})
	env.ExecuteWorkflow(api.DeleteBackupWorkflowName, api.DeleteBackupRequest{BackupID: "bk-1"})
	err := env.GetWorkflowError()
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.Equal(t, api.ReasonDeleteFailed, appErr.Type())
	require.Equal(t, 8, attempts, "bounded retries, not a loop forever")
	require.Contains(t, recorded, "DeleteFailed: ")
	require.Contains(t, recorded, "RequestLimitExceeded")
}

func TestDeleteOfAHeldBackupIsRefused(t *testing.T) {
	env := deleteEnv(t)
	env.OnActivity(deletions.StartDeletion, mock.Anything, mock.Anything).Return(catalog.Backup{},
		temporal.NewNonRetryableApplicationError("backup bk-1 is in use by restore r-1", api.ReasonBackupInUse, nil))
	env.ExecuteWorkflow(api.DeleteBackupWorkflowName, api.DeleteBackupRequest{BackupID: "bk-1"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &appErr))
	require.Equal(t, api.ReasonBackupInUse, appErr.Type())
}

func TestPruneDeletesOnlyWhatThePlanSaysAndReportsFailures(t *testing.T) {
	env := deleteEnv(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	env.SetStartTime(now)
	env.OnActivity(deletions.PlanPrune, mock.Anything, mock.Anything).Return([]retention.Decision{
		{BackupID: "bk-new", Delete: false, Reason: "within keep-last 1 (#1)"},
		{BackupID: "bk-old", Delete: true, Reason: "beyond keep-last 1"},
		{BackupID: "bk-bad", Delete: true, Reason: "defunct"},
	}, nil)
	env.OnWorkflow(api.DeleteBackupWorkflowName, mock.Anything, api.DeleteBackupRequest{BackupID: "bk-old"}).Return(api.Backup{ID: "bk-old", Status: api.BackupDeleted}, nil)
	env.OnWorkflow(api.DeleteBackupWorkflowName, mock.Anything, api.DeleteBackupRequest{BackupID: "bk-bad"}).Return(api.Backup{},
		temporal.NewNonRetryableApplicationError("DeleteFailed: provider down", api.ReasonDeleteFailed, nil))
	env.ExecuteWorkflow(api.PruneWorkflowName, api.PruneRequest{JobID: "job-1"})
	require.NoError(t, env.GetWorkflowError(), "a failed deletion does not fail the prune")
	var res api.PruneResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, []string{"bk-old"}, res.Deleted)
	require.Len(t, res.Failed, 1)
	require.Equal(t, "bk-bad", res.Failed[0].BackupID)
	require.Contains(t, res.Failed[0].Reason, "provider down")
}
