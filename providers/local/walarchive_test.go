package local

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/providers/providertest"
)

func TestWALArchiveContract(t *testing.T) {
	a, err := NewWALArchive(t.TempDir())
	require.NoError(t, err)
	providertest.RunWALArchive(t, a)
}

func TestWALArchiveRefusesUnsafeRoots(t *testing.T) {
	for _, root := range []string{"/tmp/it's", "/tmp/a%b", `/tmp/a\b`, "/tmp/$HOME"} {
		_, err := NewWALArchive(root)
		assert.Error(t, err, root)
	}
	a, err := NewWALArchive(t.TempDir())
	require.NoError(t, err)
	_, err = a.List(t.Context(), "../etc")
	assert.Error(t, err)
}
