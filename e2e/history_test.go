package e2e

import "testing"

// recordHistory saves a finished workflow's history for the replay test in
// workflows/ (see stratatest.Server.RecordHistory).
func recordHistory(t *testing.T, workflowID, name string) {
	t.Helper()
	server.RecordHistory(t, workflowID, "", name)
}

// recordRunHistory records one run of a workflow (its latest with runID "").
func recordRunHistory(t *testing.T, workflowID, runID, name string) {
	t.Helper()
	server.RecordHistory(t, workflowID, runID, name)
}
