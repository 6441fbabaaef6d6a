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

	"go.uber.org/zap"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/aws/awsfake"
	_ "github.com/stratabackup/strata/providers/clouds"
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
	// Calls, when set, gives each provider a counter of its API requests
	// (the worker's metrics).
	Calls func(provider, region string) providers.CallCounter
}

// Clouds are running fakes and the providers pointed at them.
type Clouds struct {
	AWS         *awsfake.Server
	GCP         *gcpfake.Server
	AWSProvider providers.Provider
	GCPProvider providers.Provider

	// opened are the providers by registry key, in the order opened.
	opened []opened
}

type opened struct {
	key string
	providers.Instance
}

// Start starts both fakes and, through the provider registry as the
// worker does, their providers.
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
	for _, cl := range []struct {
		name string
		cfg  providers.Config
		set  *providers.Provider
	}{
		// The AWS fake answers at once: back off briefly between retries.
		{"aws", providers.Config{Region: AWSRegion, Endpoint: c.AWS.URL(), MaxAttempts: 10, RetryDelay: 5 * time.Millisecond}, &c.AWSProvider},
		{"gcp", providers.Config{Region: GCPRegion, Endpoint: c.GCP.URL(), Project: GCPProject}, &c.GCPProvider},
	} {
		cfg := cl.cfg
		cfg.Anonymous, cfg.PollBatchWindow, cfg.PollInterval = true, window, volPoll
		cfg.Logger = o.Logger.Named(cl.name).With(zap.String("provider", cl.name), zap.String("region", cfg.Region))
		if o.Calls != nil {
			cfg.Calls = o.Calls(cl.name, cfg.Region)
		}
		in, err := providers.Open(ctx, cl.name, cfg)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%s provider on the fake: %w", cl.name, err)
		}
		c.opened = append(c.opened, opened{key: providers.Key(cl.name, cfg.Region), Instance: in})
		*cl.set = in.Provider
	}
	return c, nil
}

// Register adds the providers and provisioners, keyed by provider and region.
func (c *Clouds) Register(reg providers.Registry, provs map[string]providers.Provisioner) {
	for _, o := range c.opened {
		reg[o.key] = o.Provider
		provs[o.key] = o.Provisioner
	}
}

// Close stops everything.
func (c *Clouds) Close() {
	for _, o := range c.opened {
		if o.Close != nil {
			_ = o.Close()
		}
	}
	if c.AWS != nil {
		c.AWS.Close()
	}
	if c.GCP != nil {
		c.GCP.Close()
	}
}
