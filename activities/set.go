package activities

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/metrics"
	"github.com/stratabackup/strata/notify"
	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/secrets"
)

// Deps are what one worker's activities run on.
type Deps struct {
	Catalog   catalog.Store
	Providers providers.Registry
	// Provisioners bring up restored clusters' nodes, by provider name.
	Provisioners map[string]providers.Provisioner
	// Volumes create new clusters' volumes, by provider name.
	Volumes map[string]VolumeProvisioner
	// Databases run postgres clusters' servers; nil on a worker without
	// PostgreSQL.
	Databases DatabaseServers
	Config    Config
	Secrets   *secrets.Key
	Notifier  *notify.Sender
	Logger    *zap.Logger
	// Now is the clock for records (defaults to time.Now).
	Now func() time.Time
	// Temporal is the worker's connection: jobs' schedules, the monitor's
	// schedule counts, the reconciler's workflow lookups. Nil leaves those
	// out (a worker that only sets up, as the dev demo clusters do).
	Temporal client.Client
	// TaskQueue is where job schedules start their backups.
	TaskQueue string
	// ScheduleCounts and Workflows, when set, replace Temporal's.
	ScheduleCounts ScheduleCounts
	Workflows      WorkflowLookup
	// Fleet receives the fleet gauges the monitor reads (nil: none).
	Fleet *metrics.FleetGauges
}

// Set is every activity struct of a worker, by domain.
type Set struct {
	Backups       *Backups
	Restores      *Restores
	Deletions     *Deletions
	Reconciler    *Reconciler
	Monitor       *Monitor
	Notifications *Notifications
	Clusters      *Clusters
	Jobs          *Jobs
	Channels      *Channels
	Reads         *Reads
	Profiles      *Profiles
	Lifecycles    *Lifecycles
}

// New builds the activity structs, each with the dependencies it uses.
func New(d Deps) *Set {
	common := Common{Logger: d.Logger, Now: d.Now}
	var schedules client.ScheduleClient
	if d.Temporal != nil {
		schedules = d.Temporal.ScheduleClient()
		if d.ScheduleCounts == nil {
			d.ScheduleCounts = ScheduleCountsOf(schedules)
		}
		if d.Workflows == nil {
			d.Workflows = TemporalWorkflows(d.Temporal)
		}
	}
	s := &Set{
		Backups: &Backups{Common: common, Catalog: d.Catalog, Providers: d.Providers, Config: d.Config, Databases: d.Databases},
		Restores: &Restores{Common: common, Catalog: d.Catalog, Providers: d.Providers, Provisioners: d.Provisioners, Config: d.Config,
			Volumes: d.Volumes, Databases: d.Databases},
		Deletions: &Deletions{Common: common, Catalog: d.Catalog, Providers: d.Providers, Databases: d.Databases},
		Monitor:   &Monitor{Common: common, Catalog: d.Catalog, ScheduleCounts: d.ScheduleCounts, Databases: d.Databases, Fleet: d.Fleet},
		Notifications: &Notifications{Common: common, Catalog: d.Catalog, Notifier: d.Notifier, Secrets: d.Secrets,
			Config: d.Config},
		Clusters: &Clusters{Common: common, Catalog: d.Catalog, Providers: d.Providers, Volumes: d.Volumes, Databases: d.Databases,
			Limits: d.Config.Limits()},
		Jobs:     &Jobs{Common: common, Catalog: d.Catalog, Schedules: schedules, TaskQueue: d.TaskQueue},
		Channels: &Channels{Common: common, Catalog: d.Catalog, Secrets: d.Secrets},
		Reads: &Reads{Catalog: d.Catalog, Schedules: schedules, Secrets: d.Secrets, Limits: d.Config.Limits(),
			Databases: d.Databases},
	}
	starter := &LifecycleStarter{Temporal: d.Temporal, TaskQueue: d.TaskQueue}
	s.Profiles = &Profiles{Common: common, Catalog: d.Catalog, Jobs: s.Jobs, Lifecycles: starter}
	s.Lifecycles = &Lifecycles{Common: common, Catalog: d.Catalog, Providers: d.Providers, Provisioners: d.Provisioners,
		Databases: d.Databases, Jobs: s.Jobs, Profiles: s.Profiles, PowerOffRetention: d.Config.PowerOffRetention, PowerOffNotice: d.Config.PowerOffNotice}
	s.Clusters.Lifecycles = starter
	s.Restores.Lifecycles = starter
	s.Reconciler = &Reconciler{Common: common, Catalog: d.Catalog, Providers: d.Providers, Config: d.Config,
		Workflows: d.Workflows, Backups: s.Backups, Deletions: s.Deletions, Restores: s.Restores}
	return s
}

// Registerable are the structs whose methods are activities.
func (s *Set) Registerable() []any {
	return []any{s.Backups, s.Restores, s.Deletions, s.Reconciler, s.Monitor, s.Notifications, s.Clusters, s.Jobs, s.Channels,
		s.Profiles, s.Lifecycles}
}
