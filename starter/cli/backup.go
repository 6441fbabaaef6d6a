package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/labels"
	"github.com/stratabackup/strata/starter/strata"
)

func (a *app) backupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "backup", Short: "Take, list, inspect, cancel and extend backups"}
	cmd.AddCommand(a.backupCreate(), a.backupList(), a.backupShow(), a.backupCancel(), a.backupExtend(), a.backupDelete())
	return cmd
}

func (a *app) backupCreate() *cobra.Command {
	var req api.BackupRequest
	var timeout time.Duration
	var wait bool
	cmd := &cobra.Command{
		Use:   "create --cluster ID [--label T] [--timeout D] [--request-id R] [--wait]",
		Short: "Start a backup of a cluster",
		Long:  "Start a backup of a cluster.\n\n" + labels.Help,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			req.Timeout = api.Duration(timeout)
			run, err := c.StartBackup(cmd.Context(), req)
			if err != nil {
				return err
			}
			if !wait {
				if a.json {
					return a.printJSON(run)
				}
				fmt.Fprintf(a.out, "backup %s started (workflow %s)\nwatch it: go run ./starter backup show %s\n", run.BackupID, run.WorkflowID, run.BackupID)
				return nil
			}
			if !a.json && isTerminal(a.errOut) {
				// A person watching learns the ID at once; scripts get only
				// the result, or one line of error.
				fmt.Fprintf(a.errOut, "backup %s started (workflow %s); waiting...\n", run.BackupID, run.WorkflowID)
			}
			stop := a.watch(cmd.Context(), "backup "+run.BackupID, backupProgress(c, run.WorkflowID))
			b, err := run.Wait(cmd.Context())
			stop()
			var be *strata.BackupError
			if errors.As(err, &be) && be.Backup != nil {
				if a.json {
					_ = a.printJSON(be.Backup)
				} else {
					a.printBackup(*be.Backup, nil)
				}
				return err
			}
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(b)
			}
			a.printBackup(b, nil)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.ClusterID, "cluster", "", "cluster ID (required)")
	f.StringVar(&req.Label, "label", "", "label template (default "+labels.Default+"; see --help)")
	f.DurationVar(&timeout, "timeout", 0, "snapshot deadline, from when the backup is InProgress (default: the worker's, 1h)")
	f.StringVar(&req.RequestID, "request-id", "", "idempotency key: the same key never starts a second backup")
	f.BoolVar(&wait, "wait", false, "wait for the backup to end; exit non-zero with the reason if it is Defunct")
	_ = cmd.MarkFlagRequired("cluster")
	return cmd
}

// backupGroup is one job's backups (JobID "" for manual backups), as
// `backup list` shows them, like a console's Backups view.
type backupGroup struct {
	JobID   string       `json:"jobId"`
	Backups []api.Backup `json:"backups"`
}

// groupByJob keeps the newest-first order within each group and orders
// groups by their newest backup; manual backups form one group.
func groupByJob(bs []api.Backup) []backupGroup {
	var groups []backupGroup
	index := map[string]int{}
	for _, b := range bs {
		i, ok := index[b.JobID]
		if !ok {
			i = len(groups)
			index[b.JobID] = i
			groups = append(groups, backupGroup{JobID: b.JobID})
		}
		groups[i].Backups = append(groups[i].Backups, b)
	}
	if groups == nil {
		groups = []backupGroup{}
	}
	return groups
}

func (a *app) backupList() *cobra.Command {
	var f api.BackupFilter
	cmd := &cobra.Command{
		Use: "list [--cluster ID] [--all]", Short: "List backups grouped by job (manual backups together), newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if !a.json {
				f.View = api.BackupViewBasic // the table shows no snapshot
			}
			bs, err := c.ListBackups(cmd.Context(), f)
			if err != nil {
				return err
			}
			groups := groupByJob(bs)
			if a.json {
				return a.printJSON(groups)
			}
			for i, g := range groups {
				if i > 0 {
					fmt.Fprintln(a.out)
				}
				if g.JobID == "" {
					fmt.Fprintf(a.out, "Manual backups (%d)\n", len(g.Backups))
				} else {
					fmt.Fprintf(a.out, "Job %s (%d)\n", g.JobID, len(g.Backups))
				}
				var rows [][]string
				for _, b := range g.Backups {
					reason := b.Reason
					if b.DeletionError != "" {
						reason = b.DeletionError
					}
					rows = append(rows, []string{b.ID, b.ClusterID, b.Label, string(b.Status), ts(&b.CreatedAt), ts(b.CompletedAt), dash(reason)})
				}
				table(a.out, "ID\tCLUSTER\tLABEL\tSTATUS\tCREATED\tCOMPLETED\tREASON", rows)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.ClusterID, "cluster", "", "only this cluster's backups")
	cmd.Flags().StringVar(&f.JobID, "job", "", "only this job's backups")
	cmd.Flags().BoolVar(&f.IncludeDeleted, "all", false, "include Deleted backups")
	cmd.Flags().IntVar(&f.Limit, "limit", 0, "at most this many (0: all)")
	return cmd
}

func (a *app) backupDelete() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use: "delete ID [--wait]", Short: "Delete a backup: its snapshots at the provider, then the record becomes Deleted", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			stop := func() {}
			if wait {
				stop = a.watch(cmd.Context(), "backup "+args[0], deletionProgress(c, args[0]))
			}
			b, err := c.DeleteBackup(cmd.Context(), args[0], wait)
			stop()
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(b)
			}
			fmt.Fprintf(a.out, "backup %s is %s\n", b.ID, b.Status)
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until it is Deleted (exit 1 with the reason if deletion fails)")
	return cmd
}

func (a *app) backupShow() *cobra.Command {
	return &cobra.Command{
		Use: "show ID", Short: "Show a backup (ID or workflow ID), with live progress while it runs", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			b, err := c.GetBackup(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(b)
			}
			var live *api.BackupProgress
			if !b.Status.Terminal() {
				if tc, err := a.reconnect(cmd); err == nil {
					if p, err := tc.BackupStatus(cmd.Context(), b.ID); err == nil {
						live = &p
					}
				}
			}
			a.printBackup(b, live)
			return nil
		},
	}
}

// reconnect upgrades a catalog-only client to one with Temporal.
func (a *app) reconnect(cmd *cobra.Command) (*strata.Client, error) {
	if a.client != nil && a.client.Temporal != nil {
		return a.client, nil
	}
	if a.client != nil {
		_ = a.client.Close()
		a.client = nil
	}
	return a.connect(cmd)
}

func (a *app) backupCancel() *cobra.Command {
	return a.actionCmd("cancel ID", "Cancel a running backup: it ends Defunct (Cancelled) and its lock is released",
		"backupId", "cancelRequested", "cancellation of backup", "requested", func(ctx context.Context, c *strata.Client, id string) error {
			return c.CancelBackup(ctx, id)
		})
}

func (a *app) backupExtend() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use: "extend ID --timeout D", Short: "Give a running backup a longer timeout (total, from when it went InProgress)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return fmt.Errorf("--timeout must be a positive duration such as 2h")
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			res, err := c.ExtendBackupTimeout(cmd.Context(), args[0], api.ExtendTimeoutRequest{Timeout: api.Duration(timeout)})
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			fmt.Fprintf(a.out, "backup %s deadline is now %s\n", args[0], ts(&res.Deadline))
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "new total timeout (required)")
	_ = cmd.MarkFlagRequired("timeout")
	return cmd
}

func (a *app) printBackup(b api.Backup, live *api.BackupProgress) {
	fmt.Fprintf(a.out, "Backup:    %s (%s)\nCluster:   %s\nJob:       %s\nIndex:     %d\nStatus:    %s\n", b.ID, b.Label, b.ClusterID, dash(b.JobID), b.Index, b.Status)
	if live != nil {
		// The step comes from the workflow; per-volume progress from the
		// catalog, which the wait activity updates on every poll.
		fmt.Fprintf(a.out, "Step:      %s (%d of %d snapshots completed)\n", live.Step, live.Completed, live.Total)
	}
	if b.Reason != "" {
		fmt.Fprintf(a.out, "Reason:    %s\n", b.Reason)
	}
	if b.DeletionError != "" {
		fmt.Fprintf(a.out, "Deletion:  %s\n", b.DeletionError)
	}
	if len(b.Holds) > 0 {
		fmt.Fprintf(a.out, "In use by: %s\n", strings.Join(b.Holds, ", "))
	}
	fmt.Fprintf(a.out, "Created:   %s\nStarted:   %s\nCompleted: %s\nDeadline:  %s\nWorkflow:  %s\n", ts(&b.CreatedAt), ts(b.StartedAt), ts(b.CompletedAt), ts(b.Deadline), b.WorkflowID)
	if db := b.Database; db != nil {
		// A postgres backup's backup mode: where it was held and the WAL
		// it spans (stop empty: backup mode did not end normally).
		fmt.Fprintf(a.out, "Database:  %s on node %s, timeline %d, WAL %s to %s\n", db.Engine, db.NodeID, db.Timeline, db.StartLSN, dash(db.StopLSN))
	}
	fmt.Fprintln(a.out)
	var rows [][]string
	for _, s := range b.Snapshots {
		rows = append(rows, []string{s.NodeID, s.VolumeID, dash(s.SnapshotID), string(s.Status), strconv.Itoa(s.Progress) + "%", dash(strings.TrimSpace(s.Error))})
	}
	table(a.out, "NODE\tVOLUME\tSNAPSHOT\tSTATUS\tPROGRESS\tERROR", rows)
}
