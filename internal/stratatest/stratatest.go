// Package stratatest runs Strata on a real, in-process Temporal server for
// tests: one server per test package (it takes seconds to start), and per
// test an isolated environment (its own task queue, SQLite catalog, local
// provider root and worker).
package stratatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/codec"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
	"github.com/stratabackup/strata/databases/postgres"
	"github.com/stratabackup/strata/internal/fakeclouds"
	"github.com/stratabackup/strata/internal/localfaults"
	"github.com/stratabackup/strata/internal/zapadapter"
	"github.com/stratabackup/strata/metrics"
	"github.com/stratabackup/strata/metrics/prom"
	"github.com/stratabackup/strata/notify"
	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/local"
	"github.com/stratabackup/strata/secrets"
	"github.com/stratabackup/strata/starter/strata"
	"github.com/stratabackup/strata/workflows"
)

// Server is a real Temporal server with Strata's search attributes.
type Server struct {
	TS     *temporaltest.TestServer
	Client client.Client
}

// StartServer starts the server; call it from TestMain and Stop it after.
func StartServer() (*Server, error) {
	// (The dev worker and the CLI do not compress on loopback either.)
	ts := temporaltest.NewServer(temporaltest.WithBaseClientOptions(client.Options{Logger: zapadapter.New(zap.NewNop()),
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}}}))
	s := &Server{TS: ts, Client: ts.GetDefaultClient()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	attrs := map[string]enumspb.IndexedValueType{}
	for _, n := range api.SearchAttributeNames {
		attrs[n] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	ops := s.Client.OperatorService()
	ns := ts.GetDefaultNamespace()
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: ns, SearchAttributes: attrs}); err != nil {
		ts.Stop()
		return nil, fmt.Errorf("registering search attributes: %w", err)
	}
	for {
		resp, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		if err == nil && len(resp.GetCustomAttributes()) >= len(attrs) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			ts.Stop()
			return nil, fmt.Errorf("search attributes never became visible: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Main is a test package's TestMain: it runs the worker process a test
// asked for, or starts the server into *server, runs the tests and stops
// it.
func Main(m *testing.M, server **Server) {
	RunWorkerProcessIfAsked()
	s, err := StartServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Temporal test server:", err)
		os.Exit(1)
	}
	*server = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// Stop stops the server.
func (s *Server) Stop() { s.TS.Stop() }

// HostPort is the server's frontend address, for clients in other
// processes.
func (s *Server) HostPort() string { return s.TS.GetFrontendHostPort() }

// Namespace is the namespace Strata runs in.
func (s *Server) Namespace() string { return s.TS.GetDefaultNamespace() }

// TestConfig is the activity configuration tests run with: fast polls, a
// short heartbeat timeout so a stopped worker's activities move quickly.
func TestConfig() activities.Config {
	c := activities.DefaultConfig()
	c.PollInterval = 50 * time.Millisecond
	c.HeartbeatTimeout = 3 * time.Second
	c.LockTTL = 20 * time.Second
	c.DefaultBackupTimeout = time.Minute
	// A closed workflow's activities notice within a heartbeat timeout.
	c.StuckAfter = c.HeartbeatTimeout + time.Second
	return c
}

// Env is one test's Strata: catalog, local provider, worker and client.
type Env struct {
	T      *testing.T
	Server *Server
	// Client is the Temporal connection of the env's worker and of
	// Strata (the server's, or an encrypting one).
	Client    client.Client
	TaskQueue string
	Catalog   catalog.Store
	// CatalogDSN opens Catalog from another client (the CLI).
	CatalogDSN string
	// DataDir holds Root ("<DataDir>/local"), as a dev setup's data dir does.
	DataDir string
	Root    string
	Local   *local.Provider
	Strata  *strata.Client
	Config  activities.Config
	// Clouds, when set, are the AWS and GCP fakes the worker also serves.
	Clouds *fakeclouds.Clouds
	// Secrets is the worker's key for channel secrets (published in the
	// catalog, as the worker command does).
	Secrets *secrets.Key
	// ControlMaxUpdates, when set before StartWorker, makes the control
	// workflow continue as new after that many updates.
	ControlMaxUpdates int
	// Databases, in a postgres env, run postgres clusters' servers.
	Databases *postgres.Manager
	// Metrics, in a metrics env, are what the worker and its client
	// recorded, as the worker command's /metrics serves them.
	Metrics *prom.Exporter
	// Fleet are the fleet gauges the worker's monitor refreshes (in a
	// metrics env, the exporter's).
	Fleet  *metrics.FleetGauges
	worker worker.Worker
	logger *zap.Logger
}

var queues atomic.Int64

// NewEnv builds an environment and starts its worker.
func (s *Server) NewEnv(t *testing.T, cfg activities.Config) *Env {
	t.Helper()
	return s.newEnv(t, cfg, nil, nil)
}

// NewEncryptedEnv is NewEnv whose worker and client encrypt every payload
// with keys (package api/codec), on a Temporal connection of their own.
func (s *Server) NewEncryptedEnv(t *testing.T, cfg activities.Config, keys *codec.Keys) *Env {
	t.Helper()
	return s.newEnv(t, cfg, nil, keys)
}

// DialEncrypted connects to the server with payloads encrypted by keys.
func (s *Server) DialEncrypted(t *testing.T, keys *codec.Keys) client.Client {
	t.Helper()
	opts := client.Options{HostPort: s.HostPort(), Namespace: s.Namespace(), Logger: zapadapter.New(zap.NewNop()),
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}}}
	codec.Apply(&opts, keys)
	tc, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	return tc
}

// Networks of the fake clouds' regions, in project "default".
const (
	AWSNetwork = "aws-net"
	GCPNetwork = "gcp-net"
)

// NewCloudEnv is NewEnv whose worker also serves AWS and GCP clusters, on
// in-process wire-level fakes of those clouds.
func (s *Server) NewCloudEnv(t *testing.T, cfg activities.Config, snapshotDuration time.Duration) *Env {
	t.Helper()
	c, err := fakeclouds.Start(context.Background(), fakeclouds.Options{SnapshotDuration: snapshotDuration, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := s.newEnv(t, cfg, c, nil)
	e.createCloudNetworks()
	return e
}

// createCloudNetworks makes the fake clouds' networks.
func (e *Env) createCloudNetworks() {
	for _, n := range []api.Network{
		{ID: AWSNetwork, ProjectID: "default", Provider: "aws", Region: fakeclouds.AWSRegion},
		{ID: GCPNetwork, ProjectID: "default", Provider: "gcp", Region: fakeclouds.GCPRegion},
	} {
		if _, err := e.Strata.CreateNetwork(context.Background(), n); err != nil {
			e.T.Fatal(err)
		}
	}
}

// NewMetricsEnv is NewCloudEnv whose worker records its metrics as the
// worker command does: its own Temporal connection carries the exporter's
// SDK handler (Env.Metrics), the fake clouds' providers count their
// requests there, and the monitor refreshes its fleet gauges.
func (s *Server) NewMetricsEnv(t *testing.T, cfg activities.Config, snapshotDuration time.Duration) *Env {
	t.Helper()
	exp, err := prom.New(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Close() })
	c, err := fakeclouds.Start(context.Background(), fakeclouds.Options{SnapshotDuration: snapshotDuration, Fast: true,
		Calls: func(provider, region string) providers.CallCounter {
			return metrics.NewAPICalls(exp.Handler(), provider, region)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := s.buildEnv(t, cfg, c, nil, t.TempDir())
	opts := client.Options{HostPort: s.HostPort(), Namespace: s.Namespace(), Logger: zapadapter.New(zap.NewNop()),
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}}, MetricsHandler: exp.Handler()}
	tc, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	e.Client, e.Metrics, e.Fleet = tc, exp, exp.Fleet
	e.Strata = strata.New(tc)
	e.Strata.TaskQueue = e.TaskQueue
	e.StartWorker()
	t.Cleanup(e.StopWorker)
	e.createCloudNetworks()
	return e
}

// NewPostgresEnv is NewEnv whose worker also runs postgres clusters'
// servers, or skips the test where PostgreSQL is not installed. Its data
// directory is one the postgres user can reach (t.TempDir's parent is
// private to the test's user); every server it started is stopped when the
// test ends.
func (s *Server) NewPostgresEnv(t *testing.T, cfg activities.Config) *Env {
	t.Helper()
	dir, err := os.MkdirTemp("", "strata-pg-env-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	// The same root and secrets as a worker process of this env (see
	// ProcessConfig).
	archive, err := local.NewWALArchive(filepath.Join(dir, "wal"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := postgres.New(postgres.Config{Root: filepath.Join(dir, "local"), Archive: archive, SecretsDir: filepath.Join(dir, "postgres")})
	if errors.Is(err, postgres.ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "local"), 0o700); err != nil {
		t.Fatal(err)
	}
	e := s.buildEnv(t, cfg, nil, nil, dir)
	e.Databases = m
	t.Cleanup(func() { e.StopServers() })
	e.StartWorker()
	t.Cleanup(e.StopWorker)
	return e
}

// StopServers stops the servers of every postgres cluster in the catalog.
func (e *Env) StopServers() {
	cls, err := e.Catalog.ListClusters(context.Background())
	if err != nil || e.Databases == nil {
		return
	}
	for _, cl := range cls {
		if api.EngineOf(cl.Engine) == api.EnginePostgres {
			_ = e.Databases.StopCluster(context.Background(), activities.ServerSpec(cl))
		}
	}
}

func (s *Server) newEnv(t *testing.T, cfg activities.Config, clouds *fakeclouds.Clouds, keys *codec.Keys) *Env {
	t.Helper()
	e := s.buildEnv(t, cfg, clouds, keys, t.TempDir())
	e.StartWorker()
	t.Cleanup(e.StopWorker)
	return e
}

func (s *Server) buildEnv(t *testing.T, cfg activities.Config, clouds *fakeclouds.Clouds, keys *codec.Keys, dataDir string) *Env {
	t.Helper()
	e := &Env{
		T: t, Server: s, Config: cfg, Client: s.Client,
		TaskQueue:  fmt.Sprintf("strata-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), queues.Add(1)),
		CatalogDSN: catalogtest.SQLiteDSN(t),
		DataDir:    dataDir,
		logger:     zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
		Clouds:     clouds,
		Fleet:      &metrics.FleetGauges{},
	}
	e.Catalog = catalogtest.Open(t, e.CatalogDSN)
	key, err := secrets.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := activities.PublishSecretsKey(context.Background(), e.Catalog, key); err != nil {
		t.Fatal(err)
	}
	e.Secrets = key
	e.Root = filepath.Join(e.DataDir, "local")
	e.Local = e.newLocal()
	if keys != nil {
		e.Client = s.DialEncrypted(t, keys)
	}
	e.Strata = strata.New(e.Client)
	e.Strata.TaskQueue = e.TaskQueue
	if keys != nil {
		e.Strata.FailureConverter = codec.FailureConverter(codec.DataConverter(keys))
	}
	if err := activities.EnsureDefaults(context.Background(), e.Catalog); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *Env) newLocal() *local.Provider {
	p, err := newLocalProvider(e.Root, e.Catalog, e.logger)
	if err != nil {
		e.T.Fatal(err)
	}
	return p
}

// newLocalProvider is the local provider of a test worker, in-process or
// in a worker process: faults from the catalog, a copy whose owner went
// quiet for a second is resumed.
func newLocalProvider(root string, cat catalog.Store, logger *zap.Logger) (*local.Provider, error) {
	return local.New(local.Options{Root: root, Faults: localfaults.FromCatalog(cat.GetFaults), StaleAfter: time.Second, Logger: logger})
}

// workerSpec is what a test worker runs on.
type workerSpec struct {
	client    client.Client
	taskQueue string
	// identity is the worker's Identity; empty means the client's.
	identity string
	// tuning is the worker's tuning (zero: the production defaults); the
	// process-wide part applies only if this is the process's first worker.
	tuning  workflows.WorkerTuning
	catalog catalog.Store
	local   *local.Provider
	dbs     *postgres.Manager
	clouds  *fakeclouds.Clouds
	config  activities.Config
	logger  *zap.Logger
	secrets *secrets.Key
	// controlMaxUpdates: see Env.ControlMaxUpdates.
	controlMaxUpdates int
	// fleet receives the monitor's fleet gauges (nil: none).
	fleet *metrics.FleetGauges
}

// newWorker builds (but does not start) a test worker: Env.StartWorker's
// and a worker process's, so that the two cannot drift apart.
func newWorker(s workerSpec) worker.Worker {
	// The production worker's options, so that tests (and the benchmarks'
	// worker processes) measure what the worker command runs; failing a
	// workflow on a panic is the one test-only override: a test should see
	// the panic, not a workflow blocked until it times out.
	tuning := s.tuning
	tuning.Identity = s.identity
	workflows.ConfigureProcess(tuning)
	opts := workflows.WorkerOptions(tuning)
	opts.WorkflowPanicPolicy = worker.FailWorkflow
	w := worker.New(s.client, s.taskQueue, opts)
	reg := providers.Registry{local.Name: s.local}
	provs := map[string]providers.Provisioner{local.Name: s.local.Provisioner()}
	if s.clouds != nil {
		s.clouds.Register(reg, provs)
	}
	var dbs activities.DatabaseServers
	if s.dbs != nil {
		dbs = s.dbs
	}
	acts := activities.New(activities.Deps{
		Catalog: s.catalog, Providers: reg, Provisioners: provs, Config: s.config, Logger: s.logger, Databases: dbs,
		// Test receivers listen on loopback.
		Secrets: s.secrets, Notifier: &notify.Sender{AllowPrivate: true},
		Temporal: s.client, TaskQueue: s.taskQueue, Volumes: map[string]activities.VolumeProvisioner{local.Name: s.local},
		Fleet: s.fleet,
	})
	workflows.Register(w, acts, workflows.Options{ControlMaxUpdates: s.controlMaxUpdates})
	return w
}

// StartWorker starts a worker (after StopWorker: a new one, with a new
// local provider instance, as a restarted process would have).
func (e *Env) StartWorker() {
	if e.worker != nil {
		return
	}
	if e.Local == nil {
		e.Local = e.newLocal()
	}
	w := newWorker(workerSpec{
		client: e.Client, taskQueue: e.TaskQueue, catalog: e.Catalog, local: e.Local, dbs: e.Databases,
		clouds: e.Clouds, config: e.Config, logger: e.logger, secrets: e.Secrets, controlMaxUpdates: e.ControlMaxUpdates,
		fleet: e.Fleet,
	})
	if err := w.Start(); err != nil {
		e.T.Fatal(err)
	}
	// As the worker command does, so raw queries find it.
	if err := workflows.StartControl(context.Background(), e.Client, e.TaskQueue); err != nil {
		e.T.Fatal(err)
	}
	e.worker = w
}

// StopWorker stops the worker and its local provider, as a worker process
// exiting mid-backup would.
func (e *Env) StopWorker() {
	if e.worker == nil {
		return
	}
	e.worker.Stop()
	e.worker = nil
	_ = e.Local.Close()
	e.Local = nil
}

// Cluster creates a local cluster.
func (e *Env) Cluster(spec strata.ClusterSpec) api.Cluster {
	e.T.Helper()
	if spec.DataBytes == 0 {
		spec.DataBytes = 64 << 10
	}
	if spec.DiskGB == 0 {
		spec.DiskGB = 10
	}
	cl, err := e.Strata.CreateCluster(context.Background(), spec)
	if err != nil {
		e.T.Fatal(err)
	}
	return cl
}

// Eventually polls cond until it is true or the deadline passes.
func Eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
