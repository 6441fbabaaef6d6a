package workercmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/codec"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/databases/postgres"
	"github.com/stratabackup/strata/internal/localfaults"
	"github.com/stratabackup/strata/internal/zapadapter"
	"github.com/stratabackup/strata/metrics"
	"github.com/stratabackup/strata/metrics/prom"
	"github.com/stratabackup/strata/notify"
	"github.com/stratabackup/strata/providers"
	_ "github.com/stratabackup/strata/providers/clouds"
	"github.com/stratabackup/strata/providers/local"
	"github.com/stratabackup/strata/secrets"
	"github.com/stratabackup/strata/workflows"
)

// deps are what the activities run on.
type deps struct {
	catalog      catalog.Store
	local        *local.Provider
	databases    *postgres.Manager // nil: no PostgreSQL on this machine
	providers    providers.Registry
	provisioners map[string]providers.Provisioner
	secrets      *secrets.Key
	notifier     *notify.Sender
	metrics      *prom.Exporter
	closers      []func()
}

func (d *deps) Close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	if d.local != nil {
		_ = d.local.Close()
	}
	if d.catalog != nil {
		_ = d.catalog.Close()
	}
}

func openDeps(ctx context.Context, o options, logger *zap.Logger) (deps, error) {
	d := deps{metrics: o.metrics}
	cat, err := catalog.Open(ctx, o.catalog)
	if err != nil {
		return d, fmt.Errorf("opening catalog: %w", err)
	}
	d.catalog = cat
	if d.secrets, err = loadSecretsKey(ctx, o, cat, logger); err != nil {
		d.Close()
		return d, err
	}
	d.notifier = &notify.Sender{AllowPrivate: o.notifyAllowPrivate}
	lp, err := local.New(local.Options{Root: filepath.Join(o.dataDir, "local"), Faults: localfaults.FromCatalog(cat.GetFaults), Logger: logger.Named("local")})
	if err != nil {
		d.Close()
		return d, err
	}
	d.local = lp
	d.databases = openDatabases(o, logger)
	d.providers = providers.Registry{lp.Name(): lp}
	d.provisioners = map[string]providers.Provisioner{lp.Name(): lp.Provisioner()}
	if err := openClouds(ctx, o, &d, logger); err != nil {
		d.Close()
		return d, err
	}
	return d, nil
}

// openClouds adds one provider per configured cloud region, opened by name
// through the provider registry: one SDK client and one set of rate-limit
// buckets per region, shared by all activities.
func openClouds(ctx context.Context, o options, d *deps, logger *zap.Logger) error {
	for _, c := range []struct {
		name, regions string
		cfg           providers.Config
		needsProject  bool
	}{
		{name: "aws", regions: o.awsRegions, cfg: providers.Config{Endpoint: o.awsEndpoint}},
		{name: "gcp", regions: o.gcpRegions, cfg: providers.Config{Project: o.gcpProject, Endpoint: o.gcpEndpoint}, needsProject: true},
	} {
		regions := splitList(c.regions)
		if len(regions) > 0 && c.needsProject && c.cfg.Project == "" {
			return fmt.Errorf("--%s-regions needs --%s-project (or STRATA_%s_PROJECT)", c.name, c.name, strings.ToUpper(c.name))
		}
		for _, region := range regions {
			cfg := c.cfg
			cfg.Region, cfg.Calls = region, d.calls(c.name, region)
			cfg.Logger = logger.Named(c.name).With(zap.String("provider", c.name), zap.String("region", region))
			in, err := providers.Open(ctx, c.name, cfg)
			if err != nil {
				return fmt.Errorf("%s provider for %s: %w", c.name, region, err)
			}
			d.add(providers.Key(c.name, region), in)
		}
	}
	return nil
}

// calls counts a provider region's API requests in the worker's metrics.
func (d *deps) calls(provider, region string) providers.CallCounter {
	if d.metrics == nil {
		return nil
	}
	return metrics.NewAPICalls(d.metrics.Handler(), provider, region)
}

// metricsHandler is the SDK metrics handler of the worker's client (nil:
// the SDK's default, none).
func (d *deps) metricsHandler() client.MetricsHandler {
	if d.metrics == nil {
		return nil
	}
	return d.metrics.Handler()
}

// fleet are the fleet gauges the monitor refreshes (nil: none).
func (d *deps) fleet() *metrics.FleetGauges {
	if d.metrics == nil {
		return nil
	}
	return d.metrics.Fleet
}

// add serves in under key, closing it with the other deps.
func (d *deps) add(key string, in providers.Instance) {
	d.providers[key] = in.Provider
	d.provisioners[key] = in.Provisioner
	if in.Close != nil {
		d.closers = append(d.closers, func() { _ = in.Close() })
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func runProduction(ctx context.Context, o options, logger *zap.Logger) error {
	d, err := openDeps(ctx, o, logger)
	if err != nil {
		return err
	}
	defer d.Close()
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return fmt.Errorf("reading Temporal client settings: %w", err)
	}
	if o.temporalAddress != "" {
		opts.HostPort = o.temporalAddress
	}
	if o.namespace != "" {
		opts.Namespace = o.namespace
	}
	if opts.Namespace == "" {
		opts.Namespace = client.DefaultNamespace
	}
	opts.Logger = zapadapter.New(logger)
	opts.MetricsHandler = d.metricsHandler()
	api.PreferUncompressedOnLoopback(&opts)
	codec.Apply(&opts, o.keys)
	tc, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("connecting to Temporal at %s: %w", opts.HostPort, err)
	}
	defer tc.Close()
	if err := checkSearchAttributes(ctx, tc, opts.Namespace); err != nil {
		return err
	}
	logger.Info("strata worker starting", zap.String("temporal", opts.HostPort), zap.String("namespace", opts.Namespace), zap.String("taskQueue", api.TaskQueue))
	if o.codecListen != "" {
		if _, err := startCodecServer(ctx, o, splitList(o.codecOrigins), logger); err != nil {
			return err
		}
	}
	if err := ensureSchedules(ctx, tc, d, o); err != nil {
		return err
	}
	return serve(ctx, tc, &d, o.cfg, o.tuning, logger)
}

// serve runs the worker until ctx ends.
func serve(ctx context.Context, tc client.Client, d *deps, cfg activities.Config, tuning workflows.WorkerTuning, logger *zap.Logger) error {
	workflows.ConfigureProcess(tuning)
	logger.Info("worker settings", zap.Stringer("tuning", tuning))
	go adoptDatabases(ctx, *d, logger)
	w := worker.New(tc, api.TaskQueue, workflows.WorkerOptions(tuning))
	workflows.Register(w, d.activities(cfg, tc, logger), workflows.Options{})
	if err := w.Start(); err != nil {
		return fmt.Errorf("starting worker: %w", err)
	}
	if err := workflows.StartControl(ctx, tc, api.TaskQueue); err != nil {
		w.Stop()
		return err
	}
	// Clusters recorded before lifecycles existed (or whose lifecycle was
	// terminated) get theirs.
	go func() {
		if _, err := activities.EnsureLifecycles(ctx, d.catalog, &activities.LifecycleStarter{Temporal: tc, TaskQueue: api.TaskQueue}, logger); err != nil && ctx.Err() == nil {
			logger.Warn("starting clusters' lifecycle workflows failed", zap.Error(err))
		}
	}()
	<-ctx.Done()
	logger.Info("stopping worker")
	w.Stop()
	return nil
}

// activities are the worker's activities; tc nil leaves out what needs
// Temporal (setting up the dev demo clusters).
func (d deps) activities(cfg activities.Config, tc client.Client, logger *zap.Logger) *activities.Set {
	return activities.New(activities.Deps{
		Catalog: d.catalog, Providers: d.providers, Provisioners: d.provisioners, Config: cfg, Logger: logger.Named("activities"),
		Secrets: d.secrets, Notifier: d.notifier, Temporal: tc, TaskQueue: api.TaskQueue,
		// New clusters' volumes: the local provider's.
		Volumes:   map[string]activities.VolumeProvisioner{d.local.Name(): d.local},
		Databases: d.databaseServers(),
		Fleet:     d.fleet(),
	})
}

// openDatabases finds PostgreSQL for postgres clusters; without it the
// worker runs, and refuses postgres clusters saying why.
func openDatabases(o options, logger *zap.Logger) *postgres.Manager {
	// The data directory is Strata's: the server user may search it down
	// to the volumes, and read nothing else in it.
	archive, err := local.NewWALArchive(filepath.Join(o.dataDir, "wal"))
	if err != nil {
		logger.Warn("postgres clusters are not available on this worker", zap.Error(err))
		return nil
	}
	m, err := postgres.New(postgres.Config{Root: o.dataDir, User: os.Getenv("STRATA_PG_USER"),
		Archive: archive, SecretsDir: filepath.Join(o.dataDir, "postgres"), Logger: logger.Named("postgres")})
	if err != nil {
		logger.Warn("postgres clusters are not available on this worker", zap.Error(err))
		return nil
	}
	logger.Info("postgres clusters available", zap.String("binDir", m.BinDir()))
	return m
}

// databaseServers is the manager as the activities take it (a nil
// manager is no interface value, not a nil one).
func (d deps) databaseServers() activities.DatabaseServers {
	if d.databases == nil {
		return nil
	}
	return d.databases
}

// adoptDatabases starts again the servers of Running postgres clusters
// that are not up (after the machine restarted); those that run, which a
// killed worker left running, are found by their ports and left as they
// are.
func adoptDatabases(ctx context.Context, d deps, logger *zap.Logger) {
	if d.databases == nil {
		return
	}
	cls, err := d.catalog.ListClusters(ctx)
	if err != nil {
		logger.Warn("listing clusters to adopt their servers", zap.Error(err))
		return
	}
	for _, cl := range cls {
		if api.EngineOf(cl.Engine) != api.EnginePostgres || (cl.Status != "" && cl.Status != api.ClusterRunning) {
			continue
		}
		if _, err := d.databases.EnsureCluster(ctx, activities.ServerSpec(cl)); err != nil {
			logger.Warn("postgres cluster's servers are not all up", zap.String("cluster", cl.ID), zap.Error(err))
			continue
		}
		logger.Info("postgres cluster adopted", zap.String("cluster", cl.ID))
	}
}

// loadSecretsKey reads the key channel secrets are sealed to (STRATA_SECRET_KEY,
// --secret-key-file, or <data-dir>/secret.key, generated when missing),
// publishes its public half in the catalog and seals channels stored
// before sealing existed.
func loadSecretsKey(ctx context.Context, o options, cat catalog.Store, logger *zap.Logger) (*secrets.Key, error) {
	var key *secrets.Key
	var err error
	switch env := os.Getenv(secrets.EnvKey); {
	case env != "":
		key, err = secrets.Decode(env)
	case o.secretKeyFile != "":
		key, err = secrets.Load(o.secretKeyFile)
	default:
		path := filepath.Join(o.dataDir, secrets.FileName)
		var created bool
		key, created, err = secrets.LoadOrCreate(path)
		if created {
			logger.Info("generated the key channel secrets are sealed to; other workers of this catalog need a copy (--secret-key-file)", zap.String("path", path))
		}
	}
	if err != nil {
		return nil, err
	}
	n, err := activities.PublishSecretsKey(ctx, cat, key)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		logger.Info("sealed the secrets of channels stored before sealing existed", zap.Int("channels", n))
	}
	return key, nil
}

// ensureSchedules creates or updates the worker's own Temporal Schedules:
// the orphan reconciler and the jobs monitor.
func ensureSchedules(ctx context.Context, tc client.Client, d deps, o options) error {
	sc := tc.ScheduleClient()
	grace := api.Duration(o.reconcileGrace)
	if err := activities.EnsureWorkerSchedule(ctx, sc, api.TaskQueue, api.ReconcileScheduleID, o.reconcileEvery,
		api.ReconcileWorkflowName, api.ReconcileRequest{Grace: &grace}, "Reconcile snapshots"); err != nil {
		return err
	}
	return activities.EnsureWorkerSchedule(ctx, sc, api.TaskQueue, api.MonitorScheduleID, o.monitorEvery,
		api.MonitorWorkflowName, api.MonitorRequest{FreshnessMultiple: o.cfg.FreshnessMultiple, MaxArchiveLag: api.Duration(o.cfg.MaxArchiveLag)}, "Monitor jobs")
}

// checkSearchAttributes fails with the command to run when the namespace
// lacks Strata's search attributes, instead of failing every backup later.
func checkSearchAttributes(ctx context.Context, tc client.Client, namespace string) error {
	resp, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing search attributes of namespace %s: %w", namespace, err)
	}
	var missing []string
	for _, name := range api.SearchAttributeNames {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var cmds []string
	for _, m := range missing {
		cmds = append(cmds, fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type Keyword", namespace, m))
	}
	return fmt.Errorf("namespace %s lacks search attributes %s; register them with:\n  %s", namespace, strings.Join(missing, ", "), strings.Join(cmds, "\n  "))
}
