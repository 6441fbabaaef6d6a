// Package strata is the Go client other services use to drive Strata:
// start, watch, cancel and extend backups, and manage clusters and their
// locks. The `starter` CLI is a thin layer over it.
package strata

import (
	"context"
	"errors"
	"fmt"
	"github.com/stratabackup/strata/api"
	"os"
	"path/filepath"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/internal/devenv"
	"github.com/stratabackup/strata/providers/local"
)

// Provisioner creates a volume of a new cluster at its provider.
type Provisioner interface {
	ProvisionVolume(ctx context.Context, volumeID string, dataBytes int64) (path string, err error)
}

// Client drives Strata through Temporal and reads and writes its catalog.
type Client struct {
	Temporal client.Client
	Catalog  catalog.Store
	// Provisioners create volumes for `cluster create`, by provider name.
	Provisioners map[string]Provisioner
	// Config bounds what requests may ask (e.g. the longest timeout).
	Config activities.Config
	// TaskQueue is where Strata\'s worker polls; default "strata".
	TaskQueue string
	closers   []func() error
}

// New wraps existing connections. tc may be nil for catalog-only use.
func New(tc client.Client, cat catalog.Store) *Client {
	return &Client{Temporal: tc, Catalog: cat, Provisioners: map[string]Provisioner{}, Config: activities.DefaultConfig(), TaskQueue: api.TaskQueue}
}

// DialOptions say where Strata runs. Empty fields are resolved, in order,
// from the environment (STRATA_CATALOG, TEMPORAL_ADDRESS and the SDK's other
// TEMPORAL_* variables, STRATA_DATA_DIR) and then from the dev setup that
// `worker --dev` recorded in DataDir.
type DialOptions struct {
	TemporalAddress string
	Namespace       string
	Catalog         string
	DataDir         string
	// CatalogOnly skips connecting to Temporal (cluster and lock commands
	// need only the catalog).
	CatalogOnly bool
}

// Dial connects to Temporal and opens the catalog.
func Dial(ctx context.Context, o DialOptions) (*Client, error) {
	if o.DataDir == "" {
		o.DataDir = os.Getenv("STRATA_DATA_DIR")
	}
	if o.DataDir == "" {
		o.DataDir = devenv.DefaultDataDir
	}
	if o.Catalog == "" {
		o.Catalog = os.Getenv("STRATA_CATALOG")
	}
	localRoot := filepath.Join(o.DataDir, "local")
	needDev := o.Catalog == "" || (!o.CatalogOnly && o.TemporalAddress == "" && os.Getenv("TEMPORAL_ADDRESS") == "")
	if needDev {
		env, err := devenv.Read(o.DataDir)
		if err != nil {
			return nil, err
		}
		if o.Catalog == "" {
			o.Catalog = env.Catalog
		}
		if o.TemporalAddress == "" && os.Getenv("TEMPORAL_ADDRESS") == "" {
			o.TemporalAddress = env.TemporalAddress
			if o.Namespace == "" {
				o.Namespace = env.Namespace
			}
		}
		if env.LocalRoot != "" {
			localRoot = env.LocalRoot
		}
	}
	cat, err := catalog.Open(ctx, o.Catalog)
	if err != nil {
		return nil, fmt.Errorf("opening catalog: %w", err)
	}
	c := New(nil, cat)
	c.closers = append(c.closers, cat.Close)
	// Check requests against the worker's bounds, not this binary's defaults.
	if err := activities.ApplyPublishedLimits(ctx, cat, &c.Config); err != nil {
		c.Close()
		return nil, err
	}
	lp, err := local.New(local.Options{Root: localRoot})
	if err != nil {
		c.Close()
		return nil, err
	}
	c.Provisioners["local"] = lp
	c.closers = append(c.closers, lp.Close)
	if o.CatalogOnly {
		return c, nil
	}
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("reading Temporal client settings: %w", err)
	}
	if o.TemporalAddress != "" {
		opts.HostPort = o.TemporalAddress
	}
	if o.Namespace != "" {
		opts.Namespace = o.Namespace
	}
	opts.Logger = quietLogger{}
	tc, err := client.DialContext(ctx, opts)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connecting to Temporal at %s: %w", opts.HostPort, err)
	}
	c.Temporal = tc
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

func (c *Client) temporal() (client.Client, error) {
	if c.Temporal == nil {
		return nil, errors.New("this operation needs a Temporal connection")
	}
	return c.Temporal, nil
}

// quietLogger keeps the SDK's connection chatter out of CLI output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}
