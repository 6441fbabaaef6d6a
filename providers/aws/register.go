package aws

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stratabackup/strata/providers"
)

func init() { providers.Register(Name, open) }

// open is the aws Factory: one Provider, with its provisioner, per region.
func open(ctx context.Context, cfg providers.Config) (providers.Instance, error) {
	o := Options{
		Region: cfg.Region, Endpoint: cfg.Endpoint, Logger: cfg.Logger,
		PollBatchWindow: cfg.PollBatchWindow, VolumePollInterval: cfg.PollInterval, Calls: cfg.Calls,
	}
	if cfg.Anonymous {
		o.Credentials = aws.AnonymousCredentials{}
	}
	if cfg.MaxAttempts > 0 || cfg.RetryDelay > 0 {
		o.Retryer = newRetryer(cfg.MaxAttempts, cfg.RetryDelay)
	}
	p, err := New(ctx, o)
	if err != nil {
		return providers.Instance{}, err
	}
	return providers.Instance{Provider: p, Provisioner: p.Provisioner()}, nil
}
