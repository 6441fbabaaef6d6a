package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/starter/strata"
)

// The cluster lifecycle: power, profile, deletion (each through the
// cluster's lifecycle workflow), and backup profiles.

func (a *app) clusterPowerOff() *cobra.Command {
	return a.lifecycleCmd("power-off ID", "Take a final backup, then release the cluster's compute and volumes and pause its jobs",
		func(cmd *cobra.Command, c *strata.Client, args []string, reason string) (api.ClusterLifecycleState, error) {
			return c.PowerOff(cmd.Context(), args[0], reason)
		})
}

func (a *app) clusterPowerOn() *cobra.Command {
	return a.lifecycleCmd("power-on ID", "Restore a powered-off cluster's final backup into it (same ID), then resume its jobs",
		func(cmd *cobra.Command, c *strata.Client, args []string, reason string) (api.ClusterLifecycleState, error) {
			return c.PowerOn(cmd.Context(), args[0], reason)
		})
}

func (a *app) clusterSetProfile() *cobra.Command {
	cmd := a.lifecycleCmd("set-profile ID PROFILE", "Make the cluster's jobs match a backup profile (see `starter profile list`)",
		func(cmd *cobra.Command, c *strata.Client, args []string, _ string) (api.ClusterLifecycleState, error) {
			return c.SetProfile(cmd.Context(), args[0], args[1])
		})
	cmd.Args = cobra.ExactArgs(2)
	return cmd
}

func (a *app) clusterDelete() *cobra.Command {
	var withBackups bool
	cmd := a.lifecycleCmd("delete ID [--with-backups]", "Delete a cluster: its jobs, compute and volumes, and with --with-backups every backup of it",
		func(cmd *cobra.Command, c *strata.Client, args []string, _ string) (api.ClusterLifecycleState, error) {
			return c.DeleteCluster(cmd.Context(), args[0], withBackups)
		})
	cmd.Flags().BoolVar(&withBackups, "with-backups", false, "also delete every backup of the cluster")
	return cmd
}

func (a *app) clusterLifecycle() *cobra.Command {
	return objectCmd(a, "lifecycle ID", "Show the cluster's lifecycle workflow: its power, the operation running and the clean-up's dates",
		(*strata.Client).LifecycleState, a.printLifecycle)
}

func (a *app) lifecycleCmd(use, short string, run func(cmd *cobra.Command, c *strata.Client, args []string, reason string) (api.ClusterLifecycleState, error)) *cobra.Command {
	var reason string
	power := strings.HasPrefix(use, "power-")
	// A power-off or power-on waits for a backup or a restore, a deletion
	// for the cluster's backups to go: minutes, worth watching.
	watched := power || strings.HasPrefix(use, "delete ")
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			stop := func() {}
			if watched {
				stop = a.watch(cmd.Context(), "cluster "+args[0], lifecycleProgress(c, args[0]))
			}
			st, err := run(cmd, c, args, reason)
			stop()
			if err != nil {
				return err
			}
			return a.printLifecycle(st)
		},
	}
	if power {
		cmd.Flags().StringVar(&reason, "reason", "", "why (recorded, shown by `cluster show`)")
	}
	return cmd
}

func (a *app) printLifecycle(st api.ClusterLifecycleState) error {
	if a.json {
		return a.printJSON(st)
	}
	fmt.Fprintf(a.out, "Cluster:  %s\nPower:    %s\nProfile:  %s\n", st.ClusterID, st.Power, dash(st.Profile))
	if st.Operation != "" {
		fmt.Fprintf(a.out, "Running:  %s (%s), %d waiting\n", st.Operation, dash(st.Step), st.Pending)
	}
	if st.Power == api.PowerPoweredOff {
		fmt.Fprintf(a.out, "Powered off: %s (final backup %s)\nNotice:      %s\nDeletion:    %s (with all its backups, unless powered on)\n",
			ts(st.PoweredOffAt), dash(st.FinalBackupID), ts(st.NoticeAt), ts(st.DeletionAt))
	}
	if st.Reason != "" {
		fmt.Fprintf(a.out, "Last failure: %s\n", st.Reason)
	}
	return nil
}

func (a *app) profileCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Backup profiles: the jobs and retention a cluster's plan comes with"}
	cmd.AddCommand(a.profileList(), a.profileShow(), a.profileWrite(true), a.profileWrite(false), a.profileDelete())
	return cmd
}

func (a *app) profileList() *cobra.Command {
	return listCmd(a, "list", "List backup profiles (built-in first)", "", "",
		func(ctx context.Context, c *strata.Client, _ string) ([]api.Profile, error) {
			return c.ListProfiles(ctx)
		},
		"NAME\tBUILT-IN\tSCHEDULES\tPITR\tDESCRIPTION",
		func(p api.Profile) []string {
			return []string{p.Name, fmt.Sprint(p.BuiltIn), schedulesSummary(p), pitrSummary(p), dash(p.Description)}
		})
}

func schedulesSummary(p api.Profile) string {
	if p.NoBackups {
		return "no backups"
	}
	var parts []string
	for _, s := range p.Schedules {
		parts = append(parts, s.String())
	}
	return dash(strings.Join(parts, "; "))
}

func pitrSummary(p api.Profile) string {
	if p.PITR == 0 {
		return "-"
	}
	return api.FormatDuration(p.PITR.D())
}

func (a *app) profileShow() *cobra.Command {
	return objectCmd(a, "show NAME", "Show a profile, its clusters and whether each one's jobs match it", (*strata.Client).GetProfile, a.printProfileView)
}

func (a *app) printProfileView(v api.ProfileView) error {
	if a.json {
		return a.printJSON(v)
	}
	fmt.Fprintf(a.out, "Profile:     %s\nDescription: %s\nBuilt in:    %v\nPITR:        %s\n", v.Name, dash(v.Description), v.BuiltIn, pitrSummary(v.Profile))
	if v.NoBackups {
		fmt.Fprintln(a.out, "Backups:     none (manual backups are refused)")
	}
	fmt.Fprintln(a.out)
	var rows [][]string
	for i, s := range v.Schedules {
		rows = append(rows, []string{fmt.Sprint(i), s.String()})
	}
	table(a.out, "SLOT\tSCHEDULE", rows)
	fmt.Fprintln(a.out)
	rows = nil
	for _, c := range v.Clusters {
		rows = append(rows, []string{c.ClusterID, c.Power, fmt.Sprint(c.InSync), dash(strings.Join(c.Differences, "; "))})
	}
	table(a.out, "CLUSTER\tPOWER\tIN-SYNC\tDIFFERENCES", rows)
	return nil
}

func (a *app) profileWrite(create bool) *cobra.Command {
	var (
		schedules   []string
		description string
		pitr        string
		noBackups   bool
	)
	use, short := "create NAME --schedule SPEC... [--pitr D] [--no-backups]", "Create a backup profile"
	if !create {
		use, short = "update NAME --schedule SPEC... [--pitr D] [--no-backups]", "Replace a profile (every cluster on it follows)"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.ProfileRequest{Name: args[0], Description: description, NoBackups: noBackups}
			for _, s := range schedules {
				ps, err := api.ParseProfileSchedule(s)
				if err != nil {
					return fmt.Errorf("--schedule %q: %w", s, err)
				}
				req.Schedules = append(req.Schedules, ps)
			}
			if pitr != "" {
				d, err := api.ParseDuration(pitr)
				if err != nil {
					return fmt.Errorf("--pitr %q: %w", pitr, err)
				}
				req.PITR = api.Duration(d)
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if create {
				p, err := c.CreateProfile(cmd.Context(), req)
				if err != nil {
					return err
				}
				return a.printProfileView(api.ProfileView{Profile: p, Clusters: []api.ProfileCluster{}})
			}
			v, err := c.UpdateProfile(cmd.Context(), req)
			if err != nil {
				return err
			}
			return a.printProfileView(v)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&schedules, "schedule", nil, "a job of the profile, e.g. 'every=1h keep-hourly=24' or 'every=24h offset=3h keep-daily=14' (keys: every, offset, keep, keep-hourly, keep-daily, keep-weekly); repeat for more")
	f.StringVar(&description, "description", "", "what the profile is for")
	f.StringVar(&pitr, "pitr", "", "restore postgres clusters to any point this far back (e.g. 2d): WAL is archived, base backups kept that long")
	f.BoolVar(&noBackups, "no-backups", false, "the profile takes no backups (manual ones are refused)")
	return cmd
}

func (a *app) profileDelete() *cobra.Command {
	return objectCmd(a, "delete NAME", "Delete a profile no cluster is on", (*strata.Client).DeleteProfile, func(p api.Profile) error {
		if a.json {
			return a.printJSON(p)
		}
		fmt.Fprintf(a.out, "profile %s deleted\n", p.Name)
		return nil
	})
}
