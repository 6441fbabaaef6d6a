package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/metrics"
	"github.com/stratabackup/strata/notify"
)

// Monitor checks jobs' freshness and their schedules' skipped and missed
// runs.
type Monitor struct {
	Common
	Catalog MonitorCatalog
	// ScheduleCounts reads schedules' skipped and missed runs.
	ScheduleCounts ScheduleCounts
	// Databases read postgres clusters' WAL archiving (nil: none here).
	Databases DatabaseServers
	// Fleet receives the fleet gauges each run reads (nil: not exported).
	Fleet *metrics.FleetGauges
}

// MonitorCatalog is the part of the catalog the monitor uses.
type MonitorCatalog interface {
	catalog.Jobs
	catalog.Backups
	catalog.Clusters
}

// ScheduleCounts reads a Temporal Schedule's skipped (overlap) and missed
// (outside the catch-up window) run counts; the worker provides it.
type ScheduleCounts func(ctx context.Context, scheduleID string) (skipped, missed int, err error)

// CheckJobsInput asks the monitor to look at every job at a time.
type CheckJobsInput struct {
	Now time.Time
	// FreshnessMultiple: a job is stale when its newest Completed backup is
	// older than this many intervals.
	FreshnessMultiple float64
	// ScheduleChecks bounds how many schedules one run reads (0:
	// DefaultScheduleChecks).
	ScheduleChecks int
}

// DefaultScheduleChecks is how many schedules one monitor run reads at
// most. Reading a schedule is a query to its scheduler workflow, so a run that
// read every schedule would grow with the fleet until it outlasted its
// interval; this keeps a run's cost flat. At 10,000 jobs with no suspects
// (below) each schedule is read every 10 runs, 50 minutes at the default
// --monitor-every; a suspect one at the next run.
const DefaultScheduleChecks = 1000

// scheduleReaders is how many schedules are read at once.
const scheduleReaders = 8

// CheckJobs looks at every live job: freshness (its newest Completed
// backup within FreshnessMultiple × its interval; paused jobs are not
// checked) and, for up to ScheduleChecks jobs, its schedule's skipped and
// missed runs: first the suspects (whose latest scheduled run left no
// Completed backup, which a skipped or missed run would do), then those
// read least recently. It records what it saw on the job and returns one
// event per change: a violation once, its recovery once, and each new
// batch of skipped or missed runs.
func (a *Monitor) CheckJobs(ctx context.Context, in CheckJobsInput) ([]notify.Event, error) {
	if msg := validate.FreshnessMultiple(in.FreshnessMultiple); msg != "" {
		return nil, InvalidRequest("invalid monitor request: %s", msg)
	}
	jobs, err := a.Catalog.ListJobs(ctx, "")
	if err != nil {
		return nil, classify(err, "listing jobs")
	}
	var events []notify.Event
	monitors := make([]catalog.JobMonitor, len(jobs))
	suspect := make([]bool, len(jobs))
	// Each job's events start from base: the job, its newest Completed
	// backup and its bound.
	base := make([]notify.Event, len(jobs))
	refs := make([]time.Time, len(jobs))
	for i, j := range jobs {
		m := j.Monitor
		// Only the job's own cluster's backups count: a run that named the
		// job for another cluster must not make it look fresh.
		latest, err := a.Catalog.ListBackups(ctx, catalog.BackupFilter{JobID: j.ID, ClusterID: j.ClusterID, Statuses: []catalog.BackupStatus{catalog.BackupCompleted}, Limit: 1})
		if err != nil {
			return nil, classify(err, "job "+j.ID)
		}
		ref := j.CreatedAt
		if len(latest) > 0 && latest[0].CompletedAt != nil {
			ref = *latest[0].CompletedAt
		}
		refs[i] = ref
		if last := lastScheduledRun(j, in.Now.Add(-time.Minute)); !j.Paused && last.After(j.CreatedAt) {
			suspect[i] = len(latest) == 0 || latest[0].CreatedAt.Before(last)
		}
		bound := time.Duration(in.FreshnessMultiple * float64(j.Every.D()))
		base[i] = notify.Event{ClusterID: j.ClusterID, JobID: j.ID, Details: map[string]any{"lastCompletedAt": ref, "bound": bound.String()}}
		stale := !j.Paused && bound > 0 && in.Now.Sub(ref) > bound
		if stale != m.Stale {
			ev := base[i]
			if stale {
				ev.Type = api.EventFreshnessViolated
				ev.Summary = fmt.Sprintf("Job %s of cluster %s has no Completed backup since %s (bound %s)", j.ID, j.ClusterID, ref.UTC().Format(time.RFC3339), bound)
			} else {
				ev.Type = api.EventFreshnessRecovered
				ev.Summary = fmt.Sprintf("Job %s of cluster %s is fresh again (Completed backup at %s)", j.ID, j.ClusterID, ref.UTC().Format(time.RFC3339))
			}
			ev.ID = notify.EventID(ev.Type, j.ID, ref.String())
			events = append(events, ev)
			m.Stale = stale
		}
		monitors[i] = m
	}

	if a.ScheduleCounts != nil {
		limit := in.ScheduleChecks
		if limit <= 0 {
			limit = DefaultScheduleChecks
		}
		counts := a.readSchedules(ctx, jobs, scheduleOrder(jobs, suspect, limit))
		for i, j := range jobs {
			c := counts[i]
			if c == nil {
				continue // not read this run
			}
			m := &monitors[i]
			at := in.Now
			m.ScheduleCheckedAt = &at
			if c.err != nil {
				a.log().Warn("describing a job's schedule failed", zap.String("job", j.ID), zap.Error(c.err))
				continue
			}
			if c.skipped > m.SeenSkipped {
				ev := base[i]
				ev.Type, ev.ID = api.EventScheduleRunSkipped, notify.EventID(api.EventScheduleRunSkipped, j.ID, fmt.Sprint(c.skipped))
				ev.Summary = fmt.Sprintf("Job %s skipped %d run(s): its previous backup was still running", j.ID, c.skipped-m.SeenSkipped)
				events = append(events, ev)
			}
			if c.missed > m.SeenMissed {
				ev := base[i]
				ev.Type, ev.ID = api.EventScheduleRunMissed, notify.EventID(api.EventScheduleRunMissed, j.ID, fmt.Sprint(c.missed))
				ev.Summary = fmt.Sprintf("Job %s missed %d run(s): the worker or Temporal was down past the catch-up window", j.ID, c.missed-m.SeenMissed)
				events = append(events, ev)
			}
			m.SeenSkipped, m.SeenMissed = c.skipped, c.missed
		}
	}

	a.publishJobs(ctx, in.Now, jobs, monitors, refs)
	for i, j := range jobs {
		if !sameMonitor(monitors[i], j.Monitor) {
			if err := a.Catalog.SetJobMonitor(ctx, j.ID, monitors[i]); err != nil {
				return nil, classify(err, "job "+j.ID)
			}
		}
	}
	if len(events) <= StormThreshold {
		return events, nil
	}
	clusters, err := a.Catalog.ListClusters(ctx)
	if err != nil {
		return nil, classify(err, "listing clusters")
	}
	project := make(map[string]string, len(clusters))
	for _, c := range clusters {
		project[c.ID] = c.ProjectID
	}
	return CoalesceStorms(events, func(clusterID string) string { return project[clusterID] }, StormThreshold), nil
}

// publishJobs sets the fleet gauges from what this run read: jobs by
// freshness, the fleet RPO (the oldest newest-Completed backup across
// active jobs) and the backups by status.
func (a *Monitor) publishJobs(ctx context.Context, now time.Time, jobs []catalog.Job, monitors []catalog.JobMonitor, refs []time.Time) {
	if a.Fleet == nil {
		return
	}
	states := map[string]int{}
	var rpo time.Duration
	active := false
	for i, j := range jobs {
		switch {
		case j.Paused:
			states[metrics.JobPaused]++
			continue
		case monitors[i].Stale:
			states[metrics.JobStale]++
		default:
			states[metrics.JobFresh]++
		}
		active = true
		rpo = max(rpo, now.Sub(refs[i]))
	}
	a.Fleet.SetJobs(now, states, rpo, active)
	counts, err := a.Catalog.CountBackups(ctx)
	if err != nil {
		a.log().Warn("counting backups for the fleet gauges failed", zap.Error(err))
		return
	}
	byStatus := make(map[string]int, len(counts))
	for st, n := range counts {
		byStatus[string(st)] = n
	}
	a.Fleet.SetBackups(now, byStatus)
}

func sameMonitor(a, b catalog.JobMonitor) bool {
	return a.Stale == b.Stale && a.SeenSkipped == b.SeenSkipped && a.SeenMissed == b.SeenMissed &&
		(a.ScheduleCheckedAt == nil) == (b.ScheduleCheckedAt == nil) &&
		(a.ScheduleCheckedAt == nil || a.ScheduleCheckedAt.Equal(*b.ScheduleCheckedAt))
}

// lastScheduledRun is the job's latest scheduled time at or before t: an
// interval schedule fires at the Unix epoch + Offset + k × Every.
func lastScheduledRun(j catalog.Job, t time.Time) time.Time {
	every, offset := j.Every.D(), j.Offset.D()
	if every <= 0 {
		return time.Time{}
	}
	epoch := time.Unix(0, 0).Add(offset)
	return epoch.Add(t.Sub(epoch) / every * every)
}

// scheduleOrder picks up to limit job indexes to read the schedule of:
// suspects first, then by when they were read last (never first).
func scheduleOrder(jobs []catalog.Job, suspect []bool, limit int) []int {
	idx := make([]int, len(jobs))
	for i := range idx {
		idx[i] = i
	}
	checked := func(i int) time.Time {
		if t := jobs[i].Monitor.ScheduleCheckedAt; t != nil {
			return *t
		}
		return time.Time{}
	}
	sort.SliceStable(idx, func(x, y int) bool {
		a, b := idx[x], idx[y]
		if suspect[a] != suspect[b] {
			return suspect[a]
		}
		return checked(a).Before(checked(b))
	})
	return idx[:min(limit, len(idx))]
}

type scheduleCount struct {
	skipped, missed int
	err             error
}

// readSchedules reads the chosen jobs' schedules, scheduleReaders at a
// time; the result is by job index, nil for a job not chosen.
func (a *Monitor) readSchedules(ctx context.Context, jobs []catalog.Job, chosen []int) []*scheduleCount {
	out := make([]*scheduleCount, len(jobs))
	_ = fanOut(len(chosen), scheduleReaders, func(k int) error {
		i := chosen[k]
		c := &scheduleCount{}
		c.skipped, c.missed, c.err = a.ScheduleCounts(ctx, jobs[i].ScheduleID)
		out[i] = c // each index is one call's
		return nil
	})
	return out
}

// StormThreshold is how many events of one type for one project a monitor
// run sends one by one; beyond it they become one summary event.
const StormThreshold = 20

// stormListed is how many job IDs a summary event lists in its details.
const stormListed = 100

// CoalesceStorms replaces each group of more than limit events of one type
// for one project (a fleet-wide outage makes every job stale at once) by
// one event for the project, in the place of the group's first: a channel
// gets one message instead of thousands, and the monitor's result and
// history stay bounded however large the fleet. Smaller groups pass
// through unchanged.
func CoalesceStorms(events []notify.Event, projectOf func(clusterID string) string, limit int) []notify.Event {
	type key struct{ project, typ string }
	groups := map[key][]notify.Event{}
	for _, ev := range events {
		k := key{projectOf(ev.ClusterID), ev.Type}
		groups[k] = append(groups[k], ev)
	}
	out := make([]notify.Event, 0, len(events))
	done := map[key]bool{}
	for _, ev := range events {
		k := key{projectOf(ev.ClusterID), ev.Type}
		g := groups[k]
		if len(g) <= limit || k.project == "" {
			out = append(out, ev)
			continue
		}
		if done[k] {
			continue
		}
		done[k] = true
		var jobs []string
		for _, e := range g {
			jobs = append(jobs, e.JobID)
		}
		listed := jobs[:min(len(jobs), stormListed)]
		first := strings.Join(jobs[:min(len(jobs), 5)], ", ")
		out = append(out, notify.Event{
			ID:        notify.EventID(k.typ, k.project, "storm", fmt.Sprint(jobs)),
			Type:      k.typ,
			ProjectID: k.project,
			Summary:   fmt.Sprintf("%d jobs of project %s: %s (%s, …)", len(g), k.project, stormPhrase(k.typ), first),
			Details:   map[string]any{"jobCount": len(g), "jobs": listed, "jobsTruncated": len(jobs) > len(listed)},
		})
	}
	return out
}

func stormPhrase(typ string) string {
	switch typ {
	case api.EventFreshnessViolated:
		return "no Completed backup within their freshness bound"
	case api.EventFreshnessRecovered:
		return "fresh again"
	case api.EventScheduleRunSkipped:
		return "skipped runs because their previous backup was still running"
	case api.EventScheduleRunMissed:
		return "missed runs: the worker or Temporal was down past the catch-up window"
	}
	return typ
}

// ReconcileEvents are the notifications a reconciliation sends: orphans
// deleted, per cluster, and each backup found Missing.
func ReconcileEvents(plan api.ReconcilePlan) []notify.Event {
	var events []notify.Event
	perCluster := map[string][]string{}
	for _, o := range plan.Orphans {
		perCluster[o.ClusterID] = append(perCluster[o.ClusterID], o.SnapshotID)
	}
	for _, cl := range sortedKeys(perCluster) {
		ids := perCluster[cl]
		events = append(events, notify.Event{
			ID: notify.EventID(api.EventOrphansDeleted, cl, fmt.Sprint(ids)), Type: api.EventOrphansDeleted, ClusterID: cl,
			Summary: fmt.Sprintf("Deleted %d orphan snapshot(s) of cluster %s", len(ids), cl), Details: map[string]any{"snapshots": ids},
		})
	}
	seen := map[string]bool{}
	for _, m := range plan.Missing {
		if seen[m.BackupID] {
			continue
		}
		seen[m.BackupID] = true
		events = append(events, notify.Event{
			ID: notify.EventID(api.EventBackupMissing, m.BackupID), Type: api.EventBackupMissing, ClusterID: m.ClusterID, BackupID: m.BackupID,
			Reason:  "SnapshotMissing: snapshot " + m.SnapshotID + " of volume " + m.VolumeID + " is gone at the provider",
			Summary: fmt.Sprintf("Backup %s of cluster %s is Missing: its snapshots were deleted outside Strata", m.BackupID, m.ClusterID),
		})
	}
	for _, s := range plan.Stuck {
		switch s.Kind {
		case api.StuckBackup:
			events = append(events, notify.Event{
				ID: notify.EventID(api.EventBackupDefunct, s.ID, s.WorkflowID), Type: api.EventBackupDefunct, ClusterID: s.ClusterID, BackupID: s.ID,
				Reason: s.Reason, Summary: fmt.Sprintf("Backup %s of cluster %s is Defunct: its workflow closed before it finished", s.ID, s.ClusterID),
			})
		case api.StuckRestore:
			events = append(events, notify.Event{
				ID: notify.EventID(api.EventRestoreFailed, s.ID, s.WorkflowID), Type: api.EventRestoreFailed, ClusterID: s.ClusterID, RestoreID: s.ID,
				Reason: s.Reason, Summary: fmt.Sprintf("Restore %s into cluster %s failed: its workflow closed before it finished", s.ID, s.ClusterID),
			})
		}
	}
	return events
}
