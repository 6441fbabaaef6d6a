package bench

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkThroughput: completed backups per second of 3-node clusters with
// 2 volumes per node, at 1, 20 and 100 in flight, next to the minimal
// workflow running as many no-op activities as a backup has steps, on the
// same worker and server. Target: at least 0.8x the minimal workflow at 20
// and 100. A second minimal workflow runs the backup's own mix of
// activities and local activities, so the report also shows what Strata
// adds over the floor of its own design. The three alternate in halves so
// drift hits all of them.
func BenchmarkThroughput(b *testing.B) {
	e := newEnv(b, benchConfig())
	ctx := context.Background()
	clusters := e.addClusters(100, 3, 2)
	// What one backup costs in steps, measured, not assumed.
	_, wfID, err := e.backup(ctx, clusters[0])
	if err != nil {
		b.Fatal(err)
	}
	steps := history(ctx, b, wfID)
	floor := allActivities(steps.Steps)
	mixed := steps.LocalActivities() > 0

	for _, inFlight := range []int{1, 20, 100} {
		b.Run(fmt.Sprintf("inflight=%d", inFlight), func(b *testing.B) {
			total := max(10, 4*inFlight)
			var backupTime, minimalTime, mixTime time.Duration
			run := func(into *time.Duration, one func(ctx context.Context, slot int) error) {
				d, err := runInFlight(ctx, inFlight, total/2, one)
				if err != nil {
					b.Fatal(err)
				}
				*into += d
			}
			for i := 0; i < b.N; i++ {
				for half := 0; half < 2; half++ {
					run(&minimalTime, func(ctx context.Context, slot int) error {
						_, err := e.minimal(ctx, floor)
						return err
					})
					if mixed {
						run(&mixTime, func(ctx context.Context, slot int) error {
							_, err := e.minimal(ctx, steps.Steps)
							return err
						})
					}
					run(&backupTime, func(ctx context.Context, slot int) error {
						_, _, err := e.backup(ctx, clusters[slot])
						return err
					})
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
			const section = "Throughput (3 nodes x 2 volumes, local provider, zero latency)"
			addRow(row{Section: section,
				Name:  fmt.Sprintf("%3d in flight: backups/s vs minimal/s (%d activities)", inFlight, len(floor)),
				Value: fmt.Sprintf("%.1f vs %.1f = %.2fx", backups, minimal, ratio), Target: target, Verdict: verdictIf(target, ok)})
			if mixed {
				mix := n / mixTime.Seconds()
				b.ReportMetric(backups/mix, "ratio-same-mix")
				addRow(row{Section: section,
					Name:  fmt.Sprintf("%3d in flight: backups/s vs minimal/s, same mix (%s)", inFlight, steps.describeSteps()),
					Value: fmt.Sprintf("%.1f vs %.1f = %.2fx", backups, mix, backups/mix), Target: "-"})
			}
		})
	}
}

func verdictIf(target string, ok bool) string {
	if target == "-" {
		return ""
	}
	return verdict(ok)
}
