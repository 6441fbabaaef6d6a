package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/starter/cli"
)

// starter runs the real CLI in-process against e.
func starter(t *testing.T, e *stratatest.Env, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	full := append([]string{
		"--task-queue", e.TaskQueue,
		"--temporal-address", server.TS.GetFrontendHostPort(), "--namespace", server.TS.GetDefaultNamespace(),
	}, args...)
	var out, errOut bytes.Buffer
	code = cli.Run(context.Background(), full, &out, &errOut)
	return code, out.String(), errOut.String()
}

func starterJSON(t *testing.T, e *stratatest.Env, v any, args ...string) {
	t.Helper()
	code, out, errOut := starter(t, e, append(args, "--json")...)
	require.Equal(t, 0, code, "starter %v: %s", args, errOut)
	require.NoError(t, json.Unmarshal([]byte(out), v), out)
}

func TestCLI(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())

	var cl map[string]any
	starterJSON(t, e, &cl, "cluster", "create", "--id", "cli-db", "--nodes", "2", "--disk-gb", "5", "--description", "cli test")
	assert.Equal(t, "cli-db", cl["id"])
	assert.Equal(t, "local", cl["provider"])
	assert.Nil(t, cl["lock"])
	nodes := cl["nodes"].([]any)
	require.Len(t, nodes, 2)
	vol := nodes[0].(map[string]any)["volumes"].([]any)[0].(map[string]any)
	assert.EqualValues(t, 5, vol["sizeGb"])
	assert.NotEmpty(t, vol["path"])

	// An outside lock makes a waited backup exit 1 with the reason on one line.
	var lock map[string]any
	starterJSON(t, e, &lock, "cluster", "lock", "cli-db", "--holder", "upgrade", "--ttl", "10m")
	token := lock["token"].(float64)
	code, _, errOut := starter(t, e, "backup", "create", "--cluster", "cli-db", "--wait")
	assert.Equal(t, 1, code)
	assert.Regexp(t, `^starter: backup bk-[0-9a-v]{12} failed: ClusterLocked: cluster cli-db is locked by "upgrade"`, errOut)
	assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
	code, _, errOut = starter(t, e, "cluster", "unlock", "cli-db", "--token", "999")
	assert.Equal(t, 1, code, "a token that is not current releases nothing")
	assert.Contains(t, errOut, "not the current lock")
	code, _, errOut = starter(t, e, "cluster", "unlock", "cli-db", "--token", jsonNumber(token))
	require.Equal(t, 0, code, errOut)

	var b map[string]any
	starterJSON(t, e, &b, "backup", "create", "--cluster", "cli-db", "--label", "{cluster}#{index}", "--wait")
	assert.Equal(t, "Completed", b["status"])
	assert.Equal(t, "cli test#2", b["label"], "the index counts the Defunct backup too")
	for _, k := range []string{"id", "clusterId", "jobId", "label", "index", "status", "reason", "snapshots", "createdAt", "completedAt", "workflowId"} {
		assert.Contains(t, b, k)
	}
	snaps := b["snapshots"].([]any)
	require.Len(t, snaps, 2)
	for _, k := range []string{"nodeId", "volumeId", "snapshotId", "status"} {
		assert.Contains(t, snaps[0], k)
	}

	var groups []struct {
		JobID   string           `json:"jobId"`
		Backups []map[string]any `json:"backups"`
	}
	starterJSON(t, e, &groups, "backup", "list", "--cluster", "cli-db")
	require.Len(t, groups, 1, "manual backups form one group")
	assert.Equal(t, "", groups[0].JobID)
	list := groups[0].Backups
	require.Len(t, list, 2)
	assert.Equal(t, b["id"], list[0]["id"], "newest first")
	assert.Equal(t, "Defunct", list[1]["status"])

	code, out, errOut := starter(t, e, "backup", "show", b["id"].(string))
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Status:    Completed")

	code, _, errOut = starter(t, e, "backup", "create", "--cluster", "cli-db", "--label", "x-{nope}")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `unknown variable "nope"`)
	assert.Equal(t, 1, strings.Count(errOut, "\n"))

	code, out, errOut = starter(t, e, "cluster", "health", "cli-db", "--node", "cli-db-n2", "--unhealthy")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "false")
	code, _, errOut = starter(t, e, "backup", "create", "--cluster", "cli-db", "--wait")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "ClusterUnhealthy: cluster cli-db has unhealthy nodes: cli-db-n2")

	var faults map[string]any
	starterJSON(t, e, &faults, "cluster", "fault", "cli-db", "--snapshot-delay", "2s", "--snapshot-fail")
	assert.Equal(t, "2s", faults["snapshotDelay"])
	code, _, errOut = starter(t, e, "cluster", "fault", "cli-db", "--clear", "--snapshot-fail")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "--clear cannot be combined")
}

func jsonNumber(f float64) string {
	b, _ := json.Marshal(int64(f))
	return string(b)
}

func TestCLISchedules(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	code, _, errOut := starter(t, e, "cluster", "create", "--id", "sched-db", "--nodes", "1")
	require.Equal(t, 0, code, errOut)

	code, _, errOut = starter(t, e, "schedule", "create", "--cluster", "sched-db", "--every", "30m", "--keep", "2")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "at most hourly")
	code, _, errOut = starter(t, e, "schedule", "create", "--cluster", "sched-db", "--every", "1h")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "give a retention policy")
	code, _, errOut = starter(t, e, "schedule", "create", "--cluster", "sched-db", "--every", "1h", "--keep", "2", "--keep-daily", "3")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "not both")

	var job map[string]any
	starterJSON(t, e, &job, "schedule", "create", "--cluster", "sched-db", "--every", "24h", "--offset", "2h", "--keep", "1", "--label", "nightly-{index}")
	id := job["id"].(string)
	t.Cleanup(func() { starter(t, e, "schedule", "delete", id) })
	assert.Equal(t, "strata-"+id, job["scheduleId"])
	assert.Equal(t, "keep last 1", job["retentionDescription"])
	sched := job["schedule"].(map[string]any)
	require.NotEmpty(t, sched["nextRuns"])

	for range 2 {
		triggerAndWait(t, e, id)
	}
	var plan []map[string]any
	starterJSON(t, e, &plan, "schedule", "prune", id, "--dry-run")
	require.Len(t, plan, 1, "the pruned backup is Deleted and no longer listed")
	assert.Equal(t, false, plan[0]["delete"])

	var groups []struct {
		JobID   string           `json:"jobId"`
		Backups []map[string]any `json:"backups"`
	}
	starterJSON(t, e, &groups, "backup", "list", "--cluster", "sched-db")
	require.Len(t, groups, 1)
	assert.Equal(t, id, groups[0].JobID)
	require.Len(t, groups[0].Backups, 1)
	assert.Equal(t, "nightly-2", groups[0].Backups[0]["label"])
	starterJSON(t, e, &groups, "backup", "list", "--cluster", "sched-db", "--all")
	require.Len(t, groups[0].Backups, 2, "--all shows the Deleted one too")
	assert.Equal(t, "Deleted", groups[0].Backups[1]["status"])

	var jobs []map[string]any
	starterJSON(t, e, &jobs, "schedule", "list", "--cluster", "sched-db")
	require.Len(t, jobs, 1)
	assert.Equal(t, id, jobs[0]["id"])
	var clusters, nets, rs []map[string]any
	starterJSON(t, e, &clusters, "cluster", "list")
	assert.Len(t, clusters, 1)
	starterJSON(t, e, &nets, "network", "list", "--project", "default")
	assert.Equal(t, "default", nets[0]["id"])
	starterJSON(t, e, &rs, "restore", "list")
	assert.NotNil(t, rs, "an empty list is [] in JSON")
	code, out, errOut := starter(t, e, "schedule", "list")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "keep last 1")

	code, out, errOut = starter(t, e, "schedule", "show", id)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Runs:       2 taken, 0 missed")

	var deleted map[string]any
	starterJSON(t, e, &deleted, "backup", "delete", groups[0].Backups[0]["id"].(string), "--wait")
	assert.Equal(t, "Deleted", deleted["status"])
}

// The CLI refuses what the workflows refuse, with one line that says what
// to fix, and never prints a channel's secrets.
func TestCLITrustBoundary(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "create", "--nodes", "1", "--data-mb", "50000"}, "give at most 1024 (--data-mb)"},
		{[]string{"cluster", "create", "--nodes", "1", "--region", "mars"}, `not local/mars`},
		{[]string{"cluster", "create", "--nodes", "1", "--description", "a\u202eb"}, "bidi overrides are not allowed"},
		{[]string{"backup", "create", "--cluster", "demo", "--request-id", "two words"}, "requestId"},
		{[]string{"notify", "add", "--email", "ops@example.com", "--smtp", "smtp.example.com:587", "--smtp-user", "u", "--smtp-password-env", "AWS_SECRET_ACCESS_KEY"}, "only STRATA_SMTP_PASSWORD"},
		{[]string{"notify", "add", "--webhook", "https://u:p@hooks.example/x"}, "user:password@"},
	} {
		code, _, errOut := starter(t, e, tc.args...)
		assert.Equal(t, 1, code, "%v", tc.args)
		assert.Contains(t, errOut, tc.want, "%v", tc.args)
		assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
	}
	var cl map[string]any
	starterJSON(t, e, &cl, "cluster", "create", "--id", "trust-db", "--nodes", "1")
	code, _, errOut := starter(t, e, "cluster", "lock", "trust-db", "--holder", "resize", "--ttl", "48h")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "exceeds the maximum 24h0m0s")

	var ch map[string]any
	starterJSON(t, e, &ch, "notify", "add", "--chat", "https://chat.example/hooks/T0/B0/tok3nXYZ")
	code, out, _ := starter(t, e, "notify", "list")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "https://chat.example/...")
	assert.NotContains(t, out, "tok3nXYZ")
	code, out, _ = starter(t, e, "notify", "list", "--json")
	assert.Equal(t, 0, code)
	assert.NotContains(t, out, "tok3nXYZ")

	// --grace 0s means zero, not the default.
	code, out, errOut = starter(t, e, "reconcile", "--grace", "0s", "--dry-run")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "younger than 0s")
	code, out, errOut = starter(t, e, "reconcile", "--dry-run")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "younger than 1h0m0s")
}
