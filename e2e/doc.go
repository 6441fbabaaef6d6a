// Package e2e holds Strata's end-to-end tests: the real workflows and
// activities, the SQLite catalog and the local provider, on a real
// in-process Temporal server, driven through the starter's Go client and
// CLI. Tests that need the server live here so that only this package pays
// for linking it.
package e2e
