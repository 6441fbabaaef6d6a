package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/providers"
)

// Reconciler compares the catalog with the providers and with Temporal:
// orphan snapshots, missing ones, and records whose workflow closed
// without finishing them, which it finishes with the other domains' steps.
type Reconciler struct {
	Common
	Catalog   catalog.Store
	Providers providers.Registry
	Config    Config
	// Workflows reads workflows' states from Temporal; nil skips the
	// check of records left by closed workflows.
	Workflows WorkflowLookup
	Backups   *Backups
	Deletions *Deletions
	Restores  *Restores
}

// PlanReconcileInput asks for a reconciliation plan at a time.
type PlanReconcileInput struct {
	Grace time.Duration
	Now   time.Time
}

// PlanReconcile compares every provider's Strata-tagged snapshots with the
// catalog. Orphans: snapshots of Defunct or Deleted backups, or of backups
// the catalog does not know, older than the grace period (a timed-out
// backup's snapshot may complete, and cost money, long after the backup
// ended). Missing: snapshots of Completed backups that are gone.
func (a *Reconciler) PlanReconcile(ctx context.Context, in PlanReconcileInput) (api.ReconcilePlan, error) {
	plan := api.ReconcilePlan{Orphans: []api.Orphan{}, Missing: []api.Missing{}}
	if msg := validate.Grace(in.Grace); msg != "" {
		return plan, InvalidRequest("invalid reconcile request: %s", msg)
	}
	// owners holds what the plan needs of each snapshot's backup (its
	// status and reason, not the record): at a fleet's hundreds of
	// thousands of snapshots, the backups are looked up in chunks of
	// catalog.MaxFilterIDs, not one by one.
	owners := map[string]backupOwner{}
	for _, key := range sortedKeys(a.Providers) {
		p := a.Providers[key]
		snaps, err := p.ListSnapshots(ctx, providers.SnapshotFilter{})
		if err != nil {
			return plan, classify(err, "listing snapshots at "+key)
		}
		if err := a.lookupOwners(ctx, snaps, owners); err != nil {
			return plan, err
		}
		for _, s := range snaps {
			b := owners[s.BackupID]
			var why, owner string
			switch {
			case !b.known:
				why, owner = "backup unknown to the catalog", api.OrphanOfUnknown
			case b.status == catalog.BackupDefunct:
				why, owner = "backup is Defunct: "+b.reason, api.OrphanOfDefunct
			case b.status == catalog.BackupDeleted:
				why, owner = "backup is Deleted", api.OrphanOfDeleted
			default:
				continue // Completed, Missing, running or being deleted: not an orphan
			}
			if in.Now.Sub(s.CreatedAt) < in.Grace {
				plan.Skipped++
				continue
			}
			plan.Orphans = append(plan.Orphans, api.Orphan{Provider: key, SnapshotID: s.ID, BackupID: s.BackupID, ClusterID: s.ClusterID,
				VolumeID: s.VolumeID, CreatedAt: s.CreatedAt, Reason: why, Owner: owner})
		}
	}
	missing, err := a.findMissing(ctx)
	if err != nil {
		return plan, err
	}
	plan.Missing = append(plan.Missing, missing...)
	if plan.Stuck, err = a.findStuck(ctx, in.Now); err != nil {
		return plan, err
	}
	return plan, nil
}

// backupOwner is a snapshot's backup as the orphan scan sees it.
type backupOwner struct {
	known  bool
	status catalog.BackupStatus
	reason string
}

// lookupOwners adds the backups of snaps that owners does not have yet,
// catalog.MaxFilterIDs per query; a backup the catalog does not know is
// recorded as unknown.
func (a *Reconciler) lookupOwners(ctx context.Context, snaps []providers.Snapshot, owners map[string]backupOwner) error {
	var ids []string
	for _, s := range snaps {
		if _, ok := owners[s.BackupID]; !ok {
			owners[s.BackupID] = backupOwner{}
			ids = append(ids, s.BackupID)
		}
	}
	for i := 0; i < len(ids); i += catalog.MaxFilterIDs {
		chunk := ids[i:min(i+catalog.MaxFilterIDs, len(ids))]
		found, err := a.Catalog.ListBackups(ctx, catalog.BackupFilter{IDs: chunk, IncludeDeleted: true})
		if err != nil {
			return classify(err, fmt.Sprintf("looking up %d backups", len(chunk)))
		}
		for _, b := range found {
			owners[b.ID] = backupOwner{known: true, status: b.Status, reason: b.Reason}
		}
	}
	return nil
}

// missingBatch is how many snapshot IDs findMissing asks a provider about
// at once: clusters' Completed backups are pooled, so that a fleet of small
// clusters costs a few large calls per provider, not one call per cluster.
const missingBatch = 1000

// findMissing asks each provider, in batches pooled across clusters, for
// the snapshots of every Completed backup. Its memory is one batch per
// provider however large the catalog.
func (a *Reconciler) findMissing(ctx context.Context) ([]api.Missing, error) {
	clusters, err := a.Catalog.ListClusters(ctx)
	if err != nil {
		return nil, classify(err, "listing clusters")
	}
	// One pool per provider instance (a region-less provider serves
	// clusters of any region), in the order first seen.
	type pool struct {
		p    providers.Provider
		key  string
		refs []api.Missing // what each snapshot would be reported as
	}
	pools := map[providers.Provider]*pool{}
	var order []*pool
	out := []api.Missing{}
	check := func(pl *pool) error {
		if len(pl.refs) == 0 {
			return nil
		}
		ids := make([]string, len(pl.refs))
		for i, r := range pl.refs {
			ids[i] = r.SnapshotID
		}
		got, err := pl.p.GetSnapshots(ctx, ids)
		if err != nil {
			return classify(err, fmt.Sprintf("checking %d snapshots at %s", len(ids), pl.key))
		}
		exists := make(map[string]bool, len(got))
		for _, s := range got {
			exists[s.ID] = true
		}
		for _, r := range pl.refs {
			if !exists[r.SnapshotID] {
				out = append(out, r)
			}
		}
		pl.refs = pl.refs[:0]
		return nil
	}
	for _, cl := range clusters {
		p, err := a.Providers.For(cl.Provider, cl.Region)
		if err != nil {
			continue // this worker does not serve that cloud region
		}
		pl := pools[p]
		if pl == nil {
			pl = &pool{p: p, key: providers.Key(cl.Provider, cl.Region)}
			pools[p] = pl
			order = append(order, pl)
		}
		done, err := a.Catalog.ListBackups(ctx, catalog.BackupFilter{ClusterID: cl.ID, Statuses: []catalog.BackupStatus{catalog.BackupCompleted}})
		if err != nil {
			return nil, classify(err, "listing Completed backups of cluster "+cl.ID)
		}
		for _, b := range done {
			for _, s := range b.Snapshots {
				pl.refs = append(pl.refs, api.Missing{BackupID: b.ID, ClusterID: b.ClusterID, VolumeID: s.VolumeID, SnapshotID: s.SnapshotID})
			}
		}
		if len(pl.refs) >= missingBatch {
			if err := check(pl); err != nil {
				return nil, err
			}
		}
	}
	for _, pl := range order {
		if err := check(pl); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ApplyReconcile deletes the orphans (gone already counts as deleted) and
// records them on their backups when the catalog knows them, and marks the
// backups with missing snapshots Missing. Idempotent.
func (a *Reconciler) ApplyReconcile(ctx context.Context, plan api.ReconcilePlan) error {
	var errs []error
	for _, o := range plan.Orphans {
		p, ok := a.Providers[o.Provider]
		if !ok {
			continue
		}
		if err := p.DeleteSnapshot(ctx, o.SnapshotID); err != nil {
			errs = append(errs, classify(err, fmt.Sprintf("orphan snapshot %s (backup %s)", o.SnapshotID, o.BackupID)))
			continue
		}
		if b, err := a.Catalog.GetBackup(ctx, o.BackupID); err == nil {
			_ = a.Catalog.UpsertSnapshots(ctx, b.ID, []catalog.Snapshot{{NodeID: nodeOf(b, o.VolumeID), VolumeID: o.VolumeID, SnapshotID: o.SnapshotID, Status: catalog.SnapshotDeleted}}, nil)
		}
		a.log().Info("orphan snapshot deleted", zap.String("snapshot", o.SnapshotID), zap.String("backup", o.BackupID), zap.String("reason", o.Reason))
	}
	for _, s := range plan.Stuck {
		if err := a.finishStuck(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	marked := map[string]bool{}
	for _, m := range plan.Missing {
		if marked[m.BackupID] {
			continue
		}
		marked[m.BackupID] = true
		var gone []string
		for _, x := range plan.Missing {
			if x.BackupID == m.BackupID {
				gone = append(gone, x.SnapshotID+" ("+x.VolumeID+")")
			}
		}
		_, err := a.Catalog.TransitionBackup(ctx, m.BackupID, catalog.Transition{
			To: catalog.BackupMissing, From: []catalog.BackupStatus{catalog.BackupCompleted}, At: a.now(),
			Reason: "SnapshotMissing: snapshots gone at the provider: " + strings.Join(gone, ", "),
		})
		var te *catalog.TransitionError
		if err != nil && !errors.As(err, &te) {
			errs = append(errs, classify(err, "backup "+m.BackupID))
		}
	}
	return errors.Join(errs...)
}

func nodeOf(b catalog.Backup, volumeID string) string {
	for _, s := range b.Snapshots {
		if s.VolumeID == volumeID {
			return s.NodeID
		}
	}
	return ""
}
