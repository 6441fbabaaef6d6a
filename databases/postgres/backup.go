package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Online backups are non-exclusive: pg_backup_start and pg_backup_stop must
// run in one session, held while the volumes' snapshots start. The session
// is this process's (sessions below); if the process dies, PostgreSQL ends
// backup mode with the session, so a killed worker never leaves a server
// in backup mode.

// BackupStart is what pg_backup_start said.
type BackupStart struct {
	NodeID   string `json:"nodeId"`
	StartLSN string `json:"startLsn"`
	Timeline int    `json:"timeline"`
}

// BackupStop is what pg_backup_stop said: the backup_label and
// tablespace_map a restore writes into the data directory.
type BackupStop struct {
	StopLSN       string `json:"stopLsn"`
	BackupLabel   string `json:"backupLabel"`
	TablespaceMap string `json:"tablespaceMap,omitempty"`
}

// ErrNoBackupSession: no session of this process holds the backup's
// backup mode (the worker that started it is gone, and with it backup
// mode).
var ErrNoBackupSession = errors.New("no backup session")

type sessions struct {
	mu    sync.Mutex
	conns map[string]*pgx.Conn
}

func (s *sessions) put(id string, c *pgx.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[string]*pgx.Conn{}
	}
	s.conns[id] = c
}

func (s *sessions) take(id string) *pgx.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	delete(s.conns, id)
	return c
}

// applicationName marks a backup's session, so that any process can end
// it (AbortBackup).
func applicationName(backupID string) string { return "strata-backup-" + backupID }

func (m *Manager) connect(ctx context.Context, clusterID, endpoint, app string) (*pgx.Conn, error) {
	uri, err := m.URI(clusterID, endpoint)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, uri+"&connect_timeout=5&application_name="+url.QueryEscape(app))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %s", endpoint, redact(err.Error(), uri))
	}
	return conn, nil
}

// BeginBackup puts the server at endpoint in backup mode for backupID
// (pg_backup_start with an immediate checkpoint) and keeps the session
// open until EndBackup or AbortBackup. Again for the same backup, while
// this process holds its session, it answers what the first call did.
func (m *Manager) BeginBackup(ctx context.Context, clusterID, nodeID, endpoint, backupID string) (BackupStart, error) {
	if c := m.backups.take(backupID); c != nil {
		// A retried call whose first attempt succeeded: start afresh so
		// that the answer is this session's.
		c.Close(context.Background())
	}
	// The session must outlive this call's context.
	conn, err := m.connect(context.WithoutCancel(ctx), clusterID, endpoint, applicationName(backupID))
	if err != nil {
		return BackupStart{}, err
	}
	st := BackupStart{NodeID: nodeID}
	var lsn string
	if err := conn.QueryRow(ctx, `SELECT pg_backup_start($1, true)::text`, "strata "+backupID).Scan(&lsn); err != nil {
		conn.Close(context.Background())
		return BackupStart{}, fmt.Errorf("pg_backup_start on %s: %w", nodeID, err)
	}
	if err := conn.QueryRow(ctx, `SELECT timeline_id FROM pg_control_checkpoint()`).Scan(&st.Timeline); err != nil {
		conn.Close(context.Background())
		return BackupStart{}, fmt.Errorf("reading the timeline of %s: %w", nodeID, err)
	}
	st.StartLSN = lsn
	m.backups.put(backupID, conn)
	m.log.Info("backup mode started", zap.String("cluster", clusterID), zap.String("node", nodeID), zap.String("backup", backupID), zap.String("startLsn", lsn))
	return st, nil
}

// EndBackup ends backupID's backup mode in the session BeginBackup opened,
// and closes it. On an archiving primary pg_backup_stop waits until the
// WAL the backup needs is archived, so a Completed backup can be restored
// from its snapshots and the archive alone; a replica does not wait.
func (m *Manager) EndBackup(ctx context.Context, backupID string) (BackupStop, error) {
	conn := m.backups.take(backupID)
	if conn == nil {
		return BackupStop{}, ErrNoBackupSession
	}
	defer conn.Close(context.Background())
	var st BackupStop
	if err := conn.QueryRow(ctx, `SELECT lsn::text, labelfile, COALESCE(spcmapfile, '') FROM pg_backup_stop(true)`).Scan(&st.StopLSN, &st.BackupLabel, &st.TablespaceMap); err != nil {
		return BackupStop{}, fmt.Errorf("pg_backup_stop: %w", err)
	}
	m.log.Info("backup mode stopped", zap.String("backup", backupID), zap.String("stopLsn", st.StopLSN))
	return st, nil
}

// AbortBackup ends backupID's backup mode wherever it is held: this
// process's session is closed, and any other session of the backup's on
// the server at endpoint (a worker that hung) is terminated. Idempotent:
// a backup not in backup mode is left as it is, and a server that does not
// answer has no session left to end.
func (m *Manager) AbortBackup(ctx context.Context, clusterID, endpoint, backupID string) error {
	if c := m.backups.take(backupID); c != nil {
		c.Close(context.Background())
	}
	conn, err := m.connect(ctx, clusterID, endpoint, "strata-abort-"+backupID)
	if err != nil {
		m.log.Info("server down: no backup session to end", zap.String("backup", backupID), zap.String("endpoint", endpoint), zap.Error(err))
		return nil
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, applicationName(backupID)); err != nil {
		return fmt.Errorf("ending backup %s's sessions: %w", backupID, err)
	}
	return nil
}

// InBackup says whether a session of one of Strata's backups is open on
// the server at endpoint: PostgreSQL 15 shows no server-wide backup mode
// for non-exclusive backups, which end with their session.
func (m *Manager) InBackup(ctx context.Context, clusterID, endpoint string) (bool, error) {
	conn, err := m.connect(ctx, clusterID, endpoint, "strata-check")
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'strata-backup-%'`).Scan(&n)
	return n > 0, err
}
