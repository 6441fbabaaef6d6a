package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/providers"
)

// Restores are the steps of a restore into a new cluster.
type Restores struct {
	Common
	Catalog   RestoreCatalog
	Providers providers.Registry
	// Provisioners bring up restored clusters' nodes, by provider name.
	Provisioners map[string]providers.Provisioner
	// Volumes create a postgres restore's empty replica volumes.
	Volumes map[string]VolumeProvisioner
	// Lifecycles start each restored cluster's lifecycle workflow.
	Lifecycles *LifecycleStarter
	// Databases recover postgres restores' servers (nil: none here).
	Databases DatabaseServers
	Config    Config
}

// RestoreCatalog is the part of the catalog a restore uses.
type RestoreCatalog interface {
	catalog.Clusters
	catalog.Backups
	catalog.Jobs
	catalog.Projects
	catalog.Restores
	catalog.RestorePoints
}

// PlanRestoreInput asks for a validated plan.
type PlanRestoreInput struct {
	Request   api.RestoreRequest
	ClusterID string
}

// RestorePlan is a validated restore: every name and size resolved.
type RestorePlan struct {
	BackupID         string
	SourceClusterID  string
	ClusterID        string
	Provider         string
	Region           string
	ProjectID        string
	NetworkID        string
	Description      string
	Nodes            []RestoreNode
	HeartbeatTimeout time.Duration
	// Engine is the source's; a postgres restore has a Recovery.
	Engine   string
	Recovery *RecoveryPlan
	// InPlace restores a powered-off cluster into itself (a power-on):
	// its record exists and keeps its IDs, and a failure leaves it to its
	// lifecycle, which releases what was made.
	InPlace bool
	// Generation, when set, is added to the volumes' names at the
	// provider: a cluster restored into its own IDs again must not get
	// the volumes an earlier attempt made and deleted (their names are
	// idempotency tokens).
	Generation string
}

// providerVolumeID is the name a planned volume gets at the provider.
func (p RestorePlan) providerVolumeID(volumeID string) string {
	if p.Generation == "" {
		return volumeID
	}
	return volumeID + "-" + p.Generation
}

// primaryNodeID is the node a postgres restore recovers the database on:
// the first planned.
func (p RestorePlan) primaryNodeID() string {
	if len(p.Nodes) == 0 {
		return ""
	}
	return p.Nodes[0].NodeID
}

// RestoreNode is a new node and the source node its volumes come from.
type RestoreNode struct {
	NodeID       string
	SourceNodeID string
	Volumes      []RestoreVolume
}

// RestoreVolume is a new volume and the snapshot it is created from
// (none: an empty volume, a postgres replica's, copied from the restored
// primary once it runs).
type RestoreVolume struct {
	VolumeID       string
	SourceVolumeID string
	SnapshotID     string
	SizeGB         int
	Zone           string
}

// Volumes lists every planned volume.
func (p RestorePlan) Volumes() []RestoreVolume {
	var out []RestoreVolume
	for _, n := range p.Nodes {
		out = append(out, n.Volumes...)
	}
	return out
}

// PlanRestore checks every rule before anything is created, and fails
// (not retried) with all problems in one message: the backup must be
// Completed with all its snapshots at the provider; provider and region stay
// the source's; disks are at least the source's; the project and network
// exist and the network is in that project, provider and region.
func (a *Restores) PlanRestore(ctx context.Context, in PlanRestoreInput) (RestorePlan, error) {
	req := in.Request
	if err := req.Check(); err != nil {
		return RestorePlan{}, InvalidRequest("%v", err)
	}
	b, err := a.resolveBackup(ctx, req)
	if err != nil {
		return RestorePlan{}, err
	}
	src, err := a.Catalog.GetCluster(ctx, b.ClusterID)
	if err != nil {
		return RestorePlan{}, classify(err, "backup "+b.ID)
	}
	plan := RestorePlan{
		BackupID: b.ID, SourceClusterID: src.ID, ClusterID: in.ClusterID, Provider: src.Provider, Region: src.Region,
		ProjectID: src.ProjectID, NetworkID: src.NetworkID, Description: req.Description,
		HeartbeatTimeout: a.Config.HeartbeatTimeout,
	}
	if plan.Description == "" {
		plan.Description = fmt.Sprintf("restore of %s (%s)", b.ID, src.ID)
	}
	var problems []string
	plan.Engine = api.EngineOf(src.Engine)
	if isPostgres(src) {
		var more []string
		b, plan.Recovery, more = a.planRecovery(ctx, req, b, src)
		plan.BackupID = b.ID
		problems = append(problems, more...)
	} else {
		if !req.Target().IsZero() {
			problems = append(problems, fmt.Sprintf("cluster %s is a %s cluster: a point-in-time target (--to-time, --to-lsn, --to-name) needs a postgres cluster's archived WAL", src.ID, plan.Engine))
		}
		if req.VerifySQL != "" {
			problems = append(problems, fmt.Sprintf("cluster %s is a %s cluster: --verify-sql needs a postgres cluster", src.ID, plan.Engine))
		}
	}
	if b.Status != catalog.BackupCompleted {
		problems = append(problems, fmt.Sprintf("backup %s is %s: only Completed backups can be restored", b.ID, b.Status))
	}
	if req.Provider != "" && req.Provider != src.Provider {
		problems = append(problems, fmt.Sprintf("provider %q: a restore stays on the source's provider %q, where backup %s's snapshots are", req.Provider, src.Provider, b.ID))
	}
	if req.Region != "" && req.Region != src.Region {
		problems = append(problems, fmt.Sprintf("region %q: a restore stays in the source's region %q, where backup %s's snapshots are", req.Region, src.Region, b.ID))
	}
	if req.ProjectID != "" {
		plan.ProjectID = req.ProjectID
	}
	if req.NetworkID != "" {
		plan.NetworkID = req.NetworkID
	} else if req.ProjectID != "" && req.ProjectID != src.ProjectID {
		problems = append(problems, fmt.Sprintf("project %q differs from the source's: give a network of that project (--network)", req.ProjectID))
	}
	problems = append(problems, a.checkPlacement(ctx, plan)...)

	// Topology: the backup's snapshots by source node, in node order.
	bySource := map[string][]catalog.Snapshot{}
	var sourceNodes []string
	for _, s := range b.Snapshots {
		if _, ok := bySource[s.NodeID]; !ok {
			sourceNodes = append(sourceNodes, s.NodeID)
		}
		bySource[s.NodeID] = append(bySource[s.NodeID], s)
	}
	nodes := req.Nodes
	if nodes == 0 {
		nodes = len(sourceNodes)
	}
	if nodes < 1 || nodes > 64 {
		problems = append(problems, fmt.Sprintf("nodes %d: give 1 to 64", req.Nodes))
	}
	if plan.Recovery != nil && nodes > validate.MaxPostgresNodes {
		problems = append(problems, fmt.Sprintf("nodes %d: a postgres cluster takes 1 to %d (a primary and up to %d replicas)", nodes, validate.MaxPostgresNodes, validate.MaxPostgresNodes-1))
	}
	preferred := b.PreferredNodeID
	if _, ok := bySource[preferred]; !ok && len(sourceNodes) > 0 {
		preferred = sourceNodes[0]
	}
	sizes := map[string]int{}
	zones := map[string]string{}
	for _, v := range src.Volumes() {
		sizes[v.ID], zones[v.ID] = v.SizeGB, v.Zone
	}
	if plan.Recovery != nil && plan.Recovery.BackupNodeID != "" {
		// The database comes from the node that held backup mode; the
		// others are its replicas, copied from it once it runs.
		preferred = plan.Recovery.BackupNodeID
		if _, ok := bySource[preferred]; !ok && b.Status == catalog.BackupCompleted {
			problems = append(problems, fmt.Sprintf("backup %s has no snapshot of node %s, which held backup mode", b.ID, preferred))
		}
	}
	var needed []string
	for i := 1; i <= nodes && len(sourceNodes) > 0; i++ {
		srcNode := preferred
		if nodes == len(sourceNodes) && plan.Recovery == nil {
			srcNode = sourceNodes[i-1]
		}
		n := RestoreNode{NodeID: fmt.Sprintf("%s-n%d", in.ClusterID, i), SourceNodeID: srcNode}
		for j, s := range bySource[srcNode] {
			size := max(s.SizeGB, sizes[s.VolumeID])
			if req.DiskGB > 0 {
				if req.DiskGB < size {
					problems = append(problems, fmt.Sprintf("disk size %d GB is smaller than source volume %s (%d GB): give --disk-gb %d or more", req.DiskGB, s.VolumeID, size, size))
				}
				size = max(req.DiskGB, size)
			}
			rv := RestoreVolume{
				VolumeID: fmt.Sprintf("%s-v%d", n.NodeID, j+1), SourceVolumeID: s.VolumeID, SnapshotID: s.SnapshotID,
				SizeGB: size, Zone: zones[s.VolumeID],
			}
			if plan.Recovery != nil && i > 1 {
				rv.SourceVolumeID, rv.SnapshotID = "", ""
			} else {
				needed = append(needed, s.SnapshotID)
			}
			n.Volumes = append(n.Volumes, rv)
		}
		plan.Nodes = append(plan.Nodes, n)
	}
	if len(sourceNodes) == 0 && b.Status == catalog.BackupCompleted {
		problems = append(problems, fmt.Sprintf("backup %s has no snapshots", b.ID))
	}
	if len(problems) == 0 {
		problems = append(problems, a.checkSnapshots(ctx, plan.Provider, plan.Region, b.ID, needed)...)
	}
	if len(problems) > 0 {
		return RestorePlan{}, permanent(api.ReasonInvalidRequest, "invalid restore of backup %s: %s", b.ID, strings.Join(dedupe(problems), "; "))
	}
	return plan, nil
}

func (a *Restores) resolveBackup(ctx context.Context, req api.RestoreRequest) (catalog.Backup, error) {
	given := 0
	for _, s := range []string{req.BackupID, req.LatestOfJob, req.LatestOfCluster} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return catalog.Backup{}, permanent(api.ReasonInvalidRequest, "invalid restore: give exactly one of backupId (--backup), latestOfJob (--latest-of-job) or latestOfCluster (--latest-of-cluster)")
	}
	if req.BackupID != "" {
		b, err := a.Catalog.GetBackup(ctx, req.BackupID)
		if catalog.IsNotFound(err) {
			return b, permanent(api.ReasonInvalidRequest, "invalid restore: backup %q not found", req.BackupID)
		}
		return b, classify(err, "backup "+req.BackupID)
	}
	f := catalog.BackupFilter{JobID: req.LatestOfJob, ClusterID: req.LatestOfCluster, Statuses: []catalog.BackupStatus{catalog.BackupCompleted}, Limit: 1}
	what := "job " + req.LatestOfJob
	if req.LatestOfCluster != "" {
		what = "cluster " + req.LatestOfCluster
	}
	bs, err := a.Catalog.ListBackups(ctx, f)
	if err != nil {
		return catalog.Backup{}, classify(err, what)
	}
	if len(bs) == 0 {
		return catalog.Backup{}, permanent(api.ReasonInvalidRequest, "invalid restore: %s has no Completed backup", what)
	}
	return bs[0], nil
}

func (a *Restores) checkPlacement(ctx context.Context, plan RestorePlan) []string {
	return CheckPlacement(ctx, a.Catalog, plan.ProjectID, plan.NetworkID, plan.Provider, plan.Region)
}

// CheckPlacement lists what is wrong with placing a cluster in a project and
// network: both must exist, and the network must be in that project and on
// the cluster's provider and region.
func CheckPlacement(ctx context.Context, cat catalog.Projects, projectID, networkID, provider, region string) []string {
	var problems []string
	if _, err := cat.GetProject(ctx, projectID); err != nil {
		problems = append(problems, fmt.Sprintf("project %s: %v (see `starter project list`)", validate.Quote(projectID), err))
	}
	n, err := cat.GetNetwork(ctx, networkID)
	switch {
	case err != nil:
		problems = append(problems, fmt.Sprintf("network %s: %v (see `starter network list`)", validate.Quote(networkID), err))
	case n.ProjectID != projectID:
		problems = append(problems, fmt.Sprintf("network %q belongs to project %q, not %s", n.ID, n.ProjectID, validate.Quote(projectID)))
	case n.Provider != provider || n.Region != region:
		problems = append(problems, fmt.Sprintf("network %q is on %s/%s, not %s/%s (give a network there, or create one with `starter network create`)",
			n.ID, n.Provider, n.Region, provider, region))
	}
	return problems
}

// checkSnapshots asks the provider, in one call, that every snapshot the
// restore needs exists and is complete.
func (a *Restores) checkSnapshots(ctx context.Context, provider, region, backupID string, ids []string) []string {
	p, err := a.Providers.For(provider, region)
	if err != nil {
		return []string{err.Error()}
	}
	got, err := p.GetSnapshots(ctx, dedupe(ids))
	if err != nil {
		return []string{fmt.Sprintf("checking backup %s's snapshots at %s: %v", backupID, provider, err)}
	}
	state := map[string]providers.SnapshotState{}
	for _, s := range got {
		state[s.ID] = s.State
	}
	var problems []string
	for _, id := range dedupe(ids) {
		switch st, ok := state[id]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("snapshot %s of backup %s no longer exists at %s", id, backupID, provider))
		case st != providers.StateCompleted:
			problems = append(problems, fmt.Sprintf("snapshot %s of backup %s is %s at %s, not completed", id, backupID, st, provider))
		}
	}
	return problems
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// CreateRestoreRecordInput records a restore.
type CreateRestoreRecordInput struct {
	RestoreID  string
	Plan       RestorePlan
	WorkflowID string
	CreatedAt  time.Time
}

// CreateRestoreRecord records the restore as Running.
func (a *Restores) CreateRestoreRecord(ctx context.Context, in CreateRestoreRecordInput) (catalog.Restore, error) {
	rec := catalog.Restore{
		ID: in.RestoreID, BackupID: in.Plan.BackupID, SourceClusterID: in.Plan.SourceClusterID, ClusterID: in.Plan.ClusterID,
		Status: catalog.RestorePending, WorkflowID: in.WorkflowID, CreatedAt: in.CreatedAt,
	}
	if rp := in.Plan.Recovery; rp != nil && !rp.Target.IsZero() {
		t := rp.Target
		rec.Target = &t
	}
	r, _, err := a.Catalog.CreateRestore(ctx, rec)
	if err != nil {
		return r, classify(err, "restore "+in.RestoreID)
	}
	r, err = a.Catalog.SetRestoreStatus(ctx, in.RestoreID, catalog.RestoreRunning, "", a.now())
	return r, classify(err, "restore "+in.RestoreID)
}

// FinishRestoreInput ends a restore.
type FinishRestoreInput struct {
	RestoreID string
	Status    catalog.RestoreStatus
	Reason    string
}

// FinishRestore records a restore's outcome.
func (a *Restores) FinishRestore(ctx context.Context, in FinishRestoreInput) (catalog.Restore, error) {
	r, err := a.Catalog.SetRestoreStatus(ctx, in.RestoreID, in.Status, in.Reason, a.now())
	return r, classify(err, "restore "+in.RestoreID)
}

// HoldInput protects a backup for an operation.
type HoldInput struct {
	BackupID string
	Holder   string
}

// HoldBackup protects the backup from pruning and deletion while the
// restore uses it; it fails, not retried, if the backup is being deleted.
func (a *Restores) HoldBackup(ctx context.Context, in HoldInput) error {
	err := a.Catalog.AddHold(ctx, in.BackupID, in.Holder)
	var te *catalog.TransitionError
	if errors.As(err, &te) {
		return permanent(api.ReasonInvalidRequest, "backup %s is %s: only Completed backups can be restored", in.BackupID, te.From)
	}
	return classify(err, "backup "+in.BackupID)
}

// ReleaseBackup removes the restore's hold.
func (a *Restores) ReleaseBackup(ctx context.Context, in HoldInput) error {
	return classify(a.Catalog.RemoveHold(ctx, in.BackupID, in.Holder), "backup "+in.BackupID)
}

// CreateRestoredCluster records the new cluster as Creating, its volumes
// without paths until they exist.
func (a *Restores) CreateRestoredCluster(ctx context.Context, plan RestorePlan) (catalog.Cluster, error) {
	cl := catalog.Cluster{
		ID: plan.ClusterID, Description: plan.Description, Provider: plan.Provider, Region: plan.Region,
		ProjectID: plan.ProjectID, NetworkID: plan.NetworkID, Status: catalog.ClusterCreating,
		RestoredFrom: plan.BackupID, CreatedAt: a.now(), Engine: api.EngineOf(plan.Engine),
	}
	for _, n := range plan.Nodes {
		node := catalog.Node{ID: n.NodeID, Healthy: false}
		for _, v := range n.Volumes {
			node.Volumes = append(node.Volumes, catalog.Volume{ID: v.VolumeID, NodeID: n.NodeID, SizeGB: v.SizeGB, Zone: v.Zone})
		}
		cl.Nodes = append(cl.Nodes, node)
	}
	err := a.Catalog.CreateCluster(ctx, cl)
	if err != nil && !errors.Is(err, catalog.ErrExists) {
		return cl, classify(err, "cluster "+plan.ClusterID)
	}
	got, err := a.Catalog.GetCluster(ctx, plan.ClusterID)
	return got, classify(err, "cluster "+plan.ClusterID)
}

// ClusterStatusInput sets a cluster's status.
type ClusterStatusInput struct {
	ClusterID string
	Status    catalog.ClusterStatus
	Reason    string
}

// SetClusterStatus records a cluster's status (Running, or Failed with the
// reason).
func (a *Restores) SetClusterStatus(ctx context.Context, in ClusterStatusInput) error {
	return classify(a.Catalog.SetClusterStatus(ctx, in.ClusterID, in.Status, in.Reason), "cluster "+in.ClusterID)
}

// CreateVolumes creates every volume of the new cluster from its snapshot,
// all in parallel (restore time follows the largest volume, not their
// number), and records each one as soon as it exists. Idempotent: a retry
// finds the volumes an earlier attempt created.
func (a *Restores) CreateVolumes(ctx context.Context, plan RestorePlan) ([]catalog.Volume, error) {
	p, err := a.Providers.For(plan.Provider, plan.Region)
	if err != nil {
		return nil, permanent(api.ReasonInvalidRequest, "restore into %s: %v", plan.ClusterID, err)
	}
	type job struct {
		node string
		vol  RestoreVolume
	}
	var jobs []job
	for _, n := range plan.Nodes {
		for _, v := range n.Volumes {
			jobs = append(jobs, job{n.NodeID, v})
		}
	}
	out := make([]catalog.Volume, len(jobs))
	stop := heartbeating(ctx)
	err = fanOut(len(jobs), 0, func(i int) error {
		j := jobs[i]
		subject := fmt.Sprintf("volume %s of cluster %s (from snapshot %s)", j.vol.VolumeID, plan.ClusterID, j.vol.SnapshotID)
		if j.vol.SnapshotID == "" {
			return a.createEmptyVolume(ctx, plan, j.node, j.vol, &out[i])
		}
		v, err := p.CreateVolume(ctx, providers.VolumeSpec{
			VolumeID: plan.providerVolumeID(j.vol.VolumeID), ClusterID: plan.ClusterID, NodeID: j.node, SnapshotID: j.vol.SnapshotID,
			SizeGB: j.vol.SizeGB, Zone: j.vol.Zone, SourceClusterID: plan.SourceClusterID,
		})
		if err != nil {
			return classify(err, subject)
		}
		if v.State == providers.VolumeFailed {
			return permanent(api.ReasonRestoreFailed, "%s failed at %s: %s", subject, plan.Provider, v.Error)
		}
		out[i] = catalog.Volume{ID: j.vol.VolumeID, NodeID: j.node, SizeGB: max(v.SizeGB, j.vol.SizeGB), Path: v.Ref, Zone: v.Zone}
		return classify(a.Catalog.UpdateVolumes(ctx, plan.ClusterID, []catalog.Volume{out[i]}), subject)
	})
	stop()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// createEmptyVolume makes a postgres restore's replica volume, empty.
func (a *Restores) createEmptyVolume(ctx context.Context, plan RestorePlan, node string, vol RestoreVolume, out *catalog.Volume) error {
	subject := fmt.Sprintf("volume %s of cluster %s", vol.VolumeID, plan.ClusterID)
	prov, ok := a.Volumes[plan.Provider]
	if !ok {
		return permanent(api.ReasonInvalidRequest, "restore into %s: provider %s cannot create volumes here", plan.ClusterID, plan.Provider)
	}
	path, err := prov.ProvisionEmptyVolume(ctx, plan.providerVolumeID(vol.VolumeID))
	if err != nil {
		return classify(err, subject)
	}
	*out = catalog.Volume{ID: vol.VolumeID, NodeID: node, SizeGB: vol.SizeGB, Path: path, Zone: vol.Zone}
	return classify(a.Catalog.UpdateVolumes(ctx, plan.ClusterID, []catalog.Volume{*out}), subject)
}

// heartbeating keeps a long activity alive (a dead worker is noticed within
// the heartbeat timeout, and the activity sees cancellation) until the
// returned stop is called; stop returns once no heartbeat is in flight.
func heartbeating(ctx context.Context) (stop func()) {
	// The first beat after a second: an activity that is done sooner costs
	// no heartbeat call at all.
	return repeat(ctx, time.Second, false, func() bool {
		activity.RecordHeartbeat(ctx)
		return true
	})
}

// DeleteVolumes deletes the volumes of a failed restore that the catalog
// recorded as created; one already gone counts as deleted.
func (a *Restores) DeleteVolumes(ctx context.Context, plan RestorePlan) error {
	p, err := a.Providers.For(plan.Provider, plan.Region)
	if err != nil {
		return nil
	}
	cl, err := a.Catalog.GetCluster(ctx, plan.ClusterID)
	if catalog.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return classify(err, "cluster "+plan.ClusterID)
	}
	var errs []error
	for _, v := range cl.Volumes() {
		if v.Path == "" {
			continue
		}
		if err := p.DeleteVolume(ctx, v.Path); err != nil {
			errs = append(errs, classify(err, fmt.Sprintf("volume %s of cluster %s", v.ID, cl.ID)))
			continue
		}
		v.Path = ""
		if err := a.Catalog.UpdateVolumes(ctx, cl.ID, []catalog.Volume{v}); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		a.log().Info("restore volumes deleted", zap.String("cluster", cl.ID))
	}
	return errors.Join(errs...)
}

// ProvisionNodes brings up every node of the new cluster on its volumes, in
// parallel.
func (a *Restores) ProvisionNodes(ctx context.Context, plan RestorePlan) error {
	prov, ok := a.provisioner(plan.Provider, plan.Region)
	if !ok {
		return permanent(api.ReasonInvalidRequest, "restore into %s: provider %s has no provisioner on this worker", plan.ClusterID, plan.Provider)
	}
	cl, err := a.Catalog.GetCluster(ctx, plan.ClusterID)
	if err != nil {
		return classify(err, "cluster "+plan.ClusterID)
	}
	return fanOut(len(cl.Nodes), 0, func(i int) error {
		n := cl.Nodes[i]
		spec := providers.NodeSpec{ClusterID: cl.ID, NodeID: n.ID, SourceClusterID: plan.SourceClusterID}
		for _, v := range n.Volumes {
			spec.VolumeRefs = append(spec.VolumeRefs, v.Path)
		}
		return classify(prov.ProvisionNode(ctx, spec), fmt.Sprintf("node %s of cluster %s", n.ID, cl.ID))
	})
}

// DeleteNodes tears down the nodes of a failed restore.
func (a *Restores) DeleteNodes(ctx context.Context, plan RestorePlan) error {
	prov, ok := a.provisioner(plan.Provider, plan.Region)
	if !ok {
		return nil
	}
	var errs []error
	for _, n := range plan.Nodes {
		if err := prov.DeleteNode(ctx, plan.ClusterID, n.NodeID); err != nil {
			errs = append(errs, classify(err, fmt.Sprintf("node %s of cluster %s", n.NodeID, plan.ClusterID)))
		}
	}
	return errors.Join(errs...)
}

// CheckRestoredNodes waits for every new node to report healthy, marks it
// so, and the cluster Running.
func (a *Restores) CheckRestoredNodes(ctx context.Context, plan RestorePlan) (catalog.Cluster, error) {
	prov, ok := a.provisioner(plan.Provider, plan.Region)
	if !ok {
		return catalog.Cluster{}, permanent(api.ReasonInvalidRequest, "provider %s has no provisioner on this worker", plan.Provider)
	}
	var sick []string
	for _, n := range plan.Nodes {
		ok, err := prov.NodeHealthy(ctx, plan.ClusterID, n.NodeID)
		if err != nil {
			return catalog.Cluster{}, classify(err, "node "+n.NodeID)
		}
		if !ok {
			sick = append(sick, n.NodeID)
			continue
		}
		if err := a.Catalog.SetNodeHealth(ctx, plan.ClusterID, n.NodeID, true, nil); err != nil {
			return catalog.Cluster{}, classify(err, "node "+n.NodeID)
		}
	}
	if len(sick) > 0 {
		// Nodes may still be booting: retry (bounded by the activity's
		// schedule-to-close timeout).
		return catalog.Cluster{}, fmt.Errorf("restored cluster %s: nodes not healthy yet: %s", plan.ClusterID, strings.Join(sick, ", "))
	}
	if err := a.Catalog.SetClusterStatus(ctx, plan.ClusterID, catalog.ClusterRunning, ""); err != nil {
		return catalog.Cluster{}, classify(err, "cluster "+plan.ClusterID)
	}
	return a.restoredRunning(ctx, plan)
}

// restoredRunning reads a restored cluster that runs now and starts its
// lifecycle (a cluster powered on has its own already).
func (a *Restores) restoredRunning(ctx context.Context, plan RestorePlan) (catalog.Cluster, error) {
	cl, err := a.Catalog.GetCluster(ctx, plan.ClusterID)
	if err != nil {
		return cl, classify(err, "cluster "+plan.ClusterID)
	}
	if !plan.InPlace {
		err = a.Lifecycles.EnsureLifecycle(ctx, cl.ID)
	}
	return cl, err
}

// provisioner returns the provisioner for a provider in a region (keyed like
// providers.Registry), and whether there is one.
func (a *Restores) provisioner(provider, region string) (providers.Provisioner, bool) {
	if p, ok := a.Provisioners[providers.Key(provider, region)]; ok {
		return p, true
	}
	p, ok := a.Provisioners[provider]
	return p, ok
}
