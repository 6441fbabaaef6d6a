// Package workercmd is the worker command (`go run ./worker`): its flags,
// dev and production modes, and what it starts. It is a package, not main,
// so tests run the real command (in a process of their own).
//
//	go run ./worker --dev   # everything in one process, on this machine
//	go run ./worker         # production: an existing Temporal and a Postgres catalog
//
// Dev mode embeds a Temporal server (SQLite file under --data-dir, so a
// restart keeps all history) with its Web UI, Strata's search attributes,
// the SQLite catalog, the local provider and demo clusters.
package workercmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/codec"
	"github.com/stratabackup/strata/api/devenv"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/metrics/prom"
	"github.com/stratabackup/strata/workflows"
)

type options struct {
	dev             bool
	dataDir         string
	catalog         string
	temporalAddress string
	namespace       string
	temporalPort    int
	uiPort          int
	logLevel        string
	cfg             activities.Config
	tuning          workflows.WorkerTuning
	awsRegions      string
	awsEndpoint     string
	gcpProject      string
	gcpRegions      string
	gcpEndpoint     string
	demoPostgres    bool
	fakeClouds      bool
	reconcileEvery  time.Duration
	reconcileGrace  time.Duration
	monitorEvery    time.Duration
	// secretKeyFile holds the key channel secrets are sealed to.
	secretKeyFile string
	// notifyAllowPrivate lets notifications reach private addresses.
	notifyAllowPrivate bool
	// allowInsecureCatalog accepts a Postgres catalog without TLS.
	allowInsecureCatalog bool
	// encryptionKeyFile holds the keys payloads are encrypted with.
	encryptionKeyFile string
	// keys are encryptionKeyFile's, loaded by run.
	keys *codec.Keys
	// codecListen is the codec server's address ("" none); codecOrigins
	// are the web origins it answers.
	codecListen  string
	codecOrigins string
	// metricsListen is where /metrics is served ("" none); metrics is
	// the exporter, made by run.
	metricsListen string
	metrics       *prom.Exporter
}

// defaultCodecListen is the codec server's address in --dev with a key.
const defaultCodecListen = "127.0.0.1:8081"

// Main runs the worker command with args (without the program name) until
// SIGINT or SIGTERM, and returns its exit code: 0, 1 with the reason on
// stderr, or 2 for bad flags.
func Main(args []string) int {
	o := parseFlags(args)
	logger, err := newLogger(o.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, logger); err != nil {
		logger.Error("worker stopped", zap.Error(err))
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string) options {
	var o options
	o.cfg = activities.DefaultConfig()
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	fs.BoolVar(&o.dev, "dev", false, "run everything in one process: embedded Temporal server and Web UI, SQLite catalog, local provider, demo clusters")
	fs.StringVar(&o.dataDir, "data-dir", envOr("STRATA_DATA_DIR", devenv.DefaultDataDir), "state directory: Temporal and catalog SQLite files (dev), local provider volumes and snapshots (env STRATA_DATA_DIR)")
	fs.StringVar(&o.catalog, "catalog", os.Getenv("STRATA_CATALOG"), "catalog DSN: postgres://user@host/db or a SQLite file path (env STRATA_CATALOG; dev default <data-dir>/catalog.db)")
	fs.StringVar(&o.temporalAddress, "temporal-address", "", "Temporal frontend host:port (default $TEMPORAL_ADDRESS or the SDK's config; ignored with --dev)")
	fs.StringVar(&o.namespace, "namespace", "", "Temporal namespace (default $TEMPORAL_NAMESPACE or \"default\")")
	fs.IntVar(&o.temporalPort, "temporal-port", 7233, "dev: the embedded Temporal frontend's port")
	fs.IntVar(&o.uiPort, "ui-port", 8233, "dev: the Web UI's port (-1 disables the UI)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.awsRegions, "aws-regions", os.Getenv("STRATA_AWS_REGIONS"), "serve AWS clusters in these regions (comma-separated; credentials from the AWS default chain) (env STRATA_AWS_REGIONS)")
	fs.StringVar(&o.awsEndpoint, "aws-endpoint", os.Getenv("STRATA_AWS_ENDPOINT"), "EC2 endpoint override, for private endpoints (env STRATA_AWS_ENDPOINT)")
	fs.StringVar(&o.gcpProject, "gcp-project", envOr("STRATA_GCP_PROJECT", os.Getenv("GOOGLE_CLOUD_PROJECT")), "serve GCP clusters of this project (credentials: Application Default Credentials) (env STRATA_GCP_PROJECT or GOOGLE_CLOUD_PROJECT)")
	fs.StringVar(&o.gcpRegions, "gcp-regions", os.Getenv("STRATA_GCP_REGIONS"), "GCP regions to serve (comma-separated) (env STRATA_GCP_REGIONS)")
	fs.StringVar(&o.gcpEndpoint, "gcp-endpoint", os.Getenv("STRATA_GCP_ENDPOINT"), "Compute Engine endpoint override (env STRATA_GCP_ENDPOINT)")
	fs.DurationVar(&o.reconcileEvery, "reconcile-every", time.Hour, "run the orphan-snapshot reconciler on a Temporal Schedule this often (0: no schedule)")
	fs.DurationVar(&o.reconcileGrace, "reconcile-grace", time.Hour, "the reconciler leaves orphans younger than this alone")
	fs.DurationVar(&o.cfg.StuckAfter, "stuck-after", o.cfg.StuckAfter, "the reconciler finishes (Defunct, Failed) the records of a backup, restore or deletion whose workflow has been closed this long without finishing them (terminated, timed out)")
	o.cfg.PowerOffRetention, o.cfg.PowerOffNotice = api.DefaultPowerOffRetention, api.DefaultPowerOffNotice
	fs.Var((*daysDuration)(&o.cfg.PowerOffRetention), "poweroff-retention", "a cluster powered off this long is deleted with all its backups (accepts days: 180d)")
	fs.Var((*daysDuration)(&o.cfg.PowerOffNotice), "poweroff-notice", "this long before that deletion, the cluster's project is sent cluster.deletion_scheduled (accepts days: 14d)")
	fs.DurationVar(&o.monitorEvery, "monitor-every", 5*time.Minute, "check jobs' freshness and skipped or missed runs on a Temporal Schedule this often (0: no schedule)")
	fs.DurationVar(&o.cfg.MaxArchiveLag, "max-archive-lag", o.cfg.MaxArchiveLag, "a postgres cluster's WAL archiving is stalled (and notified, wal.archive_stalled) when a completed segment has waited longer than this to be archived")
	fs.Float64Var(&o.cfg.FreshnessMultiple, "freshness-multiple", o.cfg.FreshnessMultiple, "a job is stale (and notified) when its newest Completed backup is older than this many of its intervals")
	fs.StringVar(&o.cfg.UIURL, "ui-url", os.Getenv("STRATA_UI_URL"), "Temporal Web UI base URL for links in notifications (env STRATA_UI_URL; dev: the embedded UI)")
	fs.BoolVar(&o.fakeClouds, "fake-clouds", false, "dev: also run in-process AWS and GCP fakes with a demo cluster on each")
	fs.BoolVar(&o.demoPostgres, "demo-postgres", true, "dev: create the demo PostgreSQL cluster demo-pg where the machine has PostgreSQL (its servers outlive the worker)")
	fs.StringVar(&o.secretKeyFile, "secret-key-file", os.Getenv("STRATA_SECRET_KEY_FILE"), "key file that channel secrets are sealed to (env STRATA_SECRET_KEY_FILE, or the key itself in STRATA_SECRET_KEY; default <data-dir>/secret.key, generated when missing); every worker of a catalog needs the same one")
	fs.BoolVar(&o.notifyAllowPrivate, "notify-allow-private", false, "let notifications reach loopback, private and link-local addresses (on with --dev; cloud metadata addresses are refused regardless)")
	fs.StringVar(&o.encryptionKeyFile, "encryption-key-file", os.Getenv(codec.EnvKeyFile), `encrypt every payload Strata writes to Temporal with this key file's current key (JSON {"current": "k2", "keys": {"k1": "<base64 of 32 bytes>", "k2": "..."}}; older keys still decrypt) (env `+codec.EnvKeyFile+`); the CLI and the Go client need the same file`)
	fs.StringVar(&o.codecListen, "codec-server-listen", "", "serve the codec server (/encode, /decode) for the Web UI and the temporal CLI at this address (default with --dev and a key: "+defaultCodecListen+"; \"\" none)")
	fs.StringVar(&o.codecOrigins, "codec-server-origins", os.Getenv("STRATA_CODEC_SERVER_ORIGINS"), "web origins (scheme://host:port, comma-separated) whose pages may call the codec server: the Web UI's (env STRATA_CODEC_SERVER_ORIGINS; dev: the embedded UI)")
	fs.StringVar(&o.metricsListen, "metrics-listen", os.Getenv("STRATA_METRICS_LISTEN"), "serve Prometheus metrics on /metrics at this address (env STRATA_METRICS_LISTEN; default with --dev: "+prom.DefaultListen+"; \"\" none)")
	fs.BoolVar(&o.allowInsecureCatalog, "allow-insecure-catalog", false, "accept a Postgres catalog connection that may not use TLS (sslmode disable, allow or prefer)")
	fs.DurationVar(&o.cfg.DefaultBackupTimeout, "backup-timeout", o.cfg.DefaultBackupTimeout, "snapshot deadline for backups that name none")
	fs.DurationVar(&o.cfg.MaxBackupTimeout, "max-backup-timeout", o.cfg.MaxBackupTimeout, "longest timeout a backup may ask for")
	fs.DurationVar(&o.cfg.LockTTL, "lock-ttl", o.cfg.LockTTL, "cluster lock lease; renewed while a backup runs, lapses this long after its holder died")
	fs.DurationVar(&o.cfg.MaxLockTTL, "max-lock-ttl", o.cfg.MaxLockTTL, "longest lease any cluster lock may hold (--lock-ttl included)")
	fs.DurationVar(&o.cfg.PollInterval, "poll-interval", o.cfg.PollInterval, "how often snapshot progress is polled")
	fs.DurationVar(&o.cfg.HeartbeatTimeout, "heartbeat-timeout", o.cfg.HeartbeatTimeout, "a snapshot wait silent this long is retried on another worker")
	fs.DurationVar(&o.cfg.MaxReplicationLag, "max-replication-lag", o.cfg.MaxReplicationLag, "nodes lagging more are unhealthy (0: not checked)")
	fs.IntVar(&o.cfg.ProgressStep, "progress-step", o.cfg.ProgressStep, "also report snapshot progress to the workflow at each snapshot's completion and every this many percent, at about six history events a report (0: only when all are done; live progress stays in heartbeats and the catalog)")
	fs.IntVar(&o.tuning.MaxConcurrentActivities, "max-concurrent-activities", workflows.DefaultMaxConcurrentActivities, "activities this worker runs at once (a snapshot wait holds one for the snapshot's duration); more wait in the task queue")
	fs.IntVar(&o.tuning.MaxConcurrentWorkflowTasks, "max-concurrent-workflow-tasks", workflows.DefaultMaxConcurrentWorkflowTasks, "workflow tasks this worker runs at once")
	fs.IntVar(&o.tuning.StickyCacheSize, "sticky-cache-size", workflows.DefaultStickyCacheSize, "workflows kept in memory between their tasks; others are replayed from history when they next run")
	fs.Float64Var(&o.tuning.ActivitiesPerSecond, "activities-per-second", 0, "cap on activities started per second by this worker (0: none; cloud API limits are enforced per region by the providers)")
	_ = fs.Parse(args)
	if o.dev && !flagSet(fs, "poll-interval") {
		// Local snapshots take seconds, not minutes.
		o.cfg.PollInterval = time.Second
	}
	if o.dev && !flagSet(fs, "notify-allow-private") {
		// A laptop's test receivers listen on localhost.
		o.notifyAllowPrivate = true
	}
	if o.dev && !flagSet(fs, "metrics-listen") && os.Getenv("STRATA_METRICS_LISTEN") == "" {
		o.metricsListen = prom.DefaultListen
	}
	if o.dev && o.encryptionKeyFile != "" && !flagSet(fs, "codec-server-listen") {
		o.codecListen = defaultCodecListen
	}
	return o
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func newLogger(level string) (*zap.Logger, error) {
	var l zapcore.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(l)
	cfg.Encoding = "console"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	cfg.Sampling = nil
	return cfg.Build()
}

// checkConfig refuses settings that contradict each other before anything
// starts.
func checkConfig(o options) error {
	var p validate.Problems
	c := o.cfg
	p.Add(validate.Duration("--max-lock-ttl", c.MaxLockTTL, time.Second, 0))
	p.Add(validate.Duration("--lock-ttl", c.LockTTL, time.Second, c.MaxLockTTL))
	p.Add(validate.Duration("--max-backup-timeout", c.MaxBackupTimeout, validate.MinBackupTimeout, 0))
	p.Add(validate.Duration("--backup-timeout", c.DefaultBackupTimeout, validate.MinBackupTimeout, c.MaxBackupTimeout))
	p.Add(validate.Duration("--poll-interval", c.PollInterval, time.Millisecond, 0))
	p.Add(validate.Duration("--heartbeat-timeout", c.HeartbeatTimeout, time.Second, 0))
	p.Add(validate.Duration("--max-replication-lag", c.MaxReplicationLag, 0, 0))
	p.Add(validate.Grace(o.reconcileGrace))
	p.Add(validate.Duration("--stuck-after", c.StuckAfter, time.Second, 0))
	p.Add(validate.Duration("--poweroff-retention", c.PowerOffRetention, time.Second, 100*365*24*time.Hour))
	p.Add(validate.Duration("--poweroff-notice", c.PowerOffNotice, 0, c.PowerOffRetention))
	p.Add(validate.FreshnessMultiple(c.FreshnessMultiple))
	p.Add(validate.Duration("--max-archive-lag", c.MaxArchiveLag, time.Second, 7*24*time.Hour))
	if c.FreshnessMultiple == 0 {
		p.Add("--freshness-multiple must be positive")
	}
	if c.ProgressStep < 0 || c.ProgressStep > 100 {
		p.Addf("--progress-step %d: give 0 to 100", c.ProgressStep)
	}
	return p.Err("worker settings")
}

func run(ctx context.Context, o options, logger *zap.Logger) error {
	if err := checkConfig(o); err != nil {
		return err
	}
	abs, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	o.dataDir = abs
	if err := privateDataDir(o.dataDir); err != nil {
		return err
	}
	if o.encryptionKeyFile != "" {
		if o.keys, err = codec.LoadKeys(o.encryptionKeyFile); err != nil {
			return err
		}
		if abs, err := filepath.Abs(o.encryptionKeyFile); err == nil {
			o.encryptionKeyFile = abs
		}
		logger.Info("payloads are encrypted", zap.String("currentKey", o.keys.Current()))
	} else if o.codecListen != "" {
		return errors.New("--codec-server-listen needs --encryption-key-file: without keys there is nothing to decode")
	}
	// Without a listener nothing would read the metrics: none are recorded.
	if o.metricsListen != "" {
		if o.metrics, err = prom.New(logger.Named("metrics")); err != nil {
			return err
		}
		defer o.metrics.Close()
		o.metrics.Fleet.MaxAge = fleetMaxAge(o.monitorEvery)
		addr, err := o.metrics.Serve(ctx, o.metricsListen, logger)
		if err != nil {
			return fmt.Errorf("%w (give --metrics-listen another address, or \"\" for none)", err)
		}
		o.metricsListen = addr.String()
		logger.Info("serving metrics", zap.String("url", metricsURL(o.metricsListen)))
	}
	if o.dev {
		return runDev(ctx, o, logger)
	}
	if o.fakeClouds {
		return errors.New("--fake-clouds goes with --dev")
	}
	if o.catalog == "" {
		return errors.New("no catalog: give --catalog postgres://... (or STRATA_CATALOG), or run with --dev")
	}
	if err := checkCatalogTLS(o.catalog, o.allowInsecureCatalog); err != nil {
		return err
	}
	return runProduction(ctx, o, logger)
}

// fleetMaxAge is how long a worker serves a fleet reading: three monitor
// intervals (the monitor may run on another worker twice in a row), or an
// hour when this worker has no monitor schedule (another may have one).
func fleetMaxAge(monitorEvery time.Duration) time.Duration {
	if monitorEvery <= 0 {
		return time.Hour
	}
	return 3 * monitorEvery
}

// metricsURL is the /metrics URL of a listener's address.
func metricsURL(addr string) string { return "http://" + addr + "/metrics" }

// privateDataDir creates the data dir readable by the worker's user only,
// and tightens what an older version left readable: the catalog, Temporal's
// history, the dev setup and the secrets key are in it. (The search access
// the PostgreSQL servers' user needs is given again whenever their servers
// are ensured: see postgres.Manager.)
func privateDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("making data dir %s private: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil && fi.Mode().Perm()&0o077 != 0 {
				_ = os.Chmod(filepath.Join(dir, e.Name()), 0o600)
			}
		}
	}
	return nil
}

// checkCatalogTLS refuses a Postgres catalog that may be reached without
// TLS (sslmode disable, allow, prefer or unset: pgx's default prefer falls
// back to plaintext), unless the operator allows it. A Unix socket needs
// no TLS.
func checkCatalogTLS(dsn string, allowInsecure bool) error {
	engine, target, err := catalog.ParseDSN(dsn)
	if err != nil || engine != catalog.EnginePostgres || allowInsecure {
		return err
	}
	cfg, err := pgconn.ParseConfig(target)
	if err != nil {
		return fmt.Errorf("catalog DSN: %v", validate.Truncate(err.Error(), 200))
	}
	insecure := cfg.TLSConfig == nil
	for _, fb := range cfg.Fallbacks {
		insecure = insecure || fb.TLSConfig == nil
	}
	if insecure && !strings.HasPrefix(cfg.Host, "/") {
		return fmt.Errorf("the Postgres catalog at %s may be reached without TLS (sslmode disable, allow, prefer or unset): use sslmode=verify-full (with sslrootcert), or give --allow-insecure-catalog on a network you trust", cfg.Host)
	}
	return nil
}

// daysDuration is a duration flag that also takes days ("180d").
type daysDuration time.Duration

func (d *daysDuration) String() string { return api.FormatDuration(time.Duration(*d)) }

func (d *daysDuration) Set(s string) error {
	v, err := api.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = daysDuration(v)
	return nil
}
