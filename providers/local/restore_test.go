package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/providertest"
)

// completedSnapshot provisions a volume of cluster, snapshots it and waits.
func completedSnapshot(t *testing.T, p *Provider, cluster string) (providers.SnapshotSpec, providers.Snapshot) {
	t.Helper()
	spec := volumeSpec(t, p, cluster, 64<<10)
	spec.SizeGB = 4
	snap := start(t, p, spec)
	done := providertest.WaitFor(t, p, snap.ID, waitTimeout, providertest.Terminal)
	if done.State != providers.StateCompleted {
		t.Fatalf("snapshot ended %+v", done)
	}
	return spec, done
}

func expectKind(t *testing.T, err error, kind providers.ErrorKind, contains ...string) *providers.Error {
	t.Helper()
	pe, ok := providers.AsError(err)
	if !ok || pe.Kind != kind {
		t.Fatalf("err = %v, want kind %s", err, kind)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not mention %q", err, c)
		}
	}
	return pe
}

// expectNoVolume checks that neither the volume nor any restore leftovers
// exist.
func expectNoVolume(t *testing.T, p *Provider, volumeID string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(p.volumesDir, volumeID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("volume %s directory: %v, want none", volumeID, err)
	}
	if _, err := os.Stat(p.VolumeMetaPath(volumeID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("volume %s metadata: %v, want none", volumeID, err)
	}
	if left, _ := filepath.Glob(filepath.Join(p.volumesDir, ".*"+volumeID+"*")); len(left) != 0 {
		t.Errorf("leftovers of volume %s: %v", volumeID, left)
	}
}

func TestRestoreDataAndMetadata(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, Options{Root: t.TempDir()})
	src, snap := completedSnapshot(t, p, "cl-src")
	spec := providertest.VolumeSpecFor(src, snap)
	spec.SizeGB = 0 // defaults to the snapshot's size
	v, err := p.CreateVolume(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(p.Root(), "volumes", spec.VolumeID)
	if v.Ref != want || v.State != providers.VolumeAvailable || v.SizeGB != 4 || v.VolumeID != spec.VolumeID {
		t.Fatalf("CreateVolume = %+v, want available at %s with 4 GB", v, want)
	}
	a, _ := DirChecksums(src.VolumeRef)
	b, _ := DirChecksums(v.Ref)
	if len(a) < 3 || !reflect.DeepEqual(a, b) {
		t.Fatalf("restored data differs: %v vs %v", b, a)
	}
	m, err := p.readVolumeMeta(spec.VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	if m.SnapshotID != snap.ID || m.ClusterID != spec.ClusterID || m.NodeID != spec.NodeID || m.SourceClusterID != "cl-src" || m.SizeGB != 4 || m.CreatedAt.IsZero() {
		t.Errorf("metadata = %+v", m)
	}

	// A retry does not copy again: a marker file planted in the volume
	// survives it.
	if err := os.WriteFile(filepath.Join(v.Ref, "marker"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := p.CreateVolume(ctx, spec)
	if err != nil || again != v {
		t.Fatalf("retry = %+v, %v; want %+v", again, err, v)
	}
	if _, err := os.Stat(filepath.Join(v.Ref, "marker")); err != nil {
		t.Fatalf("retry recreated the volume: %v", err)
	}
	// The same volume ID from another snapshot is a mismatch.
	other := spec
	other.SnapshotID = "snap-0000000000000001"
	_, err = p.CreateVolume(ctx, other)
	expectKind(t, err, providers.Invalid, spec.VolumeID)

	// Size and ID validation.
	small := providertest.VolumeSpecFor(src, snap)
	small.SizeGB = 3
	_, err = p.CreateVolume(ctx, small)
	expectKind(t, err, providers.Invalid, "minimum is 4 GB", snap.ID)
	expectNoVolume(t, p, small.VolumeID)
	bad := providertest.VolumeSpecFor(src, snap)
	bad.VolumeID = "../escape"
	_, err = p.CreateVolume(ctx, bad)
	expectKind(t, err, providers.Invalid)

	// Unknown snapshot.
	unknown := providertest.VolumeSpecFor(src, snap)
	unknown.SnapshotID = "snap-00000000deadbeef"
	_, err = p.CreateVolume(ctx, unknown)
	expectKind(t, err, providers.NotFound, unknown.SnapshotID)
	expectNoVolume(t, p, unknown.VolumeID)

	// A source volume made by ProvisionVolume is a volume too, size unknown.
	got, err := p.GetVolumes(ctx, []string{src.VolumeRef, v.Ref, "/etc", "../x", ""})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].VolumeID != src.VolumeID || got[0].SizeGB != 0 || got[1] != v {
		t.Fatalf("GetVolumes = %+v", got)
	}
	// Refs outside Root/volumes are refused.
	for _, ref := range []string{"/etc", filepath.Join(p.Root(), "snapshots", snap.ID), p.volumesDir, ""} {
		expectKind(t, p.DeleteVolume(ctx, ref), providers.Invalid)
	}
	if _, err := os.Stat(p.SnapshotDataDir(snap.ID)); err != nil {
		t.Fatalf("snapshot harmed: %v", err)
	}
	if err := p.DeleteVolume(ctx, v.Ref); err != nil {
		t.Fatal(err)
	}
	expectNoVolume(t, p, spec.VolumeID)
}

func TestRestoreFromPendingSnapshotIsInvalidState(t *testing.T) {
	faults := &faultTable{}
	faults.set("cl-slow", Faults{SnapshotDelay: api.Duration(time.Minute)})
	p := newProvider(t, Options{Root: t.TempDir(), Faults: faults.get})
	src := volumeSpec(t, p, "cl-slow", 16<<10)
	snap := start(t, p, src)
	spec := providertest.VolumeSpecFor(src, snap)
	_, err := p.CreateVolume(context.Background(), spec)
	expectKind(t, err, providers.InvalidState, snap.ID, "pending")
	expectNoVolume(t, p, spec.VolumeID)
}

func TestRestoreVerifiesChecksums(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, Options{Root: t.TempDir()})
	src, snap := completedSnapshot(t, p, "cl-src")
	data := p.SnapshotDataDir(snap.ID)
	const victim = "base/16384/1259"
	path := filepath.Join(data, filepath.FromSlash(victim))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff // same size, different content
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	spec := providertest.VolumeSpecFor(src, snap)
	_, err = p.CreateVolume(ctx, spec)
	pe := expectKind(t, err, providers.InvalidState, snap.ID, victim, "SHA-256")
	if pe.Retryable() {
		t.Errorf("corruption is retryable: %v", err)
	}
	expectNoVolume(t, p, spec.VolumeID)

	// A missing file is caught too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err = p.CreateVolume(ctx, spec)
	expectKind(t, err, providers.InvalidState, snap.ID, victim, "missing")
	expectNoVolume(t, p, spec.VolumeID)

	// And a truncated one.
	if err := os.WriteFile(path, b[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = p.CreateVolume(ctx, spec)
	expectKind(t, err, providers.InvalidState, snap.ID, victim, "bytes")
	expectNoVolume(t, p, spec.VolumeID)
}

func TestRestoreRedoesPartialAttempt(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, Options{Root: t.TempDir()})
	src, snap := completedSnapshot(t, p, "cl-src")
	spec := providertest.VolumeSpecFor(src, snap)

	// An attempt that died mid-copy left its temporary directory.
	leftover := filepath.Join(p.volumesDir, restorePrefix+spec.VolumeID+"-12345")
	if err := os.MkdirAll(filepath.Join(leftover, "base"), 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := p.CreateVolume(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover of the partial attempt: %v", err)
	}

	// An attempt that died after renaming the copy into place but before
	// recording it: the complete copy is adopted.
	if err := os.Remove(p.VolumeMetaPath(spec.VolumeID)); err != nil {
		t.Fatal(err)
	}
	again, err := p.CreateVolume(ctx, spec)
	if err != nil || again.Ref != v.Ref {
		t.Fatalf("CreateVolume after a crash before recording = %+v, %v", again, err)
	}
	if _, err := p.readVolumeMeta(spec.VolumeID); err != nil {
		t.Fatalf("not recorded: %v", err)
	}

	// A directory of that name that is not the snapshot's copy is refused.
	clash := providertest.VolumeSpecFor(src, snap)
	if err := os.MkdirAll(filepath.Join(p.volumesDir, clash.VolumeID), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = p.CreateVolume(ctx, clash)
	expectKind(t, err, providers.InvalidState, clash.VolumeID)
}

func TestRestoreDelayFault(t *testing.T) {
	const delay = 300 * time.Millisecond
	faults := &faultTable{}
	p := newProvider(t, Options{Root: t.TempDir(), Faults: faults.get})
	src, snap := completedSnapshot(t, p, "cl-slow")
	faults.set("cl-slow", Faults{RestoreDelay: api.Duration(delay)})

	spec := providertest.VolumeSpecFor(src, snap)
	v, err := p.CreateVolume(context.Background(), spec)
	if err != nil || v.State != providers.VolumeAvailable {
		t.Fatalf("CreateVolume = %+v, %v", v, err)
	}
	m, err := p.readVolumeMeta(spec.VolumeID)
	if err != nil {
		t.Fatal(err)
	}
	if took := m.CreatedAt.Sub(m.StartedAt); took < delay {
		t.Errorf("volume started %v, created %v: %v, want at least %v", m.StartedAt, m.CreatedAt, took, delay)
	}

	// Cancelled during a long delay: returns with ctx's error, leaves nothing.
	faults.set("cl-slow", Faults{RestoreDelay: api.Duration(time.Hour)})
	spec = providertest.VolumeSpecFor(src, snap)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := p.CreateVolume(ctx, spec)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(waitTimeout):
		t.Fatal("CreateVolume did not return after cancellation")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled CreateVolume: %v, want context.Canceled", err)
	}
	expectNoVolume(t, p, spec.VolumeID)
}

func TestProvisioner(t *testing.T) {
	ctx := context.Background()
	faults := &faultTable{}
	p := newProvider(t, Options{Root: t.TempDir(), Faults: faults.get})
	prov := p.Provisioner()
	src, snap := completedSnapshot(t, p, "cl-src")
	v1, err := p.CreateVolume(ctx, providertest.VolumeSpecFor(src, snap))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := p.CreateVolume(ctx, providertest.VolumeSpecFor(src, snap))
	if err != nil {
		t.Fatal(err)
	}
	spec := providers.NodeSpec{ClusterID: "cl-new", NodeID: "node-1", SourceClusterID: "cl-src", VolumeRefs: []string{v1.Ref, v2.Ref}}

	if ok, err := prov.NodeHealthy(ctx, "cl-new", "node-1"); ok || err != nil {
		t.Fatalf("NodeHealthy before provisioning = %v, %v", ok, err)
	}
	for i := range 2 {
		if err := prov.ProvisionNode(ctx, spec); err != nil {
			t.Fatalf("ProvisionNode #%d: %v", i+1, err)
		}
	}
	rec, err := readNode(p.NodeDir("cl-new", "node-1"))
	if err != nil || !reflect.DeepEqual(rec.VolumeRefs, spec.VolumeRefs) {
		t.Fatalf("node.json = %+v, %v", rec, err)
	}
	if ok, err := prov.NodeHealthy(ctx, "cl-new", "node-1"); !ok || err != nil {
		t.Fatalf("NodeHealthy = %v, %v", ok, err)
	}
	// A volume going away makes the node unhealthy.
	if err := p.DeleteVolume(ctx, v2.Ref); err != nil {
		t.Fatal(err)
	}
	if ok, err := prov.NodeHealthy(ctx, "cl-new", "node-1"); ok || err != nil {
		t.Fatalf("NodeHealthy without a volume = %v, %v", ok, err)
	}

	missing := spec
	missing.NodeID = "node-2"
	err = prov.ProvisionNode(ctx, missing)
	expectKind(t, err, providers.NotFound, v2.Ref)
	if _, err := os.Stat(p.NodeDir("cl-new", "node-2")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("node directory despite a missing volume: %v", err)
	}
	expectKind(t, prov.ProvisionNode(ctx, providers.NodeSpec{ClusterID: "cl-new", NodeID: "../x"}), providers.Invalid)

	faults.set("cl-src", Faults{RestoreFail: true})
	failing := providers.NodeSpec{ClusterID: "cl-new", NodeID: "node-3", SourceClusterID: "cl-src", VolumeRefs: []string{v1.Ref}}
	err = prov.ProvisionNode(ctx, failing)
	pe := expectKind(t, err, providers.InvalidState)
	if want := "injected restore failure (cluster cl-src fault restoreFail) provisioning node node-3"; pe.Message != want {
		t.Errorf("message %q, want %q", pe.Message, want)
	}
	if pe.Retryable() {
		t.Error("injected restore failure is retryable")
	}

	for i := range 2 {
		if err := prov.DeleteNode(ctx, "cl-new", "node-1"); err != nil {
			t.Fatalf("DeleteNode #%d: %v", i+1, err)
		}
	}
	if ok, err := prov.NodeHealthy(ctx, "cl-new", "node-1"); ok || err != nil {
		t.Fatalf("NodeHealthy after delete = %v, %v", ok, err)
	}
	if _, err := os.Stat(filepath.Join(p.Root(), "nodes", "cl-new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cluster node directory after its last node was deleted: %v", err)
	}
}
