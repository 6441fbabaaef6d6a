package gcp

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/google/uuid"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/internal/backoff"
	"github.com/stratabackup/strata/providers/internal/poll"
)

// Progress reported for GCE snapshot statuses (GCE reports no percentage):
//
//	CREATING  → pending, 10  (point in time not yet captured)
//	UPLOADING → pending, 60  (captured; data uploading)
//	READY     → completed, 100
//	FAILED, DELETING → failed, 0
const (
	progressCreating  = 10
	progressUploading = 60
)

// namesPerList bounds the names in one GetSnapshots list filter.
const namesPerList = 100

// pageSize is maxResults of list calls (GCE's maximum).
const pageSize = 500

type pendingOp struct {
	op      *compute.Operation
	tags    tags
	sizeGB  int
	created time.Time
	err     *providers.Error
}

// StartSnapshot snapshots the disk spec.VolumeRef ("zones/<zone>/disks/<name>"
// or "<zone>/<name>") with disks.createSnapshot under the deterministic name
// SnapshotName(BackupID, VolumeID) and a deterministic requestId, and returns
// without waiting for READY. If the operation is already DONE (one poll),
// its error is returned; otherwise GetSnapshots keeps polling it and reports
// the snapshot failed with the operation's error should it fail.
func (p *Provider) StartSnapshot(ctx context.Context, spec providers.SnapshotSpec) (providers.Snapshot, error) {
	if spec.BackupID == "" || spec.VolumeID == "" {
		return providers.Snapshot{}, invalid("StartSnapshot needs BackupID and VolumeID (got %q, %q)", spec.BackupID, spec.VolumeID)
	}
	ref, err := parseDiskRef(spec.VolumeRef)
	if err != nil {
		if spec.Zone == "" || !validName(spec.VolumeRef) {
			return providers.Snapshot{}, err
		}
		ref = diskRef{Zone: spec.Zone, Name: spec.VolumeRef}
	}
	name := SnapshotName(spec.BackupID, spec.VolumeID)
	key := "snapshot\x00" + spec.BackupID + "\x00" + spec.VolumeID
	t := tags{BackupID: spec.BackupID, ClusterID: spec.ClusterID, NodeID: spec.NodeID, VolumeID: spec.VolumeID}

	for range 2 {
		reqID := requestID("snapshot", key, p.genOf(key))
		op, err := p.mutate(ctx, "disks.createSnapshot", func(ctx context.Context) (*compute.Operation, error) {
			return p.disks.CreateSnapshot(ctx, &computepb.CreateSnapshotDiskRequest{
				Project:   p.project,
				Zone:      ref.Zone,
				Disk:      ref.Name,
				RequestId: proto.String(reqID),
				SnapshotResource: &computepb.Snapshot{
					Name:        proto.String(name),
					Labels:      t.labels(),
					Description: proto.String(t.description()),
				},
			})
		})
		if err != nil {
			if isReason(err, reasonExists) {
				return p.adoptSnapshot(ctx, name, spec)
			}
			return providers.Snapshot{}, err
		}
		if !op.Done() {
			if err := p.pollOp(ctx, op, zoneOps); err != nil {
				return providers.Snapshot{}, err
			}
		}
		if op.Done() {
			if oe := opError(op.Proto()); oe != nil {
				// The operation may be a replay (same requestId) of an old
				// failure while a later attempt made the snapshot: adopt it.
				if s, err := p.getSnapshot(ctx, name); err == nil && s != nil {
					if sn, err := p.checkOurs(s, spec); err == nil {
						return sn, nil
					}
				}
				// A retry must not replay this failed operation.
				p.bumpGen(key)
				return providers.Snapshot{}, oe
			}
		} else {
			p.mu.Lock()
			if _, ok := p.ops[name]; !ok {
				p.ops[name] = &pendingOp{op: op, tags: t, sizeGB: spec.SizeGB, created: time.Now()}
			}
			p.mu.Unlock()
		}
		s, err := p.getSnapshot(ctx, name)
		if err != nil {
			return providers.Snapshot{}, err
		}
		if s == nil {
			if !op.Done() {
				// Accepted, not yet visible.
				return providers.Snapshot{ID: name, BackupID: t.BackupID, ClusterID: t.ClusterID, NodeID: t.NodeID,
					VolumeID: t.VolumeID, State: providers.StatePending, SizeGB: spec.SizeGB, CreatedAt: time.Now()}, nil
			}
			// A DONE operation without the snapshot: the requestId replayed
			// an old operation whose snapshot was deleted since.
			p.bumpGen(key)
			continue
		}
		return p.checkOurs(s, spec)
	}
	return providers.Snapshot{}, &providers.Error{Provider: ProviderName, Kind: providers.Transient, Code: "snapshotVanished",
		Message: fmt.Sprintf("snapshot %s was created but is not found; retry", name)}
}

func (p *Provider) adoptSnapshot(ctx context.Context, name string, spec providers.SnapshotSpec) (providers.Snapshot, error) {
	s, err := p.getSnapshot(ctx, name)
	if err != nil {
		return providers.Snapshot{}, err
	}
	if s == nil {
		return providers.Snapshot{}, &providers.Error{Provider: ProviderName, Kind: providers.Transient, Code: reasonExists,
			Message: fmt.Sprintf("snapshot %s already exists but cannot be read; retry", name)}
	}
	return p.checkOurs(s, spec)
}

func (p *Provider) checkOurs(s *computepb.Snapshot, spec providers.SnapshotSpec) (providers.Snapshot, error) {
	t := readTags(s.GetDescription(), s.GetLabels())
	if t.BackupID != spec.BackupID || t.VolumeID != spec.VolumeID {
		return providers.Snapshot{}, &providers.Error{Provider: ProviderName, Kind: providers.InvalidState, Code: reasonExists,
			Message: fmt.Sprintf("snapshot %s already exists and is not Strata's snapshot of backup %s volume %s (labels %v)",
				s.GetName(), spec.BackupID, spec.VolumeID, s.GetLabels())}
	}
	return p.toSnapshot(s), nil
}

// getSnapshot reads a snapshot; nil if it does not exist.
func (p *Provider) getSnapshot(ctx context.Context, name string) (*computepb.Snapshot, error) {
	return getOrNil(ctx, p, "snapshots.get", func(ctx context.Context) (*computepb.Snapshot, error) {
		return p.snaps.Get(ctx, &computepb.GetSnapshotRequest{Project: p.project, Snapshot: name})
	})
}

func (p *Provider) toSnapshot(s *computepb.Snapshot) providers.Snapshot {
	t := readTags(s.GetDescription(), s.GetLabels())
	out := providers.Snapshot{
		ID: s.GetName(), BackupID: t.BackupID, ClusterID: t.ClusterID, NodeID: t.NodeID, VolumeID: t.VolumeID,
		SizeGB: int(s.GetDiskSizeGb()),
	}
	if ts, err := time.Parse(time.RFC3339, s.GetCreationTimestamp()); err == nil {
		out.CreatedAt = ts
	}
	switch st := s.GetStatus(); st {
	case "READY":
		out.State, out.Progress = providers.StateCompleted, 100
	case "UPLOADING":
		out.State, out.Progress = providers.StatePending, progressUploading
	case "CREATING", "":
		out.State, out.Progress = providers.StatePending, progressCreating
	case "DELETING":
		out.State = providers.StateFailed
		out.Error = fmt.Sprintf("gcp: snapshot %s is being deleted (status DELETING)", s.GetName())
	default: // FAILED and anything unknown
		out.State = providers.StateFailed
		out.Error = fmt.Sprintf("gcp: snapshot %s of %s has status %s", s.GetName(), s.GetSourceDisk(), st)
	}
	return out
}

// Methods that read an operation, as the calls count them.
const (
	zoneOps   = "zoneOperations.get"
	globalOps = "globalOperations.get"
)

// pollOp fetches op once with method (zoneOps or globalOps, by where op
// runs). A failed operation is not an error here: the caller inspects
// op.Proto().GetError().
func (p *Provider) pollOp(ctx context.Context, op *compute.Operation, method string) error {
	return p.do(ctx, bucketOpRead, method, func(ctx context.Context) error {
		err := op.Poll(ctx)
		if err != nil && op.Done() {
			// Poll reports an httpErrorStatusCode of a DONE operation as an
			// error; that is the operation's outcome, read from the proto.
			return nil
		}
		return err
	})
}

// waitOp polls op until DONE (honouring ctx) and returns its classified
// error, if any. It never trusts op.Wait, which returns nil for a DONE
// operation whose error block lacks httpErrorStatusCode.
func (p *Provider) waitOp(ctx context.Context, op *compute.Operation, method string) *providers.Error {
	delay := 50 * time.Millisecond
	for !op.Done() {
		if err := p.pollOp(ctx, op, method); err != nil {
			return classify(err)
		}
		if op.Done() {
			break
		}
		if err := backoff.Sleep(ctx, delay); err != nil {
			return classify(ctxError(ctx, err))
		}
		delay = min(delay*2, 5*time.Second)
	}
	return opError(op.Proto())
}

// GetSnapshots reports snapshots by name with one snapshots.list call (per
// 100 names and 500 results) filtered by name. Concurrent calls within
// Options.PollBatchWindow are coalesced into one list; each caller gets its
// own subset. Unknown names are absent.
func (p *Provider) GetSnapshots(ctx context.Context, ids []string) ([]providers.Snapshot, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	res, errs, err := p.batch.Do(ctx, ids)
	if err != nil {
		return nil, ctxError(ctx, err)
	}
	return poll.Pick(ids, res, errs)
}

// batchTimeout bounds one coalesced GetSnapshots batch.
const batchTimeout = 5 * time.Minute

// fetchBatch is the fetch of one coalesced GetSnapshots batch: the names
// GCE could hold, sorted, in as few list calls as they fit. A failure is
// every caller's, as their names shared the calls.
func (p *Provider) fetchBatch(ctx context.Context, ids []string) (map[string]providers.Snapshot, map[string]error) {
	names := slices.Sorted(func(yield func(string) bool) {
		for _, id := range ids {
			if validName(id) && !yield(id) {
				return
			}
		}
	})
	if len(names) == 0 {
		return map[string]providers.Snapshot{}, nil
	}
	res, err := p.fetchSnapshots(ctx, names)
	if err != nil {
		errs := map[string]error{}
		poll.FailAll(errs, ids, err)
		return nil, errs
	}
	return res, nil
}

// fetchSnapshots is one coalesced batch: list calls for the names, then
// one poll of each still-running createSnapshot operation among them.
func (p *Provider) fetchSnapshots(ctx context.Context, ids []string) (map[string]providers.Snapshot, error) {
	res := map[string]providers.Snapshot{}
	for i := 0; i < len(ids); i += namesPerList {
		chunk := ids[i:min(i+namesPerList, len(ids))]
		parts := make([]string, len(chunk))
		for j, id := range chunk {
			parts[j] = fmt.Sprintf("(name = %q)", id)
		}
		err := p.listSnapshots(ctx, strings.Join(parts, " OR "), func(s *computepb.Snapshot) {
			res[s.GetName()] = p.toSnapshot(s)
		})
		if err != nil {
			return nil, err
		}
	}

	p.mu.Lock()
	var pend []string
	for _, id := range ids {
		if _, ok := p.ops[id]; ok {
			pend = append(pend, id)
		}
	}
	p.mu.Unlock()
	// Batches may overlap; one at a time polls the operation handles.
	p.opsPoll.Lock()
	defer p.opsPoll.Unlock()
	for _, id := range pend {
		p.mu.Lock()
		po := p.ops[id]
		p.mu.Unlock()
		if po == nil {
			continue
		}
		if po.err == nil && !po.op.Done() {
			if err := p.pollOp(ctx, po.op, zoneOps); err != nil {
				return nil, err
			}
			if po.op.Done() {
				po.err = opError(po.op.Proto())
			}
		}
		s, found := res[id]
		switch {
		case po.err != nil:
			if !found {
				s = providers.Snapshot{ID: id, BackupID: po.tags.BackupID, ClusterID: po.tags.ClusterID, NodeID: po.tags.NodeID,
					VolumeID: po.tags.VolumeID, SizeGB: po.sizeGB, CreatedAt: po.created}
			}
			s.State, s.Error = providers.StateFailed, po.err.Error()
			res[id] = s
		case po.op.Done():
			p.mu.Lock()
			delete(p.ops, id)
			p.mu.Unlock()
		case !found:
			res[id] = providers.Snapshot{ID: id, BackupID: po.tags.BackupID, ClusterID: po.tags.ClusterID, NodeID: po.tags.NodeID,
				VolumeID: po.tags.VolumeID, State: providers.StatePending, SizeGB: po.sizeGB, CreatedAt: po.created}
		}
	}
	return res, nil
}

// listSnapshots pages through snapshots.list with filter.
func (p *Provider) listSnapshots(ctx context.Context, filter string, fn func(*computepb.Snapshot)) error {
	tok := ""
	for {
		var page []*computepb.Snapshot
		var next string
		err := p.do(ctx, bucketList, "snapshots.list", func(ctx context.Context) error {
			req := &computepb.ListSnapshotsRequest{Project: p.project, MaxResults: proto.Uint32(pageSize)}
			if filter != "" {
				req.Filter = proto.String(filter)
			}
			it := p.snaps.List(ctx, req)
			var items []*computepb.Snapshot
			n, err := iterator.NewPager(it, pageSize, tok).NextPage(&items)
			page, next = items, n
			return err
		})
		if err != nil {
			return err
		}
		for _, s := range page {
			fn(s)
		}
		if next == "" {
			return nil
		}
		tok = next
	}
}

// ListSnapshots finds Strata's snapshots by label (strata-backup-id,
// strata-cluster-id), paginated, and checks the exact IDs read back.
func (p *Provider) ListSnapshots(ctx context.Context, f providers.SnapshotFilter) ([]providers.Snapshot, error) {
	var parts []string
	if f.BackupID != "" {
		parts = append(parts, fmt.Sprintf("(labels.%s = %q)", LabelBackupID, EncodeLabelValue(f.BackupID)))
	}
	if f.ClusterID != "" {
		parts = append(parts, fmt.Sprintf("(labels.%s = %q)", LabelClusterID, EncodeLabelValue(f.ClusterID)))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("(labels.%s:*)", LabelVolumeID))
	}
	var out []providers.Snapshot
	err := p.listSnapshots(ctx, strings.Join(parts, " "), func(s *computepb.Snapshot) {
		sn := p.toSnapshot(s)
		if (f.BackupID != "" && sn.BackupID != f.BackupID) || (f.ClusterID != "" && sn.ClusterID != f.ClusterID) {
			return
		}
		out = append(out, sn)
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DeleteSnapshot deletes a snapshot and waits for the operation. A missing
// snapshot counts as deleted; one used by another resource (an image) is
// Kind InUse.
func (p *Provider) DeleteSnapshot(ctx context.Context, id string) error {
	p.mu.Lock()
	delete(p.ops, id)
	p.mu.Unlock()
	if !validName(id) {
		return nil
	}
	return p.remove(ctx, "snapshots.delete", globalOps, func(ctx context.Context, requestID *string) (*compute.Operation, error) {
		return p.snaps.Delete(ctx, &computepb.DeleteSnapshotRequest{Project: p.project, Snapshot: id, RequestId: requestID})
	})
}

// mutate runs a call that starts an operation and returns the operation.
func (p *Provider) mutate(ctx context.Context, method string, call func(ctx context.Context) (*compute.Operation, error)) (*compute.Operation, error) {
	var op *compute.Operation
	err := p.do(ctx, bucketMutation, method, func(ctx context.Context) error {
		o, err := call(ctx)
		op = o
		return err
	})
	return op, err
}

// remove runs the delete call del with a requestId that stays the same
// across the call's retries, so that a retry after a lost response does not
// start a second deletion, and waits for its operation (read with
// opsMethod). A resource that is already gone counts as deleted.
func (p *Provider) remove(ctx context.Context, method, opsMethod string, del func(ctx context.Context, requestID *string) (*compute.Operation, error)) error {
	requestID := proto.String(uuid.NewString())
	op, err := p.mutate(ctx, method, func(ctx context.Context) (*compute.Operation, error) { return del(ctx, requestID) })
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if oe := p.waitOp(ctx, op, opsMethod); oe != nil && oe.Kind != providers.NotFound {
		return oe
	}
	return nil
}

// getOrNil runs a read of one resource; one that does not exist is nil,
// not an error.
func getOrNil[T any](ctx context.Context, p *Provider, method string, get func(ctx context.Context) (*T, error)) (*T, error) {
	var v *T
	err := p.do(ctx, bucketRead, method, func(ctx context.Context) error {
		var err error
		v, err = get(ctx)
		return err
	})
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return v, nil
}

func isNotFound(err error) bool {
	pe, ok := providers.AsError(err)
	return ok && pe.Kind == providers.NotFound
}

func invalid(format string, args ...any) *providers.Error {
	return &providers.Error{Provider: ProviderName, Kind: providers.Invalid, Message: fmt.Sprintf(format, args...)}
}
