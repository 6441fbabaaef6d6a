package activities

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/notify"
)

// CheckArchivesInput asks the monitor to look at every postgres cluster's
// WAL archiving at a time.
type CheckArchivesInput struct {
	Now    time.Time
	MaxLag time.Duration
}

// CheckArchives looks at the WAL archiving of every Running postgres
// cluster: it is stalled when its primary has had a completed segment
// waiting to be archived for longer than MaxLag (the restorable window
// stops growing, and the primary's disk fills with WAL). It records the
// state on the cluster and returns one event per change: the stall once,
// its recovery once. A primary that does not answer is left as it was
// (its health is the backups' concern).
func (a *Monitor) CheckArchives(ctx context.Context, in CheckArchivesInput) ([]notify.Event, error) {
	if a.Databases == nil {
		// Nothing to read here; with no postgres cluster at all there is
		// nothing to read anywhere, and the gauges say so.
		if a.Fleet != nil {
			if cls, err := a.Catalog.ListClusters(ctx); err == nil && !slices.ContainsFunc(cls, isPostgres) {
				a.Fleet.SetArchives(in.Now, 0, 0)
			}
		}
		return nil, nil
	}
	if in.MaxLag <= 0 {
		in.MaxLag = api.DefaultMaxArchiveLag
	}
	clusters, err := a.Catalog.ListClusters(ctx)
	if err != nil {
		return nil, classify(err, "listing clusters")
	}
	var events []notify.Event
	var maxLag time.Duration
	stalledClusters := 0
	for _, cl := range clusters {
		if !isPostgres(cl) || cl.Status != catalog.ClusterRunning || a.Databases.ArchiveDir(cl.ID) == "" {
			continue
		}
		primary, ok := primaryOf(cl)
		if !ok {
			continue
		}
		st, err := a.Databases.Archiving(ctx, cl.ID, primary.Endpoint)
		if err != nil {
			a.log().Info("reading a cluster's WAL archiving failed", zap.String("cluster", cl.ID), zap.Error(err))
			continue
		}
		lag := time.Duration(0)
		if st.PendingSince != nil {
			lag = in.Now.Sub(*st.PendingSince)
		}
		stalled := lag > in.MaxLag
		maxLag = max(maxLag, lag)
		if stalled {
			stalledClusters++
		}
		if stalled == (cl.WALStalledSince != nil) {
			continue
		}
		ev := notify.Event{ClusterID: cl.ID, ProjectID: cl.ProjectID, Details: map[string]any{
			"archive": a.Databases.ArchiveDir(cl.ID), "maxArchiveLag": in.MaxLag.String(), "lastArchivedWal": st.LastArchived,
		}}
		var since *time.Time
		if stalled {
			since = st.PendingSince
			ev.Type = api.EventArchiveStalled
			ev.ID = notify.EventID(ev.Type, cl.ID, st.OldestPending)
			ev.Details["oldestPendingWal"], ev.Details["lag"] = st.OldestPending, lag.Round(time.Second).String()
			why := ""
			if st.LastFailed != "" {
				why = fmt.Sprintf("; archive_command last failed on %s", st.LastFailed)
			}
			ev.Summary = fmt.Sprintf("WAL archiving of cluster %s is stalled: segment %s has waited %s to be archived (bound %s)%s", cl.ID, st.OldestPending, lag.Round(time.Second), in.MaxLag, why)
		} else {
			ev.Type = api.EventArchiveRecovered
			ev.ID = notify.EventID(ev.Type, cl.ID, cl.WALStalledSince.String())
			ev.Summary = fmt.Sprintf("WAL archiving of cluster %s caught up (last archived %s)", cl.ID, st.LastArchived)
		}
		if err := a.Catalog.SetWALStalled(ctx, cl.ID, since); err != nil {
			return nil, classify(err, "cluster "+cl.ID)
		}
		events = append(events, ev)
	}
	a.Fleet.SetArchives(in.Now, maxLag, stalledClusters)
	return events, nil
}
