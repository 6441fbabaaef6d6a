// Package local is the local-filesystem provider, Strata's embedded default,
// so that a whole backup runs on a laptop. Volumes are directories; a
// snapshot is an asynchronous copy of a volume directory into a snapshot
// store, with a manifest of SHA-256 checksums and reported progress.
//
// Layout under Options.Root:
//
//	volumes/<volumeID>/...                 source volumes (see ProvisionVolume)
//	snapshots/<snapshotID>/snapshot.json   metadata: tags, state, progress, owner, heartbeat
//	snapshots/<snapshotID>/.claim-<N>      O_EXCL marker of copy attempt N
//	snapshots/<snapshotID>/.tmp-<N>/       attempt N's copy in progress
//	snapshots/<snapshotID>/data/           the copied files, once completed
//	snapshots/<snapshotID>/manifest.json   files, sizes and sha256 of data/
//	volumes/<volumeID>/...                 volumes created from snapshots (CreateVolume)
//	volumes/.restored/<volumeID>.json      their metadata: snapshot, cluster, node, size, times
//	volumes/.restore-<volumeID>-<N>/       a CreateVolume copy in progress, verified
//	                                       against the manifest, then renamed into place
//	nodes/<clusterID>/<nodeID>/node.json   nodes provisioned by Provider.Provisioner
//
// Snapshot state lives only on disk, so that any process on the same Root
// (a restarted worker, a second worker, the CLI) sees the same snapshots and
// can resume a copy whose owner died.
package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/stratabackup/strata/providers"
)

// Name is the provider's name as clusters record it.
const Name = "local"

// DefaultStaleAfter is Options.StaleAfter when unset.
const DefaultStaleAfter = 5 * time.Second

// Options configure a Provider.
type Options struct {
	// Root is required: volumes live in Root/volumes/<volumeID>/, snapshots
	// in Root/snapshots/<snapshotID>/.
	Root string
	// Faults returns a cluster's injected faults; nil means none.
	Faults func(ctx context.Context, clusterID string) (Faults, error)
	// StaleAfter is how long a pending snapshot's copier may go without
	// heartbeating before whoever asks about the snapshot resumes it.
	StaleAfter time.Duration
	// Logger is optional.
	Logger *zap.Logger
}

// Provider is the local provider. It is safe for concurrent use, and several
// Providers (in one process or many) may share a Root.
type Provider struct {
	root         string
	volumesDir   string
	snapshotsDir string
	faults       func(ctx context.Context, clusterID string) (Faults, error)
	staleAfter   time.Duration
	log          *zap.Logger
	instanceID   string

	// ctx parents every background copy this instance runs; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	// closed is guarded by running.mu so that no copy can register after
	// Close has collected the ones to wait for.
	closed bool
}

var _ providers.Provider = (*Provider)(nil)

// running is the registry of copies running in this process, keyed by
// absolute snapshot directory. It is package-level, not per Provider,
// because heartbeats only tell other processes that a copy is alive: two
// Providers in one process on the same Root must also not both run one.
var running = struct {
	mu   sync.Mutex
	jobs map[string]*job
}{jobs: map[string]*job{}}

// New returns a provider rooted at o.Root, creating its directories.
func New(o Options) (*Provider, error) {
	if o.Root == "" {
		return nil, &providers.Error{Provider: Name, Kind: providers.Invalid, Message: "local provider: Options.Root is required"}
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, &providers.Error{Provider: Name, Kind: providers.Invalid, Message: fmt.Sprintf("local provider root %q: %v", o.Root, err), Err: err}
	}
	p := &Provider{
		root:         root,
		volumesDir:   filepath.Join(root, "volumes"),
		snapshotsDir: filepath.Join(root, "snapshots"),
		faults:       o.Faults,
		staleAfter:   o.StaleAfter,
		log:          o.Logger,
		instanceID:   newInstanceID(),
	}
	if p.staleAfter <= 0 {
		p.staleAfter = DefaultStaleAfter
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	p.log = p.log.With(zap.String("provider", Name), zap.String("instance", p.instanceID))
	// The root holds the volumes' data: private to the worker's user.
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fsError(err, "create %s", root)
	}
	for _, d := range []string{p.volumesDir, p.snapshotsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fsError(err, "create %s", d)
		}
	}
	p.sweepProvisionLeftovers("")
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

func newInstanceID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// InstanceID identifies this Provider as the owner of the copies it runs.
func (p *Provider) InstanceID() string { return p.instanceID }

// Root is the absolute root directory.
func (p *Provider) Root() string { return p.root }

// Close stops this instance's background copies, as a worker stopping
// would, and waits for them to exit. Their snapshots stay pending on disk
// for another instance to resume once their heartbeat is stale.
func (p *Provider) Close() error {
	running.mu.Lock()
	p.closed = true
	var mine []*job
	for _, j := range running.jobs {
		if j.p == p {
			mine = append(mine, j)
		}
	}
	running.mu.Unlock()
	p.cancel()
	for _, j := range mine {
		<-j.done
	}
	return nil
}

// SnapshotDataDir is where the copied files of a completed snapshot are.
func (p *Provider) SnapshotDataDir(snapshotID string) string {
	return filepath.Join(p.snapshotsDir, snapshotID, dataDir)
}

// snapshotID is deterministic so that a retried or replayed StartSnapshot,
// from this process or another, lands on the same directory.
func snapshotID(backupID, volumeID string) string {
	sum := sha256.Sum256([]byte(backupID + "\x00" + volumeID))
	return "snap-" + hex.EncodeToString(sum[:8])
}

var snapshotIDPattern = regexp.MustCompile(`^snap-[0-9a-f]{16}$`)

// StartSnapshot implements providers.Provider.
func (p *Provider) StartSnapshot(ctx context.Context, spec providers.SnapshotSpec) (providers.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return providers.Snapshot{}, &providers.Error{Provider: Name, Kind: providers.Transient, Message: fmt.Sprintf("start snapshot of volume %s: %v", spec.VolumeID, err), Err: err}
	}
	if spec.BackupID == "" || spec.VolumeID == "" {
		return providers.Snapshot{}, &providers.Error{Provider: Name, Kind: providers.Invalid, Message: fmt.Sprintf("start snapshot: backup ID (%q) and volume ID (%q) are required", spec.BackupID, spec.VolumeID)}
	}
	id := snapshotID(spec.BackupID, spec.VolumeID)
	dir := filepath.Join(p.snapshotsDir, id)

	// The common retry case: it already exists.
	if s, ok, err := p.existing(ctx, dir); err != nil || ok {
		return s, err
	}

	src, err := p.sourceDir(spec)
	if err != nil {
		return providers.Snapshot{}, err
	}
	fi, err := os.Stat(src)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return providers.Snapshot{}, &providers.Error{Provider: Name, Kind: providers.NotFound, Code: "VolumeNotFound",
			Message: fmt.Sprintf("volume %s not found: directory %s does not exist", spec.VolumeID, src), Err: err}
	case err != nil:
		return providers.Snapshot{}, fsError(err, "stat volume %s directory %s", spec.VolumeID, src)
	case !fi.IsDir():
		return providers.Snapshot{}, &providers.Error{Provider: Name, Kind: providers.Invalid, Code: "InvalidVolume",
			Message: fmt.Sprintf("volume %s: %s is not a directory", spec.VolumeID, src)}
	}

	faults, err := p.faultsOf(ctx, spec.ClusterID, "snapshot of volume "+spec.VolumeID)
	if err != nil {
		return providers.Snapshot{}, err
	}

	now := time.Now().UTC()
	m := metadata{
		ID:        id,
		BackupID:  spec.BackupID,
		ClusterID: spec.ClusterID,
		NodeID:    spec.NodeID,
		VolumeID:  spec.VolumeID,
		Source:    src,
		SizeGB:    spec.SizeGB,
		Faults:    faults,
		CreatedAt: now,
		State:     providers.StatePending,
		Owner:     p.instanceID,
		Attempt:   1,
		Heartbeat: now,
	}
	created, err := p.create(dir, m)
	if err != nil {
		return providers.Snapshot{}, err
	}
	if !created {
		// Lost a race with another starter of the same spec.
		s, ok, err := p.existing(ctx, dir)
		if err != nil {
			return providers.Snapshot{}, err
		}
		if !ok {
			return providers.Snapshot{}, &providers.Error{Provider: Name, Kind: providers.Transient,
				Message: fmt.Sprintf("snapshot %s of volume %s was deleted while starting", id, spec.VolumeID)}
		}
		return s, nil
	}
	return m.snapshot(), nil
}

// existing reports the snapshot in dir if there is one, resuming its copy if
// its owner is gone.
func (p *Provider) existing(ctx context.Context, dir string) (providers.Snapshot, bool, error) {
	m, err := readMeta(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return providers.Snapshot{}, false, nil
	}
	if err != nil {
		return providers.Snapshot{}, false, fsError(err, "read snapshot %s", filepath.Base(dir))
	}
	return p.maybeResume(dir, m).snapshot(), true, nil
}

// sourceDir resolves the volume directory: the spec's VolumeRef if given
// (relative to Root), else Root/volumes/<VolumeID>.
func (p *Provider) sourceDir(spec providers.SnapshotSpec) (string, error) {
	if spec.VolumeRef != "" {
		if filepath.IsAbs(spec.VolumeRef) {
			return filepath.Clean(spec.VolumeRef), nil
		}
		return filepath.Join(p.root, spec.VolumeRef), nil
	}
	if err := checkPathElem(spec.VolumeID); err != nil {
		return "", &providers.Error{Provider: Name, Kind: providers.Invalid, Message: fmt.Sprintf("volume ID %q: %v", spec.VolumeID, err)}
	}
	return filepath.Join(p.volumesDir, spec.VolumeID), nil
}

func checkPathElem(s string) error {
	if s == "" || s == "." || s == ".." || filepath.Base(s) != s || s[0] == '.' {
		return errors.New("must be a plain directory name")
	}
	return nil
}

// create makes dir with its metadata and first claim already inside, by
// renaming a fully prepared staging directory into place: a directory rename
// fails if the target exists, so exactly one starter across all processes
// wins, and nobody ever sees the directory without its metadata. The winner
// starts the copy; created is false for the losers.
func (p *Provider) create(dir string, m metadata) (created bool, err error) {
	staging, err := os.MkdirTemp(p.snapshotsDir, ".staging-"+m.ID+"-")
	if err != nil {
		return false, fsError(err, "create snapshot %s of volume %s", m.ID, m.VolumeID)
	}
	defer os.RemoveAll(staging) // a no-op once renamed
	if err := os.Chmod(staging, 0o755); err != nil {
		return false, fsError(err, "create snapshot %s of volume %s", m.ID, m.VolumeID)
	}
	if err := createClaim(staging, m.Attempt, p.instanceID); err != nil {
		return false, fsError(err, "create snapshot %s of volume %s", m.ID, m.VolumeID)
	}
	if err := writePendingMeta(staging, m); err != nil {
		return false, fsError(err, "create snapshot %s of volume %s", m.ID, m.VolumeID)
	}

	// Rename and register under the registry lock, so that no caller in
	// this process sees the directory without its copy registered (and
	// mistakes it for an orphan to resume).
	running.mu.Lock()
	if p.closed {
		running.mu.Unlock()
		return false, p.closedError(m.ID)
	}
	if running.jobs[dir] != nil {
		// Already created and running here.
		running.mu.Unlock()
		return false, nil
	}
	if err := os.Rename(staging, dir); err != nil {
		running.mu.Unlock()
		if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
			return false, nil
		}
		return false, fsError(err, "create snapshot %s of volume %s", m.ID, m.VolumeID)
	}
	j := p.registerLocked(dir, m)
	running.mu.Unlock()
	p.log.Info("snapshot started", zap.String("snapshot", m.ID), zap.String("backup", m.BackupID),
		zap.String("cluster", m.ClusterID), zap.String("volume", m.VolumeID), zap.String("source", m.Source),
		zap.Duration("faultDelay", m.Faults.SnapshotDelay.D()), zap.Bool("faultFail", m.Faults.SnapshotFail),
		zap.Bool("faultHang", m.Faults.SnapshotHang))
	go j.run()
	return true, nil
}

func (p *Provider) closedError(id string) error {
	return &providers.Error{Provider: Name, Kind: providers.Transient, Message: fmt.Sprintf("snapshot %s: local provider instance %s is closed", id, p.instanceID)}
}

// createClaim creates the O_EXCL marker of a copy attempt; it fails with
// fs.ErrExist if another process already claimed that attempt.
func createClaim(dir string, attempt int, owner string) error {
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%s%d", claimPrefix, attempt)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s %s\n", owner, time.Now().UTC().Format(time.RFC3339Nano))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// maybeResume restarts the copy of a pending snapshot whose owner is gone:
// not running in this process and no heartbeat for StaleAfter. It returns
// the metadata to report.
func (p *Provider) maybeResume(dir string, m metadata) metadata {
	if m.State != providers.StatePending || time.Since(m.Heartbeat) < p.staleAfter {
		return m
	}
	next := m
	next.Attempt = m.Attempt + 1
	next.Owner = p.instanceID
	next.Progress = 0
	next.Heartbeat = time.Now().UTC()
	j, ok := p.reserve(dir, next)
	if !ok {
		return m
	}
	if err := createClaim(dir, next.Attempt, p.instanceID); err != nil {
		// Another process claimed it first (or the snapshot was deleted).
		j.release()
		return m
	}
	// The owner may have finished between our read and our claim.
	if cur, err := readMeta(dir); err != nil || cur.State != providers.StatePending || cur.Attempt != m.Attempt {
		j.release()
		if err == nil {
			return cur
		}
		return m
	}
	if err := writeMeta(dir, next); err != nil {
		j.release()
		p.log.Warn("resume snapshot: write metadata", zap.String("snapshot", m.ID), zap.Error(err))
		return m
	}
	p.log.Info("resuming snapshot whose copier stopped heartbeating",
		zap.String("snapshot", m.ID), zap.String("volume", m.VolumeID), zap.String("previousOwner", m.Owner),
		zap.Time("lastHeartbeat", m.Heartbeat), zap.Int("attempt", next.Attempt))
	go j.run()
	return next
}

// reserve registers a copy of dir for this instance unless one is already
// running in this process or the instance is closed.
func (p *Provider) reserve(dir string, m metadata) (*job, bool) {
	running.mu.Lock()
	defer running.mu.Unlock()
	if p.closed || running.jobs[dir] != nil {
		return nil, false
	}
	return p.registerLocked(dir, m), true
}

func (p *Provider) registerLocked(dir string, m metadata) *job {
	ctx, cancel := context.WithCancel(p.ctx)
	j := &job{p: p, dir: dir, meta: m, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	j.progress.Store(int64(m.Progress))
	running.jobs[dir] = j
	return j
}

// GetSnapshots implements providers.Provider.
func (p *Provider) GetSnapshots(ctx context.Context, ids []string) ([]providers.Snapshot, error) {
	out := make([]providers.Snapshot, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if err := ctx.Err(); err != nil {
			return nil, &providers.Error{Provider: Name, Kind: providers.Transient, Message: fmt.Sprintf("get snapshots: %v", err), Err: err}
		}
		// A malformed ID cannot name a snapshot here (and must not name a
		// path), so it is simply unknown.
		if !snapshotIDPattern.MatchString(id) {
			continue
		}
		s, ok, err := p.existing(ctx, filepath.Join(p.snapshotsDir, id))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// ListSnapshots implements providers.Provider by scanning every metadata
// file, which is fine for a laptop's worth of snapshots.
func (p *Provider) ListSnapshots(ctx context.Context, f providers.SnapshotFilter) ([]providers.Snapshot, error) {
	entries, err := os.ReadDir(p.snapshotsDir)
	if err != nil {
		return nil, fsError(err, "list snapshots in %s", p.snapshotsDir)
	}
	var out []providers.Snapshot
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, &providers.Error{Provider: Name, Kind: providers.Transient, Message: fmt.Sprintf("list snapshots: %v", err), Err: err}
		}
		if !e.IsDir() || !snapshotIDPattern.MatchString(e.Name()) {
			continue
		}
		dir := filepath.Join(p.snapshotsDir, e.Name())
		m, err := readMeta(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while listing
		}
		if err != nil {
			return nil, fsError(err, "read snapshot %s", e.Name())
		}
		if (f.BackupID != "" && m.BackupID != f.BackupID) || (f.ClusterID != "" && m.ClusterID != f.ClusterID) {
			continue
		}
		out = append(out, p.maybeResume(dir, m).snapshot())
	}
	sort.Slice(out, func(i, k int) bool {
		if !out[i].CreatedAt.Equal(out[k].CreatedAt) {
			return out[i].CreatedAt.Before(out[k].CreatedAt)
		}
		return out[i].ID < out[k].ID
	})
	return out, nil
}

// DeleteSnapshot implements providers.Provider.
func (p *Provider) DeleteSnapshot(ctx context.Context, id string) error {
	if !snapshotIDPattern.MatchString(id) {
		return nil // cannot exist
	}
	dir := filepath.Join(p.snapshotsDir, id)
	running.mu.Lock()
	j := running.jobs[dir]
	running.mu.Unlock()
	if j != nil {
		j.cancel()
		select {
		case <-j.done:
		case <-ctx.Done():
			return &providers.Error{Provider: Name, Kind: providers.Transient, Message: fmt.Sprintf("delete snapshot %s: waiting for its copy to stop: %v", id, ctx.Err()), Err: ctx.Err()}
		}
	}
	// Renaming first makes the snapshot disappear at once for every reader,
	// and makes a copier in another process fail its next write instead of
	// recreating files under the snapshot's name.
	trash, err := os.MkdirTemp(p.snapshotsDir, ".trash-"+id+"-")
	if err != nil {
		return fsError(err, "delete snapshot %s", id)
	}
	target := filepath.Join(trash, id)
	if err := os.Rename(dir, target); err != nil {
		os.Remove(trash)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fsError(err, "delete snapshot %s", id)
	}
	// A copier elsewhere may still be writing into the renamed tree for a
	// moment; retry rather than leave litter.
	for i := 0; ; i++ {
		if err = os.RemoveAll(trash); err == nil || i == 10 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.log.Warn("delete snapshot: removing files", zap.String("snapshot", id), zap.String("path", trash), zap.Error(err))
	}
	p.log.Info("snapshot deleted", zap.String("snapshot", id))
	return nil
}

// fsError classifies a filesystem error for callers.
func fsError(err error, format string, args ...any) error {
	kind := providers.Transient
	switch {
	case errors.Is(err, fs.ErrNotExist):
		kind = providers.NotFound
	case errors.Is(err, fs.ErrPermission):
		kind = providers.Permission
	case errors.Is(err, syscall.ENOSPC):
		kind = providers.Quota
	}
	return &providers.Error{Provider: Name, Kind: kind, Message: fmt.Sprintf(format, args...) + ": " + err.Error(), Err: err}
}
