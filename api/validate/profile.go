package validate

import (
	"fmt"
	"time"
)

// Profile bounds.
const (
	// MaxProfileSchedules bounds a profile's schedules (jobs per cluster).
	MaxProfileSchedules = 8
	// MaxPITR bounds a profile's point-in-time window.
	MaxPITR = 366 * 24 * time.Hour
	// MaxReasonLen bounds a caller's reason for a power change.
	MaxReasonLen = 200
)

// ProfileSchedule is one schedule of a profile.
type ProfileSchedule struct {
	Every, Offset                               time.Duration
	KeepLast, KeepHourly, KeepDaily, KeepWeekly int
	// Span is how far back its retention keeps backups.
	Span time.Duration
}

// Profile is a backup profile as created or updated.
type Profile struct {
	Name, Description string
	Schedules         []ProfileSchedule
	PITR              time.Duration
	NoBackups         bool
}

// Check applies every rule that needs no catalog.
func (pr Profile) Check() error {
	var p Problems
	p.Add(NewID("profile name", pr.Name))
	p.Add(Text("description", pr.Description, MaxDescriptionLen))
	p.Add(Count("schedules (--schedule)", len(pr.Schedules), 0, MaxProfileSchedules))
	switch {
	case pr.NoBackups && len(pr.Schedules) > 0:
		p.Addf("--no-backups takes no --schedule (give one or the other)")
	case pr.NoBackups && pr.PITR > 0:
		p.Addf("--no-backups takes no --pitr")
	case !pr.NoBackups && len(pr.Schedules) == 0:
		p.Addf("give at least one --schedule (or --no-backups for a profile without backups)")
	}
	p.Add(Duration("--pitr", pr.PITR, 0, MaxPITR))
	longest := time.Duration(0)
	for i, s := range pr.Schedules {
		field := fmt.Sprintf("schedule %d", i+1)
		if s.Every < MinEvery || s.Every > MaxEvery {
			p.Addf("%s: every=%s: give 1h to %s (scheduled backups run at most hourly)", field, s.Every, MaxEvery)
		}
		if s.Offset < 0 || (s.Every > 0 && s.Offset >= s.Every) {
			p.Addf("%s: offset=%s must be at least 0 and less than every=%s", field, s.Offset, s.Every)
		}
		if r := Retention(s.KeepLast, s.KeepHourly, s.KeepDaily, s.KeepWeekly); r != "" {
			p.Addf("%s: %s", field, r)
		}
		longest = max(longest, s.Span)
	}
	if pr.PITR > 0 && len(pr.Schedules) > 0 && longest < pr.PITR {
		p.Addf("--pitr %s: the schedules keep base backups only %s back; keep more (a restore to a point needs a base backup before it)", pr.PITR, longest)
	}
	return p.Err("profile")
}

// Reason checks a power request's reason.
func Reason(v string) string { return Text("reason", v, MaxReasonLen) }
