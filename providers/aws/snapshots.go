package aws

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"go.uber.org/zap"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/internal/backoff"
	"github.com/stratabackup/strata/providers/internal/poll"
)

// describePageSize is MaxResults of Strata's (always filtered)
// DescribeSnapshots calls (EC2 allows 5..1000).
const describePageSize = 1000

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

func tagsOf(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// parseProgress parses EC2's "NN%" (possibly empty).
func parseProgress(s *string) int {
	v := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(aws.ToString(s)), "%"))
	n, err := strconv.Atoi(v)
	if err != nil {
		if f, ferr := strconv.ParseFloat(v, 64); ferr == nil {
			n = int(f)
		}
	}
	return min(max(n, 0), 100)
}

// snapshotFrom maps an EC2 snapshot to Strata's.
func snapshotFrom(id string, state types.SnapshotState, msg, progress *string, size *int32, start *time.Time, tags []types.Tag) providers.Snapshot {
	t := tagsOf(tags)
	s := providers.Snapshot{
		ID:        id,
		BackupID:  t[TagBackupID],
		ClusterID: t[TagClusterID],
		NodeID:    t[TagNodeID],
		VolumeID:  t[TagVolumeID],
		Progress:  parseProgress(progress),
		SizeGB:    int(aws.ToInt32(size)),
		CreatedAt: aws.ToTime(start),
	}
	switch state {
	case types.SnapshotStateCompleted:
		s.State = providers.StateCompleted
		s.Progress = 100
	case types.SnapshotStateError:
		s.State = providers.StateFailed
		s.Error = aws.ToString(msg)
		if s.Error == "" {
			s.Error = "EBS snapshot " + id + " entered state error"
		}
	default:
		// pending, and the undocumented recoverable/recovering: not
		// terminal; Strata's own deadline bounds them.
		s.State = providers.StatePending
		if s.Progress >= 100 {
			s.Progress = 99
		}
	}
	return s
}

func fromEC2Snapshot(s types.Snapshot) providers.Snapshot {
	return snapshotFrom(aws.ToString(s.SnapshotId), s.State, s.StateMessage, s.Progress, s.VolumeSize, s.StartTime, s.Tags)
}

// describeSnapshots pages through DescribeSnapshots (owner self) with the
// given filters.
func (p *Provider) describeSnapshots(ctx context.Context, filters []types.Filter) ([]types.Snapshot, error) {
	in := &ec2.DescribeSnapshotsInput{
		OwnerIds:   []string{"self"},
		Filters:    filters,
		MaxResults: aws.Int32(describePageSize),
	}
	return collect(ctx, ec2.NewDescribeSnapshotsPaginator(p.client, in), func(o *ec2.DescribeSnapshotsOutput) []types.Snapshot { return o.Snapshots })
}

// pager is an EC2 Describe* paginator of pages O.
type pager[O any] interface {
	HasMorePages() bool
	NextPage(ctx context.Context, optFns ...func(*ec2.Options)) (O, error)
}

// collect reads every page of pg and returns their items.
func collect[O, T any](ctx context.Context, pg pager[O], items func(O) []T) ([]T, error) {
	var out []T
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, items(page)...)
	}
	return out, nil
}

// created remembers a snapshot this process created, for createdTTL:
// long enough to bridge EC2's eventual consistency after CreateSnapshot.
type created struct {
	snap providers.Snapshot
	at   time.Time
}

const createdTTL = 10 * time.Minute

func startKey(backupID, volumeID string) string { return backupID + "\x00" + volumeID }

// StartSnapshot starts an EBS snapshot of spec.VolumeRef, or adopts the one
// already started for (BackupID, VolumeID). CreateSnapshot has no
// ClientToken, so idempotency comes from tags: look up
// tag:strata:backup-id + tag:strata:volume-id first, create only when none
// exists. CreateSnapshot is sent without SDK retries: after a failure whose
// side effect is unknown (a lost response, a 5xx) the loop looks the
// snapshot up again before re-issuing it, so a retry never makes a second
// one. Calls for one key are serialised within the process.
func (p *Provider) StartSnapshot(ctx context.Context, spec providers.SnapshotSpec) (providers.Snapshot, error) {
	if spec.BackupID == "" || spec.VolumeID == "" || spec.VolumeRef == "" {
		return providers.Snapshot{}, errorf(providers.Invalid, "start snapshot: BackupID, VolumeID and VolumeRef are required (got %q, %q, %q)", spec.BackupID, spec.VolumeID, spec.VolumeRef)
	}
	key := startKey(spec.BackupID, spec.VolumeID)
	unlock, err := p.startLocks.Lock(ctx, key)
	if err != nil {
		return providers.Snapshot{}, classify(err)
	}
	defer unlock()

	attempts := max(p.retryer.MaxAttempts(), 1)
	var lastErr error
	for attempt := 1; ; attempt++ {
		snap, found, err := p.findStarted(ctx, spec)
		if err == nil && found {
			return snap, nil
		}
		if err == nil {
			snap, err = p.createSnapshot(ctx, spec)
			if err == nil {
				return snap, nil
			}
		}
		lastErr = err
		pe, _ := providers.AsError(err)
		// Retry here only what the SDK would have retried: request-rate
		// throttling and transient failures. Per-volume snapshot limits
		// go back to the caller with their long RetryAfter.
		retryable := pe != nil && (pe.Kind == providers.Transient ||
			(pe.Kind == providers.Throttled && pe.RetryAfter < RetryAfterSnapshotRate))
		if !retryable || attempt >= attempts || ctx.Err() != nil {
			return providers.Snapshot{}, lastErr
		}
		d, derr := p.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return providers.Snapshot{}, lastErr
		}
		p.log.Debug("retrying StartSnapshot", zap.String("backup", spec.BackupID), zap.String("volume", spec.VolumeID), zap.Int("attempt", attempt), zap.Error(err))
		if err := backoff.Sleep(ctx, d); err != nil {
			return providers.Snapshot{}, lastErr
		}
	}
}

// findStarted looks for the snapshot of (BackupID, VolumeID): by tag at
// EC2, else one this process created (EC2's Describe* is eventually
// consistent right after a create).
func (p *Provider) findStarted(ctx context.Context, spec providers.SnapshotSpec) (providers.Snapshot, bool, error) {
	key := startKey(spec.BackupID, spec.VolumeID)
	res, errs, err := p.lookups.Do(ctx, []string{key})
	if err == nil {
		err = errs[key]
	}
	if err != nil {
		return providers.Snapshot{}, false, classify(err)
	}
	if found := res[key]; len(found) > 0 {
		// Several (two workers raced before either's tags were visible):
		// every caller adopts the same, earliest one.
		slices.SortFunc(found, func(a, b types.Snapshot) int {
			if c := aws.ToTime(a.StartTime).Compare(aws.ToTime(b.StartTime)); c != 0 {
				return c
			}
			return strings.Compare(aws.ToString(a.SnapshotId), aws.ToString(b.SnapshotId))
		})
		if len(found) > 1 {
			dups := make([]string, 0, len(found)-1)
			for _, s := range found[1:] {
				dups = append(dups, aws.ToString(s.SnapshotId))
			}
			p.log.Warn("duplicate EBS snapshots of one backup volume; adopting the earliest",
				zap.String("backup", spec.BackupID), zap.String("volume", spec.VolumeID),
				zap.String("adopted", aws.ToString(found[0].SnapshotId)), zap.Strings("duplicates", dups))
		}
		return fromEC2Snapshot(found[0]), true, nil
	}
	p.createdMu.Lock()
	c, ok := p.created[startKey(spec.BackupID, spec.VolumeID)]
	p.createdMu.Unlock()
	return c.snap, ok, nil
}

// lookupStarted finds the snapshots of several (backup, volume) keys with
// few DescribeSnapshots calls: each call filters on up to 100 backup IDs
// and 100 volume IDs (EC2's 200 filter values) and the cross-product
// matches are sorted out here.
func (p *Provider) lookupStarted(ctx context.Context, keys []string) (map[string][]types.Snapshot, map[string]error) {
	res := map[string][]types.Snapshot{}
	errs := map[string]error{}
	for chunk := range slices.Chunk(keys, MaxFilterValues/2) {
		var backups, volumes []string
		for _, k := range chunk {
			b, v, _ := strings.Cut(k, "\x00")
			backups = append(backups, b)
			volumes = append(volumes, v)
		}
		found, err := p.describeSnapshots(ctx, []types.Filter{
			filter("tag:"+TagBackupID, slices.Compact(slices.Sorted(slices.Values(backups)))...),
			filter("tag:"+TagVolumeID, slices.Compact(slices.Sorted(slices.Values(volumes)))...),
		})
		if err != nil {
			poll.FailAll(errs, chunk, err)
			continue
		}
		want := map[string]bool{}
		for _, k := range chunk {
			want[k] = true
		}
		for _, s := range found {
			t := tagsOf(s.Tags)
			if k := startKey(t[TagBackupID], t[TagVolumeID]); want[k] {
				res[k] = append(res[k], s)
			}
		}
	}
	return res, errs
}

func (p *Provider) createSnapshot(ctx context.Context, spec providers.SnapshotSpec) (providers.Snapshot, error) {
	tags := []types.Tag{
		{Key: aws.String("Name"), Value: aws.String(fmt.Sprintf("strata %s %s", spec.BackupID, spec.VolumeID))},
		{Key: aws.String(TagBackupID), Value: aws.String(spec.BackupID)},
		{Key: aws.String(TagVolumeID), Value: aws.String(spec.VolumeID)},
	}
	if spec.ClusterID != "" {
		tags = append(tags, types.Tag{Key: aws.String(TagClusterID), Value: aws.String(spec.ClusterID)})
	}
	if spec.NodeID != "" {
		tags = append(tags, types.Tag{Key: aws.String(TagNodeID), Value: aws.String(spec.NodeID)})
	}
	out, err := p.client.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{
		VolumeId:          aws.String(spec.VolumeRef),
		Description:       aws.String(fmt.Sprintf("Strata backup %s volume %s (cluster %s node %s)", spec.BackupID, spec.VolumeID, spec.ClusterID, spec.NodeID)),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSnapshot, Tags: tags}},
	}, func(o *ec2.Options) {
		// Not idempotent: StartSnapshot retries it after a lookup.
		o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1)
	})
	if err != nil {
		return providers.Snapshot{}, classify(err)
	}
	if len(out.Tags) == 0 {
		out.Tags = tags
	}
	snap := snapshotFrom(aws.ToString(out.SnapshotId), out.State, out.StateMessage, out.Progress, out.VolumeSize, out.StartTime, out.Tags)
	p.createdMu.Lock()
	now := time.Now()
	for k, c := range p.created {
		if now.Sub(c.at) > createdTTL {
			delete(p.created, k)
		}
	}
	p.created[startKey(spec.BackupID, spec.VolumeID)] = created{snap: snap, at: now}
	p.createdMu.Unlock()
	p.log.Info("started EBS snapshot", zap.String("snapshot", snap.ID), zap.String("volumeRef", spec.VolumeRef),
		zap.String("backup", spec.BackupID), zap.String("volume", spec.VolumeID))
	return snap, nil
}

// GetSnapshots reports the given snapshots. Concurrent callers are
// coalesced: calls within one PollBatchWindow share DescribeSnapshots
// calls (Filters snapshot-id, MaxFilterValues IDs each, so unknown IDs are
// simply absent), and each caller gets its own subset.
func (p *Provider) GetSnapshots(ctx context.Context, ids []string) ([]providers.Snapshot, error) {
	want := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "" })
	if len(want) == 0 {
		return nil, nil
	}
	res, errs, err := p.poller.Do(ctx, want)
	if err != nil {
		return nil, classify(err)
	}
	return poll.Pick(want, res, errs)
}

// fetchSnapshots describes ids in chunks of MaxFilterValues; errs holds
// the error of each ID whose chunk failed.
func (p *Provider) fetchSnapshots(ctx context.Context, ids []string) (map[string]providers.Snapshot, map[string]error) {
	res := map[string]providers.Snapshot{}
	errs := map[string]error{}
	for chunk := range slices.Chunk(ids, MaxFilterValues) {
		found, err := p.describeSnapshots(ctx, []types.Filter{filter("snapshot-id", chunk...)})
		if err != nil {
			poll.FailAll(errs, chunk, err)
			continue
		}
		for _, s := range found {
			res[aws.ToString(s.SnapshotId)] = fromEC2Snapshot(s)
		}
	}
	return res, errs
}

// ListSnapshots finds Strata's snapshots (owner self) by their tags; an
// empty filter lists every snapshot carrying a strata:backup-id tag.
func (p *Provider) ListSnapshots(ctx context.Context, f providers.SnapshotFilter) ([]providers.Snapshot, error) {
	var filters []types.Filter
	if f.BackupID != "" {
		filters = append(filters, filter("tag:"+TagBackupID, f.BackupID))
	}
	if f.ClusterID != "" {
		filters = append(filters, filter("tag:"+TagClusterID, f.ClusterID))
	}
	if len(filters) == 0 {
		filters = append(filters, filter("tag-key", TagBackupID))
	}
	found, err := p.describeSnapshots(ctx, filters)
	if err != nil {
		return nil, err
	}
	out := make([]providers.Snapshot, 0, len(found))
	for _, s := range found {
		out = append(out, fromEC2Snapshot(s))
	}
	return out, nil
}

// DeleteSnapshot deletes a snapshot; InvalidSnapshot.NotFound counts as
// deleted, InvalidSnapshot.InUse (an AMI uses it) is Kind InUse.
func (p *Provider) DeleteSnapshot(ctx context.Context, id string) error {
	_, err := p.client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
	if err != nil {
		pe, _ := providers.AsError(classify(err))
		if pe.Kind != providers.NotFound && pe.Code != "InvalidSnapshotID.Malformed" {
			return pe
		}
	}
	p.createdMu.Lock()
	for k, c := range p.created {
		if c.snap.ID == id {
			delete(p.created, k)
		}
	}
	p.createdMu.Unlock()
	return nil
}
