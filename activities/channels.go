package activities

import (
	"context"
	"errors"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/seal"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/notify"
	"github.com/stratabackup/strata/secrets"
)

// Channels are the activities that add and remove notification channels.
// A channel's URL and secret arrive sealed to the worker's key (package
// api/seal) so they are ciphertext in the request and its history; one
// that arrives in plaintext is sealed here before it is stored.
type Channels struct {
	Common
	Catalog interface {
		catalog.Channels
		catalog.Projects
	}
	Secrets *secrets.Key
}

// AddChannel checks and stores a channel of an existing project.
func (c *Channels) AddChannel(ctx context.Context, req api.AddChannelRequest) (api.Channel, error) {
	if c.Secrets == nil {
		return api.Channel{}, permanent(api.ReasonInternal, "this worker has no key to seal channel secrets with")
	}
	url, err := c.Secrets.Open(seal.ChannelURL(req.ID), req.URL)
	if err != nil {
		return api.Channel{}, InvalidRequest("invalid channel %s: url: %v (seal it to the key query workerInfo returns, for this channel's ID)", req.ID, err)
	}
	secret, err := c.Secrets.Open(seal.ChannelSecret(req.ID), req.Secret)
	if err != nil {
		return api.Channel{}, InvalidRequest("invalid channel %s: secret: %v (seal it to the key query workerInfo returns, for this channel's ID)", req.ID, err)
	}
	ch := catalog.Channel{ID: req.ID, ProjectID: req.ProjectID, Kind: req.Kind, URL: url, Secret: secret, Email: req.Email,
		SMTPHost: req.SMTPHost, SMTPUser: req.SMTPUser, SMTPPasswordEnv: req.SMTPPasswordEnv, From: req.From}
	if err := toNotify(ch).Validate(); err != nil {
		return api.Channel{}, InvalidRequest("invalid channel: %v", err)
	}
	if _, err := c.Catalog.GetProject(ctx, ch.ProjectID); err != nil {
		if catalog.IsNotFound(err) {
			return api.Channel{}, InvalidRequest("invalid channel: project %s not found (see `starter project list`)", validate.Quote(ch.ProjectID))
		}
		return api.Channel{}, classify(err, "channel "+ch.ID)
	}
	ch.DisplayURL = validate.RedactURL(url)
	if ch.URL, err = sealOnce(c.Secrets, seal.ChannelURL(ch.ID), url); err != nil {
		return api.Channel{}, err
	}
	if ch.Secret, err = sealOnce(c.Secrets, seal.ChannelSecret(ch.ID), secret); err != nil {
		return api.Channel{}, err
	}
	ch.HasSecret = ch.Secret != ""
	ch.CreatedAt = c.now()
	if err := c.Catalog.CreateChannel(ctx, ch); err != nil {
		if !errors.Is(err, catalog.ErrExists) {
			return api.Channel{}, classify(err, "channel "+ch.ID)
		}
		// A retry finds its own channel; anything else is a clash.
		chs, lerr := c.Catalog.ListChannels(ctx, ch.ProjectID)
		if lerr != nil {
			return api.Channel{}, classify(lerr, "channel "+ch.ID)
		}
		for _, got := range chs {
			if got.ID == ch.ID && got.Kind == ch.Kind && got.DisplayURL == ch.DisplayURL && got.Email == ch.Email {
				return got.API(), nil
			}
		}
		return api.Channel{}, InvalidRequest("invalid channel: channel %s already exists", ch.ID)
	}
	return ch.API(), nil
}

// RemoveChannel deletes a channel and returns it.
func (c *Channels) RemoveChannel(ctx context.Context, req api.RemoveChannelRequest) (api.Channel, error) {
	chs, err := c.Catalog.ListChannels(ctx, "")
	if err != nil {
		return api.Channel{}, classify(err, "channel "+req.ID)
	}
	var out api.Channel
	for _, ch := range chs {
		if ch.ID == req.ID {
			out = ch.API()
		}
	}
	return out, notFound(c.Catalog.DeleteChannel(ctx, req.ID), "channel "+req.ID)
}

func toNotify(ch catalog.Channel) notify.Channel {
	return notify.Channel{ID: ch.ID, ProjectID: ch.ProjectID, Kind: notify.Kind(ch.Kind), URL: ch.URL, Secret: ch.Secret,
		Email: ch.Email, SMTPHost: ch.SMTPHost, SMTPUser: ch.SMTPUser, SMTPPasswordEnv: ch.SMTPPasswordEnv, From: ch.From}
}
