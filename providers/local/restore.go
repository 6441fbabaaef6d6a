package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/internal/backoff"
	"github.com/stratabackup/strata/providers/internal/keyedmutex"
)

// On-disk names for restored volumes, inside Root/volumes/. Volume IDs may
// not start with a dot, so none of these can collide with a volume.
const (
	// restoredDir holds <volumeID>.json, the metadata of each volume that
	// CreateVolume made. It lives beside the volume, not inside it, so that
	// the volume holds exactly the snapshot's files.
	restoredDir = ".restored"
	// restorePrefix + volumeID + "-*" is a restore in progress.
	restorePrefix = ".restore-"
	// volumeTrashPrefix + volumeID + "-*" is a volume being deleted.
	volumeTrashPrefix = ".trash-"
)

// volumeMeta is Root/volumes/.restored/<volumeID>.json. It is written after
// the volume directory was renamed into place, so a retry of CreateVolume
// finds the volume done and does not copy again.
type volumeMeta struct {
	VolumeID        string `json:"volumeId"`
	SnapshotID      string `json:"snapshotId"`
	ClusterID       string `json:"clusterId"`
	NodeID          string `json:"nodeId"`
	SourceClusterID string `json:"sourceClusterId"`
	Zone            string `json:"zone,omitempty"`
	SizeGB          int    `json:"sizeGb"`
	// Path is the absolute volume directory (the volume's Ref).
	Path string `json:"path"`
	// StartedAt is when the creation that made the volume began; CreatedAt
	// is when it became available (at least RestoreDelay later).
	StartedAt time.Time `json:"startedAt"`
	CreatedAt time.Time `json:"createdAt"`
}

func (m volumeMeta) volume() providers.Volume {
	return providers.Volume{Ref: m.Path, VolumeID: m.VolumeID, State: providers.VolumeAvailable, SizeGB: m.SizeGB, Zone: m.Zone}
}

// volumeLocks serialises CreateVolume and DeleteVolume per volume directory
// within this process, so that concurrent retries do not copy twice. Across
// processes the atomic rename of the finished copy decides. It is
// package-level because two Providers in one process may share a Root.
var volumeLocks keyedmutex.Map

// VolumeMetaPath is where CreateVolume records the metadata of the volume it
// made (not for volumes made by ProvisionVolume).
func (p *Provider) VolumeMetaPath(volumeID string) string {
	return filepath.Join(p.volumesDir, restoredDir, volumeID+".json")
}

func (p *Provider) readVolumeMeta(volumeID string) (volumeMeta, error) {
	var m volumeMeta
	err := readJSON(p.VolumeMetaPath(volumeID), &m)
	return m, err
}

func ctxError(err error, format string, args ...any) error {
	return &providers.Error{Provider: Name, Kind: providers.Transient, Message: fmt.Sprintf(format, args...) + ": " + err.Error(), Err: err}
}

// CreateVolume implements providers.Provider: it copies the completed
// snapshot's data into Root/volumes/<VolumeID>/, verifying every file's size
// and SHA-256 against the snapshot's manifest, and returns once the volume
// is available (Ref is the absolute directory). A RestoreDelay fault of the
// source cluster makes it take at least that long.
func (p *Provider) CreateVolume(ctx context.Context, spec providers.VolumeSpec) (providers.Volume, error) {
	if err := ctx.Err(); err != nil {
		return providers.Volume{}, ctxError(err, "create volume %s", spec.VolumeID)
	}
	if err := checkPathElem(spec.VolumeID); err != nil {
		return providers.Volume{}, &providers.Error{Provider: Name, Kind: providers.Invalid, Message: fmt.Sprintf("create volume %q: volume ID %v", spec.VolumeID, err)}
	}
	if spec.SizeGB < 0 {
		return providers.Volume{}, &providers.Error{Provider: Name, Kind: providers.Invalid, Message: fmt.Sprintf("create volume %s: negative size %d GB", spec.VolumeID, spec.SizeGB)}
	}
	path := filepath.Join(p.volumesDir, spec.VolumeID)
	unlock, err := volumeLocks.Lock(ctx, path)
	if err != nil {
		return providers.Volume{}, ctxError(err, "create volume %s", spec.VolumeID)
	}
	defer unlock()

	// The common retry case: created before.
	if v, ok, err := p.existingVolume(spec, path); err != nil || ok {
		return v, err
	}

	snapDir, snap, err := p.restorableSnapshot(spec)
	if err != nil {
		return providers.Volume{}, err
	}
	size := spec.SizeGB
	if size == 0 {
		size = snap.SizeGB
	}
	if snap.SizeGB > 0 && size < snap.SizeGB {
		return providers.Volume{}, &providers.Error{Provider: Name, Kind: providers.Invalid, Code: "InvalidVolumeSize",
			Message: fmt.Sprintf("create volume %s: size %d GB is below snapshot %s's %d GB; the minimum is %d GB", spec.VolumeID, size, snap.ID, snap.SizeGB, snap.SizeGB)}
	}
	man, err := readManifest(snapDir)
	if err != nil {
		return providers.Volume{}, &providers.Error{Provider: Name, Kind: providers.InvalidState, Code: "SnapshotCorrupt",
			Message: fmt.Sprintf("create volume %s: snapshot %s: read manifest: %v", spec.VolumeID, snap.ID, err), Err: err}
	}

	faults, err := p.faultsOf(ctx, spec.SourceClusterID, "volume "+spec.VolumeID)
	if err != nil {
		return providers.Volume{}, err
	}

	// A directory without metadata is a volume whose creator died between
	// renaming it into place and recording it, a concurrent creator in
	// another process that is about to record it, or some other volume of
	// that name. Only one that matches the snapshot is adopted.
	if _, err := os.Stat(path); err == nil {
		return p.adopt(spec, path, snap, man, size, time.Now().UTC())
	}

	started := time.Now().UTC()
	log := p.log.With(zap.String("volume", spec.VolumeID), zap.String("snapshot", snap.ID), zap.String("sourceCluster", spec.SourceClusterID))
	log.Info("creating volume from snapshot", zap.Duration("faultDelay", faults.RestoreDelay.D()))

	p.clearRestoreLeftovers(spec.VolumeID)
	tmp, err := os.MkdirTemp(p.volumesDir, restorePrefix+spec.VolumeID+"-")
	if err != nil {
		return providers.Volume{}, fsError(err, "create volume %s", spec.VolumeID)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return providers.Volume{}, fsError(err, "create volume %s", spec.VolumeID)
	}
	if err := restoreCopy(ctx, filepath.Join(snapDir, dataDir), tmp, man); err != nil {
		return providers.Volume{}, p.restoreError(ctx, spec, snap.ID, err)
	}
	if err := backoff.SleepUntil(ctx, started.Add(faults.RestoreDelay.D())); err != nil {
		return providers.Volume{}, ctxError(err, "create volume %s from snapshot %s", spec.VolumeID, snap.ID)
	}
	if err := os.Rename(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
			// Another process finished first.
			return p.adopt(spec, path, snap, man, size, started)
		}
		if errors.Is(err, fs.ErrNotExist) {
			// A concurrent attempt elsewhere cleared our copy as a leftover.
			return providers.Volume{}, &providers.Error{Provider: Name, Kind: providers.Transient,
				Message: fmt.Sprintf("create volume %s: copy removed by a concurrent attempt; retry", spec.VolumeID), Err: err}
		}
		return providers.Volume{}, fsError(err, "create volume %s: move copy into place", spec.VolumeID)
	}
	v, err := p.recordVolume(spec, path, snap.ID, size, started)
	if err != nil {
		return providers.Volume{}, err
	}
	log.Info("volume created from snapshot", zap.String("path", path), zap.Duration("took", time.Since(started)))
	return v, nil
}

// existingVolume returns the volume an earlier CreateVolume of spec made.
func (p *Provider) existingVolume(spec providers.VolumeSpec, path string) (providers.Volume, bool, error) {
	m, err := p.readVolumeMeta(spec.VolumeID)
	if errors.Is(err, fs.ErrNotExist) {
		return providers.Volume{}, false, nil
	}
	if err != nil {
		return providers.Volume{}, false, fsError(err, "read volume %s metadata", spec.VolumeID)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		// Metadata outliving its volume (a deletion interrupted): stale.
		os.Remove(p.VolumeMetaPath(spec.VolumeID))
		return providers.Volume{}, false, nil
	}
	if m.SnapshotID != spec.SnapshotID {
		return providers.Volume{}, false, &providers.Error{Provider: Name, Kind: providers.Invalid, Code: "IdempotentParameterMismatch",
			Message: fmt.Sprintf("create volume %s from snapshot %s: the volume already exists, created from snapshot %s", spec.VolumeID, spec.SnapshotID, m.SnapshotID)}
	}
	m.Path = path
	return m.volume(), true, nil
}

// restorableSnapshot returns the directory and metadata of spec's snapshot,
// which must exist and be completed.
func (p *Provider) restorableSnapshot(spec providers.VolumeSpec) (string, metadata, error) {
	if !snapshotIDPattern.MatchString(spec.SnapshotID) {
		return "", metadata{}, &providers.Error{Provider: Name, Kind: providers.NotFound, Code: "SnapshotNotFound",
			Message: fmt.Sprintf("create volume %s: snapshot %q not found", spec.VolumeID, spec.SnapshotID)}
	}
	dir := filepath.Join(p.snapshotsDir, spec.SnapshotID)
	m, err := readMeta(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", metadata{}, &providers.Error{Provider: Name, Kind: providers.NotFound, Code: "SnapshotNotFound",
			Message: fmt.Sprintf("create volume %s: snapshot %s not found", spec.VolumeID, spec.SnapshotID), Err: err}
	}
	if err != nil {
		return "", metadata{}, fsError(err, "create volume %s: read snapshot %s", spec.VolumeID, spec.SnapshotID)
	}
	if m.State != providers.StateCompleted {
		return "", metadata{}, &providers.Error{Provider: Name, Kind: providers.InvalidState, Code: "IncorrectState",
			Message: fmt.Sprintf("create volume %s: snapshot %s is %s, not completed", spec.VolumeID, spec.SnapshotID, m.State)}
	}
	return dir, m, nil
}

func readManifest(snapDir string) (manifest, error) {
	var man manifest
	err := readJSON(filepath.Join(snapDir, manifestFile), &man)
	return man, err
}

// errCorrupt marks a restore failure caused by the snapshot's data not
// matching its manifest.
type errCorrupt struct{ msg string }

func (e *errCorrupt) Error() string { return e.msg }

func (p *Provider) restoreError(ctx context.Context, spec providers.VolumeSpec, snapID string, err error) error {
	var ce *errCorrupt
	switch {
	case errors.As(err, &ce):
		p.log.Warn("restore verification failed", zap.String("volume", spec.VolumeID), zap.String("snapshot", snapID), zap.String("error", ce.msg))
		return &providers.Error{Provider: Name, Kind: providers.InvalidState, Code: "SnapshotCorrupt",
			Message: fmt.Sprintf("create volume %s: snapshot %s is corrupt: %s", spec.VolumeID, snapID, ce.msg), Err: err}
	case ctx.Err() != nil:
		return ctxError(ctx.Err(), "create volume %s from snapshot %s", spec.VolumeID, snapID)
	}
	return fsError(err, "create volume %s from snapshot %s", spec.VolumeID, snapID)
}

// restoreCopy copies the snapshot's data directory src into dst, checking
// every regular file's size and SHA-256 against man as it goes, and that
// no file of man is missing.
func restoreCopy(ctx context.Context, src, dst string, man manifest) error {
	want := make(map[string]manifestFileEntry, len(man.Files))
	for _, f := range man.Files {
		want[f.Path] = f
	}
	seen := make(map[string]bool, len(man.Files))
	// Directories are made during the walk, files copied after it by a
	// few workers: hashing is most of a copy's CPU, and one core hashes
	// slower than a disk reads.
	type fileCopy struct {
		rel, path, target string
		perm              fs.FileMode
		entry             manifestFileEntry
	}
	var files []fileCopy
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == src && errors.Is(err, fs.ErrNotExist) {
				return &errCorrupt{msg: fmt.Sprintf("data directory %s is missing", src)}
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if path == src {
			return nil
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case !d.Type().IsRegular():
			return &errCorrupt{msg: fmt.Sprintf("file %s has unsupported type %s", rel, info.Mode().Type())}
		}
		entry, ok := want[rel]
		if !ok {
			return &errCorrupt{msg: fmt.Sprintf("file %s is not in the manifest", rel)}
		}
		seen[rel] = true
		files = append(files, fileCopy{rel: rel, path: path, target: target, perm: info.Mode().Perm(), entry: entry})
		return nil
	})
	if err != nil {
		return err
	}
	workers := min(max(runtime.NumCPU(), 1), 4, max(len(files), 1))
	next := make(chan fileCopy)
	errs := make(chan error, workers)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		go func() {
			buf := make([]byte, 256<<10)
			for f := range next {
				size, sum, err := copyVerify(cctx, f.path, f.target, f.perm, buf)
				switch {
				case err != nil:
				case size != f.entry.Size:
					err = &errCorrupt{msg: fmt.Sprintf("file %s has %d bytes, the manifest says %d", f.rel, size, f.entry.Size)}
				case sum != f.entry.SHA256:
					err = &errCorrupt{msg: fmt.Sprintf("file %s has SHA-256 %s, the manifest says %s", f.rel, sum, f.entry.SHA256)}
				}
				if err != nil {
					errs <- err
					cancel()
					for range next {
					}
					return
				}
			}
			errs <- nil
		}()
	}
feed:
	for _, f := range files {
		select {
		case next <- f:
		case <-cctx.Done():
			break feed
		}
	}
	close(next)
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, f := range man.Files {
		if !seen[f.Path] {
			return &errCorrupt{msg: fmt.Sprintf("file %s of the manifest is missing", f.Path)}
		}
	}
	return nil
}

// copyVerify copies src to the new file dst and returns the size and
// SHA-256 of what it wrote.
func copyVerify(ctx context.Context, src, dst string, perm fs.FileMode, buf []byte) (int64, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm|0o600)
	if err != nil {
		return 0, "", err
	}
	defer out.Close()
	h := sha256.New()
	w := io.MultiWriter(out, h)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return 0, "", err
		}
		c, rerr := in.Read(buf)
		if c > 0 {
			if _, err := w.Write(buf[:c]); err != nil {
				return 0, "", err
			}
			n += int64(c)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, "", rerr
		}
	}
	if err := out.Sync(); err != nil {
		return 0, "", err
	}
	if err := out.Close(); err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// adopt records an existing volume directory without metadata as spec's
// volume if its content is exactly the snapshot's.
func (p *Provider) adopt(spec providers.VolumeSpec, path string, snap metadata, man manifest, size int, started time.Time) (providers.Volume, error) {
	if err := verifyDir(path, man); err != nil {
		return providers.Volume{}, &providers.Error{Provider: Name, Kind: providers.InvalidState, Code: "VolumeExists",
			Message: fmt.Sprintf("create volume %s from snapshot %s: %s exists and is not a copy of the snapshot: %v", spec.VolumeID, snap.ID, path, err)}
	}
	p.log.Info("adopting volume directory left by an earlier creation", zap.String("volume", spec.VolumeID), zap.String("snapshot", snap.ID))
	return p.recordVolume(spec, path, snap.ID, size, started)
}

// verifyDir checks that dir holds exactly man's files.
func verifyDir(dir string, man manifest) error {
	got, err := DirChecksums(dir)
	if err != nil {
		return err
	}
	if len(got) != len(man.Files) {
		return fmt.Errorf("%d files, the snapshot has %d", len(got), len(man.Files))
	}
	for _, f := range man.Files {
		if got[f.Path] != f.SHA256 {
			return fmt.Errorf("file %s differs or is missing", f.Path)
		}
	}
	return nil
}

func (p *Provider) recordVolume(spec providers.VolumeSpec, path, snapID string, size int, started time.Time) (providers.Volume, error) {
	m := volumeMeta{
		VolumeID:        spec.VolumeID,
		SnapshotID:      snapID,
		ClusterID:       spec.ClusterID,
		NodeID:          spec.NodeID,
		SourceClusterID: spec.SourceClusterID,
		Zone:            spec.Zone,
		SizeGB:          size,
		Path:            path,
		StartedAt:       started,
		CreatedAt:       time.Now().UTC(),
	}
	dir := filepath.Join(p.volumesDir, restoredDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return providers.Volume{}, fsError(err, "create volume %s: record metadata", spec.VolumeID)
	}
	if err := writeJSONAtomic(dir, spec.VolumeID+".json", m); err != nil {
		return providers.Volume{}, fsError(err, "create volume %s: record metadata", spec.VolumeID)
	}
	return m.volume(), nil
}

// clearRestoreLeftovers removes the copies of earlier attempts at the
// volume that died before renaming them into place. Only called under the
// volume's lock; an attempt in another process at the same moment loses
// its copy and fails with a retryable error.
func (p *Provider) clearRestoreLeftovers(volumeID string) {
	matches, _ := filepath.Glob(filepath.Join(p.volumesDir, restorePrefix+volumeID+"-*"))
	for _, m := range matches {
		// The suffix MkdirTemp adds is digits only; anything else belongs
		// to a volume whose ID extends this one.
		if strings.Trim(strings.TrimPrefix(m, filepath.Join(p.volumesDir, restorePrefix+volumeID+"-")), "0123456789") == "" {
			os.RemoveAll(m)
		}
	}
}

// volumePath resolves a volume reference (absolute, or relative to Root) to
// a volume directory directly inside Root/volumes and its volume ID.
func (p *Provider) volumePath(ref string) (string, string, bool) {
	if ref == "" {
		return "", "", false
	}
	path := ref
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.root, path)
	}
	path = filepath.Clean(path)
	if filepath.Dir(path) != p.volumesDir || checkPathElem(filepath.Base(path)) != nil {
		return "", "", false
	}
	return path, filepath.Base(path), true
}

// GetVolumes implements providers.Provider. A ref is a volume directory in
// Root/volumes, made by CreateVolume or ProvisionVolume (whose size is not
// known, so SizeGB is 0).
func (p *Provider) GetVolumes(ctx context.Context, refs []string) ([]providers.Volume, error) {
	out := make([]providers.Volume, 0, len(refs))
	seen := make(map[string]bool, len(refs))
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return nil, ctxError(err, "get volumes")
		}
		path, id, ok := p.volumePath(ref)
		if !ok || seen[path] {
			continue
		}
		seen[path] = true
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fsError(err, "get volume %s", ref)
		}
		if !fi.IsDir() {
			continue
		}
		v := providers.Volume{Ref: path, VolumeID: id, State: providers.VolumeAvailable}
		m, err := p.readVolumeMeta(id)
		switch {
		case err == nil:
			v.SizeGB, v.Zone = m.SizeGB, m.Zone
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fsError(err, "get volume %s", ref)
		}
		out = append(out, v)
	}
	return out, nil
}

// DeleteVolume implements providers.Provider. It refuses (Invalid) a ref
// that is not a volume directory directly inside Root/volumes.
func (p *Provider) DeleteVolume(ctx context.Context, ref string) error {
	path, id, ok := p.volumePath(ref)
	if !ok {
		return &providers.Error{Provider: Name, Kind: providers.Invalid, Code: "InvalidVolumeRef",
			Message: fmt.Sprintf("delete volume %q: not a volume directory inside %s", ref, p.volumesDir)}
	}
	unlock, err := volumeLocks.Lock(ctx, path)
	if err != nil {
		return ctxError(err, "delete volume %s", id)
	}
	defer unlock()
	// Renaming first makes the volume disappear at once for every reader.
	trash, err := os.MkdirTemp(p.volumesDir, volumeTrashPrefix+id+"-")
	if err != nil {
		return fsError(err, "delete volume %s", id)
	}
	defer os.RemoveAll(trash)
	if err := os.Rename(path, filepath.Join(trash, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fsError(err, "delete volume %s", id)
	} else if err == nil {
		p.log.Info("volume deleted", zap.String("volume", id), zap.String("path", path))
	}
	if err := os.Remove(p.VolumeMetaPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fsError(err, "delete volume %s metadata", id)
	}
	return nil
}
