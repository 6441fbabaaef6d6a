package providers

import (
	"context"
	"time"
)

// WALArchive keeps database clusters' write-ahead log between base
// backups, one archive per cluster. The database server stores and
// fetches segments itself, with the commands the archive gives it
// (PostgreSQL's archive_command and restore_command); Strata lists the
// archive to find the restorable window and deletes what no backup needs.
// The local provider keeps it in a directory of the worker's machine; a
// cloud provider would keep it in object storage under a prefix per
// cluster, with commands that run a small client of that store.
type WALArchive interface {
	// Prepare makes the cluster's archive exist, writable by the server
	// running as server.
	Prepare(ctx context.Context, clusterID string, server ServerUser) error
	// ArchiveCommand stores the file at %p as %f. It fails (non-zero)
	// unless the file is stored whole; a file stored before succeeds again
	// only with the same bytes, so the chain is never broken.
	ArchiveCommand(clusterID string) string
	// RestoreCommand fetches %f into %p, failing for a file not stored.
	RestoreCommand(clusterID string) string
	// List names every stored file, by name.
	List(ctx context.Context, clusterID string) ([]WALFile, error)
	// Delete removes stored files; one already gone counts as removed.
	Delete(ctx context.Context, clusterID string, names []string) error
	// Location says where the cluster's archive is, for people.
	Location(clusterID string) string
}

// ServerUser is the OS user a database server runs as; Set is false when
// it runs as the worker's own user.
type ServerUser struct {
	UID, GID int
	Set      bool
}

// WALFile is one stored file: a segment, a .partial or .backup file, or
// a timeline's .history.
type WALFile struct {
	Name     string
	Size     int64
	StoredAt time.Time
}
