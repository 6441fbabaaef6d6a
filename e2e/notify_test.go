package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/notify"
	"github.com/stratabackup/strata/starter/strata"
)

// receiver is a webhook endpoint that fails its first failFirst requests.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	attempts  int
	accepted  map[string]int // event ID -> accepted deliveries
	bodies    [][]byte
	headers   []http.Header
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if r.attempts <= r.failFirst {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.accepted[req.Header.Get("X-Strata-Event-Id")]++
	r.bodies = append(r.bodies, body)
	r.headers = append(r.headers, req.Header.Clone())
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func TestFailuresReachNotificationChannels(t *testing.T) {
	e := server.NewEnv(t, stratatest.TestConfig())
	ctx := ctxT(t)
	hook := &receiver{failFirst: 2, accepted: map[string]int{}}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	chat := &receiver{accepted: map[string]int{}}
	chatSrv := httptest.NewServer(chat)
	defer chatSrv.Close()
	_, err := e.Strata.AddChannel(ctx, api.AddChannelRequest{ProjectID: "default", Kind: "webhook", URL: hookSrv.URL, Secret: "hush"})
	require.NoError(t, err)
	_, err = e.Strata.AddChannel(ctx, api.AddChannelRequest{ProjectID: "default", Kind: "chat", URL: chatSrv.URL})
	require.NoError(t, err)
	_, err = e.Strata.AddChannel(ctx, api.AddChannelRequest{ProjectID: "default", Kind: "webhook", URL: "ftp://nope"})
	require.Error(t, err, "bad input is rejected before anything is stored")

	cl := e.Cluster(strata.ClusterSpec{Nodes: 2})
	require.NoError(t, e.Strata.SetNodeHealth(ctx, cl.ID, cl.Nodes[1].ID, false))
	run, err := e.Strata.StartBackup(ctx, api.BackupRequest{ClusterID: cl.ID})
	require.NoError(t, err)
	_, err = run.Wait(ctx)
	be := backupErr(t, err, api.ReasonClusterUnhealthy)

	stratatest.Eventually(t, 30*time.Second, "the webhook to accept the event despite two failures", func() bool { return hook.count() == 1 })
	stratatest.Eventually(t, 30*time.Second, "the chat webhook to get it", func() bool { return chat.count() == 1 })
	hook.mu.Lock()
	var ev notify.Event
	require.NoError(t, json.Unmarshal(hook.bodies[0], &ev))
	h := hook.headers[0]
	assert.True(t, notify.Verify("hush", h.Get("X-Strata-Timestamp"), hook.bodies[0], h.Get("X-Strata-Signature")), "signed with the channel's secret")
	assert.Equal(t, 1, hook.accepted[ev.ID], "exactly one accepted delivery per event ID")
	assert.Equal(t, 3, hook.attempts, "retried with backoff until accepted")
	hook.mu.Unlock()
	assert.Equal(t, api.EventBackupDefunct, ev.Type)
	recordHistory(t, run.WorkflowID, "backup_defunct_notified")
	recordHistory(t, "notify-"+ev.ID, "notify")
	assert.Equal(t, be.BackupID, ev.BackupID)
	assert.Equal(t, cl.ID, ev.ClusterID)
	assert.Equal(t, be.Backup.Reason, ev.Reason)
	chat.mu.Lock()
	text := string(chat.bodies[0])
	chat.mu.Unlock()
	assert.Contains(t, text, cl.ID)
	assert.Contains(t, text, "ClusterUnhealthy")

	// A failed restore notifies too.
	require.NoError(t, e.Strata.SetNodeHealth(ctx, cl.ID, cl.Nodes[1].ID, true))
	_, b := backedUp(t, e, strata.ClusterSpec{Nodes: 1})
	src, _ := e.Catalog.GetCluster(ctx, b.ClusterID)
	require.NoError(t, e.Strata.SetFaults(ctx, src.ID, api.Faults{RestoreFail: true}))
	rr, err := e.Strata.StartRestore(ctx, api.RestoreRequest{BackupID: b.ID})
	require.NoError(t, err)
	_, err = rr.Wait(ctx)
	require.Error(t, err)
	stratatest.Eventually(t, 30*time.Second, "the restore failure to reach the chat", func() bool { return chat.count() == 2 })
	chat.mu.Lock()
	assert.True(t, strings.Contains(string(chat.bodies[1]), rr.RestoreID), string(chat.bodies[1]))
	chat.mu.Unlock()
}
