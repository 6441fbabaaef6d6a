// Package catalog is Strata's system of record: clusters (nodes, volumes,
// health, fault settings), cluster locks, and backups with their snapshots.
// One Store interface, two implementations on one SQL code path: SQLite
// (pure Go, the embedded default) and Postgres (production).
package catalog

import (
	"time"

	"github.com/stratabackup/strata/api"
)

// The catalog's rows, their statuses and durations are the API's (package
// api): what a read returns is what was stored, with no second copy to
// keep in step. A row that holds what must never leave the worker (a
// channel's sealed URL and secret) has its own type and a view.
type (
	Duration       = api.Duration
	ClusterStatus  = api.ClusterStatus
	RestoreStatus  = api.RestoreStatus
	BackupStatus   = api.BackupStatus
	SnapshotStatus = api.SnapshotStatus

	Cluster    = api.Cluster
	Node       = api.Node
	Volume     = api.Volume
	Lock       = api.Lock
	Faults     = api.Faults
	Project    = api.Project
	Network    = api.Network
	Backup     = api.Backup
	Snapshot   = api.Snapshot
	Restore    = api.Restore
	Retention  = api.Retention
	Job        = api.Job
	JobMonitor = api.JobMonitor

	DatabaseBackup  = api.DatabaseBackup
	RestorePoint    = api.RestorePoint
	Profile         = api.Profile
	ProfileSchedule = api.ProfileSchedule
	ClusterPower    = api.ClusterPower
)

const (
	ClusterCreating = api.ClusterCreating
	ClusterRunning  = api.ClusterRunning
	ClusterFailed   = api.ClusterFailed
	ClusterDeleted  = api.ClusterDeleted

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

// Hold is an operation (a restore) using a backup.
type Hold struct {
	BackupID  string    `json:"backupId"`
	Holder    string    `json:"holder"`
	CreatedAt time.Time `json:"createdAt"`
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
	// NoDetails leaves snapshots, holds and the database backup unread
	// (Snapshots and Database nil).
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
