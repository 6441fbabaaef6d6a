// Command worker runs Strata's Temporal worker (see internal/workercmd).
//
//	go run ./worker --dev   # everything in one process, on this machine
//	go run ./worker         # production: an existing Temporal and a Postgres catalog
package main

import (
	"os"

	"github.com/stratabackup/strata/internal/workercmd"
)

func main() { os.Exit(workercmd.Main(os.Args[1:])) }
