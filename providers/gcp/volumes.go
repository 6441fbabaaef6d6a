package gcp

import (
	"context"
	"fmt"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/internal/backoff"
)

// CreateVolume creates the disk DiskName(spec.VolumeID) in spec.Zone from
// snapshot spec.SnapshotID with a deterministic requestId, adopting an
// existing disk of the same name when its labels say it is this volume, and
// waits (honouring ctx) until the disk is READY. SizeGB 0 means the
// snapshot's size; a smaller size than the snapshot's is Kind Invalid.
func (p *Provider) CreateVolume(ctx context.Context, spec providers.VolumeSpec) (providers.Volume, error) {
	if spec.VolumeID == "" || spec.SnapshotID == "" {
		return providers.Volume{}, invalid("CreateVolume needs VolumeID and SnapshotID (got %q, %q)", spec.VolumeID, spec.SnapshotID)
	}
	var snap *computepb.Snapshot
	if validName(spec.SnapshotID) {
		var err error
		if snap, err = p.getSnapshot(ctx, spec.SnapshotID); err != nil {
			return providers.Volume{}, err
		}
	}
	if snap == nil {
		return providers.Volume{}, &providers.Error{Provider: ProviderName, Kind: providers.NotFound, Code: reasonNotFound,
			Message: fmt.Sprintf("snapshot %s not found in project %s", spec.SnapshotID, p.project)}
	}
	if spec.Zone == "" || !validName(spec.Zone) {
		return providers.Volume{}, invalid("CreateVolume of volume %s needs a zone (got %q)", spec.VolumeID, spec.Zone)
	}
	minGB := int(snap.GetDiskSizeGb())
	size := spec.SizeGB
	if size == 0 {
		size = minGB
	}
	if size < minGB {
		return providers.Volume{}, invalid("volume %s of %d GB is smaller than snapshot %s: the minimum is %d GB", spec.VolumeID, size, spec.SnapshotID, minGB)
	}
	if st := snap.GetStatus(); st != "READY" {
		return providers.Volume{}, &providers.Error{Provider: ProviderName, Kind: providers.InvalidState, Code: "resourceNotReady",
			Message: fmt.Sprintf("snapshot %s is %s, not READY", spec.SnapshotID, st)}
	}
	name := DiskName(spec.VolumeID)
	ref := diskRef{Zone: spec.Zone, Name: name}
	key := "disk\x00" + spec.VolumeID
	t := tags{ClusterID: spec.ClusterID, NodeID: spec.NodeID, VolumeID: spec.VolumeID, Snapshot: spec.SnapshotID}

	reqID := requestID("disk", key, p.genOf(key))
	op, err := p.mutate(ctx, "disks.insert", func(ctx context.Context) (*compute.Operation, error) {
		return p.disks.Insert(ctx, &computepb.InsertDiskRequest{
			Project:   p.project,
			Zone:      spec.Zone,
			RequestId: proto.String(reqID),
			DiskResource: &computepb.Disk{
				Name:           proto.String(name),
				SizeGb:         proto.Int64(int64(size)),
				SourceSnapshot: proto.String("projects/" + p.project + "/global/snapshots/" + spec.SnapshotID),
				Labels:         t.labels(),
				Description:    proto.String(t.description()),
			},
		})
	})
	switch {
	case err != nil && isReason(err, reasonExists):
		// Adopt below.
	case err != nil:
		return providers.Volume{}, err
	default:
		if oe := p.waitOp(ctx, op, zoneOps); oe != nil {
			if oe.Code != "RESOURCE_ALREADY_EXISTS" {
				p.bumpGen(key)
				return providers.Volume{}, oe
			}
		}
	}
	return p.waitDiskReady(ctx, ref, spec.VolumeID)
}

// waitDiskReady polls the disk until READY, checking it is volumeID's.
func (p *Provider) waitDiskReady(ctx context.Context, ref diskRef, volumeID string) (providers.Volume, error) {
	delay := 20 * time.Millisecond
	for {
		d, err := p.getDisk(ctx, ref)
		if err != nil {
			return providers.Volume{}, err
		}
		if d == nil {
			return providers.Volume{}, &providers.Error{Provider: ProviderName, Kind: providers.Transient, Code: reasonNotFound,
				Message: fmt.Sprintf("disk %s was created but is not found; retry", ref)}
		}
		v := p.toVolume(ref, d)
		if v.VolumeID != volumeID {
			return providers.Volume{}, &providers.Error{Provider: ProviderName, Kind: providers.InvalidState, Code: reasonExists,
				Message: fmt.Sprintf("disk %s already exists and is not Strata's volume %s (labels %v)", ref, volumeID, d.GetLabels())}
		}
		switch v.State {
		case providers.VolumeAvailable:
			return v, nil
		case providers.VolumeFailed:
			return v, &providers.Error{Provider: ProviderName, Kind: providers.InvalidState, Code: d.GetStatus(), Message: v.Error}
		}
		if err := backoff.Sleep(ctx, delay); err != nil {
			return v, ctxError(ctx, err)
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func (p *Provider) getDisk(ctx context.Context, ref diskRef) (*computepb.Disk, error) {
	return getOrNil(ctx, p, "disks.get", func(ctx context.Context) (*computepb.Disk, error) {
		return p.disks.Get(ctx, &computepb.GetDiskRequest{Project: p.project, Zone: ref.Zone, Disk: ref.Name})
	})
}

func (p *Provider) toVolume(ref diskRef, d *computepb.Disk) providers.Volume {
	t := readTags(d.GetDescription(), d.GetLabels())
	v := providers.Volume{Ref: ref.String(), VolumeID: t.VolumeID, SizeGB: int(d.GetSizeGb()), Zone: ref.Zone}
	switch st := d.GetStatus(); st {
	case "READY":
		v.State = providers.VolumeAvailable
	case "CREATING", "RESTORING", "":
		v.State = providers.VolumeCreating
	default: // FAILED, DELETING, UNAVAILABLE
		v.State = providers.VolumeFailed
		v.Error = fmt.Sprintf("gcp: disk %s has status %s", ref, st)
	}
	return v
}

// GetVolumes reads disks by reference (one disks.get each); unknown ones
// are absent. Malformed references are Kind Invalid.
func (p *Provider) GetVolumes(ctx context.Context, refs []string) ([]providers.Volume, error) {
	var out []providers.Volume
	seen := map[string]bool{}
	for _, r := range refs {
		ref, err := parseDiskRef(r)
		if err != nil {
			return nil, err
		}
		if seen[ref.String()] {
			continue
		}
		seen[ref.String()] = true
		d, err := p.getDisk(ctx, ref)
		if err != nil {
			return nil, err
		}
		if d != nil {
			out = append(out, p.toVolume(ref, d))
		}
	}
	return out, nil
}

// DeleteVolume deletes a disk and waits for the operation; a missing disk
// counts as deleted.
func (p *Provider) DeleteVolume(ctx context.Context, r string) error {
	ref, err := parseDiskRef(r)
	if err != nil {
		return err
	}
	return p.remove(ctx, "disks.delete", zoneOps, func(ctx context.Context, requestID *string) (*compute.Operation, error) {
		return p.disks.Delete(ctx, &computepb.DeleteDiskRequest{Project: p.project, Zone: ref.Zone, Disk: ref.Name, RequestId: requestID})
	})
}

// DiskInfo describes an existing disk, for registering existing clusters.
type DiskInfo struct {
	Ref    string
	Zone   string
	Name   string
	SizeGB int
	// Status is GCE's: CREATING, RESTORING, READY, FAILED, DELETING, UNAVAILABLE.
	Status string
}

// DescribeDisks reads disks by reference; a missing disk is Kind NotFound
// naming it.
func (p *Provider) DescribeDisks(ctx context.Context, refs []string) ([]DiskInfo, error) {
	out := make([]DiskInfo, 0, len(refs))
	for _, r := range refs {
		ref, err := parseDiskRef(r)
		if err != nil {
			return nil, err
		}
		d, err := p.getDisk(ctx, ref)
		if err != nil {
			return nil, err
		}
		if d == nil {
			return nil, &providers.Error{Provider: ProviderName, Kind: providers.NotFound, Code: reasonNotFound,
				Message: fmt.Sprintf("disk %s not found in project %s", ref, p.project)}
		}
		out = append(out, DiskInfo{Ref: ref.String(), Zone: ref.Zone, Name: ref.Name, SizeGB: int(d.GetSizeGb()), Status: d.GetStatus()})
	}
	return out, nil
}

// Provisioner returns the GCP provisioner. Strata does not manage GCE VMs:
// the platform (an instance template, MIG or operator) creates the nodes
// and attaches the restored disks. ProvisionNode only checks that the
// node's disks exist and are READY and remembers them (in memory);
// NodeHealthy reports whether all of a remembered node's disks are READY
// (an unknown node, e.g. after a restart, is not healthy: provision it
// again); DeleteNode forgets the node and deletes nothing.
func (p *Provider) Provisioner() providers.Provisioner { return provisioner{p} }

type provisioner struct{ p *Provider }

func nodeKey(cluster, node string) string { return cluster + "\x00" + node }

func (pr provisioner) ProvisionNode(ctx context.Context, spec providers.NodeSpec) error {
	if len(spec.VolumeRefs) == 0 {
		return invalid("node %s of cluster %s has no volumes", spec.NodeID, spec.ClusterID)
	}
	infos, err := pr.p.DescribeDisks(ctx, spec.VolumeRefs)
	if err != nil {
		return err
	}
	for _, d := range infos {
		if d.Status != "READY" {
			return &providers.Error{Provider: ProviderName, Kind: providers.InvalidState, Code: "resourceNotReady",
				Message: fmt.Sprintf("disk %s of node %s is %s, not READY", d.Ref, spec.NodeID, d.Status)}
		}
	}
	pr.p.nodesMu.Lock()
	pr.p.nodes[nodeKey(spec.ClusterID, spec.NodeID)] = append([]string(nil), spec.VolumeRefs...)
	pr.p.nodesMu.Unlock()
	return nil
}

func (pr provisioner) NodeHealthy(ctx context.Context, clusterID, nodeID string) (bool, error) {
	pr.p.nodesMu.Lock()
	refs, ok := pr.p.nodes[nodeKey(clusterID, nodeID)]
	pr.p.nodesMu.Unlock()
	if !ok {
		return false, nil
	}
	vols, err := pr.p.GetVolumes(ctx, refs)
	if err != nil {
		return false, err
	}
	if len(vols) != len(refs) {
		return false, nil
	}
	for _, v := range vols {
		if v.State != providers.VolumeAvailable {
			return false, nil
		}
	}
	return true, nil
}

func (pr provisioner) DeleteNode(_ context.Context, clusterID, nodeID string) error {
	pr.p.nodesMu.Lock()
	delete(pr.p.nodes, nodeKey(clusterID, nodeID))
	pr.p.nodesMu.Unlock()
	return nil
}
