// Package fakeclouds runs the AWS and GCP wire-level fakes in-process and
// points Strata's real AWS and GCP providers (real SDK clients) at them:
// `worker --dev --fake-clouds` and the end-to-end tests use it, so AWS- and
// GCP-shaped backups and restores run with no cloud account. The fakes keep
// their state in memory only.
package fakeclouds

import (
	"context"
	"fmt"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/aws"
	"github.com/stratabackup/strata/providers/aws/awsfake"
	"github.com/stratabackup/strata/providers/gcp"
	"github.com/stratabackup/strata/providers/gcp/gcpfake"
)

// Where the fake clouds' resources live.
const (
	AWSRegion  = "us-east-1"
	AWSZone    = "us-east-1a"
	GCPProject = "strata-dev"
	GCPRegion  = "us-central1"
	GCPZone    = "us-central1-a"
)

// Options shape the fakes.
type Options struct {
	// SnapshotDuration is how long a snapshot takes at the fakes.
	SnapshotDuration time.Duration
	// Fast: short batch windows and volume polls, for tests.
	Fast   bool
	Logger *zap.Logger
}

// Clouds are running fakes and the providers pointed at them.
type Clouds struct {
	AWS         *awsfake.Server
	GCP         *gcpfake.Server
	AWSProvider *aws.Provider
	GCPProvider *gcp.Provider
}

// Start starts both fakes and their providers.
func Start(ctx context.Context, o Options) (*Clouds, error) {
	if o.SnapshotDuration == 0 {
		o.SnapshotDuration = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	c := &Clouds{
		AWS: awsfake.New(awsfake.Options{SnapshotDuration: o.SnapshotDuration, VolumeDuration: 200 * time.Millisecond}),
		GCP: gcpfake.New(GCPProject),
	}
	c.GCP.SetSnapshotDuration(o.SnapshotDuration)
	c.GCP.SetDiskDuration(200 * time.Millisecond)
	window, volPoll := 200*time.Millisecond, time.Second
	if o.Fast {
		window, volPoll = 10*time.Millisecond, 20*time.Millisecond
	}
	var err error
	c.AWSProvider, err = aws.New(ctx, aws.Options{
		Region: AWSRegion, Endpoint: c.AWS.URL(), Credentials: awssdk.AnonymousCredentials{},
		// The fake answers at once: back off briefly between retries.
		Retryer: retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 10
			so.RateLimiter = ratelimit.None
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 5 * time.Millisecond, nil })
		}),
		PollBatchWindow: window, VolumePollInterval: volPoll, Logger: o.Logger.Named("aws"),
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("aws provider on the fake: %w", err)
	}
	c.GCPProvider, err = gcp.New(ctx, gcp.Options{
		Project: GCPProject, Region: GCPRegion, Endpoint: c.GCP.URL(),
		ClientOptions:   []option.ClientOption{option.WithoutAuthentication()},
		PollBatchWindow: window, Logger: o.Logger.Named("gcp"),
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("gcp provider on the fake: %w", err)
	}
	return c, nil
}

// Register adds the providers and provisioners, keyed by provider and region.
func (c *Clouds) Register(reg providers.Registry, provs map[string]providers.Provisioner) {
	reg[providers.Key("aws", AWSRegion)] = c.AWSProvider
	reg[providers.Key("gcp", GCPRegion)] = c.GCPProvider
	provs[providers.Key("aws", AWSRegion)] = c.AWSProvider.Provisioner()
	provs[providers.Key("gcp", GCPRegion)] = c.GCPProvider.Provisioner()
}

// Close stops everything.
func (c *Clouds) Close() {
	if c.GCPProvider != nil {
		c.GCPProvider.Close()
	}
	if c.AWS != nil {
		c.AWS.Close()
	}
	if c.GCP != nil {
		c.GCP.Close()
	}
}
