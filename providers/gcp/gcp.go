// Package gcp snapshots Compute Engine persistent disks through the REST
// client of cloud.google.com/go/compute/apiv1.
//
// Identity and idempotency. A snapshot's name is derived from (BackupID,
// VolumeID) and a restored disk's name from its VolumeID (see names.go), and
// every mutating call carries a deterministic requestId (UUIDv5). A 409
// alreadyExists is answered by reading the resource and adopting it when its
// labels say it is Strata's for the same backup and volume.
//
// Operations. The compute client's op.Wait returns nil for a DONE operation
// that carries an error block without httpErrorStatusCode, so this package
// never relies on Wait's result: it polls the operation itself and always
// inspects Operation.error.
//
// Rate limiting. All calls of one Provider share token buckets (Limits);
// a call waits for a token (honouring ctx) instead of exceeding them.
// Throttled and transient failures of a single call are retried with
// exponential backoff and full jitter (mutating calls are safe to retry:
// they carry a requestId); per-disk snapshot-rate errors
// (RESOURCE_OPERATION_RATE_EXCEEDED) are not retried here but returned as
// Throttled with a long RetryAfter.
package gcp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
	"google.golang.org/api/option"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/internal/backoff"
	"github.com/stratabackup/strata/providers/internal/poll"
)

// ProviderName is the provider's registry name.
const ProviderName = "gcp"

// Options configure a Provider.
type Options struct {
	// Project is the GCP project holding the disks and snapshots (required).
	Project string
	// Region is informational (registry key); zones come from volume refs.
	Region string
	// Calls counts the Compute API requests for the worker's metrics
	// (nil: not counted).
	Calls providers.CallCounter
	// Endpoint overrides the Compute API endpoint (scheme and host only),
	// for private endpoints and tests.
	Endpoint string
	// ClientOptions are passed to the compute clients; by default the
	// clients use Application Default Credentials.
	ClientOptions []option.ClientOption
	// PollBatchWindow is how long GetSnapshots waits to coalesce concurrent
	// calls into one list call; default 200ms.
	PollBatchWindow time.Duration
	// Limits are the client-side rate limits and retry policy.
	Limits Limits
	Logger *zap.Logger
}

// Limits is the client-side rate limiting shared by every call of one
// Provider, one token bucket per GCE rate-quota group, plus the retry policy
// for throttled and transient failures.
//
// GCE enforces per-project quotas per minute, by default 1,500 requests per
// minute for each of the groups "queries" (mutations), "read requests"
// (*.get), "list requests" (*.list) and "operation read requests"; snapshot
// inserts and deletes also count against the smaller global-resource-write
// group. The buckets are shared with every other client of the project, so
// the defaults take about half of the read groups and a conservative share
// of the write groups:
//
//	Reads          12/s burst 25  (≈720/min of 1,500)
//	Lists          12/s burst 25  (≈720/min of 1,500)
//	OperationReads 12/s burst 25  (≈720/min of 1,500)
//	Mutations       5/s burst 10  (≈300/min)
//
// Retries: MaxAttempts 6, RetryBase 1s, RetryMax 30s (exponential, full
// jitter).
type Limits struct {
	ReadsPerSecond          float64
	ReadBurst               int
	ListsPerSecond          float64
	ListBurst               int
	OperationReadsPerSecond float64
	OperationReadBurst      int
	MutationsPerSecond      float64
	MutationBurst           int

	// MaxAttempts bounds the attempts of one call on Throttled/Transient
	// errors (1 = no retry).
	MaxAttempts int
	RetryBase   time.Duration
	RetryMax    time.Duration
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		ReadsPerSecond: 12, ReadBurst: 25,
		ListsPerSecond: 12, ListBurst: 25,
		OperationReadsPerSecond: 12, OperationReadBurst: 25,
		MutationsPerSecond: 5, MutationBurst: 10,
		MaxAttempts: 6, RetryBase: time.Second, RetryMax: 30 * time.Second,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	orDefault(&l.ReadsPerSecond, d.ReadsPerSecond)
	orDefault(&l.ReadBurst, d.ReadBurst)
	orDefault(&l.ListsPerSecond, d.ListsPerSecond)
	orDefault(&l.ListBurst, d.ListBurst)
	orDefault(&l.OperationReadsPerSecond, d.OperationReadsPerSecond)
	orDefault(&l.OperationReadBurst, d.OperationReadBurst)
	orDefault(&l.MutationsPerSecond, d.MutationsPerSecond)
	orDefault(&l.MutationBurst, d.MutationBurst)
	orDefault(&l.MaxAttempts, d.MaxAttempts)
	orDefault(&l.RetryBase, d.RetryBase)
	orDefault(&l.RetryMax, d.RetryMax)
	return l
}

// orDefault sets a limit that is not positive (unset, or meaningless) to
// its default.
func orDefault[T int | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

type bucket int

const (
	bucketRead bucket = iota
	bucketList
	bucketOpRead
	bucketMutation
)

// Provider snapshots GCE persistent disks. Safe for concurrent use.
type Provider struct {
	project string
	region  string
	log     *zap.Logger
	limits  Limits
	window  time.Duration

	snaps *compute.SnapshotsClient
	disks *compute.DisksClient

	limiters [4]*rate.Limiter
	counter  providers.CallCounter

	mu    sync.Mutex
	calls map[string]int
	// gen bumps the requestId of a (backup, volume) or volume whose
	// operation failed: GCE answers a repeated requestId with the original
	// (failed) operation, so a retry needs a fresh one.
	gen map[string]int
	// ops are createSnapshot operations still running when StartSnapshot
	// returned; GetSnapshots polls them so that their errors surface.
	ops     map[string]*pendingOp
	opsPoll sync.Mutex

	batch *poll.Coalescer[providers.Snapshot]

	// Close cancels closing (so in-flight calls return at once), waits for
	// them under life, and only then closes the clients: a call after
	// Close, say a batch flush a timer fired, gets an error, never a
	// client that is already closed.
	closing  context.Context
	closeNow context.CancelFunc
	life     sync.RWMutex
	closed   bool

	nodesMu sync.Mutex
	nodes   map[string][]string
}

// New connects the compute REST clients. It does not call the API.
func New(ctx context.Context, o Options) (*Provider, error) {
	if o.Project == "" {
		return nil, &providers.Error{Provider: ProviderName, Kind: providers.Invalid, Message: "gcp: Options.Project is required"}
	}
	opts := append([]option.ClientOption(nil), o.ClientOptions...)
	if o.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(strings.TrimRight(o.Endpoint, "/")))
	}
	p := &Provider{
		project: o.Project,
		region:  o.Region,
		log:     o.Logger,
		limits:  o.Limits.withDefaults(),
		window:  o.PollBatchWindow,
		calls:   map[string]int{},
		gen:     map[string]int{},
		ops:     map[string]*pendingOp{},
		nodes:   map[string][]string{},
		counter: o.Calls,
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.window <= 0 {
		p.window = 200 * time.Millisecond
	}
	l := p.limits
	p.limiters[bucketRead] = rate.NewLimiter(rate.Limit(l.ReadsPerSecond), l.ReadBurst)
	p.limiters[bucketList] = rate.NewLimiter(rate.Limit(l.ListsPerSecond), l.ListBurst)
	p.limiters[bucketOpRead] = rate.NewLimiter(rate.Limit(l.OperationReadsPerSecond), l.OperationReadBurst)
	p.limiters[bucketMutation] = rate.NewLimiter(rate.Limit(l.MutationsPerSecond), l.MutationBurst)

	var err error
	if p.snaps, err = compute.NewSnapshotsRESTClient(ctx, opts...); err != nil {
		return nil, fmt.Errorf("gcp: snapshots client: %w", err)
	}
	if p.disks, err = compute.NewDisksRESTClient(ctx, opts...); err != nil {
		p.snaps.Close()
		return nil, fmt.Errorf("gcp: disks client: %w", err)
	}
	p.batch = &poll.Coalescer[providers.Snapshot]{Window: p.window, Timeout: batchTimeout, Fetch: p.fetchBatch}
	p.closing, p.closeNow = context.WithCancel(context.Background())
	return p, nil
}

// Close cancels the calls in flight, waits for them to return and releases
// the clients. Calls after Close fail with a Transient error (an activity
// that gets one is retried, by then on another worker).
func (p *Provider) Close() error {
	p.closeNow()
	p.life.Lock()
	defer p.life.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return errors.Join(p.snaps.Close(), p.disks.Close())
}

// call runs fn unless the provider is closed, with a ctx that Close
// cancels.
func (p *Provider) call(ctx context.Context, fn func(ctx context.Context) error) error {
	p.life.RLock()
	defer p.life.RUnlock()
	if p.closed {
		return &providers.Error{Provider: ProviderName, Kind: providers.Transient, Message: "gcp: provider is closed (the worker is shutting down)"}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.closing, cancel)
	defer stop()
	return fn(ctx)
}

// Name is "gcp".
func (p *Provider) Name() string { return ProviderName }

// Calls returns the API calls made so far (every attempt) by method, e.g.
// "snapshots.list", "disks.createSnapshot", "zoneOperations.get".
func (p *Provider) Calls() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.calls)
}

// do runs one API call: it waits for a token of the call's bucket, counts
// the call and retries Throttled/Transient failures with backoff. Errors
// come back classified (*providers.Error).
func (p *Provider) do(ctx context.Context, b bucket, method string, fn func(ctx context.Context) error) error {
	var last *providers.Error
	for attempt := 1; ; attempt++ {
		if err := p.limiters[b].Wait(ctx); err != nil {
			if last != nil {
				return last
			}
			return ctxError(ctx, err)
		}
		p.mu.Lock()
		p.calls[method]++
		p.mu.Unlock()
		err := p.call(ctx, fn)
		if p.counter != nil {
			outcome := providers.CallOK
			if err != nil {
				outcome = providers.CallOutcome(classify(err))
			}
			p.counter.APICall(method, outcome, attempt > 1)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctxError(ctx, err)
		}
		if p.closing.Err() != nil {
			return classify(err) // no retries during shutdown
		}
		pe := classify(err)
		last = pe
		if !pe.Retryable() || pe.Kind == providers.InUse || pe.Code == codeOpRateExceeded || attempt >= p.limits.MaxAttempts {
			return pe
		}
		d := backoff.Exponential(p.limits.RetryBase, p.limits.RetryMax, attempt)
		p.log.Debug("gcp: retrying", zap.String("operation", method), zap.Int("attempt", attempt), zap.Duration("after", d), zap.Error(err))
		if err := backoff.Sleep(ctx, d); err != nil {
			return pe
		}
	}
}

func ctxError(ctx context.Context, err error) error {
	cause := ctx.Err()
	if cause == nil {
		cause = err
	}
	return &providers.Error{Provider: ProviderName, Kind: providers.Transient, Code: "contextDone", Message: cause.Error(), Err: cause}
}

func (p *Provider) bumpGen(key string) {
	p.mu.Lock()
	p.gen[key]++
	p.mu.Unlock()
}

func (p *Provider) genOf(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen[key]
}
