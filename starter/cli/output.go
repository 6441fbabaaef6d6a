package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stratabackup/strata/starter/strata"
)

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func ts(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// isTerminal says whether w is a terminal (not a pipe, a file or
// /dev/null, which is a character device too).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// actionCmd is a command that does one thing to the object its argument
// names, then acknowledges it: {"<idKey>": ID, "<done>": true} with --json,
// else "<what> ID <verb>".
func (a *app) actionCmd(use, short string, idKey, done, what, verb string, do func(ctx context.Context, c *strata.Client, id string) error) *cobra.Command {
	return objectCmd(a, use, short, func(c *strata.Client, ctx context.Context, id string) (string, error) {
		return id, do(ctx, c, id)
	}, func(id string) error {
		if a.json {
			return a.printJSON(map[string]any{idKey: id, done: true})
		}
		fmt.Fprintf(a.out, "%s %s %s\n", what, id, verb)
		return nil
	})
}

// objectCmd is a command that fetches (or changes) the object its argument
// names and prints it with print.
func objectCmd[T any](a *app, use, short string, fetch func(c *strata.Client, ctx context.Context, id string) (T, error), print func(T) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			v, err := fetch(c, cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return print(v)
		},
	}
}

// listCmd is a command that lists things: --json prints them ([] for
// none), else a table. filter is the one optional flag (e.g. --cluster),
// whose value fetch receives.
func listCmd[T any](a *app, use, short, filterFlag, filterHelp string, fetch func(ctx context.Context, c *strata.Client, filter string) ([]T, error), header string, row func(T) []string) *cobra.Command {
	var filter string
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect(cmd)
			if err != nil {
				return err
			}
			items, err := fetch(cmd.Context(), c, filter)
			if err != nil {
				return err
			}
			if a.json {
				if items == nil {
					items = []T{}
				}
				return a.printJSON(items)
			}
			rows := make([][]string, 0, len(items))
			for _, it := range items {
				rows = append(rows, row(it))
			}
			table(a.out, header, rows)
			return nil
		},
	}
	if filterFlag != "" {
		cmd.Flags().StringVar(&filter, filterFlag, "", filterHelp)
	}
	return cmd
}

// oneLine keeps CLI errors to the one line docs/cli.md promises.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
