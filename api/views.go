package api

import (
	"fmt"
	"strings"
	"time"
)

// The JSON views of Strata's records: what workflow results, the Go client
// and the CLI's --json return. They are the API's own types, not the
// catalog's rows, so the catalog can change without changing them.

// Cluster is a managed database cluster: nodes with attached volumes on one
// provider and region.
type Cluster struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	Provider    string `json:"provider"`
	Region      string `json:"region"`
	// Engine is what runs on the volumes: EngineVolume (data only, the
	// default) or EnginePostgres (a PostgreSQL server per node that Strata
	// runs).
	Engine    string `json:"engine"`
	ProjectID string `json:"projectId"`
	NetworkID string `json:"networkId"`
	// Status is Running for a usable cluster; a cluster being restored is
	// Creating, one whose restore failed is Failed with StatusReason.
	Status       ClusterStatus `json:"status"`
	StatusReason string        `json:"statusReason,omitempty"`
	// RestoredFrom is the backup a restored cluster was created from.
	RestoredFrom string    `json:"restoredFrom,omitempty"`
	Lock         *Lock     `json:"lock"`
	Nodes        []Node    `json:"nodes"`
	CreatedAt    time.Time `json:"createdAt"`
	// WAL is a postgres cluster's WAL archiving, read live from its
	// primary by getCluster (not stored).
	WAL *WALStatus `json:"wal,omitempty"`
	// PITR is a postgres cluster's restorable window, computed when read
	// (nil when it has no Completed base backup with archived WAL).
	PITR *PITRWindow `json:"pitr,omitempty"`
	// WALStalledSince is when the monitor found a postgres cluster's WAL
	// archiving stalled (nil: it is not).
	WALStalledSince *time.Time `json:"walStalledSince,omitempty"`
	// Profile is the backup profile the cluster's jobs follow ("": none
	// set, its jobs are its own).
	Profile string `json:"profile,omitempty"`
	// ClusterPower is whether it runs (Running, PoweringOff, PoweredOff,
	// PoweringOn) and, powered off, since when and until its deletion.
	ClusterPower
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
	// Role is NodePrimary or NodeReplica in a postgres cluster; empty for
	// volume clusters.
	Role string `json:"role,omitempty"`
	// Endpoint is "127.0.0.1:PORT" of the node's server (postgres
	// clusters).
	Endpoint string   `json:"endpoint,omitempty"`
	Volumes  []Volume `json:"volumes"`
}

// Volume is a disk attached to a node; Path is the provider's reference to
// it (a local directory, an EBS volume ID, a GCE zones/Z/disks/NAME).
type Volume struct {
	ID     string `json:"id"`
	NodeID string `json:"nodeId"`
	SizeGB int    `json:"sizeGb"`
	Path   string `json:"path"`
	Zone   string `json:"zone,omitempty"`
}

// Lock is a lease on a cluster. Token is a fencing token: it grows with
// every new acquisition of the cluster's lock, and renew and release only
// act when the caller's token is the current one.
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
	// uses (the healthy node with the least replication lag).
	PreferredNodeID string `json:"preferredNodeId,omitempty"`
	// DeletionError says why the last deletion attempt failed.
	DeletionError string     `json:"deletionError,omitempty"`
	DeletedAt     *time.Time `json:"deletedAt,omitempty"`
	// Holds name the restores using this backup.
	Holds []string `json:"holds,omitempty"`
	// Database is set for backups of postgres clusters: see DatabaseBackup.
	Database *DatabaseBackup `json:"database,omitempty"`
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
	// Target is a point-in-time restore's recovery target.
	Target *RecoveryTarget `json:"target,omitempty"`
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

// Channel is a project's notification destination, as shown: the URL's
// scheme and host only, never its path, query, user or secret.
type Channel struct {
	ID              string    `json:"id"`
	ProjectID       string    `json:"projectId"`
	Kind            string    `json:"kind"`
	URL             string    `json:"url,omitempty"`
	HasSecret       bool      `json:"hasSecret,omitempty"`
	Email           string    `json:"email,omitempty"`
	SMTPHost        string    `json:"smtpHost,omitempty"`
	SMTPUser        string    `json:"smtpUser,omitempty"`
	SMTPPasswordEnv string    `json:"smtpPasswordEnv,omitempty"`
	From            string    `json:"from,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
}

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

// Describe renders a policy: "keep last 24" or "keep hourly 24, daily 14,
// weekly 4" (zero tiers left out).
func (p Retention) Describe() string {
	var parts []string
	if p.KeepLast != 0 {
		parts = append(parts, fmt.Sprintf("last %d", p.KeepLast))
	}
	if p.KeepHourly != 0 {
		parts = append(parts, fmt.Sprintf("hourly %d", p.KeepHourly))
	}
	if p.KeepDaily != 0 {
		parts = append(parts, fmt.Sprintf("daily %d", p.KeepDaily))
	}
	if p.KeepWeekly != 0 {
		parts = append(parts, fmt.Sprintf("weekly %d", p.KeepWeekly))
	}
	if len(parts) == 0 {
		return "no retention policy"
	}
	return "keep " + strings.Join(parts, ", ")
}

// Job is a scheduled backup of one cluster with a retention policy.
type Job struct {
	ID         string    `json:"id"`
	ClusterID  string    `json:"clusterId"`
	ScheduleID string    `json:"scheduleId"`
	Every      Duration  `json:"every"`
	Offset     Duration  `json:"offset"`
	Label      string    `json:"label"`
	Retention  Retention `json:"retention"`
	Paused     bool      `json:"paused"`
	// Profile is the profile that made the job (""): change the profile,
	// not the job.
	Profile   string     `json:"profile,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
	DeletedAt *time.Time `json:"deletedAt,omitempty"`
	Monitor   JobMonitor `json:"monitor"`
}

// JobMonitor is the monitor's memory of a job, so each change is notified
// once: whether the job is stale (no Completed backup within its freshness
// bound), and the schedule's skipped and missed counts already reported
// (ScheduleCheckedAt: when it last read them).
type JobMonitor struct {
	Stale             bool       `json:"stale"`
	SeenSkipped       int        `json:"seenSkipped"`
	SeenMissed        int        `json:"seenMissed"`
	ScheduleCheckedAt *time.Time `json:"scheduleCheckedAt,omitempty"`
}

// BackupFilter selects backups to list; zero fields match everything.
// Results are newest first.
type BackupFilter struct {
	ClusterID string `json:"clusterId,omitempty"`
	JobID     string `json:"jobId,omitempty"`
	// ManualOnly selects backups with no job.
	ManualOnly bool           `json:"manualOnly,omitempty"`
	Statuses   []BackupStatus `json:"statuses,omitempty"`
	// IncludeDeleted also returns Deleted backups.
	IncludeDeleted bool `json:"includeDeleted,omitempty"`
	Limit          int  `json:"limit,omitempty"`
	// View is BackupViewFull (the default) or BackupViewBasic.
	View string `json:"view,omitempty"`
}

// AddChannelRequest adds a notification channel to a project: a webhook
// (URL, optional signing Secret), a chat incoming webhook (URL), or email
// (Email, SMTPHost, optional SMTPUser with SMTPPasswordEnv, From).
type AddChannelRequest struct {
	// ID is generated when empty.
	ID              string `json:"id,omitempty"`
	ProjectID       string `json:"projectId"`
	Kind            string `json:"kind"`
	URL             string `json:"url,omitempty"`
	Secret          string `json:"secret,omitempty"`
	Email           string `json:"email,omitempty"`
	SMTPHost        string `json:"smtpHost,omitempty"`
	SMTPUser        string `json:"smtpUser,omitempty"`
	SMTPPasswordEnv string `json:"smtpPasswordEnv,omitempty"`
	From            string `json:"from,omitempty"`
	input           input
}
