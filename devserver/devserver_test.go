package devserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

const (
	testTaskQueue  = "devserver-test"
	testWorkflowID = "devserver-test-wf"
)

var clusterIDKey = temporal.NewSearchAttributeKeyKeyword("StrataClusterId")

func greet(ctx workflow.Context, name string) (string, error) {
	return "hello " + name, nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func dial(t *testing.T, s *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.FrontendHostPort(), Namespace: s.Namespace(), Logger: quietLogger()})
	if err != nil {
		t.Fatalf("dial %s: %v", s.FrontendHostPort(), err)
	}
	return c
}

func assertSearchAttributes(t *testing.T, ctx context.Context, c client.Client, ns string, want map[string]enumspb.IndexedValueType) {
	t.Helper()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatalf("ListSearchAttributes: %v", err)
	}
	for name, typ := range want {
		if got, ok := resp.GetCustomAttributes()[name]; !ok || got != typ {
			t.Errorf("search attribute %s: got %v (present %v), want %v", name, got, ok, typ)
		}
	}
}

func assertRetention(t *testing.T, ctx context.Context, c client.Client, ns string, days int) {
	t.Helper()
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	if err != nil {
		t.Fatalf("DescribeNamespace: %v", err)
	}
	if got, want := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(), time.Duration(days)*24*time.Hour; got != want {
		t.Errorf("retention: got %v, want %v", got, want)
	}
}

// TestDevServerRestart starts the server on a fresh data dir, runs a
// workflow, checks the UI, stops, restarts on the same data dir with one more
// search attribute and a different retention, and checks history survived.
func TestDevServerRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	const ns = "strata-dev"
	attrs := map[string]enumspb.IndexedValueType{
		"StrataClusterId": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"StrataAttempt":   enumspb.INDEXED_VALUE_TYPE_INT,
	}

	// First run: brand-new database file.
	start := time.Now()
	s, err := Start(ctx, Options{
		DataDir:          dir,
		Namespace:        ns,
		FrontendPort:     freePort(t),
		UIPort:           freePort(t),
		SearchAttributes: attrs,
		RetentionDays:    3,
		LogLevel:         "info",
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("first start took %v; frontend %s, UI %s", time.Since(start), s.FrontendHostPort(), s.UIURL())
	t.Cleanup(func() { _ = s.Stop() })
	if s.Namespace() != ns {
		t.Errorf("Namespace() = %q", s.Namespace())
	}
	if !strings.HasPrefix(s.UIURL(), "http://127.0.0.1:") {
		t.Errorf("UIURL() = %q", s.UIURL())
	}

	c := dial(t, s)
	assertSearchAttributes(t, ctx, c, ns, attrs)
	assertRetention(t, ctx, c, ns, 3)

	w := worker.New(c, testTaskQueue, worker.Options{})
	w.RegisterWorkflow(greet)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    testWorkflowID,
		TaskQueue:             testTaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(clusterIDKey.ValueSet("cluster-1")),
	}, greet, "strata")
	if err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "hello strata" {
		t.Fatalf("workflow result %q, err %v", out, err)
	}
	firstRunID := run.GetRunID()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.UIURL(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", s.UIURL(), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: status %d", s.UIURL(), resp.StatusCode)
	}
	if !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Errorf("GET %s: body does not look like the UI: %.200q", s.UIURL(), body)
	}
	// DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends
	// its own name as Host; neither the UI nor its API answers it.
	for _, path := range []string{"/", "/api/v1/namespaces/" + s.Namespace() + "/workflows", "/api/v1/settings"} {
		for host, want := range map[string]int{"evil.example:8233": http.StatusMisdirectedRequest, "attacker.test": http.StatusMisdirectedRequest, "localhost": 0, "127.0.0.1": 0} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.UIURL()+path, nil)
			req.Host = host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("GET %s (Host %s): %v", path, host, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if want != 0 && resp.StatusCode != want {
				t.Errorf("GET %s with Host %s: status %d, want %d", path, host, resp.StatusCode, want)
			}
			if want == 0 && resp.StatusCode == http.StatusMisdirectedRequest {
				t.Errorf("GET %s with Host %s was refused", path, host)
			}
		}
	}
	for _, f := range []string{DBFileName, LogFileName} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600: it holds every workflow's history", f, fi.Mode())
		}
	}

	w.Stop()
	c.Close()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, DBFileName)); err != nil || fi.Size() == 0 {
		t.Fatalf("database file: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, LogFileName)); err != nil || fi.Size() == 0 {
		t.Fatalf("server log file missing or empty at level info: %v", err)
	}

	// Second run: same data dir, new ports, one more attribute, new retention.
	attrs["StrataExtra"] = enumspb.INDEXED_VALUE_TYPE_TEXT
	start = time.Now()
	s2, err := Start(ctx, Options{
		DataDir:          dir,
		Namespace:        ns,
		FrontendPort:     freePort(t),
		UIPort:           -1,
		SearchAttributes: attrs,
		RetentionDays:    5,
	})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Logf("restart took %v", time.Since(start))
	t.Cleanup(func() { _ = s2.Stop() })
	if s2.UIURL() != "" {
		t.Errorf("UIURL() with UI disabled = %q", s2.UIURL())
	}

	c2 := dial(t, s2)
	defer c2.Close()
	assertSearchAttributes(t, ctx, c2, ns, attrs)
	assertRetention(t, ctx, c2, ns, 5)

	d, err := c2.DescribeWorkflowExecution(ctx, testWorkflowID, "")
	if err != nil {
		t.Fatalf("DescribeWorkflowExecution after restart: %v", err)
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED || info.GetExecution().GetRunId() != firstRunID {
		t.Errorf("after restart: status %v run %s, want COMPLETED run %s", info.GetStatus(), info.GetExecution().GetRunId(), firstRunID)
	}
	var result string
	if err := c2.GetWorkflow(ctx, testWorkflowID, firstRunID).Get(ctx, &result); err != nil || result != "hello strata" {
		t.Errorf("result after restart %q, err %v", result, err)
	}

	if err := s2.Stop(); err != nil {
		t.Fatalf("Stop after restart: %v", err)
	}
}

// TestStartPortInUse checks that a taken frontend port gives a clear error
// before anything is started.
func TestStartPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	s, err := Start(context.Background(), Options{DataDir: t.TempDir(), FrontendPort: port, UIPort: -1})
	if err == nil {
		_ = s.Stop()
		t.Fatal("Start succeeded on a port in use")
	}
	if !strings.Contains(err.Error(), strconv.Itoa(port)) || !strings.Contains(err.Error(), "--temporal-port") {
		t.Errorf("error should name port %d and --temporal-port: %v", port, err)
	}
}
