package local

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/stratabackup/strata/providers"
)

// On-disk names inside Root/snapshots/<snapshotID>/.
const (
	metaFile     = "snapshot.json"
	manifestFile = "manifest.json"
	dataDir      = "data"
	// claimPrefix + N is created with O_EXCL by whoever runs attempt N of a
	// snapshot's copy, so that of two processes that both find a snapshot
	// stale only one restarts it.
	claimPrefix = ".claim-"
	// tmpPrefix + N is attempt N's private copy, renamed into data/ when done.
	tmpPrefix = ".tmp-"
)

// metadata is snapshot.json: everything needed to report a snapshot and to
// resume its copy in another process.
type metadata struct {
	ID        string `json:"id"`
	BackupID  string `json:"backupId"`
	ClusterID string `json:"clusterId"`
	NodeID    string `json:"nodeId"`
	VolumeID  string `json:"volumeId"`
	// Source is the absolute volume directory, recorded so that a resumed
	// copy reads the same directory whatever the resuming caller passes.
	Source string `json:"source"`
	SizeGB int    `json:"sizeGb"`
	// Faults are the cluster's faults when the snapshot started; a resumed
	// copy applies these rather than looking them up again.
	Faults    Faults                  `json:"faults"`
	CreatedAt time.Time               `json:"createdAt"`
	State     providers.SnapshotState `json:"state"`
	Progress  int                     `json:"progress"`
	Error     string                  `json:"error,omitempty"`
	// Owner is the provider instance running the copy; Attempt counts
	// (re)starts of the copy and names the claim file of the current one.
	Owner       string     `json:"owner"`
	Attempt     int        `json:"attempt"`
	Heartbeat   time.Time  `json:"heartbeat"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
}

func (m metadata) snapshot() providers.Snapshot {
	return providers.Snapshot{
		ID:        m.ID,
		BackupID:  m.BackupID,
		ClusterID: m.ClusterID,
		NodeID:    m.NodeID,
		VolumeID:  m.VolumeID,
		State:     m.State,
		Progress:  m.Progress,
		SizeGB:    m.SizeGB,
		Error:     m.Error,
		CreatedAt: m.CreatedAt,
	}
}

// manifest is manifest.json, written beside data/ when a copy completes.
type manifest struct {
	SnapshotID string              `json:"snapshotId"`
	VolumeID   string              `json:"volumeId"`
	Source     string              `json:"source"`
	TotalBytes int64               `json:"totalBytes"`
	Files      []manifestFileEntry `json:"files"`
}

type manifestFileEntry struct {
	// Path is relative to data/, with forward slashes.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func readMeta(dir string) (metadata, error) {
	var m metadata
	err := readJSON(filepath.Join(dir, metaFile), &m)
	return m, err
}

// readJSON decodes the file at path into v. An error reading the file is
// returned as it is, so that callers can tell a missing file
// (fs.ErrNotExist) from a corrupt one.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

func writeMeta(dir string, m metadata) error {
	return writeJSONAtomic(dir, metaFile, m)
}

// writePendingMeta records a Pending snapshot's metadata without a sync:
// what it says (started, progress, heartbeat) need not survive a power
// loss, which would lose the unsynced rename of its directory anyway. Only
// the outcome is synced, after the copy it vouches for.
func writePendingMeta(dir string, m metadata) error {
	return writeJSON(dir, metaFile, m)
}

// writeJSONAtomic replaces dir/name in one rename so that readers in any
// process see the old or the new file, never a torn one. It deliberately
// does not create dir: a snapshot deleted under a copier must stay deleted.
func writeJSONAtomic(dir, name string, v any) error {
	return writeJSONFile(dir, name, v, true)
}

// writeJSON is writeJSONAtomic without the sync, for files that a later
// syncTree makes durable.
func writeJSON(dir, name string, v any) error {
	return writeJSONFile(dir, name, v, false)
}

func writeJSONFile(dir, name string, v any, sync bool) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil && sync {
		// Without the sync a crash could leave the renamed file empty.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
