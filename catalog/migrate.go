package catalog

import (
	"context"
	"fmt"
)

// migration is one schema version. Migrations are append-only: never edit or
// reorder a released one; add a new version instead. Statements are written
// once for both engines (BIGINT unix milliseconds for times, TEXT, BOOLEAN,
// DOUBLE PRECISION), and may be given per dialect where they must differ.
type migration struct {
	version  int64
	name     string
	stmts    []string
	postgres []string // replaces stmts on Postgres when set
}

// migrationLockKey is the first key of the Postgres advisory lock taken while
// migrating ("STRA").
const migrationLockKey int32 = 0x53545241

var migrations = []migration{
	{
		version: 1,
		name:    "clusters, nodes, volumes, locks, backups, snapshots",
		stmts: []string{
			`CREATE TABLE clusters (
				id          TEXT PRIMARY KEY,
				description TEXT NOT NULL DEFAULT '',
				provider    TEXT NOT NULL DEFAULT '',
				region      TEXT NOT NULL DEFAULT '',
				project_id  TEXT NOT NULL DEFAULT '',
				network_id  TEXT NOT NULL DEFAULT '',
				backup_seq  BIGINT NOT NULL DEFAULT 0,
				lock_seq    BIGINT NOT NULL DEFAULT 0,
				faults      TEXT NOT NULL DEFAULT '{}',
				created_at  BIGINT NOT NULL
			)`,
			`CREATE TABLE nodes (
				cluster_id              TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
				id                      TEXT NOT NULL,
				ordinal                 INTEGER NOT NULL,
				healthy                 BOOLEAN NOT NULL DEFAULT TRUE,
				replication_lag_seconds DOUBLE PRECISION,
				PRIMARY KEY (cluster_id, id),
				UNIQUE (cluster_id, ordinal)
			)`,
			`CREATE TABLE volumes (
				cluster_id TEXT NOT NULL,
				node_id    TEXT NOT NULL,
				id         TEXT NOT NULL,
				ordinal    INTEGER NOT NULL,
				size_gb    INTEGER NOT NULL DEFAULT 0,
				path       TEXT NOT NULL DEFAULT '',
				zone       TEXT NOT NULL DEFAULT '',
				PRIMARY KEY (cluster_id, id),
				FOREIGN KEY (cluster_id, node_id) REFERENCES nodes (cluster_id, id) ON DELETE CASCADE
			)`,
			`CREATE INDEX volumes_node_idx ON volumes (cluster_id, node_id, ordinal)`,
			`CREATE TABLE locks (
				cluster_id  TEXT PRIMARY KEY REFERENCES clusters (id) ON DELETE CASCADE,
				holder      TEXT NOT NULL,
				token       BIGINT NOT NULL,
				acquired_at BIGINT NOT NULL,
				expires_at  BIGINT NOT NULL
			)`,
			`CREATE TABLE backups (
				id                TEXT PRIMARY KEY,
				cluster_id        TEXT NOT NULL REFERENCES clusters (id),
				job_id            TEXT NOT NULL DEFAULT '',
				request_id        TEXT NOT NULL DEFAULT '',
				workflow_id       TEXT NOT NULL DEFAULT '',
				label             TEXT NOT NULL DEFAULT '',
				idx               BIGINT NOT NULL,
				status            TEXT NOT NULL,
				reason            TEXT NOT NULL DEFAULT '',
				created_at        BIGINT NOT NULL,
				started_at        BIGINT,
				completed_at      BIGINT,
				deadline          BIGINT,
				preferred_node_id TEXT NOT NULL DEFAULT '',
				UNIQUE (cluster_id, idx)
			)`,
			// ListBackups: newest first, overall, per cluster, per job, per status.
			`CREATE INDEX backups_created_idx ON backups (created_at DESC, idx DESC)`,
			`CREATE INDEX backups_cluster_created_idx ON backups (cluster_id, created_at DESC, idx DESC)`,
			`CREATE INDEX backups_job_created_idx ON backups (job_id, created_at DESC, idx DESC)`,
			`CREATE INDEX backups_status_created_idx ON backups (status, created_at DESC, idx DESC)`,
			`CREATE TABLE backup_snapshots (
				backup_id   TEXT NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
				volume_id   TEXT NOT NULL,
				node_id     TEXT NOT NULL DEFAULT '',
				snapshot_id TEXT NOT NULL DEFAULT '',
				status      TEXT NOT NULL,
				progress    INTEGER NOT NULL DEFAULT 0,
				size_gb     INTEGER NOT NULL DEFAULT 0,
				error       TEXT NOT NULL DEFAULT '',
				PRIMARY KEY (backup_id, volume_id)
			)`,
		},
	},
	{
		version: 2,
		name:    "backup deletion and holds, jobs",
		stmts: []string{
			`ALTER TABLE backups ADD COLUMN deletion_error TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE backups ADD COLUMN deletion_started_at BIGINT`,
			`ALTER TABLE backups ADD COLUMN deleted_at BIGINT`,
			// A hold is a restore (or other operation) using a backup; held
			// backups cannot be deleted. Holders of one backup are read by
			// the primary key's prefix.
			`CREATE TABLE backup_holds (
				backup_id  TEXT NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
				holder     TEXT NOT NULL,
				created_at BIGINT NOT NULL,
				PRIMARY KEY (backup_id, holder)
			)`,
			`CREATE TABLE jobs (
				id          TEXT PRIMARY KEY,
				cluster_id  TEXT NOT NULL REFERENCES clusters (id),
				schedule_id TEXT NOT NULL DEFAULT '',
				every_ms    BIGINT NOT NULL DEFAULT 0,
				offset_ms   BIGINT NOT NULL DEFAULT 0,
				label       TEXT NOT NULL DEFAULT '',
				keep_last   INTEGER NOT NULL DEFAULT 0,
				keep_hourly INTEGER NOT NULL DEFAULT 0,
				keep_daily  INTEGER NOT NULL DEFAULT 0,
				keep_weekly INTEGER NOT NULL DEFAULT 0,
				paused      BOOLEAN NOT NULL DEFAULT FALSE,
				created_at  BIGINT NOT NULL,
				updated_at  BIGINT NOT NULL,
				deleted_at  BIGINT
			)`,
			// ListJobs of one cluster, oldest first.
			`CREATE INDEX jobs_cluster_idx ON jobs (cluster_id, created_at, id)`,
		},
	},
	{
		version: 3,
		name:    "cluster status, projects, networks, restores",
		stmts: []string{
			// Clusters registered before statuses existed are Running.
			`ALTER TABLE clusters ADD COLUMN status TEXT NOT NULL DEFAULT 'Running'`,
			`ALTER TABLE clusters ADD COLUMN status_reason TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE clusters ADD COLUMN restored_from TEXT NOT NULL DEFAULT ''`,
			`CREATE TABLE projects (
				id         TEXT PRIMARY KEY,
				created_at BIGINT NOT NULL
			)`,
			`CREATE TABLE networks (
				id         TEXT PRIMARY KEY,
				project_id TEXT NOT NULL REFERENCES projects (id),
				provider   TEXT NOT NULL,
				region     TEXT NOT NULL,
				created_at BIGINT NOT NULL
			)`,
			// ListNetworks of one project.
			`CREATE INDEX networks_project_idx ON networks (project_id, id)`,
			`CREATE TABLE restores (
				id                TEXT PRIMARY KEY,
				backup_id         TEXT NOT NULL,
				source_cluster_id TEXT NOT NULL DEFAULT '',
				cluster_id        TEXT NOT NULL DEFAULT '',
				status            TEXT NOT NULL,
				reason            TEXT NOT NULL DEFAULT '',
				workflow_id       TEXT NOT NULL DEFAULT '',
				created_at        BIGINT NOT NULL,
				started_at        BIGINT,
				completed_at      BIGINT
			)`,
			// ListRestores: newest first, overall and per backup.
			`CREATE INDEX restores_backup_created_idx ON restores (backup_id, created_at DESC)`,
			`CREATE INDEX restores_created_idx ON restores (created_at DESC)`,
		},
	},
	{
		version: 4,
		name:    "notification channels",
		stmts: []string{
			`CREATE TABLE channels (
				id                TEXT PRIMARY KEY,
				project_id        TEXT NOT NULL REFERENCES projects (id),
				kind              TEXT NOT NULL,
				url               TEXT NOT NULL DEFAULT '',
				secret            TEXT NOT NULL DEFAULT '',
				email             TEXT NOT NULL DEFAULT '',
				smtp_host         TEXT NOT NULL DEFAULT '',
				smtp_user         TEXT NOT NULL DEFAULT '',
				smtp_password_env TEXT NOT NULL DEFAULT '',
				sender            TEXT NOT NULL DEFAULT '',
				created_at        BIGINT NOT NULL
			)`,
			`CREATE INDEX channels_project_idx ON channels (project_id, id)`,
		},
	},
	{
		version: 5,
		name:    "job monitoring state",
		stmts: []string{
			`ALTER TABLE jobs ADD COLUMN stale BOOLEAN NOT NULL DEFAULT FALSE`,
			`ALTER TABLE jobs ADD COLUMN seen_skipped INTEGER NOT NULL DEFAULT 0`,
			`ALTER TABLE jobs ADD COLUMN seen_missed INTEGER NOT NULL DEFAULT 0`,
		},
	},
	{
		version: 6,
		name:    "backup indexes by job or cluster and status",
		stmts: []string{
			// The newest backup of a job or cluster in one status (the
			// monitor's latest Completed backup of each job, a restore of a
			// cluster's latest): without them SQLite walks
			// backups_status_created_idx, every Completed backup of every
			// cluster, until it meets one of the job's (all of them for a
			// job with none).
			`CREATE INDEX backups_job_status_created_idx ON backups (job_id, status, created_at DESC, idx DESC, id DESC)`,
			`CREATE INDEX backups_cluster_status_created_idx ON backups (cluster_id, status, created_at DESC, idx DESC, id DESC)`,
		},
	},
	{
		version: 7,
		name:    "when the monitor last read each job's schedule",
		stmts: []string{
			`ALTER TABLE jobs ADD COLUMN schedule_checked_at BIGINT`,
		},
	},
	{
		version: 8,
		name:    "default project and network, volumes by provider reference",
		stmts: []string{
			// Every catalog has them, whatever mode created it: `cluster
			// create` and restores default to them.
			`INSERT INTO projects (id, created_at) VALUES ('default', CAST(strftime('%s', 'now') AS BIGINT) * 1000) ON CONFLICT (id) DO NOTHING`,
			`INSERT INTO networks (id, project_id, provider, region, created_at)
				VALUES ('default', 'default', 'local', 'local', CAST(strftime('%s', 'now') AS BIGINT) * 1000) ON CONFLICT (id) DO NOTHING`,
			// A volume belongs to at most one live cluster (CreateCluster).
			`CREATE INDEX volumes_path_idx ON volumes (path)`,
			// The reconciler's open restores.
			`CREATE INDEX restores_status_idx ON restores (status)`,
			// Channels' URLs are stored sealed; listings show this.
			`ALTER TABLE channels ADD COLUMN url_display TEXT NOT NULL DEFAULT ''`,
			// Catalog-wide settings (the worker's public sealing key).
			`CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		},
		postgres: []string{
			`INSERT INTO projects (id, created_at) VALUES ('default', CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)) ON CONFLICT (id) DO NOTHING`,
			`INSERT INTO networks (id, project_id, provider, region, created_at)
				VALUES ('default', 'default', 'local', 'local', CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)) ON CONFLICT (id) DO NOTHING`,
			`CREATE INDEX volumes_path_idx ON volumes (path)`,
			`CREATE INDEX restores_status_idx ON restores (status)`,
			`ALTER TABLE channels ADD COLUMN url_display TEXT NOT NULL DEFAULT ''`,
			`CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		},
	},
	{
		version: 9,
		name:    "cluster engine, node role and endpoint",
		stmts: []string{
			// Clusters recorded before engines existed hold data only.
			`ALTER TABLE clusters ADD COLUMN engine TEXT NOT NULL DEFAULT 'volume'`,
			// A postgres cluster's nodes: primary or replica, and the
			// address of the node's server; empty for volume clusters.
			`ALTER TABLE nodes ADD COLUMN role TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE nodes ADD COLUMN endpoint TEXT NOT NULL DEFAULT ''`,
		},
	},
	{
		version: 10,
		name:    "a postgres backup's database backup",
		stmts: []string{
			// The JSON of api.DatabaseBackup: what pg_backup_start and
			// pg_backup_stop said of a postgres cluster's backup; '' for
			// none (volume clusters, and backups recorded before).
			`ALTER TABLE backups ADD COLUMN db_backup TEXT NOT NULL DEFAULT ''`,
		},
	},
	{
		version: 11,
		name:    "point-in-time restores and restore points",
		stmts: []string{
			// The JSON of a point-in-time restore's api.RecoveryTarget; ''
			// for none.
			`ALTER TABLE restores ADD COLUMN target TEXT NOT NULL DEFAULT ''`,
			// When the monitor found a postgres cluster's WAL archiving
			// stalled; NULL while it is not.
			`ALTER TABLE clusters ADD COLUMN wal_stalled_at BIGINT`,
			// Named points in a postgres cluster's WAL
			// (pg_create_restore_point), restorable by name.
			`CREATE TABLE restore_points (
				cluster_id TEXT NOT NULL,
				name       TEXT NOT NULL,
				lsn        TEXT NOT NULL,
				timeline   BIGINT NOT NULL,
				archived   BOOLEAN NOT NULL,
				created_at BIGINT NOT NULL,
				PRIMARY KEY (cluster_id, name)
			)`,
		},
	},
	{
		version: 12,
		name:    "backup profiles and cluster power",
		stmts: []string{
			// A user's backup profile: spec is the JSON of its schedules,
			// PITR and NoBackups (built-in profiles are not stored).
			`CREATE TABLE profiles (
				name        TEXT PRIMARY KEY,
				description TEXT NOT NULL DEFAULT '',
				spec        TEXT NOT NULL,
				created_at  BIGINT NOT NULL,
				updated_at  BIGINT NOT NULL
			)`,
			`ALTER TABLE clusters ADD COLUMN profile TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE clusters ADD COLUMN power TEXT NOT NULL DEFAULT 'Running'`,
			`ALTER TABLE clusters ADD COLUMN power_reason TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE clusters ADD COLUMN powered_off_at BIGINT`,
			`ALTER TABLE clusters ADD COLUMN deletion_at BIGINT`,
			`ALTER TABLE clusters ADD COLUMN final_backup_id TEXT NOT NULL DEFAULT ''`,
			`CREATE INDEX clusters_profile_idx ON clusters (profile)`,
			// The profile that made a job ('': the user's own).
			`ALTER TABLE jobs ADD COLUMN profile TEXT NOT NULL DEFAULT ''`,
		},
	},
}

// migrate applies the migrations this database lacks, each recorded in
// schema_migrations, in one transaction that excludes every other migrating
// process: a Postgres advisory lock (per schema), or SQLite's write lock
// (write transactions BEGIN IMMEDIATE).
func (s *sqlStore) migrate(ctx context.Context) error {
	return s.write(ctx, func(r runner) error {
		if s.dialect == dialectPostgres {
			// The key is per schema so that catalogs in different schemas
			// migrate independently.
			if _, err := r.exec(ctx, `SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))`, migrationLockKey); err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		if _, err := r.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    BIGINT PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at BIGINT NOT NULL
		)`); err != nil {
			return err
		}
		applied := map[int64]bool{}
		rows, err := r.query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		err = eachRow(rows, func(sc scanner) error {
			var v int64
			if err := sc.Scan(&v); err != nil {
				return err
			}
			applied[v] = true
			return nil
		})
		if err != nil {
			return err
		}
		for _, m := range migrations {
			if applied[m.version] {
				continue
			}
			stmts := m.stmts
			if s.dialect == dialectPostgres && m.postgres != nil {
				stmts = m.postgres
			}
			for _, stmt := range stmts {
				if _, err := r.exec(ctx, stmt); err != nil {
					return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
				}
			}
			if _, err := r.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, s.now().UnixMilli()); err != nil {
				return fmt.Errorf("record migration %d: %w", m.version, err)
			}
		}
		return nil
	})
}
