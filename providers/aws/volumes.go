package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/internal/backoff"
)

// VolumeInfo describes an existing EBS volume (for registering clusters).
type VolumeInfo struct {
	ID     string
	Zone   string
	SizeGB int
	// State is EC2's: creating, available, in-use, deleting, deleted, error.
	State string
	// Type is the volume type (gp3, io2, ...).
	Type string
	Tags map[string]string
}

// ClientToken is CreateVolume's deterministic idempotency token for a
// Strata volume ID: "strata-<id>" when that is ≤64 printable ASCII, else
// "strata-" and a hash of the ID.
func ClientToken(volumeID string) string {
	tok := "strata-" + volumeID
	ok := len(tok) <= 64
	for i := 0; ok && i < len(tok); i++ {
		ok = tok[i] > 0x20 && tok[i] < 0x7f
	}
	if ok {
		return tok
	}
	sum := sha256.Sum256([]byte(volumeID))
	return "strata-" + hex.EncodeToString(sum[:])[:57]
}

// describeVolumesPageSize is DescribeVolumes' MaxResults (EC2 allows 5..500).
const describeVolumesPageSize = 500

func (p *Provider) describeVolumes(ctx context.Context, filters []types.Filter) ([]types.Volume, error) {
	in := &ec2.DescribeVolumesInput{Filters: filters, MaxResults: aws.Int32(describeVolumesPageSize)}
	return collect(ctx, ec2.NewDescribeVolumesPaginator(p.client, in), func(o *ec2.DescribeVolumesOutput) []types.Volume { return o.Volumes })
}

// describeVolumeIDs describes volumes by ID with the volume-id filter
// (unknown IDs are absent, not an error), MaxFilterValues per call.
func (p *Provider) describeVolumeIDs(ctx context.Context, ids []string) ([]types.Volume, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(slices.DeleteFunc(slices.Clone(ids), func(s string) bool { return s == "" }))))
	var out []types.Volume
	for chunk := range slices.Chunk(ids, MaxFilterValues) {
		vs, err := p.describeVolumes(ctx, []types.Filter{filter("volume-id", chunk...)})
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
	}
	return out, nil
}

// DescribeVolumes reports existing EBS volumes by ID (unknown IDs are
// absent), e.g. to register an existing cluster's volumes.
func (p *Provider) DescribeVolumes(ctx context.Context, ids []string) ([]VolumeInfo, error) {
	vs, err := p.describeVolumeIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]VolumeInfo, 0, len(vs))
	for _, v := range vs {
		out = append(out, VolumeInfo{
			ID:     aws.ToString(v.VolumeId),
			Zone:   aws.ToString(v.AvailabilityZone),
			SizeGB: int(aws.ToInt32(v.Size)),
			State:  string(v.State),
			Type:   string(v.VolumeType),
			Tags:   tagsOf(v.Tags),
		})
	}
	return out, nil
}

func volumeFrom(id string, state types.VolumeState, size *int32, zone *string, tags []types.Tag) providers.Volume {
	v := providers.Volume{
		Ref:      id,
		VolumeID: tagsOf(tags)[TagVolumeID],
		SizeGB:   int(aws.ToInt32(size)),
		Zone:     aws.ToString(zone),
	}
	switch state {
	case types.VolumeStateAvailable, types.VolumeStateInUse:
		v.State = providers.VolumeAvailable
	case types.VolumeStateError, types.VolumeStateDeleting, types.VolumeStateDeleted:
		v.State = providers.VolumeFailed
		v.Error = "EBS volume " + id + " is in state " + string(state)
	default:
		v.State = providers.VolumeCreating
	}
	return v
}

func gone(s types.VolumeState) bool {
	return s == types.VolumeStateDeleting || s == types.VolumeStateDeleted
}

// CreateVolume creates an EBS volume from a snapshot in spec.Zone (required)
// and waits until it is available (or failed), polling DescribeVolumes.
// Idempotent by spec.VolumeID through a deterministic ClientToken. The size
// is spec.SizeGB, or the snapshot's when zero; a size below the snapshot's
// is Invalid. The returned Ref is the EBS volume ID.
func (p *Provider) CreateVolume(ctx context.Context, spec providers.VolumeSpec) (providers.Volume, error) {
	if spec.VolumeID == "" || spec.SnapshotID == "" {
		return providers.Volume{}, errorf(providers.Invalid, "create volume: VolumeID and SnapshotID are required (got %q, %q)", spec.VolumeID, spec.SnapshotID)
	}
	snaps, err := p.describeSnapshots(ctx, []types.Filter{filter("snapshot-id", spec.SnapshotID)})
	if err != nil {
		return providers.Volume{}, err
	}
	if len(snaps) == 0 {
		return providers.Volume{}, &providers.Error{Provider: Name, Kind: providers.NotFound, Code: "InvalidSnapshot.NotFound",
			Message: fmt.Sprintf("The snapshot '%s' does not exist.", spec.SnapshotID)}
	}
	snapSize := int(aws.ToInt32(snaps[0].VolumeSize))
	if spec.Zone == "" {
		return providers.Volume{}, errorf(providers.Invalid, "create volume %s from %s: an availability zone is required", spec.VolumeID, spec.SnapshotID)
	}
	size := spec.SizeGB
	if size == 0 {
		size = snapSize
	}
	if size < snapSize {
		return providers.Volume{}, errorf(providers.Invalid, "create volume %s: %d GiB is smaller than snapshot %s; the minimum is %d GiB", spec.VolumeID, size, spec.SnapshotID, snapSize)
	}
	tags := []types.Tag{
		{Key: aws.String("Name"), Value: aws.String("strata " + spec.ClusterID + " " + spec.NodeID)},
		{Key: aws.String(TagVolumeID), Value: aws.String(spec.VolumeID)},
	}
	if spec.ClusterID != "" {
		tags = append(tags, types.Tag{Key: aws.String(TagClusterID), Value: aws.String(spec.ClusterID)})
	}
	if spec.NodeID != "" {
		tags = append(tags, types.Tag{Key: aws.String(TagNodeID), Value: aws.String(spec.NodeID)})
	}
	in := &ec2.CreateVolumeInput{
		AvailabilityZone:  aws.String(spec.Zone),
		SnapshotId:        aws.String(spec.SnapshotID),
		Size:              aws.Int32(int32(size)),
		ClientToken:       aws.String(ClientToken(spec.VolumeID)),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: tags}},
	}
	out, err := p.client.CreateVolume(ctx, in)
	if err != nil {
		return providers.Volume{}, classify(err)
	}
	if len(out.Tags) == 0 {
		out.Tags = tags
	}
	v := volumeFrom(aws.ToString(out.VolumeId), out.State, out.Size, out.AvailabilityZone, out.Tags)
	p.log.Info("creating EBS volume", zap.String("volumeRef", v.Ref), zap.String("volume", spec.VolumeID), zap.String("snapshot", spec.SnapshotID))
	for v.State == providers.VolumeCreating {
		if err := backoff.Sleep(ctx, p.volumePoll); err != nil {
			return v, classify(err)
		}
		vs, err := p.GetVolumes(ctx, []string{v.Ref})
		if err != nil {
			pe, _ := providers.AsError(err)
			if pe != nil && pe.Retryable() && ctx.Err() == nil {
				continue
			}
			return v, err
		}
		if len(vs) == 0 {
			// Eventual consistency right after CreateVolume; keep polling.
			continue
		}
		v = vs[0]
	}
	if v.VolumeID == "" {
		v.VolumeID = spec.VolumeID
	}
	if v.State == providers.VolumeFailed {
		return v, &providers.Error{Provider: Name, Kind: providers.InvalidState, Message: v.Error}
	}
	return v, nil
}

// GetVolumes reports volumes by EBS volume ID (DescribeVolumes, filter
// volume-id); unknown and deleted ones are absent.
func (p *Provider) GetVolumes(ctx context.Context, refs []string) ([]providers.Volume, error) {
	vs, err := p.describeVolumeIDs(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := make([]providers.Volume, 0, len(vs))
	for _, v := range vs {
		if gone(v.State) {
			continue
		}
		out = append(out, volumeFrom(aws.ToString(v.VolumeId), v.State, v.Size, v.AvailabilityZone, v.Tags))
	}
	return out, nil
}

// DeleteVolume deletes an EBS volume; InvalidVolume.NotFound counts as
// deleted, VolumeInUse (still attached) is Kind InUse.
func (p *Provider) DeleteVolume(ctx context.Context, ref string) error {
	_, err := p.client.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(ref)})
	if err != nil {
		pe, _ := providers.AsError(classify(err))
		if pe.Kind == providers.NotFound || pe.Code == "InvalidVolumeID.Malformed" {
			return nil
		}
		return pe
	}
	return nil
}

// Provisioner returns the provider's providers.Provisioner.
//
// Honestly: on AWS the cluster's VMs belong to the platform that runs the
// database (its own IaC, autoscaling groups, Kubernetes), not to Strata.
// This provisioner therefore creates no instances and attaches nothing.
// ProvisionNode only checks that the node's volumes exist and are
// available (DescribeVolumes) and remembers the node's volume refs in
// memory; NodeHealthy reports whether all the node's volumes are available
// (found by the refs ProvisionNode saw, else by the strata:cluster-id and
// strata:node-id tags CreateVolume puts on them), which says nothing about
// a VM; DeleteNode is a no-op (volumes are deleted with DeleteVolume).
func (p *Provider) Provisioner() providers.Provisioner { return &provisioner{p: p} }

type provisioner struct{ p *Provider }

func nodeKey(clusterID, nodeID string) string { return clusterID + "/" + nodeID }

func (n *provisioner) ProvisionNode(ctx context.Context, spec providers.NodeSpec) error {
	if len(spec.VolumeRefs) == 0 {
		return errorf(providers.Invalid, "provision node %s of cluster %s: no volumes", spec.NodeID, spec.ClusterID)
	}
	vs, err := n.p.describeVolumeIDs(ctx, spec.VolumeRefs)
	if err != nil {
		return err
	}
	byID := map[string]types.Volume{}
	for _, v := range vs {
		byID[aws.ToString(v.VolumeId)] = v
	}
	var missing, creating, bad []string
	for _, ref := range spec.VolumeRefs {
		v, ok := byID[ref]
		switch {
		case !ok || gone(v.State):
			missing = append(missing, ref)
		case v.State == types.VolumeStateCreating:
			creating = append(creating, ref)
		case v.State != types.VolumeStateAvailable && v.State != types.VolumeStateInUse:
			bad = append(bad, ref+" ("+string(v.State)+")")
		}
	}
	switch {
	case len(missing) > 0:
		return errorf(providers.NotFound, "provision node %s of cluster %s: EBS volumes %s do not exist", spec.NodeID, spec.ClusterID, strings.Join(missing, ", "))
	case len(bad) > 0:
		return errorf(providers.InvalidState, "provision node %s of cluster %s: EBS volumes %s are not usable", spec.NodeID, spec.ClusterID, strings.Join(bad, ", "))
	case len(creating) > 0:
		return errorf(providers.Transient, "provision node %s of cluster %s: EBS volumes %s are still being created", spec.NodeID, spec.ClusterID, strings.Join(creating, ", "))
	}
	n.p.provisioned.Store(nodeKey(spec.ClusterID, spec.NodeID), slices.Clone(spec.VolumeRefs))
	return nil
}

func (n *provisioner) NodeHealthy(ctx context.Context, clusterID, nodeID string) (bool, error) {
	var vs []types.Volume
	var err error
	want := 0
	if refs, ok := n.p.provisioned.Load(nodeKey(clusterID, nodeID)); ok {
		want = len(refs.([]string))
		vs, err = n.p.describeVolumeIDs(ctx, refs.([]string))
	} else {
		vs, err = n.p.describeVolumes(ctx, []types.Filter{
			filter("tag:"+TagClusterID, clusterID),
			filter("tag:"+TagNodeID, nodeID),
		})
		want = len(vs)
	}
	if err != nil {
		return false, err
	}
	if want == 0 || len(vs) < want {
		return false, nil
	}
	for _, v := range vs {
		if v.State != types.VolumeStateAvailable && v.State != types.VolumeStateInUse {
			return false, nil
		}
	}
	return true, nil
}

func (n *provisioner) DeleteNode(ctx context.Context, clusterID, nodeID string) error {
	n.p.provisioned.Delete(nodeKey(clusterID, nodeID))
	return nil
}
