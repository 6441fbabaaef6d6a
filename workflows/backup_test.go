package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/notify"
)

// BackupSuite covers every branch of the backup saga with mocked
// activities; the e2e package runs the real ones on a real server.
type BackupSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env    *testsuite.TestWorkflowEnvironment
	calls  []string
	local  []string // the calls that ran as local activities
	reason string
	events []notify.Event
}

func TestBackupSuite(t *testing.T) { suite.Run(t, new(BackupSuite)) }

var (
	vols = []catalog.Volume{{ID: "c1-n1-v1", NodeID: "c1-n1", SizeGB: 10}, {ID: "c1-n2-v1", NodeID: "c1-n2", SizeGB: 10}}
	plan = activities.BackupPlan{ClusterID: "c1", Provider: "local", LabelTemplate: "{cluster:id}-{index}", Timeout: time.Hour,
		LockTTL: time.Minute, PollInterval: time.Second, HeartbeatTimeout: 30 * time.Second, ProgressStep: 25, Volumes: vols}
	pendingSnaps = []catalog.Snapshot{
		{NodeID: "c1-n1", VolumeID: "c1-n1-v1", SnapshotID: "snap-1", Status: catalog.SnapshotPending},
		{NodeID: "c1-n2", VolumeID: "c1-n2-v1", SnapshotID: "snap-2", Status: catalog.SnapshotPending},
	}
)

func doneSnaps() []catalog.Snapshot {
	out := append([]catalog.Snapshot(nil), pendingSnaps...)
	for i := range out {
		out[i].Status, out[i].Progress = catalog.SnapshotCompleted, 100
	}
	return out
}

func (s *BackupSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflowWithOptions(BackupWorkflow, workflow.RegisterOptions{Name: api.BackupWorkflowName})
	registerActivities(s.env)
	s.env.RegisterWorkflowWithOptions(NotifyWorkflow, workflow.RegisterOptions{Name: api.NotifyWorkflowName})
	s.env.RegisterWorkflowWithOptions(PruneWorkflow, workflow.RegisterOptions{Name: api.PruneWorkflowName})
	s.calls, s.local, s.reason, s.events = nil, nil, "", nil
	s.env.OnWorkflow(api.NotifyWorkflowName, mock.Anything, mock.Anything).Return(func(_ workflow.Context, req api.NotifyRequest) (api.NotifyResult, error) {
		s.events = append(s.events, req.Event)
		return api.NotifyResult{}, nil
	}).Maybe()
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		s.calls = append(s.calls, info.ActivityType.Name)
	})
	// The short catalog steps are local activities (localStepsChange).
	s.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		s.calls = append(s.calls, info.ActivityType.Name)
		s.local = append(s.local, info.ActivityType.Name)
	})
}

func (s *BackupSuite) AfterTest(_, _ string) { s.env.AssertExpectations(s.T()) }

// happy mocks every step to succeed. A test mocks the step it exercises
// before calling happy: the first matching mock wins.
func (s *BackupSuite) happy() {
	s.env.OnActivity(backups.ValidateBackup, mock.Anything, mock.Anything).Return(plan, nil).Maybe()
	s.env.OnActivity(backups.CreateBackupRecord, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateBackupRecordInput) (catalog.Backup, error) {
			return catalog.Backup{ID: in.BackupID, ClusterID: in.ClusterID, Label: "c1-1", Index: 1, Status: catalog.BackupPending}, nil
		}).Maybe()
	s.env.OnActivity(backups.AcquireLock, mock.Anything, mock.Anything).Return(catalog.Lock{Holder: "backup x", Token: 7}, nil).Maybe()
	s.env.OnActivity(backups.CheckHealth, mock.Anything, mock.Anything).Return(activities.HealthResult{PreferredNodeID: "c1-n1"}, nil).Maybe()
	s.env.OnActivity(backups.MarkInProgress, mock.Anything, mock.Anything).Return(nil).Maybe()
	s.env.OnActivity(backups.StartSnapshots, mock.Anything, mock.Anything).Return(pendingSnaps, nil).Maybe()
	s.env.OnActivity(backups.WaitSnapshots, mock.Anything, mock.Anything).Return(activities.WaitSnapshotsResult{Snapshots: doneSnaps(), Done: true}, nil).Maybe()
	s.env.OnActivity(backups.CompleteBackup, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CompleteInput) (catalog.Backup, error) {
			return catalog.Backup{ID: in.BackupID, ClusterID: "c1", Status: catalog.BackupCompleted, Snapshots: in.Snapshots}, nil
		}).Maybe()
	s.env.OnActivity(backups.RecordDeadline, mock.Anything, mock.Anything).Return(nil).Maybe()
	s.env.OnActivity(backups.ReleaseLock, mock.Anything, mock.Anything).Return(nil).Maybe()
	s.env.OnActivity(backups.MarkDefunct, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.MarkDefunctInput) (catalog.Backup, error) {
			s.reason = in.Reason
			return catalog.Backup{ID: in.BackupID, Status: catalog.BackupDefunct, Reason: in.Reason}, nil
		}).Maybe()
}

func (s *BackupSuite) run() {
	s.env.ExecuteWorkflow(api.BackupWorkflowName, api.BackupRequest{ClusterID: "c1"})
	s.True(s.env.IsWorkflowCompleted())
}

// failure asserts the workflow failed with reason code and returns the
// message.
func (s *BackupSuite) failure(code string) string {
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "want application error, got %v", err)
	s.Equal(code, appErr.Type())
	return appErr.Message()
}

func (s *BackupSuite) count(name string) int {
	n := 0
	for _, c := range s.calls {
		if c == name {
			n++
		}
	}
	return n
}

func (s *BackupSuite) defunctReason() string { return s.reason }

func (s *BackupSuite) TestSuccess() {
	s.happy()
	s.run()
	s.NoError(s.env.GetWorkflowError())
	var res api.Backup
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(catalog.BackupCompleted, res.Status)
	s.Len(res.Snapshots, 2)
	s.Equal(1, s.count("ReleaseLock"), "lock released once")
	s.Zero(s.count("MarkDefunct"))
	s.Equal([]string{"ValidateBackup", "CreateBackupRecord", "AcquireLock", "CheckHealth", "MarkInProgress", "StartSnapshots", "WaitSnapshots", "CompleteBackup", "ReleaseLock"}, s.calls)
	s.Equal([]string{"ValidateBackup", "CreateBackupRecord", "AcquireLock", "CheckHealth", "MarkInProgress", "CompleteBackup", "ReleaseLock"}, s.local,
		"catalog steps run as local activities; the provider steps as activities")
}

func (s *BackupSuite) TestInvalidRequestCreatesNothing() {
	s.env.OnActivity(backups.ValidateBackup, mock.Anything, mock.Anything).Return(activities.BackupPlan{},
		temporal.NewNonRetryableApplicationError("invalid backup request: label template \"{nope}\": unknown variable", api.ReasonInvalidRequest, nil))
	s.run()
	s.Contains(s.failure(api.ReasonInvalidRequest), "unknown variable")
	s.Equal([]string{"ValidateBackup"}, s.calls, "no record, no lock, no compensation")
	s.Empty(s.events, "a rejected request is the caller's error, not a notification")
}

func (s *BackupSuite) TestClusterLocked() {
	s.env.OnActivity(backups.AcquireLock, mock.Anything, mock.Anything).Return(catalog.Lock{},
		temporal.NewNonRetryableApplicationError(`cluster c1 is locked by "resize"`, api.ReasonClusterLocked, nil))
	s.happy()
	s.run()
	s.Contains(s.failure(api.ReasonClusterLocked), `"resize"`)
	s.Zero(s.count("ReleaseLock"), "a lock we never took is not released")
	s.Equal(1, s.count("MarkDefunct"))
	s.True(strings.HasPrefix(s.defunctReason(), "ClusterLocked: "), s.defunctReason())
	s.Require().Len(s.events, 1, "a Defunct backup notifies")
	s.Equal(api.EventBackupDefunct, s.events[0].Type)
	s.Equal(s.defunctReason(), s.events[0].Reason)
	s.NotEmpty(s.events[0].ID)
}

func (s *BackupSuite) TestUnhealthyCompensatesInReverse() {
	s.env.OnActivity(backups.CheckHealth, mock.Anything, mock.Anything).Return(activities.HealthResult{},
		temporal.NewNonRetryableApplicationError("cluster c1 has unhealthy nodes: c1-n2 (unhealthy)", api.ReasonClusterUnhealthy, nil))
	s.happy()
	s.run()
	s.Contains(s.failure(api.ReasonClusterUnhealthy), "c1-n2")
	n := len(s.calls)
	s.Equal([]string{"ReleaseLock", "MarkDefunct"}, s.calls[n-2:], "compensations run in reverse")
	s.NotContains(s.local, "ReleaseLock", "compensations are activities: pending in the UI, retried for a day")
	s.NotContains(s.local, "MarkDefunct")
	s.Zero(s.count("StartSnapshots"))
}

func (s *BackupSuite) TestSnapshotStartFails() {
	s.env.OnActivity(backups.StartSnapshots, mock.Anything, mock.Anything).Return(nil,
		temporal.NewNonRetryableApplicationError("volume c1-n1-v1 of backup x: local: volume not found", api.ReasonProviderError, nil))
	s.happy()
	s.run()
	s.failure(api.ReasonProviderError)
	s.Equal(1, s.count("ReleaseLock"))
	s.Equal(1, s.count("MarkDefunct"))
}

func (s *BackupSuite) TestSnapshotFails() {
	s.env.OnActivity(backups.WaitSnapshots, mock.Anything, mock.Anything).Return(activities.WaitSnapshotsResult{},
		temporal.NewNonRetryableApplicationError("snapshot snap-2 of volume c1-n2-v1 failed", api.ReasonSnapshotFailed, nil))
	s.happy()
	s.run()
	s.Contains(s.failure(api.ReasonSnapshotFailed), "snap-2")
	s.True(strings.HasPrefix(s.defunctReason(), "SnapshotFailed: "))
	s.Equal(1, s.count("ReleaseLock"))
}

func (s *BackupSuite) TestTimeoutRecordsPendingSnapshots() {
	s.env.OnActivity(backups.WaitSnapshots, mock.Anything, mock.Anything).After(2*time.Hour).
		Return(activities.WaitSnapshotsResult{Snapshots: doneSnaps(), Done: true}, nil)
	s.happy()
	s.run()
	msg := s.failure(api.ReasonTimeout)
	s.Contains(msg, "did not complete within 1h0m0s")
	s.Contains(msg, "snap-1", "the timeout names the unfinished snapshots")
	s.Equal(1, s.count("ReleaseLock"))
	s.Equal(1, s.count("MarkDefunct"))
	s.Zero(s.count("CompleteBackup"))
}

func (s *BackupSuite) TestProgressIsQueryableBetweenWaits() {
	half := append([]catalog.Snapshot(nil), pendingSnaps...)
	half[0].Status, half[0].Progress = catalog.SnapshotCompleted, 100
	s.env.OnActivity(backups.WaitSnapshots, mock.Anything, mock.Anything).Return(activities.WaitSnapshotsResult{Snapshots: half}, nil).Once()
	s.env.OnActivity(backups.WaitSnapshots, mock.Anything, mock.Anything).After(10*time.Minute).
		Return(activities.WaitSnapshotsResult{Snapshots: doneSnaps(), Done: true}, nil).Once()
	s.happy()
	var mid api.BackupProgress
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(api.QueryStatus)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&mid))
	}, 5*time.Minute)
	s.run()
	s.NoError(s.env.GetWorkflowError())
	s.Equal(api.StepWaiting, mid.Step)
	s.Equal(catalog.BackupInProgress, mid.Status)
	s.Equal(1, mid.Completed)
	s.Equal(2, mid.Total)
	s.NotNil(mid.Deadline)
	s.Equal(2, s.count("WaitSnapshots"))
}

func (s *BackupSuite) TestExtendTimeoutLetsLongSnapshotsFinish() {
	s.env.OnActivity(backups.WaitSnapshots, mock.Anything, mock.Anything).After(90*time.Minute).
		Return(activities.WaitSnapshotsResult{Snapshots: doneSnaps(), Done: true}, nil)
	s.happy()
	var accepted bool
	var res api.ExtendTimeoutResult
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(api.UpdateExtendTimeout, "ext-1", &testsuite.TestUpdateCallback{
			OnAccept: func() { accepted = true },
			OnReject: func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(v interface{}, err error) {
				s.NoError(err)
				res = v.(api.ExtendTimeoutResult)
			},
		}, api.ExtendTimeoutRequest{Timeout: catalog.Duration(2 * time.Hour)})
	}, 30*time.Minute)
	s.run()
	s.NoError(s.env.GetWorkflowError())
	s.True(accepted)
	s.False(res.Deadline.IsZero())
	s.Equal(1, s.count("RecordDeadline"), "the new deadline is recorded in the catalog")
}

func (s *BackupSuite) TestExtendTimeoutRejectsEarlierDeadline() {
	s.env.OnActivity(backups.WaitSnapshots, mock.Anything, mock.Anything).After(20*time.Minute).
		Return(activities.WaitSnapshotsResult{Snapshots: doneSnaps(), Done: true}, nil)
	s.happy()
	var rejected error
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(api.UpdateExtendTimeout, "ext-1", &testsuite.TestUpdateCallback{
			OnAccept:   func() { s.Fail("accepted a shorter timeout") },
			OnReject:   func(err error) { rejected = err },
			OnComplete: func(interface{}, error) {},
		}, api.ExtendTimeoutRequest{Timeout: catalog.Duration(30 * time.Minute)})
	}, 10*time.Minute)
	s.run()
	s.NoError(s.env.GetWorkflowError())
	s.Require().Error(rejected)
	s.Contains(rejected.Error(), "not later than the current deadline")
	s.Zero(s.count("RecordDeadline"))
}

func (s *BackupSuite) TestCancelMarksDefunctAndReleases() {
	s.env.OnActivity(backups.WaitSnapshots, mock.Anything, mock.Anything).After(time.Hour*3).
		Return(activities.WaitSnapshotsResult{Snapshots: doneSnaps(), Done: true}, nil)
	s.happy()
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 10*time.Minute)
	s.run()
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	var canceled *temporal.CanceledError
	s.True(errors.As(err, &canceled), "a cancelled backup's workflow ends Canceled, got %v", err)
	s.Equal(1, s.count("ReleaseLock"))
	s.Equal(1, s.count("MarkDefunct"))
	s.Equal("Cancelled: backup cancelled by request", s.defunctReason())
}

func (s *BackupSuite) TestRerunOfFinishedBackupDoesNothing() {
	s.env.OnActivity(backups.CreateBackupRecord, mock.Anything, mock.Anything).Return(
		catalog.Backup{ID: "bk-x", ClusterID: "c1", Status: catalog.BackupCompleted}, nil)
	s.happy()
	s.run()
	s.NoError(s.env.GetWorkflowError())
	s.Equal([]string{"ValidateBackup", "CreateBackupRecord"}, s.calls)
}

func (s *BackupSuite) TestLockLostFailsBackup() {
	s.env.OnActivity(backups.WaitSnapshots, mock.Anything, mock.Anything).Return(activities.WaitSnapshotsResult{},
		temporal.NewNonRetryableApplicationError("cluster c1: lock lease lost", api.ReasonLockLost, nil))
	s.happy()
	s.run()
	s.failure(api.ReasonLockLost)
	s.Equal(1, s.count("MarkDefunct"))
}

func TestBackupIDForIsStableAndDistinct(t *testing.T) {
	require.Equal(t, api.BackupIDFor("backup-r1"), api.BackupIDFor("backup-r1"))
	require.NotEqual(t, api.BackupIDFor("backup-r1"), api.BackupIDFor("backup-r2"))
	require.Regexp(t, `^bk-[0-9a-v]{12}$`, api.BackupIDFor("anything at all"))
}

func (s *BackupSuite) TestJobBackupPrunesAfterSuccess() {
	s.happy()
	pruned := ""
	s.env.OnWorkflow(api.PruneWorkflowName, mock.Anything, mock.Anything).Return(func(_ workflow.Context, req api.PruneRequest) (api.PruneResult, error) {
		pruned = req.JobID
		return api.PruneResult{}, temporal.NewApplicationError("catalog down", "Internal")
	})
	s.env.ExecuteWorkflow(api.BackupWorkflowName, api.BackupRequest{ClusterID: "c1", JobID: "job-1"})
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError(), "a failed prune never fails the Completed backup")
	s.Equal("job-1", pruned)
}

func (s *BackupSuite) TestFailedJobBackupDoesNotPrune() {
	s.env.OnActivity(backups.CheckHealth, mock.Anything, mock.Anything).Return(activities.HealthResult{},
		temporal.NewNonRetryableApplicationError("unhealthy", api.ReasonClusterUnhealthy, nil))
	s.happy()
	s.env.ExecuteWorkflow(api.BackupWorkflowName, api.BackupRequest{ClusterID: "c1", JobID: "job-1"})
	s.failure(api.ReasonClusterUnhealthy)
	s.Zero(s.count("PlanPrune"), "only a success prunes")
}
