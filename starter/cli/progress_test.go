package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/internal/ptytest"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestProgressLineOnATerminal(t *testing.T) {
	term := ptytest.Open(t)
	clock := &fakeClock{t: time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)}
	line := newProgressLine(term.TTY, false, "backup bk-1", clock.now)
	if line == nil {
		t.Fatal("a pseudo-terminal got no progress line")
	}
	line.draw(progress{Step: api.StepWaiting, Done: 2, Total: 3, Unit: "snapshots", Percent: 67})
	clock.advance(100 * time.Millisecond)
	line.draw(progress{Step: api.StepWaiting, Done: 2, Total: 3, Unit: "snapshots", Percent: 80}) // too soon: skipped
	clock.advance(1400 * time.Millisecond)
	line.draw(progress{Step: api.StepCompleting, Done: 3, Total: 3, Unit: "snapshots", Percent: 100})
	clock.advance(time.Second)
	line.draw(progress{Step: api.StepCompleting, Done: 3, Total: 3, Unit: "snapshots", Percent: 100})
	line.finish()
	term.TTY.WriteString("result\n")

	got := term.WaitFor(t, "the result", func(s string) bool { return strings.Contains(s, "result") })
	want := "\rbackup bk-1: WaitingForSnapshots, 2/3 snapshots, 67%, 0s\x1b[K" +
		"\rbackup bk-1: Completing, 3/3 snapshots, 100%, 1s\x1b[K" +
		"\rbackup bk-1: Completing, 3/3 snapshots, 100%, 2s\x1b[K" +
		"\r\x1b[K" // cleared: the result starts on a clean line
	if !strings.HasPrefix(got, want+"result") {
		t.Fatalf("the terminal showed\n%q\nwant\n%q", got, want+"result")
	}
}

func TestProgressLineFitsTheTerminal(t *testing.T) {
	term := ptytest.Open(t)
	if err := pty.Setsize(term.PTY, &pty.Winsize{Rows: 24, Cols: 30}); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	line := newProgressLine(term.TTY, false, "restore rs-0123456789", clock.now)
	line.draw(progress{Step: api.StepReplayingWAL, Done: 4, Total: 4, Unit: "volumes", Percent: -1, Detail: "recovery Replaying, WAL replayed to 0/3000060"})
	line.finish()
	got := term.WaitFor(t, "a cleared line", func(s string) bool { return strings.HasSuffix(s, "\r\x1b[K") })
	drawn := strings.TrimSuffix(strings.TrimPrefix(got, "\r"), "\x1b[K\r\x1b[K")
	if drawn != "restore rs-0123456789: Replay" {
		t.Fatalf("a 30-column terminal got %q: a line that wraps cannot be rewritten in place", drawn)
	}
}

func TestProgressLineOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	for name, out := range map[string]interface {
		Write([]byte) (int, error)
	}{"a buffer": &buf, "a pipe": w, os.DevNull: devNull} {
		line := newProgressLine(out, false, "backup bk-1", time.Now)
		line.draw(progress{Step: api.StepWaiting, Done: 1, Total: 2, Unit: "snapshots", Percent: 50})
		line.finish()
		if line != nil {
			t.Errorf("%s got a progress line", name)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("a buffer got %q", buf.String())
	}
	w.Close()
	var piped bytes.Buffer
	if _, err := piped.ReadFrom(r); err != nil || piped.Len() != 0 {
		t.Errorf("a pipe got %q (%v)", piped.String(), err)
	}

	// --json: not even a terminal gets one.
	term := ptytest.Open(t)
	line := newProgressLine(term.TTY, true, "backup bk-1", time.Now)
	line.draw(progress{Step: api.StepWaiting, Done: 1, Total: 2, Unit: "snapshots", Percent: 50})
	line.finish()
	term.TTY.WriteString("{}\n")
	if got := term.WaitFor(t, "the JSON", func(s string) bool { return strings.Contains(s, "{}") }); !strings.HasPrefix(got, "{}") {
		t.Fatalf("with --json the terminal showed %q before the result", got)
	}
}

func TestWatchDrawsUntilStopped(t *testing.T) {
	term := ptytest.Open(t)
	a := &app{errOut: term.TTY}
	var reads atomic.Int32
	stop := a.watch(context.Background(), "backup bk-1", func(ctx context.Context) (progress, error) {
		switch n := reads.Add(1); {
		case n == 1, n%2 == 0:
			return progress{}, errors.New("workflow closed") // ignored
		default:
			return progress{Step: api.StepWaiting, Done: 1, Total: 2, Unit: "snapshots", Percent: 50}, nil
		}
	})
	// Drawn at once, before any reading succeeded, then again once one did.
	term.WaitFor(t, "the first line", func(s string) bool { return strings.Contains(s, "\rbackup bk-1: waiting, 0s\x1b[K") })
	term.WaitFor(t, "a reading", func(s string) bool { return strings.Contains(s, "WaitingForSnapshots, 1/2 snapshots, 50%") })
	stop()
	term.TTY.WriteString("result\n")
	got := term.WaitFor(t, "the result", func(s string) bool { return strings.Contains(s, "result") })
	if !strings.HasSuffix(strings.TrimSuffix(got, "result\r\n"), "\r\x1b[K") {
		t.Errorf("the line was not cleared before the result: %q", got)
	}
	if strings.Contains(got, "closed") {
		t.Errorf("a failed read was shown: %q", got)
	}
}

func TestProgressOfOperations(t *testing.T) {
	l := &progressLine{what: "x"}
	for _, c := range []struct {
		p    progress
		want string
	}{
		{fromBackup(api.BackupProgress{Step: api.StepLocking}), "x: Locking, 0s"},
		{fromBackup(api.BackupProgress{Step: api.StepWaiting, Completed: 1, Total: 3, Snapshots: []api.Snapshot{
			{Status: api.SnapshotCompleted, Progress: 100}, {Status: api.SnapshotPending, Progress: 50}, {Status: api.SnapshotPending},
		}}), "x: WaitingForSnapshots, 1/3 snapshots, 50%, 0s"},
		{fromRestore(api.RestoreProgress{Step: api.StepCreatingVolumes, VolumesTotal: 4}), "x: CreatingVolumes, 0/4 volumes, 0s"},
		{fromRestore(api.RestoreProgress{Step: api.StepReplayingWAL, VolumesCreated: 4, VolumesTotal: 4,
			Recovery: &api.RecoveryProgress{Phase: api.RecoveryReplaying, ReplayLSN: "0/3000060"}}),
			"x: ReplayingWAL, 4/4 volumes, recovery Replaying, WAL replayed to 0/3000060, 0s"},
	} {
		if got := l.text(c.p, 0); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
