package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
)

// historyFigures are the events of one completed backup per snapshot
// duration, of one restore, and of minimal workflows with as many
// activities as each has steps.
type historyFigures struct {
	backup         map[time.Duration]historyStats
	restore        historyStats
	minimalBackup  historyStats
	minimalRestore historyStats
}

// measureHistory backs up one 3-node, 2-volume cluster per snapshot
// duration (concurrently: they don't share a cluster), restores the first
// backup, and runs the minimal workflow with each one's step count.
func measureHistory(tb testing.TB, durations []time.Duration) historyFigures {
	e := newEnv(tb, benchConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clusters := e.addClusters(len(durations), 3, 2)
	f := historyFigures{backup: map[time.Duration]historyStats{}}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		first    api.Backup
	)
	for i, d := range durations {
		if err := e.catalog.SetFaults(ctx, clusters[i], catalog.Faults{SnapshotDelay: catalog.Duration(d)}); err != nil {
			tb.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, wfID, err := e.backup(ctx, clusters[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = fmt.Errorf("backup with %s snapshots: %w", d, err)
				return
			}
			if i == 0 {
				first = b
			}
			f.backup[d] = history(ctx, tb, wfID)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		tb.Fatal(firstErr)
	}

	run, err := e.strata.StartRestore(ctx, api.RestoreRequest{BackupID: first.ID})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := run.Wait(ctx); err != nil {
		tb.Fatal(err)
	}
	f.restore = history(ctx, tb, run.WorkflowID)

	id, err := e.minimal(ctx, allActivities(f.backup[durations[0]].Steps))
	if err != nil {
		tb.Fatal(err)
	}
	f.minimalBackup = history(ctx, tb, id)
	if id, err = e.minimal(ctx, allActivities(f.restore.Steps)); err != nil {
		tb.Fatal(err)
	}
	f.minimalRestore = history(ctx, tb, id)
	return f
}

// TestHistoryIsConstantInSnapshotDuration: a backup whose snapshots take
// seconds has exactly the events of one whose snapshots are instant, and
// both stay within 1.3x the minimal workflow's.
func TestHistoryIsConstantInSnapshotDuration(t *testing.T) {
	durations := []time.Duration{0, 1500 * time.Millisecond}
	f := measureHistory(t, durations)
	instant, slow := f.backup[durations[0]], f.backup[durations[1]]
	if slow != instant {
		t.Errorf("a backup with %s snapshots has %+v, one with instant snapshots %+v: waiting must add no events", durations[1], slow, instant)
	}
	if r := float64(instant.Events) / float64(f.minimalBackup.Events); r > 1.3 {
		t.Errorf("backup history is %d events, %.2fx the minimal workflow's %d (target at most 1.3x)", instant.Events, r, f.minimalBackup.Events)
	}
	if r := float64(f.restore.Events) / float64(f.minimalRestore.Events); r > 1.3 {
		t.Errorf("restore history is %d events, %.2fx the minimal workflow's %d (target at most 1.3x)", f.restore.Events, r, f.minimalRestore.Events)
	}
}

// BenchmarkHistory reports events per completed backup (snapshots of 0, 2
// and 10 s) and per restore next to the minimal workflow's. Targets: at
// most 1.3x, and the same count whatever the snapshot duration.
func BenchmarkHistory(b *testing.B) {
	durations := []time.Duration{0, 2 * time.Second, 10 * time.Second}
	var f historyFigures
	for i := 0; i < b.N; i++ {
		f = measureHistory(b, durations)
	}
	const section = "History (events per completed workflow)"
	for _, d := range durations {
		s := f.backup[d]
		r := float64(s.Events) / float64(f.minimalBackup.Events)
		addRow(row{Section: section, Name: fmt.Sprintf("backup, %s snapshots (%s) vs minimal", d, s.describeSteps()),
			Value: fmt.Sprintf("%d vs %d = %.2fx", s.Events, f.minimalBackup.Events, r), Target: "<= 1.30x, = 0s count",
			Verdict: verdict(r <= 1.3 && s == f.backup[0])})
	}
	r := float64(f.restore.Events) / float64(f.minimalRestore.Events)
	addRow(row{Section: section, Name: fmt.Sprintf("restore, 6 volumes (%s) vs minimal", f.restore.describeSteps()),
		Value: fmt.Sprintf("%d vs %d = %.2fx", f.restore.Events, f.minimalRestore.Events, r), Target: "<= 1.30x", Verdict: verdict(r <= 1.3)})
	b.ReportMetric(float64(f.backup[0].Events), "backup-events")
	b.ReportMetric(float64(f.restore.Events), "restore-events")
}
