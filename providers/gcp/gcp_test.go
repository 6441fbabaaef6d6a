package gcp_test

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/gcp"
	"github.com/stratabackup/strata/providers/gcp/gcpfake"
	"github.com/stratabackup/strata/providers/providertest"
)

const (
	project = "strata-test"
	zone    = "us-central1-a"
	timeout = 20 * time.Second
)

// fastLimits keep the buckets out of the way and retries quick.
func fastLimits() gcp.Limits {
	return gcp.Limits{
		ReadsPerSecond: 10000, ReadBurst: 1000,
		ListsPerSecond: 10000, ListBurst: 1000,
		OperationReadsPerSecond: 10000, OperationReadBurst: 1000,
		MutationsPerSecond: 10000, MutationBurst: 1000,
		MaxAttempts: 8, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond,
	}
}

func newFake(t *testing.T) *gcpfake.Server {
	t.Helper()
	f := gcpfake.New(project)
	t.Cleanup(f.Close)
	f.SetSnapshotDuration(100 * time.Millisecond)
	f.SetDiskDuration(30 * time.Millisecond)
	return f
}

func newProvider(t *testing.T, f *gcpfake.Server, mod func(*gcp.Options)) *gcp.Provider {
	t.Helper()
	o := gcp.Options{
		Project:         project,
		Endpoint:        f.URL(),
		ClientOptions:   []option.ClientOption{option.WithoutAuthentication()},
		PollBatchWindow: 5 * time.Millisecond,
		Limits:          fastLimits(),
		Logger:          zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)),
	}
	if mod != nil {
		mod(&o)
	}
	p, err := gcp.New(context.Background(), o)
	if err != nil {
		t.Fatalf("gcp.New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newSpec(f *gcpfake.Server) providers.SnapshotSpec {
	disk := providertest.NewID("disk")
	return providers.SnapshotSpec{
		BackupID:  providertest.NewID("bk"),
		ClusterID: providertest.NewID("cl"),
		NodeID:    "node-1",
		VolumeID:  providertest.NewID("vol"),
		VolumeRef: f.AddDisk(zone, disk, 10),
		Zone:      zone,
		SizeGB:    10,
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return c
}

func TestContract(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, nil)
	providertest.Run(t, providertest.Harness{
		Provider:  p,
		NewVolume: func(t *testing.T) providers.SnapshotSpec { return newSpec(f) },
		MissingVolume: func(t *testing.T) providers.SnapshotSpec {
			s := newSpec(f)
			s.VolumeRef = "zones/" + zone + "/disks/" + providertest.NewID("missing")
			return s
		},
		Timeout:          timeout,
		Restore:          true,
		SizesKnown:       true,
		UnknownVolumeRef: "zones/" + zone + "/disks/no-such-disk",
	})
}

func TestShortRefAndOddIDs(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, nil)
	spec := newSpec(f)
	spec.VolumeRef = strings.TrimPrefix(strings.Replace(spec.VolumeRef, "/disks/", "/", 1), "zones/")
	spec.BackupID = "Backup_2026.01.02 " + strings.Repeat("X", 80)
	spec.ClusterID = "Cluster/Prod"
	snap, err := p.StartSnapshot(ctx(t), spec)
	if err != nil {
		t.Fatalf("StartSnapshot(%s): %v", spec.VolumeRef, err)
	}
	list, err := p.ListSnapshots(ctx(t), providers.SnapshotFilter{BackupID: spec.BackupID, ClusterID: spec.ClusterID})
	if err != nil || len(list) != 1 || list[0].ID != snap.ID || list[0].BackupID != spec.BackupID || list[0].ClusterID != spec.ClusterID {
		t.Fatalf("ListSnapshots = %+v, %v; want %s with exact IDs", list, err, snap.ID)
	}
}

func TestThrottlingStormCompletes(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, func(o *gcp.Options) { o.Limits.MaxAttempts = 30 })
	f.ThrottleNext(25)
	var wg sync.WaitGroup
	ids := make([]string, 5)
	errs := make([]error, 5)
	for i := range ids {
		spec := newSpec(f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := p.StartSnapshot(ctx(t), spec)
			ids[i], errs[i] = s.ID, err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("StartSnapshot %d under throttling: %v", i, err)
		}
	}
	for _, id := range ids {
		if s := providertest.WaitFor(t, p, id, timeout, providertest.Terminal); s.State != providers.StateCompleted {
			t.Fatalf("snapshot %s ended %s: %s", id, s.State, s.Error)
		}
	}
	if got := len(f.SnapshotNames()); got != 5 {
		t.Errorf("fake holds %d snapshots, want 5", got)
	}
}

func TestThrottledWhenRetriesExhausted(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, func(o *gcp.Options) { o.Limits.MaxAttempts = 2 })
	f.ThrottleNext(2)
	_, err := p.StartSnapshot(ctx(t), newSpec(f))
	pe, ok := providers.AsError(err)
	if !ok || pe.Kind != providers.Throttled || pe.Code != "rateLimitExceeded" || pe.RetryAfter <= 0 {
		t.Fatalf("StartSnapshot after 2 throttles with 2 attempts: %#v, want Throttled rateLimitExceeded with RetryAfter", err)
	}
}

func TestLostResponseIsNotDuplicated(t *testing.T) {
	f := newFake(t)
	// One attempt per call: the caller's retry is what adopts.
	p := newProvider(t, f, func(o *gcp.Options) { o.Limits.MaxAttempts = 1 })
	spec := newSpec(f)
	f.LoseResponseNext("disks.createSnapshot")
	_, err := p.StartSnapshot(ctx(t), spec)
	if pe, ok := providers.AsError(err); !ok || pe.Kind != providers.Transient {
		t.Fatalf("StartSnapshot with lost response: %v, want Transient", err)
	}
	snap, err := p.StartSnapshot(ctx(t), spec)
	if err != nil {
		t.Fatalf("retry StartSnapshot: %v", err)
	}
	if names := f.SnapshotNames(); len(names) != 1 || names[0] != snap.ID {
		t.Fatalf("fake snapshots %v, want just %s", names, snap.ID)
	}
	// A fresh provider (a restarted worker) lands on the same snapshot.
	p2 := newProvider(t, f, nil)
	again, err := p2.StartSnapshot(ctx(t), spec)
	if err != nil || again.ID != snap.ID {
		t.Fatalf("StartSnapshot from a new provider = %+v, %v; want %s", again, err, snap.ID)
	}

	// With internal retries the lost response is invisible.
	p3 := newProvider(t, f, nil)
	spec2 := newSpec(f)
	f.LoseResponseNext("disks.createSnapshot")
	if _, err := p3.StartSnapshot(ctx(t), spec2); err != nil {
		t.Fatalf("StartSnapshot with internal retry: %v", err)
	}
	if n := len(f.SnapshotNames()); n != 2 {
		t.Fatalf("fake holds %d snapshots, want 2", n)
	}
}

// rawClient is the SDK used directly, to set up conflicts.
func rawSnapshots(t *testing.T, f *gcpfake.Server) *compute.SnapshotsClient {
	c, err := compute.NewSnapshotsRESTClient(context.Background(), option.WithEndpoint(f.URL()), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNameConflictAdoptsOnlyOurs(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, nil)
	raw := rawSnapshots(t, f)
	insert := func(spec providers.SnapshotSpec, labels map[string]string) {
		t.Helper()
		op, err := raw.Insert(ctx(t), &computepb.InsertSnapshotRequest{Project: project, SnapshotResource: &computepb.Snapshot{
			Name: proto.String(gcp.SnapshotName(spec.BackupID, spec.VolumeID)), SourceDisk: proto.String("projects/" + project + "/" + spec.VolumeRef),
			Labels: labels,
		}})
		if err != nil {
			t.Fatalf("raw insert: %v", err)
		}
		if err := op.Wait(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}

	ours := newSpec(f)
	insert(ours, map[string]string{gcp.LabelBackupID: gcp.EncodeLabelValue(ours.BackupID), gcp.LabelVolumeID: gcp.EncodeLabelValue(ours.VolumeID),
		gcp.LabelClusterID: gcp.EncodeLabelValue(ours.ClusterID), gcp.LabelNodeID: gcp.EncodeLabelValue(ours.NodeID)})
	snap, err := p.StartSnapshot(ctx(t), ours)
	if err != nil || snap.ID != gcp.SnapshotName(ours.BackupID, ours.VolumeID) || snap.BackupID != ours.BackupID {
		t.Fatalf("StartSnapshot over our existing snapshot = %+v, %v; want it adopted", snap, err)
	}

	foreign := newSpec(f)
	insert(foreign, map[string]string{"owner": "someone-else"})
	_, err = p.StartSnapshot(ctx(t), foreign)
	if pe, ok := providers.AsError(err); !ok || pe.Kind != providers.InvalidState {
		t.Fatalf("StartSnapshot over a foreign snapshot: %v, want InvalidState", err)
	}
}

func TestOperationErrorSurfaces(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, nil)
	spec := newSpec(f)

	// The pitfall: the SDK's op.Wait returns nil for this operation.
	raw := rawSnapshots(t, f)
	f.FailOperationNext("RESOURCE_OPERATION_RATE_EXCEEDED")
	op, err := raw.Insert(ctx(t), &computepb.InsertSnapshotRequest{Project: project, SnapshotResource: &computepb.Snapshot{
		Name: proto.String("pitfall"), SourceDisk: proto.String("projects/" + project + "/" + spec.VolumeRef)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(ctx(t)); err != nil || len(op.Proto().GetError().GetErrors()) == 0 {
		t.Fatalf("op.Wait = %v, errors %v: expected the nil-with-error pitfall", err, op.Proto().GetError())
	}

	f.FailOperationNext("RESOURCE_OPERATION_RATE_EXCEEDED")
	_, err = p.StartSnapshot(ctx(t), spec)
	pe, ok := providers.AsError(err)
	if !ok || pe.Kind != providers.Throttled || pe.Code != "RESOURCE_OPERATION_RATE_EXCEEDED" || pe.RetryAfter < 5*time.Minute {
		t.Fatalf("StartSnapshot with failed operation: %#v, want Throttled RESOURCE_OPERATION_RATE_EXCEEDED with a long RetryAfter", err)
	}
	if !strings.Contains(pe.Message, "Operation rate exceeded") {
		t.Errorf("message %q lost GCE's words", pe.Message)
	}
	if n := len(f.SnapshotNames()); n != 0 {
		t.Fatalf("failed operation left %d snapshots", n)
	}
	// The retry uses a fresh requestId and so is not answered with the
	// failed operation.
	snap, err := p.StartSnapshot(ctx(t), spec)
	if err != nil {
		t.Fatalf("StartSnapshot after the failed operation: %v", err)
	}
	providertest.WaitFor(t, p, snap.ID, timeout, providertest.Terminal)

	// Disk insert operations too.
	f.FailOperationNext("QUOTA_EXCEEDED")
	_, err = p.CreateVolume(ctx(t), providertest.VolumeSpecFor(spec, snap))
	if pe, ok := providers.AsError(err); !ok || pe.Kind != providers.Quota {
		t.Fatalf("CreateVolume with failed operation: %v, want Quota", err)
	}
	v, err := p.CreateVolume(ctx(t), providertest.VolumeSpecFor(spec, snap))
	if err != nil || v.State != providers.VolumeAvailable {
		t.Fatalf("CreateVolume after the failed operation: %+v, %v", v, err)
	}
}

func TestFailedSnapshotReportsError(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, nil)
	spec := newSpec(f)
	f.FailSnapshotsOf(spec.VolumeRef[strings.LastIndex(spec.VolumeRef, "/")+1:])
	snap, err := p.StartSnapshot(ctx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	done := providertest.WaitFor(t, p, snap.ID, timeout, providertest.Terminal)
	if done.State != providers.StateFailed || !strings.Contains(done.Error, "FAILED") {
		t.Fatalf("snapshot of a failing disk ended %+v, want failed with a message", done)
	}
}

func TestGetSnapshotsCoalesces(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, func(o *gcp.Options) { o.PollBatchWindow = 100 * time.Millisecond })
	var ids []string
	for range 10 {
		s, err := p.StartSnapshot(ctx(t), newSpec(f))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	before := f.Calls()["snapshots.list"]
	const n = 50
	var wg sync.WaitGroup
	got := make([][]providers.Snapshot, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = p.GetSnapshots(ctx(t), []string{ids[i%len(ids)], "snap-00000000deadbeef"})
		}()
	}
	wg.Wait()
	if lists := f.Calls()["snapshots.list"] - before; lists > 2 {
		t.Errorf("%d concurrent GetSnapshots made %d list calls, want ≤ 2", n, lists)
	}
	for i := range n {
		if errs[i] != nil || len(got[i]) != 1 || got[i][0].ID != ids[i%len(ids)] {
			t.Errorf("caller %d got %+v, %v; want just %s", i, got[i], errs[i], ids[i%len(ids)])
		}
	}
	if p.Calls()["snapshots.list"] != f.Calls()["snapshots.list"] {
		t.Errorf("provider counts %d list calls, fake %d", p.Calls()["snapshots.list"], f.Calls()["snapshots.list"])
	}
}

func TestListPaginates(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, nil)
	spec := newSpec(f)
	const n = 510 // more than one page of 500
	for i := range n {
		s := spec
		s.VolumeID = providertest.NewID("vol")
		_ = i
		if _, err := p.StartSnapshot(ctx(t), s); err != nil {
			t.Fatal(err)
		}
	}
	before := f.Calls()["snapshots.list"]
	list, err := p.ListSnapshots(ctx(t), providers.SnapshotFilter{BackupID: spec.BackupID})
	if err != nil || len(list) != n {
		t.Fatalf("ListSnapshots = %d snapshots, %v; want %d", len(list), err, n)
	}
	if calls := f.Calls()["snapshots.list"] - before; calls != 2 {
		t.Errorf("ListSnapshots of %d made %d list calls, want 2 pages", n, calls)
	}
}

func TestLimiterStaysWithinBucket(t *testing.T) {
	f := newFake(t)
	const rate, burst = 20, 4
	p := newProvider(t, f, func(o *gcp.Options) {
		o.Limits.ReadsPerSecond, o.Limits.ReadBurst = rate, burst
	})
	ref := f.AddDisk(zone, providertest.NewID("disk"), 10)
	start := len(f.RequestTimes())
	const n = 40
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.GetVolumes(ctx(t), []string{ref}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	times := f.RequestTimes()[start:]
	if len(times) != n {
		t.Fatalf("fake saw %d requests, want %d", len(times), n)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	// Most requests the fake saw in any one-second window.
	most := 0
	for i := range times {
		j := i
		for j < len(times) && times[j].Sub(times[i]) < time.Second {
			j++
		}
		most = max(most, j-i)
	}
	if limit := burst + rate + 1; most > limit {
		t.Errorf("fake saw %d disks.get within one second, want ≤ %d (rate %d/s, burst %d)", most, limit, rate, burst)
	}
}

func TestDescribeDisksAndProvisioner(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, nil)
	a := f.AddDisk(zone, providertest.NewID("disk"), 10)
	b := f.AddDisk(zone, providertest.NewID("disk"), 20)
	infos, err := p.DescribeDisks(ctx(t), []string{a, b})
	if err != nil || len(infos) != 2 || infos[1].SizeGB != 20 || infos[0].Status != "READY" || infos[0].Zone != zone {
		t.Fatalf("DescribeDisks = %+v, %v", infos, err)
	}
	if _, err := p.DescribeDisks(ctx(t), []string{"zones/" + zone + "/disks/nope"}); !isKind(err, providers.NotFound) {
		t.Fatalf("DescribeDisks(missing) = %v, want NotFound", err)
	}
	pr := p.Provisioner()
	if err := pr.ProvisionNode(ctx(t), providers.NodeSpec{ClusterID: "c", NodeID: "n", VolumeRefs: []string{a, b}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := pr.NodeHealthy(ctx(t), "c", "n"); !ok || err != nil {
		t.Fatalf("NodeHealthy = %v, %v", ok, err)
	}
	if err := pr.ProvisionNode(ctx(t), providers.NodeSpec{ClusterID: "c", NodeID: "m", VolumeRefs: []string{a, "zones/" + zone + "/disks/nope"}}); !isKind(err, providers.NotFound) {
		t.Fatalf("ProvisionNode with a missing disk = %v, want NotFound", err)
	}
	if err := pr.DeleteNode(ctx(t), "c", "n"); err != nil {
		t.Fatal(err)
	}
}

func TestCreateVolumeNeedsZone(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, nil)
	spec := newSpec(f)
	snap, err := p.StartSnapshot(ctx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	snap = providertest.WaitFor(t, p, snap.ID, timeout, providertest.Terminal)
	vs := providertest.VolumeSpecFor(spec, snap)
	vs.Zone = ""
	if _, err := p.CreateVolume(ctx(t), vs); !isKind(err, providers.Invalid) {
		t.Fatalf("CreateVolume without zone = %v, want Invalid", err)
	}
	vs = providertest.VolumeSpecFor(spec, snap)
	vs.SizeGB = 5
	_, err = p.CreateVolume(ctx(t), vs)
	if !isKind(err, providers.Invalid) || !strings.Contains(err.Error(), "minimum is 10 GB") {
		t.Fatalf("CreateVolume too small = %v, want Invalid naming the minimum", err)
	}
}

func TestDeleteSnapshotInUse(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, nil)
	f.FailNext("snapshots.delete", http.StatusBadRequest, "resourceInUseByAnotherResource", 1)
	if err := p.DeleteSnapshot(ctx(t), "snap-in-use"); !isKind(err, providers.InUse) {
		t.Fatalf("DeleteSnapshot in use = %v, want InUse", err)
	}
}

func isKind(err error, k providers.ErrorKind) bool {
	var pe *providers.Error
	return errors.As(err, &pe) && pe.Kind == k
}

// An operation still RUNNING when StartSnapshot returns is polled by
// GetSnapshots, and its failure surfaces as a failed snapshot.
func TestRunningOperationFailureSurfacesLater(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, nil)
	f.SetOperationPolls(3)
	f.FailOperationNext("QUOTA_EXCEEDED")
	snap, err := p.StartSnapshot(ctx(t), newSpec(f))
	if err != nil || snap.State != providers.StatePending {
		t.Fatalf("StartSnapshot with a running operation = %+v, %v; want pending", snap, err)
	}
	done := providertest.WaitFor(t, p, snap.ID, timeout, providertest.Terminal)
	if done.State != providers.StateFailed || !strings.Contains(done.Error, "QUOTA_EXCEEDED") {
		t.Fatalf("snapshot whose operation failed ended %+v, want failed with the operation's error", done)
	}
	// A snapshot whose operation finishes fine completes.
	f.SetOperationPolls(2)
	snap, err = p.StartSnapshot(ctx(t), newSpec(f))
	if err != nil {
		t.Fatal(err)
	}
	if done := providertest.WaitFor(t, p, snap.ID, timeout, providertest.Terminal); done.State != providers.StateCompleted {
		t.Fatalf("snapshot ended %+v, want completed", done)
	}
}

// A worker closes its providers at shutdown while activities may still
// poll: a batch flushed after Close, and any call after it, get a
// Transient error (the activity retries elsewhere), never a closed client.
func TestCallsDuringAndAfterCloseFail(t *testing.T) {
	f := newFake(t)
	p := newProvider(t, f, func(o *gcp.Options) { o.PollBatchWindow = 200 * time.Millisecond })
	s, err := p.StartSnapshot(ctx(t), newSpec(f))
	if err != nil {
		t.Fatal(err)
	}
	pending := make(chan error, 1)
	go func() {
		_, err := p.GetSnapshots(ctx(t), []string{s.ID})
		pending <- err
	}()
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-pending; !isKind(err, providers.Transient) {
		t.Errorf("GetSnapshots pending at Close returned %v, want a Transient error", err)
	}
	if _, err := p.GetSnapshots(ctx(t), []string{s.ID}); !isKind(err, providers.Transient) {
		t.Errorf("GetSnapshots after Close returned %v, want a Transient error", err)
	}
	if _, err := p.ListSnapshots(ctx(t), providers.SnapshotFilter{BackupID: s.BackupID}); !isKind(err, providers.Transient) {
		t.Errorf("ListSnapshots after Close returned %v, want a Transient error", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}
