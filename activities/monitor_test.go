package activities

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
	"github.com/stratabackup/strata/notify"
)

func TestReconcileEventsOnePerClusterAndPerMissingBackup(t *testing.T) {
	evs := ReconcileEvents(api.ReconcilePlan{
		Orphans: []api.Orphan{{ClusterID: "c2", SnapshotID: "s3"}, {ClusterID: "c1", SnapshotID: "s1"}, {ClusterID: "c1", SnapshotID: "s2"}},
		Missing: []api.Missing{{BackupID: "b1", ClusterID: "c1", SnapshotID: "s9"}, {BackupID: "b1", ClusterID: "c1", SnapshotID: "s8"}, {BackupID: "b2", ClusterID: "c2"}},
	})
	var got []string
	for _, e := range evs {
		got = append(got, e.Type+" "+e.ClusterID+" "+e.BackupID)
		assert.NotEmpty(t, e.ID)
	}
	assert.Equal(t, []string{
		api.EventOrphansDeleted + " c1 ", api.EventOrphansDeleted + " c2 ",
		api.EventBackupMissing + " c1 b1", api.EventBackupMissing + " c2 b2",
	}, got)
	assert.Contains(t, evs[0].Summary, "2 orphan snapshot(s)")
	again := ReconcileEvents(api.ReconcilePlan{Orphans: []api.Orphan{{ClusterID: "c1", SnapshotID: "s1"}, {ClusterID: "c1", SnapshotID: "s2"}}})
	assert.Equal(t, evs[0].ID, again[0].ID, "the same finding has the same event ID")
}

// A fleet-wide outage makes every job stale at once: a project with more
// than StormThreshold events of one type gets one summary event, a small
// project its per-job events, and the result stays bounded.
func TestCoalesceStormsOneEventPerProjectAndType(t *testing.T) {
	project := func(cluster string) string {
		return map[string]string{"big-1": "big", "big-2": "big", "small": "small"}[cluster]
	}
	var evs []notify.Event
	for i := range 500 {
		evs = append(evs, notify.Event{ID: fmt.Sprintf("ev-%d", i), Type: api.EventFreshnessViolated, ClusterID: fmt.Sprintf("big-%d", 1+i%2), JobID: fmt.Sprintf("job-%03d", i)})
	}
	evs = append(evs,
		notify.Event{ID: "ev-s1", Type: api.EventFreshnessViolated, ClusterID: "small", JobID: "job-s1"},
		notify.Event{ID: "ev-s2", Type: api.EventScheduleRunMissed, ClusterID: "small", JobID: "job-s1"},
	)
	got := CoalesceStorms(evs, project, StormThreshold)
	require.Len(t, got, 3)
	s := got[0]
	assert.Equal(t, api.EventFreshnessViolated, s.Type)
	assert.Equal(t, "big", s.ProjectID, "the summary goes to the project's channels")
	assert.Empty(t, s.ClusterID)
	assert.Contains(t, s.Summary, "500 jobs of project big")
	assert.Equal(t, 500, s.Details["jobCount"])
	assert.Len(t, s.Details["jobs"], 100)
	assert.Equal(t, true, s.Details["jobsTruncated"])
	assert.Equal(t, []string{"ev-s1", "ev-s2"}, []string{got[1].ID, got[2].ID}, "small groups pass through")
	assert.Equal(t, s.ID, CoalesceStorms(evs, project, StormThreshold)[0].ID, "the same storm has the same event ID")
	assert.Equal(t, evs[:StormThreshold], CoalesceStorms(evs[:StormThreshold], project, StormThreshold), "up to the threshold, nothing changes")
}

func TestLastScheduledRun(t *testing.T) {
	j := catalog.Job{Every: catalog.Duration(time.Hour), Offset: catalog.Duration(15 * time.Minute)}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	assert.Equal(t, at("2026-12-01T10:15:00Z"), lastScheduledRun(j, at("2026-12-01T10:20:00Z")).UTC())
	assert.Equal(t, at("2026-12-01T10:15:00Z"), lastScheduledRun(j, at("2026-12-01T10:15:00Z")).UTC())
	assert.Equal(t, at("2026-12-01T09:15:00Z"), lastScheduledRun(j, at("2026-12-01T10:14:59Z")).UTC())
}

// One run reads at most ScheduleChecks schedules: the suspect first (its
// last scheduled run left no Completed backup), then the ones read least
// recently, so that every schedule is read within a few runs and a run's
// cost does not grow with the fleet.
func TestCheckJobsReadsABoundedRotationOfSchedules(t *testing.T) {
	ctx := context.Background()
	cat := catalogtest.Open(t, catalogtest.SQLiteDSN(t))
	now := time.Now()
	var mu sync.Mutex
	var read []string
	a := &Monitor{Catalog: cat, ScheduleCounts: func(_ context.Context, id string) (int, int, error) {
		mu.Lock()
		defer mu.Unlock()
		read = append(read, id)
		if id == "sched-j3" {
			return 2, 0, nil // two runs skipped
		}
		return 0, 0, nil
	}}
	for i := range 5 {
		id := fmt.Sprintf("c%d", i)
		require.NoError(t, cat.CreateCluster(ctx, catalog.Cluster{ID: id, Provider: "local", Status: catalog.ClusterRunning, CreatedAt: now,
			Nodes: []catalog.Node{{ID: id + "-n1", Healthy: true, Volumes: []catalog.Volume{{ID: id + "-v", NodeID: id + "-n1", SizeGB: 1}}}}}))
		created := now.Add(-time.Duration(5-i) * time.Second)
		if i == 4 {
			created = now.Add(-3 * time.Hour) // has missed its scheduled runs: the suspect
		}
		require.NoError(t, cat.CreateJob(ctx, catalog.Job{ID: fmt.Sprintf("j%d", i), ClusterID: id, ScheduleID: fmt.Sprintf("sched-j%d", i),
			Every: catalog.Duration(time.Hour), Retention: catalog.Retention{KeepLast: 1}, CreatedAt: created, UpdatedAt: created}))
	}
	run := func(at time.Time) ([]string, []notify.Event) {
		t.Helper()
		read = nil
		evs, err := a.CheckJobs(ctx, CheckJobsInput{Now: at, FreshnessMultiple: 1000, ScheduleChecks: 2})
		require.NoError(t, err)
		sort.Strings(read)
		return read, evs
	}
	got, evs := run(now)
	assert.Equal(t, []string{"sched-j0", "sched-j4"}, got, "the suspect, then the first never read")
	assert.Empty(t, evs)
	got, evs = run(now.Add(time.Second))
	assert.Equal(t, []string{"sched-j1", "sched-j4"}, got)
	assert.Empty(t, evs)
	got, evs = run(now.Add(2 * time.Second))
	assert.Equal(t, []string{"sched-j2", "sched-j4"}, got)
	got, evs = run(now.Add(3 * time.Second))
	assert.Equal(t, []string{"sched-j3", "sched-j4"}, got)
	require.Len(t, evs, 1, "j3's skipped runs, once it was read")
	assert.Equal(t, api.EventScheduleRunSkipped, evs[0].Type)
	assert.Equal(t, "j3", evs[0].JobID)
	got, _ = run(now.Add(4 * time.Second))
	assert.Equal(t, []string{"sched-j0", "sched-j4"}, got, "round again, least recently read first")
	j, err := cat.GetJob(ctx, "j3")
	require.NoError(t, err)
	require.NotNil(t, j.Monitor.ScheduleCheckedAt)
	assert.Equal(t, 2, j.Monitor.SeenSkipped)
}
