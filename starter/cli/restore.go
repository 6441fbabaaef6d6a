package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/starter/strata"
)

func (a *app) restoreCmd() *cobra.Command {
	var req api.RestoreRequest
	var wait bool
	var toTime string
	cmd := &cobra.Command{
		Use:   "restore (--backup ID | --latest-of-job JOB | --latest-of-cluster CLUSTER) [--nodes N] [--disk-gb G] [--network NET] [--project PROJ] [--description D] [--region R] [--provider P] [--to-time T | --to-lsn LSN | --to-name NAME] [--verify-sql SQL] [--wait]",
		Short: "Restore a backup into a new cluster (the source is never touched)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if toTime != "" {
				t, err := parseTime(toTime)
				if err != nil {
					return fmt.Errorf("--to-time %q: %v", toTime, err)
				}
				req.ToTime = &t
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			run, err := c.StartRestore(cmd.Context(), req)
			if err != nil {
				return err
			}
			if !wait {
				if a.json {
					return a.printJSON(run)
				}
				fmt.Fprintf(a.out, "restore %s started into new cluster %s (workflow %s)\nwatch it: go run ./starter restore show %s\n", run.RestoreID, run.ClusterID, run.WorkflowID, run.RestoreID)
				return nil
			}
			stop := a.watch(cmd.Context(), "restore "+run.RestoreID, restoreProgress(c, run.WorkflowID))
			res, err := run.Wait(cmd.Context())
			stop()
			var re *strata.RestoreError
			if errors.As(err, &re) && re.Result != nil {
				if a.json {
					_ = a.printJSON(re.Result)
				} else {
					a.printRestore(*re.Result, nil)
				}
				return err
			}
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			a.printRestore(res, nil)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.BackupID, "backup", "", "the backup to restore")
	f.StringVar(&req.LatestOfJob, "latest-of-job", "", "restore the job's newest Completed backup")
	f.StringVar(&req.LatestOfCluster, "latest-of-cluster", "", "restore the cluster's newest Completed backup")
	f.IntVar(&req.Nodes, "nodes", 0, "nodes of the new cluster (default: the source's)")
	f.IntVar(&req.DiskGB, "disk-gb", 0, "size of every new volume, at least the source's (default: the source's)")
	f.StringVar(&req.NetworkID, "network", "", "network (default: the source's)")
	f.StringVar(&req.ProjectID, "project", "", "project (default: the source's)")
	f.StringVar(&req.Description, "description", "", "description of the new cluster")
	f.StringVar(&req.Region, "region", "", "must be the source's")
	f.StringVar(&req.Provider, "provider", "", "must be the source's")
	f.StringVar(&req.RequestID, "request-id", "", "idempotency key: the same key never starts a second restore")
	f.StringVar(&toTime, "to-time", "", "postgres: replay WAL to this time (RFC 3339, e.g. 2026-12-01T10:00:00Z); with --latest-of-cluster the base backup is the newest that ends before it")
	f.StringVar(&req.ToLSN, "to-lsn", "", "postgres: replay WAL to this position (X/Y, as pg_current_wal_lsn() shows it)")
	f.StringVar(&req.ToName, "to-name", "", "postgres: replay WAL to this restore point (see cluster restore-point)")
	f.StringVar(&req.VerifySQL, "verify-sql", "", "postgres: a query the restored database must run without error (and not answer false) before the restore completes")
	f.BoolVar(&wait, "wait", false, "wait for the restore to end; exit 1 with the reason if it fails")
	cmd.AddCommand(a.restoreShow(), a.restoreList(), a.restoreCancel())
	return cmd
}

// parseTime reads a time in RFC 3339, with or without fractions of a
// second.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("give a time in RFC 3339, e.g. 2026-12-01T10:00:00Z")
	}
	return t, nil
}

func (a *app) restoreShow() *cobra.Command {
	return &cobra.Command{
		Use: "show ID", Short: "Show a restore, its new cluster and live step", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			res, live, err := c.GetRestore(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			a.printRestore(res, live)
			return nil
		},
	}
}

func (a *app) restoreList() *cobra.Command {
	return listCmd(a, "list [--backup ID]", "List restores, newest first", "backup", "only restores of this backup",
		func(ctx context.Context, c *strata.Client, backup string) ([]api.Restore, error) {
			return c.ListRestores(ctx, backup)
		},
		"ID\tBACKUP\tSOURCE\tCLUSTER\tSTATUS\tCREATED\tCOMPLETED\tREASON",
		func(r api.Restore) []string {
			return []string{r.ID, r.BackupID, r.SourceClusterID, r.ClusterID, string(r.Status), ts(&r.CreatedAt), ts(r.CompletedAt), dash(r.Reason)}
		})
}

func (a *app) restoreCancel() *cobra.Command {
	return a.actionCmd("cancel ID", "Cancel a running restore; what it created is deleted",
		"restoreId", "cancelRequested", "cancellation of restore", "requested", func(ctx context.Context, c *strata.Client, id string) error {
			return c.CancelRestore(ctx, id)
		})
}

func (a *app) printRestore(res api.RestoreResult, live *api.RestoreProgress) {
	r := res.Restore
	fmt.Fprintf(a.out, "Restore:   %s\nBackup:    %s (of cluster %s)\nStatus:    %s\n", r.ID, r.BackupID, r.SourceClusterID, r.Status)
	if live != nil {
		fmt.Fprintf(a.out, "Step:      %s (%d of %d volumes created)\n", live.Step, live.VolumesCreated, live.VolumesTotal)
		if rc := live.Recovery; rc != nil {
			fmt.Fprintf(a.out, "Recovery:  %s, replayed to %s (the backup ends at %s)\n", rc.Phase, dash(rc.ReplayLSN), rc.BackupStopLSN)
		}
	}
	if r.Target != nil {
		fmt.Fprintf(a.out, "Target:    %s\n", r.Target.String())
	}
	if r.Reason != "" {
		fmt.Fprintf(a.out, "Reason:    %s\n", r.Reason)
	}
	fmt.Fprintf(a.out, "Created:   %s\nCompleted: %s\nWorkflow:  %s\n\nNew cluster:\n", ts(&r.CreatedAt), ts(r.CompletedAt), r.WorkflowID)
	_ = a.printCluster(res.Cluster)
}

func (a *app) projectCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "project", Short: "Projects (clusters and networks belong to one)"}
	cmd.AddCommand(&cobra.Command{
		Use: "create NAME", Short: "Create a project", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			p, err := c.CreateProject(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(p)
			}
			fmt.Fprintf(a.out, "project %s\n", p.ID)
			return nil
		},
	}, listCmd(a, "list", "List projects", "", "",
		func(ctx context.Context, c *strata.Client, _ string) ([]api.Project, error) {
			return c.ListProjects(ctx)
		},
		"ID\tCREATED", func(p api.Project) []string { return []string{p.ID, ts(&p.CreatedAt)} }))
	return cmd
}

func (a *app) networkCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Networks (each in one project, provider and region)"}
	var n api.Network
	create := &cobra.Command{
		Use: "create NAME --project P [--provider local] [--region local]", Short: "Create a network", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			n.ID = args[0]
			got, err := c.CreateNetwork(cmd.Context(), n)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(got)
			}
			fmt.Fprintf(a.out, "network %s in project %s (%s/%s)\n", got.ID, got.ProjectID, got.Provider, got.Region)
			return nil
		},
	}
	create.Flags().StringVar(&n.ProjectID, "project", "", "project (required)")
	create.Flags().StringVar(&n.Provider, "provider", "local", "provider")
	create.Flags().StringVar(&n.Region, "region", "local", "region")
	_ = create.MarkFlagRequired("project")
	list := listCmd(a, "list [--project P]", "List networks", "project", "only this project's networks",
		func(ctx context.Context, c *strata.Client, project string) ([]api.Network, error) {
			return c.ListNetworks(ctx, project)
		},
		"ID\tPROJECT\tPROVIDER\tREGION", func(n api.Network) []string { return []string{n.ID, n.ProjectID, n.Provider, n.Region} })
	cmd.AddCommand(create, list)
	return cmd
}
