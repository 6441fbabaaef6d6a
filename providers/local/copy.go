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
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/internal/backoff"
)

// job is one copy attempt of one snapshot, running in this process.
type job struct {
	p      *Provider
	dir    string
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// meta is snapshot.json as this attempt started it; it never changes.
	meta     metadata
	progress atomic.Int64
	// gone is set when the snapshot was deleted or another process took the
	// copy over: the attempt must stop without writing anything more.
	gone atomic.Bool
}

// errHung stops the copy where a SnapshotHang fault wants it to stall.
var errHung = errors.New("hung by fault")

func (j *job) release() {
	running.mu.Lock()
	if running.jobs[j.dir] == j {
		delete(running.jobs, j.dir)
	}
	running.mu.Unlock()
	j.cancel()
	close(j.done)
}

// superseded reports whether another process has claimed the next attempt,
// which it does only after deciding this one was dead.
func (j *job) superseded() bool {
	_, err := os.Stat(filepath.Join(j.dir, claimPrefix+strconv.Itoa(j.meta.Attempt+1)))
	return err == nil
}

func (j *job) deleted() bool {
	_, err := os.Stat(filepath.Join(j.dir, metaFile))
	return errors.Is(err, fs.ErrNotExist)
}

func (j *job) run() {
	defer j.release()
	m := j.meta
	log := j.p.log.With(zap.String("snapshot", m.ID), zap.String("volume", m.VolumeID), zap.Int("attempt", m.Attempt))

	hbCtx, stopHB := context.WithCancel(j.ctx)
	hbDone := make(chan struct{})
	latest := m
	go func() {
		defer close(hbDone)
		latest = j.heartbeat(hbCtx, log)
	}()
	started := time.Now()
	werr := j.work(j.ctx)
	stopHB()
	<-hbDone

	switch {
	case j.gone.Load() || j.deleted():
		log.Info("snapshot copy abandoned: snapshot deleted or taken over")
		os.RemoveAll(filepath.Join(j.dir, tmpPrefix+strconv.Itoa(m.Attempt)))
		return
	case j.ctx.Err() != nil:
		log.Info("snapshot copy stopped; left pending for another instance to resume", zap.Int64("progress", j.progress.Load()))
		return
	case j.superseded():
		log.Warn("snapshot copy taken over by another instance; discarding this attempt")
		return
	}

	m = latest
	now := time.Now().UTC()
	m.Heartbeat = now
	if werr != nil {
		m.State = providers.StateFailed
		m.Error = werr.Error()
		m.Progress = int(j.progress.Load())
	} else {
		m.State = providers.StateCompleted
		m.Progress = 100
		m.CompletedAt = &now
	}
	if err := writeMeta(j.dir, m); err != nil {
		// Its heartbeat has stopped, so someone will redo it once stale.
		log.Error("record snapshot outcome", zap.String("state", string(m.State)), zap.Error(err))
		return
	}
	if werr != nil {
		log.Warn("snapshot failed", zap.String("error", m.Error), zap.Duration("took", time.Since(started)))
	} else {
		log.Info("snapshot completed", zap.Duration("took", time.Since(started)))
	}
}

// heartbeat persists progress (at most every ~200ms) and proves the copier
// alive (at least every StaleAfter/4) until ctx ends. It returns the
// metadata it last wrote.
func (j *job) heartbeat(ctx context.Context, log *zap.Logger) metadata {
	cur := j.meta
	every := j.p.staleAfter / 4
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	tick := min(200*time.Millisecond, every)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return cur
		case <-t.C:
		}
		pr := int(j.progress.Load())
		if pr == cur.Progress && time.Since(last) < every {
			continue
		}
		// Only a copier whose owner was wrongly presumed dead (paused longer
		// than StaleAfter) can find itself superseded or the snapshot
		// finished by another attempt; it must stop before it clobbers that.
		if disk, err := readMeta(j.dir); j.superseded() || (err == nil && (disk.Attempt > cur.Attempt || disk.State != providers.StatePending)) {
			log.Warn("snapshot copy taken over by another instance; stopping")
			j.gone.Store(true)
			j.cancel()
			return cur
		}
		m := cur
		m.Progress = pr
		m.Heartbeat = time.Now().UTC()
		if err := writePendingMeta(j.dir, m); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				j.gone.Store(true)
				j.cancel()
				return cur
			}
			log.Warn("snapshot heartbeat", zap.Error(err))
			continue
		}
		cur = m
		last = time.Now()
	}
}

// work performs the attempt and returns nil on success, the snapshot's
// failure otherwise (or ctx's error when stopped).
func (j *job) work(ctx context.Context) error {
	m := j.meta
	pc := &pacer{job: j, created: m.CreatedAt, delay: m.Faults.SnapshotDelay.D()}
	// The deadline counts from creation, not from this attempt, so that a
	// resumed copy keeps the original schedule.
	deadline := m.CreatedAt.Add(pc.delay)

	if m.Faults.SnapshotFail {
		if err := pc.waitUntil(ctx, deadline); err != nil {
			return err
		}
		return fmt.Errorf("injected snapshot failure (cluster %s fault snapshotFail)", m.ClusterID)
	}

	// Earlier attempts' leftovers; their copiers are dead or superseded.
	tmpName := tmpPrefix + strconv.Itoa(m.Attempt)
	if entries, err := os.ReadDir(j.dir); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tmpPrefix) && e.Name() != tmpName {
				os.RemoveAll(filepath.Join(j.dir, e.Name()))
			}
		}
	}
	tmp := filepath.Join(j.dir, tmpName)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("snapshot %s: clear %s: %w", m.ID, tmp, err)
	}
	// Mkdir, not MkdirAll: a deleted snapshot directory must not come back.
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("snapshot %s: create %s: %w", m.ID, tmp, err)
	}
	staged := filepath.Join(tmp, dataDir)
	if err := os.Mkdir(staged, 0o755); err != nil {
		return fmt.Errorf("snapshot %s: create %s: %w", m.ID, staged, err)
	}

	entries, total, err := scanVolume(m.Source)
	if err != nil {
		return fmt.Errorf("snapshot %s of volume %s: %w", m.ID, m.VolumeID, err)
	}
	pc.total = total
	pc.limit = -1
	if m.Faults.SnapshotHang {
		pc.limit = total / 2
	}

	man := manifest{SnapshotID: m.ID, VolumeID: m.VolumeID, Source: m.Source, TotalBytes: total}
	for _, e := range entries {
		if pc.limit == 0 {
			break
		}
		dst := filepath.Join(staged, filepath.FromSlash(e.rel))
		if e.dir {
			if err := os.MkdirAll(dst, e.mode.Perm()|0o700); err != nil {
				return fmt.Errorf("snapshot %s: create %s: %w", m.ID, dst, err)
			}
			continue
		}
		src := filepath.Join(m.Source, filepath.FromSlash(e.rel))
		sum, err := copyFile(ctx, src, dst, e.mode.Perm(), pc)
		if errors.Is(err, errHung) {
			break
		}
		if errors.Is(err, fs.ErrNotExist) && vanished(src) {
			// Removed while the volume was scanned (a live database's
			// WAL status file, a temporary file): a snapshot of the disk
			// a moment later would not have it either.
			pc.total -= e.size
			man.TotalBytes -= e.size
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("snapshot %s of volume %s: copy %s: %w", m.ID, m.VolumeID, e.rel, err)
		}
		man.Files = append(man.Files, manifestFileEntry{Path: e.rel, Size: e.size, SHA256: sum})
	}
	if m.Faults.SnapshotHang {
		j.progress.Store(50)
		<-ctx.Done()
		return ctx.Err()
	}

	if err := writeJSON(tmp, manifestFile, man); err != nil {
		return fmt.Errorf("snapshot %s: write manifest: %w", m.ID, err)
	}
	if j.superseded() {
		j.gone.Store(true)
		return errors.New("superseded")
	}
	// data/ can only be here if an earlier attempt died between this rename
	// and recording completion; this attempt's copy replaces it.
	final := filepath.Join(j.dir, dataDir)
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("snapshot %s: clear %s: %w", m.ID, final, err)
	}
	if err := os.Rename(staged, final); err != nil {
		return fmt.Errorf("snapshot %s: move copy into place: %w", m.ID, err)
	}
	if err := os.Rename(filepath.Join(tmp, manifestFile), filepath.Join(j.dir, manifestFile)); err != nil {
		return fmt.Errorf("snapshot %s: move manifest into place: %w", m.ID, err)
	}
	os.RemoveAll(tmp)
	// A completed snapshot must survive a crash right after it is recorded:
	// its files, manifest and directory entries are made durable here, in
	// one sync, not one per file.
	if err := syncTree(j.dir); err != nil {
		return fmt.Errorf("snapshot %s: sync copy to disk: %w", m.ID, err)
	}
	return pc.waitUntil(ctx, deadline)
}

type volumeEntry struct {
	rel  string // slash-separated, relative to the volume root
	dir  bool
	mode fs.FileMode
	size int64
}

// scanVolume lists the volume up front so that progress can be by bytes.
func scanVolume(root string) ([]volumeEntry, int64, error) {
	var out []volumeEntry
	var total int64
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			if !d.IsDir() {
				return fmt.Errorf("%s is not a directory", root)
			}
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			out = append(out, volumeEntry{rel: filepath.ToSlash(rel), dir: true, mode: info.Mode()})
		case d.Type().IsRegular():
			out = append(out, volumeEntry{rel: filepath.ToSlash(rel), mode: info.Mode(), size: info.Size()})
			total += info.Size()
		default:
			// Refuse rather than silently leave it out of the backup.
			return fmt.Errorf("%s: unsupported file type %s", path, info.Mode().Type())
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read volume directory %s: %w", root, err)
	}
	return out, total, nil
}

// vanished reports whether a file the scan listed is gone now.
func vanished(path string) bool {
	_, err := os.Lstat(path)
	return errors.Is(err, fs.ErrNotExist)
}

func copyFile(ctx context.Context, src, dst string, perm fs.FileMode, pc *pacer) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm|0o600)
	if err != nil {
		return "", err
	}
	defer out.Close()
	h := sha256.New()
	w := io.MultiWriter(out, h)
	buf := make([]byte, pc.chunkSize())
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return "", err
			}
			if err := pc.advance(ctx, int64(n)); err != nil {
				return "", err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", rerr
		}
	}
	// Not synced here: work makes the whole copy durable with one
	// filesystem sync once it is in place, before it is recorded Completed.
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// pacer turns bytes copied into progress and, under a SnapshotDelay fault,
// slows the copy so that it spreads over the delay, progress growing with
// elapsed time.
type pacer struct {
	job     *job
	created time.Time
	delay   time.Duration
	total   int64
	copied  int64
	// limit stops the copy (errHung) at this many bytes; -1 for none.
	limit int64
}

// chunkSize keeps each paced step near 1% of the volume, so that progress
// moves smoothly with time instead of in a few big jumps.
func (pc *pacer) chunkSize() int64 {
	const largest = 32 << 10
	if pc.delay <= 0 || pc.total <= 0 {
		return largest
	}
	return min(largest, max(512, pc.total/100))
}

func (pc *pacer) advance(ctx context.Context, n int64) error {
	pc.copied += n
	if pc.delay > 0 && pc.total > 0 {
		due := pc.created.Add(time.Duration(float64(pc.delay) * float64(pc.copied) / float64(pc.total)))
		if err := backoff.SleepUntil(ctx, due); err != nil {
			return err
		}
	}
	if pc.total > 0 {
		// 100 is only ever reported with state completed.
		pc.job.progress.Store(min(99, pc.copied*100/pc.total))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if pc.limit >= 0 && pc.copied >= pc.limit {
		return errHung
	}
	return nil
}

// waitUntil holds the snapshot back until deadline, with progress growing
// with elapsed time.
func (pc *pacer) waitUntil(ctx context.Context, deadline time.Time) error {
	for {
		now := time.Now()
		if !now.Before(deadline) {
			return nil
		}
		if pc.delay > 0 {
			if pct := min(99, int64(now.Sub(pc.created)*100/pc.delay)); pct > pc.job.progress.Load() {
				pc.job.progress.Store(pct)
			}
		}
		next := now.Add(50 * time.Millisecond)
		if deadline.Before(next) {
			next = deadline
		}
		if err := backoff.SleepUntil(ctx, next); err != nil {
			return err
		}
	}
}
