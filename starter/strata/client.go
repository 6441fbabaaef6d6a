// Package strata is the Go client other services use to drive Strata:
// start, watch, cancel and extend backups and restores, manage clusters,
// their locks, jobs and notification channels, and read all of it. It
// needs only a Temporal connection: every read is a query and every write
// an update or a workflow of the worker's (package api names them), so
// the catalog, the provider credentials and the channel secrets stay with
// the worker. The `starter` CLI is a thin layer over it.
package strata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/codec"
	"github.com/stratabackup/strata/api/devenv"
	"github.com/stratabackup/strata/api/validate"
)

// Client drives Strata through Temporal.
type Client struct {
	Temporal client.Client
	// TaskQueue is where Strata's worker polls; default api.TaskQueue.
	TaskQueue string
	// ReadTimeout bounds a read, and WriteTimeout a write (zero: only the
	// caller's context does): a worker that is down is reported instead of
	// waited for.
	ReadTimeout, WriteTimeout time.Duration
	// FailureConverter decodes why a query was refused: the one Temporal
	// was dialed with (codec.Apply sets one that encrypts failures); nil
	// means the SDK's default. Dial sets it.
	FailureConverter converter.FailureConverter

	mu      sync.Mutex
	info    *api.WorkerInfo
	closers []func() error
}

// Default timeouts of reads and writes.
const (
	DefaultReadTimeout  = 20 * time.Second
	DefaultWriteTimeout = time.Minute
)

// New wraps an existing Temporal connection.
func New(tc client.Client) *Client {
	return &Client{Temporal: tc, TaskQueue: api.TaskQueue, ReadTimeout: DefaultReadTimeout, WriteTimeout: DefaultWriteTimeout}
}

// DialOptions say where Temporal is. Empty fields are resolved, in order,
// from the SDK's TEMPORAL_* variables and profiles (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE,
// TEMPORAL_CONFIG_FILE), then from the dev setup `worker --dev` recorded
// in DataDir (STRATA_DATA_DIR, default .strata), then the SDK's default
// (localhost:7233).
type DialOptions struct {
	TemporalAddress string
	Namespace       string
	DataDir         string
	TaskQueue       string
	// EncryptionKeyFile is the worker's payload key file (package
	// api/codec); empty means $STRATA_ENCRYPTION_KEY_FILE, else the dev
	// setup's, else payloads are not encrypted.
	EncryptionKeyFile string
}

// Dial connects to Temporal.
func Dial(ctx context.Context, o DialOptions) (*Client, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return nil, fmt.Errorf("reading Temporal client settings: %w", err)
	}
	if o.TemporalAddress != "" {
		opts.HostPort = o.TemporalAddress
	}
	if o.Namespace != "" {
		opts.Namespace = o.Namespace
	}
	if o.EncryptionKeyFile == "" {
		o.EncryptionKeyFile = os.Getenv(codec.EnvKeyFile)
	}
	if opts.HostPort == "" {
		if o.DataDir == "" {
			o.DataDir = os.Getenv("STRATA_DATA_DIR")
		}
		if o.DataDir == "" {
			o.DataDir = devenv.DefaultDataDir
		}
		if env, err := devenv.Read(o.DataDir); err == nil {
			opts.HostPort = env.TemporalAddress
			if opts.Namespace == "" {
				opts.Namespace = env.Namespace
			}
			if o.EncryptionKeyFile == "" {
				o.EncryptionKeyFile = env.EncryptionKeyFile
			}
		}
	}
	if o.EncryptionKeyFile != "" {
		keys, err := codec.LoadKeys(o.EncryptionKeyFile)
		if err != nil {
			return nil, err
		}
		codec.Apply(&opts, keys)
	}
	opts.Logger = quietLogger{}
	api.PreferUncompressedOnLoopback(&opts)
	tc, err := client.DialContext(ctx, opts)
	if err != nil {
		where := opts.HostPort
		if where == "" {
			where = client.DefaultHostPort
		}
		return nil, fmt.Errorf("connecting to Temporal at %s: %w (start a dev setup with `go run ./worker --dev`, or give --temporal-address)", where, err)
	}
	c := New(tc)
	c.FailureConverter = opts.FailureConverter
	if o.TaskQueue != "" {
		c.TaskQueue = o.TaskQueue
	}
	c.closers = append(c.closers, func() error { tc.Close(); return nil })
	return c, nil
}

// Close closes what Dial opened.
func (c *Client) Close() error {
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i]())
	}
	c.closers = nil
	return errors.Join(errs...)
}

// Error is a request the worker refused or an operation that failed: Code
// is its reason code (api.Reason*), e.g. InvalidRequest or NotFound.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// IsNotFound reports whether err says a named record does not exist.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == api.ReasonNotFound || e.Code == api.ReasonJobNotFound || e.Code == api.ReasonClusterNotFound)
}

// runWorkflow starts a workflow on the worker's task queue, waits for it,
// and decodes its result into out.
func (c *Client) runWorkflow(ctx context.Context, opts client.StartWorkflowOptions, name string, in, out any) error {
	opts.TaskQueue = c.TaskQueue
	run, err := c.Temporal.ExecuteWorkflow(ctx, opts, name, in)
	if err != nil {
		return fmt.Errorf("starting %s: %w", opts.ID, err)
	}
	return c.asError(run.Get(ctx, out))
}

// startOnce starts the workflow opts.ID on the worker's task queue, or
// joins the run that already has that ID (running or closed): one request
// ID is one operation, however often it is sent.
func (c *Client) startOnce(ctx context.Context, opts client.StartWorkflowOptions, name string, in any) (client.WorkflowRun, error) {
	opts.TaskQueue = c.TaskQueue
	opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	run, err := c.Temporal.ExecuteWorkflow(ctx, opts, name, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return c.Temporal.GetWorkflow(ctx, opts.ID, started.RunId), nil
	}
	return run, err
}

// failureOf is the reason code and message of a failed workflow: the
// worker's typed failure, Cancelled for a cancelled one (what names the
// operation), Internal for anything else.
func failureOf(werr error, what string) (code, reason string) {
	var appErr *temporal.ApplicationError
	var canceled *temporal.CanceledError
	switch {
	case errors.As(werr, &appErr):
		return appErr.Type(), appErr.Message()
	case errors.As(werr, &canceled):
		return api.ReasonCancelled, api.ReasonCancelled + ": " + what + " cancelled by request"
	}
	return api.ReasonInternal, werr.Error()
}

// asError turns what the worker answered into an *Error when it is one of
// Strata's refusals or failures; other errors (Temporal unreachable)
// pass through.
func (c *Client) asError(err error) error {
	if err == nil {
		return nil
	}
	var qf *serviceerror.QueryFailed
	if errors.As(err, &qf) {
		if qf.Failure != nil {
			fc := c.FailureConverter
			if fc == nil {
				fc = temporal.GetDefaultFailureConverter()
			}
			err = fc.FailureToError(qf.Failure)
		} else {
			return &Error{Code: api.ReasonInternal, Message: qf.Message}
		}
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		code := appErr.Type()
		if code == "" {
			code = api.ReasonInternal
		}
		return &Error{Code: code, Message: appErr.Message()}
	}
	return err
}

func (c *Client) controlID() string { return api.ControlWorkflowID(c.TaskQueue) }

func (c *Client) controlStart() client.StartWorkflowOptions {
	return api.ControlStartOptions(c.TaskQueue)
}

func (c *Client) within(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// noWorker explains a read or write that nobody answered.
func (c *Client) noWorker(what string, err error) error {
	return fmt.Errorf("%s: no Strata worker answered on task queue %s (is the worker running?): %w", what, c.TaskQueue, err)
}

// read runs query name on the control workflow (starting it if no run
// exists yet) and decodes its answer into out.
func (c *Client) read(ctx context.Context, name string, arg any, out any) error {
	ctx, cancel := c.within(ctx, c.ReadTimeout)
	defer cancel()
	var args []interface{}
	if arg != nil {
		args = []interface{}{arg}
	}
	for attempt := 0; ; attempt++ {
		v, err := c.Temporal.QueryWorkflow(ctx, c.controlID(), "", name, args...)
		if err == nil {
			return v.Get(out)
		}
		var nf *serviceerror.NotFound
		var notReady *serviceerror.WorkflowNotReady
		switch {
		case errors.As(err, &nf) && attempt == 0:
			if _, serr := c.Temporal.ExecuteWorkflow(ctx, c.controlStart(), api.ControlWorkflowName); serr != nil {
				return fmt.Errorf("%s: starting %s: %w", name, c.controlID(), serr)
			}
			continue
		case errors.As(err, &notReady) || (errors.As(err, &nf) && attempt < 50):
			// A run that is starting (or continuing as new) answers once
			// its first task ran.
			select {
			case <-ctx.Done():
				return c.noWorker(name, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
			continue
		case ctx.Err() != nil || timedOut(err):
			return c.noWorker(name, err)
		}
		return c.asError(err)
	}
}

// write runs update name on the control workflow (starting it if no run
// exists) and waits for its result. One call is one update ID, so the
// SDK's retries of the call apply it once.
func (c *Client) write(ctx context.Context, name string, arg any, out any) error {
	ctx, cancel := c.within(ctx, c.WriteTimeout)
	defer cancel()
	h, err := c.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: c.Temporal.NewWithStartWorkflowOperation(c.controlStart(), api.ControlWorkflowName),
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID: uuid.NewString(), UpdateName: name, Args: []interface{}{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err == nil {
		err = h.Get(ctx, out)
	}
	if err != nil && (ctx.Err() != nil || timedOut(err)) {
		return c.noWorker(name, err)
	}
	return c.asError(err)
}

// timedOut says whether err is a call that ran out of time (nobody
// answered it).
func timedOut(err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	var canceled *serviceerror.Canceled
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &deadline) || errors.As(err, &canceled) ||
		status.Code(err) == codes.DeadlineExceeded
}

// workerInfo is the worker's sealing key and bounds, read once.
func (c *Client) workerInfo(ctx context.Context) (api.WorkerInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.info != nil {
		return *c.info, nil
	}
	var info api.WorkerInfo
	if err := c.read(ctx, api.QueryWorkerInfo, nil, &info); err != nil {
		return info, err
	}
	c.info = &info
	return info, nil
}

// limits are the worker's bounds on requests.
func (c *Client) limits(ctx context.Context) (validate.Limits, error) {
	info, err := c.workerInfo(ctx)
	return validate.Limits{MaxBackupTimeout: info.MaxBackupTimeout.D(), MaxLockTTL: info.MaxLockTTL.D()}, err
}

// pages reads every page of a list query, up to limit items (0: all).
// The next page is asked for as soon as this one's token is read (the
// page's first key), so the worker reads it while this one is decoded.
func pages[T any](ctx context.Context, c *Client, name string, limit int, req func(pageSize int, token string) any) ([]T, error) {
	type fetched struct {
		data []byte
		err  error
	}
	fetch := func(size int, token string) <-chan fetched {
		ch := make(chan fetched, 1)
		go func() {
			var raw converter.RawValue
			err := c.read(ctx, name, req(size, token), &raw)
			var data []byte
			if err == nil {
				data = raw.Payload().GetData()
			}
			ch <- fetched{data, err}
		}()
		return ch
	}
	size := func(have int) int {
		if limit > 0 {
			return min(api.MaxPageSize, limit-have)
		}
		return api.MaxPageSize
	}
	out := []T{}
	next := fetch(size(0), "")
	for {
		f := <-next
		if f.err != nil {
			return nil, f.err
		}
		token, err := leadingToken(f.data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if token != "" && limit == 0 {
			next = fetch(size(0), token)
		}
		var page api.Page[T]
		if err := json.Unmarshal(f.data, &page); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, page.Items...)
		if token != "" && limit > 0 && len(out) < limit {
			next = fetch(size(len(out)), token)
		}
		if token == "" || (limit > 0 && len(out) >= limit) {
			if limit > 0 && len(out) > limit {
				out = out[:limit]
			}
			return out, nil
		}
	}
}

// leadingToken reads a page's nextPageToken, its first key when present.
func leadingToken(data []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return "", errors.New("malformed page")
	}
	key, err := d.Token()
	if err != nil || key != "nextPageToken" {
		return "", nil
	}
	var token string
	if err := d.Decode(&token); err != nil {
		return "", errors.New("malformed page")
	}
	return token, nil
}

// quietLogger keeps the SDK's connection chatter out of CLI output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}
