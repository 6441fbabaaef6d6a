package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
)

// BenchmarkRestore: the time to restore a 6-volume cluster (3 nodes x 2)
// whose volumes each take 2 s to create, next to a 1-volume cluster's.
// Target: under 2x the single volume's time.
func BenchmarkRestore(b *testing.B) {
	const createTime = 2 * time.Second
	e := newEnv(b, benchConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	single := e.addClusters(1, 1, 1)[0]
	six := e.addClusters(1, 3, 2)[0]
	backups := map[string]string{}
	for _, cl := range []string{single, six} {
		bk, _, err := e.backup(ctx, cl)
		if err != nil {
			b.Fatal(err)
		}
		backups[cl] = bk.ID
		if err := e.catalog.SetFaults(ctx, cl, catalog.Faults{RestoreDelay: catalog.Duration(createTime)}); err != nil {
			b.Fatal(err)
		}
	}
	restore := func(cl string) time.Duration {
		start := time.Now()
		run, err := e.strata.StartRestore(ctx, api.RestoreRequest{BackupID: backups[cl]})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := run.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var t1, t6 time.Duration
	for i := 0; i < b.N; i++ {
		t1 += restore(single)
		t6 += restore(six)
	}
	t1 /= time.Duration(b.N)
	t6 /= time.Duration(b.N)
	ratio := t6.Seconds() / t1.Seconds()
	b.ReportMetric(t1.Seconds(), "s/1-volume")
	b.ReportMetric(t6.Seconds(), "s/6-volume")
	b.ReportMetric(ratio, "ratio")
	addRow(row{Section: "Restore (2 s to create each volume)",
		Name:  "6-volume cluster vs 1-volume cluster",
		Value: fmt.Sprintf("%.2fs vs %.2fs = %.2fx", t6.Seconds(), t1.Seconds(), ratio), Target: "< 2.00x", Verdict: verdict(ratio < 2)})
}
