// Package providertest is the one contract test suite every provider runs:
// local against the filesystem, AWS and GCP against their HTTP fakes. A
// provider passes when Run passes.
package providertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/stratabackup/strata/providers"
)

// Harness is what a provider gives the suite.
type Harness struct {
	Provider providers.Provider
	// NewVolume returns a spec of a fresh, existing source volume to
	// snapshot (BackupID left empty; the suite fills it).
	NewVolume func(t *testing.T) providers.SnapshotSpec
	// MissingVolume returns a spec naming a volume that does not exist.
	MissingVolume func(t *testing.T) providers.SnapshotSpec
	// Timeout bounds waits for completion; default 30s.
	Timeout time.Duration
	// UnknownID is a well-formed snapshot ID the provider does not know;
	// default "snap-00000000deadbeef".
	UnknownID string

	// Restore opts in to the restore cases (CreateVolume, GetVolumes,
	// DeleteVolume). Every provider that can restore must set it.
	Restore bool
	// SizesKnown says the provider knows a snapshot's source volume size
	// (Snapshot.SizeGB), so that a smaller volume must be Invalid.
	SizesKnown bool
	// UnknownVolumeRef is a well-formed volume reference the provider does
	// not know; default "vol-00000000deadbeef".
	UnknownVolumeRef string
	// CheckRestored, optional, checks that the volume restored from a
	// snapshot of src holds src's data.
	CheckRestored func(t *testing.T, src providers.SnapshotSpec, v providers.Volume)
}

// PollInterval is how often the suite polls a provider while waiting.
const PollInterval = 20 * time.Millisecond

// Run runs the contract suite as subtests of t.
func Run(t *testing.T, h Harness) {
	if h.Provider == nil || h.NewVolume == nil || h.MissingVolume == nil {
		t.Fatal("providertest: Harness needs Provider, NewVolume and MissingVolume")
	}
	if h.Timeout <= 0 {
		h.Timeout = 30 * time.Second
	}
	if h.UnknownID == "" {
		h.UnknownID = "snap-00000000deadbeef"
	}
	if h.UnknownVolumeRef == "" {
		h.UnknownVolumeRef = "vol-00000000deadbeef"
	}
	s := suite{h: h}
	t.Run("StartReturnsSnapshotWithTags", s.startReturnsSnapshot)
	t.Run("StartTwiceSequentially", s.startTwiceSequentially)
	t.Run("StartConcurrently", s.startConcurrently)
	t.Run("Completes", s.completes)
	t.Run("GetSnapshotsOmitsUnknown", s.getOmitsUnknown)
	t.Run("ListByBackupAndCluster", s.listByBackupAndCluster)
	t.Run("DeleteIsIdempotent", s.deleteIsIdempotent)
	t.Run("MissingVolumeIsNotFound", s.missingVolume)
	if h.Restore {
		t.Run("Restore", s.restore)
	}
}

type suite struct{ h Harness }

func (s suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// spec returns a fresh volume's spec with a backup ID unique to this test.
func (s suite) spec(t *testing.T) providers.SnapshotSpec {
	t.Helper()
	spec := s.h.NewVolume(t)
	spec.BackupID = NewID("bk")
	return spec
}

// start starts spec's snapshot and deletes it when the test ends, so that
// no copy outlives its test.
func (s suite) start(t *testing.T, spec providers.SnapshotSpec) providers.Snapshot {
	t.Helper()
	snap, err := s.h.Provider.StartSnapshot(s.ctx(t), spec)
	if err != nil {
		t.Fatalf("StartSnapshot(%+v): %v", spec, err)
	}
	if snap.ID != "" {
		id := snap.ID
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
			defer cancel()
			if err := s.h.Provider.DeleteSnapshot(ctx, id); err != nil {
				t.Errorf("cleanup: DeleteSnapshot(%s): %v", id, err)
			}
		})
	}
	return snap
}

func (s suite) startReturnsSnapshot(t *testing.T) {
	spec := s.spec(t)
	snap := s.start(t, spec)
	if snap.ID == "" {
		t.Fatalf("StartSnapshot returned no ID: %+v", snap)
	}
	if snap.State != providers.StatePending && snap.State != providers.StateCompleted {
		t.Errorf("state = %q, want pending or completed (%+v)", snap.State, snap)
	}
	checkTags(t, snap, spec)
}

func (s suite) startTwiceSequentially(t *testing.T) {
	spec := s.spec(t)
	first := s.start(t, spec)
	second := s.start(t, spec)
	if first.ID != second.ID {
		t.Fatalf("second StartSnapshot of the same spec returned %s, first %s", second.ID, first.ID)
	}
	checkTags(t, second, spec)
	s.expectOneForBackup(t, spec.BackupID, first.ID)
}

func (s suite) startConcurrently(t *testing.T) {
	spec := s.spec(t)
	const n = 10
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	ctx := s.ctx(t)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap, err := s.h.Provider.StartSnapshot(ctx, spec)
			got[i], errs[i] = snap.ID, err
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("concurrent StartSnapshot %d: %v", i, errs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// A retry after the race must land on the same snapshot too; start also
	// deletes it at the end.
	again := s.start(t, spec)
	for i := range n {
		if got[i] != got[0] {
			t.Fatalf("concurrent StartSnapshot calls returned different IDs: %v", got)
		}
	}
	if again.ID != got[0] {
		t.Fatalf("StartSnapshot after the concurrent ones returned %s, they returned %s", again.ID, got[0])
	}
	s.expectOneForBackup(t, spec.BackupID, got[0])
}

func (s suite) expectOneForBackup(t *testing.T, backupID, id string) {
	t.Helper()
	list, err := s.h.Provider.ListSnapshots(s.ctx(t), providers.SnapshotFilter{BackupID: backupID})
	if err != nil {
		t.Fatalf("ListSnapshots(backup %s): %v", backupID, err)
	}
	if len(list) != 1 || list[0].ID != id {
		t.Fatalf("ListSnapshots(backup %s) = %v, want exactly %s", backupID, ids(list), id)
	}
}

func (s suite) completes(t *testing.T) {
	spec := s.spec(t)
	snap := s.start(t, spec)
	done := WaitFor(t, s.h.Provider, snap.ID, s.h.Timeout, Terminal)
	if done.State != providers.StateCompleted {
		t.Fatalf("snapshot %s ended %s (error %q), want completed", done.ID, done.State, done.Error)
	}
	if done.Progress != 100 {
		t.Errorf("completed snapshot %s progress = %d, want 100", done.ID, done.Progress)
	}
	if done.Error != "" {
		t.Errorf("completed snapshot %s has error %q", done.ID, done.Error)
	}
	checkTags(t, done, spec)
}

func (s suite) getOmitsUnknown(t *testing.T) {
	snap := s.start(t, s.spec(t))
	got, err := s.h.Provider.GetSnapshots(s.ctx(t), []string{s.h.UnknownID, snap.ID})
	if err != nil {
		t.Fatalf("GetSnapshots([unknown, %s]): %v", snap.ID, err)
	}
	if len(got) != 1 || got[0].ID != snap.ID {
		t.Fatalf("GetSnapshots([%s, %s]) = %v, want just %s", s.h.UnknownID, snap.ID, ids(got), snap.ID)
	}
	got, err = s.h.Provider.GetSnapshots(s.ctx(t), []string{s.h.UnknownID})
	if err != nil {
		t.Fatalf("GetSnapshots([unknown]): %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("GetSnapshots([%s]) = %v, want none", s.h.UnknownID, ids(got))
	}
}

func (s suite) listByBackupAndCluster(t *testing.T) {
	specA := s.spec(t)
	specB := s.spec(t)
	// Both in A's cluster, different backups.
	specB.ClusterID = specA.ClusterID
	a := s.start(t, specA)
	b := s.start(t, specB)
	ctx := s.ctx(t)
	list := func(f providers.SnapshotFilter) []providers.Snapshot {
		t.Helper()
		l, err := s.h.Provider.ListSnapshots(ctx, f)
		if err != nil {
			t.Fatalf("ListSnapshots(%+v): %v", f, err)
		}
		return l
	}

	byA := list(providers.SnapshotFilter{BackupID: specA.BackupID})
	if len(byA) != 1 || byA[0].ID != a.ID {
		t.Errorf("by backup %s: %v, want exactly %s", specA.BackupID, ids(byA), a.ID)
	} else {
		checkTags(t, byA[0], specA)
	}
	byCluster := list(providers.SnapshotFilter{ClusterID: specA.ClusterID})
	if !contains(byCluster, a.ID) || !contains(byCluster, b.ID) {
		t.Errorf("by cluster %s: %v, want both %s and %s", specA.ClusterID, ids(byCluster), a.ID, b.ID)
	}
	for _, sn := range byCluster {
		if sn.ClusterID != specA.ClusterID {
			t.Errorf("by cluster %s returned %s of cluster %s", specA.ClusterID, sn.ID, sn.ClusterID)
		}
	}
	both := list(providers.SnapshotFilter{BackupID: specB.BackupID, ClusterID: specA.ClusterID})
	if len(both) != 1 || both[0].ID != b.ID {
		t.Errorf("by backup %s and cluster %s: %v, want exactly %s", specB.BackupID, specA.ClusterID, ids(both), b.ID)
	}
	other := list(providers.SnapshotFilter{BackupID: specA.BackupID, ClusterID: NewID("no-such-cluster")})
	if len(other) != 0 {
		t.Errorf("by backup %s and another cluster: %v, want none", specA.BackupID, ids(other))
	}
}

func (s suite) deleteIsIdempotent(t *testing.T) {
	spec := s.spec(t)
	snap := s.start(t, spec)
	WaitFor(t, s.h.Provider, snap.ID, s.h.Timeout, Terminal)
	ctx := s.ctx(t)
	if err := s.h.Provider.DeleteSnapshot(ctx, snap.ID); err != nil {
		t.Fatalf("DeleteSnapshot(%s): %v", snap.ID, err)
	}
	if err := s.h.Provider.DeleteSnapshot(ctx, snap.ID); err != nil {
		t.Fatalf("second DeleteSnapshot(%s) = %v, want nil", snap.ID, err)
	}
	got, err := s.h.Provider.GetSnapshots(ctx, []string{snap.ID})
	if err != nil {
		t.Fatalf("GetSnapshots after delete: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("GetSnapshots after delete = %+v, want none", got)
	}
	list, err := s.h.Provider.ListSnapshots(ctx, providers.SnapshotFilter{BackupID: spec.BackupID})
	if err != nil {
		t.Fatalf("ListSnapshots after delete: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("ListSnapshots(backup %s) after delete = %v, want none", spec.BackupID, ids(list))
	}
	if err := s.h.Provider.DeleteSnapshot(ctx, s.h.UnknownID); err != nil {
		t.Errorf("DeleteSnapshot(unknown %s) = %v, want nil", s.h.UnknownID, err)
	}
}

func (s suite) missingVolume(t *testing.T) {
	spec := s.h.MissingVolume(t)
	spec.BackupID = NewID("bk")
	snap, err := s.h.Provider.StartSnapshot(s.ctx(t), spec)
	if err == nil {
		t.Fatalf("StartSnapshot of missing volume %s returned %+v, want NotFound", spec.VolumeID, snap)
	}
	pe, ok := providers.AsError(err)
	if !ok {
		t.Fatalf("StartSnapshot of missing volume %s: %T %v, want *providers.Error", spec.VolumeID, err, err)
	}
	if pe.Kind != providers.NotFound {
		t.Errorf("StartSnapshot of missing volume %s: kind %s (%v), want NotFound", spec.VolumeID, pe.Kind, err)
	}
	if pe.Retryable() {
		t.Errorf("NotFound error is retryable: %v", err)
	}
}

// Terminal is a WaitFor condition: completed or failed.
func Terminal(s providers.Snapshot) bool {
	return s.State == providers.StateCompleted || s.State == providers.StateFailed
}

// WaitFor polls GetSnapshots until snapshot id satisfies cond, failing the
// test if timeout passes first or the snapshot disappears.
func WaitFor(t testing.TB, p providers.Provider, id string, timeout time.Duration, cond func(providers.Snapshot) bool) providers.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	var last providers.Snapshot
	for {
		got, err := p.GetSnapshots(ctx, []string{id})
		switch {
		case err != nil && ctx.Err() == nil:
			t.Fatalf("GetSnapshots(%s): %v", id, err)
		case err == nil && len(got) == 0:
			t.Fatalf("snapshot %s disappeared while waiting", id)
		case err == nil:
			last = got[0]
			if cond(last) {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("snapshot %s: condition not met within %v; last seen %+v", id, timeout, last)
		case <-tick.C:
		}
	}
}

// NewID returns prefix plus a random suffix, for IDs unique to a test.
func NewID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func checkTags(t *testing.T, got providers.Snapshot, spec providers.SnapshotSpec) {
	t.Helper()
	if got.BackupID != spec.BackupID || got.ClusterID != spec.ClusterID || got.NodeID != spec.NodeID || got.VolumeID != spec.VolumeID {
		t.Errorf("snapshot %s tags (backup %q, cluster %q, node %q, volume %q), want (%q, %q, %q, %q)",
			got.ID, got.BackupID, got.ClusterID, got.NodeID, got.VolumeID,
			spec.BackupID, spec.ClusterID, spec.NodeID, spec.VolumeID)
	}
}

func contains(l []providers.Snapshot, id string) bool {
	for _, s := range l {
		if s.ID == id {
			return true
		}
	}
	return false
}

func ids(l []providers.Snapshot) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = s.ID
	}
	return out
}
