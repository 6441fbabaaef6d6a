package e2e

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/notify"
	"github.com/stratabackup/strata/starter/strata"
)

func types(evs []notify.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// webhookChannel is a webhook receiver, registered as a channel of
// project default.
func webhookChannel(t *testing.T, e *stratatest.Env) *receiver {
	t.Helper()
	hook := &receiver{accepted: map[string]int{}}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	_, err := e.Strata.AddChannel(ctxT(t), api.AddChannelRequest{ProjectID: "default", Kind: "webhook", URL: srv.URL})
	require.NoError(t, err)
	return hook
}

func TestMonitorNotifiesFreshnessOnceAndSkippedRuns(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	hook := webhookChannel(t, e)
	cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
	job := newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Retention: api.Retention{KeepLast: 3}})
	// A bound of 0.001 × 1h = 3.6 s stands in for "2 intervals".
	const multiple = 0.001
	stratatest.Eventually(t, 10*time.Second, "the job to outlive its freshness bound", func() bool {
		return time.Since(job.CreatedAt) > 4*time.Second
	})

	evs, err := e.Strata.CheckJobs(ctx, multiple)
	require.NoError(t, err)
	assert.Equal(t, []string{api.EventFreshnessViolated}, types(evs))
	evs, err = e.Strata.CheckJobs(ctx, multiple)
	require.NoError(t, err)
	assert.Empty(t, evs, "a violation is notified once")
	v, err := e.Strata.GetJob(ctx, job.ID)
	require.NoError(t, err)
	assert.True(t, v.Monitor.Stale, "visible on the job")

	triggerAndWait(t, e, job.ID)
	evs, err = e.Strata.CheckJobs(ctx, multiple)
	require.NoError(t, err)
	assert.Equal(t, []string{api.EventFreshnessRecovered}, types(evs), "and its recovery once")

	// An overlapping run is skipped: notified once.
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: catalog.Duration(2 * time.Second)}))
	before, err := e.Strata.GetJob(ctx, job.ID)
	require.NoError(t, err)
	last := before.Schedule.RecentRuns[len(before.Schedule.RecentRuns)-1].StartedAt.Truncate(time.Second)
	stratatest.Eventually(t, 3*time.Second, "a new second", func() bool { return time.Now().Truncate(time.Second).After(last) })
	require.NoError(t, e.Strata.TriggerJob(ctx, job.ID))
	stratatest.Eventually(t, 30*time.Second, "the run to be running", func() bool {
		v, err := e.Strata.GetJob(ctx, job.ID)
		return err == nil && len(v.Schedule.Running) == 1
	})
	require.NoError(t, e.Strata.TriggerJob(ctx, job.ID))
	stratatest.Eventually(t, 30*time.Second, "the second trigger to be skipped", func() bool {
		v, err := e.Strata.GetJob(ctx, job.ID)
		return err == nil && v.Schedule.SkippedOverlap == 1
	})
	evs, err = e.Strata.CheckJobs(ctx, 1000) // freshness out of the way
	require.NoError(t, err)
	assert.Contains(t, types(evs), api.EventScheduleRunSkipped)
	evs, err = e.Strata.CheckJobs(ctx, 1000)
	require.NoError(t, err)
	assert.NotContains(t, types(evs), api.EventScheduleRunSkipped, "each skip is notified once")

	stratatest.Eventually(t, 30*time.Second, "the webhook to receive violated, recovered and skipped", func() bool { return hook.count() >= 3 })
}

// A fleet-wide outage makes every job of a project stale at once: the
// project's channels get one summary, not one message per job.
func TestMonitorSendsOneSummaryForAStormOfStaleJobs(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	hook := webhookChannel(t, e)
	n := activities.StormThreshold + 5
	var newest time.Time
	for range n {
		cl := e.Cluster(strata.ClusterSpec{Nodes: 1})
		newest = newJob(t, e, strata.JobSpec{ClusterID: cl.ID, Retention: api.Retention{KeepLast: 3}}).CreatedAt
	}
	const multiple = 0.001 // a bound of 3.6 s
	stratatest.Eventually(t, 10*time.Second, "every job to outlive its freshness bound", func() bool {
		return time.Since(newest) > 4*time.Second
	})

	evs, err := e.Strata.CheckJobs(ctx, multiple)
	require.NoError(t, err)
	require.Len(t, evs, 1, "one summary event: %v", types(evs))
	assert.Equal(t, api.EventFreshnessViolated, evs[0].Type)
	assert.Equal(t, "default", evs[0].ProjectID)
	assert.Contains(t, evs[0].Summary, fmt.Sprintf("%d jobs of project default", n))
	stratatest.Eventually(t, 30*time.Second, "the webhook to receive the summary", func() bool { return hook.count() == 1 })
	evs, err = e.Strata.CheckJobs(ctx, multiple)
	require.NoError(t, err)
	assert.Empty(t, evs, "each job's violation was recorded: notified once")
	assert.Equal(t, 1, hook.count())
}
