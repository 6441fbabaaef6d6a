package catalog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
)

// ListBackups loads snapshots and holds by backup IDs in chunks: every
// backup gets its own, whichever chunk it falls in.
func TestListBackupsDetailsAcrossChunks(t *testing.T) {
	defer catalog.UseDetailsChunkForTest(2)()
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "a")
		const n = 5
		for i := range n {
			id := fmt.Sprintf("b%d", i)
			_, _, err := s.CreateBackup(ctx, newBackup(id, "a", "j", t0.Add(time.Duration(i)*time.Second)))
			require.NoError(t, err)
			var snaps []catalog.Snapshot
			for k := 0; k <= i%3; k++ {
				snaps = append(snaps, catalog.Snapshot{NodeID: "a-n2", VolumeID: []string{"a-n2-vb", "a-n2-va", "a-n1-v"}[k],
					SnapshotID: fmt.Sprintf("%s-s%d", id, k), Status: catalog.SnapshotCompleted})
			}
			require.NoError(t, s.UpsertSnapshots(ctx, id, snaps, nil))
			_, err = s.TransitionBackup(ctx, id, catalog.Transition{To: catalog.BackupCompleted, From: []catalog.BackupStatus{catalog.BackupPending}})
			require.NoError(t, err)
			if i%2 == 1 {
				require.NoError(t, s.AddHold(ctx, id, "restore-"+id))
			}
		}
		for _, f := range []catalog.BackupFilter{{}, {ClusterID: "a"}, {JobID: "j", Limit: 4}} {
			list, err := s.ListBackups(ctx, f)
			require.NoError(t, err)
			want := n
			if f.Limit > 0 {
				want = f.Limit
			}
			require.Len(t, list, want, "%+v", f)
			for _, b := range list {
				one, err := s.GetBackup(ctx, b.ID)
				require.NoError(t, err)
				assert.Equal(t, one, b, "%+v", f)
				var i int
				_, _ = fmt.Sscanf(b.ID, "b%d", &i)
				assert.Len(t, b.Snapshots, i%3+1, b.ID)
				assert.Equal(t, i%2 == 1, len(b.Holds) == 1, b.ID)
			}
		}
	})
}
