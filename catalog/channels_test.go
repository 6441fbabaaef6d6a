package catalog_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/catalog/catalogtest"
)

func TestChannels(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		require.NoError(t, s.CreateProject(ctx, catalog.Project{ID: "p1"}))
		require.NoError(t, s.CreateProject(ctx, catalog.Project{ID: "p2"}))
		hook := catalog.Channel{ID: "ch-hook", ProjectID: "p1", Kind: "webhook", URL: "https://example.test/hook", Secret: "s3cret"}
		mail := catalog.Channel{ID: "ch-mail", ProjectID: "p1", Kind: "email", Email: "ops@example.test", SMTPHost: "smtp:587", SMTPUser: "u", SMTPPasswordEnv: "SMTP_PW", From: "strata@example.test"}
		chat := catalog.Channel{ID: "ch-chat", ProjectID: "p2", Kind: "chat", URL: "https://chat.test/x"}
		for _, c := range []catalog.Channel{hook, mail, chat} {
			require.NoError(t, s.CreateChannel(ctx, c))
		}
		assert.True(t, errors.Is(s.CreateChannel(ctx, hook), catalog.ErrExists))
		requireNotFound(t, s.CreateChannel(ctx, catalog.Channel{ID: "x", ProjectID: "nope", Kind: "chat"}), "project", "nope")

		got, err := s.ListChannels(ctx, "p1")
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, "ch-hook", got[0].ID)
		assert.Equal(t, "s3cret", got[0].Secret, "the webhook secret is stored")
		assert.Equal(t, "SMTP_PW", got[1].SMTPPasswordEnv)
		all, err := s.ListChannels(ctx, "")
		require.NoError(t, err)
		assert.Len(t, all, 3)

		require.NoError(t, s.DeleteChannel(ctx, "ch-hook"))
		requireNotFound(t, s.DeleteChannel(ctx, "ch-hook"), "channel", "ch-hook")
		got, err = s.ListChannels(ctx, "p1")
		require.NoError(t, err)
		assert.Len(t, got, 1)
	})
}

func TestJobMonitor(t *testing.T) {
	catalogtest.Each(t, func(t *testing.T, s catalog.Store) {
		ctx := context.Background()
		mustCluster(t, s, "c")
		require.NoError(t, s.CreateJob(ctx, catalog.Job{ID: "j", ClusterID: "c", ScheduleID: "strata-j", Retention: catalog.Retention{KeepLast: 1}}))
		j, err := s.GetJob(ctx, "j")
		require.NoError(t, err)
		assert.Equal(t, catalog.JobMonitor{}, j.Monitor)
		require.NoError(t, s.SetJobMonitor(ctx, "j", catalog.JobMonitor{Stale: true, SeenSkipped: 2, SeenMissed: 1}))
		j, err = s.GetJob(ctx, "j")
		require.NoError(t, err)
		assert.Equal(t, catalog.JobMonitor{Stale: true, SeenSkipped: 2, SeenMissed: 1}, j.Monitor)
		requireNotFound(t, s.SetJobMonitor(ctx, "nope", catalog.JobMonitor{}), "job", "nope")
	})
}
