// Package metrics names Strata's metrics and records them. Every metric is
// named strata_* and labelled only with bounded values (provider, region,
// engine, status, reason code, step, operation, channel kind), never a
// cluster, backup or job ID, so the number of series stays flat however
// large the fleet grows.
//
// Events are recorded through the Temporal SDK's metrics handler: in a
// workflow the one workflow.GetMetricsHandler returns, which drops what a
// replay records again, so a backup is counted once however often its
// history is replayed; elsewhere (activities, providers, notifications)
// the worker's own handler. The Prometheus exporter is in package
// metrics/prom; the fleet gauges, read from the catalog by the monitor,
// are a Fleet snapshot the exporter serves as it is at scrape time.
package metrics

import (
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/stratabackup/strata/api"
)

// Kind is how a metric is exported.
type Kind string

const (
	Counter   Kind = "counter"
	Histogram Kind = "histogram"
	Gauge     Kind = "gauge"
)

// Metric describes one exported metric family.
type Metric struct {
	// Name is the family's name in a scrape (counters end _total,
	// durations _seconds).
	Name   string
	Kind   Kind
	Help   string
	Labels []string
	// Buckets are a histogram's upper bounds, in seconds.
	Buckets []float64
}

// Label names: the only ones Strata's metrics carry.
const (
	LabelProvider  = "provider"
	LabelRegion    = "region"
	LabelEngine    = "engine"
	LabelStatus    = "status"
	LabelReason    = "reason"
	LabelStep      = "step"
	LabelTrigger   = "trigger"
	LabelOperation = "operation"
	LabelOutcome   = "outcome"
	LabelKind      = "kind"
	LabelState     = "state"
	LabelOwner     = "owner"
)

// Buckets for operation durations: from a second (a local snapshot) to a
// day (a large cloud volume's first snapshot).
var durationBuckets = []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400}

// Buckets for a backup's short steps (lock, health, completion): catalog
// writes and health reads, milliseconds to a minute.
var stepBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 14400, 86400}

// SDKBuckets are the buckets of the Temporal SDK's own latencies
// (schedule-to-start, task execution, RPCs), in seconds.
var SDKBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// The metrics a workflow records (once per run, not per replay).
var (
	BackupsStarted = Metric{Name: "strata_backups_started_total", Kind: Counter,
		Help:   "Backups recorded (Pending), by trigger: manual or scheduled.",
		Labels: []string{LabelProvider, LabelRegion, LabelEngine, LabelTrigger}}
	BackupsFinished = Metric{Name: "strata_backups_finished_total", Kind: Counter,
		Help:   "Backups that ended, by status (Completed, Defunct) and reason code (empty for Completed); a backup whose workflow was terminated counts as Defunct/Terminated, without provider labels, when the reconciler finishes its record.",
		Labels: []string{LabelProvider, LabelRegion, LabelEngine, LabelStatus, LabelReason}}
	BackupDuration = Metric{Name: "strata_backup_duration_seconds", Kind: Histogram,
		Help:   "Time from a backup's record to its end, by status.",
		Labels: []string{LabelProvider, LabelRegion, LabelEngine, LabelStatus}, Buckets: durationBuckets}
	BackupStepDuration = Metric{Name: "strata_backup_step_duration_seconds", Kind: Histogram,
		Help:   "Time a backup's step took: lock, health, snapshot (from InProgress until every snapshot completed), completion.",
		Labels: []string{LabelProvider, LabelRegion, LabelEngine, LabelStep}, Buckets: stepBuckets}
	Snapshots = Metric{Name: "strata_snapshots_total", Kind: Counter,
		Help:   "Snapshots of Completed backups.",
		Labels: []string{LabelProvider, LabelRegion}}
	SnapshotBytes = Metric{Name: "strata_snapshot_bytes_total", Kind: Counter,
		Help:   "Size of the volumes snapshotted by Completed backups, in bytes.",
		Labels: []string{LabelProvider, LabelRegion}}
	LockContention = Metric{Name: "strata_lock_contention_total", Kind: Counter,
		Help:   "Operations refused because another one held the cluster's lock (ClusterLocked), by operation.",
		Labels: []string{LabelProvider, LabelRegion, LabelOperation}}
	RestoresStarted = Metric{Name: "strata_restores_started_total", Kind: Counter,
		Help:   "Restores recorded.",
		Labels: []string{LabelProvider, LabelRegion, LabelEngine}}
	RestoresFinished = Metric{Name: "strata_restores_finished_total", Kind: Counter,
		Help:   "Restores that ended, by status (Completed, Failed) and reason code.",
		Labels: []string{LabelProvider, LabelRegion, LabelEngine, LabelStatus, LabelReason}}
	RestoreDuration = Metric{Name: "strata_restore_duration_seconds", Kind: Histogram,
		Help:   "Time from a restore's record to its end, by status.",
		Labels: []string{LabelProvider, LabelRegion, LabelEngine, LabelStatus}, Buckets: durationBuckets}
	DeletionsStarted = Metric{Name: "strata_deletions_started_total", Kind: Counter,
		Help: "Backup deletions started (Deleting)."}
	DeletionsFinished = Metric{Name: "strata_deletions_finished_total", Kind: Counter,
		Help:   "Backup deletions that ended, by status (Deleted, Failed) and reason code.",
		Labels: []string{LabelStatus, LabelReason}}
	DeletionDuration = Metric{Name: "strata_deletion_duration_seconds", Kind: Histogram,
		Help:   "Time a backup deletion took, by status.",
		Labels: []string{LabelStatus}, Buckets: durationBuckets}
	PrunesStarted = Metric{Name: "strata_prunes_started_total", Kind: Counter,
		Help: "Job prunes (retention runs) started."}
	PrunesFinished = Metric{Name: "strata_prunes_finished_total", Kind: Counter,
		Help:   "Job prunes that ended, by status: Completed (every deletion it planned succeeded), Partial (some failed), Failed (it could not plan).",
		Labels: []string{LabelStatus}}
	PruneDuration = Metric{Name: "strata_prune_duration_seconds", Kind: Histogram,
		Help:   "Time a job prune took (planning and its deletions), by status.",
		Labels: []string{LabelStatus}, Buckets: durationBuckets}
	PrunedBackups = Metric{Name: "strata_pruned_backups_total", Kind: Counter,
		Help: "Backups prunes deleted."}
	ReconcileOrphansFound = Metric{Name: "strata_reconcile_orphans_found_total", Kind: Counter,
		Help:   "Strata-tagged snapshots the reconciler found with no live backup that owns them (past the grace period), by owner: defunct (a Defunct backup's, cleaned up by design), deleted (a deleted backup's, left behind), unknown (no such backup in the catalog).",
		Labels: []string{LabelProvider, LabelRegion, LabelOwner}}
	ReconcileOrphansDeleted = Metric{Name: "strata_reconcile_orphans_deleted_total", Kind: Counter,
		Help:   "Orphan snapshots the reconciler deleted, by owner.",
		Labels: []string{LabelProvider, LabelRegion, LabelOwner}}
	ReconcileMissing = Metric{Name: "strata_reconcile_missing_backups_total", Kind: Counter,
		Help: "Completed backups the reconciler marked Missing: a snapshot of theirs is gone at the provider."}
)

// The metrics recorded outside workflows.
var (
	ProviderCalls = Metric{Name: "strata_provider_api_calls_total", Kind: Counter,
		Help:   "Cloud API requests (every attempt, retries included), by operation and outcome: ok, throttled, error.",
		Labels: []string{LabelProvider, LabelRegion, LabelOperation, LabelOutcome}}
	ProviderThrottles = Metric{Name: "strata_provider_api_throttles_total", Kind: Counter,
		Help:   "Cloud API requests the cloud throttled (RequestLimitExceeded, 429, rateLimitExceeded).",
		Labels: []string{LabelProvider, LabelRegion, LabelOperation}}
	ProviderRetries = Metric{Name: "strata_provider_api_retries_total", Kind: Counter,
		Help:   "Cloud API requests that repeated an earlier attempt of the same call.",
		Labels: []string{LabelProvider, LabelRegion, LabelOperation}}
	Notifications = Metric{Name: "strata_notifications_total", Kind: Counter,
		Help:   "Notification deliveries, by channel kind (webhook, slack, email, ...) and outcome: delivered or failed (every attempt).",
		Labels: []string{LabelKind, LabelOutcome}}
)

// The fleet gauges: read from the catalog by the monitor (see
// FleetGauges).
var (
	FleetJobs = Metric{Name: "strata_jobs", Kind: Gauge,
		Help:   "Backup jobs by freshness state: fresh, stale (no Completed backup within its bound), paused.",
		Labels: []string{LabelState}}
	FleetRPO = Metric{Name: "strata_fleet_rpo_seconds", Kind: Gauge,
		Help: "Fleet recovery point: the age of the oldest newest-Completed backup across active jobs (a job with none counts from its creation)."}
	FleetBackups = Metric{Name: "strata_backups", Kind: Gauge,
		Help:   "Backups in the catalog by status.",
		Labels: []string{LabelStatus}}
	FleetArchiveLag = Metric{Name: "strata_wal_archive_lag_seconds", Kind: Gauge,
		Help: "The largest WAL archive lag across postgres clusters: how long the oldest completed WAL segment not yet archived has waited (0: all archived)."}
	FleetArchiveStalled = Metric{Name: "strata_wal_archive_stalled_clusters", Kind: Gauge,
		Help: "Postgres clusters whose WAL archiving is stalled (lag over --max-archive-lag, or failing)."}
	FleetRefreshed = Metric{Name: "strata_fleet_refreshed_timestamp_seconds", Kind: Gauge,
		Help: "When this worker last read the fleet gauges from the catalog (Unix time); with several workers, the freshest one's gauges are current."}
)

// All lists every strata_* metric the worker exports.
var All = []Metric{
	BackupsStarted, BackupsFinished, BackupDuration, BackupStepDuration, Snapshots, SnapshotBytes, LockContention,
	RestoresStarted, RestoresFinished, RestoreDuration, DeletionsStarted, DeletionsFinished, DeletionDuration,
	PrunesStarted, PrunesFinished, PruneDuration, PrunedBackups, ReconcileOrphansFound, ReconcileOrphansDeleted, ReconcileMissing,
	ProviderCalls, ProviderThrottles, ProviderRetries, Notifications,
	FleetJobs, FleetRPO, FleetBackups, FleetArchiveLag, FleetArchiveStalled, FleetRefreshed,
}

// Instrument is the name the SDK's handler is given: the OpenTelemetry
// exporter adds _total to counters and _seconds to durations.
func (m Metric) Instrument() string {
	switch m.Kind {
	case Counter:
		return strings.TrimSuffix(m.Name, "_total")
	case Histogram:
		return strings.TrimSuffix(m.Name, "_seconds")
	}
	return m.Name
}

// Tags are a metric's label values by name.
type Tags map[string]string

// Inc adds n to counter m.
func Inc(h client.MetricsHandler, m Metric, tags Tags, n int64) {
	if h == nil || n < 0 {
		return
	}
	h.WithTags(tags).Counter(m.Instrument()).Inc(n)
}

// Observe records d in histogram m.
func Observe(h client.MetricsHandler, m Metric, tags Tags, d time.Duration) {
	if h == nil || d < 0 {
		return
	}
	h.WithTags(tags).Timer(m.Instrument()).Record(d)
}

// Declare makes every counter appear at zero in a scrape before its first
// event, so that rate() and the shipped alerts see the series from the
// worker's start rather than only after the first failure.
func Declare(h client.MetricsHandler) {
	for _, m := range All {
		if m.Kind == Counter {
			h.Counter(m.Instrument()).Inc(0)
		}
	}
}

// DeclareOutcomes makes the series of every outcome of counter m with
// tags appear at zero: status ok with no reason, and status failed with
// each reason code. Prometheus's increase() and rate() cannot see a
// series' first event when the series is born with it, so without this
// the first Timeout of a provider and region would never reach an alert.
func DeclareOutcomes(h client.MetricsHandler, m Metric, tags Tags, ok, failed string) {
	if h == nil {
		return
	}
	h = h.WithTags(tags)
	h.WithTags(Tags{LabelStatus: ok, LabelReason: ""}).Counter(m.Instrument()).Inc(0)
	for _, r := range knownReasons {
		h.WithTags(Tags{LabelStatus: failed, LabelReason: r}).Counter(m.Instrument()).Inc(0)
	}
}

// knownReasons are the reason codes a label may carry; any other error
// type (a library's) is "Other", which keeps the label bounded.
var knownReasons = []string{
	api.ReasonInvalidRequest, api.ReasonClusterNotFound, api.ReasonClusterLocked, api.ReasonClusterUnhealthy,
	api.ReasonSnapshotFailed, api.ReasonSnapshotMissing, api.ReasonProviderError, api.ReasonLockLost, api.ReasonTimeout,
	api.ReasonCancelled, api.ReasonInternal, api.ReasonTerminated, api.ReasonRestoreFailed, api.ReasonBackupInUse,
	api.ReasonInvalidState, api.ReasonDeleteFailed, api.ReasonJobNotFound, api.ReasonBackupMissing, api.ReasonNotFound,
	api.ReasonDatabaseBackupFailed, api.ReasonClusterPoweredOff, api.ReasonNoBackups, api.ReasonPowerFailed,
}

// Reason is code as a label value: itself if it is one of Strata's reason
// codes, "" for none, else "Other".
func Reason(code string) string {
	if code == "" || slices.Contains(knownReasons, code) {
		return code
	}
	return "Other"
}

// ProviderTags are the labels of an operation on a provider's region.
func ProviderTags(provider, region string) Tags {
	return Tags{LabelProvider: provider, LabelRegion: region}
}

// APICalls counts one provider region's cloud API requests (it is what
// providers.Config.Calls takes).
type APICalls struct {
	h                client.MetricsHandler
	provider, region string
}

// NewAPICalls counts provider's requests in region through h.
func NewAPICalls(h client.MetricsHandler, provider, region string) *APICalls {
	return &APICalls{h: h, provider: provider, region: region}
}

// Outcomes of a cloud API request.
const (
	OutcomeOK        = "ok"
	OutcomeThrottled = "throttled"
	OutcomeError     = "error"
)

// APICall records one request of operation op: its outcome (OutcomeOK,
// OutcomeThrottled, OutcomeError) and whether it retried an earlier
// attempt of the same call.
func (c *APICalls) APICall(op, outcome string, retry bool) {
	if c == nil || c.h == nil {
		return
	}
	tags := Tags{LabelProvider: c.provider, LabelRegion: c.region, LabelOperation: op}
	h := c.h.WithTags(tags)
	h.WithTags(Tags{LabelOutcome: outcome}).Counter(ProviderCalls.Instrument()).Inc(1)
	if outcome == OutcomeThrottled {
		h.Counter(ProviderThrottles.Instrument()).Inc(1)
	}
	if retry {
		h.Counter(ProviderRetries.Instrument()).Inc(1)
	}
}
