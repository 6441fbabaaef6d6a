// Package localfaults feeds the catalog's per-cluster fault settings to the
// local provider, which keeps its own Faults type so that providers do not
// depend on the catalog. Every worker that builds a local provider (the
// worker command, test workers, benchmarks) wires it through here.
package localfaults

import (
	"context"

	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/providers/local"
)

// Convert is f as the local provider's Faults. It is a plain conversion,
// which compiles only while the two types have the same fields: a fault
// added to one and not the other fails the build here.
func Convert(f catalog.Faults) local.Faults { return local.Faults(f) }

// FromCatalog adapts a catalog fault lookup (catalog.Store's GetFaults) to
// local.Options.Faults.
func FromCatalog(get func(ctx context.Context, clusterID string) (catalog.Faults, error)) func(ctx context.Context, clusterID string) (local.Faults, error) {
	return func(ctx context.Context, clusterID string) (local.Faults, error) {
		f, err := get(ctx, clusterID)
		return Convert(f), err
	}
}
