// Command starter is Strata's CLI: create clusters, take and watch backups,
// lock clusters for outside operations. Run `go run ./starter --help`.
//
// By default it finds the dev setup that `go run ./worker --dev` recorded in
// ./.strata; --catalog and --temporal-address (or STRATA_CATALOG and the
// SDK's TEMPORAL_* variables) point it at a production deployment.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/stratabackup/strata/starter/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
