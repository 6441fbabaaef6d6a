package catalog_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
)

func TestListBackupsPlanSQLite(t *testing.T) {
	ctx := context.Background()
	s := catalogtest.SQLite(t)
	for _, tc := range []struct {
		f     catalog.BackupFilter
		index string
	}{
		{catalog.BackupFilter{Limit: 10}, "backups_created_idx"},
		{catalog.BackupFilter{ClusterID: "c", Limit: 10}, "backups_cluster_created_idx"},
		{catalog.BackupFilter{ClusterID: "c", IncludeDeleted: true}, "backups_cluster_created_idx"},
		{catalog.BackupFilter{JobID: "j", Limit: 10}, "backups_job_created_idx"},
		{catalog.BackupFilter{ManualOnly: true, Limit: 10}, "backups_job_created_idx"},
		// The monitor's latest Completed backup of a job, and a restore's of
		// a cluster: not backups_status_created_idx (every cluster's).
		{catalog.BackupFilter{JobID: "j", Statuses: []catalog.BackupStatus{catalog.BackupCompleted}, Limit: 1}, "backups_job_status_created_idx"},
		{catalog.BackupFilter{ClusterID: "c", Statuses: []catalog.BackupStatus{catalog.BackupCompleted}, Limit: 1}, "backups_cluster_status_created_idx"},
		{catalog.BackupFilter{Statuses: []catalog.BackupStatus{catalog.BackupCompleted}}, "backups_status_created_idx"},
	} {
		plan, err := catalog.SQLitePlanForTest(ctx, s, tc.f)
		require.NoError(t, err)
		t.Logf("%+v:\n%s", tc.f, plan)
		assert.Contains(t, plan, tc.index, "%+v", tc.f)
	}
}
