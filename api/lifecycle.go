package api

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/api/validate"
)

// A cluster's lifecycle is one long-lived workflow per cluster
// (ClusterLifecycleWorkflow, ID "cluster-<id>"): every cluster-changing
// operation goes through it and takes the cluster's lock, so power, profile
// and deletion never race a backup or a restore. Each operation is both an
// update (the caller waits for its result; a request the state refuses is
// rejected before anything changes) and a signal of the same name and input
// (for callers that only signal).
const (
	ClusterLifecycleWorkflowName = "ClusterLifecycleWorkflow"
	// PowerOnWorkflowName restores a powered-off cluster's latest backup
	// into the same cluster; only its lifecycle workflow starts it.
	PowerOnWorkflowName = "PowerOnWorkflow"

	UpdatePowerOff      = "powerOff"      // PowerRequest → ClusterLifecycleState
	UpdatePowerOn       = "powerOn"       // PowerRequest → ClusterLifecycleState
	UpdateSetProfile    = "setProfile"    // SetProfileRequest → ClusterLifecycleState
	UpdateDeleteCluster = "deleteCluster" // DeleteClusterRequest → ClusterLifecycleState
	QueryLifecycleState = "state"         // (none) → ClusterLifecycleState
)

// ClusterLifecycleWorkflowID is the lifecycle workflow of a cluster.
func ClusterLifecycleWorkflowID(clusterID string) string { return "cluster-" + clusterID }

// FinalBackupWorkflowID is the workflow of a power-off's final backup
// (attempt n of the cluster's power-off number seq).
func FinalBackupWorkflowID(clusterID string, seq, n int) string {
	return fmt.Sprintf("final-backup-%s-%d-%d", clusterID, seq, n)
}

// IsFinalBackupOf reports whether workflowID is a final backup of the
// cluster: the one backup a cluster that is powering off takes.
func IsFinalBackupOf(workflowID, clusterID string) bool {
	return strings.HasPrefix(workflowID, "final-backup-"+clusterID+"-")
}

// PowerOnWorkflowID is the workflow of a cluster's power-on number seq.
func PowerOnWorkflowID(clusterID string, seq int) string {
	return fmt.Sprintf("power-on-%s-%d", clusterID, seq)
}

// SearchAttrClusterState is the lifecycle workflow's Keyword search
// attribute: the cluster's power state (Power*), or Deleted. Clusters due
// for deletion are `WorkflowType="ClusterLifecycleWorkflow" AND
// StrataClusterState="PoweredOff"` (their deletion time is in the state
// query and `cluster show`).
var SearchAttrClusterState = temporal.NewSearchAttributeKeyKeyword("StrataClusterState")

// Power states of a cluster.
const (
	PowerRunning     = "Running"
	PowerPoweringOff = "PoweringOff"
	PowerPoweredOff  = "PoweredOff"
	PowerPoweringOn  = "PoweringOn"
	// PowerDeleted is the lifecycle's end: the cluster was deleted.
	PowerDeleted = "Deleted"
)

// ClusterDeleted is a deleted cluster's status: its record stays (its
// backups may be kept, and restoring them needs it), its volumes do not.
const ClusterDeleted ClusterStatus = "Deleted"

// Reasons of the lifecycle.
const (
	// ReasonClusterPoweredOff: a backup of a cluster that is powered off
	// (or powering off or on).
	ReasonClusterPoweredOff = "ClusterPoweredOff"
	// ReasonNoBackups: the cluster's profile takes no backups.
	ReasonNoBackups = "NoBackups"
	// ReasonPowerFailed: a power-off's final backup or a power-on's restore
	// failed.
	ReasonPowerFailed = "PowerFailed"
)

// Events of the lifecycle.
const (
	// EventClusterDeletionScheduled: a cluster powered off for long will be
	// deleted with its backups at Event.DeletionAt unless powered on.
	EventClusterDeletionScheduled = "cluster.deletion_scheduled"
	// EventClusterDeleted: it was.
	EventClusterDeleted = "cluster.deleted"
)

// Default clean-up of powered-off clusters (the worker's
// --poweroff-retention and --poweroff-notice).
const (
	DefaultPowerOffRetention = 180 * 24 * time.Hour
	DefaultPowerOffNotice    = 14 * 24 * time.Hour
)

// MaxLifecycleOperations is how many operations one run of a lifecycle
// workflow takes before it continues as new. An operation adds at most
// about 60 events (a power-off with retried final backups); with the
// clean-up's timers and notices a run stays under about 1,500 events.
const MaxLifecycleOperations = 20

// PowerRequest asks to power a cluster off or on. Reason is recorded
// (shown by `cluster show`); RequestID is the caller's idempotency key for
// signals (one signal with a given ID acts once).
type PowerRequest struct {
	Reason    string `json:"reason,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	input     input
}

// SetProfileRequest moves a cluster to a backup profile.
type SetProfileRequest struct {
	Profile   string `json:"profile"`
	RequestID string `json:"requestId,omitempty"`
	input     input
}

// DeleteClusterRequest deletes a cluster: its jobs, compute and volumes,
// and with WithBackups every backup of it.
type DeleteClusterRequest struct {
	WithBackups bool   `json:"withBackups,omitempty"`
	RequestID   string `json:"requestId,omitempty"`
	input       input
}

// LifecycleRequest starts (or continues) a cluster's lifecycle workflow.
// Carry is what a run hands the next one; callers leave it nil.
type LifecycleRequest struct {
	ClusterID string          `json:"clusterId"`
	Carry     *LifecycleCarry `json:"carry,omitempty"`
	input     input
}

// LifecycleCarry is a lifecycle run's state that the catalog does not hold.
type LifecycleCarry struct {
	Seq        int      `json:"seq"`
	Noticed    bool     `json:"noticed,omitempty"`
	RequestIDs []string `json:"requestIds,omitempty"`
}

// ClusterLifecycleState is what the state query (and every lifecycle
// update) returns.
type ClusterLifecycleState struct {
	ClusterID string `json:"clusterId"`
	// Power is Running, PoweringOff, PoweredOff, PoweringOn or Deleted.
	Power   string `json:"power"`
	Profile string `json:"profile,omitempty"`
	// Operation is the one running now (powerOff, powerOn, setProfile,
	// deleteCluster), and Step its step.
	Operation string `json:"operation,omitempty"`
	Step      string `json:"step,omitempty"`
	// Pending is how many operations wait behind it.
	Pending int `json:"pending"`
	// Reason is why the last operation failed ("" if it did not).
	Reason        string     `json:"reason,omitempty"`
	PoweredOffAt  *time.Time `json:"poweredOffAt,omitempty"`
	DeletionAt    *time.Time `json:"deletionAt,omitempty"`
	NoticeAt      *time.Time `json:"noticeAt,omitempty"`
	FinalBackupID string     `json:"finalBackupId,omitempty"`
	// Operations counts the operations this run has taken.
	Operations int `json:"operations"`
}

// ClusterPower is a cluster's power as the catalog records it.
type ClusterPower struct {
	Power  string `json:"power"`
	Reason string `json:"powerReason,omitempty"`
	// PoweredOffAt is when the cluster was last powered off, DeletionAt
	// when it will be deleted if it stays off.
	PoweredOffAt *time.Time `json:"poweredOffAt,omitempty"`
	DeletionAt   *time.Time `json:"deletionAt,omitempty"`
	// FinalBackupID is the backup a powered-off cluster powers on from.
	FinalBackupID string `json:"finalBackupId,omitempty"`
}

// PowerOnRequest is PowerOnWorkflow's input: the cluster, and the lock its
// lifecycle holds for it.
type PowerOnRequest struct {
	ClusterID string `json:"clusterId"`
	LockToken int64  `json:"lockToken"`
	input     input
}

// Profiles.

// ProfileSchedule is one scheduled job of a profile. A cluster's jobs get
// offsets spread from it (ProfileOffset).
type ProfileSchedule struct {
	Every     Duration  `json:"every"`
	Offset    Duration  `json:"offset"`
	Retention Retention `json:"retention"`
}

// String is the schedule as `profile create --schedule` takes it.
func (s ProfileSchedule) String() string {
	parts := []string{"every=" + FormatDuration(s.Every.D())}
	if s.Offset != 0 {
		parts = append(parts, "offset="+FormatDuration(s.Offset.D()))
	}
	r := s.Retention
	for _, kv := range []struct {
		k string
		v int
	}{{"keep", r.KeepLast}, {"keep-hourly", r.KeepHourly}, {"keep-daily", r.KeepDaily}, {"keep-weekly", r.KeepWeekly}} {
		if kv.v > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", kv.k, kv.v))
		}
	}
	return strings.Join(parts, " ")
}

// Profile is a backup profile: the jobs every cluster on it has. A
// service plan names one.
type Profile struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Schedules   []ProfileSchedule `json:"schedules"`
	// PITR is how far back a postgres cluster on the profile can be
	// restored to any point (its jobs keep base backups that far back; WAL
	// is archived for every postgres cluster). Only postgres clusters take
	// a profile with PITR.
	PITR Duration `json:"pitr,omitempty"`
	// NoBackups: the profile takes no backups (manual ones are refused).
	NoBackups bool      `json:"noBackups,omitempty"`
	BuiltIn   bool      `json:"builtIn"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// ProfileView is a profile with its clusters.
type ProfileView struct {
	Profile
	Clusters []ProfileCluster `json:"clusters"`
}

// ProfileCluster is a cluster on a profile and whether its jobs match it.
type ProfileCluster struct {
	ClusterID string `json:"clusterId"`
	Power     string `json:"power"`
	InSync    bool   `json:"inSync"`
	// Differences says what differs when it is not in sync.
	Differences []string `json:"differences,omitempty"`
}

// ProfileRequest creates a profile, or replaces one (updateProfile: every
// field is the profile's new value).
type ProfileRequest struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Schedules   []ProfileSchedule `json:"schedules,omitempty"`
	PITR        Duration          `json:"pitr,omitempty"`
	NoBackups   bool              `json:"noBackups,omitempty"`
	input       input
}

// Profile is the request as a profile.
func (r ProfileRequest) Profile() Profile {
	return Profile{Name: r.Name, Description: r.Description, Schedules: r.Schedules, PITR: r.PITR, NoBackups: r.NoBackups}
}

// Profile reads and writes: queries and updates on the control workflow.
const (
	QueryGetProfile     = "getProfile"    // GetRequest (name) → ProfileView
	QueryListProfiles   = "listProfiles"  // ListRequest → Page[Profile]
	UpdateCreateProfile = "createProfile" // ProfileRequest → Profile
	// UpdateUpdateProfile replaces a profile and moves every cluster on
	// it to the new one (each through its lifecycle workflow).
	UpdateUpdateProfile = "updateProfile" // ProfileRequest → ProfileView
	UpdateDeleteProfile = "deleteProfile" // GetRequest (name) → Profile
)

// ProfileNone is the profile of clusters with no backups.
const ProfileNone = "none"

// BuiltinProfiles reproduce a managed-database provider's published
// backup policies per plan. They cannot be changed or deleted.
func BuiltinProfiles() []Profile {
	day := 24 * time.Hour
	sched := func(every time.Duration, r Retention) []ProfileSchedule {
		return []ProfileSchedule{{Every: Duration(every), Retention: r}}
	}
	hourlyDaily := func(days int) []ProfileSchedule {
		return sched(time.Hour, Retention{KeepHourly: 24, KeepDaily: days})
	}
	pitr := func(days int) Profile {
		return Profile{
			Name:        fmt.Sprintf("pitr-%dd", days),
			Description: fmt.Sprintf("daily base backups and archived WAL: restore to any point of the last %d days (postgres)", days),
			Schedules:   sched(day, Retention{KeepLast: days + 1}), PITR: Duration(time.Duration(days) * day),
		}
	}
	out := []Profile{
		{Name: ProfileNone, Description: "no backups (manual backups are refused)", NoBackups: true},
		{Name: "dr-single", Description: "a single backup, for disaster recovery only", Schedules: sched(day, Retention{KeepLast: 1})},
		{Name: "hourly-24h-daily-3d", Description: "hourly backups for 24 hours and daily backups for 3 days", Schedules: hourlyDaily(3)},
		{Name: "hourly-24h-daily-14d", Description: "hourly backups for 24 hours and daily backups for 14 days", Schedules: hourlyDaily(14)},
		{Name: "hourly-24h-daily-30d", Description: "hourly backups for 24 hours and daily backups for 30 days", Schedules: hourlyDaily(30)},
		{Name: "every-12h-3d", Description: "a backup every 12 hours for 3 days", Schedules: sched(12*time.Hour, Retention{KeepLast: 6})},
		pitr(2), pitr(14), pitr(30),
	}
	for i := range out {
		out[i].BuiltIn = true
		if out[i].Schedules == nil {
			out[i].Schedules = []ProfileSchedule{}
		}
	}
	return out
}

// BuiltinProfile returns the built-in profile of that name.
func BuiltinProfile(name string) (Profile, bool) {
	for _, p := range BuiltinProfiles() {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

// ProfileJobID is the job a cluster's profile makes for its slot-th
// schedule (0-based). The same slot keeps its job, and so its backups, when
// the cluster moves to another profile.
func ProfileJobID(clusterID string, slot int) string {
	id := fmt.Sprintf("%s-s%d", clusterID, slot)
	if len(id) <= 63 {
		return id
	}
	return fmt.Sprintf("ps-%s-s%d", hash32("profile-job/", clusterID, 12), slot)
}

// ProfileOffset is the offset of a cluster's job for schedule slot of a
// profile. The rule, so a fleet on one profile does not back up at once
// and one cluster's jobs do not take each other's lock:
//
//	W      = the profile's shortest interval, at most 1h
//	spread = FNV-1a(profile "/" cluster) mod W, in whole seconds
//	offset = (schedule offset + spread + slot × W / schedules) mod every
//
// So an hourly profile spreads its clusters over the hour, a daily one
// with offset 3h over 03:00–04:00 UTC, and a cluster's second schedule
// runs half an interval after its first.
func ProfileOffset(p Profile, clusterID string, slot int) time.Duration {
	if slot < 0 || slot >= len(p.Schedules) {
		return 0
	}
	w := time.Hour
	for _, s := range p.Schedules {
		if e := s.Every.D(); e > 0 && e < w {
			w = e
		}
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(p.Name + "/" + clusterID))
	secs := int64(w / time.Second)
	if secs < 1 {
		secs = 1
	}
	spread := time.Duration(h.Sum64()%uint64(secs)) * time.Second
	s := p.Schedules[slot]
	every := s.Every.D()
	if every <= 0 {
		return 0
	}
	off := s.Offset.D() + spread + time.Duration(slot)*w/time.Duration(len(p.Schedules))
	return (off % every).Truncate(time.Second)
}

// ParseDuration reads a Go duration that may also count days ("2d",
// "1d12h", "180d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use a number of days and a Go duration, such as 2d, 36h or 1d12h", s)
		}
		days, s = n, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("invalid duration %q: use a number of days and a Go duration, such as 2d, 36h or 1d12h", s)
		}
	}
	return time.Duration(days)*24*time.Hour + rest, nil
}

// FormatDuration writes whole days as "Nd" and the rest as Go does.
func FormatDuration(d time.Duration) string {
	day := 24 * time.Hour
	if d >= day && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	if d >= day {
		return fmt.Sprintf("%dd%s", d/day, shortDuration(d%day))
	}
	return shortDuration(d)
}

// shortDuration is d.String() without zero minutes and seconds ("1h",
// "1h30m", not "1h0m0s").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseProfileSchedule reads a schedule as `profile create --schedule`
// takes it: space-separated key=value pairs, every (required), offset,
// keep, keep-hourly, keep-daily, keep-weekly. "every=24h offset=3h
// keep-daily=14".
func ParseProfileSchedule(s string) (ProfileSchedule, error) {
	var out ProfileSchedule
	seen := map[string]bool{}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || v == "" {
			return out, fmt.Errorf("schedule %q: %q is not key=value (keys: every, offset, keep, keep-hourly, keep-daily, keep-weekly)", s, f)
		}
		if seen[k] {
			return out, fmt.Errorf("schedule %q: %s given twice", s, k)
		}
		seen[k] = true
		switch k {
		case "every", "offset":
			d, err := ParseDuration(v)
			if err != nil {
				return out, fmt.Errorf("schedule %q: %s: %v", s, k, err)
			}
			if k == "every" {
				out.Every = Duration(d)
			} else {
				out.Offset = Duration(d)
			}
		case "keep", "keep-last", "keep-hourly", "keep-daily", "keep-weekly":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return out, fmt.Errorf("schedule %q: %s=%s: give a whole number", s, k, v)
			}
			switch k {
			case "keep", "keep-last":
				out.Retention.KeepLast = n
			case "keep-hourly":
				out.Retention.KeepHourly = n
			case "keep-daily":
				out.Retention.KeepDaily = n
			case "keep-weekly":
				out.Retention.KeepWeekly = n
			}
		default:
			return out, fmt.Errorf("schedule %q: unknown key %q (keys: every, offset, keep, keep-hourly, keep-daily, keep-weekly)", s, k)
		}
	}
	if !seen["every"] {
		return out, fmt.Errorf("schedule %q: every= is required", s)
	}
	return out, nil
}

// RetentionSpan is how far back a schedule's retention keeps backups.
func RetentionSpan(s ProfileSchedule) time.Duration {
	r, every := s.Retention, s.Every.D()
	span := time.Duration(0)
	if r.KeepLast > 1 {
		span = time.Duration(r.KeepLast-1) * every
	}
	for _, t := range []time.Duration{time.Duration(r.KeepHourly-1) * time.Hour, time.Duration(r.KeepDaily-1) * 24 * time.Hour, time.Duration(r.KeepWeekly-1) * 7 * 24 * time.Hour} {
		span = max(span, t)
	}
	return span
}

// Check applies the profile rules that need no catalog.
func (r ProfileRequest) Check() error {
	spec := validate.Profile{Name: r.Name, Description: r.Description, PITR: r.PITR.D(), NoBackups: r.NoBackups}
	for _, s := range r.Schedules {
		spec.Schedules = append(spec.Schedules, validate.ProfileSchedule{
			Every: s.Every.D(), Offset: s.Offset.D(), KeepLast: s.Retention.KeepLast, KeepHourly: s.Retention.KeepHourly,
			KeepDaily: s.Retention.KeepDaily, KeepWeekly: s.Retention.KeepWeekly, Span: RetentionSpan(s),
		})
	}
	return spec.Check()
}

// MaxLifecycleRequestIDs bounds the signal request IDs a lifecycle run
// remembers (and hands the next run).
const MaxLifecycleRequestIDs = 100

// Check applies the request's rules.
func (r LifecycleRequest) Check() error {
	var p validate.Problems
	p.Add(validate.ID("clusterId", r.ClusterID))
	if c := r.Carry; c != nil {
		if c.Seq < 0 {
			p.Addf("carry.seq %d: give 0 or more", c.Seq)
		}
		p.Add(validate.Count("carry.requestIds", len(c.RequestIDs), 0, MaxLifecycleRequestIDs))
		for _, id := range c.RequestIDs {
			if msg := validate.RequestID("carry.requestIds", id); msg != "" {
				p.Add(msg)
				break
			}
		}
	}
	return p.Err("lifecycle request")
}

// Check applies the request's rules.
func (r PowerOnRequest) Check() error {
	var p validate.Problems
	p.Add(validate.ID("clusterId", r.ClusterID))
	if r.LockToken <= 0 {
		p.Addf("lockToken %d: only a cluster's lifecycle starts a power-on, with the lock it holds (`starter cluster power-on`)", r.LockToken)
	}
	return p.Err("power-on request")
}

// Check applies the request's rules.
func (r PowerRequest) Check() error {
	var p validate.Problems
	p.Add(validate.Reason(r.Reason))
	p.Add(validate.RequestID("requestId", r.RequestID))
	return p.Err("power request")
}

// Check applies the request's rules.
func (r SetProfileRequest) Check() error {
	var p validate.Problems
	p.Add(validate.ID("profile", r.Profile))
	p.Add(validate.RequestID("requestId", r.RequestID))
	return p.Err("profile request")
}

// Check applies the request's rules.
func (r DeleteClusterRequest) Check() error {
	var p validate.Problems
	p.Add(validate.RequestID("requestId", r.RequestID))
	return p.Err("delete request")
}
