package activities

import (
	"testing"

	"github.com/stretchr/testify/assert"

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
