// Package observability tests what a worker shows of itself on a real
// Temporal server: its /metrics after known workloads, the shipped
// dashboard and alert rules against a real scrape, and the CLI's progress
// line on a terminal. It is a package of its own, with its own server, so
// that package e2e stays within Go's per-package test timeout.
package observability

import (
	"testing"

	"github.com/stratabackup/strata/internal/stratatest"
)

var server *stratatest.Server

func TestMain(m *testing.M) { stratatest.Main(m, &server) }
