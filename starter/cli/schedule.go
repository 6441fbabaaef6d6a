package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/labels"
	"github.com/stratabackup/strata/retention"
	"github.com/stratabackup/strata/starter/strata"
)

func (a *app) scheduleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "schedule", Short: "Scheduled backup jobs (Temporal Schedules) with retention"}
	cmd.AddCommand(a.scheduleCreate(), a.scheduleList(), a.scheduleShow(), a.scheduleUpdate(),
		a.schedulePause(true), a.schedulePause(false), a.scheduleTrigger(), a.scheduleDelete(), a.schedulePrune())
	return cmd
}

// retentionFlags reads --keep or the tiers.
type retentionFlags struct {
	keep, hourly, daily, weekly int
}

func (r *retentionFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&r.keep, "keep", 0, "keep the newest N Completed backups of the job")
	f.IntVar(&r.hourly, "keep-hourly", 0, "keep the newest Completed backup in each of the last H hours")
	f.IntVar(&r.daily, "keep-daily", 0, "keep the newest Completed backup in each of the last D days")
	f.IntVar(&r.weekly, "keep-weekly", 0, "keep the newest Completed backup in each of the last W weeks")
}

func (r *retentionFlags) set(cmd *cobra.Command) bool {
	f := cmd.Flags()
	return f.Changed("keep") || f.Changed("keep-hourly") || f.Changed("keep-daily") || f.Changed("keep-weekly")
}

func (r *retentionFlags) policy() api.Retention {
	return api.Retention{KeepLast: r.keep, KeepHourly: r.hourly, KeepDaily: r.daily, KeepWeekly: r.weekly}
}

func (a *app) scheduleCreate() *cobra.Command {
	var spec strata.JobSpec
	var rf retentionFlags
	cmd := &cobra.Command{
		Use:   "create --cluster ID --every D [--offset D] [--label T] (--keep N | --keep-hourly H --keep-daily D --keep-weekly W) [--paused]",
		Short: "Create a scheduled backup job",
		Long:  "Create a scheduled backup job: a Temporal Schedule that backs the cluster up every D (1h or more), then prunes the job's older backups.\n\n" + labels.Help,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !rf.set(cmd) {
				return fmt.Errorf("give a retention policy: --keep N, or --keep-hourly/--keep-daily/--keep-weekly")
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			spec.Retention = rf.policy()
			v, err := c.CreateJob(cmd.Context(), spec)
			if err != nil {
				return err
			}
			return a.printJob(v)
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.ClusterID, "cluster", "", "cluster ID (required)")
	f.DurationVar(&spec.Every, "every", 0, "interval, 1h or more (required)")
	f.DurationVar(&spec.Offset, "offset", 0, "shift within the interval (UTC, epoch-aligned): --every 24h --offset 3h backs up at 03:00 UTC")
	f.StringVar(&spec.Label, "label", "", "label template (default "+labels.Default+")")
	f.BoolVar(&spec.Paused, "paused", false, "create it paused")
	rf.add(cmd)
	_ = cmd.MarkFlagRequired("cluster")
	_ = cmd.MarkFlagRequired("every")
	return cmd
}

func (a *app) scheduleList() *cobra.Command {
	return listCmd(a, "list [--cluster ID]", "List jobs", "cluster", "only this cluster's jobs",
		func(ctx context.Context, c *strata.Client, cluster string) ([]api.Job, error) {
			return c.ListJobs(ctx, cluster)
		},
		"ID\tCLUSTER\tEVERY\tOFFSET\tRETENTION\tPAUSED\tLABEL",
		func(j api.Job) []string {
			return []string{j.ID, j.ClusterID, j.Every.String(), j.Offset.String(), j.Retention.Describe(), strconv.FormatBool(j.Paused), j.Label}
		})
}

func (a *app) scheduleShow() *cobra.Command {
	return objectCmd(a, "show ID", "Show a job, its schedule's next runs, and runs taken, missed or skipped",
		(*strata.Client).GetJob, a.printJob)
}

func (a *app) printJob(v api.JobView) error {
	if a.json {
		return a.printJSON(v)
	}
	s := v.Schedule
	fmt.Fprintf(a.out, "Job:        %s\nCluster:    %s\nSchedule:   %s (every %s, offset %s)\nLabel:      %s\nRetention:  %s\nPaused:     %t %s\n",
		v.ID, v.ClusterID, s.ID, v.Every, v.Offset, dash(v.Label), v.Retention, s.Paused, s.Note)
	if v.DeletedAt != nil {
		fmt.Fprintf(a.out, "Deleted:    %s\n", ts(v.DeletedAt))
		return nil
	}
	fmt.Fprintf(a.out, "Runs:       %d taken, %d missed (outside the catch-up window), %d skipped (previous run still running)\n", s.Runs, s.MissedCatchup, s.SkippedOverlap)
	fresh := "fresh"
	if v.Monitor.Stale {
		fresh = "STALE: no Completed backup within the freshness bound (see the monitor's notifications)"
	}
	fmt.Fprintf(a.out, "Freshness:  %s\n", fresh)
	if len(s.Running) > 0 {
		fmt.Fprintf(a.out, "Running:    %s\n", strings.Join(s.Running, ", "))
	}
	for i, t := range s.NextRuns {
		if i == 0 {
			fmt.Fprintf(a.out, "Next runs:  %s\n", ts(&t))
		} else {
			fmt.Fprintf(a.out, "            %s\n", ts(&t))
		}
	}
	if len(s.RecentRuns) > 0 {
		fmt.Fprintln(a.out)
		var rows [][]string
		for _, r := range s.RecentRuns {
			rows = append(rows, []string{ts(&r.ScheduledAt), ts(&r.StartedAt), r.BackupID, r.WorkflowID})
		}
		table(a.out, "SCHEDULED\tSTARTED\tBACKUP\tWORKFLOW", rows)
	}
	return nil
}

func (a *app) scheduleUpdate() *cobra.Command {
	var every, offset time.Duration
	var label string
	var rf retentionFlags
	cmd := &cobra.Command{
		Use: "update ID [--every D] [--offset D] [--label T] [--keep N | --keep-hourly H ...]", Short: "Change a job; its Temporal Schedule follows", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u strata.JobUpdate
			f := cmd.Flags()
			if f.Changed("every") {
				u.Every = &every
			}
			if f.Changed("offset") {
				u.Offset = &offset
			}
			if f.Changed("label") {
				u.Label = &label
			}
			if rf.set(cmd) {
				p := rf.policy()
				u.Retention = &p
			}
			if u == (strata.JobUpdate{}) {
				return fmt.Errorf("nothing to change: give --every, --offset, --label or a retention flag")
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			v, err := c.UpdateJob(cmd.Context(), args[0], u)
			if err != nil {
				return err
			}
			return a.printJob(v)
		},
	}
	cmd.Flags().DurationVar(&every, "every", 0, "interval, 1h or more")
	cmd.Flags().DurationVar(&offset, "offset", 0, "shift within the interval")
	cmd.Flags().StringVar(&label, "label", "", "label template")
	rf.add(cmd)
	return cmd
}

func (a *app) schedulePause(pause bool) *cobra.Command {
	use, short := "resume ID", "Resume a paused job"
	if pause {
		use, short = "pause ID", "Pause a job (no runs until resumed)"
	}
	return objectCmd(a, use, short, func(c *strata.Client, ctx context.Context, id string) (api.JobView, error) {
		return c.PauseJob(ctx, id, pause)
	}, a.printJob)
}

func (a *app) scheduleTrigger() *cobra.Command {
	return a.actionCmd("trigger ID", "Run a job now (skipped if its previous run is still running)",
		"jobId", "triggered", "job", "triggered", func(ctx context.Context, c *strata.Client, id string) error {
			return c.TriggerJob(ctx, id)
		})
}

func (a *app) scheduleDelete() *cobra.Command {
	return a.actionCmd("delete ID", "Delete a job and its schedule; its backups stay (delete them with `backup delete`)",
		"jobId", "deleted", "job", "deleted; its backups stay", func(ctx context.Context, c *strata.Client, id string) error {
			return c.DeleteJob(ctx, id)
		})
}

func (a *app) schedulePrune() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use: "prune ID [--dry-run]", Short: "Apply the job's retention now; --dry-run prints what would be deleted and why", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if dryRun {
				ds, err := c.PrunePlan(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if a.json {
					if ds == nil {
						ds = []retention.Decision{}
					}
					return a.printJSON(ds)
				}
				var rows [][]string
				for _, d := range ds {
					action := "keep"
					if d.Delete {
						action = "DELETE"
					}
					rows = append(rows, []string{action, d.BackupID, d.Label, string(d.Status), ts(&d.CreatedAt), d.Reason})
				}
				table(a.out, "ACTION\tBACKUP\tLABEL\tSTATUS\tCREATED\tWHY", rows)
				return nil
			}
			res, err := c.PruneJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.out, "job %s pruned: %d deleted, %d failed\n", args[0], len(res.Deleted), len(res.Failed))
			for _, f := range res.Failed {
				fmt.Fprintf(a.out, "  %s: %s\n", f.BackupID, f.Reason)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only print the plan")
	return cmd
}
