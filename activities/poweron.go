package activities

import (
	"context"
	"fmt"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/catalog"
)

// PlanPowerOnInput asks for the plan of a power-on.
type PlanPowerOnInput struct {
	ClusterID string
	// LockToken is the lock the cluster's lifecycle holds for the power-on.
	LockToken int64
	// Generation names this power-on's volumes at the provider.
	Generation string
}

// PlanPowerOn plans the restore of a powered-off cluster into itself: the
// backup it powered off with (or, without one, its latest Completed
// backup), for a postgres cluster replayed to the end of its WAL archive,
// onto volumes and nodes that keep the cluster's own IDs. Every rule of a
// restore is checked as for any other.
func (a *Restores) PlanPowerOn(ctx context.Context, in PlanPowerOnInput) (RestorePlan, error) {
	cl, err := a.Catalog.GetCluster(ctx, in.ClusterID)
	if catalog.IsNotFound(err) {
		return RestorePlan{}, permanent(api.ReasonClusterNotFound, "cluster %s not found", in.ClusterID)
	}
	if err != nil {
		return RestorePlan{}, classify(err, "cluster "+in.ClusterID)
	}
	if cl.Power != api.PowerPoweringOn {
		return RestorePlan{}, permanent(api.ReasonInvalidState, "cluster %s is %s: a power-on restores only a cluster powering on", cl.ID, orUnknown(cl.Power))
	}
	if cl.Lock == nil || cl.Lock.Token != in.LockToken {
		return RestorePlan{}, permanent(api.ReasonLockLost, "cluster %s: the power-on's lock is no longer held", cl.ID)
	}
	req := api.RestoreRequest{BackupID: cl.FinalBackupID, Description: cl.Description}
	if req.BackupID != "" {
		if b, err := a.Catalog.GetBackup(ctx, req.BackupID); err != nil || b.Status != catalog.BackupCompleted {
			req.BackupID = "" // gone or not restorable: the latest Completed one
		}
	}
	if req.BackupID == "" {
		req.LatestOfCluster = cl.ID
	}
	plan, err := a.PlanRestore(ctx, PlanRestoreInput{Request: req, ClusterID: cl.ID})
	if err != nil {
		return plan, err
	}
	plan.InPlace, plan.Generation = true, in.Generation
	plan.Description = cl.Description
	if err := keepIDs(&plan, cl); err != nil {
		return RestorePlan{}, err
	}
	return plan, nil
}

// keepIDs gives a restore plan the cluster's own node and volume IDs: a
// node restored from a snapshot of one of the cluster's nodes is that
// node, the other nodes (a postgres cluster's replicas, made empty) are
// the cluster's remaining ones in order.
func keepIDs(plan *RestorePlan, cl catalog.Cluster) error {
	used := map[string]bool{}
	assigned := make([]bool, len(plan.Nodes))
	for i := range plan.Nodes {
		n := &plan.Nodes[i]
		if len(n.Volumes) > 0 && n.Volumes[0].SnapshotID != "" {
			if _, ok := nodeByID(cl, n.SourceNodeID); ok && !used[n.SourceNodeID] {
				n.NodeID = n.SourceNodeID
				used[n.NodeID], assigned[i] = true, true
			}
		}
	}
	for i := range plan.Nodes {
		n := &plan.Nodes[i]
		for _, orig := range cl.Nodes {
			if !assigned[i] && !used[orig.ID] {
				n.NodeID = orig.ID
				used[orig.ID], assigned[i] = true, true
			}
		}
		if !assigned[i] {
			return permanent(api.ReasonRestoreFailed, "cluster %s: its backup %s has more nodes than the cluster", cl.ID, plan.BackupID)
		}
	}
	for i := range plan.Nodes {
		n := &plan.Nodes[i]
		orig, _ := nodeByID(cl, n.NodeID)
		if len(orig.Volumes) < len(n.Volumes) {
			return permanent(api.ReasonRestoreFailed, "cluster %s: node %s has %d volumes, its backup %s %d", cl.ID, n.NodeID, len(orig.Volumes), plan.BackupID, len(n.Volumes))
		}
		for j := range n.Volumes {
			v := &n.Volumes[j]
			v.VolumeID = orig.Volumes[j].ID
			if v.SourceVolumeID != "" {
				for _, ov := range orig.Volumes {
					if ov.ID == v.SourceVolumeID {
						v.VolumeID = ov.ID
					}
				}
			}
			v.SizeGB = max(v.SizeGB, orig.Volumes[j].SizeGB)
		}
	}
	if len(plan.Nodes) == 0 {
		return permanent(api.ReasonRestoreFailed, "cluster %s: its backup %s restores no node", cl.ID, plan.BackupID)
	}
	return nil
}

// PowerOnGeneration is the name the volumes of a cluster's seq-th
// power-on get at the provider.
func PowerOnGeneration(seq int) string { return fmt.Sprintf("on%d", seq) }
