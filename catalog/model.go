// Package catalog is Strata's system of record: clusters (nodes, volumes,
// health, fault settings), cluster locks, and backups with their snapshots.
// One Store interface, two implementations on one SQL code path: SQLite
// (pure Go, the embedded default) and Postgres (production).
package catalog

import (
	"time"

	"github.com/stratabackup/strata/api"
)

// Duration is the API's duration (a Go duration string in JSON, or a
// number of seconds when read).
type Duration = api.Duration

// The status vocabulary is the API's (package api).
type (
	ClusterStatus  = api.ClusterStatus
	RestoreStatus  = api.RestoreStatus
	BackupStatus   = api.BackupStatus
	SnapshotStatus = api.SnapshotStatus
)

const (
	ClusterCreating = api.ClusterCreating
	ClusterRunning  = api.ClusterRunning
	ClusterFailed   = api.ClusterFailed

	RestorePending   = api.RestorePending
	RestoreRunning   = api.RestoreRunning
	RestoreCompleted = api.RestoreCompleted
	RestoreFailed    = api.RestoreFailed

	BackupPending    = api.BackupPending
	BackupInProgress = api.BackupInProgress
	BackupCompleted  = api.BackupCompleted
	BackupDefunct    = api.BackupDefunct
	BackupDeleting   = api.BackupDeleting
	BackupDeleted    = api.BackupDeleted
	BackupMissing    = api.BackupMissing

	SnapshotPending   = api.SnapshotPending
	SnapshotCompleted = api.SnapshotCompleted
	SnapshotFailed    = api.SnapshotFailed
	SnapshotDeleted   = api.SnapshotDeleted
)

// Cluster is a managed database cluster: nodes with attached volumes on one
// provider and region.
type Cluster struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	Provider    string `json:"provider"`
	Region      string `json:"region"`
	ProjectID   string `json:"projectId"`
	NetworkID   string `json:"networkId"`
	// Status is Running for a usable cluster; a cluster being restored is
	// Creating, and one whose restore failed is Failed with StatusReason.
	// Empty means Running (clusters registered before statuses existed).
	Status       ClusterStatus `json:"status"`
	StatusReason string        `json:"statusReason,omitempty"`
	// RestoredFrom is the backup a restored cluster was created from.
	RestoredFrom string    `json:"restoredFrom,omitempty"`
	Lock         *Lock     `json:"lock"`
	Nodes        []Node    `json:"nodes"`
	CreatedAt    time.Time `json:"createdAt"`
}

// Project groups clusters and networks.
type Project struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
}

// Network belongs to one project, on one provider and region.
type Network struct {
	ID        string    `json:"id"`
	ProjectID string    `json:"projectId"`
	Provider  string    `json:"provider"`
	Region    string    `json:"region"`
	CreatedAt time.Time `json:"createdAt"`
}

// Restore is the record of restoring a backup into a new cluster.
type Restore struct {
	ID              string        `json:"id"`
	BackupID        string        `json:"backupId"`
	SourceClusterID string        `json:"sourceClusterId"`
	ClusterID       string        `json:"clusterId"`
	Status          RestoreStatus `json:"status"`
	Reason          string        `json:"reason"`
	WorkflowID      string        `json:"workflowId"`
	CreatedAt       time.Time     `json:"createdAt"`
	StartedAt       *time.Time    `json:"startedAt"`
	CompletedAt     *time.Time    `json:"completedAt"`
}

// Volumes returns every volume of every node, in node then volume order.
func (c Cluster) Volumes() []Volume {
	var out []Volume
	for _, n := range c.Nodes {
		out = append(out, n.Volumes...)
	}
	return out
}

// Node is one VM of a cluster.
type Node struct {
	ID      string `json:"id"`
	Healthy bool   `json:"healthy"`
	// ReplicationLagSeconds is nil where the platform does not report lag.
	ReplicationLagSeconds *float64 `json:"replicationLagSeconds,omitempty"`
	Volumes               []Volume `json:"volumes"`
}

// Volume is a disk attached to a node. Path is the provider's reference to
// it: a directory for the local provider (later: an EBS volume ID or a GCE
// zone/disk name).
type Volume struct {
	ID     string `json:"id"`
	NodeID string `json:"nodeId"`
	SizeGB int    `json:"sizeGb"`
	Path   string `json:"path"`
	Zone   string `json:"zone,omitempty"`
}

// Lock is a lease on a cluster. Token is a fencing token: it grows with every
// new acquisition of the cluster's lock, and renew and release only act when
// the caller's token is the current one.
type Lock struct {
	Holder     string    `json:"holder"`
	Token      int64     `json:"token"`
	AcquiredAt time.Time `json:"acquiredAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// Faults drive the local provider's failure paths for one cluster, without
// code: a delay before each snapshot completes, a snapshot that fails, or
// one that never completes.
type Faults struct {
	SnapshotDelay Duration `json:"snapshotDelay,omitempty"`
	SnapshotFail  bool     `json:"snapshotFail,omitempty"`
	SnapshotHang  bool     `json:"snapshotHang,omitempty"`
	// RestoreDelay: creating each volume from this cluster's snapshots
	// takes at least this long.
	RestoreDelay Duration `json:"restoreDelay,omitempty"`
	// RestoreFail: restores of this cluster's backups fail when they
	// provision nodes, after every volume was created.
	RestoreFail bool `json:"restoreFail,omitempty"`
}

// Backup is one backup of a cluster: one snapshot per volume.
type Backup struct {
	ID          string       `json:"id"`
	ClusterID   string       `json:"clusterId"`
	JobID       string       `json:"jobId"`
	Label       string       `json:"label"`
	Index       int64        `json:"index"`
	Status      BackupStatus `json:"status"`
	Reason      string       `json:"reason"`
	Snapshots   []Snapshot   `json:"snapshots"`
	CreatedAt   time.Time    `json:"createdAt"`
	StartedAt   *time.Time   `json:"startedAt"`
	CompletedAt *time.Time   `json:"completedAt"`
	Deadline    *time.Time   `json:"deadline"`
	WorkflowID  string       `json:"workflowId"`
	RequestID   string       `json:"requestId,omitempty"`
	// PreferredNodeID is the node whose snapshots a restore to fewer nodes
	// uses (the first healthy node, or the leader where known).
	PreferredNodeID string `json:"preferredNodeId,omitempty"`
	// DeletionError says why the last deletion attempt failed (status
	// stays Deleting); empty otherwise.
	DeletionError string `json:"deletionError,omitempty"`
	// DeletedAt is when the backup became Deleted.
	DeletedAt *time.Time `json:"deletedAt,omitempty"`
	// Holds name the operations (restores) using this backup; a held
	// backup cannot be deleted or pruned.
	Holds []string `json:"holds,omitempty"`
}

// Hold is an operation (a restore) using a backup.
type Hold struct {
	BackupID  string    `json:"backupId"`
	Holder    string    `json:"holder"`
	CreatedAt time.Time `json:"createdAt"`
}

// Snapshot is one volume's snapshot within a backup.
type Snapshot struct {
	NodeID     string         `json:"nodeId"`
	VolumeID   string         `json:"volumeId"`
	SnapshotID string         `json:"snapshotId"`
	Status     SnapshotStatus `json:"status"`
	Progress   int            `json:"progress"`
	SizeGB     int            `json:"sizeGb"`
	Error      string         `json:"error,omitempty"`
}

// NewBackup is what CreateBackup needs; the store assigns Index.
type NewBackup struct {
	ID         string
	ClusterID  string
	JobID      string
	RequestID  string
	WorkflowID string
	CreatedAt  time.Time
	// Label renders the backup's label once the store has assigned the
	// cluster's next index, inside the same transaction.
	Label func(index int64) (string, error)
}

// BackupFilter selects backups; zero fields match everything. Results are
// newest first.
type BackupFilter struct {
	// IDs selects only these backups (at most MaxFilterIDs; unknown IDs are
	// left out of the result).
	IDs       []string
	ClusterID string
	JobID     string
	// ManualOnly selects backups with no job (JobID must be empty).
	ManualOnly bool
	Statuses   []BackupStatus
	// IncludeDeleted also returns Deleted backups, which are otherwise left
	// out (unless Statuses names BackupDeleted).
	IncludeDeleted bool
	Limit          int
	// NoDetails leaves snapshots and holds unread (Snapshots nil).
	NoDetails bool
	// After, when set, starts the list after this backup (in the list's
	// order, newest first): keyset paging that stays correct while
	// backups are added.
	After *BackupCursor
}

// BackupCursor is a backup's position in a backup list.
type BackupCursor struct {
	CreatedAt time.Time
	Index     int64
	ID        string
}

// CursorOf is b's position.
func CursorOf(b Backup) BackupCursor {
	return BackupCursor{CreatedAt: b.CreatedAt, Index: b.Index, ID: b.ID}
}

// MaxFilterIDs is how many IDs one BackupFilter may name.
const MaxFilterIDs = 1000

// Retention is a job's retention policy: either KeepLast, or tiers. Only
// Completed backups of the job count towards it.
type Retention struct {
	// KeepLast keeps the newest N Completed backups.
	KeepLast int `json:"keepLast,omitempty"`
	// KeepHourly, KeepDaily, KeepWeekly keep the newest Completed backup in
	// each of the last H hours, D days and W weeks (UTC calendar buckets); a
	// backup kept by any tier stays.
	KeepHourly int `json:"keepHourly,omitempty"`
	KeepDaily  int `json:"keepDaily,omitempty"`
	KeepWeekly int `json:"keepWeekly,omitempty"`
}

// Job is a scheduled backup of one cluster with a retention policy. Its
// Temporal Schedule's ID is ScheduleID.
type Job struct {
	ID         string    `json:"id"`
	ClusterID  string    `json:"clusterId"`
	ScheduleID string    `json:"scheduleId"`
	Every      Duration  `json:"every"`
	Offset     Duration  `json:"offset"`
	Label      string    `json:"label"`
	Retention  Retention `json:"retention"`
	Paused     bool      `json:"paused"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	// DeletedAt is set when the job was deleted; its backups stay.
	DeletedAt *time.Time `json:"deletedAt,omitempty"`
	// Monitor is what the monitor last saw of the job.
	Monitor JobMonitor `json:"monitor"`
}

// JobMonitor is the monitor's memory of a job, so each change is notified
// once: whether the job is stale (no Completed backup within its freshness
// bound), and the schedule's skipped and missed counts already reported.
type JobMonitor struct {
	Stale       bool `json:"stale"`
	SeenSkipped int  `json:"seenSkipped"`
	SeenMissed  int  `json:"seenMissed"`
	// ScheduleCheckedAt is when the monitor last read the job's schedule
	// (its skipped and missed counts); nil if never.
	ScheduleCheckedAt *time.Time `json:"scheduleCheckedAt,omitempty"`
}

// Transition moves a backup to a new status if it is currently in one of
// From. Moving to the status it already has is a no-op that succeeds, so
// activities can retry it.
type Transition struct {
	To     BackupStatus
	From   []BackupStatus
	Reason string
	At     time.Time
	// Deadline, when set, is recorded as the backup's completion deadline.
	Deadline *time.Time
	// PreferredNodeID, when set, is recorded.
	PreferredNodeID string
	// Fence, when set, makes the transition happen only while its lock
	// holds (ErrLockLost otherwise), as every write a backup makes after
	// locking its cluster must.
	Fence *Fence
}

// Fence names the lock a write depends on: the write happens only if Token
// is ClusterID's current, unexpired lease, which it extends to at least TTL
// from now. A lock that lapsed and was taken by someone else can then never
// see a stale holder's write land after it.
type Fence struct {
	ClusterID string
	Token     int64
	TTL       time.Duration
}

// Channel is where a project's notifications go: a generic webhook (JSON,
// HMAC-signed with Secret), a chat incoming webhook, or email over SMTP. The
// SMTP password is never stored: SMTPPasswordEnv names an environment
// variable of the worker.
type Channel struct {
	ID        string `json:"id"`
	ProjectID string `json:"projectId"`
	Kind      string `json:"kind"`
	// URL is the webhook or chat URL as stored: sealed to the worker's key
	// (package secrets), since chat URLs carry their token in the path.
	URL string `json:"-"`
	// DisplayURL is the URL's scheme and host only, for listings.
	DisplayURL string `json:"url,omitempty"`
	// Secret is the webhook's signing secret as stored, sealed.
	Secret string `json:"-"`
	// HasSecret says whether deliveries are signed.
	HasSecret       bool      `json:"hasSecret,omitempty"`
	Email           string    `json:"email,omitempty"`
	SMTPHost        string    `json:"smtpHost,omitempty"`
	SMTPUser        string    `json:"smtpUser,omitempty"`
	SMTPPasswordEnv string    `json:"smtpPasswordEnv,omitempty"`
	From            string    `json:"from,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
}
