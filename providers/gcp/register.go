package gcp

import (
	"context"

	"google.golang.org/api/option"

	"github.com/stratabackup/strata/providers"
)

func init() { providers.Register(ProviderName, open) }

// open is the gcp Factory: one Provider per region of cfg.Project, with its
// provisioner; Close releases its compute clients.
func open(ctx context.Context, cfg providers.Config) (providers.Instance, error) {
	o := Options{
		Project: cfg.Project, Region: cfg.Region, Endpoint: cfg.Endpoint, Logger: cfg.Logger,
		PollBatchWindow: cfg.PollBatchWindow, Calls: cfg.Calls,
		Limits: Limits{MaxAttempts: cfg.MaxAttempts, RetryBase: cfg.RetryDelay, RetryMax: cfg.RetryDelay},
	}
	if cfg.Anonymous {
		o.ClientOptions = []option.ClientOption{option.WithoutAuthentication()}
	}
	p, err := New(ctx, o)
	if err != nil {
		return providers.Instance{}, err
	}
	return providers.Instance{Provider: p, Provisioner: p.Provisioner(), Close: p.Close}, nil
}
