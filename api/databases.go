package api

import "time"

// QueryConnectCluster answers with how to connect to a postgres cluster's
// primary: GetRequest (cluster) → ConnectInfo. It is a query, so the URI
// (which holds the superuser's password) is in no workflow history; with
// payload encryption on it is sealed on the wire too.
const QueryConnectCluster = "connectCluster"

// ConnectInfo is where a postgres cluster's primary listens and a libpq
// connection URI for it that psql accepts as is.
type ConnectInfo struct {
	ClusterID string `json:"clusterId"`
	NodeID    string `json:"nodeId"`
	Endpoint  string `json:"endpoint"`
	URI       string `json:"uri"`
}

// WALStatus is a postgres cluster's WAL archiving, as its primary's
// pg_stat_archiver says when it is read: the last segment archived and the
// last that failed to be (a failure newer than the last success means
// archiving is failing now).
type WALStatus struct {
	ArchivedCount  int64      `json:"archivedCount"`
	LastArchived   string     `json:"lastArchivedWal,omitempty"`
	LastArchivedAt *time.Time `json:"lastArchivedAt,omitempty"`
	FailedCount    int64      `json:"failedCount"`
	LastFailed     string     `json:"lastFailedWal,omitempty"`
	LastFailedAt   *time.Time `json:"lastFailedAt,omitempty"`
	// Archive is where the segments are stored.
	Archive string `json:"archive"`
	// OldestPending is the oldest completed segment not yet archived and
	// PendingSince when it completed (none: archiving is caught up).
	OldestPending string     `json:"oldestPendingWal,omitempty"`
	PendingSince  *time.Time `json:"pendingSince,omitempty"`
}
