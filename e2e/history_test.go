package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// recordHistory saves a finished workflow's history for the replay test in
// workflows/ when STRATA_RECORD_HISTORIES=1 (run it after changing a
// workflow on purpose, and commit the files):
//
//	STRATA_RECORD_HISTORIES=1 go test ./e2e/
func recordHistory(t *testing.T, workflowID, name string) {
	t.Helper()
	recordRunHistory(t, workflowID, "", name)
}

// recordRunHistory records one run of a workflow (its latest with runID "").
func recordRunHistory(t *testing.T, workflowID, runID, name string) {
	t.Helper()
	if os.Getenv("STRATA_RECORD_HISTORIES") != "1" {
		return
	}
	ctx := context.Background()
	iter := server.Client.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "workflows", "testdata", "histories", name+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Child workflow IDs derive from the parent's ID: the replay needs it.
	if err := os.WriteFile(strings.TrimSuffix(path, ".json")+".workflow-id", []byte(workflowID+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
