package strata

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/seal"
	"github.com/stratabackup/strata/api/validate"
)

// AddChannel adds a notification channel to a project (update
// addChannel). Its URL and secret are sealed here, to the worker's public
// key (package api/seal), before they leave this process: they are
// ciphertext in the update, its workflow history and the catalog, only
// the worker can read them back, and the returned channel shows the URL's
// scheme and host only.
func (c *Client) AddChannel(ctx context.Context, req api.AddChannelRequest) (api.Channel, error) {
	var p validate.Problems
	p.Add(validate.OptionalNewID("channel", req.ID))
	p.Add(validate.ID("project", req.ProjectID))
	if err := p.Err("channel"); err != nil {
		return api.Channel{}, err
	}
	if req.ID == "" {
		req.ID = "ch-" + randomID(8)
	}
	if req.URL != "" || req.Secret != "" {
		info, err := c.workerInfo(ctx)
		if err != nil {
			return api.Channel{}, err
		}
		if info.SealingKey == "" {
			return api.Channel{}, errors.New("the worker has no key to seal channel secrets to")
		}
		pub, err := seal.ParsePublicKey(info.SealingKey)
		if err != nil {
			return api.Channel{}, err
		}
		if req.URL, err = seal.Seal(pub, seal.ChannelURL(req.ID), req.URL); err != nil {
			return api.Channel{}, err
		}
		if req.Secret, err = seal.Seal(pub, seal.ChannelSecret(req.ID), req.Secret); err != nil {
			return api.Channel{}, err
		}
	}
	var ch api.Channel
	return ch, c.write(ctx, api.UpdateAddChannel, req, &ch)
}

// ListChannels lists a project's channels (all with "").
func (c *Client) ListChannels(ctx context.Context, projectID string) ([]api.Channel, error) {
	return pages[api.Channel](ctx, c, api.QueryListChannels, 0, func(size int, token string) any {
		return api.ListChannelsRequest{ProjectID: projectID, PageSize: size, PageToken: token}
	})
}

// RemoveChannel deletes a channel.
func (c *Client) RemoveChannel(ctx context.Context, id string) error {
	var ch api.Channel
	return c.write(ctx, api.UpdateRemoveChannel, api.RemoveChannelRequest{ID: id}, &ch)
}

// TestChannel delivers a test event to one channel through the worker (as
// real events are: same retries, the worker's secrets) and waits.
func (c *Client) TestChannel(ctx context.Context, id string) (api.NotifyResult, error) {
	var res api.NotifyResult
	chs, err := c.ListChannels(ctx, "")
	if err != nil {
		return res, err
	}
	var ch *api.Channel
	for i := range chs {
		if chs[i].ID == id {
			ch = &chs[i]
		}
	}
	if ch == nil {
		return res, fmt.Errorf("channel %q not found (see `starter notify list`)", id)
	}
	now := time.Now().UTC()
	ev := api.Event{
		ID: api.EventID("test", id, now.String()), Type: "test", Time: now, ProjectID: ch.ProjectID,
		Summary: "Test notification from Strata", Details: map[string]any{api.OnlyChannel: id},
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return res, c.runWorkflow(ctx, client.StartWorkflowOptions{ID: api.NotifyWorkflowID(ev.ID), StaticSummary: "Test notification"},
		api.NotifyWorkflowName, ev, &res)
}
