package postgres

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/providers/local"
)

func TestPruneArchive(t *testing.T) {
	archive, err := local.NewWALArchive(t.TempDir())
	require.NoError(t, err)
	m := &Manager{archive: archive}
	dir := m.ArchiveDir("pg")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	names := []string{
		"000000010000000000000001", "000000010000000000000002", "000000010000000000000002.00000028.backup",
		"000000010000000000000003.partial", "00000002.history", "000000020000000000000003", "000000020000000000000004",
		"000000010000000100000000", "notes.txt",
	}
	for _, n := range names {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600))
	}
	// Keep from 0/3000060: segment 3 onwards, on either timeline.
	files, bytes, err := m.PruneArchive(t.Context(), "pg", 0x3000060)
	require.NoError(t, err)
	assert.Equal(t, 3, files)
	assert.Equal(t, int64(3), bytes)
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range left {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	assert.Equal(t, []string{"000000010000000000000003.partial", "000000010000000100000000", "00000002.history",
		"000000020000000000000003", "000000020000000000000004", "notes.txt"}, got)

	// Again: nothing more.
	files, _, err = m.PruneArchive(t.Context(), "pg", 0x3000060)
	require.NoError(t, err)
	assert.Zero(t, files)
}
