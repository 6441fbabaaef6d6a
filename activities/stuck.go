package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
)

// WorkflowState is what Temporal says of a workflow ID's latest run.
type WorkflowState struct {
	// Found is false when Temporal has no run under the ID (never started,
	// or deleted by the namespace's retention).
	Found bool
	// Open is true while the run has not closed.
	Open bool
	// Closed says how a closed run ended ("terminated by admin@host:
	// \"cleanup\"", "timed out", "completed"), or why none was found.
	Closed string
	// ClosedAt is when it closed (zero when none was found).
	ClosedAt time.Time
}

// WorkflowLookup reads a workflow's state from Temporal (the reconciler).
type WorkflowLookup func(ctx context.Context, workflowID string) (WorkflowState, error)

// TemporalWorkflows looks workflows up through tc.
func TemporalWorkflows(tc client.Client) WorkflowLookup {
	return func(ctx context.Context, workflowID string) (WorkflowState, error) {
		d, err := tc.DescribeWorkflowExecution(ctx, workflowID, "")
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return WorkflowState{Closed: "no run found (deleted by the namespace's retention, or never started)"}, nil
		}
		if err != nil {
			return WorkflowState{}, err
		}
		info := d.GetWorkflowExecutionInfo()
		st := WorkflowState{Found: true, ClosedAt: info.GetCloseTime().AsTime()}
		switch info.GetStatus() {
		case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_PAUSED:
			st.Open = true
		case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
			st.Closed = "terminated" + terminatedBy(ctx, tc, workflowID, info.GetExecution().GetRunId())
		case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
			st.Closed = "timed out (workflow run or execution timeout)"
		default:
			st.Closed = strings.ToLower(strings.TrimPrefix(info.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))
		}
		return st, nil
	}
}

// terminatedBy reads who terminated a run and why from its close event.
func terminatedBy(ctx context.Context, tc client.Client, workflowID, runID string) string {
	it := tc.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return ""
		}
		if a := ev.GetWorkflowExecutionTerminatedEventAttributes(); a != nil {
			out := ""
			if a.GetIdentity() != "" {
				out += " by " + validate.Truncate(a.GetIdentity(), 100)
			}
			if a.GetReason() != "" {
				out += ": " + validate.Quote(a.GetReason())
			}
			return out
		}
	}
	return ""
}

// DefaultStuckAfter is how long a workflow must have been closed before
// the reconciler finishes the records it left: long enough for the
// activities it had started to notice (at their next heartbeat) or finish
// (at most their start-to-close timeout), so none of them creates
// something after the teardown.
const DefaultStuckAfter = 10 * time.Minute

// findStuck lists every Pending, InProgress or Deleting backup and every
// open restore whose workflow has been closed for Config.StuckAfter, and
// every hold of a restore that ended. A workflow Temporal cannot be asked
// about (an outage) is skipped, not guessed at.
func (a *Reconciler) findStuck(ctx context.Context, now time.Time) ([]api.Stuck, error) {
	out := []api.Stuck{}
	if a.Workflows == nil {
		return out, nil
	}
	settle := a.Config.StuckAfter
	if settle <= 0 {
		settle = DefaultStuckAfter
	}
	closed := func(kind, id, wfID string) (string, bool) {
		st, err := a.Workflows(ctx, wfID)
		if err != nil {
			a.log().Warn("could not read a workflow's state; will check it next time", zap.String(kind, id), zap.String("workflow", wfID), zap.Error(err))
			return "", false
		}
		if st.Open || (!st.ClosedAt.IsZero() && now.Sub(st.ClosedAt) < settle) {
			return "", false
		}
		return fmt.Sprintf("%s: workflow %s %s", api.ReasonTerminated, wfID, st.Closed), true
	}
	running, err := a.Catalog.ListBackups(ctx, catalog.BackupFilter{Statuses: []catalog.BackupStatus{catalog.BackupPending, catalog.BackupInProgress, catalog.BackupDeleting}})
	if err != nil {
		return nil, classify(err, "listing running backups")
	}
	for _, b := range running {
		kind, wfID := api.StuckBackup, b.WorkflowID
		if b.Status == catalog.BackupDeleting {
			if b.DeletionError != "" {
				continue // a deletion that already failed and said why
			}
			kind, wfID = api.StuckDeletion, api.DeleteWorkflowID(b.ID)
		}
		if reason, ok := closed(kind, b.ID, wfID); ok {
			out = append(out, api.Stuck{Kind: kind, ID: b.ID, ClusterID: b.ClusterID, WorkflowID: wfID, Status: string(b.Status), Reason: reason})
		}
	}
	restores, err := a.Catalog.ListOpenRestores(ctx)
	if err != nil {
		return nil, classify(err, "listing running restores")
	}
	for _, r := range restores {
		if reason, ok := closed(api.StuckRestore, r.ID, r.WorkflowID); ok {
			out = append(out, api.Stuck{Kind: api.StuckRestore, ID: r.ID, ClusterID: r.ClusterID, WorkflowID: r.WorkflowID, Status: string(r.Status), Reason: reason})
		}
	}
	holds, err := a.Catalog.ListHolds(ctx)
	if err != nil {
		return nil, classify(err, "listing holds")
	}
	for _, h := range holds {
		restoreID, ok := strings.CutPrefix(h.Holder, validate.OperationHolder("restore", ""))
		if !ok {
			continue
		}
		r, err := a.Catalog.GetRestore(ctx, restoreID)
		switch {
		case catalog.IsNotFound(err):
		case err != nil:
			return nil, classify(err, "restore "+restoreID)
		case r.Status != catalog.RestoreCompleted && r.Status != catalog.RestoreFailed:
			continue // open: its workflow releases it, or the check above does
		}
		out = append(out, api.Stuck{Kind: api.StuckHold, ID: h.BackupID, WorkflowID: r.WorkflowID, Status: h.Holder,
			Reason: fmt.Sprintf("%s: restore %s ended (%s) without releasing its hold", api.ReasonTerminated, restoreID, orUnknown(string(r.Status)))})
	}
	return out, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// finishStuck does what the closed workflow's compensations would have
// done. Each step is idempotent and re-checks the record first, so a
// workflow that finished between the plan and now is left as it is.
func (a *Reconciler) finishStuck(ctx context.Context, s api.Stuck) error {
	switch s.Kind {
	case api.StuckBackup:
		return a.finishStuckBackup(ctx, s)
	case api.StuckRestore:
		return a.finishStuckRestore(ctx, s)
	case api.StuckHold:
		return classify(a.Catalog.RemoveHold(ctx, s.ID, s.Status), "backup "+s.ID)
	case api.StuckDeletion:
		err := a.Deletions.FailDeletion(ctx, FailDeletionInput{BackupID: s.ID, Reason: api.ReasonDeleteFailed + ": " + s.Reason})
		if err == nil {
			a.log().Warn("deletion whose workflow closed marked failed", zap.String("backup", s.ID), zap.String("reason", s.Reason))
		}
		return err
	}
	return nil
}

// finishStuckBackup marks the backup Defunct with every snapshot it made
// (found at the provider by its tag) and releases its lock.
func (a *Reconciler) finishStuckBackup(ctx context.Context, s api.Stuck) error {
	cl, err := a.Catalog.GetCluster(ctx, s.ClusterID)
	if err != nil {
		return classify(err, "backup "+s.ID)
	}
	b, err := a.Backups.MarkDefunct(ctx, MarkDefunctInput{BackupID: s.ID, ClusterID: cl.ID, Provider: cl.Provider, Region: cl.Region, Reason: s.Reason})
	if err != nil {
		return err
	}
	if b.Status != catalog.BackupDefunct {
		return nil // it finished after all
	}
	l, err := a.Catalog.GetLock(ctx, cl.ID)
	if err != nil {
		return classify(err, "cluster "+cl.ID)
	}
	if l != nil && l.Holder == validate.OperationHolder("backup", s.ID) {
		if err := a.Catalog.ReleaseLock(ctx, cl.ID, l.Token); err != nil {
			return classify(err, "cluster "+cl.ID)
		}
	}
	return nil
}

// finishStuckRestore marks the restore Failed, tears down what it created
// (its nodes and volumes; the new cluster is marked Failed) and releases its
// hold on the backup. A restore stopped after its new cluster was checked
// healthy, before its own record said so, did complete: it is marked so.
func (a *Reconciler) finishStuckRestore(ctx context.Context, s api.Stuck) error {
	r, err := a.Catalog.GetRestore(ctx, s.ID)
	if err != nil {
		return classify(err, "restore "+s.ID)
	}
	hold := validate.OperationHolder("restore", r.ID)
	release := func() error { return classify(a.Catalog.RemoveHold(ctx, r.BackupID, hold), "backup "+r.BackupID) }
	if r.Status == catalog.RestoreCompleted || r.Status == catalog.RestoreFailed {
		return release()
	}
	if r.ClusterID == r.SourceClusterID {
		// A power-on: its cluster's lifecycle releases what it made.
		if _, err := a.Catalog.SetRestoreStatus(ctx, r.ID, catalog.RestoreFailed, s.Reason, a.now()); err != nil {
			return classify(err, "restore "+r.ID)
		}
		return release()
	}
	cl, err := a.Catalog.GetCluster(ctx, r.ClusterID)
	found := err == nil
	if err != nil && !catalog.IsNotFound(err) {
		return classify(err, "cluster "+r.ClusterID)
	}
	if found && cl.Status == catalog.ClusterRunning {
		if _, err := a.Catalog.SetRestoreStatus(ctx, r.ID, catalog.RestoreCompleted, "", a.now()); err != nil {
			return classify(err, "restore "+r.ID)
		}
		return release()
	}
	if r, err = a.Catalog.SetRestoreStatus(ctx, s.ID, catalog.RestoreFailed, s.Reason, a.now()); err != nil {
		return classify(err, "restore "+s.ID)
	}
	if r.Status != catalog.RestoreFailed {
		return nil // it completed after all: never tear down a restored cluster
	}
	if found {
		plan := RestorePlan{ClusterID: cl.ID, Provider: cl.Provider, Region: cl.Region}
		for _, n := range cl.Nodes {
			plan.Nodes = append(plan.Nodes, RestoreNode{NodeID: n.ID})
		}
		if err := a.Restores.DeleteNodes(ctx, plan); err != nil {
			return err
		}
		if err := a.Restores.DeleteVolumes(ctx, plan); err != nil {
			return err
		}
		if err := a.Catalog.SetClusterStatus(ctx, cl.ID, catalog.ClusterFailed, s.Reason); err != nil {
			return classify(err, "cluster "+cl.ID)
		}
	}
	if err := release(); err != nil {
		return err
	}
	a.log().Warn("restore whose workflow closed marked failed and torn down", zap.String("restore", s.ID), zap.String("cluster", r.ClusterID), zap.String("reason", s.Reason))
	return nil
}
