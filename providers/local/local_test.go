package local

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/providertest"
)

const waitTimeout = 15 * time.Second

// faultTable is a settable Options.Faults.
type faultTable struct {
	mu sync.Mutex
	m  map[string]Faults
}

func (f *faultTable) set(cluster string, v Faults) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]Faults{}
	}
	f.m[cluster] = v
}

func (f *faultTable) get(_ context.Context, cluster string) (Faults, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[cluster], nil
}

func newProvider(t *testing.T, o Options) *Provider {
	t.Helper()
	if o.Logger == nil {
		o.Logger = zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	}
	p, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// Registered after t.TempDir, so it runs first: no copy outlives the test.
	t.Cleanup(func() { p.Close() })
	return p
}

func volumeSpec(t *testing.T, p *Provider, cluster string, bytes int64) providers.SnapshotSpec {
	t.Helper()
	vol := providertest.NewID("vol")
	path, err := p.ProvisionVolume(context.Background(), vol, bytes)
	if err != nil {
		t.Fatalf("ProvisionVolume(%s): %v", vol, err)
	}
	return providers.SnapshotSpec{
		BackupID:  providertest.NewID("bk"),
		ClusterID: cluster,
		NodeID:    "node-1",
		VolumeID:  vol,
		VolumeRef: path,
		SizeGB:    1,
	}
}

func start(t *testing.T, p *Provider, spec providers.SnapshotSpec) providers.Snapshot {
	t.Helper()
	snap, err := p.StartSnapshot(context.Background(), spec)
	if err != nil {
		t.Fatalf("StartSnapshot: %v", err)
	}
	return snap
}

func mustMeta(t *testing.T, p *Provider, id string) metadata {
	t.Helper()
	m, err := readMeta(filepath.Join(p.snapshotsDir, id))
	if err != nil {
		t.Fatalf("read metadata of %s: %v", id, err)
	}
	return m
}

func TestContract(t *testing.T) {
	p := newProvider(t, Options{Root: t.TempDir()})
	providertest.Run(t, providertest.Harness{
		Provider: p,
		NewVolume: func(t *testing.T) providers.SnapshotSpec {
			spec := volumeSpec(t, p, "cl-contract", 64<<10)
			spec.BackupID = ""
			spec.SizeGB = 4
			return spec
		},
		MissingVolume: func(t *testing.T) providers.SnapshotSpec {
			return providers.SnapshotSpec{ClusterID: "cl-contract", NodeID: "node-1", VolumeID: providertest.NewID("vol-missing")}
		},
		Timeout:          waitTimeout,
		Restore:          true,
		SizesKnown:       true,
		UnknownVolumeRef: filepath.Join(p.Root(), "volumes", "vol-00000000deadbeef"),
		CheckRestored: func(t *testing.T, src providers.SnapshotSpec, v providers.Volume) {
			want, err := DirChecksums(src.VolumeRef)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DirChecksums(v.Ref)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) < 3 || !reflect.DeepEqual(got, want) {
				t.Fatalf("restored volume %s checksums\n got %v\nwant %v", v.Ref, got, want)
			}
		},
	})
}

func TestSnapshotDataMatchesVolume(t *testing.T) {
	p := newProvider(t, Options{Root: t.TempDir()})
	spec := volumeSpec(t, p, "cl-1", 300<<10)
	snap := start(t, p, spec)
	done := providertest.WaitFor(t, p, snap.ID, waitTimeout, providertest.Terminal)
	if done.State != providers.StateCompleted || done.Progress != 100 {
		t.Fatalf("snapshot ended %+v", done)
	}

	want, err := DirChecksums(spec.VolumeRef)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DirChecksums(p.SnapshotDataDir(snap.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 3 || !reflect.DeepEqual(got, want) {
		t.Fatalf("snapshot data checksums\n got %v\nwant %v", got, want)
	}

	b, err := os.ReadFile(filepath.Join(p.snapshotsDir, snap.ID, manifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var man manifest
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range man.Files {
		fi, err := os.Stat(filepath.Join(spec.VolumeRef, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatalf("manifest names %s: %v", f.Path, err)
		}
		if f.SHA256 != want[f.Path] || f.Size != fi.Size() {
			t.Errorf("manifest %s: sha256 %s size %d, want %s %d", f.Path, f.SHA256, f.Size, want[f.Path], fi.Size())
		}
		total += f.Size
	}
	if len(man.Files) != len(want) || man.TotalBytes != total || man.SnapshotID != snap.ID || man.VolumeID != spec.VolumeID {
		t.Errorf("manifest = %+v; want %d files, %d bytes", man, len(want), total)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(p.snapshotsDir, snap.ID, tmpPrefix+"*")); len(leftovers) != 0 {
		t.Errorf("temporary copies left behind: %v", leftovers)
	}
}

func TestDelayFault(t *testing.T) {
	const delay = 600 * time.Millisecond
	faults := &faultTable{}
	faults.set("cl-slow", Faults{SnapshotDelay: api.Duration(delay)})
	p := newProvider(t, Options{Root: t.TempDir(), Faults: faults.get})
	spec := volumeSpec(t, p, "cl-slow", 256<<10)
	snap := start(t, p, spec)
	if snap.State != providers.StatePending {
		t.Fatalf("delayed snapshot started %s", snap.State)
	}
	// Progress grows with time rather than jumping from 0 to 100.
	providertest.WaitFor(t, p, snap.ID, waitTimeout, func(s providers.Snapshot) bool {
		if s.State != providers.StatePending {
			t.Fatalf("snapshot left pending before showing partial progress: %+v", s)
		}
		return s.Progress > 0 && s.Progress < 100
	})
	done := providertest.WaitFor(t, p, snap.ID, waitTimeout, providertest.Terminal)
	if done.State != providers.StateCompleted || done.Progress != 100 {
		t.Fatalf("snapshot ended %+v", done)
	}
	m := mustMeta(t, p, snap.ID)
	if m.Faults.SnapshotDelay.D() != delay {
		t.Errorf("recorded faults %+v, want delay %v", m.Faults, delay)
	}
	if m.CompletedAt == nil || m.CompletedAt.Sub(m.CreatedAt) < delay {
		t.Errorf("completed at %v, created at %v: want at least %v later", m.CompletedAt, m.CreatedAt, delay)
	}
}

func TestFailFault(t *testing.T) {
	faults := &faultTable{}
	faults.set("cl-bad", Faults{SnapshotFail: true})
	p := newProvider(t, Options{Root: t.TempDir(), Faults: faults.get})
	snap := start(t, p, volumeSpec(t, p, "cl-bad", 16<<10))
	done := providertest.WaitFor(t, p, snap.ID, waitTimeout, providertest.Terminal)
	const want = "injected snapshot failure (cluster cl-bad fault snapshotFail)"
	if done.State != providers.StateFailed || done.Error != want {
		t.Fatalf("snapshot ended %s with error %q, want failed with %q", done.State, done.Error, want)
	}
	// Other clusters are unaffected.
	ok := start(t, p, volumeSpec(t, p, "cl-good", 16<<10))
	if s := providertest.WaitFor(t, p, ok.ID, waitTimeout, providertest.Terminal); s.State != providers.StateCompleted {
		t.Fatalf("snapshot of a cluster without faults ended %+v", s)
	}
}

func TestHangFault(t *testing.T) {
	const delay = 100 * time.Millisecond
	faults := &faultTable{}
	faults.set("cl-hang", Faults{SnapshotHang: true, SnapshotDelay: api.Duration(delay)})
	p := newProvider(t, Options{Root: t.TempDir(), Faults: faults.get, StaleAfter: 200 * time.Millisecond})
	snap := start(t, p, volumeSpec(t, p, "cl-hang", 64<<10))

	// Past the delay window, watch the copier prove itself alive twice more;
	// a completion would have happened by then.
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(providertest.PollInterval)
	defer tick.Stop()
	var beats []time.Time
	windowEnd := mustMeta(t, p, snap.ID).CreatedAt.Add(delay)
	for len(beats) < 3 {
		m := mustMeta(t, p, snap.ID)
		if m.State != providers.StatePending {
			t.Fatalf("hung snapshot left pending: %+v", m)
		}
		if m.Heartbeat.After(windowEnd) && (len(beats) == 0 || m.Heartbeat.After(beats[len(beats)-1])) {
			beats = append(beats, m.Heartbeat)
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeat did not advance: %v", beats)
		}
		<-tick.C
	}
	got, err := p.GetSnapshots(context.Background(), []string{snap.ID})
	if err != nil || len(got) != 1 {
		t.Fatalf("GetSnapshots: %v %v", got, err)
	}
	if s := got[0]; s.State != providers.StatePending || s.Progress >= 100 || s.Progress != 50 {
		t.Fatalf("hung snapshot = %+v, want pending at progress 50", s)
	}
	if m := mustMeta(t, p, snap.ID); m.Attempt != 1 || m.Owner != p.InstanceID() {
		t.Fatalf("a live hung copy was resumed: attempt %d owner %s", m.Attempt, m.Owner)
	}
	// Deleting it stops the copy.
	if err := p.DeleteSnapshot(context.Background(), snap.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(p.snapshotsDir, snap.ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("snapshot directory after delete: %v", err)
	}
	running.mu.Lock()
	defer running.mu.Unlock()
	if j := running.jobs[filepath.Join(p.snapshotsDir, snap.ID)]; j != nil {
		t.Fatal("copy still registered after delete")
	}
}

func TestCloseThenResume(t *testing.T) {
	const delay = time.Second
	const stale = 300 * time.Millisecond
	root := t.TempDir()
	faults := &faultTable{}
	faults.set("cl-resume", Faults{SnapshotDelay: api.Duration(delay)})
	a := newProvider(t, Options{Root: root, Faults: faults.get, StaleAfter: stale})
	spec := volumeSpec(t, a, "cl-resume", 512<<10)
	snap := start(t, a, spec)
	providertest.WaitFor(t, a, snap.ID, waitTimeout, func(s providers.Snapshot) bool { return s.Progress >= 10 })

	// While a's copy runs in this process, even an instance that considers
	// every heartbeat stale leaves it alone.
	eager := newProvider(t, Options{Root: root, StaleAfter: time.Nanosecond})
	if _, err := eager.GetSnapshots(context.Background(), []string{snap.ID}); err != nil {
		t.Fatal(err)
	}
	if m := mustMeta(t, a, snap.ID); m.Attempt != 1 || m.Owner != a.InstanceID() {
		t.Fatalf("running copy was taken over: attempt %d owner %s", m.Attempt, m.Owner)
	}
	eager.Close()

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	m := mustMeta(t, a, snap.ID)
	if m.State != providers.StatePending || m.Progress >= 100 {
		t.Fatalf("after Close: %+v, want pending", m)
	}
	if _, err := a.StartSnapshot(context.Background(), spec); err != nil {
		t.Fatalf("StartSnapshot of an existing snapshot on a closed instance: %v", err)
	}
	if got := mustMeta(t, a, snap.ID); got.Attempt != 1 {
		t.Fatalf("closed instance resumed the copy: attempt %d", got.Attempt)
	}

	// Two new instances race to resume it; the recorded faults apply, not a
	// fresh lookup.
	noLookup := func(context.Context, string) (Faults, error) {
		t.Error("resumed copy looked faults up again")
		return Faults{}, nil
	}
	b := newProvider(t, Options{Root: root, Faults: noLookup, StaleAfter: stale})
	c := newProvider(t, Options{Root: root, Faults: noLookup, StaleAfter: stale})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		tick := time.NewTicker(providertest.PollInterval)
		defer tick.Stop()
		for {
			l, err := c.ListSnapshots(ctx, providers.SnapshotFilter{BackupID: spec.BackupID})
			if err != nil || len(l) != 1 || l[0].State != providers.StatePending {
				return
			}
			<-tick.C
		}
	}()
	done := providertest.WaitFor(t, b, snap.ID, waitTimeout, providertest.Terminal)
	wg.Wait()
	if done.State != providers.StateCompleted || done.Progress != 100 {
		t.Fatalf("resumed snapshot ended %+v", done)
	}
	m = mustMeta(t, b, snap.ID)
	if m.Attempt != 2 || (m.Owner != b.InstanceID() && m.Owner != c.InstanceID()) {
		t.Errorf("resumed by attempt %d owner %s; want attempt 2 by b or c", m.Attempt, m.Owner)
	}
	if m.CompletedAt == nil || m.CompletedAt.Sub(m.CreatedAt) < delay {
		t.Errorf("resumed snapshot completed at %v, created %v: want at least %v later", m.CompletedAt, m.CreatedAt, delay)
	}
	list, err := b.ListSnapshots(context.Background(), providers.SnapshotFilter{BackupID: spec.BackupID})
	if err != nil || len(list) != 1 || list[0].ID != snap.ID || list[0].VolumeID != spec.VolumeID {
		t.Fatalf("ListSnapshots(backup) = %+v, %v; want exactly %s", list, err, snap.ID)
	}
	want, _ := DirChecksums(spec.VolumeRef)
	got, err := DirChecksums(b.SnapshotDataDir(snap.ID))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("resumed snapshot data %v (%v), want %v", got, err, want)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "snapshots", snap.ID))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

func TestClaimIsExclusive(t *testing.T) {
	dir := t.TempDir()
	if err := createClaim(dir, 2, "one"); err != nil {
		t.Fatal(err)
	}
	if err := createClaim(dir, 2, "two"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second claim of attempt 2: %v, want ErrExist", err)
	}
}

func TestProvisionVolume(t *testing.T) {
	ctx := context.Background()
	p1 := newProvider(t, Options{Root: t.TempDir()})
	p2 := newProvider(t, Options{Root: t.TempDir()})
	const size = 100_000
	path1, err := p1.ProvisionVolume(ctx, "vol-a", size)
	if err != nil {
		t.Fatal(err)
	}
	if path1 != filepath.Join(p1.Root(), "volumes", "vol-a") {
		t.Errorf("path %s", path1)
	}
	sum1, err := DirChecksums(path1)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	subdir := false
	for rel := range sum1 {
		fi, err := os.Stat(filepath.Join(path1, rel))
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
		subdir = subdir || strings.Contains(rel, "/")
	}
	if len(sum1) < 3 || !subdir || total < size || total > size+64 {
		t.Errorf("volume has %d files (subdirectory: %v), %d bytes; want a few files in subdirectories, about %d bytes", len(sum1), subdir, total, size)
	}

	again, err := p1.ProvisionVolume(ctx, "vol-a", size)
	if err != nil || again != path1 {
		t.Fatalf("second ProvisionVolume = %s, %v", again, err)
	}
	if s, _ := DirChecksums(path1); !reflect.DeepEqual(s, sum1) {
		t.Error("second ProvisionVolume changed the volume")
	}
	path2, err := p2.ProvisionVolume(ctx, "vol-a", size)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := DirChecksums(path2); !reflect.DeepEqual(s, sum1) {
		t.Error("same volume ID on another root has different content")
	}
	pathB, err := p1.ProvisionVolume(ctx, "vol-b", size)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := DirChecksums(pathB); reflect.DeepEqual(s, sum1) {
		t.Error("different volume IDs have the same content")
	}
	if _, err := p1.ProvisionVolume(ctx, "../escape", size); err == nil {
		t.Error("ProvisionVolume accepted a path as volume ID")
	} else if pe, ok := providers.AsError(err); !ok || pe.Kind != providers.Invalid {
		t.Errorf("ProvisionVolume(../escape): %v, want Invalid", err)
	}
}

func TestFaultLookupErrorIsTransient(t *testing.T) {
	root := t.TempDir()
	lookupErr := errors.New("catalog unavailable")
	p := newProvider(t, Options{Root: root, Faults: func(context.Context, string) (Faults, error) {
		return Faults{}, lookupErr
	}})
	spec := volumeSpec(t, p, "cl-x", 1024)
	_, err := p.StartSnapshot(context.Background(), spec)
	pe, ok := providers.AsError(err)
	if !ok || pe.Kind != providers.Transient || !pe.Retryable() || !errors.Is(err, lookupErr) || !strings.Contains(err.Error(), spec.VolumeID) {
		t.Fatalf("StartSnapshot with failing fault lookup: %v, want retryable Transient naming the volume", err)
	}
	if l, _ := p.ListSnapshots(context.Background(), providers.SnapshotFilter{BackupID: spec.BackupID}); len(l) != 0 {
		t.Fatalf("snapshot created despite the failed lookup: %+v", l)
	}
}

func TestMissingVolumeErrorNamesVolume(t *testing.T) {
	p := newProvider(t, Options{Root: t.TempDir()})
	_, err := p.StartSnapshot(context.Background(), providers.SnapshotSpec{BackupID: "bk-1", VolumeID: "vol-gone"})
	pe, ok := providers.AsError(err)
	if !ok || pe.Kind != providers.NotFound || !strings.Contains(err.Error(), "vol-gone") {
		t.Fatalf("err = %v, want NotFound naming vol-gone", err)
	}
}

func isRunning(dir string) bool {
	running.mu.Lock()
	defer running.mu.Unlock()
	return running.jobs[dir] != nil
}

// Another process that claimed the next attempt first wins: this one must
// not resume the snapshot too.
func TestResumeRespectsForeignClaim(t *testing.T) {
	const stale = 200 * time.Millisecond
	root := t.TempDir()
	faults := &faultTable{}
	faults.set("cl-1", Faults{SnapshotDelay: api.Duration(time.Minute)})
	a := newProvider(t, Options{Root: root, Faults: faults.get, StaleAfter: stale})
	snap := start(t, a, volumeSpec(t, a, "cl-1", 64<<10))
	a.Close()
	dir := filepath.Join(a.snapshotsDir, snap.ID)
	if err := createClaim(dir, 2, "other-process"); err != nil {
		t.Fatal(err)
	}

	b := newProvider(t, Options{Root: root, StaleAfter: stale})
	staleAt := mustMeta(t, b, snap.ID).Heartbeat.Add(stale)
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(providertest.PollInterval)
	defer tick.Stop()
	for polledStale := 0; polledStale < 3; <-tick.C {
		if time.Now().After(staleAt) {
			polledStale++
		}
		if _, err := b.GetSnapshots(context.Background(), []string{snap.ID}); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
	if m := mustMeta(t, b, snap.ID); m.Attempt != 1 || isRunning(dir) {
		t.Fatalf("resumed despite another process's claim: attempt %d owner %s", m.Attempt, m.Owner)
	}
}

// A copier presumed dead (but only paused) that finds another process took
// its snapshot over stops without overwriting the new owner's metadata.
func TestSupersededCopierStops(t *testing.T) {
	root := t.TempDir()
	faults := &faultTable{}
	faults.set("cl-1", Faults{SnapshotDelay: api.Duration(time.Minute)})
	a := newProvider(t, Options{Root: root, Faults: faults.get, StaleAfter: 200 * time.Millisecond})
	snap := start(t, a, volumeSpec(t, a, "cl-1", 64<<10))
	dir := filepath.Join(a.snapshotsDir, snap.ID)

	m := mustMeta(t, a, snap.ID)
	if err := createClaim(dir, 2, "other-process"); err != nil {
		t.Fatal(err)
	}
	m.Attempt, m.Owner, m.Heartbeat = 2, "other-process", time.Now().UTC()
	if err := writeMeta(dir, m); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(providertest.PollInterval)
	defer tick.Stop()
	for isRunning(dir) {
		if time.Now().After(deadline) {
			t.Fatal("superseded copier still running")
		}
		<-tick.C
	}
	if got := mustMeta(t, a, snap.ID); got.Attempt != 2 || got.Owner != "other-process" || got.State != providers.StatePending {
		t.Fatalf("superseded copier overwrote metadata: %+v", got)
	}
}

// Generated data is bounded, and what an interrupted `cluster create` left
// half-written is swept (by the next provisioning of that volume, or when a
// provider starts), while a provisioning in progress is left alone.
func TestProvisionVolumeBoundsAndLeftovers(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "local")
	p := newProvider(t, Options{Root: root})
	if _, err := p.ProvisionVolume(ctx, "huge", MaxProvisionBytes+1); err == nil {
		t.Fatal("a volume past MaxProvisionBytes was provisioned")
	}
	volumes := filepath.Join(root, "volumes")
	old := filepath.Join(volumes, provisionPrefix+"vol-x-123")
	fresh := filepath.Join(volumes, provisionPrefix+"vol-y-456")
	for _, d := range []string{old, fresh} {
		if err := os.MkdirAll(filepath.Join(d, "base"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stale := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, stale, stale); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ProvisionVolume(ctx, "vol-x", 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("the interrupted provisioning of vol-x was not swept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a provisioning in progress was swept")
	}
	if err := os.Chtimes(fresh, stale, stale); err != nil {
		t.Fatal(err)
	}
	newProvider(t, Options{Root: root})
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Error("a provider start did not sweep a stale provisioning")
	}
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("root mode %v, want 0700: it holds the volumes' data", fi.Mode())
	}
}
