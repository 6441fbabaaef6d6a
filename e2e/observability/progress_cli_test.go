package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/internal/ptytest"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/starter/cli"
	"github.com/stratabackup/strata/starter/strata"
)

func runStarter(ctx context.Context, e *stratatest.Env, stdout, stderr io.Writer, args ...string) int {
	full := append([]string{
		"--task-queue", e.TaskQueue,
		"--temporal-address", server.TS.GetFrontendHostPort(), "--namespace", server.TS.GetDefaultNamespace(),
	}, args...)
	return cli.Run(ctx, full, stdout, stderr)
}

// A waited backup shows a person at a terminal its step, snapshots and
// percent as it runs, and leaves a clean line for the result; a pipe and
// --json get the result alone.
func TestProgressLineOfAWaitedBackup(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := e.Cluster(strata.ClusterSpec{Nodes: 2})
	// Long enough to be watched: the local provider paces each snapshot.
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: api.Duration(2 * time.Second)}))

	term := ptytest.Open(t)
	var out bytes.Buffer
	code := runStarter(ctx, e, &out, term.TTY, "backup", "create", "--cluster", cl.ID, "--wait")
	require.Equal(t, 0, code, "stdout %q", out.String())
	assert.Contains(t, out.String(), "Status:    Completed", "the result is on stdout")
	assert.NotContains(t, out.String(), "\r")
	shown := term.WaitFor(t, "the line cleared", func(s string) bool { return strings.HasSuffix(s, "\r\x1b[K") })
	line := regexp.MustCompile(`\rbackup bk-[0-9a-v]{12}: WaitingForSnapshots, [0-2]/2 snapshots, [0-9]{1,3}%, [0-9]+s\x1b\[K`)
	assert.Regexp(t, line, shown, "no progress line while snapshotting")
	assert.Regexp(t, `^backup bk-[0-9a-v]{12} started \(workflow [^)]+\); waiting\.\.\.\r\n\r`, shown)

	// stderr not a terminal: nothing but the result.
	var out2, errOut bytes.Buffer
	code = runStarter(ctx, e, &out2, &errOut, "backup", "create", "--cluster", cl.ID, "--wait")
	require.Equal(t, 0, code, "stderr %q", errOut.String())
	assert.Contains(t, out2.String(), "Status:    Completed")
	assert.Empty(t, errOut.String(), "a pipe got progress")

	// --json: the terminal shows nothing, stdout is the JSON alone.
	term = ptytest.Open(t)
	var out3 bytes.Buffer
	code = runStarter(ctx, e, &out3, term.TTY, "backup", "create", "--cluster", cl.ID, "--wait", "--json")
	require.Equal(t, 0, code, "stdout %q", out3.String())
	var b api.Backup
	require.NoError(t, json.Unmarshal(out3.Bytes(), &b), out3.String())
	assert.Equal(t, api.BackupCompleted, b.Status)
	_, err := term.TTY.WriteString("end\n")
	require.NoError(t, err)
	assert.Equal(t, "end\r\n", term.WaitFor(t, "the marker", func(s string) bool { return strings.Contains(s, "end\r\n") }),
		"with --json the terminal got more than the marker")
}

// A power-off shows its final backup's snapshots, and a power-on its
// restore's volumes, under the lifecycle's operation and step.
func TestProgressLineOfPowerOffAndOn(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A generated ID: a lifecycle workflow outlives its env, and a fixed
	// ID would join an earlier run's (go test -count).
	cl := e.Cluster(strata.ClusterSpec{Nodes: 2})
	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{SnapshotDelay: api.Duration(2 * time.Second)}))

	term := ptytest.Open(t)
	var out bytes.Buffer
	code := runStarter(ctx, e, &out, term.TTY, "cluster", "power-off", cl.ID)
	require.Equal(t, 0, code, "stdout %q", out.String())
	assert.Contains(t, out.String(), "Power:    PoweredOff")
	shown := term.WaitFor(t, "the line cleared", func(s string) bool { return strings.HasSuffix(s, "\r\x1b[K") })
	assert.Regexp(t, `\rcluster `+regexp.QuoteMeta(cl.ID)+`: powerOff FinalBackup \(WaitingForSnapshots\), [0-2]/2 snapshots, [0-9]{1,3}%, [0-9]+s\x1b\[K`, shown)

	require.NoError(t, e.Strata.SetFaults(ctx, cl.ID, api.Faults{RestoreDelay: api.Duration(2 * time.Second)}))
	term = ptytest.Open(t)
	out.Reset()
	code = runStarter(ctx, e, &out, term.TTY, "cluster", "power-on", cl.ID)
	require.Equal(t, 0, code, "stdout %q", out.String())
	assert.Contains(t, out.String(), "Power:    Running")
	shown = term.WaitFor(t, "the line cleared", func(s string) bool { return strings.HasSuffix(s, "\r\x1b[K") })
	assert.Regexp(t, `\rcluster `+regexp.QuoteMeta(cl.ID)+`: powerOn Restoring \(CreatingVolumes\), 0/2 volumes, [0-9]+s\x1b\[K`, shown)
}
