package api

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"time"
)

// Every ID Strata derives, in one place: a retry, replay or re-run of one
// workflow ID acts on one backup, restore or deletion.

// BackupWorkflowID is the workflow ID a backup with this request ID runs
// under: one request ID, one backup.
func BackupWorkflowID(requestID string) string { return "backup-" + requestID }

// BackupIDFor derives a backup's ID ("bk-" and 12 characters) from its
// workflow ID.
func BackupIDFor(workflowID string) string {
	return "bk-" + hash32("", workflowID, 12)
}

// RestoreWorkflowID is the workflow ID of a restore with this request ID.
func RestoreWorkflowID(requestID string) string { return "restore-" + requestID }

// RestoreIDsFor derives a restore's ID ("rs-…") and its new cluster's ID
// ("rc-…") from the restore's workflow ID.
func RestoreIDsFor(workflowID string) (restoreID, clusterID string) {
	return "rs-" + hash32("restore/", workflowID, 10), "rc-" + hash32("cluster/", workflowID, 10)
}

func hash32(salt, s string, n int) string {
	sum := sha256.Sum256([]byte(salt + s))
	return strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:8]))[:n]
}

// DeleteWorkflowID is the workflow ID of a backup's deletion: one deletion
// of a backup runs at a time.
func DeleteWorkflowID(backupID string) string { return "delete-" + backupID }

// PruneWorkflowID is the workflow ID of the prune a job's backup runs after
// it completed.
func PruneWorkflowID(backupWorkflowID string) string { return backupWorkflowID + "-prune" }

// ManualPruneWorkflowID is the workflow ID of a prune started by hand
// (`schedule prune`), at time t.
func ManualPruneWorkflowID(jobID string, t time.Time) string {
	return "prune-" + jobID + "-" + stamp(t)
}

// JobScheduleID is the Temporal Schedule ID of a job.
func JobScheduleID(jobID string) string { return "strata-" + jobID }

// JobRunActionID is the workflow ID prefix a job's schedule starts its runs
// with; Temporal appends the run's time ("backup-<jobId>-<time>").
func JobRunActionID(jobID string) string { return "backup-" + jobID }

// JobRunWorkflowIDPrefix starts the workflow ID of every run of a job.
func JobRunWorkflowIDPrefix(jobID string) string { return JobRunActionID(jobID) + "-" }

// RegisterWorkflowID is the workflow ID of a cluster's registration.
func RegisterWorkflowID(clusterID string) string { return "register-" + clusterID }

// The worker's own schedules.
const (
	ReconcileScheduleID = "strata-reconcile"
	MonitorScheduleID   = "strata-monitor"
)

// WorkerScheduleActionID is the workflow ID prefix of a worker schedule's
// runs ("reconcile-<time>", "monitor-<time>").
func WorkerScheduleActionID(scheduleID string) string {
	return strings.TrimPrefix(scheduleID, "strata-")
}

// ReconcileWorkflowID and MonitorWorkflowID are the workflow IDs of a
// reconciliation or monitor run started by hand at t.
func ReconcileWorkflowID(t time.Time) string { return "reconcile-" + stamp(t) }
func MonitorWorkflowID(t time.Time) string   { return "monitor-" + stamp(t) }

// NotifyWorkflowID is the workflow ID of an event's delivery.
func NotifyWorkflowID(eventID string) string { return "notify-" + eventID }

// EventID derives a deterministic event ID from the parts that identify the
// event (type, subject, workflow and run IDs): "ev-" and the first 20 hex
// digits of the SHA-256 of the parts joined by NUL bytes, so ("a", "bc")
// and ("ab", "c") differ. Retried deliveries carry the same ID.
func EventID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "ev-" + hex.EncodeToString(sum[:])[:20]
}

func stamp(t time.Time) string { return t.UTC().Format("20060102T150405.000Z") }
