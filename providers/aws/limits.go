package aws

import (
	"context"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/stratabackup/strata/providers/internal/backoff"
)

// Bucket is a token bucket: Size tokens at most, refilled at
// RefillPerSecond; each request takes one token.
type Bucket struct {
	Size            int
	RefillPerSecond float64
}

// Limits are the client-side request-rate buckets, shared by all calls on
// one Provider. Like EC2's own (notes §3.5: per account, per region, per
// API action), there is one bucket per action, sized by the action's
// category. Zero fields take the defaults, which are EC2's published
// bucket sizes; since EC2's buckets are shared by every client of the
// account and region, a worker that shares an account should configure
// smaller ones.
type Limits struct {
	// NonMutating: Describe*, List*, Get*, Search* (filtered or paginated,
	// as Strata's always are). Default {100, 20}.
	NonMutating Bucket
	// SnapshotVolume: CreateSnapshot, CreateSnapshots, CreateVolume,
	// DeleteSnapshot, DeleteVolume, ModifySnapshotAttribute. Default
	// {100, 5}.
	SnapshotVolume Bucket
	// Tags: CreateTags, DeleteTags. Default {100, 10}.
	Tags Bucket
	// Mutating: every other action (e.g. CopySnapshot). Default {50, 5}.
	Mutating Bucket
	// Disabled turns client-side limiting off.
	Disabled bool
}

// Default buckets: 90% of EC2's documented ones (EC2 API throttling
// documentation: non-mutating 100/20 per s, snapshot and volume actions
// 100/5, tags 100/10, other mutating 50/5). The margin absorbs request
// timing jitter between this client-side bucket and EC2's server-side one,
// which the 1,000-backup benchmark showed tipping over at 100%.
var (
	DefaultNonMutating    = Bucket{Size: 90, RefillPerSecond: 18}
	DefaultSnapshotVolume = Bucket{Size: 90, RefillPerSecond: 4.5}
	DefaultTags           = Bucket{Size: 90, RefillPerSecond: 9}
	DefaultMutating       = Bucket{Size: 45, RefillPerSecond: 4.5}
)

// WithDefaults returns l with zero buckets set to the defaults.
func (l Limits) WithDefaults() Limits {
	def := func(b *Bucket, d Bucket) {
		if b.Size <= 0 {
			b.Size = d.Size
		}
		if b.RefillPerSecond <= 0 {
			b.RefillPerSecond = d.RefillPerSecond
		}
	}
	def(&l.NonMutating, DefaultNonMutating)
	def(&l.SnapshotVolume, DefaultSnapshotVolume)
	def(&l.Tags, DefaultTags)
	def(&l.Mutating, DefaultMutating)
	return l
}

// BucketFor returns the bucket category of an EC2 action.
func (l Limits) BucketFor(action string) Bucket {
	switch action {
	case "CreateSnapshot", "CreateSnapshots", "CreateVolume", "DeleteSnapshot", "DeleteVolume", "ModifySnapshotAttribute":
		return l.SnapshotVolume
	case "CreateTags", "DeleteTags":
		return l.Tags
	}
	for _, p := range []string{"Describe", "List", "Get", "Search"} {
		if strings.HasPrefix(action, p) {
			return l.NonMutating
		}
	}
	return l.Mutating
}

type limiter struct {
	limits Limits
	mu     sync.Mutex
	m      map[string]*rate.Limiter
}

func newLimiter(l Limits) *limiter {
	return &limiter{limits: l.WithDefaults(), m: map[string]*rate.Limiter{}}
}

func (l *limiter) get(action string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	rl := l.m[action]
	if rl == nil {
		b := l.limits.BucketFor(action)
		rl = rate.NewLimiter(rate.Limit(b.RefillPerSecond), b.Size)
		l.m[action] = rl
	}
	return rl
}

// wait takes a token of action's bucket, waiting for one (honouring ctx).
func (l *limiter) wait(ctx context.Context, action string) error {
	if l.limits.Disabled {
		return nil
	}
	rl := l.get(action)
	r := rl.Reserve()
	if !r.OK() {
		return errorf("Throttled", "client-side rate limit of %s cannot grant a token", action)
	}
	d := r.Delay()
	if d == 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		r.Cancel()
		pe := errorf("Throttled", "client-side rate limit of %s: next token in %v, after the call's deadline", action, d.Round(time.Millisecond))
		pe.RetryAfter = d
		return pe
	}
	if err := backoff.Sleep(ctx, d); err != nil {
		r.Cancel()
		return err
	}
	return nil
}
