package retention

import (
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/stratabackup/strata/catalog"
)

func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad time %q: %v", s, err)
	}
	return v
}

type bk struct {
	id     string
	index  int64
	status catalog.BackupStatus
	at     string
	holds  []string
}

// want is the expected decision for one backup: Delete, and a substring
// (or, with a leading "=", the exact text) of the reason.
type want struct {
	del    bool
	reason string
}

const (
	C  = catalog.BackupCompleted
	D  = catalog.BackupDefunct
	P  = catalog.BackupPending
	IP = catalog.BackupInProgress
	DG = catalog.BackupDeleting
	DD = catalog.BackupDeleted
)

func keep(reason string) want { return want{false, reason} }
func del(reason string) want  { return want{true, reason} }

func build(t *testing.T, in []bk) []catalog.Backup {
	t.Helper()
	out := make([]catalog.Backup, len(in))
	for i, b := range in {
		out[i] = catalog.Backup{
			ID: b.id, JobID: "job1", Label: "lbl-" + b.id, Index: b.index,
			Status: b.status, CreatedAt: ts(t, b.at), Holds: b.holds,
		}
	}
	return out
}

func check(t *testing.T, backups []catalog.Backup, got []Decision, wants map[string]want) {
	t.Helper()
	if len(got) != len(backups) {
		t.Fatalf("got %d decisions for %d backups", len(got), len(backups))
	}
	for i, b := range backups {
		d := got[i]
		if d.BackupID != b.ID || d.Label != b.Label || d.Status != b.Status || !d.CreatedAt.Equal(b.CreatedAt) {
			t.Errorf("decision %d = %+v, not for backup %s (order must equal input order)", i, d, b.ID)
			continue
		}
		w, ok := wants[b.ID]
		if !ok {
			t.Errorf("no expectation for %s (got %+v)", b.ID, d)
			continue
		}
		if d.Delete != w.del {
			t.Errorf("%s: Delete=%v, want %v (reason %q)", b.ID, d.Delete, w.del, d.Reason)
		}
		if exact, isExact := strings.CutPrefix(w.reason, "="); isExact {
			if d.Reason != exact {
				t.Errorf("%s: reason %q, want exactly %q", b.ID, d.Reason, exact)
			}
		} else if !strings.Contains(d.Reason, w.reason) {
			t.Errorf("%s: reason %q, want it to contain %q", b.ID, d.Reason, w.reason)
		}
	}
}

func TestPlan(t *testing.T) {
	cases := []struct {
		name    string
		policy  catalog.Retention
		now     string
		backups []bk
		want    map[string]want
	}{
		{
			name:   "keep-last with mixed statuses: defunct does not count",
			policy: catalog.Retention{KeepLast: 2},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"p1", 7, P, "2026-11-23T11:59:00Z", nil},
				{"c1", 6, C, "2026-11-23T11:00:00Z", nil},
				{"d1", 5, D, "2026-11-23T10:00:00Z", nil},
				{"d2", 4, D, "2026-11-23T09:00:00Z", nil},
				{"c2", 3, C, "2026-11-23T08:00:00Z", nil},
				{"d3", 2, D, "2026-11-23T07:00:00Z", nil},
				{"c3", 1, C, "2026-11-23T06:00:00Z", nil},
			},
			want: map[string]want{
				"p1": keep("=in progress"),
				"c1": keep("=within keep-last 2 (#1)"),
				"d1": del("=defunct: failed backups are deleted when the job prunes"),
				"d2": del("defunct"),
				"c2": keep("=within keep-last 2 (#2)"),
				"d3": del("defunct"),
				"c3": del("=beyond keep-last 2"),
			},
		},
		{
			name:   "keep-last 1",
			policy: catalog.Retention{KeepLast: 1},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"c1", 3, C, "2026-11-23T11:00:00Z", nil},
				{"c2", 2, C, "2026-11-23T10:00:00Z", nil},
				{"c3", 1, C, "2026-11-22T10:00:00Z", nil},
			},
			want: map[string]want{
				"c1": keep("=within keep-last 1 (#1)"),
				"c2": del("=beyond keep-last 1"),
				"c3": del("=beyond keep-last 1"),
			},
		},
		{
			name:   "keep-last larger than the number of completed backups",
			policy: catalog.Retention{KeepLast: 10},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"c1", 2, C, "2026-11-23T11:00:00Z", nil},
				{"d1", 1, D, "2026-11-23T10:00:00Z", nil},
			},
			want: map[string]want{
				"c1": keep("within keep-last 10 (#1)"),
				"d1": del("defunct"),
			},
		},
		{
			name:   "newest completed floor: hourly 2, everything 3 days old",
			policy: catalog.Retention{KeepHourly: 2},
			now:    "2026-11-26T12:00:00Z",
			backups: []bk{
				{"c1", 3, C, "2026-11-23T11:00:00Z", nil},
				{"c2", 2, C, "2026-11-23T10:00:00Z", nil},
				{"c3", 1, C, "2026-11-23T09:00:00Z", nil},
				{"d0", 4, D, "2026-11-26T11:00:00Z", nil}, // newer, but defunct: not the floor
			},
			want: map[string]want{
				"c1": keep("=newest completed backup (always kept)"),
				"c2": del("=kept by no tier"),
				"c3": del("=kept by no tier"),
				"d0": del("defunct"),
			},
		},
		{
			name:   "midnight UTC: 23:59:59 and 00:00:00 are different days",
			policy: catalog.Retention{KeepDaily: 2},
			now:    "2026-11-24T12:00:00Z",
			backups: []bk{
				{"b", 3, C, "2026-11-24T00:00:00Z", nil},
				{"a", 2, C, "2026-11-23T23:59:59Z", nil},
				{"c", 1, C, "2026-11-23T23:00:00Z", nil},
			},
			want: map[string]want{
				"b": keep("=newest in day 2026-11-24"),
				"a": keep("=newest in day 2026-11-23"),
				"c": del("=kept by no tier"),
			},
		},
		{
			name:   "midnight UTC: daily 1 keeps only today",
			policy: catalog.Retention{KeepDaily: 1},
			now:    "2026-11-24T00:00:00Z",
			backups: []bk{
				{"b", 2, C, "2026-11-24T00:00:00Z", nil},
				{"a", 1, C, "2026-11-23T23:59:59Z", nil},
			},
			want: map[string]want{
				"b": keep("=newest in day 2026-11-24"),
				"a": del("kept by no tier"),
			},
		},
		{
			name:   "non-UTC timestamps are bucketed in UTC",
			policy: catalog.Retention{KeepDaily: 2},
			now:    "2026-11-24T12:00:00Z",
			backups: []bk{
				{"b", 2, C, "2026-11-24T01:30:00+02:00", nil}, // 2026-11-23T23:30Z
				{"a", 1, C, "2026-11-23T22:00:00Z", nil},
			},
			want: map[string]want{
				"b": keep("=newest in day 2026-11-23"), // not 2026-11-24 (its local date)
				"a": del("kept by no tier"),
			},
		},
		{
			name:   "hour boundary exactly at :00:00",
			policy: catalog.Retention{KeepHourly: 2},
			now:    "2026-11-23T18:30:00Z",
			backups: []bk{
				{"h18", 4, C, "2026-11-23T18:00:00Z", nil},
				{"h17b", 3, C, "2026-11-23T17:59:59Z", nil},
				{"h17a", 2, C, "2026-11-23T17:00:00Z", nil},
				{"h16", 1, C, "2026-11-23T16:59:59Z", nil},
			},
			want: map[string]want{
				"h18":  keep("=newest in hour 2026-11-23T18:00Z"),
				"h17b": keep("=newest in hour 2026-11-23T17:00Z"),
				"h17a": del("=kept by no tier"),
				"h16":  del("=kept by no tier"),
			},
		},
		{
			name:   "now exactly on the hour: the previous hour is out of hourly 1",
			policy: catalog.Retention{KeepHourly: 1},
			now:    "2026-11-23T18:00:00Z",
			backups: []bk{
				{"h18", 2, C, "2026-11-23T18:00:00Z", nil},
				{"h17", 1, C, "2026-11-23T17:59:59Z", nil},
			},
			want: map[string]want{
				"h18": keep("=newest in hour 2026-11-23T18:00Z"),
				"h17": del("kept by no tier"),
			},
		},
		{
			name:   "two backups in one hour: only the newest kept by hourly",
			policy: catalog.Retention{KeepHourly: 3},
			now:    "2026-11-23T10:45:00Z",
			backups: []bk{
				{"late", 3, C, "2026-11-23T10:40:00Z", nil},
				{"early", 2, C, "2026-11-23T10:10:00Z", nil},
				{"prev", 1, C, "2026-11-23T09:30:00Z", nil},
			},
			want: map[string]want{
				"late":  keep("=newest in hour 2026-11-23T10:00Z"),
				"early": del("=kept by no tier"),
				"prev":  keep("=newest in hour 2026-11-23T09:00Z"),
			},
		},
		{
			name:   "ISO week boundary: Sunday 23:59 vs Monday 00:00",
			policy: catalog.Retention{KeepWeekly: 2},
			now:    "2026-11-30T10:00:00Z", // Monday, 2026-W49
			backups: []bk{
				{"mon", 4, C, "2026-11-30T00:00:00Z", nil},
				{"sun", 3, C, "2026-11-29T23:59:00Z", nil},
				{"mon48", 2, C, "2026-11-23T00:00:00Z", nil}, // same week as sun, older
				{"sun47", 1, C, "2026-11-22T23:59:00Z", nil}, // three weeks back counting now's
			},
			want: map[string]want{
				"mon":   keep("=newest in week 2026-W49"),
				"sun":   keep("=newest in week 2026-W48"),
				"mon48": del("=kept by no tier"),
				"sun47": del("=kept by no tier"),
			},
		},
		{
			name:   "ISO week boundary: weekly 1 drops last Sunday",
			policy: catalog.Retention{KeepWeekly: 1},
			now:    "2026-11-30T00:00:00Z",
			backups: []bk{
				{"mon", 2, C, "2026-11-30T00:00:00Z", nil},
				{"sun", 1, C, "2026-11-29T23:59:59Z", nil},
			},
			want: map[string]want{
				"mon": keep("=newest in week 2026-W49"),
				"sun": del("kept by no tier"),
			},
		},
		{
			name:   "year boundary: 2026-W53 vs 2027-W01",
			policy: catalog.Retention{KeepDaily: 3, KeepWeekly: 2},
			now:    "2027-01-04T08:00:00Z", // Monday, 2027-W01
			backups: []bk{
				{"w01", 4, C, "2027-01-04T00:00:00Z", nil},
				{"w53sun", 3, C, "2027-01-03T23:59:00Z", nil},
				{"jan1", 2, C, "2027-01-01T00:00:00Z", nil},
				{"dec31", 1, C, "2026-12-31T23:59:59Z", nil},
			},
			want: map[string]want{
				"w01":    keep("=newest in day 2027-01-04; newest in week 2027-W01"),
				"w53sun": keep("=newest in day 2027-01-03; newest in week 2026-W53"),
				"jan1":   del("=kept by no tier"), // day out of range, not newest of W53
				"dec31":  del("=kept by no tier"),
			},
		},
		{
			name:   "year boundary: Dec 31 vs Jan 1",
			policy: catalog.Retention{KeepDaily: 2},
			now:    "2027-01-01T06:00:00Z",
			backups: []bk{
				{"jan1", 3, C, "2027-01-01T00:00:00Z", nil},
				{"dec31late", 2, C, "2026-12-31T23:59:59Z", nil},
				{"dec31", 1, C, "2026-12-31T12:00:00Z", nil},
			},
			want: map[string]want{
				"jan1":      keep("=newest in day 2027-01-01"),
				"dec31late": keep("=newest in day 2026-12-31"),
				"dec31":     del("=kept by no tier"),
			},
		},
		{
			name:   "kept by daily but not hourly stays; reasons list every tier",
			policy: catalog.Retention{KeepHourly: 2, KeepDaily: 3},
			now:    "2026-11-23T12:30:00Z",
			backups: []bk{
				{"h12", 5, C, "2026-11-23T12:10:00Z", nil},
				{"h11", 4, C, "2026-11-23T11:10:00Z", nil},
				{"h10", 3, C, "2026-11-23T10:10:00Z", nil},
				{"y20", 2, C, "2026-11-22T20:00:00Z", nil},
				{"y08", 1, C, "2026-11-22T08:00:00Z", nil},
				{"old", 0, C, "2026-11-20T23:00:00Z", nil}, // 4 days back
			},
			want: map[string]want{
				"h12": keep("=newest in hour 2026-11-23T12:00Z; newest in day 2026-11-23"),
				"h11": keep("=newest in hour 2026-11-23T11:00Z"),
				"h10": del("=kept by no tier"),
				"y20": keep("=newest in day 2026-11-22"),
				"y08": del("=kept by no tier"),
				"old": del("=kept by no tier"),
			},
		},
		{
			name:   "hourly, daily and weekly together",
			policy: catalog.Retention{KeepHourly: 1, KeepDaily: 2, KeepWeekly: 3},
			now:    "2026-11-25T09:15:00Z", // Wednesday, W48
			backups: []bk{
				{"now", 6, C, "2026-11-25T09:00:00Z", nil},
				{"tue", 5, C, "2026-11-24T18:00:00Z", nil},
				{"mon", 4, C, "2026-11-23T18:00:00Z", nil}, // day out of range, week W48 has newer
				{"w47", 3, C, "2026-11-20T18:00:00Z", nil},
				{"w47b", 2, C, "2026-11-19T18:00:00Z", nil},
				{"w46", 1, C, "2026-11-10T18:00:00Z", nil},
				{"w45", 0, C, "2026-11-03T18:00:00Z", nil},
			},
			want: map[string]want{
				"now":  keep("=newest in hour 2026-11-25T09:00Z; newest in day 2026-11-25; newest in week 2026-W48"),
				"tue":  keep("=newest in day 2026-11-24"),
				"mon":  del("kept by no tier"),
				"w47":  keep("=newest in week 2026-W47"),
				"w47b": del("kept by no tier"),
				"w46":  keep("=newest in week 2026-W46"),
				"w45":  del("kept by no tier"),
			},
		},
		{
			name:   "future timestamps fall in now's bucket",
			policy: catalog.Retention{KeepHourly: 2, KeepDaily: 1},
			now:    "2026-11-23T12:30:00Z",
			backups: []bk{
				{"far", 4, C, "2026-11-25T03:00:00Z", nil},
				{"near", 3, C, "2026-11-23T13:15:00Z", nil},
				{"cur", 2, C, "2026-11-23T12:20:00Z", nil},
				{"prev", 1, C, "2026-11-23T11:20:00Z", nil},
			},
			want: map[string]want{
				"far":  keep("=newest in hour 2026-11-23T12:00Z; newest in day 2026-11-23"),
				"near": del("kept by no tier"),
				"cur":  del("kept by no tier"),
				"prev": keep("=newest in hour 2026-11-23T11:00Z"),
			},
		},
		{
			name:   "holds protect a defunct and an old completed backup",
			policy: catalog.Retention{KeepLast: 1},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"c1", 5, C, "2026-11-23T11:00:00Z", []string{"restore-new"}},
				{"d1", 4, D, "2026-11-23T10:00:00Z", []string{"restore-x", "restore-y"}},
				{"d2", 3, D, "2026-11-23T09:00:00Z", nil},
				{"c2", 2, C, "2026-11-22T11:00:00Z", []string{"restore-abc"}},
				{"c3", 1, C, "2026-11-21T11:00:00Z", nil},
			},
			want: map[string]want{
				"c1": keep("=within keep-last 1 (#1); in use by restore-new"),
				"d1": keep("in use by restore-x, restore-y"),
				"d2": del("defunct"),
				"c2": keep("in use by restore-abc"),
				"c3": del("=beyond keep-last 1"),
			},
		},
		{
			name:   "held completed backup still counts towards the policy",
			policy: catalog.Retention{KeepLast: 1},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"c1", 2, C, "2026-11-23T11:00:00Z", []string{"r1"}},
				{"c2", 1, C, "2026-11-23T10:00:00Z", nil},
			},
			want: map[string]want{
				"c1": keep("within keep-last 1 (#1)"),
				"c2": del("beyond keep-last 1"),
			},
		},
		{
			name:   "pending, in progress, deleting and deleted are untouched",
			policy: catalog.Retention{KeepLast: 1},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"p", 7, P, "2026-11-20T12:00:00Z", nil},
				{"ip", 6, IP, "2026-11-20T11:00:00Z", nil},
				{"c1", 5, C, "2026-11-23T11:00:00Z", nil},
				{"dg", 4, DG, "2026-11-20T10:00:00Z", nil},
				{"dd", 3, DD, "2026-11-20T09:00:00Z", nil},
				{"dgh", 2, DG, "2026-11-20T08:00:00Z", []string{"r"}},
				{"c2", 1, C, "2026-11-20T07:00:00Z", nil},
			},
			want: map[string]want{
				"p":   keep("=in progress"),
				"ip":  keep("=in progress"),
				"c1":  keep("within keep-last 1"),
				"dg":  keep("=deletion in progress or failed; retry with `backup delete`"),
				"dd":  keep("=already deleted"),
				"dgh": keep("deletion in progress"),
				"c2":  del("beyond keep-last 1"),
			},
		},
		{
			name:   "no completed backups: defunct still deleted, the rest kept",
			policy: catalog.Retention{KeepHourly: 1},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"ip", 2, IP, "2026-11-23T11:00:00Z", nil},
				{"d", 1, D, "2026-11-23T10:00:00Z", nil},
			},
			want: map[string]want{
				"ip": keep("in progress"),
				"d":  del("defunct"),
			},
		},
		{
			name:   "same CreatedAt: higher Index is newer",
			policy: catalog.Retention{KeepLast: 1},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"lo", 5, C, "2026-11-23T11:00:00Z", nil},
				{"hi", 6, C, "2026-11-23T11:00:00Z", nil},
			},
			want: map[string]want{
				"lo": del("beyond keep-last 1"),
				"hi": keep("within keep-last 1 (#1)"),
			},
		},
		{
			name:   "input order is oldest first: planner sorts its own copy",
			policy: catalog.Retention{KeepLast: 2},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"c3", 1, C, "2026-11-23T06:00:00Z", nil},
				{"d1", 2, D, "2026-11-23T07:00:00Z", nil},
				{"c2", 3, C, "2026-11-23T08:00:00Z", nil},
				{"c1", 4, C, "2026-11-23T09:00:00Z", nil},
			},
			want: map[string]want{
				"c3": del("beyond keep-last 2"),
				"d1": del("defunct"),
				"c2": keep("=within keep-last 2 (#2)"),
				"c1": keep("=within keep-last 2 (#1)"),
			},
		},
		{
			name:   "invalid policy (empty) deletes nothing",
			policy: catalog.Retention{},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"c1", 3, C, "2026-11-23T11:00:00Z", nil},
				{"d1", 2, D, "2026-11-23T10:00:00Z", nil},
				{"c2", 1, C, "2026-11-20T11:00:00Z", nil},
			},
			want: map[string]want{
				"c1": keep("invalid retention policy: "),
				"d1": keep("invalid retention policy: "),
				"c2": keep("invalid retention policy: "),
			},
		},
		{
			name:   "invalid policy (keep-last and tiers) deletes nothing",
			policy: catalog.Retention{KeepLast: 1, KeepDaily: 1},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"c1", 2, C, "2026-11-23T11:00:00Z", nil},
				{"c2", 1, C, "2026-11-20T11:00:00Z", nil},
			},
			want: map[string]want{
				"c1": keep("invalid retention policy: use either --keep or"),
				"c2": keep("invalid retention policy: use either --keep or"),
			},
		},
		{
			name:   "invalid policy (negative) deletes nothing",
			policy: catalog.Retention{KeepHourly: 2, KeepDaily: -1},
			now:    "2026-11-23T12:00:00Z",
			backups: []bk{
				{"c1", 2, C, "2026-11-23T11:00:00Z", nil},
				{"c2", 1, C, "2026-11-20T11:00:00Z", nil},
			},
			want: map[string]want{
				"c1": keep("--keep-daily must not be negative"),
				"c2": keep("--keep-daily must not be negative"),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backups := build(t, tc.backups)
			orig := append([]catalog.Backup(nil), backups...)
			got := Plan(tc.policy, backups, ts(t, tc.now))
			check(t, backups, got, tc.want)
			for i := range backups {
				if backups[i].ID != orig[i].ID {
					t.Fatalf("Plan reordered its input")
				}
			}
			// Any input order gives the same decision for each backup.
			r := rand.New(rand.NewSource(1))
			for range 5 {
				shuffled := append([]catalog.Backup(nil), backups...)
				r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				check(t, shuffled, Plan(tc.policy, shuffled, ts(t, tc.now)), tc.want)
			}
		})
	}
}

func TestPlanEmpty(t *testing.T) {
	got := Plan(catalog.Retention{KeepLast: 3}, nil, time.Now())
	if len(got) != 0 {
		t.Fatalf("got %d decisions for no backups", len(got))
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		p      catalog.Retention
		errHas string // empty: valid
	}{
		{"keep-last 1", catalog.Retention{KeepLast: 1}, ""},
		{"keep-last max", catalog.Retention{KeepLast: 10000}, ""},
		{"hourly only", catalog.Retention{KeepHourly: 24}, ""},
		{"daily only", catalog.Retention{KeepDaily: 14}, ""},
		{"weekly only", catalog.Retention{KeepWeekly: 4}, ""},
		{"all tiers", catalog.Retention{KeepHourly: 24, KeepDaily: 14, KeepWeekly: 4}, ""},
		{"tier max", catalog.Retention{KeepWeekly: 10000}, ""},
		{"empty", catalog.Retention{}, "set --keep N"},
		{"keep-last and tier", catalog.Retention{KeepLast: 3, KeepHourly: 2}, "use either --keep or --keep-hourly/--keep-daily/--keep-weekly, not both"},
		{"negative keep-last", catalog.Retention{KeepLast: -1}, "--keep must not be negative (got -1)"},
		{"negative hourly", catalog.Retention{KeepHourly: -2, KeepDaily: 3}, "--keep-hourly must not be negative"},
		{"negative daily", catalog.Retention{KeepDaily: -1}, "--keep-daily must not be negative"},
		{"negative weekly", catalog.Retention{KeepHourly: 1, KeepWeekly: -5}, "--keep-weekly must not be negative (got -5)"},
		{"keep-last too large", catalog.Retention{KeepLast: 10001}, "--keep must be at most 10000 (got 10001)"},
		{"hourly too large", catalog.Retention{KeepHourly: 20000}, "--keep-hourly must be at most 10000"},
		{"daily too large", catalog.Retention{KeepDaily: 10001}, "--keep-daily must be at most 10000"},
		{"weekly too large", catalog.Retention{KeepWeekly: 1 << 40}, "--keep-weekly must be at most 10000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.p)
			switch {
			case tc.errHas == "" && err != nil:
				t.Fatalf("Validate(%+v) = %v, want nil", tc.p, err)
			case tc.errHas != "" && err == nil:
				t.Fatalf("Validate(%+v) = nil, want error containing %q", tc.p, tc.errHas)
			case tc.errHas != "" && !strings.Contains(err.Error(), tc.errHas):
				t.Fatalf("Validate(%+v) = %q, want it to contain %q", tc.p, err, tc.errHas)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	cases := []struct {
		p    catalog.Retention
		want string
	}{
		{catalog.Retention{KeepLast: 24}, "keep last 24"},
		{catalog.Retention{KeepLast: 1}, "keep last 1"},
		{catalog.Retention{KeepHourly: 24, KeepDaily: 14, KeepWeekly: 4}, "keep hourly 24, daily 14, weekly 4"},
		{catalog.Retention{KeepHourly: 24}, "keep hourly 24"},
		{catalog.Retention{KeepDaily: 7}, "keep daily 7"},
		{catalog.Retention{KeepWeekly: 4}, "keep weekly 4"},
		{catalog.Retention{KeepHourly: 6, KeepWeekly: 2}, "keep hourly 6, weekly 2"},
		{catalog.Retention{}, "no retention policy"},
	}
	for _, tc := range cases {
		if got := Describe(tc.p); got != tc.want {
			t.Errorf("Describe(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}
