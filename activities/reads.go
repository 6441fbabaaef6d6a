package activities

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/databases/postgres"
	"github.com/stratabackup/strata/secrets"
)

// Reads answer the control workflow's queries from the catalog: what
// callers with only a Temporal connection read. They never write.
type Reads struct {
	Catalog   catalog.Store
	Schedules client.ScheduleClient
	Secrets   *secrets.Key
	Limits    validate.Limits
	// Databases answer for postgres clusters' servers (nil: none here).
	Databases DatabaseServers

	// ahead holds the backup pages read ahead (see ListBackups).
	mu    sync.Mutex
	ahead map[string]*pageAhead
}

// pageAhead is a backup page being read, or read, before it was asked for.
type pageAhead struct {
	done    chan struct{}
	started time.Time
	page    backupPage
	err     error
}

// Read-ahead bounds: how long a page read ahead is kept, and how many.
const (
	aheadTTL   = 5 * time.Second
	aheadMax   = 16
	aheadDepth = 2
)

// MaxPageBytes bounds the JSON of one page, inside Temporal's limit on a
// query result (2 MB by default).
const MaxPageBytes = 1536 << 10

// GetCluster returns a cluster with its current lock; a postgres
// cluster's node health is what its servers answer now.
func (r *Reads) GetCluster(ctx context.Context, req api.GetRequest) (api.Cluster, error) {
	cl, err := r.Catalog.GetCluster(ctx, req.ID)
	if err != nil || !isPostgres(cl) || r.Databases == nil {
		return cl, notFound(err, "cluster "+req.ID)
	}
	hs := r.Databases.Check(ctx, cl.ID, serverNodes(cl), time.Now())
	for i, h := range hs {
		cl.Nodes[i].Healthy, cl.Nodes[i].ReplicationLagSeconds = h.Healthy, h.LagSeconds
		if h.Healthy && h.Role == postgres.Primary && r.Databases.ArchiveDir(cl.ID) != "" {
			if a, err := r.Databases.Archiving(ctx, cl.ID, cl.Nodes[i].Endpoint); err == nil {
				cl.WAL = &api.WALStatus{ArchivedCount: a.ArchivedCount, LastArchived: a.LastArchived, LastArchivedAt: a.LastArchivedAt,
					FailedCount: a.FailedCount, LastFailed: a.LastFailed, LastFailedAt: a.LastFailedAt, Archive: r.Databases.ArchiveDir(cl.ID),
					OldestPending: a.OldestPending, PendingSince: a.PendingSince}
			}
		}
	}
	if w, err := PITRWindow(ctx, r.Catalog, r.Databases, cl.ID); err == nil {
		cl.PITR = w
	}
	return cl, nil
}

// ListRestorePoints lists a postgres cluster's restore points.
func (r *Reads) ListRestorePoints(ctx context.Context, req api.GetRequest) ([]api.RestorePoint, error) {
	if _, err := r.Catalog.GetCluster(ctx, req.ID); err != nil {
		return nil, notFound(err, "cluster "+req.ID)
	}
	ps, err := r.Catalog.ListRestorePoints(ctx, req.ID)
	return ps, classify(err, "cluster "+req.ID)
}

// ConnectCluster says how to connect to a postgres cluster's primary.
func (r *Reads) ConnectCluster(ctx context.Context, req api.GetRequest) (api.ConnectInfo, error) {
	cl, err := r.Catalog.GetCluster(ctx, req.ID)
	if err != nil {
		return api.ConnectInfo{}, notFound(err, "cluster "+req.ID)
	}
	if !isPostgres(cl) {
		return api.ConnectInfo{}, InvalidRequest("cluster %s is a %s cluster: it runs no database to connect to (create one with --engine postgres)", cl.ID, api.EngineOf(cl.Engine))
	}
	if r.Databases == nil {
		return api.ConnectInfo{}, noDatabases(cl.ID)
	}
	n, ok := primaryOf(cl)
	if !ok {
		return api.ConnectInfo{}, InvalidRequest("cluster %s has no primary node", cl.ID)
	}
	uri, err := r.Databases.URI(cl.ID, n.Endpoint)
	if err != nil {
		return api.ConnectInfo{}, classify(err, "cluster "+cl.ID)
	}
	return api.ConnectInfo{ClusterID: cl.ID, NodeID: n.ID, Endpoint: n.Endpoint, URI: uri}, nil
}

// ListClusters pages through every cluster.
func (r *Reads) ListClusters(ctx context.Context, req api.ListRequest) (converter.RawValue, error) {
	all, err := r.Catalog.ListClusters(ctx)
	if err != nil {
		return converter.RawValue{}, classify(err, "clusters")
	}
	cls := all[:0]
	for _, cl := range all {
		if cl.Status != catalog.ClusterDeleted {
			cls = append(cls, cl)
		}
	}
	return offsetPage(cls, req.PageSize, req.PageToken)
}

// GetProfile returns a profile, built-in or stored, with its clusters and
// whether each one's jobs match it.
func (r *Reads) GetProfile(ctx context.Context, req api.GetRequest) (api.ProfileView, error) {
	return ProfileViewOf(ctx, r.Catalog, req.ID)
}

// ListProfiles lists the built-in profiles, then the stored ones by name.
func (r *Reads) ListProfiles(ctx context.Context, req api.ListRequest) (converter.RawValue, error) {
	stored, err := r.Catalog.ListProfiles(ctx)
	if err != nil {
		return converter.RawValue{}, classify(err, "profiles")
	}
	return offsetPage(append(api.BuiltinProfiles(), stored...), req.PageSize, req.PageToken)
}

// GetBackup returns a backup by its ID or its workflow's.
func (r *Reads) GetBackup(ctx context.Context, req api.GetRequest) (api.Backup, error) {
	id := req.ID
	if !strings.HasPrefix(id, "bk-") {
		id = api.BackupIDFor(id)
	}
	b, err := r.Catalog.GetBackup(ctx, id)
	if catalog.IsNotFound(err) && id != req.ID {
		return api.Backup{}, permanent(api.ReasonNotFound, "backup of workflow %s not found", validate.Quote(req.ID))
	}
	return b, notFound(err, "backup "+req.ID)
}

// ListBackups pages through backups, newest first. The page token is the
// last backup's position, so pages stay exact while backups are added.
//
// Whoever reads one page usually reads the next, so when a page has a next
// one, that page is read at once, outside the query (which holds its
// workflow on this worker), while this one travels to the caller and is
// decoded; the query for it then finds it ready. Pages read ahead expire
// after a few seconds.
func (r *Reads) ListBackups(ctx context.Context, req api.ListBackupsRequest) (converter.RawValue, error) {
	key := aheadKey(req)
	r.mu.Lock()
	a := r.ahead[key]
	delete(r.ahead, key)
	r.mu.Unlock()
	var page backupPage
	var err error
	if a != nil && time.Since(a.started) < aheadTTL {
		select {
		case <-a.done:
			page, err = a.page, a.err
		case <-ctx.Done():
			return converter.RawValue{}, ctx.Err()
		}
	} else {
		page, err = r.listBackups(ctx, req)
	}
	if err == nil && page.next != "" {
		next := req
		next.PageToken = page.next
		r.readAhead(next, aheadDepth)
	}
	return page.raw, err
}

// backupPage is an encoded page of backups and its next page's token.
type backupPage struct {
	raw  converter.RawValue
	next string
}

func aheadKey(req api.ListBackupsRequest) string {
	b, _ := json.Marshal(req)
	return string(b)
}

// readAhead reads req's page, unless it is being read already, and then
// the depth-1 pages after it.
func (r *Reads) readAhead(req api.ListBackupsRequest, depth int) {
	if depth <= 0 {
		return
	}
	key := aheadKey(req)
	a := &pageAhead{done: make(chan struct{}), started: time.Now()}
	r.mu.Lock()
	if r.ahead == nil {
		r.ahead = map[string]*pageAhead{}
	}
	if _, ok := r.ahead[key]; ok {
		r.mu.Unlock()
		return
	}
	for k, old := range r.ahead {
		if time.Since(old.started) > aheadTTL || len(r.ahead) >= aheadMax {
			delete(r.ahead, k)
		}
	}
	r.ahead[key] = a
	r.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), aheadTTL)
		defer cancel()
		a.page, a.err = r.listBackups(ctx, req)
		close(a.done)
		if a.err == nil && a.page.next != "" {
			next := req
			next.PageToken = a.page.next
			r.readAhead(next, depth-1)
		}
	}()
}

func (r *Reads) listBackups(ctx context.Context, req api.ListBackupsRequest) (backupPage, error) {
	f := catalog.BackupFilter{
		ClusterID: req.ClusterID, JobID: req.JobID, ManualOnly: req.ManualOnly, Statuses: req.Statuses,
		IncludeDeleted: req.IncludeDeleted, Limit: pageSize(req.PageSize) + 1, NoDetails: req.View == api.BackupViewBasic,
	}
	if req.PageToken != "" {
		c, err := decodeCursor(req.PageToken)
		if err != nil {
			return backupPage{}, err
		}
		f.After = &c
	}
	bs, err := r.Catalog.ListBackups(ctx, f)
	if err != nil {
		return backupPage{}, classify(err, "backups")
	}
	more := len(bs) > pageSize(req.PageSize)
	if more {
		bs = bs[:pageSize(req.PageSize)]
	}
	var next string
	raw, err := encodePage(bs, more, func(n int) string {
		next = encodeCursor(catalog.CursorOf(bs[n-1]))
		return next
	})
	return backupPage{raw: raw, next: next}, err
}

// GetJob returns a job with its schedule's state.
func (r *Reads) GetJob(ctx context.Context, req api.GetRequest) (api.JobView, error) {
	return JobView(ctx, r.Catalog, r.Schedules, req.ID)
}

// ListJobs pages through the jobs (not deleted) of one cluster or all.
func (r *Reads) ListJobs(ctx context.Context, req api.ListJobsRequest) (converter.RawValue, error) {
	js, err := r.Catalog.ListJobs(ctx, req.ClusterID)
	if err != nil {
		return converter.RawValue{}, classify(err, "jobs")
	}
	return offsetPage(js, req.PageSize, req.PageToken)
}

// PlanPrune is what pruning the job now would do, and why.
func (r *Reads) PlanPrune(ctx context.Context, req api.GetRequest) ([]api.PruneDecision, error) {
	return PlanPrune(ctx, r.Catalog, req.ID, time.Now().UTC())
}

// GetRestore returns a restore record and its cluster.
func (r *Reads) GetRestore(ctx context.Context, req api.GetRequest) (api.RestoreResult, error) {
	rec, err := r.Catalog.GetRestore(ctx, req.ID)
	if err != nil {
		return api.RestoreResult{}, notFound(err, "restore "+req.ID)
	}
	res := api.RestoreResult{Restore: rec}
	if cl, err := r.Catalog.GetCluster(ctx, rec.ClusterID); err == nil {
		res.Cluster = cl
	} else if !catalog.IsNotFound(err) {
		return res, classify(err, "restore "+req.ID)
	}
	return res, nil
}

// ListRestores pages through restores, newest first, of one backup or all.
func (r *Reads) ListRestores(ctx context.Context, req api.ListRestoresRequest) (converter.RawValue, error) {
	rs, err := r.Catalog.ListRestores(ctx, req.BackupID)
	if err != nil {
		return converter.RawValue{}, classify(err, "restores")
	}
	return offsetPage(rs, req.PageSize, req.PageToken)
}

// ListChannels pages through the channels of one project or all, as
// shown: never a URL's path or a secret.
func (r *Reads) ListChannels(ctx context.Context, req api.ListChannelsRequest) (converter.RawValue, error) {
	chs, err := r.Catalog.ListChannels(ctx, req.ProjectID)
	if err != nil {
		return converter.RawValue{}, classify(err, "channels")
	}
	out := make([]api.Channel, len(chs))
	for i, ch := range chs {
		out[i] = ch.API()
	}
	return offsetPage(out, req.PageSize, req.PageToken)
}

// ListProjects pages through every project.
func (r *Reads) ListProjects(ctx context.Context, req api.ListRequest) (converter.RawValue, error) {
	ps, err := r.Catalog.ListProjects(ctx)
	if err != nil {
		return converter.RawValue{}, classify(err, "projects")
	}
	return offsetPage(ps, req.PageSize, req.PageToken)
}

// ListNetworks pages through the networks of one project or all.
func (r *Reads) ListNetworks(ctx context.Context, req api.ListNetworksRequest) (converter.RawValue, error) {
	ns, err := r.Catalog.ListNetworks(ctx, req.ProjectID)
	if err != nil {
		return converter.RawValue{}, classify(err, "networks")
	}
	return offsetPage(ns, req.PageSize, req.PageToken)
}

// WorkerInfo is the sealing key and the bounds requests are checked
// against.
func (r *Reads) WorkerInfo(ctx context.Context) (api.WorkerInfo, error) {
	info := api.WorkerInfo{MaxBackupTimeout: api.Duration(r.Limits.BackupTimeout()), MaxLockTTL: api.Duration(r.Limits.LockTTL())}
	if r.Secrets != nil {
		info.SealingKey = r.Secrets.Public().String()
	}
	return info, nil
}

// encodePage encodes a page of items (the JSON of an api.Page): as many
// of them as fit in MaxPageBytes, at least one. next(n) is the token of
// the page after the first n items, asked for when items were left out or
// more is set. Each item is encoded once, here; the SDK sends the bytes as
// they are.
func encodePage[T any](items []T, more bool, next func(n int) string) (converter.RawValue, error) {
	var body bytes.Buffer
	n := 0
	for i, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return converter.RawValue{}, err
		}
		if i > 0 && body.Len()+1+len(b) > MaxPageBytes-maxTokenBytes {
			break
		}
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(b)
		n++
	}
	var out bytes.Buffer
	out.Grow(body.Len() + maxTokenBytes)
	out.WriteByte('{')
	if n < len(items) || more {
		token, _ := json.Marshal(next(n))
		out.WriteString(`"nextPageToken":`)
		out.Write(token)
		out.WriteByte(',')
	}
	out.WriteString(`"items":[`)
	out.Write(body.Bytes())
	out.WriteString("]}")
	return converter.NewRawValue(&commonpb.Payload{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)},
		Data:     out.Bytes(),
	}), nil
}

// maxTokenBytes is room for a page's token and its framing.
const maxTokenBytes = 512

func pageSize(n int) int {
	if n <= 0 {
		return api.DefaultPageSize
	}
	return min(n, api.MaxPageSize)
}

// offsetPage pages a list read whole; its token is the next item's
// offset, for lists that are short or rarely change (clusters, jobs,
// restores, channels, projects, networks).
func offsetPage[T any](items []T, size int, token string) (converter.RawValue, error) {
	start := 0
	if token != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(token, "o:"))
		if err != nil || !strings.HasPrefix(token, "o:") || n < 0 {
			return converter.RawValue{}, InvalidRequest("invalid list request: pageToken %s is not one this list returned", validate.Quote(token))
		}
		start = min(n, len(items))
	}
	end := min(start+pageSize(size), len(items))
	return encodePage(items[start:end], end < len(items), func(n int) string { return "o:" + strconv.Itoa(start+n) })
}

func encodeCursor(c catalog.BackupCursor) string {
	return "k:" + base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d|%d|%s", c.CreatedAt.UnixMilli(), c.Index, c.ID))
}

func decodeCursor(token string) (catalog.BackupCursor, error) {
	bad := InvalidRequest("invalid list request: pageToken %s is not one this list returned", validate.Quote(token))
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, "k:"))
	if err != nil || !strings.HasPrefix(token, "k:") {
		return catalog.BackupCursor{}, bad
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 {
		return catalog.BackupCursor{}, bad
	}
	at, err1 := strconv.ParseInt(parts[0], 10, 64)
	idx, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil || validate.ID("pageToken", parts[2]) != "" {
		return catalog.BackupCursor{}, bad
	}
	return catalog.BackupCursor{CreatedAt: time.UnixMilli(at).UTC(), Index: idx, ID: parts[2]}, nil
}
