package strata

import (
	"context"
	"errors"
	"fmt"
	"github.com/stratabackup/strata/api"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/notify"
	"github.com/stratabackup/strata/secrets"
	"github.com/stratabackup/strata/validate"
)

// AddChannel validates and stores a notification channel of a project. Its
// URL and secret are sealed to the worker's public key (package secrets)
// before they are stored: only the worker can read them back, and the
// returned channel shows the URL's scheme and host only.
func (c *Client) AddChannel(ctx context.Context, req api.AddChannelRequest) (api.Channel, error) {
	ch := catalog.Channel{ID: req.ID, ProjectID: req.ProjectID, Kind: req.Kind, URL: req.URL, Secret: req.Secret, Email: req.Email,
		SMTPHost: req.SMTPHost, SMTPUser: req.SMTPUser, SMTPPasswordEnv: req.SMTPPasswordEnv, From: req.From}
	if err := toNotify(ch).Validate(); err != nil {
		return api.Channel{}, fmt.Errorf("invalid channel: %w", err)
	}
	if msg := validate.ID("project", ch.ProjectID); msg != "" {
		return api.Channel{}, errors.New("invalid channel: " + msg)
	}
	if _, err := c.Catalog.GetProject(ctx, ch.ProjectID); err != nil {
		return api.Channel{}, fmt.Errorf("invalid channel: project %q: %w", ch.ProjectID, err)
	}
	if ch.ID == "" {
		ch.ID = "ch-" + randomID(8)
	}
	if ch.URL != "" || ch.Secret != "" {
		pub, err := c.sealingKey(ctx)
		if err != nil {
			return api.Channel{}, err
		}
		plainURL := ch.URL
		if ch.URL, err = secrets.Seal(pub, secrets.ChannelURL(ch.ID), ch.URL); err != nil {
			return api.Channel{}, err
		}
		if ch.Secret, err = secrets.Seal(pub, secrets.ChannelSecret(ch.ID), ch.Secret); err != nil {
			return api.Channel{}, err
		}
		ch.DisplayURL = validate.RedactURL(plainURL)
	}
	ch.HasSecret = ch.Secret != ""
	ch.CreatedAt = time.Now().UTC()
	if err := c.Catalog.CreateChannel(ctx, ch); err != nil {
		return api.Channel{}, err
	}
	return ch.API(), nil
}

// sealingKey is the worker's public key, as it published it in the catalog.
func (c *Client) sealingKey(ctx context.Context) (secrets.PublicKey, error) {
	v, ok, err := c.Catalog.GetSetting(ctx, secrets.PublicKeySetting)
	if err != nil {
		return secrets.PublicKey{}, err
	}
	if !ok {
		return secrets.PublicKey{}, errors.New("the worker has not published its key for sealing channel secrets yet: start the worker once, then add the channel")
	}
	return secrets.ParsePublicKey(v)
}

// ListChannels lists a project's channels (all with "").
func (c *Client) ListChannels(ctx context.Context, projectID string) ([]api.Channel, error) {
	chs, err := c.Catalog.ListChannels(ctx, projectID)
	out := make([]api.Channel, len(chs))
	for i, ch := range chs {
		out[i] = ch.API()
	}
	return out, err
}

// RemoveChannel deletes a channel.
func (c *Client) RemoveChannel(ctx context.Context, id string) error {
	return c.Catalog.DeleteChannel(ctx, id)
}

// TestChannel delivers a test event to one channel through the worker (as
// real events are: same retries, the worker's secrets) and waits.
func (c *Client) TestChannel(ctx context.Context, id string) (api.NotifyResult, error) {
	var res api.NotifyResult
	tc, err := c.temporal()
	if err != nil {
		return res, err
	}
	chs, err := c.Catalog.ListChannels(ctx, "")
	if err != nil {
		return res, err
	}
	var ch *catalog.Channel
	for i := range chs {
		if chs[i].ID == id {
			ch = &chs[i]
		}
	}
	if ch == nil {
		return res, fmt.Errorf("channel %q not found (see `starter notify list`)", id)
	}
	now := time.Now().UTC()
	ev := notify.Event{
		ID: api.EventID("test", id, now.String()), Type: "test", Time: now, ProjectID: ch.ProjectID,
		Summary: "Test notification from Strata", Details: map[string]any{activities.OnlyChannel: id},
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: api.NotifyWorkflowID(ev.ID), TaskQueue: c.TaskQueue, StaticSummary: "Test notification"},
		api.NotifyWorkflowName, ev)
	if err != nil {
		return res, err
	}
	err = run.Get(ctx, &res)
	return res, err
}

func toNotify(ch catalog.Channel) notify.Channel {
	return notify.Channel{ID: ch.ID, ProjectID: ch.ProjectID, Kind: notify.Kind(ch.Kind), URL: ch.URL, Secret: ch.Secret,
		Email: ch.Email, SMTPHost: ch.SMTPHost, SMTPUser: ch.SMTPUser, SMTPPasswordEnv: ch.SMTPPasswordEnv, From: ch.From}
}
