package api

import (
	"encoding/json"
	"regexp"
	"time"

	"github.com/stratabackup/strata/api/validate"
)

// Event types. They are part of the public API: receivers switch on them.
const (
	EventBackupDefunct      = "backup.defunct"
	EventRestoreFailed      = "restore.failed"
	EventScheduleRunSkipped = "schedule.run_skipped"
	EventScheduleRunMissed  = "schedule.run_missed"
	EventDeletionFailing    = "backup.deletion_failing"
	EventOrphansDeleted     = "orphans.deleted"
	EventFreshnessViolated  = "freshness.violated"
	EventFreshnessRecovered = "freshness.recovered"
	// EventBackupMissing: a Completed backup's snapshots are gone at the provider.
	EventBackupMissing = "backup.missing"
	// EventArchiveStalled: a postgres cluster's primary has had WAL waiting
	// to be archived for longer than the monitor's maxArchiveLag (the
	// restorable window stops growing); EventArchiveRecovered: it caught
	// up.
	EventArchiveStalled   = "wal.archive_stalled"
	EventArchiveRecovered = "wal.archive_recovered"
)

// Event is what is delivered. Its JSON shape (camelCase) is stable. ID is
// unique per event and identical across retried deliveries of the same
// event, so receivers use it to drop duplicates.
type Event struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Time      time.Time      `json:"time"`
	ProjectID string         `json:"projectId,omitempty"`
	ClusterID string         `json:"clusterId,omitempty"`
	BackupID  string         `json:"backupId,omitempty"`
	JobID     string         `json:"jobId,omitempty"`
	RestoreID string         `json:"restoreId,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	Summary   string         `json:"summary"`
	UIURL     string         `json:"uiUrl,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
}

// Bounds of an event's text, well inside a webhook receiver's and Temporal's
// limits; Strata cuts its own reasons and summaries to them.
const (
	MaxReasonLen  = 4096
	MaxSummaryLen = 2048
	// MaxDetailsLen bounds the details as JSON.
	MaxDetailsLen = 64 << 10
)

var eventType = regexp.MustCompile(`^[a-z][a-z_.]{0,62}$`)

// Check applies the bounds of an event a caller hands to NotifyWorkflow.
func (e Event) Check() error {
	var p validate.Problems
	p.Add(validate.ID("id", e.ID))
	if !eventType.MatchString(e.Type) {
		p.Addf("type %s: give an event type such as %q", validate.Quote(e.Type), EventBackupDefunct)
	}
	for _, f := range []struct{ field, v string }{
		{"projectId", e.ProjectID}, {"clusterId", e.ClusterID}, {"backupId", e.BackupID}, {"jobId", e.JobID}, {"restoreId", e.RestoreID},
	} {
		p.Add(validate.OptionalID(f.field, f.v))
	}
	if len(e.Reason) > MaxReasonLen {
		p.Addf("reason is %d bytes: give at most %d", len(e.Reason), MaxReasonLen)
	}
	if len(e.Summary) > MaxSummaryLen {
		p.Addf("summary is %d bytes: give at most %d", len(e.Summary), MaxSummaryLen)
	}
	if len(e.UIURL) > MaxURLLen {
		p.Addf("uiUrl is %d bytes: give at most %d", len(e.UIURL), MaxURLLen)
	}
	if b, err := json.Marshal(e.Details); err != nil || len(b) > MaxDetailsLen {
		p.Addf("details must be a JSON object of at most %d bytes", MaxDetailsLen)
	}
	return p.Err("event")
}

// MaxURLLen bounds a channel's URL and an event's UI link.
const MaxURLLen = 2048

// NotifyRequest is NotifyWorkflow's input: the event, as JSON.
type NotifyRequest struct {
	Event
	input input
}

// NotifyResult says which channels got the event.
type NotifyResult struct {
	Delivered []string `json:"delivered"`
	Failed    []string `json:"failed"`
}

// OnlyChannel in an event's details restricts delivery to that channel
// (`starter notify test`).
const OnlyChannel = "onlyChannel"
