package activities

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/notify"
)

func TestReconcileEventsOnePerClusterAndPerMissingBackup(t *testing.T) {
	evs := ReconcileEvents(ReconcilePlan{
		Orphans: []Orphan{{ClusterID: "c2", SnapshotID: "s3"}, {ClusterID: "c1", SnapshotID: "s1"}, {ClusterID: "c1", SnapshotID: "s2"}},
		Missing: []Missing{{BackupID: "b1", ClusterID: "c1", SnapshotID: "s9"}, {BackupID: "b1", ClusterID: "c1", SnapshotID: "s8"}, {BackupID: "b2", ClusterID: "c2"}},
	})
	var got []string
	for _, e := range evs {
		got = append(got, e.Type+" "+e.ClusterID+" "+e.BackupID)
		assert.NotEmpty(t, e.ID)
	}
	assert.Equal(t, []string{
		notify.OrphansDeleted + " c1 ", notify.OrphansDeleted + " c2 ",
		notify.BackupMissing + " c1 b1", notify.BackupMissing + " c2 b2",
	}, got)
	assert.Contains(t, evs[0].Summary, "2 orphan snapshot(s)")
	again := ReconcileEvents(ReconcilePlan{Orphans: []Orphan{{ClusterID: "c1", SnapshotID: "s1"}, {ClusterID: "c1", SnapshotID: "s2"}}})
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
		evs = append(evs, notify.Event{ID: fmt.Sprintf("ev-%d", i), Type: notify.FreshnessViolated, ClusterID: fmt.Sprintf("big-%d", 1+i%2), JobID: fmt.Sprintf("job-%03d", i)})
	}
	evs = append(evs,
		notify.Event{ID: "ev-s1", Type: notify.FreshnessViolated, ClusterID: "small", JobID: "job-s1"},
		notify.Event{ID: "ev-s2", Type: notify.ScheduleRunMissed, ClusterID: "small", JobID: "job-s1"},
	)
	got := CoalesceStorms(evs, project, StormThreshold)
	require.Len(t, got, 3)
	s := got[0]
	assert.Equal(t, notify.FreshnessViolated, s.Type)
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
