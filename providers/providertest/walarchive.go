package providertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/providers"
)

// RunWALArchive checks a WAL archive against what PostgreSQL needs of it:
// its commands run through /bin/sh as the server runs them, with %p and %f
// substituted; a segment is stored whole, stored again only with the same
// bytes, fetched back, listed, and deleted.
func RunWALArchive(t *testing.T, a providers.WALArchive) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const cluster = "contract-pg"
	require.NoError(t, a.Prepare(ctx, cluster, providers.ServerUser{}))
	require.NoError(t, a.Prepare(ctx, cluster, providers.ServerUser{}), "prepare is idempotent")
	work := t.TempDir()
	run := func(command, p, f string) error {
		cmd := strings.NewReplacer("%p", p, "%f", f).Replace(command)
		out, err := exec.CommandContext(ctx, "/bin/sh", "-c", cmd).CombinedOutput()
		if err != nil {
			t.Logf("%s: %v: %s", cmd, err, out)
		}
		return err
	}
	seg := "000000010000000000000001"
	segment := bytes.Repeat([]byte{7}, 1<<16)
	src := filepath.Join(work, seg)
	require.NoError(t, os.WriteFile(src, segment, 0o600))

	files, err := a.List(ctx, cluster)
	require.NoError(t, err)
	assert.Empty(t, files, "a new archive is empty")

	require.NoError(t, run(a.ArchiveCommand(cluster), src, seg), "store")
	require.NoError(t, run(a.ArchiveCommand(cluster), src, seg), "the same bytes again succeed")
	other := filepath.Join(work, "other")
	require.NoError(t, os.WriteFile(other, []byte("different"), 0o600))
	assert.Error(t, run(a.ArchiveCommand(cluster), other, seg), "different bytes under a stored name fail")

	files, err = a.List(ctx, cluster)
	require.NoError(t, err)
	require.Len(t, files, 1)
	assert.Equal(t, seg, files[0].Name)
	assert.Equal(t, int64(len(segment)), files[0].Size)
	assert.WithinDuration(t, time.Now(), files[0].StoredAt, time.Minute)

	dst := filepath.Join(work, "fetched")
	require.NoError(t, run(a.RestoreCommand(cluster), dst, seg), "fetch")
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, segment, got)
	assert.Error(t, run(a.RestoreCommand(cluster), filepath.Join(work, "missing"), "000000010000000000000002"), "a segment not stored fails")

	require.NoError(t, a.Delete(ctx, cluster, []string{seg, "000000010000000000000009"}), "a file already gone counts as deleted")
	files, err = a.List(ctx, cluster)
	require.NoError(t, err)
	assert.Empty(t, files)
	assert.NotEmpty(t, a.Location(cluster))
}
