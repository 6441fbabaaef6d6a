package activities

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/seal"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/metrics"
	"github.com/stratabackup/strata/notify"
	"github.com/stratabackup/strata/secrets"
)

// Notifications deliver events to projects' channels.
type Notifications struct {
	Common
	Catalog interface {
		catalog.Channels
		catalog.Clusters
	}
	// Notifier delivers (nil: a default one, which delivers to public
	// addresses only).
	Notifier *notify.Sender
	// Secrets opens channels' sealed URLs and secrets.
	Secrets *secrets.Key
	Config  Config
}

// ListChannelIDs returns the IDs of the event's project's notification
// channels; only IDs enter workflow history, never URLs or secrets.
func (a *Notifications) ListChannelIDs(ctx context.Context, ev notify.Event) ([]string, error) {
	if err := ev.Check(); err != nil {
		return nil, InvalidRequest("%v", err)
	}
	chs, err := a.channelsFor(ctx, ev)
	if err != nil {
		return nil, err
	}
	only, _ := ev.Details[OnlyChannel].(string)
	ids := make([]string, 0, len(chs))
	for _, c := range chs {
		if only == "" || c.ID == only {
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

// OnlyChannel restricts an event's delivery (api.OnlyChannel).
const OnlyChannel = api.OnlyChannel

// DeliverInput is one event for one channel.
type DeliverInput struct {
	ChannelID string
	Event     notify.Event
}

// Deliver sends one event to one channel, once; the activity's retry
// policy makes delivery at-least-once, and the event ID lets receivers drop
// duplicates. The channel (with its secrets) is read here, in the worker.
func (a *Notifications) Deliver(ctx context.Context, in DeliverInput) error {
	chs, err := a.channelsFor(ctx, in.Event)
	if err != nil {
		return err
	}
	var ch *catalog.Channel
	for i := range chs {
		if chs[i].ID == in.ChannelID {
			ch = &chs[i]
		}
	}
	if ch == nil {
		return nil // removed since: nothing to deliver to
	}
	ev := in.Event
	if ev.UIURL == "" && a.Config.UIURL != "" {
		if wf, ok := ev.Details["workflowId"].(string); ok && wf != "" {
			ev.UIURL = fmt.Sprintf("%s/namespaces/%s/workflows/%s", strings.TrimRight(a.Config.UIURL, "/"),
				url.PathEscape(activity.GetInfo(ctx).WorkflowNamespace), url.PathEscape(wf))
		}
	}
	sender := a.Notifier
	if sender == nil {
		sender = &notify.Sender{}
	}
	url, secret, err := a.openChannel(*ch)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("channel %s: %v", ch.ID, err), "DeliveryFailed", nil)
	}
	err = sender.Send(ctx, notify.Channel{
		ID: ch.ID, ProjectID: ch.ProjectID, Kind: notify.Kind(ch.Kind), URL: url, Secret: secret,
		Email: ch.Email, SMTPHost: ch.SMTPHost, SMTPUser: ch.SMTPUser, SMTPPasswordEnv: ch.SMTPPasswordEnv, From: ch.From,
	}, ev)
	outcome := "delivered"
	if err != nil {
		outcome = "failed"
	}
	metrics.Inc(activityMetrics(ctx), metrics.Notifications, metrics.Tags{metrics.LabelKind: ch.Kind, metrics.LabelOutcome: outcome}, 1)
	if err != nil && !notify.IsRetryable(err) {
		return temporal.NewNonRetryableApplicationError(err.Error(), "DeliveryFailed", err)
	}
	return err
}

// openChannel unseals a channel's URL and secret with the worker's key.
func (a *Notifications) openChannel(ch catalog.Channel) (url, secret string, err error) {
	if a.Secrets == nil {
		if seal.IsSealed(ch.URL) || seal.IsSealed(ch.Secret) {
			return "", "", errors.New("its secrets are sealed, and this worker has no key to open them (--secret-key-file)")
		}
		return ch.URL, ch.Secret, nil
	}
	if url, err = a.Secrets.Open(seal.ChannelURL(ch.ID), ch.URL); err != nil {
		return "", "", fmt.Errorf("%w: remove and add the channel again", err)
	}
	if secret, err = a.Secrets.Open(seal.ChannelSecret(ch.ID), ch.Secret); err != nil {
		return "", "", fmt.Errorf("%w: remove and add the channel again", err)
	}
	return url, secret, nil
}

// channelsFor lists the channels of the event's project, or of its
// cluster's project when the event names only the cluster.
func (a *Notifications) channelsFor(ctx context.Context, ev notify.Event) ([]catalog.Channel, error) {
	project := ev.ProjectID
	if project == "" && ev.ClusterID != "" {
		cl, err := a.Catalog.GetCluster(ctx, ev.ClusterID)
		if err != nil {
			return nil, classify(err, "cluster "+ev.ClusterID)
		}
		project = cl.ProjectID
	}
	if project == "" {
		return nil, nil
	}
	chs, err := a.Catalog.ListChannels(ctx, project)
	return chs, classify(err, "project "+project)
}
