package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog/catalogtest"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/secrets"
	"github.com/stratabackup/strata/starter/cli"
)

// The production shape, as a new operator runs it: the worker command
// without --dev, against a separate Temporal server and a fresh Postgres
// catalog, driven by the starter CLI. Nothing is set up by hand: the
// catalog's default project and network come from its migrations.
func TestProductionShapeCreateBackupRestore(t *testing.T) {
	dsn := catalogtest.PostgresDSN(t) // sslmode=disable: a local test server
	dataDir := filepath.Join(t.TempDir(), "strata")
	args := []string{
		"--temporal-address", server.HostPort(), "--namespace", server.Namespace(),
		"--catalog", dsn, "--data-dir", dataDir, "--poll-interval", "50ms", "--log-level", "warn",
		"--reconcile-every", "0", "--monitor-every", "0", "--max-lock-ttl", "30m",
	}

	// Without TLS to Postgres the worker refuses to start, and says how.
	refused, err := stratatest.StartWorkerCommand(args)
	require.NoError(t, err)
	require.Equal(t, 1, refused.Wait(time.Minute), refused.Stderr())
	assert.Contains(t, refused.Stderr(), "may be reached without TLS")
	assert.Contains(t, refused.Stderr(), "--allow-insecure-catalog")

	w, err := stratatest.StartWorkerCommand(append(args, "--allow-insecure-catalog"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Stop(30 * time.Second) })
	ctx := ctxT(t)
	stratatest.Eventually(t, time.Minute, "the worker command to poll task queue "+api.TaskQueue, func() bool {
		resp, err := server.Client.DescribeTaskQueue(ctx, api.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		return err == nil && len(resp.GetPollers()) > 0
	})

	prod := func(v any, cmd ...string) {
		t.Helper()
		full := append([]string{"--json", "--temporal-address", server.HostPort(), "--namespace", server.Namespace()}, cmd...)
		var out, errOut bytes.Buffer
		code := cli.Run(ctx, full, &out, &errOut)
		require.Equal(t, 0, code, "starter %v: %s\nworker log:\n%s", cmd, errOut.String(), w.Stderr())
		require.NoError(t, json.Unmarshal(out.Bytes(), v), out.String())
	}
	var cl map[string]any
	prod(&cl, "cluster", "create", "--id", "orders", "--nodes", "2", "--disk-gb", "5")
	assert.Equal(t, "default", cl["projectId"])
	assert.Equal(t, "default", cl["networkId"])
	var b map[string]any
	prod(&b, "backup", "create", "--cluster", "orders", "--wait")
	assert.Equal(t, "Completed", b["status"])
	var r map[string]any
	prod(&r, "restore", "--backup", b["id"].(string), "--nodes", "1", "--wait")
	assert.Equal(t, "Completed", r["restore"].(map[string]any)["status"])
	assert.Equal(t, "Running", r["cluster"].(map[string]any)["status"])

	// The CLI checks against the worker's bounds, which it published.
	full := []string{"--temporal-address", server.HostPort(), "--namespace", server.Namespace(),
		"cluster", "lock", "orders", "--holder", "resize", "--ttl", "1h"}
	var out, errOut bytes.Buffer
	require.Equal(t, 1, cli.Run(ctx, full, &out, &errOut))
	assert.Contains(t, errOut.String(), "exceeds the maximum 30m0s")

	// The worker keeps its state private: the data dir and the key that
	// channel secrets are sealed to.
	for path, mode := range map[string]os.FileMode{dataDir: 0o700, filepath.Join(dataDir, secrets.FileName): 0o600} {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, mode, fi.Mode().Perm(), path)
	}
	require.NoError(t, w.Stop(30*time.Second))
}
