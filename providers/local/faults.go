package local

import (
	"context"
	"fmt"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/providers"
)

// Faults drive the local provider's failure paths for one cluster, so that
// tests and demos can make a backup or restore slow, fail or hang without
// code. Snapshot metadata on disk records them with these JSON names; the
// worker's catalog stores the same shape.
type Faults struct {
	// SnapshotDelay: each snapshot takes at least this long to complete.
	SnapshotDelay api.Duration `json:"snapshotDelay,omitempty"`
	// SnapshotFail: snapshots fail once their delay has passed.
	SnapshotFail bool `json:"snapshotFail,omitempty"`
	// SnapshotHang: snapshots never complete.
	SnapshotHang bool `json:"snapshotHang,omitempty"`
	// RestoreDelay: creating each volume from this cluster's snapshots
	// takes at least this long.
	RestoreDelay api.Duration `json:"restoreDelay,omitempty"`
	// RestoreFail: restores of this cluster's backups fail when they
	// provision nodes, after every volume was created.
	RestoreFail bool `json:"restoreFail,omitempty"`
}

// faultsOf looks up clusterID's faults for the work described by what
// (for the error message); none when the provider has no lookup.
func (p *Provider) faultsOf(ctx context.Context, clusterID, what string) (Faults, error) {
	if p.faults == nil {
		return Faults{}, nil
	}
	f, err := p.faults(ctx, clusterID)
	if err != nil {
		return Faults{}, &providers.Error{Provider: Name, Kind: providers.Transient,
			Message: fmt.Sprintf("look up faults of cluster %s for %s: %v", clusterID, what, err), Err: err}
	}
	return f, nil
}
