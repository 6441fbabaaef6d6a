package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/codec"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/starter/strata"
)

func testKeys(t *testing.T, current string, ids ...string) *codec.Keys {
	t.Helper()
	var parts []string
	for i, id := range ids {
		parts = append(parts, fmt.Sprintf("%q: %q", id, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{byte(i + 7)}, 32))))
	}
	k, err := codec.ParseKeys([]byte(fmt.Sprintf(`{"current": %q, "keys": {%s}}`, current, strings.Join(parts, ", "))))
	require.NoError(t, err)
	return k
}

// rawHistory is a workflow's history as Temporal stores it, read without
// the keys.
func rawHistory(t *testing.T, workflowID string) []*historypb.HistoryEvent {
	t.Helper()
	it := server.Client.GetWorkflowHistory(ctxT(t), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		out = append(out, ev)
	}
	require.NotEmpty(t, out)
	return out
}

// withoutSearchAttributes is ev with its search attributes left out (they
// are plaintext by design).
func withoutSearchAttributes(ev *historypb.HistoryEvent) *historypb.HistoryEvent {
	ev = proto.Clone(ev).(*historypb.HistoryEvent)
	if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
		a.SearchAttributes = nil
	}
	if a := ev.GetUpsertWorkflowSearchAttributesEventAttributes(); a != nil {
		a.SearchAttributes = nil
	}
	return ev
}

// With a key file, what Strata writes to Temporal is ciphertext: a
// backup's label, a Defunct backup's reason, a lock holder, a cluster's
// description; the cluster ID shows only in search attributes. Histories
// written under one key are still read after rotating to another.
func TestEncryptedHistoryHoldsNoPlaintext(t *testing.T) {
	e := server.NewEncryptedEnv(t, stratatest.TestConfig(), testKeys(t, "k1", "k1"))
	ctx := ctxT(t)
	const (
		clusterID   = "enc-cluster-5d1"
		label       = "label-secret-8c2"
		holder      = "holder-secret-a71"
		description = "description-secret-3f9"
	)
	e.Cluster(strata.ClusterSpec{ID: clusterID, Nodes: 2, Description: description})
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: clusterID, Label: label})
	require.NoError(t, err)
	done, err := run.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, label, done.Label, "the keyed client reads the result")

	_, err = e.Strata.LockCluster(ctx, clusterID, holder, 10*time.Minute)
	require.NoError(t, err)
	failed, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: clusterID})
	require.NoError(t, err)
	_, err = failed.Wait(ctx)
	var be *strata.BackupError
	require.ErrorAs(t, err, &be)
	require.Contains(t, be.Reason, holder, "the keyed client reads the reason")

	// A refused query's reason is readable with the keys too.
	_, err = e.Strata.GetCluster(ctx, "enc-missing-cluster")
	require.True(t, strata.IsNotFound(err), "%v", err)
	assert.Contains(t, err.Error(), "enc-missing-cluster")

	secrets := []string{label, holder, description}
	for _, id := range []string{run.WorkflowID, failed.WorkflowID, api.ControlWorkflowID(e.TaskQueue), api.CreateClusterWorkflowID(clusterID)} {
		encrypted := 0
		for _, ev := range rawHistory(t, id) {
			raw, err := proto.Marshal(ev)
			require.NoError(t, err)
			for _, s := range secrets {
				if !assert.False(t, bytes.Contains(raw, []byte(s)), "%s event %d (%s) holds %q in plaintext", id, ev.GetEventId(), ev.GetEventType(), s) {
					t.Logf("DEBUG %s", protojson.Format(ev))
				}
			}
			if id == run.WorkflowID || id == failed.WorkflowID {
				stripped, err := proto.Marshal(withoutSearchAttributes(ev))
				require.NoError(t, err)
				assert.False(t, bytes.Contains(stripped, []byte(clusterID)), "%s event %d (%s) shows the cluster ID outside search attributes", id, ev.GetEventId(), ev.GetEventType())
			}
			encrypted += bytes.Count(raw, []byte(codec.Encoding))
		}
		assert.Positive(t, encrypted, "%s has encrypted payloads", id)
	}

	// Rotate: key 2 seals, key 1 still opens. A restarted worker replays
	// the control workflow written under key 1, and the old backup's result
	// still reads.
	e.StopWorker()
	rotated := testKeys(t, "k2", "k1", "k2")
	e.Client = server.DialEncrypted(t, rotated)
	e.Strata.Temporal = e.Client
	e.StartWorker()
	var old api.Backup
	require.NoError(t, e.Client.GetWorkflow(ctx, run.WorkflowID, "").Get(ctx, &old))
	assert.Equal(t, label, old.Label)
	require.NoError(t, e.Strata.UnlockCluster(ctx, clusterID, mustLock(t, e, clusterID).Token))
	got, err := e.Strata.GetCluster(ctx, clusterID)
	require.NoError(t, err)
	assert.Equal(t, description, got.Description)
	again, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: clusterID, Label: label})
	require.NoError(t, err)
	_, err = again.Wait(ctx)
	require.NoError(t, err)
	start := rawHistory(t, again.WorkflowID)[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0]
	assert.Equal(t, "k2", string(start.GetMetadata()[codec.MetadataKeyID]), "new payloads are sealed under the current key")

	// Without the keys, the history reads as ciphertext.
	var plain api.Backup
	err = server.Client.GetWorkflow(context.Background(), run.WorkflowID, "").Get(ctx, &plain)
	require.Error(t, err, "a client without the keys cannot decode the result")
}

func mustLock(t *testing.T, e *stratatest.Env, clusterID string) api.Lock {
	t.Helper()
	cl, err := e.Strata.GetCluster(ctxT(t), clusterID)
	require.NoError(t, err)
	require.NotNil(t, cl.Lock)
	return *cl.Lock
}
