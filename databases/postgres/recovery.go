package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/providers"
)

// A restore of a postgres backup is a point-in-time recovery: the backup
// node's volume, copied from its snapshot, becomes the new primary's data
// directory; PrepareRecovery writes the backup's backup_label and
// tablespace_map into it with a recovery configuration that fetches WAL
// from the source cluster's archive; Replay starts the server, which
// replays WAL to the target and pauses there; Promote ends recovery on a
// new timeline. Each step is idempotent and keeps its progress in the
// node's state file, so a worker killed at any point carries on where the
// server is: the server itself runs detached and keeps replaying.

// Recovery progress in the node's state file.
const (
	recoveryPreparing = "preparing" // being written: done again on a retry
	recoveryPrepared  = "prepared"  // files written, server not started
	recoveryReplaying = "replaying" // started towards the target
	recoveryToEnd     = "to-end"    // started again without a target (see Replay)
	recoveryDone      = "done"      // promoted
)

// recoveryConf is the recovery configuration, included from
// postgresql.conf while the node recovers and removed once it is
// promoted: a replica copied from the new primary must not inherit a
// target.
const recoveryConf = "strata-recovery.conf"

// Target is where recovery stops: one of Time, LSN or Name, or none for
// the first consistent point (the end of the base backup).
type Target struct {
	Time *time.Time
	LSN  string
	Name string
}

// RecoverySpec is one restored node's recovery.
type RecoverySpec struct {
	// ClusterID is the new cluster; SourceClusterID the backup's, whose
	// WAL archive (and superuser password) the recovery uses.
	ClusterID, SourceClusterID string
	NodeID                     string
	VolumeDir                  string
	BackupLabel, TablespaceMap string
	Target                     Target
	// RecoveryID names this recovery when the cluster recovers into its
	// own ID (a power-on), so that the state its snapshot carries is not
	// taken for this recovery's; "" for a restore into a new cluster.
	RecoveryID string
}

// Recovery is how far a restored node's recovery is.
type Recovery struct {
	// Phase: Preparing, Starting (not yet consistent), Replaying, Paused
	// (at the target), Promoted.
	Phase      string
	ReplayLSN  string
	ReplayedAt *time.Time
	Timeline   int
	Endpoint   string
}

// Phases, as api.Recovery* names them.
const (
	PhaseStarting  = "Starting"
	PhaseReplaying = "Replaying"
	PhasePaused    = "Paused"
	PhasePromoted  = "Promoted"
)

// ErrRecoveryFailed wraps what the server said when its recovery failed.
var ErrRecoveryFailed = errors.New("recovery failed")

// PrepareRecovery makes the restored volume's data directory this
// cluster's, ready to recover: owned by the server user and 0700, the
// source's runtime files and WAL removed (WAL comes from the archive,
// whole and checked), backup_label and tablespace_map written, its own
// port and WAL archive, and the recovery configuration. Once prepared it
// does nothing: the server may already be replaying.
func (m *Manager) PrepareRecovery(ctx context.Context, spec RecoverySpec) error {
	st, err := readState(spec.VolumeDir)
	if err != nil {
		return err
	}
	ours := st.Cluster == spec.ClusterID && st.RecoveryID == spec.RecoveryID
	if ours && st.Recovery != "" && st.Recovery != recoveryPreparing {
		return nil
	}
	data := DataDir(spec.VolumeDir)
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		return fmt.Errorf("node %s: volume %s holds no PostgreSQL data directory: %w", spec.NodeID, spec.VolumeDir, err)
	}
	if spec.BackupLabel == "" {
		return fmt.Errorf("node %s: the backup has no backup_label: it was not taken in backup mode", spec.NodeID)
	}
	if m.archive == nil {
		return errors.New("this worker archives no WAL: a postgres backup cannot be restored without its cluster's archive")
	}
	if _, err := m.archive.List(ctx, spec.SourceClusterID); err != nil {
		return fmt.Errorf("the WAL archive of cluster %s: %w", spec.SourceClusterID, err)
	}
	src := m.archive.RestoreCommand(spec.SourceClusterID)
	if err := m.inheritPassword(spec.ClusterID, spec.SourceClusterID); err != nil {
		return err
	}
	archive, err := m.prepareArchive(ctx, spec.ClusterID)
	if err != nil {
		return err
	}
	if !ours || st.Port == 0 {
		if st.Port, err = FreePort(); err != nil {
			return err
		}
	}
	// Recorded first: a retry keeps the port, and nothing starts the
	// server (node refuses an unfinished recovery) until it is prepared.
	st.Cluster, st.Role, st.Initialized, st.Recovery, st.RecoveryID = spec.ClusterID, Primary, true, recoveryPreparing, spec.RecoveryID
	if err := writeState(spec.VolumeDir, st); err != nil {
		return err
	}

	// What a running server left, or a standby had: none of it belongs to
	// the new primary.
	for _, name := range []string{"postmaster.pid", "postmaster.opts", "standby.signal", "recovery.signal", "backup_label", "backup_label.old",
		"tablespace_map", "tablespace_map.old", "server.log", recoveryConf} {
		if err := os.Remove(filepath.Join(data, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, dir := range []string{"pg_wal", "pg_replslot"} {
		if err := emptyDir(filepath.Join(data, dir), dir == "pg_wal"); err != nil {
			return err
		}
	}
	if err := writeFile(data, "backup_label", spec.BackupLabel); err != nil {
		return err
	}
	if spec.TablespaceMap != "" {
		if err := writeFile(data, "tablespace_map", spec.TablespaceMap); err != nil {
			return err
		}
	}
	if err := writeFile(data, recoveryConf, recoverySettings(src, spec.Target)); err != nil {
		return err
	}
	if err := writeFile(data, "recovery.signal", ""); err != nil {
		return err
	}
	if err := dropStandbySettings(data); err != nil {
		return err
	}
	if err := appendConf(data, fmt.Sprintf("\n# Strata: restored as cluster %s\nport = %d\narchive_command = '%s'\ninclude_if_exists = '%s'\n",
		spec.ClusterID, st.Port, archive, recoveryConf)); err != nil {
		return err
	}
	if err := m.ownTree(data); err != nil {
		return err
	}
	if err := os.Chmod(data, 0o700); err != nil {
		return err
	}
	if err := m.reach(spec.VolumeDir); err != nil {
		return err
	}
	st.Recovery = recoveryPrepared
	if err := writeState(spec.VolumeDir, st); err != nil {
		return err
	}
	m.log.Info("recovery prepared", zap.String("cluster", spec.ClusterID), zap.String("node", spec.NodeID),
		zap.String("sourceCluster", spec.SourceClusterID), zap.Int("port", st.Port))
	return nil
}

// recoverySettings fetch WAL with restore (the archive's command), follow the newest
// timeline there (a restored cluster's backups are on a later one), stop
// at the target and pause: promotion is a step of its own. Every target
// setting is written, the empty ones first (PostgreSQL refuses a second
// target as soon as one is set, even to empty it), so that settings a
// restored backup still carries cannot add another.
func recoverySettings(restore string, t Target) string {
	set := "recovery_target = 'immediate'\n"
	switch {
	case t.Time != nil:
		set = fmt.Sprintf("recovery_target_time = '%s'\n", t.Time.UTC().Format("2006-01-02 15:04:05.999999")+"+00")
	case t.LSN != "":
		set = fmt.Sprintf("recovery_target_lsn = '%s'\n", t.LSN)
	case t.Name != "":
		set = fmt.Sprintf("recovery_target_name = '%s'\n", t.Name)
	}
	return untargeted(restore) + set + "recovery_target_inclusive = on\nrecovery_target_action = 'pause'\n"
}

// untargeted is the recovery configuration without a target: replay all
// the archived WAL, then promote.
func untargeted(restore string) string {
	return fmt.Sprintf("# Strata: point-in-time recovery\nrestore_command = '%s'\nrecovery_target_timeline = 'latest'\n"+
		"recovery_target = ''\nrecovery_target_time = ''\nrecovery_target_lsn = ''\nrecovery_target_name = ''\n", restore)
}

// dropStandbySettings removes what pg_basebackup -R wrote into
// postgresql.auto.conf (which overrides postgresql.conf): the restored
// server follows no primary.
func dropStandbySettings(data string) error {
	path := filepath.Join(data, "postgresql.auto.conf")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "primary_conninfo") || strings.HasPrefix(t, "primary_slot_name") {
			continue
		}
		keep = append(keep, line)
	}
	return os.WriteFile(path, []byte(strings.Join(keep, "\n")), 0o600)
}

func writeFile(dir, name, text string) error {
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// emptyDir removes what dir holds; pg_wal keeps its archive_status
// directory, emptied.
func emptyDir(dir string, keepStatus bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.Mkdir(dir, 0o700)
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if keepStatus && e.Name() == "archive_status" {
			if err := emptyDir(p, false); err != nil {
				return err
			}
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	if keepStatus {
		if err := os.MkdirAll(filepath.Join(dir, "archive_status"), 0o700); err != nil {
			return err
		}
	}
	return nil
}

// ownTree makes every file under dir the server user's (a restore copies
// them as the worker's user).
func (m *Manager) ownTree(dir string) error {
	if m.cred == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(m.cred.Uid), int(m.cred.Gid))
	})
}

// inheritPassword gives the new cluster its source's superuser password:
// the restored database's roles are the source's, passwords included.
func (m *Manager) inheritPassword(clusterID, sourceID string) error {
	if _, err := m.password(clusterID, false); err == nil {
		return nil
	}
	pw, err := m.password(sourceID, false)
	if err != nil {
		return fmt.Errorf("the restored database's superuser password is its source's: %w", err)
	}
	return writeFile(m.secrets, clusterID+".password", pw+"\n")
}

// Replay starts the prepared node's server, unless it runs, and says how
// far its recovery is. A time target after the last transaction in the
// archive makes PostgreSQL end recovery with "recovery ended before
// configured recovery target was reached", although the database at the
// end of the archive is the database at that time (the plan checked the
// archive reaches past it): the server is then started again without a
// target, replays to the end of the archive and promotes itself.
func (m *Manager) Replay(ctx context.Context, spec RecoverySpec) (Recovery, error) {
	st, err := readState(spec.VolumeDir)
	if err != nil {
		return Recovery{}, err
	}
	if st.Cluster != spec.ClusterID || st.RecoveryID != spec.RecoveryID || st.Recovery == "" || st.Recovery == recoveryPreparing {
		return Recovery{}, fmt.Errorf("node %s: recovery not prepared", spec.NodeID)
	}
	data := DataDir(spec.VolumeDir)
	ep := endpoint(st.Port)
	if st.Recovery != recoveryDone && !m.Running(ctx, data) {
		if st.Recovery != recoveryPrepared {
			// It ran and stopped: say why, unless it is the case above
			// or the server was killed (it carries on where it was).
			tail := logTail(data, 8000)
			fatal := fatalRecovery(tail)
			switch {
			case strings.Contains(tail, "recovery ended before configured recovery target was reached") && spec.Target.Time != nil && st.Recovery == recoveryReplaying:
				if err := writeFile(data, recoveryConf, untargeted(m.archive.RestoreCommand(spec.SourceClusterID))); err != nil {
					return Recovery{}, err
				}
				if err := m.own(filepath.Join(data, recoveryConf)); err != nil {
					return Recovery{}, err
				}
				st.Recovery = recoveryToEnd
				if err := writeState(spec.VolumeDir, st); err != nil {
					return Recovery{}, err
				}
				m.log.Info("no transaction after the target time in the archive: recovering to its end", zap.String("cluster", spec.ClusterID), zap.String("node", spec.NodeID))
			case fatal != "":
				return Recovery{}, fmt.Errorf("%w: node %s: %s", ErrRecoveryFailed, spec.NodeID, fatal)
			}
		}
		if err := m.run(ctx, nil, "pg_ctl", "start", "-D", data, "-l", filepath.Join(data, "server.log"), "-W", "-s"); err != nil {
			return Recovery{}, err
		}
		if st.Recovery == recoveryPrepared {
			st.Recovery = recoveryReplaying
			if err := writeState(spec.VolumeDir, st); err != nil {
				return Recovery{}, err
			}
		}
		m.log.Info("recovering", zap.String("cluster", spec.ClusterID), zap.String("node", spec.NodeID), zap.String("endpoint", ep))
	}
	return m.recoveryStatus(ctx, spec.ClusterID, ep)
}

// fatalRecovery is the first FATAL or PANIC line of a server log that
// ends recovery, "" if none.
func fatalRecovery(tail string) string {
	for _, line := range strings.Split(tail, "\n") {
		if strings.Contains(line, "FATAL:") || strings.Contains(line, "PANIC:") {
			if strings.Contains(line, "the database system is starting up") || strings.Contains(line, "terminating connection") {
				continue
			}
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// logTail is the last n bytes of the server's log ("" if it has none).
func logTail(data string, n int) string {
	b, err := os.ReadFile(filepath.Join(data, "server.log"))
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// timelineSQL is the server's current timeline (out of recovery).
const timelineSQL = `('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int`

// recoveryStatus asks the server how far it is; one not yet consistent
// accepts no connection and is Starting.
func (m *Manager) recoveryStatus(ctx context.Context, clusterID, ep string) (Recovery, error) {
	r := Recovery{Phase: PhaseStarting, Endpoint: ep}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := m.connect(cctx, clusterID, ep, "strata-recovery")
	if err != nil {
		return r, nil
	}
	defer conn.Close(context.Background())
	var (
		inRecovery bool
		lsn        *string
		pause      string
		at         *time.Time
	)
	if err := conn.QueryRow(cctx, `SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp(),
			CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() ELSE '' END`).Scan(&inRecovery, &lsn, &at, &pause); err != nil {
		return r, nil
	}
	if lsn != nil {
		r.ReplayLSN = *lsn
	}
	r.ReplayedAt = at
	switch {
	case !inRecovery:
		r.Phase = PhasePromoted
		if err := conn.QueryRow(cctx, `SELECT pg_current_wal_lsn()::text, `+timelineSQL).Scan(&r.ReplayLSN, &r.Timeline); err != nil {
			return r, fmt.Errorf("reading the timeline: %w", err)
		}
	case pause == "paused":
		r.Phase = PhasePaused
	default:
		r.Phase = PhaseReplaying
	}
	return r, nil
}

// Promote ends the recovery of a node paused at its target (or promoted
// by itself at the end of the archive): a new timeline, the recovery
// configuration removed, the node a primary like any other.
func (m *Manager) Promote(ctx context.Context, spec RecoverySpec) (Recovery, error) {
	st, err := readState(spec.VolumeDir)
	if err != nil {
		return Recovery{}, err
	}
	ep := endpoint(st.Port)
	if st.Cluster == spec.ClusterID && st.Recovery == recoveryDone {
		return m.recoveryStatus(ctx, spec.ClusterID, ep)
	}
	r, err := m.recoveryStatus(ctx, spec.ClusterID, ep)
	if err != nil {
		return r, err
	}
	switch r.Phase {
	case PhasePaused:
		conn, err := m.connect(ctx, spec.ClusterID, ep, "strata-recovery")
		if err != nil {
			return r, err
		}
		// At the target, resuming ends recovery: the server promotes.
		_, err = conn.Exec(ctx, `SELECT pg_wal_replay_resume()`)
		conn.Close(context.Background())
		if err != nil {
			return r, fmt.Errorf("ending recovery on node %s: %w", spec.NodeID, err)
		}
	case PhasePromoted:
	default:
		return r, fmt.Errorf("node %s is %s, not yet at its target", spec.NodeID, r.Phase)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for r.Phase != PhasePromoted {
		if time.Now().After(deadline) {
			return r, fmt.Errorf("node %s: not promoted after 2m (%s)", spec.NodeID, r.Phase)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if r, err = m.recoveryStatus(ctx, spec.ClusterID, ep); err != nil {
			return r, err
		}
	}
	if err := os.Remove(filepath.Join(DataDir(spec.VolumeDir), recoveryConf)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	st.Recovery = recoveryDone
	if err := writeState(spec.VolumeDir, st); err != nil {
		return r, err
	}
	m.log.Info("promoted", zap.String("cluster", spec.ClusterID), zap.String("node", spec.NodeID), zap.Int("timeline", r.Timeline), zap.String("lsn", r.ReplayLSN))
	return r, nil
}

// Verify checks that the server at endpoint answers as a database: a read
// of its catalog, then query (if any) in a read-only transaction bounded
// to a minute, which must not fail nor answer a single false.
func (m *Manager) Verify(ctx context.Context, clusterID, endpoint, query string) error {
	conn, err := m.connect(ctx, clusterID, endpoint, "strata-verify")
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_class`).Scan(&n); err != nil {
		return fmt.Errorf("reading the catalog: %w", err)
	}
	if n == 0 {
		return errors.New("the catalog is empty")
	}
	if strings.TrimSpace(query) == "" {
		return nil
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = '60s'`); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, query, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return fmt.Errorf("verify query: %w", err)
	}
	var answers [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			rows.Close()
			return fmt.Errorf("verify query: %w", err)
		}
		if len(answers) < 2 {
			answers = append(answers, vals)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("verify query: %w", err)
	}
	if len(answers) == 1 && len(answers[0]) == 1 {
		if b, ok := answers[0][0].(bool); ok && !b {
			return errors.New("verify query answered false")
		}
	}
	return nil
}

// ArchivePoint is the end of a cluster's archived WAL.
type ArchivePoint struct {
	// LSN is where the newest archived segment ends, on Timeline.
	LSN      uint64
	Timeline int
	// At is when that segment was archived: every transaction committed
	// before then is restorable.
	At      time.Time
	Segment string
}

// ArchiveEnd finds the newest segment in the cluster's archive (highest
// timeline, then position); ok is false for an empty archive.
func (m *Manager) ArchiveEnd(ctx context.Context, clusterID string) (ArchivePoint, bool, error) {
	if m.archive == nil {
		return ArchivePoint{}, false, nil
	}
	files, err := m.archive.List(ctx, clusterID)
	if err != nil {
		return ArchivePoint{}, false, err
	}
	var best providers.WALFile
	for _, f := range files {
		// Names sort as timeline, then position.
		if len(f.Name) == segmentNameLen && f.Name > best.Name {
			if _, _, ok := walPosition(f.Name); ok {
				best = f
			}
		}
	}
	if best.Name == "" {
		return ArchivePoint{}, false, nil
	}
	tli, segno, _ := walPosition(best.Name)
	return ArchivePoint{LSN: (segno + 1) * walSegmentSize, Timeline: int(tli), At: best.StoredAt.UTC(), Segment: best.Name}, true, nil
}

// CreateRestorePoint makes a named restore point on the primary at
// endpoint and has it archived at once (WaitArchived); archived says
// whether it was within a few seconds.
func (m *Manager) CreateRestorePoint(ctx context.Context, clusterID, endpoint, name string) (lsn string, timeline int, archived bool, err error) {
	conn, err := m.connect(ctx, clusterID, endpoint, "strata-restore-point")
	if err != nil {
		return "", 0, false, err
	}
	err = conn.QueryRow(ctx, `SELECT pg_create_restore_point($1)::text, `+timelineSQL, name).Scan(&lsn, &timeline)
	conn.Close(context.Background())
	if err != nil {
		return "", 0, false, fmt.Errorf("pg_create_restore_point: %w", err)
	}
	at, err := ParseLSN(lsn)
	if err != nil {
		return "", 0, false, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return lsn, timeline, m.WaitArchived(wctx, clusterID, endpoint, at) == nil, nil
}

// WaitArchived waits until the cluster's archive holds the WAL up to lsn,
// asking the primary at endpoint to switch segments (a backup taken on a
// replica ends where the primary may still be writing); it gives up at
// ctx's deadline.
func (m *Manager) WaitArchived(ctx context.Context, clusterID, endpoint string, lsn uint64) error {
	switched := false
	for {
		p, ok, err := m.ArchiveEnd(ctx, clusterID)
		if err != nil {
			return err
		}
		if ok && p.LSN > lsn {
			return nil
		}
		if !switched {
			conn, err := m.connect(ctx, clusterID, endpoint, "strata-archive")
			if err == nil {
				var cur string
				err = conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&cur)
				if c, perr := ParseLSN(cur); err == nil && perr == nil && c <= lsn {
					// Nothing written after lsn yet: write something so
					// that the switch has a segment to close.
					_, err = conn.Exec(ctx, `SELECT pg_logical_emit_message(false, 'strata', 'archive')`)
				}
				if err == nil {
					_, err = conn.Exec(ctx, `SELECT pg_switch_wal()`)
				}
				conn.Close(context.Background())
				switched = err == nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("WAL up to %s not archived: %w", FormatLSN(lsn), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
