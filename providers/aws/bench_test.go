package aws_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/aws"
	"github.com/stratabackup/strata/providers/aws/awsfake"
)

// Scenario of BenchmarkThousandBackups: 1,000 backups of 3-volume clusters
// at once, snapshots taking 3 simulated minutes. Time is compressed by
// factor: the fake's clock runs factor times faster, and every rate (our
// buckets, the buckets the fake enforces like EC2 does, the poll interval
// and the batch window) is scaled by the same factor, so the run is a
// faithful, shorter copy of the real one.
const (
	benchBackups   = 1000
	benchVolumes   = 3
	benchFactor    = 60.0
	benchSnapshot  = 3 * time.Minute
	benchPollEvery = 5 * time.Second // the worker's default --poll-interval
)

func scaled(d time.Duration) time.Duration { return time.Duration(float64(d) / benchFactor) }

func scaledLimits() aws.Limits {
	l := aws.Limits{}.WithDefaults()
	for _, b := range []*aws.Bucket{&l.NonMutating, &l.SnapshotVolume, &l.Tags, &l.Mutating} {
		b.RefillPerSecond *= benchFactor
	}
	return l
}

// ec2Buckets are EC2's documented buckets (Strata's defaults keep a margin
// below them), scaled.
func ec2Buckets() aws.Limits {
	l := aws.Limits{
		NonMutating: aws.Bucket{Size: 100, RefillPerSecond: 20}, SnapshotVolume: aws.Bucket{Size: 100, RefillPerSecond: 5},
		Tags: aws.Bucket{Size: 100, RefillPerSecond: 10}, Mutating: aws.Bucket{Size: 50, RefillPerSecond: 5},
	}
	for _, b := range []*aws.Bucket{&l.NonMutating, &l.SnapshotVolume, &l.Tags, &l.Mutating} {
		b.RefillPerSecond *= benchFactor
	}
	return l
}

// newBenchFake enforces EC2's buckets (scaled), answering
// RequestLimitExceeded beyond them as EC2 would.
func newBenchFake() *awsfake.Server {
	f := awsfake.New(awsfake.Options{Clock: awsfake.NewCompressedClock(benchFactor), SnapshotDuration: benchSnapshot, MaxPendingPerVolume: -1})
	l := ec2Buckets()
	for _, a := range []string{"DescribeSnapshots", "DescribeVolumes"} {
		f.SetRateLimit(a, l.NonMutating.Size, l.NonMutating.RefillPerSecond)
	}
	for _, a := range []string{"CreateSnapshot", "DeleteSnapshot", "CreateVolume", "DeleteVolume"} {
		f.SetRateLimit(a, l.SnapshotVolume.Size, l.SnapshotVolume.RefillPerSecond)
	}
	return f
}

func BenchmarkThousandBackups(b *testing.B) {
	b.Run("strata", func(b *testing.B) {
		for range b.N {
			runStrataBench(b)
		}
	})
	b.Run("sdk-waiter", func(b *testing.B) {
		for range b.N {
			runWaiterBench(b)
		}
	})
}

// startAll starts every backup's snapshots through p and returns each
// backup's snapshot IDs.
func startAll(b *testing.B, f *awsfake.Server, p *aws.Provider) [][]string {
	ctx := context.Background()
	ids := make([][]string, benchBackups)
	var wg sync.WaitGroup
	for i := range benchBackups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range benchVolumes {
				vol := fmt.Sprintf("vol-%08x%04x", i, v)
				f.AddVolume(vol, zone, 8)
				s, err := p.StartSnapshot(ctx, providers.SnapshotSpec{BackupID: fmt.Sprintf("bk-%d", i), ClusterID: fmt.Sprintf("c-%d", i),
					NodeID: fmt.Sprintf("c-%d-n%d", i, v), VolumeID: fmt.Sprintf("c-%d-v%d", i, v), VolumeRef: vol})
				if err != nil {
					b.Error(err)
					return
				}
				ids[i] = append(ids[i], s.ID)
			}
		}()
	}
	wg.Wait()
	return ids
}

func benchProvider(b *testing.B, f *awsfake.Server, limits aws.Limits) *aws.Provider {
	p, err := aws.New(context.Background(), aws.Options{
		Region: "us-east-1", Endpoint: f.URL(), Credentials: awssdk.AnonymousCredentials{}, Retryer: fastRetryer(50),
		Limits: limits, PollBatchWindow: scaled(200 * time.Millisecond),
	})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func report(b *testing.B, f *awsfake.Server, statusCalls int) {
	snaps := float64(benchBackups * benchVolumes)
	calls := f.Calls()
	b.ReportMetric(float64(statusCalls)/snaps, "status-calls/snapshot")
	b.ReportMetric(float64(calls["CreateSnapshot"]+calls["DescribeSnapshots"])/snaps, "api-calls/snapshot")
	b.ReportMetric(float64(f.MaxPerSecond("DescribeSnapshots"))/benchFactor, "max-describe/s-unscaled")
	b.ReportMetric(float64(f.MaxPerSecond("CreateSnapshot"))/benchFactor, "max-create/s-unscaled")
	b.ReportMetric(float64(f.Throttled()), "throttled")
}

// runStrataBench polls as WaitSnapshots does: one GetSnapshots per backup
// per poll interval for its unfinished snapshots; the provider coalesces
// all backups' calls into batched DescribeSnapshots.
func runStrataBench(b *testing.B) {
	f := newBenchFake()
	defer f.Close()
	p := benchProvider(b, f, scaledLimits())
	ids := startAll(b, f, p)
	before := f.Calls()["DescribeSnapshots"]
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range benchBackups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pending := ids[i]
			t := time.NewTicker(scaled(benchPollEvery))
			defer t.Stop()
			for len(pending) > 0 {
				<-t.C
				got, err := p.GetSnapshots(ctx, pending)
				if err != nil {
					continue // throttled or transient: next tick, as WaitSnapshots does
				}
				var still []string
				for _, s := range got {
					if s.State == providers.StatePending {
						still = append(still, s.ID)
					}
				}
				pending = still
			}
		}()
	}
	wg.Wait()
	report(b, f, f.Calls()["DescribeSnapshots"]-before)
}

// runWaiterBench waits for the same snapshots with the SDK's own
// SnapshotCompletedWaiter, one per snapshot, polling at the same interval
// and with no client-side limiter (the waiter has none).
func runWaiterBench(b *testing.B) {
	f := newBenchFake()
	defer f.Close()
	p := benchProvider(b, f, scaledLimits())
	ids := startAll(b, f, p)
	raw := benchProvider(b, f, aws.Limits{Disabled: true}).Client()
	before := f.Calls()["DescribeSnapshots"]
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, backup := range ids {
		for _, id := range backup {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := ec2.NewSnapshotCompletedWaiter(raw, func(o *ec2.SnapshotCompletedWaiterOptions) {
					o.MinDelay, o.MaxDelay = scaled(benchPollEvery), scaled(benchPollEvery)
				})
				if err := w.Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}}, 10*time.Minute); err != nil {
					b.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	report(b, f, f.Calls()["DescribeSnapshots"]-before)
}
