package observability

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/starter/strata"
)

// A backup that ended Defunct on its deadline leaves no activity pending
// on its closed workflow: the snapshot wait it cancelled has stopped
// before the workflow ended.
func TestTimedOutBackupLeavesNoPendingActivity(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1, VolumesPerNode: 2})
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotHang: true}))
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID, Timeout: catalog.Duration(2 * time.Second)})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	defunct(t, err, api.ReasonTimeout)

	desc, err := e.Client.DescribeWorkflowExecution(ctx, run.WorkflowID, "")
	require.NoError(t, err)
	assert.NotEqual(t, "Running", desc.GetWorkflowExecutionInfo().GetStatus().String())
	for _, pa := range desc.GetPendingActivities() {
		t.Errorf("activity %s (%s) is still pending on the closed backup", pa.GetActivityType().GetName(), pa.GetState())
	}
	server.RecordHistory(t, run.WorkflowID, "", "backup_timeout_awaits_cancelled")
}

// A job's schedule names its cluster and job in its note (shown on the
// schedule's page in the Web UI), its memo and its search attributes.
func TestScheduleNamesItsCluster(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	job, err := e.Strata.CreateJob(ctx, strata.JobSpec{ClusterID: cl.ID, Every: 2 * time.Hour, Retention: api.Retention{KeepLast: 2}, Paused: true})
	require.NoError(t, err)
	desc, err := e.Client.ScheduleClient().GetHandle(ctx, job.ScheduleID).Describe(ctx)
	require.NoError(t, err)
	memo := map[string]string{}
	for k, p := range desc.Memo.GetFields() {
		var v string
		require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &v))
		memo[k] = v
	}
	assert.Equal(t, cl.ID, memo["cluster"])
	assert.Equal(t, job.ID, memo["job"])
	assert.Equal(t, "Backups of cluster "+cl.ID+" every 2h (job "+job.ID+")", memo["summary"])
	assert.Equal(t, "Backups of cluster "+cl.ID+" every 2h (job "+job.ID+"); paused by starter", desc.Schedule.State.Note,
		"the note, which the Web UI shows on the schedule's page, says whose schedule it is")
	_, err = e.Strata.PauseJob(ctx, job.ID, false)
	require.NoError(t, err)
	desc, err = e.Client.ScheduleClient().GetHandle(ctx, job.ScheduleID).Describe(ctx)
	require.NoError(t, err)
	assert.Equal(t, "Backups of cluster "+cl.ID+" every 2h (job "+job.ID+"); resumed by starter", desc.Schedule.State.Note)
	got, ok := desc.TypedSearchAttributes.GetKeyword(api.SearchAttrClusterID)
	assert.True(t, ok)
	assert.Equal(t, cl.ID, got)
}
