package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/notify"
)

// ClusterLifecycleWorkflow is a cluster's long-lived workflow (ID
// cluster-<id>): it takes the cluster's operations (power off, power on,
// set profile, delete) as updates and as signals of the same names, runs
// them one at a time under the cluster's lock, and holds the clean-up
// clock of a powered-off cluster:
//
//	powered off → (retention − notice) → cluster.deletion_scheduled →
//	(notice) → deleted with its backups → cluster.deleted
//
// A power-on before then stops the clock; the next power-off starts it
// again. A run continues as new after api.MaxLifecycleOperations
// operations, carrying what the catalog does not hold.
func ClusterLifecycleWorkflow(ctx workflow.Context, req api.LifecycleRequest) (api.ClusterLifecycleState, error) {
	if err := inputError("lifecycle request", req.InputError()); err != nil {
		return api.ClusterLifecycleState{}, err
	}
	if err := req.Check(); err != nil {
		return api.ClusterLifecycleState{}, failure(ctx, activities.InvalidRequest("%v", err))
	}
	l := &lifecycle{clusterID: req.ClusterID, state: api.ClusterLifecycleState{ClusterID: req.ClusterID}}
	if req.Carry != nil {
		l.carry = *req.Carry
	}
	if err := l.registerHandlers(ctx); err != nil {
		return l.state, err
	}
	return l.run(ctx)
}

// lifecycleOp is one queued operation; done is the waiting update's (nil
// for a signal or the clean-up's own).
type lifecycleOp struct {
	kind    string
	power   api.PowerRequest
	profile api.SetProfileRequest
	del     api.DeleteClusterRequest
	// expiry: the clean-up's deletion of a cluster powered off too long.
	expiry bool
	done   workflow.Settable
}

type lifecycle struct {
	clusterID string
	projectID string
	state     api.ClusterLifecycleState
	carry     api.LifecycleCarry
	notice    time.Duration
	queue     []*lifecycleOp
	current   *lifecycleOp
	gone      bool
	// missing: the cluster was never recorded (gone with no record).
	missing bool
}

// goneError is what an operation on a deleted (or unknown) cluster gets.
func (l *lifecycle) goneError() error {
	msg := fmt.Sprintf("cluster %s was deleted", l.clusterID)
	if l.missing {
		msg = fmt.Sprintf("cluster %s not found (see `starter cluster list`)", l.clusterID)
	}
	return temporal.NewNonRetryableApplicationError(msg, api.ReasonClusterNotFound, nil)
}

func (l *lifecycle) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, api.QueryLifecycleState, func() (api.ClusterLifecycleState, error) { return l.view(), nil }); err != nil {
		return err
	}
	return errors.Join(
		operation(ctx, l, api.UpdatePowerOff, func(r api.PowerRequest) (*lifecycleOp, string) {
			return &lifecycleOp{kind: api.UpdatePowerOff, power: r}, r.RequestID
		}),
		operation(ctx, l, api.UpdatePowerOn, func(r api.PowerRequest) (*lifecycleOp, string) {
			return &lifecycleOp{kind: api.UpdatePowerOn, power: r}, r.RequestID
		}),
		operation(ctx, l, api.UpdateSetProfile, func(r api.SetProfileRequest) (*lifecycleOp, string) {
			return &lifecycleOp{kind: api.UpdateSetProfile, profile: r}, r.RequestID
		}),
		operation(ctx, l, api.UpdateDeleteCluster, func(r api.DeleteClusterRequest) (*lifecycleOp, string) {
			return &lifecycleOp{kind: api.UpdateDeleteCluster, del: r}, r.RequestID
		}),
	)
}

// lifecycleRequest is what every lifecycle operation's input has.
type lifecycleRequest interface {
	InputError() error
	Check() error
}

// operation registers one operation as an update (validated, waited for)
// and as a signal of the same name for callers that only signal (a
// request the state refuses is dropped with its reason in the state).
func operation[Req lifecycleRequest](ctx workflow.Context, l *lifecycle, name string, op func(Req) (*lifecycleOp, string)) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, name, func(ctx workflow.Context, req Req) (api.ClusterLifecycleState, error) {
		o, _ := op(req)
		return l.await(ctx, o)
	}, workflow.UpdateHandlerOptions{Validator: func(req Req) error { return l.admit(name, req.InputError(), req.Check) }})
	if err != nil {
		return err
	}
	ch := workflow.GetSignalChannel(ctx, name)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var req Req
			ch.Receive(ctx, &req)
			o, reqID := op(req)
			l.signalled(ctx, o, reqID, req.InputError(), req.Check)
		}
	})
	return nil
}

// signalled queues a signalled operation unless its request ID was seen
// or the state refuses it.
func (l *lifecycle) signalled(ctx workflow.Context, op *lifecycleOp, reqID string, inErr error, check func() error) {
	if reqID != "" {
		for _, id := range l.carry.RequestIDs {
			if id == reqID {
				return
			}
		}
		l.carry.RequestIDs = append(l.carry.RequestIDs, reqID)
		if len(l.carry.RequestIDs) > api.MaxLifecycleRequestIDs {
			l.carry.RequestIDs = l.carry.RequestIDs[len(l.carry.RequestIDs)-api.MaxLifecycleRequestIDs:]
		}
	}
	if err := l.admit(op.kind, inErr, check); err != nil {
		l.state.Reason = validate.Truncate(err.Error(), validate.MaxMessageLen)
		workflow.GetLogger(ctx).Warn("lifecycle signal refused", "cluster", l.clusterID, "signal", op.kind, "error", err)
		return
	}
	l.queue = append(l.queue, op)
}

// admit is the updates' validator: the request is well formed, and the
// cluster, once the operations before it have run, can take it.
func (l *lifecycle) admit(kind string, inErr error, check func() error) error {
	if inErr != nil {
		return inputError(kind+" request", inErr)
	}
	if err := check(); err != nil {
		return activities.InvalidRequest("%v", err)
	}
	power := l.projectedPower()
	switch {
	case l.gone || power == api.PowerDeleted:
		return l.goneError()
	case power == "":
		return nil // not loaded yet: the operation checks the catalog itself
	case kind == api.UpdatePowerOn && power != api.PowerPoweredOff && power != api.PowerPoweringOn:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("cluster %s is %s: only a powered-off cluster powers on", l.clusterID, power), api.ReasonInvalidState, nil)
	case kind == api.UpdatePowerOff && power != api.PowerRunning && power != api.PowerPoweringOff:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("cluster %s is %s: only a running cluster powers off", l.clusterID, power), api.ReasonInvalidState, nil)
	}
	return nil
}

// projectedPower is the cluster's power once the running and queued
// operations are done (assuming they succeed).
func (l *lifecycle) projectedPower() string {
	p := l.state.Power
	ops := l.queue
	if l.current != nil {
		ops = append([]*lifecycleOp{l.current}, ops...)
	}
	for _, op := range ops {
		switch op.kind {
		case api.UpdatePowerOff:
			p = api.PowerPoweredOff
		case api.UpdatePowerOn:
			p = api.PowerRunning
		case api.UpdateDeleteCluster:
			p = api.PowerDeleted
		}
	}
	return p
}

// await queues an update's operation and waits for its outcome.
func (l *lifecycle) await(ctx workflow.Context, op *lifecycleOp) (api.ClusterLifecycleState, error) {
	f, set := workflow.NewFuture(ctx)
	op.done = set
	l.queue = append(l.queue, op)
	var st api.ClusterLifecycleState
	err := f.Get(ctx, &st)
	return st, err
}

func (l *lifecycle) view() api.ClusterLifecycleState {
	st := l.state
	st.Pending = len(l.queue)
	if st.DeletionAt != nil && st.Power == api.PowerPoweredOff {
		at := st.DeletionAt.Add(-l.notice)
		st.NoticeAt = &at
	} else {
		st.NoticeAt = nil
	}
	return st
}

func (l *lifecycle) run(ctx workflow.Context) (api.ClusterLifecycleState, error) {
	if err := l.load(ctx); err != nil {
		return l.state, err
	}
	// A run that begins halfway through a power change (its predecessor
	// was terminated) finishes it first.
	switch l.state.Power {
	case api.PowerPoweringOff:
		l.queue = append([]*lifecycleOp{{kind: api.UpdatePowerOff, power: api.PowerRequest{Reason: "resumed by the cluster's lifecycle"}}}, l.queue...)
	case api.PowerPoweringOn:
		l.queue = append([]*lifecycleOp{{kind: api.UpdatePowerOn, power: api.PowerRequest{Reason: "resumed by the cluster's lifecycle"}}}, l.queue...)
	}
	for !l.gone {
		if len(l.queue) == 0 {
			if l.state.Operations >= api.MaxLifecycleOperations || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
				break
			}
			if err := l.wait(ctx); err != nil {
				return l.state, err
			}
			continue
		}
		op := l.queue[0]
		l.queue = l.queue[1:]
		l.exec(ctx, op)
	}
	if l.gone {
		for _, op := range l.queue {
			if op.done != nil {
				op.done.Set(l.view(), l.goneError())
			}
		}
		l.queue = nil
	}
	// Operations that arrive while the run ends are the next run's; the
	// updates still running finish first.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && len(l.queue) == 0 }); err != nil {
		return l.state, err
	}
	if l.gone {
		return l.view(), nil
	}
	carry := l.carry
	return l.state, workflow.NewContinueAsNewError(ctx, api.ClusterLifecycleWorkflowName, api.LifecycleRequest{ClusterID: l.clusterID, Carry: &carry})
}

// wait waits for an operation or the clean-up's next moment.
func (l *lifecycle) wait(ctx workflow.Context) error {
	ready := func() bool {
		return len(l.queue) > 0 || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	}
	if l.state.Power != api.PowerPoweredOff || l.state.DeletionAt == nil {
		return workflow.Await(ctx, ready)
	}
	now := workflow.Now(ctx)
	deleteAt := *l.state.DeletionAt
	noticeAt := deleteAt.Add(-l.notice)
	next := deleteAt
	if !l.carry.Noticed {
		next = noticeAt
	}
	if d := next.Sub(now); d > 0 {
		if ok, err := workflow.AwaitWithTimeout(ctx, d, ready); err != nil || ok {
			return err
		}
		now = workflow.Now(ctx)
	}
	switch {
	case !l.carry.Noticed && !now.Before(noticeAt):
		l.carry.Noticed = true
		l.sendNotice(ctx, deleteAt)
	case !now.Before(deleteAt):
		l.queue = append(l.queue, &lifecycleOp{kind: api.UpdateDeleteCluster, del: api.DeleteClusterRequest{WithBackups: true}, expiry: true})
	}
	return nil
}

func (l *lifecycle) sendNotice(ctx workflow.Context, deleteAt time.Time) {
	sendEvent(ctx, notify.Event{
		ID:   notify.EventID(api.EventClusterDeletionScheduled, l.clusterID, workflow.GetInfo(ctx).WorkflowExecution.ID, deleteAt.UTC().Format(time.RFC3339)),
		Type: api.EventClusterDeletionScheduled, ProjectID: l.projectID, ClusterID: l.clusterID, BackupID: l.state.FinalBackupID,
		Summary: fmt.Sprintf("Cluster %s has been powered off since %s and will be deleted with all its backups on %s unless it is powered on (`starter cluster power-on %s`)",
			l.clusterID, fmtTime(l.state.PoweredOffAt), deleteAt.UTC().Format(time.RFC3339), l.clusterID),
		Details: map[string]any{"deletionAt": deleteAt.UTC().Format(time.RFC3339), "poweredOffAt": fmtTime(l.state.PoweredOffAt)},
	})
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// load reads the cluster's state from the catalog.
func (l *lifecycle) load(ctx workflow.Context) error {
	var st activities.LifecycleStart
	if err := workflow.ExecuteActivity(stepOptions(ctx, "load cluster "+l.clusterID), lifecycles.LoadLifecycle, l.clusterID).Get(ctx, &st); err != nil {
		return failure(ctx, err)
	}
	l.notice = st.NoticeBefore
	if st.Gone {
		l.gone, l.missing = true, st.Cluster.ID == ""
		l.state.Power = api.PowerDeleted
		return l.publish(ctx)
	}
	cl := st.Cluster
	l.projectID = cl.ProjectID
	was := l.state.Power
	l.state.Power, l.state.Profile = cl.Power, cl.Profile
	l.state.PoweredOffAt, l.state.DeletionAt, l.state.FinalBackupID = cl.PoweredOffAt, cl.DeletionAt, cl.FinalBackupID
	if l.state.Power == "" {
		l.state.Power = api.PowerRunning
	}
	if was != "" && was != l.state.Power && l.state.Power == api.PowerPoweredOff {
		l.carry.Noticed = false // a new power-off: a new clock
	}
	return l.publish(ctx)
}

// publish shows the state in the search attribute and the Web UI.
func (l *lifecycle) publish(ctx workflow.Context) error {
	if err := workflow.UpsertTypedSearchAttributes(ctx, api.SearchAttrClusterState.ValueSet(l.state.Power)); err != nil {
		return err
	}
	st := l.view()
	details := fmt.Sprintf("**Cluster** `%s` · **Power:** %s", l.clusterID, st.Power)
	if st.Profile != "" {
		details += " · **Profile:** " + st.Profile
	}
	if st.Operation != "" {
		details += fmt.Sprintf("\n\n**Operation:** %s · **Step:** %s", st.Operation, st.Step)
	}
	if st.DeletionAt != nil && st.Power == api.PowerPoweredOff {
		details += fmt.Sprintf("\n\n**Powered off** since %s · **deleted with its backups** on %s unless powered on", fmtTime(st.PoweredOffAt), fmtTime(st.DeletionAt))
	}
	if st.Reason != "" {
		details += "\n\n**Last failure:** " + st.Reason
	}
	workflow.SetCurrentDetails(ctx, details)
	return nil
}

func (l *lifecycle) setStep(ctx workflow.Context, step string) {
	l.state.Step = step
	_ = l.publish(ctx)
}

// exec runs one operation and answers its update.
func (l *lifecycle) exec(ctx workflow.Context, op *lifecycleOp) {
	l.current = op
	l.state.Operation, l.state.Reason = op.kind, ""
	l.state.Operations++
	l.carry.Seq++
	var err error
	switch op.kind {
	case api.UpdatePowerOff:
		err = l.powerOff(ctx, op.power)
	case api.UpdatePowerOn:
		err = l.powerOn(ctx, op.power)
	case api.UpdateSetProfile:
		err = l.setProfile(ctx, op.profile)
	case api.UpdateDeleteCluster:
		err = l.deleteCluster(ctx, op.del, op.expiry)
	}
	if err != nil {
		code, msg := reasonOf(ctx, err)
		l.state.Reason = validate.Truncate(code+": "+msg, validate.MaxMessageLen)
		err = temporal.NewNonRetryableApplicationError(msg, code, nil)
	}
	l.current = nil
	l.state.Operation, l.state.Step = "", ""
	if lerr := l.load(ctx); lerr != nil {
		workflow.GetLogger(ctx).Error("reloading the cluster failed", "cluster", l.clusterID, "error", lerr)
	}
	if op.done != nil {
		op.done.Set(l.view(), err)
	}
}

// Lifecycle activity options.
func lifecycleLockOptions(ctx workflow.Context) workflow.Context {
	// A backup or restore holds the lock for minutes to hours; the
	// operation waits for it.
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 6 * time.Hour, Summary: "lock cluster",
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	})
}

func longStepOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour, HeartbeatTimeout: time.Minute, ScheduleToCloseTimeout: 24 * time.Hour,
		Summary: summary, RetryPolicy: providerRetry(),
	})
}

// withLock runs fn holding the cluster's lock, renewed while it runs, and
// releases it after (in a disconnected context: also on cancellation).
func (l *lifecycle) withLock(ctx workflow.Context, fn func(ctx workflow.Context, lock activities.LockRef) error) error {
	l.setStep(ctx, api.StepLocking)
	var lock activities.LockRef
	if err := workflow.ExecuteActivity(lifecycleLockOptions(ctx), lifecycles.AcquireLifecycleLock, l.clusterID).Get(ctx, &lock); err != nil {
		return err
	}
	// The hold renews the lease while fn runs. It is not waited for once
	// cancelled (it learns of it at its next heartbeat): a renewal after
	// the release below finds the lease gone and renews nothing.
	hctx, stop := workflow.WithCancel(ctx)
	workflow.ExecuteActivity(workflow.WithActivityOptions(hctx, workflow.ActivityOptions{
		StartToCloseTimeout: 7 * 24 * time.Hour, HeartbeatTimeout: time.Minute,
		Summary: "hold lock on " + l.clusterID, RetryPolicy: stepRetry(),
	}), lifecycles.HoldLifecycleLock, lock)
	err := fn(ctx, lock)
	stop()
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if rerr := workflow.ExecuteActivity(compensationOptions(dctx, "release lock on "+l.clusterID), lifecycles.ReleaseLifecycleLock, lock).Get(dctx, nil); rerr != nil {
		workflow.GetLogger(ctx).Error("releasing the lifecycle's lock failed", "cluster", l.clusterID, "error", rerr)
	}
	return err
}

// finalBackupAttempts bounds how often a power-off's final backup is
// tried again after finding the cluster locked by another operation.
const finalBackupAttempts = 10

// powerOff: mark the cluster PoweringOff and pause its jobs (under the
// lock) → final backup (a backup workflow of its own, which takes the lock
// itself) → release compute and volumes, mark PoweredOff (under the lock).
// A final backup that fails puts the cluster back to Running, its jobs
// resumed, and says why.
func (l *lifecycle) powerOff(ctx workflow.Context, req api.PowerRequest) error {
	in := activities.PowerInput{ClusterID: l.clusterID, Reason: req.Reason}
	var plan activities.PowerOffPlan
	err := l.withLock(ctx, func(ctx workflow.Context, _ activities.LockRef) error {
		l.setStep(ctx, "Preparing")
		return workflow.ExecuteActivity(stepOptions(ctx, "begin power-off"), lifecycles.BeginPowerOff, in).Get(ctx, &plan)
	})
	abort := func(err error) error {
		code, msg := reasonOf(ctx, err)
		reason := fmt.Sprintf("power-off of cluster %s failed: %s: %s", l.clusterID, code, msg)
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		in := in
		in.Reason = validate.Truncate(reason, validate.MaxMessageLen)
		if aerr := workflow.ExecuteActivity(compensationOptions(dctx, "undo power-off"), lifecycles.AbortPowerOff, in).Get(dctx, nil); aerr != nil {
			workflow.GetLogger(ctx).Error("undoing the power-off failed", "cluster", l.clusterID, "error", aerr)
		}
		if code == api.ReasonNoBackups || code == api.ReasonInvalidState || code == api.ReasonCancelled {
			return err
		}
		return temporal.NewNonRetryableApplicationError(reason, api.ReasonPowerFailed, nil)
	}
	if err != nil {
		return abort(err)
	}

	// The final backup: the cluster's last state.
	l.setStep(ctx, "FinalBackup")
	var final api.Backup
	for n := 1; ; n++ {
		wfID := api.FinalBackupWorkflowID(l.clusterID, l.carry.Seq, n)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: wfID, StaticSummary: "Final backup of cluster " + l.clusterID,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(api.SearchAttrClusterID.ValueSet(l.clusterID)),
		})
		l.state.FinalBackupID = api.BackupIDFor(wfID)
		err = workflow.ExecuteChildWorkflow(cctx, api.BackupWorkflowName, api.BackupRequest{
			ClusterID: l.clusterID, JobID: plan.JobID, Label: "{cluster:id}-final-{index}",
		}).Get(ctx, &final)
		if err == nil {
			break
		}
		var appErr *temporal.ApplicationError
		if n < finalBackupAttempts && errors.As(err, &appErr) && appErr.Type() == api.ReasonClusterLocked {
			_ = workflow.Sleep(ctx, 30*time.Second)
			continue
		}
		return abort(err)
	}

	// Release compute and volumes; PoweredOff.
	in.FinalBackupID = final.ID
	return l.withLock(ctx, func(ctx workflow.Context, _ activities.LockRef) error {
		l.setStep(ctx, "ReleasingResources")
		if err := workflow.ExecuteActivity(longStepOptions(ctx, "release compute and volumes"), lifecycles.ReleaseResources, in).Get(ctx, nil); err != nil {
			return err
		}
		in.At = workflow.Now(ctx)
		return workflow.ExecuteActivity(stepOptions(ctx, "mark PoweredOff"), lifecycles.FinishPowerOff, in).Get(ctx, nil)
	})
}

// powerOn, under the lock: mark PoweringOn → release whatever an earlier
// attempt left → restore the final backup into the cluster (a
// PowerOnWorkflow) → Running, jobs resumed, clock stopped. On failure
// what the restore made is released and the cluster is PoweredOff again
// with the reason.
func (l *lifecycle) powerOn(ctx workflow.Context, req api.PowerRequest) error {
	in := activities.PowerInput{ClusterID: l.clusterID, Reason: req.Reason}
	return l.withLock(ctx, func(ctx workflow.Context, lock activities.LockRef) error {
		l.setStep(ctx, "Preparing")
		if err := workflow.ExecuteActivity(stepOptions(ctx, "begin power-on"), lifecycles.BeginPowerOn, in).Get(ctx, nil); err != nil {
			return err
		}
		l.state.Power = api.PowerPoweringOn
		_ = l.publish(ctx)
		if err := workflow.ExecuteActivity(longStepOptions(ctx, "release what an earlier power-on left"), lifecycles.ReleaseResources, in).Get(ctx, nil); err != nil {
			return err
		}
		l.setStep(ctx, "Restoring")
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: api.PowerOnWorkflowID(l.clusterID, l.carry.Seq), StaticSummary: "Power on cluster " + l.clusterID,
			TypedSearchAttributes: temporal.NewSearchAttributes(api.SearchAttrClusterID.ValueSet(l.clusterID)),
		})
		err := workflow.ExecuteChildWorkflow(cctx, api.PowerOnWorkflowName, api.PowerOnRequest{ClusterID: l.clusterID, LockToken: lock.LockToken}).Get(ctx, nil)
		if err != nil {
			code, msg := reasonOf(ctx, err)
			reason := validate.Truncate(fmt.Sprintf("power-on of cluster %s failed: %s: %s", l.clusterID, code, msg), validate.MaxMessageLen)
			dctx, _ := workflow.NewDisconnectedContext(ctx)
			if rerr := workflow.ExecuteActivity(longStepOptions(dctx, "release the failed power-on"), lifecycles.ReleaseResources, in).Get(dctx, nil); rerr != nil {
				workflow.GetLogger(ctx).Error("releasing a failed power-on failed", "cluster", l.clusterID, "error", rerr)
			}
			abort := in
			abort.Reason = reason
			if aerr := workflow.ExecuteActivity(compensationOptions(dctx, "back to PoweredOff"), lifecycles.AbortPowerOn, abort).Get(dctx, nil); aerr != nil {
				workflow.GetLogger(ctx).Error("marking the cluster PoweredOff failed", "cluster", l.clusterID, "error", aerr)
			}
			return temporal.NewNonRetryableApplicationError(reason, api.ReasonPowerFailed, nil)
		}
		l.setStep(ctx, "Resuming")
		if err := workflow.ExecuteActivity(stepOptions(ctx, "mark Running"), lifecycles.FinishPowerOn, in).Get(ctx, nil); err != nil {
			return err
		}
		l.carry.Noticed = false
		return nil
	})
}

// setProfile makes the cluster's jobs match the profile, under the lock.
func (l *lifecycle) setProfile(ctx workflow.Context, req api.SetProfileRequest) error {
	return l.withLock(ctx, func(ctx workflow.Context, _ activities.LockRef) error {
		l.setStep(ctx, "ApplyingProfile")
		return workflow.ExecuteActivity(stepOptions(ctx, "apply profile "+req.Profile), lifecycles.MoveToProfile, activities.ApplyProfileInput{
			ClusterID: l.clusterID, Profile: req.Profile, Paused: l.state.Power != api.PowerRunning,
		}).Get(ctx, nil)
	})
}

// deleteCluster, under the lock: check no restore from it runs → delete
// its jobs, compute and volumes, mark it Deleted; then (with backups)
// delete every backup of it, each by its own deletion workflow. The clean-up
// of a cluster powered off too long is this with its backups, announced
// by cluster.deleted.
func (l *lifecycle) deleteCluster(ctx workflow.Context, req api.DeleteClusterRequest, expiry bool) error {
	in := activities.DeleteClusterInput{ClusterID: l.clusterID, WithBackups: req.WithBackups}
	var plan activities.DeletePlan
	err := l.withLock(ctx, func(ctx workflow.Context, _ activities.LockRef) error {
		l.setStep(ctx, "Checking")
		if err := workflow.ExecuteActivity(stepOptions(ctx, "plan deletion"), lifecycles.PlanDeleteCluster, in).Get(ctx, &plan); err != nil {
			return err
		}
		l.setStep(ctx, "DeletingCluster")
		return workflow.ExecuteActivity(longStepOptions(ctx, "delete jobs, compute and volumes"), lifecycles.DeleteClusterResources, in).Get(ctx, nil)
	})
	if err != nil {
		return err
	}
	l.gone = true
	l.state.Power = api.PowerDeleted
	l.setStep(ctx, "DeletingBackups")
	var futures []workflow.ChildWorkflowFuture
	for _, id := range plan.BackupIDs {
		futures = append(futures, workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, childDeleteOptions(id)), api.DeleteBackupWorkflowName, api.DeleteBackupRequest{BackupID: id}))
	}
	var failed []string
	for i, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			failed = append(failed, plan.BackupIDs[i])
		}
	}
	summary := fmt.Sprintf("Cluster %s was deleted", l.clusterID)
	if expiry {
		summary = fmt.Sprintf("Cluster %s was deleted with its %d backups after being powered off since %s", l.clusterID, len(plan.BackupIDs), fmtTime(l.state.PoweredOffAt))
	} else if req.WithBackups {
		summary += fmt.Sprintf(" with its %d backups", len(plan.BackupIDs))
	}
	sendEvent(ctx, notify.Event{
		ID:   notify.EventID(api.EventClusterDeleted, l.clusterID, workflow.GetInfo(ctx).WorkflowExecution.ID, ""),
		Type: api.EventClusterDeleted, ProjectID: l.projectID, ClusterID: l.clusterID, Summary: summary,
		Details: map[string]any{"backupsDeleted": len(plan.BackupIDs) - len(failed), "backupsFailed": failed},
	})
	if len(failed) > 0 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("cluster %s was deleted; deleting backups %v failed (retry with `starter backup delete`)", l.clusterID, failed), api.ReasonDeleteFailed, nil)
	}
	return nil
}
