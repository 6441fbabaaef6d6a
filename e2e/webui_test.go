package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/stratabackup/strata/api/codec"
	"github.com/stratabackup/strata/api/devenv"
	"github.com/stratabackup/strata/internal/stratatest"
	"github.com/stratabackup/strata/starter/cli"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// `worker --dev` with a key file: the CLI finds the key through the dev
// setup, Temporal stores only ciphertext, and the embedded Web UI, loaded
// in headless Chromium, shows the backup's decrypted input through the
// codec server.
func TestDevWebUIShowsDecryptedInput(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (.ci/run installs it)")
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys.json")
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32))
	require.NoError(t, os.WriteFile(keyFile, []byte(`{"current": "k1", "keys": {"k1": "`+key+`"}}`), 0o600))
	dataDir := filepath.Join(dir, "strata")
	uiPort := freePort(t)
	w, err := stratatest.StartWorkerCommand([]string{
		"--dev", "--demo-postgres=false", "--data-dir", dataDir, "--temporal-port", strconv.Itoa(freePort(t)), "--ui-port", strconv.Itoa(uiPort),
		"--encryption-key-file", keyFile, "--codec-server-listen", "127.0.0.1:" + strconv.Itoa(freePort(t)), "--log-level", "warn",
		"--reconcile-every", "0", "--monitor-every", "0", "--metrics-listen", "127.0.0.1:0",
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Stop(30 * time.Second) })
	var env devenv.Env
	stratatest.Eventually(t, 2*time.Minute, "the dev worker to record its setup", func() bool {
		env, err = devenv.Read(dataDir)
		return err == nil
	})
	assert.Equal(t, keyFile, env.EncryptionKeyFile)
	require.NotEmpty(t, env.CodecEndpoint)

	const label = "ui-decrypted-label-91"
	var out, errOut bytes.Buffer
	code := cli.Run(ctxT(t), []string{"--data-dir", dataDir, "backup", "create", "--cluster", "demo-1node", "--label", label,
		"--request-id", "webui-check", "--wait"}, &out, &errOut)
	require.Equal(t, 0, code, "%s\nworker log:\n%s", errOut.String(), w.Stderr())

	// Temporal holds the input encrypted.
	plain, err := client.Dial(client.Options{HostPort: env.TemporalAddress, Namespace: env.Namespace})
	require.NoError(t, err)
	defer plain.Close()
	it := plain.GetWorkflowHistory(ctxT(t), "backup-webui-check", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first, err := it.Next()
	require.NoError(t, err)
	input := first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0]
	assert.Equal(t, codec.Encoding, string(input.GetMetadata()["encoding"]))
	assert.NotContains(t, string(input.GetData()), label)

	// The Web UI decodes it in the browser.
	ctx, cancel := context.WithTimeout(ctxT(t), 2*time.Minute)
	defer cancel()
	page := fmt.Sprintf("http://127.0.0.1:%d/namespaces/%s/workflows/backup-webui-check", uiPort, env.Namespace)
	dom, err := exec.CommandContext(ctx, browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir="+filepath.Join(dir, "chromium"),
		"--virtual-time-budget=20000", "--dump-dom", page).Output()
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(dom), label), "the workflow page shows the decrypted input (%d bytes of DOM)", len(dom))
	assert.False(t, strings.Contains(string(dom), codec.Encoding), "no payload is shown encrypted")
}
