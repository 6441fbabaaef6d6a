package api

import (
	"fmt"
	"time"
)

// RecoveryTarget is where a point-in-time restore of a postgres backup
// stops replaying WAL: at most one of Time, LSN and Name (a restore point
// made with createRestorePoint). None: the end of the base backup.
type RecoveryTarget struct {
	Time *time.Time `json:"time,omitempty"`
	LSN  string     `json:"lsn,omitempty"`
	Name string     `json:"name,omitempty"`
}

// IsZero says whether no target is given.
func (t RecoveryTarget) IsZero() bool { return t.Time == nil && t.LSN == "" && t.Name == "" }

// String names the target as the CLI takes it.
func (t RecoveryTarget) String() string {
	switch {
	case t.Time != nil:
		return "time " + t.Time.UTC().Format(time.RFC3339Nano)
	case t.LSN != "":
		return "LSN " + t.LSN
	case t.Name != "":
		return "restore point " + t.Name
	}
	return "the end of the backup"
}

// PITRWindow is the span a postgres cluster can be restored to any point
// of: from the end of its oldest Completed base backup to the newest WAL
// in its archive.
type PITRWindow struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// ToLSN is the end of the archived WAL.
	ToLSN string `json:"toLsn"`
}

// String is the window as messages show it.
func (w PITRWindow) String() string {
	return fmt.Sprintf("%s to %s", w.From.UTC().Format(time.RFC3339Nano), w.To.UTC().Format(time.RFC3339Nano))
}

// RestorePoint is a named point in a postgres cluster's WAL
// (pg_create_restore_point), to restore to with toName.
type RestorePoint struct {
	ClusterID string    `json:"clusterId"`
	Name      string    `json:"name"`
	LSN       string    `json:"lsn"`
	Timeline  int       `json:"timeline"`
	CreatedAt time.Time `json:"createdAt"`
	// Archived says whether the WAL holding it was archived when it was
	// made (it is restorable only once it is).
	Archived bool `json:"archived"`
}

// UpdateCreateRestorePoint makes a restore point on a postgres cluster's
// primary: CreateRestorePointRequest → RestorePoint.
const UpdateCreateRestorePoint = "createRestorePoint"

// QueryListRestorePoints lists a cluster's restore points: GetRequest
// (cluster) → []RestorePoint.
const QueryListRestorePoints = "listRestorePoints"

// CreateRestorePointRequest names a new restore point of a cluster.
type CreateRestorePointRequest struct {
	ClusterID string `json:"clusterId"`
	Name      string `json:"name"`
	input     input
}

// RecoveryProgress is a postgres restore's WAL replay as its status query
// shows it.
type RecoveryProgress struct {
	// Target is where replay stops, as given or resolved.
	Target RecoveryTarget `json:"target"`
	// BackupStopLSN is where the base backup ends: replay reaches a
	// consistent database there.
	BackupStopLSN string `json:"backupStopLsn"`
	// Phase: Preparing, Starting, Replaying, Paused (at the target),
	// Promoted.
	Phase string `json:"phase"`
	// ReplayLSN is the last WAL position replayed, ReplayedAt the commit
	// time of the last transaction replayed.
	ReplayLSN  string     `json:"replayLsn,omitempty"`
	ReplayedAt *time.Time `json:"replayedAt,omitempty"`
	// Timeline is the restored server's timeline once promoted.
	Timeline int `json:"timeline,omitempty"`
}

// Phases of a postgres restore's recovery.
const (
	RecoveryPreparing = "Preparing"
	RecoveryStarting  = "Starting"
	RecoveryReplaying = "Replaying"
	RecoveryPaused    = "Paused"
	RecoveryPromoted  = "Promoted"
)
