package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratabackup/strata/api"
)

func (a *app) reconcileCmd() *cobra.Command {
	var grace time.Duration
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "reconcile [--grace D] [--dry-run]",
		Short: "Delete orphan snapshots (of Defunct, Deleted or unknown backups) and mark backups whose snapshots are gone Missing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			// --grace 0s means zero: only a flag left out means the default.
			var given *time.Duration
			if cmd.Flags().Changed("grace") {
				given = &grace
			} else {
				grace = api.DefaultReconcileGrace
			}
			res, err := c.Reconcile(cmd.Context(), given, dryRun)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(res)
			}
			verb := "deleted"
			if !res.Applied {
				verb = "would delete"
			}
			var rows [][]string
			for _, o := range res.Plan.Orphans {
				rows = append(rows, []string{verb, o.Provider, o.SnapshotID, o.BackupID, o.VolumeID, ts(&o.CreatedAt), o.Reason})
			}
			fmt.Fprintf(a.out, "%d orphan snapshots, %d missing, %d left alone (younger than %s or in use), %d records whose workflow closed\n\n",
				len(res.Plan.Orphans), len(res.Plan.Missing), res.Plan.Skipped, grace, len(res.Plan.Stuck))
			table(a.out, "ACTION\tPROVIDER\tSNAPSHOT\tBACKUP\tVOLUME\tCREATED\tWHY", rows)
			for _, m := range res.Plan.Missing {
				fmt.Fprintf(a.out, "missing: snapshot %s of volume %s, backup %s (cluster %s)\n", m.SnapshotID, m.VolumeID, m.BackupID, m.ClusterID)
			}
			finish := "finished"
			if !res.Applied {
				finish = "would finish"
			}
			for _, st := range res.Plan.Stuck {
				fmt.Fprintf(a.out, "%s %s %s (%s): %s\n", finish, st.Kind, st.ID, st.Status, st.Reason)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", 0, "leave orphans younger than this alone (default 1h)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only print the plan")
	return cmd
}
