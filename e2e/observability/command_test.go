package observability

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/metrics"
	"github.com/stratabackup/strata/starter/cli"
)

var metricsURL = regexp.MustCompile(`serving metrics\s+\{"url": "(http://127\.0\.0\.1:\d+/metrics)"\}`)

// The worker command, as an operator runs it with --metrics-listen: it
// says where /metrics is, and a backup made through the CLI shows there
// with the SDK's worker metrics.
func TestWorkerCommandServesMetrics(t *testing.T) {
	dir := t.TempDir()
	w, err := stratatest.StartWorkerCommand([]string{
		"--temporal-address", server.HostPort(), "--namespace", server.Namespace(),
		"--catalog", filepath.Join(dir, "catalog.db"), "--data-dir", filepath.Join(dir, "strata"),
		"--poll-interval", "50ms", "--reconcile-every", "0", "--monitor-every", "0",
		"--metrics-listen", "127.0.0.1:0",
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Stop(30 * time.Second) })
	var url string
	stratatest.Eventually(t, time.Minute, "the worker to say where its metrics are", func() bool {
		m := metricsURL.FindStringSubmatch(w.Stderr())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})

	ctx := ctxT(t)
	run := func(args ...string) map[string]any {
		t.Helper()
		full := append([]string{"--json", "--temporal-address", server.HostPort(), "--namespace", server.Namespace()}, args...)
		var out, errOut bytes.Buffer
		require.Equal(t, 0, cli.Run(ctx, full, &out, &errOut), "starter %v: %s\nworker log:\n%s", args, errOut.String(), w.Stderr())
		var v map[string]any
		require.NoError(t, json.Unmarshal(out.Bytes(), &v), out.String())
		return v
	}
	run("cluster", "create", "--id", "metered", "--nodes", "1", "--disk-gb", "1")
	b := run("backup", "create", "--cluster", "metered", "--wait")
	require.Equal(t, "Completed", b["status"])

	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	var completed float64
	for _, m := range fams[metrics.BackupsFinished.Name].GetMetric() {
		if matches(m, map[string]string{"status": "Completed", "provider": "local"}) {
			completed += m.GetCounter().GetValue()
		}
	}
	assert.EqualValues(t, 1, completed)
	slots := fams["temporal_worker_task_slots_available"]
	require.NotNil(t, slots, "the SDK's worker metrics are served")
	assert.Equal(t, dto.MetricType_GAUGE, slots.GetType())
}
