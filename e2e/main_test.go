package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/stratabackup/strata/internal/stratatest"
)

var server *stratatest.Server

func TestMain(m *testing.M) {
	stratatest.RunWorkerProcessIfAsked()
	var err error
	server, err = stratatest.StartServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Temporal test server:", err)
		os.Exit(1)
	}
	code := m.Run()
	server.Stop()
	os.Exit(code)
}
