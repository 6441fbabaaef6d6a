package bench

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkThroughput: completed backups per second of 3-node clusters with
// 2 volumes per node, at 1, 20 and 100 in flight, next to the minimal
// workflow running as many no-op activities as a backup runs, on the same
// worker and server. Backups and minimal runs alternate in halves so drift
// hits both. Target: at least 0.8x the minimal workflow at 20 and 100.
func BenchmarkThroughput(b *testing.B) {
	e := newEnv(b, benchConfig())
	ctx := context.Background()
	clusters := e.addClusters(100, 3, 2)
	// What one backup costs in activities, measured, not assumed.
	_, wfID, err := e.backup(ctx, clusters[0])
	if err != nil {
		b.Fatal(err)
	}
	acts := history(ctx, b, wfID).Activities

	for _, inFlight := range []int{1, 20, 100} {
		b.Run(fmt.Sprintf("inflight=%d", inFlight), func(b *testing.B) {
			total := max(10, 4*inFlight)
			var backupTime, minimalTime time.Duration
			for i := 0; i < b.N; i++ {
				for half := 0; half < 2; half++ {
					d, err := runInFlight(ctx, inFlight, total/2, func(ctx context.Context, slot int) error {
						_, err := e.minimal(ctx, acts)
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					minimalTime += d
					d, err = runInFlight(ctx, inFlight, total/2, func(ctx context.Context, slot int) error {
						_, _, err := e.backup(ctx, clusters[slot])
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					backupTime += d
				}
			}
			n := float64(b.N * (total / 2) * 2)
			backups := n / backupTime.Seconds()
			minimal := n / minimalTime.Seconds()
			ratio := backups / minimal
			b.ReportMetric(backups, "backups/s")
			b.ReportMetric(minimal, "minimal/s")
			b.ReportMetric(ratio, "ratio")
			target, ok := "-", true
			if inFlight >= 20 {
				target, ok = ">= 0.80x", ratio >= 0.8
			}
			addRow(row{Section: "Throughput (3 nodes x 2 volumes, local provider, zero latency)",
				Name:  fmt.Sprintf("%3d in flight: backups/s vs minimal/s (%d activities)", inFlight, acts),
				Value: fmt.Sprintf("%.1f vs %.1f = %.2fx", backups, minimal, ratio), Target: target, Verdict: verdictIf(target, ok)})
		})
	}
}

func verdictIf(target string, ok bool) string {
	if target == "-" {
		return ""
	}
	return verdict(ok)
}
