package aws_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/aws"
	"github.com/stratabackup/strata/providers/aws/awsfake"
	"github.com/stratabackup/strata/providers/providertest"
)

const zone = "us-east-1a"

// fastRetryer retries like the SDK's standard retryer but with a 1 ms
// backoff and no retry quota.
func fastRetryer(attempts int) awssdk.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = attempts
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
	})
}

type env struct {
	fake *awsfake.Server
	p    *aws.Provider
}

func newEnv(t *testing.T, fo awsfake.Options, mod func(*aws.Options)) env {
	t.Helper()
	if fo.SnapshotDuration == 0 {
		fo.SnapshotDuration = 150 * time.Millisecond
	}
	if fo.VolumeDuration == 0 {
		fo.VolumeDuration = 30 * time.Millisecond
	}
	fake := awsfake.New(fo)
	t.Cleanup(fake.Close)
	o := aws.Options{
		Region:             "us-east-1",
		Endpoint:           fake.URL(),
		Credentials:        awssdk.AnonymousCredentials{},
		Retryer:            fastRetryer(5),
		PollBatchWindow:    10 * time.Millisecond,
		VolumePollInterval: 10 * time.Millisecond,
	}
	if mod != nil {
		mod(&o)
	}
	p, err := aws.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return env{fake: fake, p: p}
}

func (e env) spec(t *testing.T) providers.SnapshotSpec {
	ref := e.fake.NewVolume(zone, 8)
	return providers.SnapshotSpec{
		BackupID:  providertest.NewID("bk"),
		ClusterID: providertest.NewID("cl"),
		NodeID:    "node-1",
		VolumeID:  providertest.NewID("v"),
		VolumeRef: ref,
		Zone:      zone,
		SizeGB:    8,
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestContract(t *testing.T) {
	e := newEnv(t, awsfake.Options{}, nil)
	providertest.Run(t, providertest.Harness{
		Provider: e.p,
		NewVolume: func(t *testing.T) providers.SnapshotSpec {
			s := e.spec(t)
			s.BackupID = ""
			return s
		},
		MissingVolume: func(t *testing.T) providers.SnapshotSpec {
			return providers.SnapshotSpec{ClusterID: "cl-x", NodeID: "n", VolumeID: providertest.NewID("v"),
				VolumeRef: "vol-0000000000000dead", Zone: zone, SizeGB: 8}
		},
		Timeout:    20 * time.Second,
		Restore:    true,
		SizesKnown: true,
	})
}

func TestThrottlingStormCompletes(t *testing.T) {
	e := newEnv(t, awsfake.Options{}, func(o *aws.Options) { o.Retryer = fastRetryer(30) })
	e.fake.ThrottleNext(20)
	var snaps []providers.Snapshot
	for range 3 {
		spec := e.spec(t)
		s, err := e.p.StartSnapshot(ctx(t), spec)
		if err != nil {
			t.Fatalf("StartSnapshot under throttling: %v", err)
		}
		snaps = append(snaps, s)
	}
	for _, s := range snaps {
		done := providertest.WaitFor(t, e.p, s.ID, 20*time.Second, providertest.Terminal)
		if done.State != providers.StateCompleted {
			t.Fatalf("snapshot %s: %s", s.ID, done.State)
		}
	}
	if got := e.fake.Throttled(); got != 20 {
		t.Errorf("fake throttled %d requests, want 20", got)
	}
	if e.fake.SnapshotCount() != 3 {
		t.Errorf("fake holds %d snapshots, want 3", e.fake.SnapshotCount())
	}
}

func TestThrottledExhaustedIsThrottledKind(t *testing.T) {
	e := newEnv(t, awsfake.Options{}, func(o *aws.Options) { o.Retryer = fastRetryer(2) })
	e.fake.ThrottleNext(10)
	_, err := e.p.ListSnapshots(ctx(t), providers.SnapshotFilter{BackupID: "x"})
	pe, ok := providers.AsError(err)
	if !ok || pe.Kind != providers.Throttled || pe.Code != "RequestLimitExceeded" || pe.RetryAfter <= 0 || !pe.Retryable() {
		t.Fatalf("got %#v, want Throttled RequestLimitExceeded with RetryAfter", err)
	}
}

func TestLostCreateSnapshotResponseDoesNotDuplicate(t *testing.T) {
	e := newEnv(t, awsfake.Options{}, nil)
	spec := e.spec(t)
	e.fake.LoseResponseNext("CreateSnapshot")
	s, err := e.p.StartSnapshot(ctx(t), spec)
	if err != nil {
		t.Fatalf("StartSnapshot: %v", err)
	}
	if got := e.fake.SnapshotsOf(spec.VolumeRef); len(got) != 1 || got[0] != s.ID {
		t.Fatalf("fake snapshots of %s = %v, want just %s", spec.VolumeRef, got, s.ID)
	}
	if n := e.p.Calls()["CreateSnapshot"]; n != 1 {
		t.Errorf("CreateSnapshot sent %d times, want 1 (the retry must find it by tag)", n)
	}
	// A fresh provider (a restarted worker) adopts it too.
	p2, err := aws.New(context.Background(), aws.Options{Region: "us-east-1", Endpoint: e.fake.URL(),
		Credentials: awssdk.AnonymousCredentials{}, Retryer: fastRetryer(3)})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := p2.StartSnapshot(ctx(t), spec)
	if err != nil || s2.ID != s.ID {
		t.Fatalf("restarted worker's StartSnapshot = %v, %v; want %s", s2.ID, err, s.ID)
	}
	if got := e.fake.SnapshotsOf(spec.VolumeRef); len(got) != 1 {
		t.Fatalf("fake snapshots after restart = %v, want one", got)
	}
}

func TestTransientCreateSnapshotFailureRetried(t *testing.T) {
	e := newEnv(t, awsfake.Options{}, nil)
	spec := e.spec(t)
	e.fake.FailNext("CreateSnapshot", "InternalError", 2)
	if _, err := e.p.StartSnapshot(ctx(t), spec); err != nil {
		t.Fatalf("StartSnapshot: %v", err)
	}
	if got := e.fake.SnapshotsOf(spec.VolumeRef); len(got) != 1 {
		t.Fatalf("snapshots = %v, want one", got)
	}
}

func TestFailedSnapshot(t *testing.T) {
	e := newEnv(t, awsfake.Options{}, nil)
	spec := e.spec(t)
	e.fake.FailSnapshotsOf(spec.VolumeRef)
	s, err := e.p.StartSnapshot(ctx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	done := providertest.WaitFor(t, e.p, s.ID, 10*time.Second, providertest.Terminal)
	if done.State != providers.StateFailed || done.Error == "" {
		t.Fatalf("snapshot = %+v, want failed with a message", done)
	}
}

func TestNeverCompleteStaysPending(t *testing.T) {
	clock := awsfake.NewManualClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	e := newEnv(t, awsfake.Options{Clock: clock, SnapshotDuration: 10 * time.Minute}, nil)
	a, b := e.spec(t), e.spec(t)
	e.fake.NeverComplete(a.VolumeRef)
	sa, _ := e.p.StartSnapshot(ctx(t), a)
	sb, _ := e.p.StartSnapshot(ctx(t), b)
	clock.Advance(5 * time.Minute)
	got, err := e.p.GetSnapshots(ctx(t), []string{sa.ID, sb.ID})
	if err != nil || len(got) != 2 {
		t.Fatalf("GetSnapshots = %+v, %v", got, err)
	}
	if got[1].State != providers.StatePending || got[1].Progress != 50 {
		t.Errorf("half-way snapshot = %+v, want pending 50%%", got[1])
	}
	clock.Advance(time.Hour)
	got, _ = e.p.GetSnapshots(ctx(t), []string{sa.ID, sb.ID})
	if got[0].State != providers.StatePending || got[1].State != providers.StateCompleted || got[1].Progress != 100 {
		t.Errorf("after an hour: %+v, want never-completing pending and the other completed", got)
	}
}

func TestGetSnapshotsCoalesces(t *testing.T) {
	e := newEnv(t, awsfake.Options{}, func(o *aws.Options) { o.PollBatchWindow = 100 * time.Millisecond })
	const n = 50
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.p.StartSnapshot(ctx(t), e.spec(t))
			if err != nil {
				t.Error(err)
			}
			ids[i] = s.ID
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	before := e.fake.Calls()["DescribeSnapshots"]
	start := make(chan struct{})
	errs := make([]error, n)
	got := make([][]providers.Snapshot, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[i], errs[i] = e.p.GetSnapshots(ctx(t), []string{ids[i], "snap-00000000deadbeef"})
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("GetSnapshots %d: %v", i, errs[i])
		}
		if len(got[i]) != 1 || got[i][0].ID != ids[i] {
			t.Fatalf("caller %d got %+v, want just %s", i, got[i], ids[i])
		}
	}
	if calls := e.fake.Calls()["DescribeSnapshots"] - before; calls > 2 {
		t.Errorf("%d concurrent GetSnapshots made %d DescribeSnapshots calls, want ≤ 2", n, calls)
	}
}

func TestGetSnapshotsChunksAt200(t *testing.T) {
	e := newEnv(t, awsfake.Options{}, nil)
	ids := make([]string, 450)
	for i := range ids {
		ids[i] = "snap-unknown" + time.Duration(i).String()
	}
	s, err := e.p.StartSnapshot(ctx(t), e.spec(t))
	if err != nil {
		t.Fatal(err)
	}
	ids[300] = s.ID
	before := e.fake.Calls()["DescribeSnapshots"]
	got, err := e.p.GetSnapshots(ctx(t), ids)
	if err != nil || len(got) != 1 || got[0].ID != s.ID {
		t.Fatalf("GetSnapshots = %+v, %v", got, err)
	}
	if calls := e.fake.Calls()["DescribeSnapshots"] - before; calls != 3 {
		t.Errorf("450 IDs took %d DescribeSnapshots calls, want 3", calls)
	}
}

func TestRateLimiterKeepsWithinBucket(t *testing.T) {
	const burst, refill = 3, 20
	e := newEnv(t, awsfake.Options{}, func(o *aws.Options) {
		o.Limits = aws.Limits{NonMutating: aws.Bucket{Size: burst, RefillPerSecond: refill}}
		o.PollBatchWindow = -1
	})
	// The fake enforces the same refill (two tokens of slack for request
	// latency jitter): any excess would be throttled.
	e.fake.SetRateLimit("DescribeVolumes", burst+2, refill)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				if _, err := e.p.DescribeVolumes(ctx(t), []string{"vol-0000000000000beef"}); err != nil {
					t.Errorf("DescribeVolumes: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if th := e.fake.Throttled(); th != 0 {
		t.Errorf("fake throttled %d requests; the client-side bucket should have prevented it", th)
	}
	if got := e.fake.Calls()["DescribeVolumes"]; got != 40 {
		t.Errorf("DescribeVolumes calls = %d, want 40", got)
	}
	for sec, n := range e.fake.PerSecond("DescribeVolumes") {
		if n > burst+refill {
			t.Errorf("second %d saw %d DescribeVolumes, want ≤ %d", sec, n, burst+refill)
		}
	}
}

func TestRateLimiterHonoursContext(t *testing.T) {
	e := newEnv(t, awsfake.Options{}, func(o *aws.Options) {
		o.Limits = aws.Limits{NonMutating: aws.Bucket{Size: 1, RefillPerSecond: 0.01}}
	})
	if _, err := e.p.DescribeVolumes(ctx(t), []string{"vol-1"}); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.p.DescribeVolumes(c, []string{"vol-1"})
	pe, ok := providers.AsError(err)
	if !ok || !pe.Retryable() {
		t.Fatalf("DescribeVolumes past the bucket = %v, want a retryable *providers.Error", err)
	}
}

func TestDeleteSnapshotInUse(t *testing.T) {
	e := newEnv(t, awsfake.Options{}, nil)
	s, err := e.p.StartSnapshot(ctx(t), e.spec(t))
	if err != nil {
		t.Fatal(err)
	}
	e.fake.FailNext("DeleteSnapshot", "InvalidSnapshot.InUse", 1)
	err = e.p.DeleteSnapshot(ctx(t), s.ID)
	pe, ok := providers.AsError(err)
	if !ok || pe.Kind != providers.InUse || pe.Code != "InvalidSnapshot.InUse" || !pe.Retryable() {
		t.Fatalf("DeleteSnapshot of an in-use snapshot = %v, want InUse", err)
	}
	if err := e.p.DeleteSnapshot(ctx(t), s.ID); err != nil {
		t.Fatal(err)
	}
}

func TestCreateVolumeNeedsZoneAndSize(t *testing.T) {
	e := newEnv(t, awsfake.Options{SnapshotDuration: time.Nanosecond}, nil)
	spec := e.spec(t)
	s, err := e.p.StartSnapshot(ctx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	providertest.WaitFor(t, e.p, s.ID, 10*time.Second, providertest.Terminal)
	_, err = e.p.CreateVolume(ctx(t), providers.VolumeSpec{VolumeID: "rv1", SnapshotID: s.ID, SizeGB: 8})
	if pe, ok := providers.AsError(err); !ok || pe.Kind != providers.Invalid {
		t.Errorf("CreateVolume without zone = %v, want Invalid", err)
	}
	_, err = e.p.CreateVolume(ctx(t), providers.VolumeSpec{VolumeID: "rv1", SnapshotID: s.ID, SizeGB: 4, Zone: zone})
	if pe, ok := providers.AsError(err); !ok || pe.Kind != providers.Invalid {
		t.Errorf("CreateVolume 4 GB from 8 GB = %v, want Invalid", err)
	}
	v, err := e.p.CreateVolume(ctx(t), providers.VolumeSpec{VolumeID: "rv2", ClusterID: "c2", NodeID: "n1", SnapshotID: s.ID, Zone: zone})
	if err != nil || v.SizeGB != 8 || v.State != providers.VolumeAvailable || v.VolumeID != "rv2" {
		t.Fatalf("CreateVolume with size 0 = %+v, %v; want 8 GB available", v, err)
	}
	// Provisioner: the node's volumes are available.
	pv := e.p.Provisioner()
	if err := pv.ProvisionNode(ctx(t), providers.NodeSpec{ClusterID: "c2", NodeID: "n1", VolumeRefs: []string{v.Ref}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := pv.NodeHealthy(ctx(t), "c2", "n1"); !ok || err != nil {
		t.Errorf("NodeHealthy = %v, %v", ok, err)
	}
	if err := pv.ProvisionNode(ctx(t), providers.NodeSpec{ClusterID: "c2", NodeID: "n2", VolumeRefs: []string{"vol-0000000000000dead"}}); err == nil {
		t.Errorf("ProvisionNode on a missing volume succeeded")
	}
	infos, err := e.p.DescribeVolumes(ctx(t), []string{v.Ref, spec.VolumeRef, "vol-0000000000000dead"})
	if err != nil || len(infos) != 2 {
		t.Fatalf("DescribeVolumes = %+v, %v", infos, err)
	}
	for _, in := range infos {
		if in.Zone != zone || in.SizeGB != 8 || in.State != "available" {
			t.Errorf("DescribeVolumes entry %+v", in)
		}
	}
}

func TestClientTokenIsDeterministic(t *testing.T) {
	if a, b := aws.ClientToken("rvol-1"), aws.ClientToken("rvol-1"); a != b || a == aws.ClientToken("rvol-2") {
		t.Fatal("ClientToken not deterministic per volume")
	}
	long := aws.ClientToken(string(make([]byte, 100)) + "é")
	if len(long) > 64 {
		t.Errorf("ClientToken length %d > 64", len(long))
	}
	for _, c := range []byte(long) {
		if c < 0x21 || c > 0x7e {
			t.Fatalf("ClientToken %q is not printable ASCII", long)
		}
	}
}

func TestErrorClassification(t *testing.T) {
	cases := []struct {
		code string
		kind providers.ErrorKind
		long bool
	}{
		{"RequestLimitExceeded", providers.Throttled, false},
		{"Throttling", providers.Throttled, false},
		{"SnapshotCreationPerVolumeRateExceeded", providers.Throttled, true},
		{"ConcurrentSnapshotLimitExceeded", providers.Throttled, true},
		{"InvalidVolume.NotFound", providers.NotFound, false},
		{"InvalidSnapshot.NotFound", providers.NotFound, false},
		{"InvalidSnapshot.InUse", providers.InUse, false},
		{"VolumeInUse", providers.InUse, false},
		{"IncorrectState", providers.InvalidState, false},
		{"InvalidParameterValue", providers.Invalid, false},
		{"InvalidParameterCombination", providers.Invalid, false},
		{"IdempotentParameterMismatch", providers.Invalid, false},
		{"MissingParameter", providers.Invalid, false},
		{"UnauthorizedOperation", providers.Permission, false},
		{"AuthFailure", providers.Permission, false},
		{"SnapshotLimitExceeded", providers.Quota, false},
		{"VolumeLimitExceeded", providers.Quota, false},
		{"ResourceLimitExceeded", providers.Quota, false},
		{"InternalError", providers.Transient, false},
		{"ServiceUnavailable", providers.Transient, false},
		{"Unavailable", providers.Transient, false},
	}
	for _, c := range cases {
		kind, after := aws.ClassifyCode(c.code, 0)
		if kind != c.kind {
			t.Errorf("%s → %s, want %s", c.code, kind, c.kind)
		}
		if c.long && after < aws.RetryAfterSnapshotRate {
			t.Errorf("%s retry-after %v, want ≥ %v", c.code, after, aws.RetryAfterSnapshotRate)
		}
		if kind == providers.Throttled && after <= 0 {
			t.Errorf("%s has no retry-after", c.code)
		}
	}
	if k, _ := aws.ClassifyCode("SomethingNew", 502); k != providers.Transient {
		t.Errorf("unknown 502 → %s, want Transient", k)
	}
	if k, _ := aws.ClassifyCode("SomethingNew", 400); k != providers.Invalid {
		t.Errorf("unknown 400 → %s, want Invalid", k)
	}
}

// TestErrorsThroughSDK checks codes arrive through the real SDK with the
// code and message kept verbatim.
func TestErrorsThroughSDK(t *testing.T) {
	e := newEnv(t, awsfake.Options{}, func(o *aws.Options) { o.Retryer = fastRetryer(1) })
	for _, c := range []struct {
		code string
		kind providers.ErrorKind
	}{
		{"UnauthorizedOperation", providers.Permission},
		{"SnapshotCreationPerVolumeRateExceeded", providers.Throttled},
		{"ConcurrentSnapshotLimitExceeded", providers.Throttled},
		{"SnapshotLimitExceeded", providers.Quota},
		{"IncorrectState", providers.InvalidState},
		{"InternalError", providers.Transient},
		{"RequestLimitExceeded", providers.Throttled},
	} {
		e.fake.FailNext("CreateSnapshot", c.code, 1)
		_, err := e.p.StartSnapshot(ctx(t), e.spec(t))
		pe, ok := providers.AsError(err)
		if !ok || pe.Kind != c.kind || pe.Code != c.code || pe.Message != "Injected fault "+c.code+" for CreateSnapshot." {
			t.Errorf("%s: got %#v", c.code, err)
			continue
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Errorf("%s: SDK error not wrapped", c.code)
		}
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() != awsfake.StatusFor(c.code) {
			t.Errorf("%s: status %d", c.code, re.HTTPStatusCode())
		}
		if c.code == "SnapshotCreationPerVolumeRateExceeded" && pe.RetryAfter < aws.RetryAfterSnapshotRate {
			t.Errorf("%s: RetryAfter %v", c.code, pe.RetryAfter)
		}
	}
}

// TestManyBackupsFewStatusCalls runs 300 concurrent backups, each starting
// a snapshot and polling it every 20 ms until complete, on a compressed
// clock (a 10-minute snapshot takes 1 s): the coalesced lookups and polls
// must stay within 2 DescribeSnapshots per snapshot.
func TestManyBackupsFewStatusCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	clock := awsfake.NewCompressedClock(600)
	e := newEnv(t, awsfake.Options{Clock: clock, SnapshotDuration: 10 * time.Minute}, func(o *aws.Options) {
		o.PollBatchWindow = 200 * time.Millisecond
		o.Limits = aws.Limits{SnapshotVolume: aws.Bucket{Size: 1000, RefillPerSecond: 100}}
	})
	const n = 300
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.p.StartSnapshot(ctx(t), e.spec(t))
			if err != nil {
				t.Error(err)
				return
			}
			if done := providertest.WaitFor(t, e.p, s.ID, 20*time.Second, providertest.Terminal); done.State != providers.StateCompleted {
				t.Errorf("snapshot %s ended %s", s.ID, done.State)
			}
		}()
	}
	wg.Wait()
	calls := e.fake.Calls()
	if calls["CreateSnapshot"] != n {
		t.Errorf("CreateSnapshot calls = %d, want %d", calls["CreateSnapshot"], n)
	}
	if d := calls["DescribeSnapshots"]; d > 2*n {
		t.Errorf("DescribeSnapshots calls = %d for %d snapshots, want ≤ %d", d, n, 2*n)
	}
	t.Logf("calls for %d backups: %v", n, calls)
}
