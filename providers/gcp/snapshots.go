package gcp

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/google/uuid"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/stratabackup/strata/providers"
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
		var op *compute.Operation
		err := p.do(ctx, bucketMutation, "disks.createSnapshot", func(ctx context.Context) error {
			o, err := p.disks.CreateSnapshot(ctx, &computepb.CreateSnapshotDiskRequest{
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
			op = o
			return err
		})
		if err != nil {
			if isReason(err, reasonExists) {
				return p.adoptSnapshot(ctx, name, spec)
			}
			return providers.Snapshot{}, err
		}
		if !op.Done() {
			if err := p.pollOp(ctx, op); err != nil {
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
	var s *computepb.Snapshot
	err := p.do(ctx, bucketRead, "snapshots.get", func(ctx context.Context) error {
		var err error
		s, err = p.snaps.Get(ctx, &computepb.GetSnapshotRequest{Project: p.project, Snapshot: name})
		return err
	})
	if err != nil {
		if pe, ok := providers.AsError(err); ok && pe.Kind == providers.NotFound {
			return nil, nil
		}
		return nil, err
	}
	return s, nil
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

// pollOp fetches op once (zoneOperations.get). A failed operation is not an
// error here: the caller inspects op.Proto().GetError().
func (p *Provider) pollOp(ctx context.Context, op *compute.Operation) error {
	return p.do(ctx, bucketOpRead, "zoneOperations.get", func(ctx context.Context) error {
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
func (p *Provider) waitOp(ctx context.Context, op *compute.Operation) *providers.Error {
	delay := 50 * time.Millisecond
	for !op.Done() {
		if err := p.pollOp(ctx, op); err != nil {
			return classify(err)
		}
		if op.Done() {
			break
		}
		if err := sleep(ctx, delay); err != nil {
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
	res, err := p.batch.get(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]providers.Snapshot, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if s, ok := res[id]; ok {
			out = append(out, s)
		}
	}
	return out, nil
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
			if err := p.pollOp(ctx, po.op); err != nil {
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
	reqID := uuid.NewString() // stable across this call's retries
	var op *compute.Operation
	err := p.do(ctx, bucketMutation, "snapshots.delete", func(ctx context.Context) error {
		o, err := p.snaps.Delete(ctx, &computepb.DeleteSnapshotRequest{Project: p.project, Snapshot: id, RequestId: proto.String(reqID)})
		op = o
		return err
	})
	if err != nil {
		if pe, ok := providers.AsError(err); ok && pe.Kind == providers.NotFound {
			return nil
		}
		return err
	}
	if oe := p.waitGlobalOp(ctx, op); oe != nil && oe.Kind != providers.NotFound {
		return oe
	}
	return nil
}

func (p *Provider) waitGlobalOp(ctx context.Context, op *compute.Operation) *providers.Error {
	delay := 50 * time.Millisecond
	for !op.Done() {
		err := p.do(ctx, bucketOpRead, "globalOperations.get", func(ctx context.Context) error {
			err := op.Poll(ctx)
			if err != nil && op.Done() {
				return nil
			}
			return err
		})
		if err != nil {
			return classify(err)
		}
		if op.Done() {
			break
		}
		if err := sleep(ctx, delay); err != nil {
			return classify(ctxError(ctx, err))
		}
		delay = min(delay*2, 5*time.Second)
	}
	return opError(op.Proto())
}

func invalid(format string, args ...any) *providers.Error {
	return &providers.Error{Provider: ProviderName, Kind: providers.Invalid, Message: fmt.Sprintf(format, args...)}
}

// batcher coalesces concurrent GetSnapshots calls.
type batcher struct {
	p       *Provider
	mu      sync.Mutex
	pending []*batchReq
}

type batchReq struct {
	ids  []string
	done chan struct{}
	res  map[string]providers.Snapshot
	err  error
}

func newBatcher(p *Provider) *batcher { return &batcher{p: p} }

func (b *batcher) get(ctx context.Context, ids []string) (map[string]providers.Snapshot, error) {
	r := &batchReq{ids: ids, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, r)
	if len(b.pending) == 1 {
		time.AfterFunc(b.p.window, b.flush)
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctxError(ctx, ctx.Err())
	}
}

func (b *batcher) flush() {
	b.mu.Lock()
	reqs := b.pending
	b.pending = nil
	b.mu.Unlock()
	seen := map[string]bool{}
	var ids []string
	for _, r := range reqs {
		for _, id := range r.ids {
			if !seen[id] && validName(id) {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	// The batch outlives any one caller's ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res := map[string]providers.Snapshot{}
	var err error
	if len(ids) > 0 {
		res, err = b.p.fetchSnapshots(ctx, ids)
	}
	for _, r := range reqs {
		r.res, r.err = res, err
		close(r.done)
	}
}
