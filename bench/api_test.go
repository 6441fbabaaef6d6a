package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
)

// apiBackups is the history of the cluster whose backups are listed.
const apiBackups = 10000

// BenchmarkAPIReads times reads through the control workflow, the only
// way a caller with a Temporal connection reads the catalog: `backup list
// --cluster` of a cluster with 10,000 backups (3 nodes x 2 volumes, so 6
// snapshots each; paged, 1,000 a page), in the basic view the CLI's table
// reads and the full one of --json, and one `cluster show`, next to the
// same list read from the catalog directly. It also counts what each costs
// the control workflow's history: reads (queries) nothing, a write (an
// update) a few events. Target: `backup list --cluster` under 300 ms.
func BenchmarkAPIReads(b *testing.B) {
	e := newEnv(b, benchConfig())
	ctx := context.Background()
	cluster := e.addClusters(1, 3, 2)[0]
	seedStart := time.Now()
	seedBackups(b, e, cluster, apiBackups)
	b.Logf("seeded %d backups in %s", apiBackups, time.Since(seedStart).Round(time.Millisecond))
	controlID := api.ControlWorkflowID(e.queue)
	if _, err := e.strata.GetCluster(ctx, cluster); err != nil { // starts the control workflow
		b.Fatal(err)
	}
	events := func() int64 {
		d, err := e.tc.DescribeWorkflowExecution(ctx, controlID, "")
		if err != nil {
			b.Fatal(err)
		}
		return d.GetWorkflowExecutionInfo().GetHistoryLength()
	}

	list := func(view string) time.Duration {
		start := time.Now()
		bs, err := e.strata.ListBackups(ctx, api.BackupFilter{ClusterID: cluster, View: view})
		if err != nil {
			b.Fatal(err)
		}
		if len(bs) != apiBackups {
			b.Fatalf("listed %d backups, want %d", len(bs), apiBackups)
		}
		return time.Since(start)
	}
	direct := func() time.Duration {
		start := time.Now()
		bs, err := e.catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: cluster})
		if err != nil {
			b.Fatal(err)
		}
		if len(bs) != apiBackups {
			b.Fatalf("listed %d backups, want %d", len(bs), apiBackups)
		}
		return time.Since(start)
	}
	show := func() time.Duration {
		start := time.Now()
		if _, err := e.strata.GetCluster(ctx, cluster); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	list(api.BackupViewFull) // warm caches, as a running dev server has them
	before := events()
	var listT, basicT, directT, showT time.Duration
	n := 0
	for b.Loop() {
		listT += list(api.BackupViewFull)
		basicT += list(api.BackupViewBasic)
		directT += direct()
		showT += show()
		n++
	}
	readEvents := events() - before

	writeBefore := events()
	const writes = 20
	for i := 0; i < writes; i++ {
		if _, err := e.strata.CreateProject(ctx, fmt.Sprintf("bench-%d", i)); err != nil {
			b.Fatal(err)
		}
	}
	perWrite := float64(events()-writeBefore) / writes

	const section = "API reads (control workflow queries, dev-mode SQLite catalog)"
	avg := func(d time.Duration) time.Duration { return (d / time.Duration(n)).Round(100 * time.Microsecond) }
	addRow(row{Section: section, Name: fmt.Sprintf("backup list --cluster (basic view, the table's), %d backups", apiBackups),
		Value: avg(basicT).String(), Target: "< 300ms", Verdict: verdict(avg(basicT) < 300*time.Millisecond)})
	addRow(row{Section: section, Name: fmt.Sprintf("backup list --cluster --json (full view, 6 snapshots each), %d backups", apiBackups),
		Value: avg(listT).String(), Target: "(reference)", Verdict: ""})
	addRow(row{Section: section, Name: "same list, read from the catalog directly", Value: avg(directT).String(), Target: "(reference)", Verdict: ""})
	addRow(row{Section: section, Name: "cluster show", Value: avg(showT).String(), Target: "(reference)", Verdict: ""})
	addRow(row{Section: section, Name: fmt.Sprintf("history events added by %d reads", 4*n), Value: fmt.Sprint(readEvents), Target: "0", Verdict: verdict(readEvents == 0)})
	addRow(row{Section: section, Name: "history events per write (update createProject)", Value: fmt.Sprintf("%.1f", perWrite), Target: "(reference)", Verdict: ""})
	b.ReportMetric(float64(avg(listT).Microseconds())/1000, "list-ms")
	b.ReportMetric(float64(avg(basicT).Microseconds())/1000, "basic-ms")
	b.ReportMetric(float64(avg(directT).Microseconds())/1000, "direct-ms")
	b.ReportMetric(perWrite, "events/write")
}

// seedBackups records n Completed backups of cluster, each with a
// completed snapshot per volume, oldest first a minute apart.
func seedBackups(b *testing.B, e *env, cluster string, n int) {
	ctx := context.Background()
	cl, err := e.catalog.GetCluster(ctx, cluster)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now().Add(-time.Duration(n) * time.Minute)
	_, err = forEach(ctx, 8, n, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("bk-seed%05d", i)
		at := start.Add(time.Duration(i) * time.Minute)
		if _, _, err := e.catalog.CreateBackup(ctx, catalog.NewBackup{ID: id, ClusterID: cluster, WorkflowID: "seed-" + id, CreatedAt: at,
			Label: func(int64) (string, error) { return "seeded", nil }}); err != nil {
			return err
		}
		var snaps []catalog.Snapshot
		for _, v := range cl.Volumes() {
			snaps = append(snaps, catalog.Snapshot{NodeID: v.NodeID, VolumeID: v.ID, SnapshotID: "snap-" + id + "-" + v.ID,
				Status: catalog.SnapshotCompleted, Progress: 100, SizeGB: v.SizeGB})
		}
		if err := e.catalog.UpsertSnapshots(ctx, id, snaps, nil); err != nil {
			return err
		}
		_, err := e.catalog.TransitionBackup(ctx, id, catalog.Transition{To: catalog.BackupCompleted, From: []catalog.BackupStatus{catalog.BackupPending}, At: at})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}
