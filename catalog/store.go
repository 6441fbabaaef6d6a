package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store is the catalog. Every method is safe for concurrent use by many
// goroutines and processes (workers of one catalog share it).
type Store interface {
	Close() error
	Clusters
	Locks
	Backups
	Jobs
	Projects
	Restores
	RestorePoints
	Profiles
	Channels
	Settings
}

// The roles of the catalog: each activity takes the ones it uses.

// Clusters is the catalog of clusters: their nodes, volumes, health, faults and status.
type Clusters interface {
	// CreateCluster inserts a cluster; ErrExists for a duplicate ID,
	// *VolumeInUseError when one of its volumes (by Path) belongs to a live
	// cluster of the same provider.
	CreateCluster(ctx context.Context, c Cluster) error
	// GetCluster returns the cluster with its nodes, volumes and current
	// (unexpired) lock; *NotFoundError if there is none.
	GetCluster(ctx context.Context, id string) (Cluster, error)
	ListClusters(ctx context.Context) ([]Cluster, error)
	SetNodeHealth(ctx context.Context, clusterID, nodeID string, healthy bool, replicationLagSeconds *float64) error
	// SetNodeStatus is SetNodeHealth that also sets the node's role
	// (api.NodePrimary, api.NodeReplica; empty for volume clusters), as a
	// postgres cluster's probe finds it.
	SetNodeStatus(ctx context.Context, clusterID, nodeID string, healthy bool, lagSeconds *float64, role string) error
	// SetNodeServer records where a postgres node's server listens and its
	// role (a restored cluster learns them once its servers run).
	SetNodeServer(ctx context.Context, clusterID, nodeID, role, endpoint string) error
	// SetWALStalled records since when a postgres cluster's WAL archiving
	// is stalled (nil: it is not).
	SetWALStalled(ctx context.Context, clusterID string, since *time.Time) error
	SetFaults(ctx context.Context, clusterID string, f Faults) error
	GetFaults(ctx context.Context, clusterID string) (Faults, error)
	// SetClusterStatus sets a cluster's status and reason.
	SetClusterStatus(ctx context.Context, clusterID string, status ClusterStatus, reason string) error
	// UpdateVolumes sets the path, zone and size of existing volumes of a
	// cluster, matched by volume ID (a restore records each volume as it is
	// created).
	UpdateVolumes(ctx context.Context, clusterID string, vols []Volume) error
	// SetClusterProfile records the profile a cluster's jobs follow.
	SetClusterProfile(ctx context.Context, clusterID, profile string) error
	// SetClusterPower replaces a cluster's power state (every field).
	SetClusterPower(ctx context.Context, clusterID string, p ClusterPower) error
	// ListClusterIDsByProfile lists the IDs of the clusters on a profile
	// that are not Deleted, in ID order.
	ListClusterIDsByProfile(ctx context.Context, profile string) ([]string, error)
}

// Profiles are the backup profiles made by users (the built-in ones are
// package api's and are not stored).
type Profiles interface {
	// CreateProfile: ErrExists for a duplicate name.
	CreateProfile(ctx context.Context, p Profile) error
	// GetProfile: *NotFoundError{Kind: "profile"} if none.
	GetProfile(ctx context.Context, name string) (Profile, error)
	// ListProfiles lists them in name order.
	ListProfiles(ctx context.Context) ([]Profile, error)
	// UpdateProfile replaces a profile's description, schedules, PITR and
	// NoBackups, and sets UpdatedAt; *NotFoundError if none.
	UpdateProfile(ctx context.Context, p Profile) error
	// DeleteProfile deletes a profile no cluster is on (*ProfileInUseError
	// otherwise; *NotFoundError if none), atomically with that check.
	DeleteProfile(ctx context.Context, name string) error
}

// Locks are the clusters' leases, with fencing tokens.
type Locks interface {
	// AcquireLock takes the cluster's lease for holder. If holder already
	// holds it, the lease is extended and the same token returned (so a
	// retried acquire is idempotent). If another holder's unexpired lease
	// exists it returns *LockedError and leaves that lease untouched.
	AcquireLock(ctx context.Context, clusterID, holder string, ttl time.Duration) (Lock, error)
	// RenewLock extends the lease whose token is token; ErrLockLost if that
	// lease expired or another holder now has the lock.
	RenewLock(ctx context.Context, clusterID string, token int64, ttl time.Duration) (Lock, error)
	// ReleaseLock frees the lease only if token is the current one; a stale
	// or repeated release returns nil and frees nothing.
	ReleaseLock(ctx context.Context, clusterID string, token int64) error
	// ReleaseOutsideLock releases an outside operation's lock (`cluster
	// unlock`): only if token is the current lease, and never a lock a
	// Strata operation holds (*OperationLockError: it releases its own).
	ReleaseOutsideLock(ctx context.Context, clusterID string, token int64) error
	// GetLock returns the current unexpired lease, or nil.
	GetLock(ctx context.Context, clusterID string) (*Lock, error)
}

// Backups are the backup records, their snapshots, deletions and holds.
type Backups interface {
	// CreateBackup inserts the backup in Pending with the cluster's next
	// index. It is idempotent by ID: if the backup exists it is returned with
	// created=false and nothing changes.
	CreateBackup(ctx context.Context, nb NewBackup) (b Backup, created bool, err error)
	GetBackup(ctx context.Context, id string) (Backup, error)
	ListBackups(ctx context.Context, f BackupFilter) ([]Backup, error)
	// CountBackups counts the backups by status (statuses with none are
	// left out).
	CountBackups(ctx context.Context) (map[BackupStatus]int, error)
	// TransitionBackup applies t; *TransitionError if the backup's status is
	// neither t.To nor in t.From.
	TransitionBackup(ctx context.Context, id string, t Transition) (Backup, error)
	// UpsertSnapshots records or updates snapshots of a backup, keyed by
	// volume ID; with a fence, only while the fence's lock holds
	// (ErrLockLost otherwise).
	UpsertSnapshots(ctx context.Context, backupID string, snaps []Snapshot, fence *Fence) error
	// SetBackupDatabase records what the database said of a postgres
	// cluster's backup (Backup.Database), replacing what was recorded;
	// with a fence, only while the fence's lock holds (ErrLockLost
	// otherwise). *NotFoundError for an unknown backup.
	SetBackupDatabase(ctx context.Context, backupID string, db DatabaseBackup, fence *Fence) error
	// StartDeletion moves a Completed or Defunct backup to Deleting (a
	// Deleting one stays, clearing DeletionError, so a failed deletion can
	// be retried). It fails with *InUseError if the backup has holds, and
	// with *TransitionError if it is Pending or InProgress (cancel it
	// first) or already Deleted. Atomic with AddHold.
	StartDeletion(ctx context.Context, backupID string, at time.Time) (Backup, error)
	// FailDeletion records why deleting a Deleting backup failed.
	FailDeletion(ctx context.Context, backupID, reason string) error
	// FinishDeletion moves a Deleting backup to Deleted and marks its
	// snapshots Deleted; a Deleted one is left as it is.
	FinishDeletion(ctx context.Context, backupID string, at time.Time) (Backup, error)
	// AddHold protects a Completed backup from deletion while holder (a
	// restore) uses it; idempotent. *TransitionError if the backup is not
	// Completed. Atomic with StartDeletion.
	AddHold(ctx context.Context, backupID, holder string) error
	// ListHolds lists every hold on every backup.
	ListHolds(ctx context.Context) ([]Hold, error)
	// RemoveHold releases a hold; releasing one that is gone is a no-op.
	RemoveHold(ctx context.Context, backupID, holder string) error
}

// Jobs are the scheduled backup jobs and what the monitor saw of them.
type Jobs interface {
	// CreateJob inserts a job; ErrExists for a duplicate ID, *NotFoundError
	// for an unknown cluster.
	CreateJob(ctx context.Context, j Job) error
	// GetJob returns a job, also a deleted one.
	GetJob(ctx context.Context, id string) (Job, error)
	// ListJobs lists jobs that are not deleted, of one cluster or all
	// (clusterID ""), oldest first.
	ListJobs(ctx context.Context, clusterID string) ([]Job, error)
	// UpdateJob replaces a job's every, offset, label, retention and paused
	// fields and sets UpdatedAt.
	UpdateJob(ctx context.Context, j Job) error
	// DeleteJob marks a job deleted; its backups are kept. Idempotent.
	DeleteJob(ctx context.Context, id string, at time.Time) error
	// SetJobMonitor records what the monitor has seen of a job.
	SetJobMonitor(ctx context.Context, id string, m JobMonitor) error
}

// Projects are the projects and their networks.
type Projects interface {
	// CreateProject is idempotent (an existing project is left as it is).
	CreateProject(ctx context.Context, p Project) error
	GetProject(ctx context.Context, id string) (Project, error)
	ListProjects(ctx context.Context) ([]Project, error)
	// CreateNetwork: ErrExists for a duplicate ID, *NotFoundError{Kind:
	// "project"} for an unknown project.
	CreateNetwork(ctx context.Context, n Network) error
	GetNetwork(ctx context.Context, id string) (Network, error)
	// ListNetworks lists networks, of one project or all.
	ListNetworks(ctx context.Context, projectID string) ([]Network, error)
}

// Restores are the restore records.
type Restores interface {
	// CreateRestore inserts a restore; idempotent by ID (an existing one is
	// returned with created=false).
	CreateRestore(ctx context.Context, r Restore) (Restore, bool, error)
	GetRestore(ctx context.Context, id string) (Restore, error)
	// ListRestores lists restores newest first, of one backup or all.
	ListRestores(ctx context.Context, backupID string) ([]Restore, error)
	// ListOpenRestores lists the restores that are Pending or Running.
	ListOpenRestores(ctx context.Context) ([]Restore, error)
	// SetRestoreStatus moves a restore to status (setting started_at for
	// Running and completed_at for Completed/Failed, reason if non-empty). A
	// Completed or Failed restore does not change any more.
	SetRestoreStatus(ctx context.Context, id string, status RestoreStatus, reason string, at time.Time) (Restore, error)
}

// RestorePoints are the named points of postgres clusters' WAL.
type RestorePoints interface {
	// CreateRestorePoint records a restore point; ErrExists when the
	// cluster has one of that name.
	CreateRestorePoint(ctx context.Context, p RestorePoint) error
	// GetRestorePoint: *NotFoundError{Kind: "restore point"} if none.
	GetRestorePoint(ctx context.Context, clusterID, name string) (RestorePoint, error)
	// ListRestorePoints lists a cluster's restore points, oldest first.
	ListRestorePoints(ctx context.Context, clusterID string) ([]RestorePoint, error)
}

// Channels are the projects' notification channels (URLs and secrets sealed).
type Channels interface {
	// CreateChannel: ErrExists for a duplicate ID, *NotFoundError{Kind:
	// "project"} for an unknown project.
	CreateChannel(ctx context.Context, c Channel) error
	// ListChannels lists a project's channels (all with projectID ""), by ID.
	ListChannels(ctx context.Context, projectID string) ([]Channel, error)
	// DeleteChannel: *NotFoundError for an unknown channel.
	DeleteChannel(ctx context.Context, id string) error
	// SealChannel replaces a channel's stored URL and secret (with their
	// sealed forms).
	SealChannel(ctx context.Context, id, url, secret string) error
}

// Settings are catalog-wide values (the worker's published key).
type Settings interface {
	// GetSetting reads a catalog-wide setting; ok is false if unset.
	GetSetting(ctx context.Context, name string) (value string, ok bool, err error)
	// SetSetting sets a setting, replacing its value.
	SetSetting(ctx context.Context, name, value string) error
	// InitSetting sets a setting unless it is set, and returns its value
	// (the existing one, if any): the first writer wins.
	InitSetting(ctx context.Context, name, value string) (string, error)
}

// InUseError says a backup cannot be deleted because operations use it.
type InUseError struct {
	BackupID string
	Holders  []string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("backup %s is in use by %s and cannot be deleted until they finish", e.BackupID, strings.Join(e.Holders, ", "))
}

// VolumeInUseError says a volume already belongs to a live cluster.
type VolumeInUseError struct {
	Ref       string
	ClusterID string
}

func (e *VolumeInUseError) Error() string {
	return fmt.Sprintf("volume %s already belongs to cluster %s", e.Ref, e.ClusterID)
}

// NotFoundError says which record does not exist.
type NotFoundError struct {
	Kind string // "cluster", "node", "backup"
	ID   string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %q not found", e.Kind, e.ID) }

// IsNotFound reports whether err is a *NotFoundError.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// StateError is a request the record's current state refuses (unlocking
// a cluster that is not locked, with a token that is not current):
// retrying cannot help.
type StateError struct{ Msg string }

func (e *StateError) Error() string { return e.Msg }

// LockedError says who holds a cluster's lock.
type LockedError struct {
	ClusterID string
	Holder    string
	ExpiresAt time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("cluster %s is locked by %q until %s", e.ClusterID, e.Holder, e.ExpiresAt.UTC().Format(time.RFC3339))
}

// OperationLockError refuses to release a lock a Strata operation holds.
type OperationLockError struct {
	ClusterID string
	Holder    string
}

func (e *OperationLockError) Error() string {
	return fmt.Sprintf("cluster %s is locked by %s, which releases its own lock: cancel it instead", e.ClusterID, e.Holder)
}

// ErrLockLost is returned by RenewLock when the caller's lease is gone.
var ErrLockLost = errors.New("lock lease lost: it expired or another holder took the lock")

// ErrExists is returned by CreateCluster for a duplicate ID.
var ErrExists = errors.New("already exists")

// TransitionError says a backup could not move to a status from its current one.
type TransitionError struct {
	BackupID string
	From     BackupStatus
	To       BackupStatus
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("backup %s cannot move from %s to %s", e.BackupID, e.From, e.To)
}

// ProfileInUseError says a profile still has clusters on it.
type ProfileInUseError struct {
	Name     string
	Clusters []string
}

func (e *ProfileInUseError) Error() string {
	return fmt.Sprintf("profile %s is the profile of %d cluster(s) (%s): move them to another profile first (`starter cluster set-profile`)", e.Name, len(e.Clusters), strings.Join(e.Clusters, ", "))
}
