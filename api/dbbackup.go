package api

import "time"

// DatabaseBackup is what the database said of a consistent online backup
// of a postgres cluster: the node it was taken on, the WAL positions and
// timeline it spans, and the backup_label and tablespace_map that a
// restore writes into the restored data directory.
type DatabaseBackup struct {
	Engine        string     `json:"engine"` // EnginePostgres
	NodeID        string     `json:"nodeId"`
	StartLSN      string     `json:"startLsn"`
	StopLSN       string     `json:"stopLsn,omitempty"`
	Timeline      int        `json:"timeline"`
	BackupLabel   string     `json:"backupLabel,omitempty"`
	TablespaceMap string     `json:"tablespaceMap,omitempty"`
	StartedAt     time.Time  `json:"startedAt"`
	StoppedAt     *time.Time `json:"stoppedAt,omitempty"`
}
