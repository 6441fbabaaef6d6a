package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/starter/strata"
)

func (a *app) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "List, create and inspect clusters; set health, faults and locks"}
	cmd.AddCommand(a.clusterList(), a.clusterShow(), a.clusterCreate(), a.clusterConnect(), a.clusterRestorePoint(), a.clusterRestorePoints(), a.clusterHealth(), a.clusterFault(), a.clusterLock(), a.clusterUnlock(),
		a.clusterPowerOff(), a.clusterPowerOn(), a.clusterSetProfile(), a.clusterDelete(), a.clusterLifecycle())
	return cmd
}

func (a *app) clusterList() *cobra.Command {
	return listCmd(a, "list", "List clusters", "", "",
		func(ctx context.Context, c *strata.Client, _ string) ([]api.Cluster, error) {
			return c.ListClusters(ctx)
		},
		"ID\tENGINE\tPROVIDER\tREGION\tPOWER\tPROFILE\tNODES\tVOLUMES\tHEALTH\tLOCK\tDESCRIPTION",
		func(cl api.Cluster) []string {
			return []string{cl.ID, api.EngineOf(cl.Engine), cl.Provider, cl.Region, dash(cl.Power), dash(cl.Profile), strconv.Itoa(len(cl.Nodes)), strconv.Itoa(len(cl.Volumes())), healthSummary(cl), lockSummary(cl.Lock), dash(cl.Description)}
		})
}

func (a *app) clusterShow() *cobra.Command {
	return objectCmd(a, "show ID", "Show a cluster with its nodes, volumes and lock", (*strata.Client).GetCluster, a.printCluster)
}

func (a *app) printCluster(cl api.Cluster) error {
	if a.json {
		return a.printJSON(cl)
	}
	status := string(cl.Status)
	if cl.StatusReason != "" {
		status += ": " + cl.StatusReason
	}
	fmt.Fprintf(a.out, "Cluster:     %s\nDescription: %s\nStatus:      %s\nEngine:      %s\nProvider:    %s (region %s)\nProject:     %s\nNetwork:     %s\nLock:        %s\n",
		cl.ID, dash(cl.Description), status, api.EngineOf(cl.Engine), cl.Provider, cl.Region, cl.ProjectID, cl.NetworkID, lockSummary(cl.Lock))
	power := dash(cl.Power)
	if cl.ClusterPower.Reason != "" {
		power += " (" + cl.ClusterPower.Reason + ")"
	}
	fmt.Fprintf(a.out, "Power:       %s\nProfile:     %s\n", power, dash(cl.Profile))
	if cl.Power == api.PowerPoweredOff || cl.PoweredOffAt != nil {
		fmt.Fprintf(a.out, "Powered off: %s (final backup %s)\nDeletion:    %s, with all its backups, unless powered on\n", ts(cl.PoweredOffAt), dash(cl.FinalBackupID), ts(cl.DeletionAt))
	}
	if cl.RestoredFrom != "" {
		fmt.Fprintf(a.out, "Restored from backup %s\n", cl.RestoredFrom)
	}
	fmt.Fprintln(a.out)
	var rows [][]string
	if api.EngineOf(cl.Engine) == api.EnginePostgres {
		for _, n := range cl.Nodes {
			lag := "-"
			if n.ReplicationLagSeconds != nil {
				lag = fmt.Sprintf("%.1fs", *n.ReplicationLagSeconds)
			}
			for _, v := range n.Volumes {
				rows = append(rows, []string{n.ID, n.Role, n.Endpoint, strconv.FormatBool(n.Healthy), lag, v.ID, strconv.Itoa(v.SizeGB), v.Path})
			}
		}
		table(a.out, "NODE\tROLE\tENDPOINT\tHEALTHY\tLAG\tVOLUME\tSIZE_GB\tPATH", rows)
		if w := cl.WAL; w != nil {
			fmt.Fprintf(a.out, "\nWAL archive: %s\n  archived %d, last %s at %s\n", w.Archive, w.ArchivedCount, dash(w.LastArchived), timeOrDash(w.LastArchivedAt))
			if w.FailedCount > 0 {
				fmt.Fprintf(a.out, "  failed %d, last %s at %s\n", w.FailedCount, dash(w.LastFailed), timeOrDash(w.LastFailedAt))
			}
		}
		if w := cl.PITR; w != nil {
			fmt.Fprintf(a.out, "\nRestorable: %s to %s (WAL to %s)\n", w.From.UTC().Format(time.RFC3339Nano), w.To.UTC().Format(time.RFC3339Nano), w.ToLSN)
		}
		fmt.Fprintf(a.out, "\nConnect: starter cluster connect %s\n", cl.ID)
		return nil
	}
	for _, n := range cl.Nodes {
		for _, v := range n.Volumes {
			rows = append(rows, []string{n.ID, strconv.FormatBool(n.Healthy), v.ID, strconv.Itoa(v.SizeGB), v.Path})
		}
	}
	table(a.out, "NODE\tHEALTHY\tVOLUME\tSIZE_GB\tPATH", rows)
	return nil
}

func (a *app) clusterConnect() *cobra.Command {
	return objectCmd(a, "connect ID", "Print a libpq connection URI for a postgres cluster's primary (psql accepts it as is)",
		(*strata.Client).ConnectCluster, func(info api.ConnectInfo) error {
			if a.json {
				return a.printJSON(info)
			}
			fmt.Fprintln(a.out, info.URI)
			return nil
		})
}

func (a *app) clusterRestorePoint() *cobra.Command {
	return &cobra.Command{
		Use: "restore-point CLUSTER NAME", Short: "Make a named restore point on a postgres cluster (restore to it with restore --to-name NAME)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			p, err := c.CreateRestorePoint(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(p)
			}
			archived := "archived"
			if !p.Archived {
				archived = "not archived yet: restorable once it is"
			}
			fmt.Fprintf(a.out, "restore point %s of cluster %s at WAL %s, timeline %d (%s)\n", p.Name, p.ClusterID, p.LSN, p.Timeline, archived)
			return nil
		},
	}
}

func (a *app) clusterRestorePoints() *cobra.Command {
	return objectCmd(a, "restore-points CLUSTER", "List a postgres cluster's restore points, oldest first",
		(*strata.Client).ListRestorePoints, func(ps []api.RestorePoint) error {
			if a.json {
				if ps == nil {
					ps = []api.RestorePoint{}
				}
				return a.printJSON(ps)
			}
			rows := make([][]string, 0, len(ps))
			for _, p := range ps {
				rows = append(rows, []string{p.Name, p.LSN, strconv.Itoa(p.Timeline), ts(&p.CreatedAt)})
			}
			table(a.out, "NAME\tLSN\tTIMELINE\tCREATED", rows)
			return nil
		})
}

func (a *app) clusterCreate() *cobra.Command {
	var spec strata.ClusterSpec
	var dataMB int
	var nodes []string
	cmd := &cobra.Command{
		Use:   "create [--provider local --nodes N --disk-gb G | --provider aws|gcp --region R --network NET --node NAME=VOLUME[,VOLUME...] ...]",
		Short: "Create a local cluster (volumes with generated data, or --engine postgres: real PostgreSQL servers), or register an existing AWS or GCP cluster by its volumes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if spec.Provider != "" && spec.Provider != "local" {
				return a.registerCluster(cmd, spec, nodes)
			}
			if len(nodes) > 0 {
				return fmt.Errorf("--node registers existing cloud volumes: use it with --provider aws or gcp")
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if spec.Engine == api.EnginePostgres {
				if cmd.Flags().Changed("data-mb") {
					return fmt.Errorf("--data-mb generates data for volume clusters: a postgres cluster holds a real database; leave it out")
				}
				if !cmd.Flags().Changed("nodes") {
					spec.Nodes = 1
				}
			} else {
				spec.DataBytes = int64(dataMB) << 20
			}
			cl, err := c.CreateCluster(cmd.Context(), spec)
			if err != nil {
				return err
			}
			return a.printCluster(cl)
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.ID, "id", "", "cluster ID (generated when empty)")
	f.StringVar(&spec.Provider, "provider", "local", "provider")
	f.StringVar(&spec.Engine, "engine", api.EngineVolume, "what runs on the volumes: volume (generated data) or postgres (a PostgreSQL server per node: node 1 the primary, the others streaming replicas)")
	f.IntVar(&spec.Nodes, "nodes", 1, "number of nodes")
	f.IntVar(&spec.VolumesPerNode, "volumes-per-node", 1, "volumes per node")
	f.IntVar(&spec.DiskGB, "disk-gb", 10, "disk size of each volume in GB")
	f.StringVar(&spec.Description, "description", "", "description")
	f.StringVar(&spec.Region, "region", "", "region (local provider: \"local\")")
	f.StringVar(&spec.ProjectID, "project", "", "project (default \"default\")")
	f.StringVar(&spec.NetworkID, "network", "", "network (default \"default\")")
	f.IntVar(&dataMB, "data-mb", 2, "MB of generated data per volume (local provider)")
	f.StringArrayVar(&nodes, "node", nil, "aws/gcp: a node and its volumes, NAME=VOLUME[,VOLUME...] (EBS volume IDs; GCE zones/ZONE/disks/NAME); repeat per node")
	return cmd
}

func (a *app) registerCluster(cmd *cobra.Command, spec strata.ClusterSpec, nodes []string) error {
	req := api.RegisterClusterRequest{
		ID: spec.ID, Description: spec.Description, Provider: spec.Provider, Region: spec.Region,
		ProjectID: spec.ProjectID, NetworkID: spec.NetworkID,
	}
	for _, n := range nodes {
		name, vols, ok := strings.Cut(n, "=")
		if !ok || name == "" || vols == "" {
			return fmt.Errorf("--node %q: write NAME=VOLUME[,VOLUME...]", n)
		}
		req.Nodes = append(req.Nodes, api.RegisterNode{ID: name, Volumes: strings.Split(vols, ",")})
	}
	c, err := a.connect(cmd)
	if err != nil {
		return err
	}
	cl, err := c.RegisterCluster(cmd.Context(), req)
	if err != nil {
		return err
	}
	return a.printCluster(cl)
}

func (a *app) clusterHealth() *cobra.Command {
	var node string
	var healthy, unhealthy bool
	cmd := &cobra.Command{
		Use: "health ID --node NODE (--healthy|--unhealthy)", Short: "Mark a node healthy or unhealthy", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if healthy == unhealthy {
				return fmt.Errorf("give exactly one of --healthy or --unhealthy")
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if err := c.SetNodeHealth(cmd.Context(), args[0], node, healthy); err != nil {
				return err
			}
			cl, err := c.GetCluster(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printCluster(cl)
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "node ID")
	cmd.Flags().BoolVar(&healthy, "healthy", false, "mark healthy")
	cmd.Flags().BoolVar(&unhealthy, "unhealthy", false, "mark unhealthy")
	_ = cmd.MarkFlagRequired("node")
	return cmd
}

func (a *app) clusterFault() *cobra.Command {
	var delay, restoreDelay time.Duration
	var fail, hang, restoreFail, clear bool
	cmd := &cobra.Command{
		Use:   "fault ID [--snapshot-delay D] [--snapshot-fail] [--snapshot-hang] [--restore-delay D] [--restore-fail] [--clear]",
		Short: "Set the local provider's fault injection for a cluster (replaces the current settings)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set := delay != 0 || fail || hang || restoreDelay != 0 || restoreFail
			if clear && set {
				return fmt.Errorf("--clear cannot be combined with other fault flags")
			}
			if !clear && !set {
				return fmt.Errorf("give --snapshot-delay, --snapshot-fail, --snapshot-hang, --restore-delay, --restore-fail or --clear")
			}
			if delay < 0 || restoreDelay < 0 {
				return fmt.Errorf("--snapshot-delay and --restore-delay must not be negative")
			}
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			f := api.Faults{SnapshotDelay: api.Duration(delay), SnapshotFail: fail, SnapshotHang: hang,
				RestoreDelay: api.Duration(restoreDelay), RestoreFail: restoreFail}
			if err := c.SetFaults(cmd.Context(), args[0], f); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(f)
			}
			fmt.Fprintf(a.out, "cluster %s faults: snapshot delay=%s fail=%t hang=%t; restore delay=%s fail=%t\n", args[0], delay, fail, hang, restoreDelay, restoreFail)
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&delay, "snapshot-delay", 0, "each snapshot takes at least this long")
	f.BoolVar(&fail, "snapshot-fail", false, "snapshots fail")
	f.BoolVar(&hang, "snapshot-hang", false, "snapshots never complete")
	f.DurationVar(&restoreDelay, "restore-delay", 0, "creating each volume from this cluster's snapshots takes at least this long")
	f.BoolVar(&restoreFail, "restore-fail", false, "restores of this cluster's backups fail after creating their volumes")
	f.BoolVar(&clear, "clear", false, "remove all faults")
	return cmd
}

func (a *app) clusterLock() *cobra.Command {
	var holder string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use: "lock ID --holder NAME [--ttl D]", Short: "Lock a cluster for an outside operation; prints the token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			l, err := c.LockCluster(cmd.Context(), args[0], holder, ttl)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(l)
			}
			fmt.Fprintln(a.out, l.Token)
			fmt.Fprintf(a.errOut, "cluster %s locked by %q until %s; unlock with: starter cluster unlock %s --token %d\n", args[0], l.Holder, ts(&l.ExpiresAt), args[0], l.Token)
			return nil
		},
	}
	cmd.Flags().StringVar(&holder, "holder", "", "what holds the lock, e.g. \"resize\" (required)")
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "lease length; the lock frees itself after it")
	_ = cmd.MarkFlagRequired("holder")
	return cmd
}

func (a *app) clusterUnlock() *cobra.Command {
	var token int64
	cmd := &cobra.Command{
		Use: "unlock ID --token T", Short: "Release a lock taken with `cluster lock`", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			if err := c.UnlockCluster(cmd.Context(), args[0], token); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"clusterId": args[0], "released": true})
			}
			fmt.Fprintf(a.out, "cluster %s unlocked\n", args[0])
			return nil
		},
	}
	cmd.Flags().Int64Var(&token, "token", 0, "the token `cluster lock` printed (required)")
	_ = cmd.MarkFlagRequired("token")
	return cmd
}

func healthSummary(cl api.Cluster) string {
	if cl.Power != "" && cl.Power != api.PowerRunning {
		return "-" // no compute while powered off
	}
	var bad []string
	for _, n := range cl.Nodes {
		if !n.Healthy {
			bad = append(bad, n.ID)
		}
	}
	if len(bad) == 0 {
		return "healthy"
	}
	return "unhealthy: " + strings.Join(bad, ",")
}

func lockSummary(l *api.Lock) string {
	if l == nil {
		return "-"
	}
	return fmt.Sprintf("%s (token %d, until %s)", l.Holder, l.Token, ts(&l.ExpiresAt))
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
