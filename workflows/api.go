// Package workflows holds Strata's Temporal workflows: the sagas of
// backups, restores, deletions and prunes, and the reconciler, monitor and
// notification runs. Their names, inputs and results are package api's.
package workflows
