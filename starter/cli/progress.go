package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/starter/strata"
)

// progress is one reading of an operation for the live line: only what
// its workflow reports, nothing estimated.
type progress struct {
	Step string
	// Done of Total Unit ("snapshots", "volumes"); Total 0 shows no count.
	Done, Total int
	Unit        string
	// Percent is -1 where the workflow reports none.
	Percent int
	// Detail is anything else worth a glance (a restore's WAL replay).
	Detail string
}

const (
	// progressEvery is how often a wait reads progress.
	progressEvery = 500 * time.Millisecond
	// progressMinGap keeps redraws to a few a second, however often
	// draw is called.
	progressMinGap = 250 * time.Millisecond
	// progressReadTimeout bounds one read: a slow read only delays the
	// next redraw, never the result.
	progressReadTimeout = 5 * time.Second
)

// progressLine draws one line on a terminal, rewritten in place. A nil
// *progressLine (not a terminal, or --json) draws nothing, so callers
// need no checks. It is not safe for concurrent use.
type progressLine struct {
	w     io.Writer
	now   func() time.Time
	what  string
	start time.Time
	width int
	last  string
	at    time.Time
	drawn bool
}

// newProgressLine returns the line for w, or nil when w is not a terminal
// or the output is JSON: scripts and pipes get the result alone.
func newProgressLine(w io.Writer, jsonOut bool, what string, now func() time.Time) *progressLine {
	if jsonOut || !isTerminal(w) {
		return nil
	}
	width, _, err := term.GetSize(int(w.(*os.File).Fd()))
	if err != nil {
		width = 0
	}
	return &progressLine{w: w, now: now, what: what, start: now(), width: width}
}

// draw shows p and the time since the line was made.
func (l *progressLine) draw(p progress) {
	if l == nil {
		return
	}
	now := l.now()
	text := l.text(p, now.Sub(l.start))
	if l.drawn && (text == l.last || now.Sub(l.at) < progressMinGap) {
		return
	}
	l.last, l.at, l.drawn = text, now, true
	fmt.Fprint(l.w, "\r"+text+"\x1b[K")
}

// finish clears the line, so what prints next starts on a clean one.
func (l *progressLine) finish() {
	if l == nil || !l.drawn {
		return
	}
	fmt.Fprint(l.w, "\r\x1b[K")
	l.drawn = false
}

func (l *progressLine) text(p progress, elapsed time.Duration) string {
	step := p.Step
	if step == "" {
		step = "waiting"
	}
	parts := []string{step}
	if p.Total > 0 {
		parts = append(parts, fmt.Sprintf("%d/%d %s", p.Done, p.Total, p.Unit))
	}
	if p.Percent >= 0 {
		parts = append(parts, fmt.Sprintf("%d%%", p.Percent))
	}
	if p.Detail != "" {
		parts = append(parts, p.Detail)
	}
	parts = append(parts, elapsed.Truncate(time.Second).String())
	text := l.what + ": " + strings.Join(parts, ", ")
	// A line longer than the terminal wraps, and "\r" would then rewrite
	// only its last row.
	if r := []rune(text); l.width > 1 && len(r) >= l.width {
		text = string(r[:l.width-1])
	}
	return text
}

// watch shows read's progress on a live line on stderr while a wait
// blocks: at once, then every progressEvery. The returned stop ends it and
// clears the line; call it before printing the result. A read that fails
// (the workflow just closed, a worker restarting) keeps the last reading.
func (a *app) watch(ctx context.Context, what string, read func(context.Context) (progress, error)) (stop func()) {
	line := newProgressLine(a.errOut, a.json, what, time.Now)
	if line == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		last := progress{Percent: -1}
		for {
			rctx, rcancel := context.WithTimeout(ctx, progressReadTimeout)
			p, err := read(rctx)
			rcancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				last = p
			}
			line.draw(last)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
		line.finish()
	}
}

// backupProgress reads a backup's step and its snapshots' progress.
func backupProgress(c *strata.Client, id string) func(context.Context) (progress, error) {
	return func(ctx context.Context) (progress, error) {
		p, err := c.LiveBackupStatus(ctx, id)
		if err != nil {
			return progress{}, err
		}
		return fromBackup(p), nil
	}
}

func fromBackup(p api.BackupProgress) progress {
	out := progress{Step: p.Step, Done: p.Completed, Total: p.Total, Unit: "snapshots", Percent: -1}
	if len(p.Snapshots) > 0 {
		sum := 0
		for _, s := range p.Snapshots {
			if s.Status == api.SnapshotCompleted {
				sum += 100
			} else {
				sum += min(max(s.Progress, 0), 100)
			}
		}
		out.Percent = sum / len(p.Snapshots)
	}
	return out
}

// restoreProgress reads a restore's step, volumes and WAL replay.
func restoreProgress(c *strata.Client, workflowID string) func(context.Context) (progress, error) {
	return func(ctx context.Context) (progress, error) {
		p, err := c.RestoreStatus(ctx, workflowID)
		if err != nil {
			return progress{}, err
		}
		createdVolumes(ctx, c, &p)
		return fromRestore(p), nil
	}
}

// createdVolumes counts, while a restore creates its volumes, those the
// catalog already records as created: the workflow hears of them only
// once all are.
func createdVolumes(ctx context.Context, c *strata.Client, p *api.RestoreProgress) {
	if p.Step != api.StepCreatingVolumes || p.ClusterID == "" {
		return
	}
	cl, err := c.GetCluster(ctx, p.ClusterID)
	if err != nil {
		return
	}
	n := 0
	for _, v := range cl.Volumes() {
		if v.Path != "" {
			n++
		}
	}
	p.VolumesCreated = max(p.VolumesCreated, min(n, p.VolumesTotal))
}

// fromRestore shows no percent: volumes are created together, so their
// count says little of the time left.
func fromRestore(p api.RestoreProgress) progress {
	out := progress{Step: p.Step, Done: p.VolumesCreated, Total: p.VolumesTotal, Unit: "volumes", Percent: -1}
	if rc := p.Recovery; rc != nil {
		out.Detail = "recovery " + rc.Phase
		if rc.ReplayLSN != "" {
			out.Detail += ", WAL replayed to " + rc.ReplayLSN
		}
	}
	return out
}

// deletionProgress reads a backup's deletion from its record: the
// deletion workflow answers no query, but marks each snapshot Deleted as
// it goes.
func deletionProgress(c *strata.Client, id string) func(context.Context) (progress, error) {
	return func(ctx context.Context) (progress, error) {
		b, err := c.GetBackup(ctx, id)
		if err != nil {
			return progress{}, err
		}
		out := progress{Percent: -1}
		if b.Status != api.BackupDeleting && b.Status != api.BackupDeleted {
			return out, nil // the deletion has not started yet
		}
		out.Step, out.Unit = string(b.Status), "snapshots deleted"
		for _, s := range b.Snapshots {
			if s.SnapshotID == "" {
				continue // never created: nothing to delete
			}
			out.Total++
			if s.Status == api.SnapshotDeleted {
				out.Done++
			}
		}
		return out, nil
	}
}

// lifecycleProgress reads a cluster's running operation and step and,
// when that operation runs a backup (a power-off's final backup) or a
// restore (a power-on's), that one's progress.
func lifecycleProgress(c *strata.Client, clusterID string) func(context.Context) (progress, error) {
	var restoreWF string // the power-on's restore, once found
	return func(ctx context.Context) (progress, error) {
		st, err := c.LifecycleState(ctx, clusterID)
		if err != nil {
			return progress{}, err
		}
		out := progress{Percent: -1}
		if st.Operation == "" {
			return out, nil
		}
		out.Step = st.Operation + " " + st.Step
		var inner *progress
		switch st.Operation {
		case api.UpdatePowerOff:
			// FinalBackupID is the previous power-off's backup until this
			// one's starts: a finished backup is not this operation's.
			if st.FinalBackupID == "" {
				break
			}
			if b, err := c.LiveBackupStatus(ctx, st.FinalBackupID); err == nil && !b.Status.Terminal() {
				p := fromBackup(b)
				inner = &p
			}
		case api.UpdatePowerOn:
			if restoreWF == "" && st.FinalBackupID != "" {
				restoreWF = runningPowerOn(ctx, c, clusterID, st.FinalBackupID)
			}
			if restoreWF == "" {
				break
			}
			if r, err := c.RestoreStatus(ctx, restoreWF); err == nil && r.Status != api.RestoreCompleted && r.Status != api.RestoreFailed {
				createdVolumes(ctx, c, &r)
				p := fromRestore(r)
				inner = &p
			}
		}
		if inner != nil {
			inner.Step = out.Step + " (" + inner.Step + ")"
			out = *inner
		}
		return out, nil
	}
}

// runningPowerOn is the workflow ID of the cluster's power-on restoring
// backupID now, or "" if none runs (yet).
func runningPowerOn(ctx context.Context, c *strata.Client, clusterID, backupID string) string {
	rs, err := c.ListRestores(ctx, backupID)
	if err != nil {
		return ""
	}
	prefix := strings.TrimSuffix(api.PowerOnWorkflowID(clusterID, 0), "0") // any power-on's of the cluster
	for _, r := range rs {
		if strings.HasPrefix(r.WorkflowID, prefix) && (r.Status == api.RestorePending || r.Status == api.RestoreRunning) {
			return r.WorkflowID
		}
	}
	return ""
}
