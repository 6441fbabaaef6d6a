package providertest

import (
	"context"
	"testing"
	"time"

	"github.com/stratabackup/strata/providers"
)

// restore runs the restore cases (Harness.Restore).
func (s suite) restore(t *testing.T) {
	t.Run("CreateVolumeFromSnapshot", s.createVolume)
	t.Run("CreateVolumeTwiceReturnsSameVolume", s.createVolumeTwice)
	t.Run("UnknownSnapshotIsNotFound", s.createFromUnknownSnapshot)
	if s.h.SizesKnown {
		t.Run("TooSmallIsInvalid", s.createTooSmall)
	}
	t.Run("GetVolumesOmitsUnknown", s.getVolumesOmitsUnknown)
	t.Run("DeleteVolumeIsIdempotent", s.deleteVolumeIsIdempotent)
}

// completedSnapshot snapshots a fresh volume and waits for completion.
func (s suite) completedSnapshot(t *testing.T) (providers.SnapshotSpec, providers.Snapshot) {
	t.Helper()
	spec := s.spec(t)
	snap := s.start(t, spec)
	done := WaitFor(t, s.h.Provider, snap.ID, s.h.Timeout, Terminal)
	if done.State != providers.StateCompleted {
		t.Fatalf("snapshot %s ended %s (error %q), want completed", done.ID, done.State, done.Error)
	}
	return spec, done
}

// VolumeSpecFor returns a spec of a new volume restored from snap, a
// snapshot of src, for a new cluster.
func VolumeSpecFor(src providers.SnapshotSpec, snap providers.Snapshot) providers.VolumeSpec {
	return providers.VolumeSpec{
		VolumeID:        NewID("rvol"),
		ClusterID:       NewID("cl-restored"),
		NodeID:          src.NodeID,
		SnapshotID:      snap.ID,
		SizeGB:          max(snap.SizeGB, src.SizeGB),
		Zone:            src.Zone,
		SourceClusterID: src.ClusterID,
	}
}

// createVol creates spec's volume, deleting it when the test ends.
func (s suite) createVol(t *testing.T, spec providers.VolumeSpec) providers.Volume {
	t.Helper()
	v, err := s.h.Provider.CreateVolume(s.ctx(t), spec)
	if err != nil {
		t.Fatalf("CreateVolume(%+v): %v", spec, err)
	}
	if v.Ref != "" {
		ref := v.Ref
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
			defer cancel()
			if err := s.h.Provider.DeleteVolume(ctx, ref); err != nil {
				t.Errorf("cleanup: DeleteVolume(%s): %v", ref, err)
			}
		})
	}
	return v
}

func (s suite) createVolume(t *testing.T) {
	src, snap := s.completedSnapshot(t)
	spec := VolumeSpecFor(src, snap)
	v := s.createVol(t, spec)
	if v.Ref == "" || v.VolumeID != spec.VolumeID {
		t.Fatalf("CreateVolume returned %+v, want a ref and volume ID %s", v, spec.VolumeID)
	}
	if v.State != providers.VolumeAvailable && v.State != providers.VolumeCreating {
		t.Fatalf("CreateVolume returned state %q, want creating or available", v.State)
	}
	v = WaitForVolume(t, s.h.Provider, v.Ref, s.h.Timeout)
	if v.VolumeID != spec.VolumeID {
		t.Errorf("GetVolumes reports volume ID %q, want %s", v.VolumeID, spec.VolumeID)
	}
	if s.h.SizesKnown && v.SizeGB != spec.SizeGB {
		t.Errorf("GetVolumes reports %d GB, want %d", v.SizeGB, spec.SizeGB)
	}
	if s.h.CheckRestored != nil {
		s.h.CheckRestored(t, src, v)
	}
}

func (s suite) createVolumeTwice(t *testing.T) {
	src, snap := s.completedSnapshot(t)
	spec := VolumeSpecFor(src, snap)
	first := s.createVol(t, spec)
	WaitForVolume(t, s.h.Provider, first.Ref, s.h.Timeout)
	second := s.createVol(t, spec)
	if second.Ref != first.Ref || second.VolumeID != spec.VolumeID {
		t.Fatalf("second CreateVolume of volume %s returned %+v, first %+v: want the same volume", spec.VolumeID, second, first)
	}
	if second.State != providers.VolumeAvailable {
		t.Errorf("second CreateVolume of an available volume reports %q", second.State)
	}
	got, err := s.h.Provider.GetVolumes(s.ctx(t), []string{first.Ref, second.Ref})
	if err != nil {
		t.Fatalf("GetVolumes: %v", err)
	}
	if len(got) != 1 || got[0].Ref != first.Ref {
		t.Fatalf("GetVolumes([%s, %s]) = %+v, want the one volume", first.Ref, second.Ref, got)
	}
}

func (s suite) createFromUnknownSnapshot(t *testing.T) {
	spec := providers.VolumeSpec{
		VolumeID:        NewID("rvol"),
		ClusterID:       NewID("cl-restored"),
		NodeID:          "node-1",
		SnapshotID:      s.h.UnknownID,
		SizeGB:          1,
		SourceClusterID: NewID("cl-source"),
	}
	v, err := s.h.Provider.CreateVolume(s.ctx(t), spec)
	if err == nil {
		s.h.Provider.DeleteVolume(s.ctx(t), v.Ref)
		t.Fatalf("CreateVolume from unknown snapshot %s returned %+v, want NotFound", s.h.UnknownID, v)
	}
	expectKind(t, err, providers.NotFound, "CreateVolume from unknown snapshot")
}

func (s suite) createTooSmall(t *testing.T) {
	src, snap := s.completedSnapshot(t)
	if snap.SizeGB < 2 {
		t.Skipf("snapshot %s is %d GB: too small to restore smaller", snap.ID, snap.SizeGB)
	}
	spec := VolumeSpecFor(src, snap)
	spec.SizeGB = snap.SizeGB - 1
	v, err := s.h.Provider.CreateVolume(s.ctx(t), spec)
	if err == nil {
		s.h.Provider.DeleteVolume(s.ctx(t), v.Ref)
		t.Fatalf("CreateVolume of %d GB from a %d GB snapshot returned %+v, want Invalid", spec.SizeGB, snap.SizeGB, v)
	}
	expectKind(t, err, providers.Invalid, "CreateVolume smaller than its snapshot")
}

func (s suite) getVolumesOmitsUnknown(t *testing.T) {
	src, snap := s.completedSnapshot(t)
	v := s.createVol(t, VolumeSpecFor(src, snap))
	WaitForVolume(t, s.h.Provider, v.Ref, s.h.Timeout)
	got, err := s.h.Provider.GetVolumes(s.ctx(t), []string{s.h.UnknownVolumeRef, v.Ref})
	if err != nil {
		t.Fatalf("GetVolumes([unknown, %s]): %v", v.Ref, err)
	}
	if len(got) != 1 || got[0].Ref != v.Ref || got[0].State != providers.VolumeAvailable {
		t.Fatalf("GetVolumes([%s, %s]) = %+v, want just %s available", s.h.UnknownVolumeRef, v.Ref, got, v.Ref)
	}
	got, err = s.h.Provider.GetVolumes(s.ctx(t), []string{s.h.UnknownVolumeRef})
	if err != nil {
		t.Fatalf("GetVolumes([unknown]): %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("GetVolumes([%s]) = %+v, want none", s.h.UnknownVolumeRef, got)
	}
}

func (s suite) deleteVolumeIsIdempotent(t *testing.T) {
	src, snap := s.completedSnapshot(t)
	v := s.createVol(t, VolumeSpecFor(src, snap))
	WaitForVolume(t, s.h.Provider, v.Ref, s.h.Timeout)
	ctx := s.ctx(t)
	if err := s.h.Provider.DeleteVolume(ctx, v.Ref); err != nil {
		t.Fatalf("DeleteVolume(%s): %v", v.Ref, err)
	}
	if err := s.h.Provider.DeleteVolume(ctx, v.Ref); err != nil {
		t.Fatalf("second DeleteVolume(%s) = %v, want nil", v.Ref, err)
	}
	got, err := s.h.Provider.GetVolumes(ctx, []string{v.Ref})
	if err != nil {
		t.Fatalf("GetVolumes after delete: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("GetVolumes after delete = %+v, want none", got)
	}
	if err := s.h.Provider.DeleteVolume(ctx, s.h.UnknownVolumeRef); err != nil {
		t.Errorf("DeleteVolume(unknown %s) = %v, want nil", s.h.UnknownVolumeRef, err)
	}
}

func expectKind(t *testing.T, err error, kind providers.ErrorKind, what string) {
	t.Helper()
	pe, ok := providers.AsError(err)
	if !ok {
		t.Fatalf("%s: %T %v, want *providers.Error", what, err, err)
	}
	if pe.Kind != kind {
		t.Errorf("%s: kind %s (%v), want %s", what, pe.Kind, err, kind)
	}
}

// WaitForVolume polls GetVolumes until the volume ref is available,
// failing the test if it fails, disappears or timeout passes first.
func WaitForVolume(t testing.TB, p providers.Provider, ref string, timeout time.Duration) providers.Volume {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	var last providers.Volume
	for {
		got, err := p.GetVolumes(ctx, []string{ref})
		switch {
		case err != nil && ctx.Err() == nil:
			t.Fatalf("GetVolumes(%s): %v", ref, err)
		case err == nil && len(got) == 0:
			t.Fatalf("volume %s is unknown to GetVolumes", ref)
		case err == nil:
			last = got[0]
			switch last.State {
			case providers.VolumeAvailable:
				return last
			case providers.VolumeFailed:
				t.Fatalf("volume %s failed: %q", ref, last.Error)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("volume %s not available within %v; last seen %+v", ref, timeout, last)
		case <-tick.C:
		}
	}
}
