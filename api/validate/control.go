package validate

import (
	"fmt"
	"time"
)

// Job intervals: scheduled backups run at most hourly and at least yearly.
const (
	MinEvery = time.Hour
	MaxEvery = 366 * 24 * time.Hour
)

// MaxKeep is the largest value any retention setting accepts.
const MaxKeep = 10000

// MaxFaultDelay bounds the delays fault settings inject.
const MaxFaultDelay = 24 * time.Hour

// Retention checks a policy: either keepLast N (N >= 1), or at least one
// of the hourly, daily and weekly tiers above zero; never both, never
// negative, none above MaxKeep.
func Retention(keepLast, hourly, daily, weekly int) string {
	fields := []struct {
		flag string
		v    int
	}{{"--keep", keepLast}, {"--keep-hourly", hourly}, {"--keep-daily", daily}, {"--keep-weekly", weekly}}
	for _, f := range fields {
		if f.v < 0 {
			return fmt.Sprintf("%s must not be negative (got %d)", f.flag, f.v)
		}
		if f.v > MaxKeep {
			return fmt.Sprintf("%s must be at most %d (got %d)", f.flag, MaxKeep, f.v)
		}
	}
	tiers := hourly > 0 || daily > 0 || weekly > 0
	switch {
	case keepLast > 0 && tiers:
		return "use either --keep or --keep-hourly/--keep-daily/--keep-weekly, not both"
	case keepLast == 0 && !tiers:
		return "no retention policy: set --keep N (keep the newest N completed backups), or at least one of --keep-hourly, --keep-daily, --keep-weekly above 0"
	}
	return ""
}

// Job is a job's schedule and policy as created or updated.
type Job struct {
	// ID is checked when set (a new job's, or the one updated).
	ID, ClusterID                               string
	NewID                                       bool
	Every, Offset                               time.Duration
	Label                                       string
	KeepLast, KeepHourly, KeepDaily, KeepWeekly int
}

// Check applies every rule that needs no catalog.
func (j Job) Check() error {
	var p Problems
	if j.NewID {
		p.Add(OptionalNewID("job", j.ID))
	} else {
		p.Add(ID("job", j.ID))
	}
	p.Add(ID("cluster (--cluster)", j.ClusterID))
	if j.Every < MinEvery {
		p.Addf("--every %s is too frequent: scheduled backups run at most hourly (give 1h or more)", j.Every)
	}
	if j.Every > MaxEvery {
		p.Addf("--every %s is too rare: give at most %s (a year)", j.Every, MaxEvery)
	}
	if j.Offset < 0 || (j.Every > 0 && j.Offset >= j.Every) {
		p.Addf("--offset %s must be at least 0 and less than --every %s", j.Offset, j.Every)
	}
	p.Add(Label("--label", j.Label))
	p.Add(Retention(j.KeepLast, j.KeepHourly, j.KeepDaily, j.KeepWeekly))
	return p.Err("schedule")
}

// OptionalNewID checks an ID the caller may leave empty (one is made up).
func OptionalNewID(field, v string) string {
	if v == "" {
		return ""
	}
	return NewID(field, v)
}

// Faults are a cluster's fault settings.
type Faults struct {
	ClusterID                   string
	SnapshotDelay, RestoreDelay time.Duration
}

// Check applies every rule that needs no catalog.
func (f Faults) Check() error {
	var p Problems
	p.Add(ID("cluster", f.ClusterID))
	p.Add(Duration("--snapshot-delay", f.SnapshotDelay, 0, MaxFaultDelay))
	p.Add(Duration("--restore-delay", f.RestoreDelay, 0, MaxFaultDelay))
	return p.Err("fault settings")
}

// NodeHealth names the node whose health is set.
func NodeHealth(clusterID, nodeID string) error {
	var p Problems
	p.Add(ID("cluster", clusterID))
	p.Add(ID("node (--node)", nodeID))
	return p.Err("health setting")
}

// Network is a network to create.
func Network(id, projectID, provider, region string) error {
	var p Problems
	p.Add(NewID("network", id))
	if projectID == "" {
		p.Add("a network belongs to a project: give --project")
	} else {
		p.Add(ID("project", projectID))
	}
	p.Add(Provider("provider", provider))
	p.Add(Region("region", region))
	return p.Err("network")
}

// Project is a project to create.
func Project(id string) error {
	var p Problems
	p.Add(NewID("project", id))
	return p.Err("project")
}

// One names one existing record of a kind ("cluster", "backup", "job").
func One(kind, id string) error {
	var p Problems
	p.Add(ID(kind, id))
	return p.Err(kind)
}

// OptionalOne is One for a filter that may be empty.
func OptionalOne(kind, id string) error {
	var p Problems
	p.Add(OptionalID(kind, id))
	return p.Err(kind + " filter")
}

// Page checks a list's page size and token.
func Page(size int, token string) error {
	var p Problems
	p.Add(Count("pageSize", size, 0, MaxPageSize))
	if len(token) > MaxPageTokenLen || !Printable(token) {
		p.Addf("pageToken: give the nextPageToken of the previous page (at most %d printable characters)", MaxPageTokenLen)
	}
	return p.Err("list request")
}

// MaxPageSize is the most items a list page may ask for (api.MaxPageSize).
const MaxPageSize = 1000

// MaxPageTokenLen bounds a page token.
const MaxPageTokenLen = 200
