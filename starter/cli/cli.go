// Package cli is the `starter` command: every subcommand, flag and output
// format. It is a package (not main) so tests run the real CLI in-process.
package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stratabackup/strata/starter/strata"
)

type app struct {
	dial      strata.DialOptions
	json      bool
	client    *strata.Client
	taskQueue string
	out       io.Writer
	errOut    io.Writer
}

// Run executes the CLI with args (without the program name) and returns the
// process exit code: 0 on success, 1 with a one-line reason on stderr
// otherwise.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{out: stdout, errOut: stderr}
	root := &cobra.Command{
		Use:           "starter",
		Short:         "Drive Strata: clusters, locks and backups",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.dial.DataDir, "data-dir", "", "directory of a `worker --dev` setup (default $STRATA_DATA_DIR or ./.strata)")
	pf.StringVar(&a.dial.TemporalAddress, "temporal-address", "", "Temporal frontend host:port (default $TEMPORAL_ADDRESS, else the dev setup's)")
	pf.StringVar(&a.dial.Namespace, "namespace", "", "Temporal namespace (default $TEMPORAL_NAMESPACE, else the dev setup's)")
	pf.StringVar(&a.taskQueue, "task-queue", "", "Strata's task queue (default \"strata\")")
	pf.StringVar(&a.dial.EncryptionKeyFile, "encryption-key-file", "", "the worker's payload key file (default $STRATA_ENCRYPTION_KEY_FILE, else the dev setup's)")
	pf.BoolVar(&a.json, "json", false, "print JSON (stable camelCase fields, see docs/cli.md)")
	root.AddCommand(a.clusterCmd(), a.backupCmd(), a.scheduleCmd(), a.restoreCmd(), a.projectCmd(), a.networkCmd(), a.reconcileCmd(), a.notifyCmd(), a.profileCmd())
	err := root.ExecuteContext(ctx)
	if a.client != nil {
		_ = a.client.Close()
	}
	if err != nil {
		fmt.Fprintln(stderr, "starter:", oneLine(err))
		return 1
	}
	return 0
}

// connect opens the client on first use: a Temporal connection, all any
// command needs.
func (a *app) connect(cmd *cobra.Command) (*strata.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	o := a.dial
	o.TaskQueue = a.taskQueue
	c, err := strata.Dial(cmd.Context(), o)
	if err != nil {
		return nil, err
	}
	a.client = c
	return c, nil
}
