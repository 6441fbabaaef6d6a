package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/providers"
)

// Roles of a node's server.
const (
	Primary = "primary"
	Replica = "replica"
)

// Superuser is the role Strata and `cluster connect` use.
const Superuser = "postgres"

// DataDirName is the data directory's name on a node's volume.
const DataDirName = "pgdata"

// stateFile, beside the data directory on the volume, is what Strata
// decided for the node: its port and role, and whether its data directory
// was made in full (a create killed half-way starts that node again).
const stateFile = "postgres.json"

// NodeSpec is one node of a cluster: its volume directory.
type NodeSpec struct {
	ID        string
	VolumeDir string
}

// ClusterSpec is a cluster's nodes, the primary first.
type ClusterSpec struct {
	ID    string
	Nodes []NodeSpec
}

// Node is a running node's server.
type Node struct {
	ID       string `json:"id"`
	Role     string `json:"role"`
	Endpoint string `json:"endpoint"`
}

type nodeState struct {
	Port        int    `json:"port"`
	Role        string `json:"role"`
	Initialized bool   `json:"initialized"`
	// Cluster is the cluster the state is of: a volume restored from
	// another cluster's snapshot carries that cluster's state until its
	// recovery is prepared.
	Cluster string `json:"cluster,omitempty"`
	// Recovery is a restored node's progress (recovery*).
	Recovery string `json:"recovery,omitempty"`
	// RecoveryID names the recovery Recovery is of: a cluster restored
	// into itself (a power-on) carries its own earlier state, which must
	// not pass for this recovery's.
	RecoveryID string `json:"recoveryId,omitempty"`
}

// DataDir is a node's data directory.
func DataDir(volumeDir string) string { return filepath.Join(volumeDir, DataDirName) }

// EnsureCluster makes every node's server exist and run: initdb and start
// the primary, then pg_basebackup each replica from it and start it. It is
// idempotent: a node already made is only started if it is stopped, so a
// retried create (or one after a killed worker) finishes what is missing.
func (m *Manager) EnsureCluster(ctx context.Context, c ClusterSpec) ([]Node, error) {
	if len(c.Nodes) == 0 {
		return nil, fmt.Errorf("cluster %s: no nodes", c.ID)
	}
	pw, err := m.password(c.ID, true)
	if err != nil {
		return nil, err
	}
	out := make([]Node, len(c.Nodes))
	primary := ""
	for i, n := range c.Nodes {
		if !filepath.IsAbs(n.VolumeDir) {
			return nil, fmt.Errorf("cluster %s: node %s: volume directory %q is not absolute", c.ID, n.ID, n.VolumeDir)
		}
		role := Primary
		if i > 0 {
			role = Replica
		}
		st, err := m.node(ctx, c.ID, n, role, primary, pw)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: node %s (%s): %w", c.ID, n.ID, role, err)
		}
		out[i] = Node{ID: n.ID, Role: st.Role, Endpoint: endpoint(st.Port)}
		if i == 0 {
			primary = out[i].Endpoint
		}
	}
	return out, nil
}

func endpoint(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func (m *Manager) node(ctx context.Context, clusterID string, n NodeSpec, role, primary, pw string) (nodeState, error) {
	st, err := readState(n.VolumeDir)
	if err != nil {
		return st, err
	}
	if st.Cluster != "" && st.Cluster != clusterID {
		// A volume restored from another cluster's snapshot: its server
		// starts only through a prepared recovery (PrepareRecovery).
		return st, fmt.Errorf("volume %s holds cluster %s's data directory, not yet recovered as this cluster's", n.VolumeDir, st.Cluster)
	}
	if st.Recovery != "" && st.Recovery != recoveryDone {
		return st, fmt.Errorf("volume %s: its server is still being recovered (%s)", n.VolumeDir, st.Recovery)
	}
	data := DataDir(n.VolumeDir)
	// Again each time: what an operator tightened above the volume would
	// keep the server from starting.
	if err := m.reach(n.VolumeDir); err != nil {
		return st, err
	}
	if !st.Initialized {
		if st.Port == 0 {
			if st.Port, err = FreePort(); err != nil {
				return st, err
			}
		}
		st.Role, st.Cluster = role, clusterID
		if err := writeState(n.VolumeDir, st); err != nil {
			return st, err
		}
		if err := os.RemoveAll(data); err != nil {
			return st, err
		}
		if err := os.Mkdir(data, 0o700); err != nil {
			return st, err
		}
		if err := m.own(data); err != nil {
			return st, err
		}
		if role == Primary {
			var archive string
			if archive, err = m.prepareArchive(ctx, clusterID); err != nil {
				return st, err
			}
			err = m.initPrimary(ctx, n.VolumeDir, data, st.Port, pw, archive)
		} else {
			err = m.initReplica(ctx, data, st.Port, primary, pw)
		}
		if err != nil {
			return st, err
		}
		st.Initialized = true
		if err := writeState(n.VolumeDir, st); err != nil {
			return st, err
		}
		m.log.Info("postgres node initialised", zap.String("node", n.ID), zap.String("role", role), zap.Int("port", st.Port))
	}
	return st, m.Start(ctx, data)
}

// settings are the primary's (and, copied by pg_basebackup, every
// replica's): TCP on loopback only, no Unix socket, WAL for streaming
// replicas, and, with an archive, every completed WAL segment archived
// (a replica archives nothing until it is promoted).
func settings(port int, archiveCommand string) string {
	s := fmt.Sprintf(`
# Strata
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '256MB'
hot_standby = on
shared_buffers = '32MB'
max_connections = 50
`, port)
	if archiveCommand != "" {
		s += fmt.Sprintf("archive_mode = on\narchive_command = '%s'\narchive_timeout = '%ds'\n", archiveCommand, int(ArchiveTimeout.Seconds()))
	}
	return s
}

// ArchiveTimeout bounds how old the newest archived WAL is under light
// writes: a segment is switched and archived at least this often.
const ArchiveTimeout = time.Minute

// prepareArchive makes the cluster's WAL archive, writable by the server
// user, and answers its archive_command ("" without archiving).
func (m *Manager) prepareArchive(ctx context.Context, clusterID string) (string, error) {
	if m.archive == nil {
		return "", nil
	}
	if err := m.archive.Prepare(ctx, clusterID, m.serverUser()); err != nil {
		return "", fmt.Errorf("the WAL archive of cluster %s: %w", clusterID, err)
	}
	return m.archive.ArchiveCommand(clusterID), nil
}

func (m *Manager) serverUser() providers.ServerUser {
	if m.cred == nil {
		return providers.ServerUser{}
	}
	return providers.ServerUser{UID: int(m.cred.Uid), GID: int(m.cred.Gid), Set: true}
}

// ArchiveDir says where the cluster's WAL is archived ("" without
// archiving).
func (m *Manager) ArchiveDir(clusterID string) string {
	if m.archive == nil {
		return ""
	}
	return m.archive.Location(clusterID)
}

func (m *Manager) initPrimary(ctx context.Context, volumeDir, data string, port int, pw, archive string) error {
	// initdb reads the password from a file the server user can read and
	// no one else.
	tmp, err := os.MkdirTemp(volumeDir, ".initdb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	pwfile := filepath.Join(tmp, "pw")
	if err := os.WriteFile(pwfile, []byte(pw+"\n"), 0o600); err != nil {
		return err
	}
	for _, p := range []string{tmp, pwfile} {
		if err := m.own(p); err != nil {
			return err
		}
	}
	if err := m.run(ctx, nil, "initdb", "-D", data, "-U", Superuser, "--pwfile="+pwfile,
		"--auth-host=scram-sha-256", "--auth-local=reject", "-E", "UTF8", "--no-locale", "--no-instructions"); err != nil {
		return err
	}
	return appendConf(data, settings(port, archive))
}

func (m *Manager) initReplica(ctx context.Context, data string, port int, primary, pw string) error {
	host, pport, _ := strings.Cut(primary, ":")
	if err := m.run(ctx, []string{"PGPASSWORD=" + pw}, "pg_basebackup", "-h", host, "-p", pport, "-U", Superuser,
		"-D", data, "-R", "-X", "stream", "-c", "fast", "--no-password"); err != nil {
		return err
	}
	// The copied configuration has the primary's port; the last setting
	// wins.
	return appendConf(data, fmt.Sprintf("\n# Strata: this replica\nport = %d\n", port))
}

func appendConf(data, text string) error {
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Running says whether the data directory's server is up (pg_ctl status).
func (m *Manager) Running(ctx context.Context, data string) bool {
	return m.run(ctx, nil, "pg_ctl", "status", "-D", data) == nil
}

// Start starts the data directory's server unless it runs, and waits
// until it accepts connections.
func (m *Manager) Start(ctx context.Context, data string) error {
	if m.Running(ctx, data) {
		return nil
	}
	logFile := filepath.Join(data, "server.log")
	if err := m.run(ctx, nil, "pg_ctl", "start", "-D", data, "-l", logFile, "-w", "-t", "120", "-s"); err != nil {
		// pg_ctl says only "examine the log output": say what it says.
		if tail := strings.TrimSpace(logTail(data, 1000)); tail != "" {
			return fmt.Errorf("%w; %s says: %s", err, logFile, tail)
		}
		return err
	}
	return nil
}

// Stop stops the data directory's server (fast shutdown); a stopped one
// counts as stopped.
func (m *Manager) Stop(ctx context.Context, data string) error {
	if !m.Running(ctx, data) {
		return nil
	}
	return m.run(ctx, nil, "pg_ctl", "stop", "-D", data, "-m", "fast", "-w", "-t", "120", "-s")
}

// StopCluster stops every node's server, replicas first.
func (m *Manager) StopCluster(ctx context.Context, c ClusterSpec) error {
	var errs []error
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		errs = append(errs, m.Stop(ctx, DataDir(c.Nodes[i].VolumeDir)))
	}
	return errors.Join(errs...)
}

// URI is the libpq connection URI of a cluster's server at endpoint.
func (m *Manager) URI(clusterID, endpoint string) (string, error) {
	pw, err := m.password(clusterID, false)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "postgresql", User: url.UserPassword(Superuser, pw), Host: endpoint, Path: "/postgres", RawQuery: "sslmode=disable"}
	return u.String(), nil
}

// Status is what one server says of itself.
type Status struct {
	Up         bool
	InRecovery bool
	// LSN is the primary's current WAL position, or the replica's last
	// replayed one.
	LSN uint64
	// ReplayedAt is when the replica's last replayed transaction was
	// committed on the primary (nil if none yet).
	ReplayedAt *time.Time
	// Streaming says whether a replica's WAL receiver is streaming.
	Streaming bool
	// Problem says why it is not up.
	Problem string
}

// Probe asks the server at endpoint how it is.
func (m *Manager) Probe(ctx context.Context, clusterID, endpoint string) Status {
	uri, err := m.URI(clusterID, endpoint)
	if err != nil {
		return Status{Problem: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, uri+"&connect_timeout=2")
	if err != nil {
		return Status{Problem: "not answering: " + redact(err.Error(), uri)}
	}
	defer conn.Close(context.Background())
	var (
		st        Status
		lsn       string
		receiver  *string
		replayed  *time.Time
		inRecover bool
	)
	err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery(),
			CASE WHEN pg_is_in_recovery() THEN COALESCE(pg_last_wal_replay_lsn(), '0/0') ELSE pg_current_wal_lsn() END::text,
			pg_last_xact_replay_timestamp(),
			(SELECT status FROM pg_stat_wal_receiver LIMIT 1)`).Scan(&inRecover, &lsn, &replayed, &receiver)
	if err != nil {
		return Status{Problem: "query failed: " + err.Error()}
	}
	st.Up, st.InRecovery, st.ReplayedAt = true, inRecover, replayed
	st.Streaming = receiver != nil && *receiver == "streaming"
	st.LSN, _ = ParseLSN(lsn)
	return st
}

func redact(msg, uri string) string {
	if u, err := url.Parse(uri); err == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// ParseLSN reads a WAL position written X/Y (hex).
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, fmt.Errorf("LSN %q: want X/Y", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("LSN %q: %w", s, err)
	}
	return h<<32 | l, nil
}

// FormatLSN writes a WAL position as PostgreSQL does.
func FormatLSN(v uint64) string { return fmt.Sprintf("%X/%X", v>>32, v&0xffffffff) }

// Health is a node's health as a backup sees it.
type Health struct {
	NodeID  string
	Role    string
	Healthy bool
	// LagSeconds is a replica's replication lag (nil for a primary).
	LagSeconds *float64
	// Problem says why it is unhealthy.
	Problem string
}

// Check probes every node of a cluster (endpoints by node ID, the primary
// first) and says how each is. A replica that has replayed all the WAL the
// primary had when probed lags 0; one behind lags by the age of its last
// replayed transaction.
func (m *Manager) Check(ctx context.Context, clusterID string, nodes []Node, now time.Time) []Health {
	out := make([]Health, len(nodes))
	var primaryLSN uint64
	for i, n := range nodes {
		h := Health{NodeID: n.ID, Role: n.Role}
		st := m.Probe(ctx, clusterID, n.Endpoint)
		switch {
		case !st.Up:
			h.Problem = "stopped: " + st.Problem
		case n.Role == Primary && st.InRecovery:
			h.Problem = "the primary is in recovery"
		case n.Role == Primary:
			h.Healthy, primaryLSN = true, st.LSN
		case !st.InRecovery:
			h.Problem = "the replica is not in recovery (promoted?)"
		case !st.Streaming:
			h.Problem = "not streaming from the primary"
		default:
			lag := 0.0
			if primaryLSN > st.LSN && st.ReplayedAt != nil {
				lag = max(0, now.Sub(*st.ReplayedAt).Seconds())
			}
			h.Healthy, h.LagSeconds = true, &lag
		}
		out[i] = h
	}
	return out
}

func readState(volumeDir string) (nodeState, error) {
	var st nodeState
	b, err := os.ReadFile(filepath.Join(volumeDir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

func writeState(volumeDir string, st nodeState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(volumeDir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(volumeDir, stateFile))
}

func randomPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// ArchiveStatus is what pg_stat_archiver says of a primary's archiving.
type ArchiveStatus struct {
	ArchivedCount  int64
	LastArchived   string
	LastArchivedAt *time.Time
	FailedCount    int64
	LastFailed     string
	LastFailedAt   *time.Time
	// OldestPending is the oldest completed segment waiting to be
	// archived, PendingSince when it completed ("" and nil: none).
	OldestPending string
	PendingSince  *time.Time
}

// Archiving asks the primary at endpoint how its WAL archiving goes.
func (m *Manager) Archiving(ctx context.Context, clusterID, endpoint string) (ArchiveStatus, error) {
	conn, err := m.connect(ctx, clusterID, endpoint, "strata-check")
	if err != nil {
		return ArchiveStatus{}, err
	}
	defer conn.Close(context.Background())
	var (
		st                   ArchiveStatus
		archived, failed     *string
		archivedAt, failedAt *time.Time
	)
	err = conn.QueryRow(ctx, `SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal, last_failed_time
		FROM pg_stat_archiver`).Scan(&st.ArchivedCount, &archived, &archivedAt, &st.FailedCount, &failed, &failedAt)
	if err != nil {
		return ArchiveStatus{}, fmt.Errorf("reading pg_stat_archiver: %w", err)
	}
	if archived != nil {
		st.LastArchived = *archived
	}
	if failed != nil {
		st.LastFailed = *failed
	}
	st.LastArchivedAt, st.LastFailedAt = archivedAt, failedAt
	var pending *string
	var since *time.Time
	if err := conn.QueryRow(ctx, `SELECT min(name), min(modification) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'`).Scan(&pending, &since); err != nil {
		return ArchiveStatus{}, fmt.Errorf("reading pg_wal/archive_status: %w", err)
	}
	if pending != nil {
		st.OldestPending = strings.TrimSuffix(*pending, ".ready")
	}
	st.PendingSince = since
	return st, nil
}
