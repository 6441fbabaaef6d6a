package providers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Config is what a worker knows about one cloud region it serves. Each
// cloud maps it onto its own options; fields a cloud has no use for are
// ignored, so that the worker can build every cloud the same way.
type Config struct {
	// Region is the cloud region, also the provider's registry key.
	Region string
	// Endpoint overrides the cloud API's endpoint (private endpoints,
	// emulators and fakes).
	Endpoint string
	// Project is the account or project holding the volumes, for clouds
	// that address resources by one (GCP).
	Project string
	// Logger is optional.
	Logger *zap.Logger
	// Calls counts the provider's API requests for the worker's metrics
	// (nil: not counted).
	Calls CallCounter
	// Anonymous sends unauthenticated requests instead of looking up the
	// cloud's default credentials: only an emulator or fake at Endpoint
	// accepts them.
	Anonymous bool

	// The fields below tune a provider for a fake that answers at once;
	// zero keeps the provider's defaults, which suit a real cloud.

	// PollBatchWindow is how long status polls gather concurrent callers
	// into one call.
	PollBatchWindow time.Duration
	// PollInterval is how often a provider that polls at a fixed rate
	// checks a resource it waits for.
	PollInterval time.Duration
	// MaxAttempts bounds the attempts of one call.
	MaxAttempts int
	// RetryDelay replaces the backoff between attempts with about this
	// long.
	RetryDelay time.Duration
}

// CallCounter counts a cloud's API requests: each attempt of operation op
// (the cloud's action or method name), its outcome (CallOK,
// CallThrottled, CallFailed) and whether it repeated an earlier attempt
// of the same call.
type CallCounter interface {
	APICall(op, outcome string, retry bool)
}

// Outcomes of one API request.
const (
	CallOK        = "ok"
	CallThrottled = "throttled"
	CallFailed    = "error"
)

// CallOutcome is the outcome of a request that returned err, classified
// as a provider's classify makes it a *Error.
func CallOutcome(err error) string {
	if err == nil {
		return CallOK
	}
	if pe, ok := AsError(err); ok && pe.Kind == Throttled {
		return CallThrottled
	}
	return CallFailed
}

// Instance is what a Factory opens for one region.
type Instance struct {
	Provider Provider
	// Provisioner is nil for a provider that cannot restore.
	Provisioner Provisioner
	// Close releases the provider's clients; nil if it holds none.
	Close func() error
}

// Factory opens a cloud's provider for one region.
type Factory func(ctx context.Context, cfg Config) (Instance, error)

var factories = struct {
	mu sync.RWMutex
	m  map[string]Factory
}{m: map[string]Factory{}}

// Register makes a cloud available to Open under name, the provider name
// clusters record. Each cloud's package calls it from init, so that linking
// the package is all a worker needs to serve the cloud. Registering a name
// twice is a programming error and panics.
func Register(name string, f Factory) {
	if name == "" || f == nil {
		panic("providers: Register needs a name and a factory")
	}
	factories.mu.Lock()
	defer factories.mu.Unlock()
	if _, dup := factories.m[name]; dup {
		panic(fmt.Sprintf("providers: %q registered twice", name))
	}
	factories.m[name] = f
}

// Registered lists the names Register was called with, sorted.
func Registered() []string {
	factories.mu.RLock()
	defer factories.mu.RUnlock()
	names := make([]string, 0, len(factories.m))
	for n := range factories.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Open builds the named cloud's provider for cfg's region. Its errors are
// the factory's as they are; an unknown name is an Invalid *Error.
func Open(ctx context.Context, name string, cfg Config) (Instance, error) {
	factories.mu.RLock()
	f := factories.m[name]
	factories.mu.RUnlock()
	if f == nil {
		return Instance{}, &Error{Provider: name, Kind: Invalid,
			Message: fmt.Sprintf("provider %q is not linked into this binary (linked: %v)", name, Registered())}
	}
	return f(ctx, cfg)
}
