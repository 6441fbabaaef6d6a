package bench

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
)

// TestBreakdown (STRATA_BENCH_BREAKDOWN=1) prints where a backup's time
// goes at 20 in flight: per activity type, time queued and time running.
func TestBreakdown(t *testing.T) {
	if os.Getenv("STRATA_BENCH_BREAKDOWN") == "" {
		t.Skip("set STRATA_BENCH_BREAKDOWN=1")
	}
	e := newEnv(t, benchConfig())
	ctx := context.Background()
	inFlight := 20
	if v, err := strconv.Atoi(os.Getenv("STRATA_BENCH_INFLIGHT")); err == nil && v > 0 {
		inFlight = v
	}
	clusters := e.addClusters(inFlight, 3, 2)
	// The minimal workflow runs as many activities as a backup has steps,
	// measured as in BenchmarkThroughput.
	_, wfID, err := e.backup(ctx, clusters[0])
	if err != nil {
		t.Fatal(err)
	}
	floor := allActivities(history(ctx, t, wfID).Steps)
	only := os.Getenv("STRATA_BENCH_BREAKDOWN")
	// runs runs 3 × inFlight of one (none if only names the other kind)
	// and returns their workflow IDs.
	runs := func(skip string, one func(ctx context.Context, slot int) (string, error)) []string {
		total := 3 * inFlight
		if only == skip {
			total = 0
		}
		var mu sync.Mutex
		var ids []string
		if _, err := runInFlight(ctx, inFlight, total, func(ctx context.Context, slot int) error {
			id, err := one(ctx, slot)
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	c0 := cpuTime()
	ids := runs("minimal", func(ctx context.Context, slot int) (string, error) {
		_, id, err := e.backup(ctx, clusters[slot])
		return id, err
	})
	c1 := cpuTime()
	mids := runs("backup", func(ctx context.Context, _ int) (string, error) { return e.minimal(ctx, floor) })
	c2 := cpuTime()
	fmt.Printf("CPU per backup %s, per minimal %s\n", (c1-c0)/time.Duration(max(1, len(ids))), (c2-c1)/time.Duration(max(1, len(mids))))
	if len(ids) > 0 {
		breakdown(t, "backup", ids)
	}
	if len(mids) > 0 {
		breakdown(t, "minimal", mids)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func breakdown(t *testing.T, what string, ids []string) {
	queued := map[string]time.Duration{}
	running := map[string]time.Duration{}
	count := map[string]int{}
	var wft, wftQueued, total time.Duration
	var wfts int
	for _, id := range ids {
		iter := server.Client.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		sched := map[int64]time.Time{}
		names := map[int64]string{}
		started := map[int64]time.Time{}
		var first, last time.Time
		var wftSched, wftStart time.Time
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			ts := ev.GetEventTime().AsTime()
			if first.IsZero() {
				first = ts
			}
			last = ts
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				sched[ev.GetEventId()] = ts
				names[ev.GetEventId()] = ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				sid := ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()
				started[sid] = ts
				queued[names[sid]] += ts.Sub(sched[sid])
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				sid := ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
				running[names[sid]] += ts.Sub(started[sid])
				count[names[sid]]++
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
				wftSched = ts
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				wftStart = ts
				wftQueued += ts.Sub(wftSched)
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
				wft += ts.Sub(wftStart)
				wfts++
			}
		}
		total += last.Sub(first)
	}
	n := time.Duration(len(ids))
	var keys []string
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("%s: %d runs, mean total %s; WFT queued %s run %s per WFT (%d per run)\n", what, len(ids), total/n, wftQueued/time.Duration(wfts), wft/time.Duration(wfts), wfts/len(ids))
	for _, k := range keys {
		c := time.Duration(count[k])
		fmt.Printf("  %-20s x%.1f queued %8s running %8s\n", k, float64(count[k])/float64(len(ids)), queued[k]/c, running[k]/c)
	}
}
