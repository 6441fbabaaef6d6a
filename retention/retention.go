// Package retention decides which of one job's backups a prune deletes. It is
// pure: no I/O, no clock (the caller passes now).
package retention

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
)

// MaxKeep is the largest value any retention setting accepts.
const MaxKeep = validate.MaxKeep

// Decision is what pruning does with one backup, and why (shown by
// `schedule prune --dry-run`).
type Decision = api.PruneDecision

// Reasons shown for decisions that do not depend on the policy.
const (
	ReasonNewest     = "newest completed backup (always kept)"
	ReasonDefunct    = "defunct: failed backups are deleted when the job prunes"
	ReasonInProgress = "in progress"
	ReasonDeleting   = "deletion in progress or failed; retry with `backup delete`"
	ReasonDeleted    = "already deleted"
	ReasonNoTier     = "kept by no tier"
	// ReasonOtherCluster: the backup names the job but is of another
	// cluster; a job prunes only its own cluster's backups.
	ReasonOtherCluster = "of another cluster than the job's: never pruned by this job"
)

// Validate checks a policy: either --keep N (N >= 1), or at least one of
// --keep-hourly, --keep-daily, --keep-weekly above zero; never both, never
// negative, none above MaxKeep.
func Validate(p catalog.Retention) error {
	if msg := validate.Retention(p.KeepLast, p.KeepHourly, p.KeepDaily, p.KeepWeekly); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// Describe renders a policy: "keep last 24" or "keep hourly 24, daily 14,
// weekly 4" (zero tiers omitted).
func Describe(p catalog.Retention) string { return p.Describe() }

// Plan returns one Decision per backup, in the order given. backups are one
// job's backups, of any status and in any order. Only Completed backups count
// towards the policy; the newest Completed backup is never deleted; held
// backups are never deleted; Defunct backups are deleted; backups in any
// other status are left alone. An invalid policy deletes nothing.
func Plan(p catalog.Retention, backups []catalog.Backup, now time.Time) []Decision {
	out := make([]Decision, len(backups))
	for i, b := range backups {
		out[i] = Decision{BackupID: b.ID, Label: b.Label, Status: b.Status, CreatedAt: b.CreatedAt}
	}
	if err := Validate(p); err != nil {
		for i := range out {
			out[i].Reason = "invalid retention policy: " + err.Error()
		}
		return out
	}

	// Completed backups, newest first; ties by Index then ID, so the result
	// does not depend on the input order.
	var completed []int
	for i, b := range backups {
		if b.Status == catalog.BackupCompleted {
			completed = append(completed, i)
		}
	}
	sort.SliceStable(completed, func(x, y int) bool {
		a, b := backups[completed[x]], backups[completed[y]]
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		if a.Index != b.Index {
			return a.Index > b.Index
		}
		return a.ID > b.ID
	})

	// keep[i] is the policy's reason to keep backups[i]; absent: delete.
	keep := map[int]string{}
	if p.KeepLast > 0 {
		for rank, i := range completed {
			if rank < p.KeepLast {
				keep[i] = fmt.Sprintf("within keep-last %d (#%d)", p.KeepLast, rank+1)
			}
		}
	} else {
		reasons := map[int][]string{}
		for _, t := range tiers(p) {
			seen := map[int64]bool{}
			for _, i := range completed {
				at := backups[i].CreatedAt.UTC()
				if at.After(now) {
					at = now.UTC() // clock skew: the future is now's bucket
				}
				n := t.index(at)
				if seen[n] || t.index(now.UTC())-n >= int64(t.keep) {
					continue
				}
				seen[n] = true
				reasons[i] = append(reasons[i], "newest in "+t.name+" "+t.label(at))
			}
		}
		for i, r := range reasons {
			keep[i] = strings.Join(r, "; ")
		}
	}
	if len(completed) > 0 {
		if _, ok := keep[completed[0]]; !ok {
			keep[completed[0]] = ReasonNewest
		}
	}
	notDeleted := ReasonNoTier
	if p.KeepLast > 0 {
		notDeleted = fmt.Sprintf("beyond keep-last %d", p.KeepLast)
	}

	for i, b := range backups {
		d := &out[i]
		held := ""
		if len(b.Holds) > 0 {
			held = "in use by " + strings.Join(b.Holds, ", ")
		}
		switch b.Status {
		case catalog.BackupCompleted:
			if r, ok := keep[i]; ok {
				d.Reason = r
				if held != "" {
					d.Reason += "; " + held
				}
			} else if held != "" {
				d.Reason = held + " (" + notDeleted + ")"
			} else {
				d.Delete, d.Reason = true, notDeleted
			}
		case catalog.BackupDefunct:
			if held != "" {
				d.Reason = held + " (defunct)"
			} else {
				d.Delete, d.Reason = true, ReasonDefunct
			}
		case catalog.BackupPending, catalog.BackupInProgress:
			d.Reason = ReasonInProgress
		case catalog.BackupDeleting:
			d.Reason = ReasonDeleting
		case catalog.BackupDeleted:
			d.Reason = ReasonDeleted
		default:
			d.Reason = fmt.Sprintf("unknown status %q; not pruned", b.Status)
		}
	}
	return out
}

// tier is one calendar bucketing: index numbers consecutive buckets, so that
// index(now)-index(t) is how many buckets back t lies.
type tier struct {
	name  string
	keep  int
	index func(time.Time) int64
	label func(time.Time) string
}

func tiers(p catalog.Retention) []tier {
	var ts []tier
	if p.KeepHourly > 0 {
		ts = append(ts, tier{"hour", p.KeepHourly,
			func(t time.Time) int64 { return floorDiv(t.Unix(), 3600) },
			func(t time.Time) string { return t.Truncate(time.Hour).Format("2006-01-02T15:04Z") }})
	}
	if p.KeepDaily > 0 {
		ts = append(ts, tier{"day", p.KeepDaily,
			func(t time.Time) int64 { return floorDiv(t.Unix(), 86400) },
			func(t time.Time) string { return t.Format("2006-01-02") }})
	}
	if p.KeepWeekly > 0 {
		// The Unix epoch was a Thursday: shifting by 3 days puts week
		// boundaries on Monday 00:00 UTC (ISO weeks).
		ts = append(ts, tier{"week", p.KeepWeekly,
			func(t time.Time) int64 { return floorDiv(t.Unix()+3*86400, 7*86400) },
			func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%04d-W%02d", y, w) }})
	}
	return ts
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
