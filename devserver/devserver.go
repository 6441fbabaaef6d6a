// Package devserver runs an embedded, single-process Temporal server (all
// default services, SQLite persistence in a file) plus the Temporal Web UI, for
// local development of Strata. It mirrors what `temporal server start-dev`
// does in the Temporal CLI, without needing the CLI binary.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	defaultNamespace     = "default"
	defaultIP            = "127.0.0.1"
	defaultFrontendPort  = 7233
	uiPortOffset         = 1000
	defaultRetentionDays = 7
	defaultLogLevel      = "warn"
	clusterName          = "active"

	// DBFileName and LogFileName are the names of the files Start creates in
	// Options.DataDir.
	DBFileName  = "temporal.db"
	LogFileName = "temporal.log"

	// defaultStartTimeout bounds Start when ctx carries no deadline.
	defaultStartTimeout = 2 * time.Minute
	pollInterval        = 100 * time.Millisecond
)

// Options configure an embedded, single-process Temporal server for development.
type Options struct {
	// DataDir is required; the server's SQLite file is DataDir/temporal.db, its
	// log DataDir/temporal.log. It is created if missing.
	DataDir string
	// Namespace is created if missing. Default "default".
	Namespace string
	// IP the frontend and UI listen on. Default "127.0.0.1" ("localhost" is
	// accepted and mapped to it).
	IP string
	// FrontendPort is the gRPC port clients dial. 0 means 7233.
	FrontendPort int
	// UIPort is the Web UI's HTTP port. 0 means FrontendPort+1000 (8233 by
	// default); negative disables the UI.
	UIPort int
	// SearchAttributes are custom search attributes registered on Namespace,
	// e.g. {"StrataClusterId": enums.INDEXED_VALUE_TYPE_KEYWORD}. SQLite
	// visibility allows at most 10 Keyword and 3 each of Bool, Datetime,
	// Double, Int, Text and KeywordList custom attributes.
	SearchAttributes map[string]enumspb.IndexedValueType
	// RetentionDays is the namespace's workflow retention. 0 means 7.
	RetentionDays int
	// LogLevel of the server log written to DataDir/temporal.log: debug, info,
	// warn, error. Default "warn".
	LogLevel string
	// CodecEndpoint, when set, is the codec server the Web UI decodes
	// payloads with (from the browser).
	CodecEndpoint string
}

// Server is a running embedded Temporal server and, optionally, its Web UI.
type Server struct {
	namespace    string
	frontendAddr string
	uiURL        string

	server  temporal.Server
	ui      *uiServer
	logFile *os.File
	zapLog  *zap.Logger

	stopOnce sync.Once
	stopErr  error
}

// FrontendHostPort returns the address clients dial, e.g. "127.0.0.1:7233".
func (s *Server) FrontendHostPort() string { return s.frontendAddr }

// Namespace returns the namespace that was created or verified by Start.
func (s *Server) Namespace() string { return s.namespace }

// UIURL returns the Web UI's base URL, e.g. "http://127.0.0.1:8233", or ""
// when the UI is disabled.
func (s *Server) UIURL() string { return s.uiURL }

// Stop shuts down the UI and the server. It is safe to call more than once;
// later calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.ui != nil {
			s.ui.stop()
		}
		if s.server != nil {
			if err := s.server.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping temporal server: %w", err))
			}
		}
		if s.zapLog != nil {
			_ = s.zapLog.Sync()
		}
		if s.logFile != nil {
			if err := s.logFile.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing server log: %w", err))
			}
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// resolved holds Options with defaults applied plus derived values.
type resolved struct {
	Options
	dialIP    string // IP clients use to reach IP (127.0.0.1 for a wildcard IP)
	retention time.Duration
	level     zapcore.Level
}

func resolve(o Options) (resolved, error) {
	r := resolved{Options: o}
	if r.DataDir == "" {
		return r, errors.New("devserver: DataDir is required")
	}
	if r.Namespace == "" {
		r.Namespace = defaultNamespace
	}
	switch r.IP {
	case "", "localhost":
		r.IP = defaultIP
	}
	ip := net.ParseIP(r.IP)
	if ip == nil {
		return r, fmt.Errorf("devserver: invalid IP %q", r.IP)
	}
	r.dialIP = r.IP
	if ip.IsUnspecified() {
		r.dialIP = defaultIP
	}
	if r.FrontendPort == 0 {
		r.FrontendPort = defaultFrontendPort
	}
	if r.FrontendPort < 0 || r.FrontendPort > 65535 {
		return r, fmt.Errorf("devserver: invalid frontend port %d (change --temporal-port)", r.FrontendPort)
	}
	if r.UIPort == 0 {
		r.UIPort = r.FrontendPort + uiPortOffset
		if r.UIPort > 65535 {
			return r, fmt.Errorf("devserver: default UI port %d (frontend port %d + %d) is out of range; choose a lower --temporal-port or set the UI port",
				r.UIPort, r.FrontendPort, uiPortOffset)
		}
	}
	if r.UIPort > 65535 {
		return r, fmt.Errorf("devserver: invalid UI port %d", r.UIPort)
	}
	if r.UIPort == r.FrontendPort {
		return r, fmt.Errorf("devserver: UI port and frontend port are both %d", r.UIPort)
	}
	if r.RetentionDays == 0 {
		r.RetentionDays = defaultRetentionDays
	}
	if r.RetentionDays < 1 {
		return r, fmt.Errorf("devserver: invalid RetentionDays %d (minimum 1)", r.RetentionDays)
	}
	r.retention = time.Duration(r.RetentionDays) * 24 * time.Hour
	if r.LogLevel == "" {
		r.LogLevel = defaultLogLevel
	}
	lvl, err := zapcore.ParseLevel(r.LogLevel)
	if err != nil {
		return r, fmt.Errorf("devserver: invalid LogLevel %q: %w", r.LogLevel, err)
	}
	r.level = lvl
	return r, nil
}

// Start starts the server (and the UI unless disabled) and returns once a
// client can connect, Options.Namespace is usable and all
// Options.SearchAttributes are registered on it. On error nothing is left
// running.
func Start(ctx context.Context, o Options) (*Server, error) {
	r, err := resolve(o)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}

	// Fail early and clearly on ports that are taken. The UI check matters in
	// particular: ui-server's Start exits the process (echo Logger.Fatal) when
	// it cannot bind.
	// The listeners are held until the internal services' ports are picked so
	// that those cannot collide with the public ones.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	l, err := net.Listen("tcp", net.JoinHostPort(r.IP, strconv.Itoa(r.FrontendPort)))
	if err != nil {
		return nil, fmt.Errorf("devserver: Temporal frontend port %d on %s is not available (choose another with --temporal-port): %w",
			r.FrontendPort, r.IP, err)
	}
	held = append(held, l)
	// The UI port's listener is kept: the UI's host guard serves it.
	var uiListener net.Listener
	if r.UIPort > 0 {
		uiListener, err = net.Listen("tcp", net.JoinHostPort(r.IP, strconv.Itoa(r.UIPort)))
		if err != nil {
			return nil, fmt.Errorf("devserver: Temporal Web UI port %d on %s is not available (it defaults to --temporal-port + %d; choose another --temporal-port): %w",
				r.UIPort, r.IP, uiPortOffset, err)
		}
	}

	if err := os.MkdirAll(r.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("devserver: creating data dir: %w", err)
	}

	s := &Server{
		namespace:    r.Namespace,
		frontendAddr: net.JoinHostPort(r.dialIP, strconv.Itoa(r.FrontendPort)),
	}
	ok := false
	defer func() {
		if !ok {
			_ = s.Stop()
		}
		if s.ui == nil && uiListener != nil {
			_ = uiListener.Close()
		}
	}()

	logger, err := s.openLog(filepath.Join(r.DataDir, LogFileName), r.level)
	if err != nil {
		return nil, err
	}

	conf, err := buildConfig(r)
	if err != nil {
		return nil, err
	}
	for _, l := range held {
		_ = l.Close()
	}
	held = nil
	sqlConf := conf.Persistence.DataStores[sqliteplugin.PluginName].SQL
	if err := prepareDatabase(r, sqlConf); err != nil {
		return nil, err
	}

	srv, err := newTemporalServer(conf, logger)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		// Start failed: Stop still releases whatever was started.
		_ = srv.Stop()
		return nil, fmt.Errorf("devserver: starting temporal server: %w", err)
	}
	s.server = srv

	if err := s.waitReady(ctx, r, logger); err != nil {
		return nil, err
	}

	if r.UIPort > 0 {
		internal, err := freePorts(defaultIP, 1)
		if err != nil {
			return nil, fmt.Errorf("devserver: a port for the Web UI: %w", err)
		}
		ui := newUIServer(r, uiListener, internal[0])
		ui.start()
		s.ui = ui
		if err := waitListening(ctx, net.JoinHostPort(defaultIP, strconv.Itoa(internal[0]))); err != nil {
			return nil, fmt.Errorf("devserver: waiting for Web UI on port %d: %w", r.UIPort, err)
		}
		s.uiURL = "http://" + net.JoinHostPort(r.dialIP, strconv.Itoa(r.UIPort))
	}

	ok = true
	return s, nil
}

// openLog opens DataDir/temporal.log (appending) and builds the server's zap
// logger on it, in the same JSON format the server's own BuildZapLogger uses.
func (s *Server) openLog(path string, level zapcore.Level) (log.Logger, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("devserver: opening server log: %w", err)
	}
	s.logFile = f
	enc := log.DefaultZapEncoderConfig
	enc.CallerKey = zapcore.OmitKey // the server logger adds its own "logging-call-at"
	enc.EncodeCaller = nil
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(f), zap.NewAtomicLevelAt(level))
	s.zapLog = zap.New(core, zap.ErrorOutput(zapcore.Lock(f)))
	return log.NewZapLogger(s.zapLog), nil
}

// buildConfig assembles the static server config: SQLite (file, rwc) for both
// the default and visibility stores, one history shard, one local cluster,
// archival off, a free port per internal service.
func buildConfig(r resolved) (*config.Config, error) {
	// Internal services only need to be reachable from this process.
	ports, err := freePorts(defaultIP, 3)
	if err != nil {
		return nil, fmt.Errorf("devserver: picking ports for internal services: %w", err)
	}
	frontendAddr := net.JoinHostPort(r.dialIP, strconv.Itoa(r.FrontendPort))

	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = defaultIP

	conf.Persistence.DefaultStore = sqliteplugin.PluginName
	conf.Persistence.VisibilityStore = sqliteplugin.PluginName
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{
		sqliteplugin.PluginName: {SQL: &config.SQL{
			PluginName:        sqliteplugin.PluginName,
			DatabaseName:      filepath.Join(r.DataDir, DBFileName),
			ConnectAttributes: map[string]string{"mode": "rwc"},
		}},
	}

	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontendAddr,
				// ClusterID left empty: the server generates one on first
				// start and keeps the persisted one afterwards.
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"

	svc := func(ip string, port int) config.Service {
		var c config.Service
		c.RPC.GRPCPort = port
		c.RPC.BindOnIP = ip
		return c
	}
	conf.Services = map[string]config.Service{
		string(primitives.FrontendService): svc(r.IP, r.FrontendPort),
		string(primitives.HistoryService):  svc(defaultIP, ports[0]),
		string(primitives.MatchingService): svc(defaultIP, ports[1]),
		string(primitives.WorkerService):   svc(defaultIP, ports[2]),
	}

	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The server's internal SDK clients (worker service) dial this.
	conf.PublicClient.HostPort = frontendAddr
	return &conf, nil
}

// prepareDatabase creates the schema when the database file is new and
// pre-creates the namespace (with its search attributes and retention) when
// it does not exist yet. An existing namespace is left untouched here; its
// attributes and retention are reconciled through the API after start.
func prepareDatabase(r resolved, sqlConf *config.SQL) error {
	dbFile := sqlConf.DatabaseName
	if _, err := os.Stat(dbFile); errors.Is(err, os.ErrNotExist) {
		if err := sqliteschema.SetupSchema(sqlConf); err != nil {
			// Do not leave a half-initialised file behind: the next start
			// would skip schema setup.
			_ = os.Remove(dbFile)
			return fmt.Errorf("devserver: setting up SQLite schema in %s: %w", dbFile, err)
		}
		// Every workflow's history is in it: private to the worker's user
		// (SQLite gives its WAL and shared-memory files the same mode).
		if err := os.Chmod(dbFile, 0o600); err != nil {
			return fmt.Errorf("devserver: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("devserver: checking database file: %w", err)
	}

	nsConf, err := sqliteschema.NewNamespaceConfig(clusterName, r.Namespace, false, r.SearchAttributes)
	if err != nil {
		return fmt.Errorf("devserver: namespace %q: %w", r.Namespace, err)
	}
	// NewNamespaceConfig hard-codes a 24h retention; set ours directly on the
	// persisted record. (Existing namespaces are fixed via UpdateNamespace.)
	nsConf.Detail.Config.Retention = durationpb.New(r.retention)
	// No-op when the namespace already exists.
	if err := sqliteschema.CreateNamespaces(sqlConf, nsConf); err != nil {
		return fmt.Errorf("devserver: creating namespace %q: %w", r.Namespace, err)
	}
	return nil
}

func newTemporalServer(conf *config.Config, logger log.Logger) (temporal.Server, error) {
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("devserver: creating authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("devserver: creating claim mapper: %w", err)
	}
	host := func(name primitives.ServiceName) static.Hosts {
		rpc := conf.Services[string(name)].RPC
		ip := rpc.BindOnIP
		if parsed := net.ParseIP(ip); parsed == nil || parsed.IsUnspecified() {
			ip = defaultIP
		}
		return static.SingleLocalHost(net.JoinHostPort(ip, strconv.Itoa(rpc.GRPCPort)))
	}

	// Same dynamic config as the Temporal CLI's dev server. A StaticClient
	// only understands Go int for integer settings (not int64).
	dc := dynamicconfig.StaticClient{
		// Search attributes / Nexus endpoints visible as soon as created.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		dynamicconfig.ForceNexusEndpointRefreshOnRead.Key():         true,
		// Those caches are bypassed, so raise persistence QPS accordingly.
		dynamicconfig.FrontendPersistenceMaxQPS.Key(): int(10000),
		dynamicconfig.HistoryPersistenceMaxQPS.Key():  int(45000),
		// Host-level mutable state cache and visibility RPS.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 int(8096),
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): int(100),
	}

	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: host(primitives.FrontendService),
			primitives.HistoryService:  host(primitives.HistoryService),
			primitives.MatchingService: host(primitives.MatchingService),
			primitives.WorkerService:   host(primitives.WorkerService),
		}),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dc),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: creating temporal server: %w", err)
	}
	return srv, nil
}

// waitReady connects a client, waits for the namespace to be usable, then
// reconciles retention and search attributes and waits until every requested
// attribute is visible.
func (s *Server) waitReady(ctx context.Context, r resolved, logger log.Logger) error {
	var c client.Client
	err := poll(ctx, func() error {
		var err error
		c, err = client.DialContext(ctx, client.Options{
			HostPort:  s.frontendAddr,
			Namespace: r.Namespace,
			Logger:    log.NewSdkLogger(logger),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("devserver: connecting to %s: %w", s.frontendAddr, err)
	}
	defer c.Close()

	var desc *workflowservice.DescribeNamespaceResponse
	err = poll(ctx, func() error {
		var err error
		desc, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: r.Namespace})
		return err
	})
	if err != nil {
		return fmt.Errorf("devserver: waiting for namespace %q: %w", r.Namespace, err)
	}

	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != r.retention {
		_, err := c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
			Namespace: r.Namespace,
			Config: &namespacepb.NamespaceConfig{
				WorkflowExecutionRetentionTtl: durationpb.New(r.retention),
			},
		})
		if err != nil {
			return fmt.Errorf("devserver: setting retention of namespace %q to %d days: %w", r.Namespace, r.RetentionDays, err)
		}
	}

	return ensureSearchAttributes(ctx, c.OperatorService(), r.Namespace, r.SearchAttributes)
}

// ensureSearchAttributes adds the attributes of want that the namespace lacks
// (a file created by an older Strata, or a namespace created before an
// attribute was added) and waits until all of them are listed.
func ensureSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, ns string, want map[string]enumspb.IndexedValueType) error {
	if len(want) == 0 {
		return nil
	}
	list := func() (map[string]enumspb.IndexedValueType, error) {
		resp, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		if err != nil {
			return nil, err
		}
		return resp.GetCustomAttributes(), nil
	}
	missing := func(have map[string]enumspb.IndexedValueType) (map[string]enumspb.IndexedValueType, error) {
		m := map[string]enumspb.IndexedValueType{}
		for name, typ := range want {
			got, ok := have[name]
			switch {
			case !ok:
				m[name] = typ
			case got != typ:
				return nil, fmt.Errorf("devserver: search attribute %q exists on namespace %q with type %s, want %s",
					name, ns, got, typ)
			}
		}
		return m, nil
	}

	var have map[string]enumspb.IndexedValueType
	if err := poll(ctx, func() (err error) { have, err = list(); return err }); err != nil {
		return fmt.Errorf("devserver: listing search attributes of %q: %w", ns, err)
	}
	add, err := missing(have)
	if err != nil {
		return err
	}
	if len(add) == 0 {
		return nil
	}
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        ns,
		SearchAttributes: add,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("devserver: adding search attributes %v to %q: %w", keys(add), ns, err)
	}
	err = poll(ctx, func() error {
		have, err := list()
		if err != nil {
			return err
		}
		m, err := missing(have)
		if err != nil {
			return err
		}
		if len(m) > 0 {
			return fmt.Errorf("search attributes %v not visible yet", keys(m))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("devserver: waiting for search attributes on %q: %w", ns, err)
	}
	return nil
}

func keys(m map[string]enumspb.IndexedValueType) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// poll calls f until it succeeds or ctx ends, returning f's last error then.
func poll(ctx context.Context, f func() error) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// waitListening waits until addr accepts TCP connections.
func waitListening(ctx context.Context, addr string) error {
	return poll(ctx, func() error {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := d.DialContext(dctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// freePorts returns n distinct ports that were free on ip.
func freePorts(ip string, n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
