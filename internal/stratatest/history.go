package stratatest

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

// EnvRecordHistories set to 1 makes RecordHistory write histories.
const EnvRecordHistories = "STRATA_RECORD_HISTORIES"

// RecordHistory saves one run of a finished workflow (its latest with
// runID "") for the replay test in workflows/ when
// STRATA_RECORD_HISTORIES=1 (run the test after changing a workflow on
// purpose, and commit the files):
//
//	STRATA_RECORD_HISTORIES=1 go test ./e2e/...
func (s *Server) RecordHistory(t *testing.T, workflowID, runID, name string) {
	t.Helper()
	if os.Getenv(EnvRecordHistories) != "1" {
		return
	}
	ctx := context.Background()
	iter := s.Client.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
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
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "workflows", "testdata", "histories", name+".json")
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

// moduleRoot is the directory of the go.mod above the test's directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
