package activities

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/api/seal"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
	"github.com/stratabackup/strata/secrets"
)

// Channels stored in plaintext by an older version are sealed when a worker
// starts, and a worker holding another key than the published one refuses
// to start rather than seal to a key the others cannot open.
func TestPublishSecretsKeySealsLegacyChannels(t *testing.T) {
	ctx := context.Background()
	cat := catalogtest.Open(t, catalogtest.SQLiteDSN(t))
	require.NoError(t, cat.CreateChannel(ctx, catalog.Channel{ID: "ch-old", ProjectID: "default", Kind: "webhook", URL: "https://h.example/tok3n", Secret: "s3cret"}))
	key, err := secrets.Generate()
	require.NoError(t, err)
	n, err := PublishSecretsKey(ctx, cat, key)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	chs, err := cat.ListChannels(ctx, "")
	require.NoError(t, err)
	require.Len(t, chs, 1)
	assert.True(t, seal.IsSealed(chs[0].URL) && seal.IsSealed(chs[0].Secret))
	assert.Equal(t, "https://h.example/...", chs[0].DisplayURL)

	a := &Notifications{Secrets: key}
	url, secret, err := a.openChannel(chs[0])
	require.NoError(t, err)
	assert.Equal(t, "https://h.example/tok3n", url)
	assert.Equal(t, "s3cret", secret)

	again, err := PublishSecretsKey(ctx, cat, key)
	require.NoError(t, err)
	assert.Zero(t, again, "idempotent")

	other, err := secrets.Generate()
	require.NoError(t, err)
	_, err = PublishSecretsKey(ctx, cat, other)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "same key"), err.Error())
	_, _, err = (&Notifications{Secrets: other}).openChannel(chs[0])
	assert.ErrorContains(t, err, "remove and add the channel again")
	_, _, err = (&Notifications{}).openChannel(chs[0])
	assert.ErrorContains(t, err, "no key")
}
