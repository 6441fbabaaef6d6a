package api

import "time"

// JobView is a job with its Temporal Schedule's state.
type JobView struct {
	Job
	Retention string       `json:"retentionDescription"`
	Schedule  ScheduleView `json:"schedule"`
}

// ScheduleView is what the job's Temporal Schedule reports: runs taken,
// missed (outside the catch-up window) and skipped (overlapping a running
// one), so no run is silently lost.
type ScheduleView struct {
	ID             string        `json:"id"`
	Paused         bool          `json:"paused"`
	Note           string        `json:"note,omitempty"`
	Runs           int           `json:"runs"`
	MissedCatchup  int           `json:"missedCatchupWindow"`
	SkippedOverlap int           `json:"skippedOverlap"`
	Running        []string      `json:"running"`
	NextRuns       []time.Time   `json:"nextRuns"`
	RecentRuns     []ScheduleRun `json:"recentRuns"`
	Spec           string        `json:"spec"`
}

// ScheduleRun is one action the schedule took.
type ScheduleRun struct {
	ScheduledAt time.Time `json:"scheduledAt"`
	StartedAt   time.Time `json:"startedAt"`
	WorkflowID  string    `json:"workflowId"`
	BackupID    string    `json:"backupId"`
}
