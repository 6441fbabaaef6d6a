package workercmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/codec"
	"github.com/stratabackup/strata/api/devenv"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/devserver"
	"github.com/stratabackup/strata/internal/fakeclouds"
	"github.com/stratabackup/strata/internal/zapadapter"
)

// demoClusters are created on a dev setup's first start, so there is
// something to back up at once.
var demoClusters = []api.CreateClusterRequest{
	{ID: "demo-3node", Description: "demo 3-node cluster", Nodes: 3, VolumesPerNode: 2, DiskGB: 20},
	{ID: "demo-1node", Description: "demo single node", Nodes: 1, VolumesPerNode: 1, DiskGB: 10},
}

// demoPostgres is the demo PostgreSQL cluster, where the machine has
// PostgreSQL: a primary and two streaming replicas.
var demoPostgres = api.CreateClusterRequest{ID: "demo-pg", Description: "demo PostgreSQL: a primary and two replicas",
	Engine: api.EnginePostgres, Nodes: 3, VolumesPerNode: 1, DiskGB: 10}

func runDev(ctx context.Context, o options, logger *zap.Logger) error {
	if o.catalog == "" {
		o.catalog = filepath.Join(o.dataDir, "catalog.db")
	}
	attrs := map[string]enumspb.IndexedValueType{}
	for _, name := range api.SearchAttributeNames {
		attrs[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	logger.Info("starting embedded Temporal server", zap.String("dataDir", o.dataDir))
	codecEndpoint := ""
	var codecLn net.Listener
	if o.codecListen != "" {
		var err error
		if codecLn, err = listenCodec(o); err != nil {
			return err
		}
		defer codecLn.Close()
		codecEndpoint = codecURL(codecLn)
	}
	srv, err := devserver.Start(ctx, devserver.Options{
		DataDir: o.dataDir, FrontendPort: o.temporalPort, UIPort: o.uiPort, SearchAttributes: attrs, CodecEndpoint: codecEndpoint,
	})
	if err != nil {
		return err
	}
	defer srv.Stop()

	if o.cfg.UIURL == "" {
		o.cfg.UIURL = srv.UIURL()
	}
	d, err := openDeps(ctx, o, logger)
	if err != nil {
		return err
	}
	defer d.Close()
	created, err := ensureDemoClusters(ctx, d, o.demoPostgres, logger)
	if err != nil {
		return err
	}
	if o.fakeClouds {
		more, err := startFakeClouds(ctx, &d, o, logger)
		if err != nil {
			return err
		}
		created = append(created, more...)
	}

	if codecLn != nil {
		serveCodec(ctx, codecLn, o, append(uiOrigins(srv.UIURL()), splitList(o.codecOrigins)...), logger)
	}
	opts := client.Options{HostPort: srv.FrontendHostPort(), Namespace: srv.Namespace(), Logger: zapadapter.New(logger.Named("sdk")),
		MetricsHandler: d.metricsHandler()}
	api.PreferUncompressedOnLoopback(&opts)
	codec.Apply(&opts, o.keys)
	tc, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("connecting to the embedded Temporal server: %w", err)
	}
	defer tc.Close()
	if err := devenv.Write(o.dataDir, devenv.Env{
		TemporalAddress: srv.FrontendHostPort(), Namespace: srv.Namespace(), UIURL: srv.UIURL(), PID: os.Getpid(),
		EncryptionKeyFile: o.encryptionKeyFile, CodecEndpoint: codecEndpoint,
	}); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(o.dataDir, devenv.FileName))
	if err := ensureSchedules(ctx, tc, d, o); err != nil {
		return err
	}
	printBanner(o, srv, codecEndpoint, created)
	return serve(ctx, tc, &d, o.cfg, o.tuning, logger)
}

func ensureDemoClusters(ctx context.Context, d deps, withPostgres bool, logger *zap.Logger) ([]string, error) {
	if err := activities.EnsureDefaults(ctx, d.catalog); err != nil {
		return nil, fmt.Errorf("creating the default project and network: %w", err)
	}
	c := d.activities(activities.DefaultConfig(), nil, zap.NewNop()).Clusters
	var created []string
	specs := demoClusters
	if d.databases != nil && withPostgres {
		specs = append(specs[:len(specs):len(specs)], demoPostgres)
	}
	for _, spec := range specs {
		if _, err := d.catalog.GetCluster(ctx, spec.ID); err == nil {
			continue
		}
		spec.SetDefaults()
		if _, err := c.CreateCluster(ctx, spec); err != nil {
			if spec.Engine == api.EnginePostgres {
				// The dev setup works without it (PostgreSQL may not
				// reach a data dir under a private home).
				logger.Warn("demo PostgreSQL cluster not created", zap.String("cluster", spec.ID), zap.Error(err))
				continue
			}
			return nil, fmt.Errorf("creating demo cluster %s: %w", spec.ID, err)
		}
		created = append(created, spec.ID)
	}
	return created, nil
}

// startFakeClouds runs the AWS and GCP fakes in this process, serves them
// like real regions, and registers a demo cluster on each. The fakes keep
// state in memory: after a restart their demo volumes are seeded again
// under the same IDs, but earlier snapshots are gone (restores of those
// backups then fail validation, as they would at a real cloud).
func startFakeClouds(ctx context.Context, d *deps, o options, logger *zap.Logger) ([]string, error) {
	c, err := fakeclouds.Start(ctx, fakeclouds.Options{Logger: logger, Calls: d.calls})
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, c.Close)
	c.Register(d.providers, d.provisioners)
	for _, n := range []catalog.Network{
		{ID: "aws-default", ProjectID: "default", Provider: "aws", Region: fakeclouds.AWSRegion},
		{ID: "gcp-default", ProjectID: "default", Provider: "gcp", Region: fakeclouds.GCPRegion},
	} {
		if err := d.catalog.CreateNetwork(ctx, n); err != nil && !errors.Is(err, catalog.ErrExists) {
			return nil, err
		}
	}
	acts := d.activities(o.cfg, nil, logger).Clusters
	demos := []activities.RegisterClusterInput{
		{ID: "demo-aws", Description: "demo cluster on the AWS fake", Provider: "aws", Region: fakeclouds.AWSRegion, ProjectID: "default", NetworkID: "aws-default"},
		{ID: "demo-gcp", Description: "demo cluster on the GCP fake", Provider: "gcp", Region: fakeclouds.GCPRegion, ProjectID: "default", NetworkID: "gcp-default"},
	}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("vol-0de%014d", i)
		c.AWS.AddVolume(id, fakeclouds.AWSZone, 20)
		demos[0].Nodes = append(demos[0].Nodes, activities.RegisterNode{ID: fmt.Sprintf("demo-aws-n%d", i), VolumeRefs: []string{id}})
	}
	demos[1].Nodes = []activities.RegisterNode{{ID: "demo-gcp-n1", VolumeRefs: []string{
		c.GCP.AddDisk(fakeclouds.GCPZone, "demo-gcp-data", 20), c.GCP.AddDisk(fakeclouds.GCPZone, "demo-gcp-wal", 10),
	}}}
	var created []string
	for _, in := range demos {
		if _, err := d.catalog.GetCluster(ctx, in.ID); err == nil {
			continue
		}
		if _, err := acts.RegisterCluster(ctx, in); err != nil {
			return nil, fmt.Errorf("registering demo cluster %s: %w", in.ID, err)
		}
		created = append(created, in.ID)
	}
	return created, nil
}

func printBanner(o options, srv *devserver.Server, codecEndpoint string, created []string) {
	ui := srv.UIURL()
	if ui == "" {
		ui = "(disabled)"
	}
	fmt.Printf(`
Strata dev worker is running.

  Temporal     %s (namespace %s, task queue %s)
  Web UI       %s
  Data         %s  (Temporal and catalog SQLite files, local volumes and snapshots)
`, srv.FrontendHostPort(), srv.Namespace(), api.TaskQueue, ui, o.dataDir)
	if o.keys != nil {
		fmt.Printf("  Encryption   payloads encrypted with key %s of %s\n", o.keys.Current(), o.encryptionKeyFile)
	}
	if codecEndpoint != "" {
		fmt.Printf("  Codec server %s  (the Web UI decodes payloads with it)\n", codecEndpoint)
	}
	if o.metricsListen != "" {
		fmt.Printf("  Metrics      %s  (Prometheus; dashboard and alerts in deploy/)\n", metricsURL(o.metricsListen))
	}
	if len(created) > 0 {
		fmt.Printf("  Created demo clusters: %v\n", created)
	}
	fmt.Printf(`
Next, in another terminal:

  go run ./starter cluster list
  go run ./starter backup create --cluster demo-3node --wait
  go run ./starter backup list
  temporal workflow start --task-queue %s --type %s --input '{"clusterId":"demo-1node"}'

Stop with Ctrl-C; state is kept in %s.
`, api.TaskQueue, api.BackupWorkflowName, o.dataDir)
}
