package stratatest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/databases/postgres"
	"github.com/stratabackup/strata/internal/zapadapter"
	"github.com/stratabackup/strata/providers/local"
	"github.com/stratabackup/strata/secrets"
	"github.com/stratabackup/strata/workflows"
)

// EnvWorkerProcess is the environment variable that makes a test binary a
// worker process: it holds the process's ProcessConfig as JSON.
const EnvWorkerProcess = "STRATA_TEST_WORKER_PROCESS"

// readyPrefix starts the line a worker process prints on stdout once its
// worker polls; the rest of the line is the worker's identity.
const readyPrefix = "strata-test-worker-ready "

// ProcessReadyTimeout bounds how long StartWorkerProcess waits for the
// process's worker to poll.
var ProcessReadyTimeout = time.Minute

// ProcessStopTimeout bounds how long Stop waits for the process to exit
// after SIGTERM before killing it.
var ProcessStopTimeout = 30 * time.Second

// ProcessConfig is what a worker process runs with.
type ProcessConfig struct {
	HostPort  string `json:"hostPort"`
	Namespace string `json:"namespace"`
	TaskQueue string `json:"taskQueue"`
	// CatalogDSN is the catalog the test uses (a SQLite file may be shared
	// by processes: it runs in WAL mode with a busy timeout).
	CatalogDSN string `json:"catalogDsn"`
	// Root is the local provider's root, shared with the test.
	Root   string            `json:"root"`
	Config activities.Config `json:"config"`
	// Name names the process in its logs and starts its worker's Identity.
	Name string `json:"name"`
	// Tuning is the worker's tuning (zero: the production defaults); its
	// Identity is set by the process.
	Tuning workflows.WorkerTuning `json:"tuning"`
	// SecretKey is the key channel secrets are sealed to (secrets.Key's
	// Encode form); empty: none.
	SecretKey string `json:"secretKey,omitempty"`
	// PostgresRoot and PostgresSecrets, when set, let the process run
	// postgres clusters' servers (a postgres env's).
	PostgresRoot    string `json:"postgresRoot,omitempty"`
	PostgresSecrets string `json:"postgresSecrets,omitempty"`
}

// ProcessIdentity is the worker Identity of a process named name with this
// pid: it shows in history events (e.g. ActivityTaskStarted's Identity).
func ProcessIdentity(name string, pid int) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d@%s", name, pid, host)
}

// RunWorkerProcessIfAsked must be the first call in TestMain: when this
// process was started by StartWorkerCommand, it runs the worker command;
// when it was started by StartWorkerProcess, it runs the worker until
// SIGTERM (a graceful worker Stop), or until its parent dies, and exits;
// otherwise it returns.
func RunWorkerProcessIfAsked() {
	runWorkerCommandIfAsked()
	raw, ok := os.LookupEnv(EnvWorkerProcess)
	if !ok {
		return
	}
	os.Exit(runWorkerProcess(raw))
}

func runWorkerProcess(raw string) int {
	var cfg ProcessConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "worker process: bad %s: %v\n", EnvWorkerProcess, err)
		return 2
	}
	if cfg.Name == "" {
		cfg.Name = "worker"
	}
	logger := processLogger(cfg.Name)
	defer func() { _ = logger.Sync() }()
	if err := serveProcess(cfg, logger); err != nil {
		logger.Error("worker process failed", zap.Error(err))
		return 1
	}
	return 0
}

func processLogger(name string) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(os.Stderr), zap.WarnLevel)
	return zap.New(core).Named(name)
}

func serveProcess(cfg ProcessConfig, logger *zap.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// The parent holds our stdin open: EOF means it died, and so do we.
	parentGone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(parentGone)
	}()

	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cat, err := catalog.Open(openCtx, cfg.CatalogDSN)
	if err != nil {
		return fmt.Errorf("opening catalog: %w", err)
	}
	defer cat.Close()
	lp, err := newLocalProvider(cfg.Root, cat, logger.Named("local"))
	if err != nil {
		return err
	}
	defer lp.Close()
	identity := ProcessIdentity(cfg.Name, os.Getpid())
	opts := client.Options{
		HostPort: cfg.HostPort, Namespace: cfg.Namespace, Identity: identity,
		Logger: zapadapter.New(logger.Named("temporal")),
	}
	api.PreferUncompressedOnLoopback(&opts)
	tc, err := client.DialContext(openCtx, opts)
	if err != nil {
		return fmt.Errorf("connecting to Temporal at %s: %w", cfg.HostPort, err)
	}
	defer tc.Close()
	var key *secrets.Key
	if cfg.SecretKey != "" {
		if key, err = secrets.Decode(cfg.SecretKey); err != nil {
			return err
		}
	}
	var dbs *postgres.Manager
	if cfg.PostgresRoot != "" {
		archive, err := local.NewWALArchive(filepath.Join(filepath.Dir(cfg.PostgresRoot), "wal"))
		if err != nil {
			return err
		}
		if dbs, err = postgres.New(postgres.Config{Root: cfg.PostgresRoot, Archive: archive, SecretsDir: cfg.PostgresSecrets, Logger: logger.Named("postgres")}); err != nil {
			return err
		}
	}
	w := newWorker(workerSpec{
		client: tc, taskQueue: cfg.TaskQueue, identity: identity, tuning: cfg.Tuning,
		catalog: cat, local: lp, dbs: dbs, config: cfg.Config, logger: logger, secrets: key,
	})
	if err := w.Start(); err != nil {
		return fmt.Errorf("starting worker: %w", err)
	}
	fmt.Fprintln(os.Stdout, readyPrefix+identity)
	select {
	case <-ctx.Done():
	case <-parentGone:
		logger.Warn("parent process gone; stopping")
	}
	w.Stop()
	return nil
}

// WorkerProcess is a Strata worker running in another OS process (this
// test binary, re-executed).
type WorkerProcess struct {
	Cmd *exec.Cmd
	// Name is ProcessConfig.Name; Identity is the worker's Identity, as
	// history events show it.
	Name, Identity string

	stdin   *os.File // its stdin's write end: closing it (or dying) stops it
	done    chan struct{}
	waitErr error
}

// StartWorkerProcess starts the process and returns once its worker is
// polling. The process's stderr (its logs, at warn level) is this
// process's stderr.
func StartWorkerProcess(cfg ProcessConfig) (*WorkerProcess, error) {
	if cfg.Name == "" {
		cfg.Name = "worker"
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	// -test.run=^$: should the variable somehow not be seen, the binary
	// runs no tests rather than all of them again.
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), EnvWorkerProcess+"="+string(raw))
	cmd.Stderr = os.Stderr
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stdin = outW, inR
	err = cmd.Start()
	outW.Close()
	inR.Close()
	if err != nil {
		outR.Close()
		inW.Close()
		return nil, fmt.Errorf("starting worker process %s: %w", cfg.Name, err)
	}
	p := &WorkerProcess{Cmd: cmd, Name: cfg.Name, stdin: inW, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		inW.Close()
		close(p.done)
	}()

	ready := make(chan string, 1)
	go func() {
		defer outR.Close()
		r := bufio.NewReader(outR)
		for {
			line, err := r.ReadString('\n')
			if id, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), readyPrefix); ok {
				ready <- id
				break
			}
			if line != "" {
				fmt.Fprintf(os.Stderr, "[%s stdout] %s", cfg.Name, line)
			}
			if err != nil {
				close(ready)
				return
			}
		}
		// Anything else it prints is for a human.
		_, _ = io.Copy(os.Stderr, r)
	}()

	timer := time.NewTimer(ProcessReadyTimeout)
	defer timer.Stop()
	select {
	case id, ok := <-ready:
		if ok {
			p.Identity = id
			return p, nil
		}
		<-p.done
		return nil, fmt.Errorf("worker process %s exited before its worker polled: %v", cfg.Name, p.waitErr)
	case <-timer.C:
		_ = p.Kill()
		return nil, fmt.Errorf("worker process %s: worker not polling after %s", cfg.Name, ProcessReadyTimeout)
	}
}

// Pid is the process's ID.
func (p *WorkerProcess) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once the process has exited (and been waited for).
func (p *WorkerProcess) Done() <-chan struct{} { return p.done }

// Kill kills the process with SIGKILL, as a crash would, and waits for it.
// Killing an exited process is not an error.
func (p *WorkerProcess) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.Cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing worker process %s: %w", p.Name, err)
	}
	<-p.done
	return nil
}

// Stop sends SIGTERM, so that the worker stops gracefully, and waits for
// the process to exit (killing it after ProcessStopTimeout). It returns
// the process's state: SysUsage() is its rusage (Utime, Stime; its Maxrss
// also counts what the child shared with this process before exec, so
// read a peak from /proc/<pid>/status VmHWM instead).
// The error is non-nil when the process did not exit cleanly.
func (p *WorkerProcess) Stop() (*os.ProcessState, error) {
	select {
	case <-p.done:
		return p.Cmd.ProcessState, p.waitErr
	default:
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return nil, fmt.Errorf("stopping worker process %s: %w", p.Name, err)
	}
	timer := time.NewTimer(ProcessStopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.Cmd.ProcessState, p.waitErr
	case <-timer.C:
		_ = p.Kill()
		return p.Cmd.ProcessState, fmt.Errorf("worker process %s did not exit within %s of SIGTERM; killed it", p.Name, ProcessStopTimeout)
	}
}

// ProcessConfig is the configuration of a worker process serving this
// environment: its task queue, catalog, local provider root and Config.
func (e *Env) ProcessConfig(name string) ProcessConfig {
	c := ProcessConfig{
		HostPort: e.Server.HostPort(), Namespace: e.Server.Namespace(), TaskQueue: e.TaskQueue,
		CatalogDSN: e.CatalogDSN, Root: e.Root, Config: e.Config, Name: name, SecretKey: e.Secrets.Encode(),
	}
	if e.Databases != nil {
		c.PostgresRoot, c.PostgresSecrets = e.Root, filepath.Join(e.DataDir, "postgres")
	}
	return c
}

// StartWorkerProcess starts a worker process serving this environment
// (see ProcessConfig), failing the test if it does not come up; it is
// killed at the end of the test.
func (e *Env) StartWorkerProcess(name string) *WorkerProcess {
	e.T.Helper()
	p, err := StartWorkerProcess(e.ProcessConfig(name))
	if err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() { _ = p.Kill() })
	return p
}
