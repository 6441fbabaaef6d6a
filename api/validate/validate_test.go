package validate_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api/labels"
	"github.com/stratabackup/strata/api/validate"
)

func TestIDs(t *testing.T) {
	for _, ok := range []string{"a", "demo-3node", "bk-0k5m3q8r1c2d", strings.Repeat("a", validate.MaxIDLen)} {
		assert.Empty(t, validate.ID("clusterId", ok), ok)
	}
	for _, bad := range []string{"", "-a", "a-", "A", "a_b", "../../etc", "a\x00b", "a\nb", "é", strings.Repeat("a", validate.MaxIDLen+1), strings.Repeat("x", 2100)} {
		msg := validate.ID("clusterId", bad)
		assert.NotEmpty(t, msg, "%q", bad)
		assert.Contains(t, msg, "clusterId")
		assert.Less(t, len(msg), 200, "a message repeats at most a few dozen characters of the value")
	}
	assert.NotEmpty(t, validate.NewID("id", strings.Repeat("a", validate.MaxNewIDLen+1)))
	assert.Empty(t, validate.NewID("id", strings.Repeat("a", validate.MaxNewIDLen)))
	assert.Empty(t, validate.OptionalID("jobId", ""))
}

func TestRequestIDs(t *testing.T) {
	for _, ok := range []string{"", "nightly-2026-11-23", "8c1f1b2e-7d3a-4b6c-9f00-0a1b2c3d4e5f", "Deploy:42@prod+x=y_z.1"} {
		assert.Empty(t, validate.RequestID("requestId", ok), ok)
	}
	for _, bad := range []string{"a\nb", "a b", "a/b", "ü", strings.Repeat("a", validate.MaxRequestIDLen+1)} {
		assert.NotEmpty(t, validate.RequestID("requestId", bad), "%q", bad)
	}
}

func TestText(t *testing.T) {
	assert.Empty(t, validate.Text("description", "orders — Ünïcode ✓ 日本", 200))
	for name, bad := range map[string]string{
		"newline":        "a\nb",
		"escape":         "\x1b[31mred",
		"bidi override":  "invoice\u202eexe.pdf",
		"bidi isolate":   "a\u2066b",
		"line separator": "a\u2028b",
		"invalid utf-8":  "a\xffb",
		"too long":       strings.Repeat("é", 201),
	} {
		assert.NotEmpty(t, validate.Text("description", bad, 200), name)
	}
	assert.False(t, validate.Printable("a\u202eb"))
	assert.True(t, validate.Printable("plain"))
}

func TestDurations(t *testing.T) {
	assert.Empty(t, validate.Duration("timeout", time.Hour, time.Second, 2*time.Hour))
	assert.Contains(t, validate.Duration("timeout", -time.Second, time.Second, time.Hour), "negative")
	assert.Contains(t, validate.Duration("timeout", time.Millisecond, time.Second, time.Hour), "too short")
	assert.Contains(t, validate.Duration("timeout", 3*time.Hour, time.Second, 2*time.Hour), "exceeds the maximum 2h0m0s")
	assert.Empty(t, validate.Grace(0), "zero grace is a grace of zero")
	assert.NotEmpty(t, validate.Grace(-time.Second))
	assert.NotEmpty(t, validate.Grace(validate.MaxReconcileGrace+time.Second))
}

func TestQuoteAndTruncate(t *testing.T) {
	assert.Equal(t, `"short"`, validate.Quote("short"))
	long := validate.Quote(strings.Repeat("x", 1<<20))
	assert.Less(t, len(long), 80)
	assert.Contains(t, long, "1048576 bytes")
	assert.Equal(t, "ab…", validate.Truncate("abcdefgh", 5))
	assert.Equal(t, "é…", validate.Truncate("ééé", 5), "never cuts a character")
}

// A megabyte of bad input is rejected in a few hundred bytes, whichever
// field it is in.
func TestRejectionsStayShort(t *testing.T) {
	mb := strings.Repeat("x", 1<<20)
	errs := []error{
		validate.Backup{ClusterID: "c1", Label: mb}.Check(validate.Limits{}),
		validate.Backup{ClusterID: mb, JobID: mb, RequestID: mb, Label: "{" + mb}.Check(validate.Limits{}),
		validate.Restore{BackupID: mb, Description: mb, NetworkID: mb, Region: mb}.Check(),
		validate.Register{ID: mb, Description: mb, Nodes: []validate.RegisterNode{{ID: mb, Volumes: []string{mb}}}}.Check(),
		validate.Lock{ClusterID: "c", Holder: mb, TTL: time.Hour}.Check(validate.Limits{}),
		validate.DecodeJSON([]byte(`{"clusterId":"`+mb), &struct{ ClusterID string }{}),
		validate.DecodeJSON([]byte(`{"`+mb+`":1}`), &struct{ ClusterID string }{}),
	}
	for i, err := range errs {
		require.Error(t, err, i)
		assert.LessOrEqual(t, len(err.Error()), validate.MaxMessageLen, "rejection %d: %.120s", i, err.Error())
	}
}

func TestBackupCheck(t *testing.T) {
	ok := validate.Backup{ClusterID: "demo-3node", Label: "{cluster}-{index}", Timeout: time.Hour, RequestID: "nightly-1"}
	require.NoError(t, ok.Check(validate.Limits{}))

	err := validate.Backup{Label: "{nope}", Timeout: 8 * 24 * time.Hour, JobID: strings.Repeat("j", 2100), RequestID: "a\nb"}.Check(validate.Limits{})
	var ve *validate.Error
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "backup request", ve.What)
	msg := err.Error()
	for _, want := range []string{"invalid backup request", "clusterId is required", `unknown variable "nope"`, "exceeds the maximum 168h0m0s", "jobId", "requestId"} {
		assert.Contains(t, msg, want)
	}
	assert.ErrorContains(t, validate.Backup{ClusterID: "c", Timeout: 3 * time.Hour}.Check(validate.Limits{MaxBackupTimeout: 2 * time.Hour}), "exceeds the maximum 2h0m0s")
}

// {cluster:description} repeated must not render a label past the bound.
func TestRenderedLabelBound(t *testing.T) {
	tmpl := labels.MustParse(strings.Repeat("{cluster}", 20))
	msg := validate.RenderedLabel(tmpl, labels.Vars{ClusterID: "c1", ClusterDescription: strings.Repeat("d", 200)})
	assert.Contains(t, msg, "renders to up to 4000 characters")
	assert.Empty(t, validate.RenderedLabel(labels.MustParse("{cluster}-{index}"), labels.Vars{ClusterID: "c1", ClusterDescription: strings.Repeat("d", 150)}))
	// The longest index is assumed: 181 characters of text plus 19 digits.
	assert.NotEmpty(t, validate.RenderedLabel(labels.MustParse(strings.Repeat("a", 182)+"{index}"), labels.Vars{ClusterID: "c1"}))
	assert.Empty(t, validate.RenderedLabel(labels.MustParse(strings.Repeat("a", 181)+"{index}"), labels.Vars{ClusterID: "c1"}))
}

func TestRestoreCheck(t *testing.T) {
	require.NoError(t, validate.Restore{BackupID: "bk-0123456789ab"}.Check())
	require.NoError(t, validate.Restore{LatestOfCluster: "demo", Nodes: 3, DiskGB: 100, Description: "copy"}.Check())
	for name, r := range map[string]validate.Restore{
		"no selector":    {},
		"two selectors":  {BackupID: "bk-1", LatestOfJob: "job-1"},
		"huge disk":      {BackupID: "bk-1", DiskGB: 9200000000000000000},
		"negative disk":  {BackupID: "bk-1", DiskGB: -1},
		"negative nodes": {BackupID: "bk-1", Nodes: -2},
		"many nodes":     {BackupID: "bk-1", Nodes: 65},
		"bidi":           {BackupID: "bk-1", Description: "a\u202eb"},
		"bad network":    {BackupID: "bk-1", NetworkID: "../x"},
	} {
		err := r.Check()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "invalid restore", name)
	}
}

func TestClusterCheck(t *testing.T) {
	base := validate.Cluster{Provider: "local", Nodes: 3, VolumesPerNode: 2, DiskGB: 10, Region: "local", ProjectID: "default", NetworkID: "default", DataBytes: 2 << 20}
	require.NoError(t, base.Check())
	c := base
	c.DataBytes = 46 << 30
	assert.ErrorContains(t, c.Check(), "give at most 1024 (--data-mb)")
	c = base
	c.DiskGB, c.DataBytes = 1, 1024<<20+1
	assert.ErrorContains(t, c.Check(), "give at most 1024")
	c = base
	c.ID, c.Description = "Bad_ID", "x\ny"
	err := c.Check()
	assert.ErrorContains(t, err, "id")
	assert.ErrorContains(t, err, "description")
}

func TestClusterEngineCheck(t *testing.T) {
	base := validate.Cluster{Provider: "local", Nodes: 3, VolumesPerNode: 1, DiskGB: 10, Region: "local", ProjectID: "default", NetworkID: "default"}
	pg := base
	pg.Engine = "postgres"
	require.NoError(t, pg.Check())
	for _, e := range []string{"", "volume"} {
		c := base
		c.Engine, c.Nodes, c.VolumesPerNode, c.DataBytes = e, 8, 2, 2<<20
		require.NoError(t, c.Check(), "engine %q", e)
	}
	one := pg
	one.Nodes = 1
	require.NoError(t, one.Check(), "a postgres cluster of a primary alone")
	five := pg
	five.Nodes = 5
	require.NoError(t, five.Check())

	for name, tc := range map[string]struct {
		change func(*validate.Cluster)
		want   string
	}{
		"unknown engine":    {func(c *validate.Cluster) { c.Engine = "mysql" }, `engine "mysql": give "volume" (data only, the default) or "postgres"`},
		"engine wrong case": {func(c *validate.Cluster) { c.Engine = "Postgres" }, `engine "Postgres"`},
		"postgres on aws":   {func(c *validate.Cluster) { c.Provider = "aws" }, `provider "aws": engine postgres runs on the local provider only`},
		"two volumes":       {func(c *validate.Cluster) { c.VolumesPerNode = 2 }, "volumes per node 2: engine postgres takes 1"},
		"no volumes":        {func(c *validate.Cluster) { c.VolumesPerNode = 0 }, "volumes per node 0: give 1 to 16"},
		"generated data":    {func(c *validate.Cluster) { c.DataBytes = 2 << 20 }, "dataBytes: postgres clusters hold a real database; leave dataBytes out"},
		"negative data":     {func(c *validate.Cluster) { c.DataBytes = -1 }, "leave dataBytes out"},
		"six nodes":         {func(c *validate.Cluster) { c.Nodes = 6 }, "nodes 6: engine postgres takes 1 to 5"},
		"no nodes":          {func(c *validate.Cluster) { c.Nodes = 0 }, "nodes 0: engine postgres takes 1 to 5"},
	} {
		c := pg
		tc.change(&c)
		err := c.Check()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "invalid cluster", name)
		assert.Contains(t, err.Error(), tc.want, name)
	}

	// Every problem is listed, once.
	bad := pg
	bad.Provider, bad.VolumesPerNode, bad.DataBytes, bad.Nodes = "gcp", 3, 1, 9
	msg := bad.Check().Error()
	for _, want := range []string{"local provider only", "volumes per node 3", "leave dataBytes out", "nodes 9"} {
		assert.Equal(t, 1, strings.Count(msg, want), "%q in %s", want, msg)
	}
	assert.NotContains(t, msg, "give at most", "a postgres cluster's data is not checked as generated data")
	// A megabyte engine name is quoted short.
	huge := base
	huge.Engine = strings.Repeat("x", 1<<20)
	assert.LessOrEqual(t, len(huge.Check().Error()), validate.MaxMessageLen)
}

func TestRegisterCheck(t *testing.T) {
	ok := validate.Register{ID: "orders", Provider: "aws", Region: "us-east-1", ProjectID: "default", NetworkID: "prod",
		Nodes: []validate.RegisterNode{{ID: "orders-1", Volumes: []string{"vol-0abc", "vol-0def"}}, {ID: "orders-2", Volumes: []string{"zones/us-central1-a/disks/d"}}}}
	require.NoError(t, ok.Check())
	bad := ok
	bad.ID = "../../etc"
	bad.Nodes = []validate.RegisterNode{{ID: "n\x00\n1", Volumes: []string{"vol-0abc"}}, {ID: "n2", Volumes: []string{"vol-0abc", "../x"}}, {ID: "n2", Volumes: nil}}
	msg := bad.Check().Error()
	for _, want := range []string{`id "../../etc"`, "node 1 name", `volume "vol-0abc" is given twice`, `no ".."`, "node n2 is given twice", `node "n2" has 0 volumes`} {
		assert.Contains(t, msg, want)
	}
	assert.ErrorContains(t, validate.Register{ID: "x", Provider: "aws", Region: "r", ProjectID: "p", NetworkID: "n"}.Check(), "0 nodes")
}

func TestLockCheck(t *testing.T) {
	require.NoError(t, validate.Lock{ClusterID: "c", Holder: "resize to 8 vCPU", TTL: time.Hour}.Check(validate.Limits{}))
	assert.ErrorContains(t, validate.Lock{ClusterID: "c", Holder: "backup bk-0123", TTL: time.Hour}.Check(validate.Limits{}), "reserved")
	assert.ErrorContains(t, validate.Lock{ClusterID: "c", Holder: "Restore rs-1", TTL: time.Hour}.Check(validate.Limits{}), "reserved")
	assert.ErrorContains(t, validate.Lock{ClusterID: "c", Holder: "x", TTL: 48 * time.Hour}.Check(validate.Limits{}), "exceeds the maximum 24h0m0s")
	assert.ErrorContains(t, validate.Lock{ClusterID: "c", Holder: " ", TTL: time.Hour}.Check(validate.Limits{}), "holder name")
	assert.True(t, validate.IsOperationHolder(validate.OperationHolder("backup", "bk-1")))
	assert.False(t, validate.IsOperationHolder("backups of the night"))
}

func TestDecodeJSON(t *testing.T) {
	type req struct {
		ClusterID string `json:"clusterId"`
		Nodes     int    `json:"nodes,omitempty"`
	}
	var r req
	require.NoError(t, validate.DecodeJSON([]byte(` {"clusterId":"c1","nodes":3} `), &r))
	assert.Equal(t, req{ClusterID: "c1", Nodes: 3}, r)
	require.NoError(t, validate.DecodeJSON([]byte(`null`), &r))
	require.NoError(t, validate.DecodeJSON(nil, &r))

	for input, want := range map[string]string{
		`{"cluster":"c1"}`:      `unknown field "cluster": the fields are clusterId, nodes`,
		`{"clusterId":5}`:       `field "clusterId" is a JSON number: give a string`,
		`{"nodes":9.2e18}`:      `field "nodes" is a JSON number 9.2e18: give a whole number`,
		`{"clusterId":"c1"} {}`: "data after its JSON object",
		`{"clusterId":`:         "truncated JSON",
		`{"clusterId" "c1"}`:    "not valid JSON",
		`["c1"]`:                "input is a JSON array: give a JSON object with fields clusterId, nodes",
		`"c1"`:                  "input is a JSON string",
	} {
		err := validate.DecodeJSON([]byte(input), &req{})
		require.Error(t, err, input)
		assert.Contains(t, err.Error(), want, input)
	}
	var se *json.SyntaxError
	assert.False(t, errors.As(validate.DecodeJSON([]byte(`{`), &req{}), &se), "the error is Strata's own message")
}
