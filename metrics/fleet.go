package metrics

import (
	"maps"
	"sync"
	"time"
)

// Job freshness states (strata_jobs{state}).
const (
	JobFresh  = "fresh"
	JobStale  = "stale"
	JobPaused = "paused"
)

// FleetGauges hold the fleet gauges as the monitor last read them from
// the catalog. A scrape reads these values, never the catalog, so its
// cost does not grow with the fleet. A nil *FleetGauges ignores every
// update (a worker without metrics).
type FleetGauges struct {
	// MaxAge, when set, leaves out of a scrape a reading older than this:
	// with several workers each serves its own last reading, and one that
	// stopped running the monitor must not keep an old value (a stale job
	// long since fresh) in a max() across workers. The worker sets it to a
	// few monitor intervals.
	MaxAge time.Duration

	mu sync.Mutex
	v  FleetSnapshot
}

// FleetSnapshot is one reading of the fleet gauges. Zero times mean "not
// read yet": those gauges are left out of a scrape rather than shown as
// zero.
type FleetSnapshot struct {
	// JobsAt is when Jobs and RPO were read.
	JobsAt time.Time
	// Jobs counts jobs by freshness state.
	Jobs map[string]int
	// RPO is the fleet's recovery point; HasRPO is false with no active
	// job.
	RPO    time.Duration
	HasRPO bool
	// BackupsAt is when Backups was read; Backups counts by status.
	BackupsAt time.Time
	Backups   map[string]int
	// ArchivesAt is when the archive gauges were read.
	ArchivesAt     time.Time
	ArchiveLag     time.Duration
	ArchiveStalled int
}

// SetJobs records the jobs' freshness and the fleet RPO read at at.
func (f *FleetGauges) SetJobs(at time.Time, jobs map[string]int, rpo time.Duration, hasRPO bool) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.v.JobsAt, f.v.Jobs, f.v.RPO, f.v.HasRPO = at, maps.Clone(jobs), rpo, hasRPO
}

// SetBackups records the backups' counts by status read at at.
func (f *FleetGauges) SetBackups(at time.Time, byStatus map[string]int) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.v.BackupsAt, f.v.Backups = at, maps.Clone(byStatus)
}

// SetArchives records the postgres clusters' WAL archive lag (the
// largest) and how many are stalled, read at at.
func (f *FleetGauges) SetArchives(at time.Time, maxLag time.Duration, stalled int) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.v.ArchivesAt, f.v.ArchiveLag, f.v.ArchiveStalled = at, maxLag, stalled
}

// Snapshot is a copy of the current values, as of now: readings older
// than MaxAge are left out (their times zero).
func (f *FleetGauges) Snapshot(now time.Time) FleetSnapshot {
	if f == nil {
		return FleetSnapshot{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.v
	v.Jobs, v.Backups = maps.Clone(v.Jobs), maps.Clone(v.Backups)
	if f.MaxAge > 0 {
		for _, at := range []*time.Time{&v.JobsAt, &v.BackupsAt, &v.ArchivesAt} {
			if !at.IsZero() && now.Sub(*at) > f.MaxAge {
				*at = time.Time{}
			}
		}
	}
	return v
}

// Refreshed is the latest of the snapshot's reading times.
func (s FleetSnapshot) Refreshed() time.Time {
	t := s.JobsAt
	for _, u := range []time.Time{s.BackupsAt, s.ArchivesAt} {
		if u.After(t) {
			t = u
		}
	}
	return t
}
