package workflows

import (
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/notify"
)

// NotifyWorkflow delivers ev to each of its project's channels in parallel,
// each with its own retries and backoff for up to a day: at least once,
// with the event ID for receivers to drop duplicates. A channel that stays
// down only fails its own delivery; nothing waits for it.
func NotifyWorkflow(ctx workflow.Context, req api.NotifyRequest) (api.NotifyResult, error) {
	res := api.NotifyResult{Delivered: []string{}, Failed: []string{}}
	if err := inputError("event", req.InputError()); err != nil {
		return res, err
	}
	ev := req.Event
	var ids []string
	if err := workflow.ExecuteActivity(stepOptions(ctx, "list channels"), notifications.ListChannelIDs, ev).Get(ctx, &ids); err != nil {
		return res, failure(ctx, err)
	}
	dctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 24 * time.Hour, Summary: "deliver " + ev.Type,
		RetryPolicy: deliveryRetry(),
	})
	futures := make([]workflow.Future, len(ids))
	for i, id := range ids {
		futures[i] = workflow.ExecuteActivity(dctx, notifications.Deliver, activities.DeliverInput{ChannelID: id, Event: ev})
	}
	for i, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("notification not delivered", "channel", ids[i], "event", ev.ID, "error", err)
			res.Failed = append(res.Failed, ids[i])
			continue
		}
		res.Delivered = append(res.Delivered, ids[i])
	}
	return res, nil
}

// notifyVersion gates sending notifications, so that histories recorded
// before notifications existed still replay.
const notifyVersion = "notify-on-failure"

// sendEvent starts delivery of ev without waiting for it (the child outlives
// its parent), so a channel that is down never delays or fails the caller.
// ctx must not be cancelled (use a disconnected context on failure paths).
func sendEvent(ctx workflow.Context, ev notify.Event) {
	if (ev.ProjectID == "" && ev.ClusterID == "") || workflow.GetVersion(ctx, notifyVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	ev.Time = workflow.Now(ctx)
	ev.Reason = validate.Truncate(ev.Reason, notify.MaxReasonLen)
	ev.Summary = validate.Truncate(ev.Summary, notify.MaxSummaryLen)
	if ev.Details == nil {
		ev.Details = map[string]any{}
	}
	ev.Details["workflowId"] = workflow.GetInfo(ctx).WorkflowExecution.ID
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        api.NotifyWorkflowID(ev.ID),
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:     "Notify " + ev.Type,
	})
	f := workflow.ExecuteChildWorkflow(cctx, api.NotifyWorkflowName, ev)
	if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("starting notification failed", "event", ev.ID, "error", err)
	}
}

// eventID is unique per event and the same on replay.
func eventID(ctx workflow.Context, typ, subject string) string {
	info := workflow.GetInfo(ctx)
	return notify.EventID(typ, subject, info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
}
