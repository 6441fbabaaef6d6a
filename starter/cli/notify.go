package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/starter/strata"
)

func (a *app) notifyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "notify", Short: "Notification channels of a project: webhook, chat webhook, email"}
	var ch api.AddChannelRequest
	var webhook, chat string
	add := &cobra.Command{
		Use:   "add --project P (--webhook URL [--secret S] | --chat URL | --email ADDR --smtp HOST:PORT [--smtp-user U --smtp-password-env VAR] [--from ADDR])",
		Short: "Add a channel: Defunct backups, failed restores, failing deletions reach it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case webhook != "" && chat == "" && ch.Email == "":
				ch.Kind, ch.URL = "webhook", webhook
			case chat != "" && webhook == "" && ch.Email == "":
				ch.Kind, ch.URL = "chat", chat
			case ch.Email != "" && webhook == "" && chat == "":
				ch.Kind = "email"
			default:
				return fmt.Errorf("give exactly one of --webhook, --chat or --email")
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			got, err := c.AddChannel(cmd.Context(), ch)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(got)
			}
			fmt.Fprintf(a.out, "channel %s (%s) added to project %s\n", got.ID, got.Kind, got.ProjectID)
			return nil
		},
	}
	f := add.Flags()
	f.StringVar(&ch.ProjectID, "project", "default", "project")
	f.StringVar(&webhook, "webhook", "", "generic webhook URL (JSON body, HMAC-SHA256 signature header with --secret)")
	f.StringVar(&ch.Secret, "secret", "", "webhook signing secret")
	f.StringVar(&chat, "chat", "", "chat incoming-webhook URL")
	f.StringVar(&ch.Email, "email", "", "email address")
	f.StringVar(&ch.SMTPHost, "smtp", "", "SMTP server HOST:PORT (STARTTLS when offered)")
	f.StringVar(&ch.SMTPUser, "smtp-user", "", "SMTP user")
	f.StringVar(&ch.SMTPPasswordEnv, "smtp-password-env", "", "environment variable of the worker holding the SMTP password (never stored)")
	f.StringVar(&ch.From, "from", "", "sender address")
	list := listCmd(a, "list [--project P]", "List channels", "project", "only this project's channels",
		func(ctx context.Context, c *strata.Client, project string) ([]api.Channel, error) {
			return c.ListChannels(ctx, project)
		},
		"ID\tPROJECT\tKIND\tDESTINATION", func(c api.Channel) []string {
			dest := c.URL
			if c.HasSecret {
				dest += " (signed)"
			}
			if c.Kind == "email" {
				dest = c.Email + " via " + c.SMTPHost
			}
			return []string{c.ID, c.ProjectID, c.Kind, dest}
		})
	remove := a.actionCmd("remove ID", "Remove a channel", "channelId", "removed", "channel", "removed",
		func(ctx context.Context, c *strata.Client, id string) error { return c.RemoveChannel(ctx, id) })
	test := &cobra.Command{
		Use: "test ID", Short: "Send a test event to a channel through the worker", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			res, err := c.TestChannel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if len(res.Failed) > 0 {
				return fmt.Errorf("channel %s did not accept the test event (see the worker's log)", args[0])
			}
			if a.json {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.out, "channel %s accepted the test event\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove, test)
	return cmd
}
