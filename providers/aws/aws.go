// Package aws is Strata's EBS provider: snapshots of EBS volumes and
// restores of volumes from them, on aws-sdk-go-v2's EC2 client.
//
// One Provider serves one region; a worker keeps one per region it serves.
// All calls on a Provider share one client-side rate limiter (token buckets
// modelled on EC2's per-action request-rate buckets) and one coalescing
// poller for GetSnapshots, so that many concurrent backups cost few
// DescribeSnapshots calls.
//
// Tests run the real SDK client against the stateful EC2 fake in awsfake.
package aws

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/internal/keyedmutex"
	"github.com/stratabackup/strata/providers/internal/poll"
)

// Name is the provider's name as clusters record it.
const Name = "aws"

// Tag keys Strata puts on the snapshots and volumes it creates.
const (
	TagBackupID  = "strata:backup-id"
	TagClusterID = "strata:cluster-id"
	TagNodeID    = "strata:node-id"
	TagVolumeID  = "strata:volume-id"
)

// Defaults.
const (
	// DefaultPollBatchWindow is how long GetSnapshots waits to gather
	// concurrent callers into one DescribeSnapshots.
	DefaultPollBatchWindow = 200 * time.Millisecond
	// DefaultVolumePollInterval is how often CreateVolume polls
	// DescribeVolumes while the volume is being created.
	DefaultVolumePollInterval = 2 * time.Second
	// DefaultMaxAttempts is the SDK retryer's attempts per call (the SDK's
	// own default is 3).
	DefaultMaxAttempts = 5
	// MaxFilterValues is EC2's limit on values per Describe* call (all
	// filters together); GetSnapshots chunks its IDs to it.
	MaxFilterValues = 200
)

// batchTimeout bounds one coalesced batch's calls.
const batchTimeout = 2 * time.Minute

// Options configure a Provider.
type Options struct {
	// Region is the EC2 region, e.g. "us-east-1". Required unless the
	// default config chain supplies one.
	Region string
	// Endpoint overrides the EC2 endpoint (private endpoints, tests).
	Endpoint string
	// Credentials; nil means the SDK's default chain
	// (config.LoadDefaultConfig: env, shared config, SSO, IMDS, ...).
	Credentials aws.CredentialsProvider
	// HTTPClient, optional.
	HTTPClient *http.Client
	// Limits are the client-side request-rate buckets; zero fields take
	// the defaults (see Limits).
	Limits Limits
	// PollBatchWindow is how long GetSnapshots gathers concurrent callers
	// before one DescribeSnapshots serves them all; default
	// DefaultPollBatchWindow, negative disables coalescing.
	PollBatchWindow time.Duration
	// Logger, optional.
	Logger *zap.Logger

	// Retryer overrides the SDK retryer (tests pass a fast one). Default:
	// retry.NewStandard with DefaultMaxAttempts attempts, the SDK's
	// backoff (1 s base for throttling, 50 ms otherwise, 20 s cap) and no
	// client-side retry quota (the Limits buckets pace requests instead, and
	// a drained quota would fail calls fast in a throttling storm).
	// StartSnapshot's own retry loop uses its RetryDelay and MaxAttempts.
	Retryer aws.Retryer
	// VolumePollInterval is how often CreateVolume polls while the volume
	// is created; default DefaultVolumePollInterval.
	VolumePollInterval time.Duration
	// Calls counts the EC2 requests for the worker's metrics (nil: not
	// counted).
	Calls providers.CallCounter
}

// Provider is the EBS provider. Safe for concurrent use.
type Provider struct {
	client  *ec2.Client
	region  string
	log     *zap.Logger
	limiter *limiter
	retryer aws.Retryer
	counter providers.CallCounter

	window       time.Duration
	volumePoll   time.Duration
	callsMu      sync.Mutex
	calls        map[string]int
	poller       *poll.Coalescer[providers.Snapshot]
	lookups      *poll.Coalescer[[]types.Snapshot]
	startLocks   keyedmutex.Map
	createdMu    sync.Mutex
	created      map[string]created // (backup, volume) key -> snapshot this process created
	provisioned  sync.Map           // clusterID/nodeID -> []string volume refs
	detachedBase context.Context
}

var _ providers.Provider = (*Provider)(nil)

// New builds a Provider. With nil Credentials it loads the SDK's default
// config (which may read the environment and shared files).
func New(ctx context.Context, o Options) (*Provider, error) {
	p := &Provider{
		region:       o.Region,
		log:          o.Logger,
		limiter:      newLimiter(o.Limits),
		counter:      o.Calls,
		window:       o.PollBatchWindow,
		volumePoll:   o.VolumePollInterval,
		calls:        map[string]int{},
		created:      map[string]created{},
		detachedBase: context.Background(),
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.window == 0 {
		p.window = DefaultPollBatchWindow
	}
	if p.volumePoll <= 0 {
		p.volumePoll = DefaultVolumePollInterval
	}
	p.retryer = o.Retryer
	if p.retryer == nil {
		p.retryer = newRetryer(0, 0)
	}
	apply := func(eo *ec2.Options) {
		if o.Region != "" {
			eo.Region = o.Region
		}
		if o.Endpoint != "" {
			eo.BaseEndpoint = aws.String(o.Endpoint)
		}
		if o.HTTPClient != nil {
			eo.HTTPClient = o.HTTPClient
		}
		eo.Retryer = p.retryer
		eo.APIOptions = append(eo.APIOptions, p.addMiddleware)
	}
	if o.Credentials != nil {
		if o.Region == "" {
			return nil, &providers.Error{Provider: Name, Kind: providers.Invalid, Message: "aws provider: Options.Region is required"}
		}
		eo := ec2.Options{Region: o.Region, Credentials: o.Credentials}
		apply(&eo)
		p.client = ec2.New(eo)
	} else {
		var lo []func(*config.LoadOptions) error
		if o.Region != "" {
			lo = append(lo, config.WithRegion(o.Region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, lo...)
		if err != nil {
			return nil, &providers.Error{Provider: Name, Kind: providers.Permission, Message: "load AWS default config: " + err.Error(), Err: err}
		}
		if cfg.Region == "" {
			return nil, &providers.Error{Provider: Name, Kind: providers.Invalid, Message: "aws provider: no region (set Options.Region or AWS_REGION)"}
		}
		p.region = cfg.Region
		p.client = ec2.NewFromConfig(cfg, apply)
	}
	p.poller = &poll.Coalescer[providers.Snapshot]{Window: p.window, Timeout: batchTimeout, Base: p.detachedBase, Fetch: p.fetchSnapshots}
	p.lookups = &poll.Coalescer[[]types.Snapshot]{Window: p.window, Timeout: batchTimeout, Base: p.detachedBase, Fetch: p.lookupStarted}
	return p, nil
}

// Name returns "aws".
func (p *Provider) Name() string { return Name }

// Region is the provider's region.
func (p *Provider) Region() string { return p.region }

// Client is the underlying EC2 client (its calls bypass nothing: they
// still go through the rate limiter and call counter).
func (p *Provider) Client() *ec2.Client { return p.client }

// Calls reports the EC2 requests made (every HTTP attempt, retries
// included), by action.
func (p *Provider) Calls() map[string]int {
	p.callsMu.Lock()
	defer p.callsMu.Unlock()
	return maps.Clone(p.calls)
}

// addMiddleware puts the rate limiter and call counter after the SDK's
// retry middleware, so that every attempt (retries too) waits for a token
// and is counted; a counter put in the context before the retry
// middleware tells a call's retries from its first attempt.
func (p *Provider) addMiddleware(stack *middleware.Stack) error {
	first := middleware.InitializeMiddlewareFunc("StrataAttempts", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		return next.HandleInitialize(context.WithValue(ctx, attemptsKey{}, new(int)), in)
	})
	if err := stack.Initialize.Add(first, middleware.Before); err != nil {
		return err
	}
	mw := middleware.FinalizeMiddlewareFunc("StrataRateLimit", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		op := awsmiddleware.GetOperationName(ctx)
		if err := p.limiter.wait(ctx, op); err != nil {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, err
		}
		p.callsMu.Lock()
		p.calls[op]++
		p.callsMu.Unlock()
		out, md, err := next.HandleFinalize(ctx, in)
		if p.counter != nil {
			retry := false
			if n, ok := ctx.Value(attemptsKey{}).(*int); ok {
				*n++
				retry = *n > 1
			}
			p.counter.APICall(op, providers.CallOutcome(classify(err)), retry)
		}
		return out, md, err
	})
	if err := stack.Finalize.Insert(mw, "Retry", middleware.After); err != nil {
		return stack.Finalize.Add(mw, middleware.After)
	}
	return nil
}

// attemptsKey keys the attempts of one EC2 call so far.
type attemptsKey struct{}

// newRetryer is the SDK's standard retryer with attempts attempts
// (DefaultMaxAttempts if not positive) and no client-side retry quota; a
// positive delay replaces its backoff with that fixed delay.
func newRetryer(attempts int, delay time.Duration) aws.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = DefaultMaxAttempts
		if attempts > 0 {
			so.MaxAttempts = attempts
		}
		so.RateLimiter = ratelimit.None
		if delay > 0 {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return delay, nil })
		}
	})
}

func errorf(kind providers.ErrorKind, format string, args ...any) *providers.Error {
	return &providers.Error{Provider: Name, Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
