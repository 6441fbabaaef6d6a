// Package awsfake is an in-process, stateful fake of the EC2 EBS API
// (snapshots and volumes) on an httptest server speaking the real
// ec2query protocol: form-encoded POSTs, XML responses in the shapes the
// aws-sdk-go-v2 EC2 client parses, EC2 error XML. Use it only through the
// real SDK client (BaseEndpoint = URL(), anonymous credentials).
//
// Snapshots start pending and complete after SnapshotDuration on the
// fake's Clock (compress it for benchmarks); volumes go creating →
// available after VolumeDuration. Faults: ThrottleNext, FailNext,
// NeverComplete, FailSnapshotsOf, LoseResponseNext, SetRateLimit.
package awsfake

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

var sprintf = fmt.Sprintf

// OwnerID is the account that owns everything in the fake.
const OwnerID = "111122223333"

// Options configure a Server; zero values take defaults.
type Options struct {
	// Clock; default RealClock.
	Clock Clock
	// SnapshotDuration is how long a snapshot stays pending; default 1s.
	SnapshotDuration time.Duration
	// VolumeDuration is how long a created volume stays creating; default 0
	// (available on the first Describe after the create).
	VolumeDuration time.Duration
	// MaxPendingPerVolume answers ConcurrentSnapshotLimitExceeded above
	// it; default 5, negative for no limit.
	MaxPendingPerVolume int
	// PerVolumeInterval, if set, answers
	// SnapshotCreationPerVolumeRateExceeded to a CreateSnapshot of a volume
	// snapshotted less than this long ago (on Clock).
	PerVolumeInterval time.Duration
}

type snapshot struct {
	id, volumeID, description string
	start                     time.Time
	duration                  time.Duration
	sizeGB                    int
	tags                      []xmlTag
	seq                       int
}

type volume struct {
	id, zone, snapshotID, volType string
	sizeGB                        int
	created                       time.Time
	ready                         time.Time
	tags                          []xmlTag
	deleted                       bool
	seq                           int
}

type fault struct {
	code string
	n    int
}

// Server is the fake EC2 endpoint.
type Server struct {
	srv *httptest.Server

	mu             sync.Mutex
	opts           Options
	snapshots      map[string]*snapshot
	volumes        map[string]*volume
	tokens         map[string]tokenRec
	seq            int
	neverComplete  map[string]bool
	failSnapsOf    map[string]bool
	lastSnapOf     map[string]time.Time
	throttleNext   int
	failNext       map[string][]*fault
	loseNext       map[string]int
	calls          map[string]int
	perSecond      map[string]map[int64]int
	limits         map[string]*rate.Limiter
	throttledCount int
}

type tokenRec struct {
	params   string
	volumeID string
}

// New starts a fake server.
func New(o Options) *Server {
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.SnapshotDuration == 0 {
		o.SnapshotDuration = time.Second
	}
	if o.MaxPendingPerVolume == 0 {
		o.MaxPendingPerVolume = 5
	}
	s := &Server{
		opts:          o,
		snapshots:     map[string]*snapshot{},
		volumes:       map[string]*volume{},
		tokens:        map[string]tokenRec{},
		neverComplete: map[string]bool{},
		failSnapsOf:   map[string]bool{},
		lastSnapOf:    map[string]time.Time{},
		failNext:      map[string][]*fault{},
		loseNext:      map[string]int{},
		calls:         map[string]int{},
		perSecond:     map[string]map[int64]int{},
		limits:        map[string]*rate.Limiter{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the endpoint to give the SDK client (BaseEndpoint).
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// SetClock replaces the clock (snapshots already started keep their start
// times, now read against the new clock).
func (s *Server) SetClock(c Clock) { s.mu.Lock(); s.opts.Clock = c; s.mu.Unlock() }

// SetSnapshotDuration sets how long snapshots started from now on stay
// pending.
func (s *Server) SetSnapshotDuration(d time.Duration) {
	s.mu.Lock()
	s.opts.SnapshotDuration = d
	s.mu.Unlock()
}

// SetVolumeDuration sets how long volumes created from now on stay
// creating.
func (s *Server) SetVolumeDuration(d time.Duration) {
	s.mu.Lock()
	s.opts.VolumeDuration = d
	s.mu.Unlock()
}

func newID(prefix string) string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])[:17]
}

// AddVolume seeds an available volume.
func (s *Server) AddVolume(id, zone string, sizeGB int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	now := s.opts.Clock.Now()
	s.volumes[id] = &volume{id: id, zone: zone, sizeGB: sizeGB, volType: "gp3", created: now, ready: now, seq: s.seq}
}

// NewVolume seeds an available volume with a fresh ID and returns the ID.
func (s *Server) NewVolume(zone string, sizeGB int) string {
	id := newID("vol")
	s.AddVolume(id, zone, sizeGB)
	return id
}

// ThrottleNext answers the next n requests (any action) with 503
// RequestLimitExceeded.
func (s *Server) ThrottleNext(n int) { s.mu.Lock(); s.throttleNext += n; s.mu.Unlock() }

// FailNext answers the next n requests of action with the error code
// (status as EC2 uses for it: 503 throttling, 500 internal, else 400).
func (s *Server) FailNext(action, code string, n int) {
	s.mu.Lock()
	s.failNext[action] = append(s.failNext[action], &fault{code: code, n: n})
	s.mu.Unlock()
}

// NeverComplete keeps the snapshots of volumeID pending forever.
func (s *Server) NeverComplete(volumeID string) {
	s.mu.Lock()
	s.neverComplete[volumeID] = true
	s.mu.Unlock()
}

// FailSnapshotsOf makes the snapshots of volumeID end in state error (at
// the time they would have completed) with a StateMessage.
func (s *Server) FailSnapshotsOf(volumeID string) {
	s.mu.Lock()
	s.failSnapsOf[volumeID] = true
	s.mu.Unlock()
}

// LoseResponseNext makes the next request of action take effect and then
// answer 500 InternalError, as if the response were lost: a client that
// retries blindly repeats the side effect.
func (s *Server) LoseResponseNext(action string) { s.mu.Lock(); s.loseNext[action]++; s.mu.Unlock() }

// SetRateLimit enforces an EC2-style token bucket on action (burst tokens,
// refill per second, wall time): requests beyond it get
// RequestLimitExceeded. refill <= 0 removes the limit.
func (s *Server) SetRateLimit(action string, burst int, refill float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if refill <= 0 {
		delete(s.limits, action)
		return
	}
	s.limits[action] = rate.NewLimiter(rate.Limit(refill), burst)
}

// Calls reports the requests received (faulted ones included), by action.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// ResetCalls clears Calls and the per-second histogram.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = map[string]int{}
	s.perSecond = map[string]map[int64]int{}
	s.throttledCount = 0
	s.mu.Unlock()
}

// PerSecond is the histogram of action's requests per wall-clock second
// (Unix seconds → count).
func (s *Server) PerSecond(action string) map[int64]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := maps.Clone(s.perSecond[action])
	if out == nil {
		out = map[int64]int{}
	}
	return out
}

// MaxPerSecond is the most requests of action seen in one wall-clock
// second.
func (s *Server) MaxPerSecond(action string) int {
	m := 0
	for _, v := range s.PerSecond(action) {
		m = max(m, v)
	}
	return m
}

// Throttled is how many requests were answered RequestLimitExceeded
// (injected or by SetRateLimit).
func (s *Server) Throttled() int { s.mu.Lock(); defer s.mu.Unlock(); return s.throttledCount }

// SnapshotCount is the number of live snapshots (all volumes).
func (s *Server) SnapshotCount() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.snapshots) }

// SnapshotsOf returns the IDs of the live snapshots of an EBS volume.
func (s *Server) SnapshotsOf(volumeID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sn := range s.snapshots {
		if sn.volumeID == volumeID {
			out = append(out, sn.id)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	reqID := newID("req")
	if r.Method != http.MethodPost {
		writeXML(w, http.StatusBadRequest, reqID, errBody(apiErr("InvalidAction", "only POST is supported"), reqID))
		return
	}
	if err := r.ParseForm(); err != nil {
		writeXML(w, http.StatusBadRequest, reqID, errBody(apiErr("MalformedQueryString", "%v", err), reqID))
		return
	}
	f := r.PostForm
	action := f.Get("Action")

	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[action]++
	sec := time.Now().Unix()
	if s.perSecond[action] == nil {
		s.perSecond[action] = map[int64]int{}
	}
	s.perSecond[action][sec]++

	if err := s.injected(action); err != nil {
		writeXML(w, err.Status, reqID, errBody(err, reqID))
		return
	}
	var resp any
	var err *APIError
	switch action {
	case "CreateSnapshot":
		resp, err = s.createSnapshot(f)
	case "DescribeSnapshots":
		resp, err = s.describeSnapshots(f)
	case "DeleteSnapshot":
		resp, err = s.deleteSnapshot(f)
	case "CreateVolume":
		resp, err = s.createVolume(f)
	case "DescribeVolumes":
		resp, err = s.describeVolumes(f)
	case "DeleteVolume":
		resp, err = s.deleteVolume(f)
	case "CreateTags":
		resp, err = s.createTags(f)
	default:
		err = apiErr("InvalidAction", "The action %s is not valid for this web service.", action)
	}
	if err != nil {
		writeXML(w, err.Status, reqID, errBody(err, reqID))
		return
	}
	if s.loseNext[action] > 0 {
		s.loseNext[action]--
		e := apiErr("InternalError", "An internal error has occurred (injected: response lost after %s took effect).", action)
		writeXML(w, e.Status, reqID, errBody(e, reqID))
		return
	}
	setRequestID(resp, reqID)
	writeXML(w, http.StatusOK, reqID, resp)
}

// injected returns the fault to answer action with, if any.
func (s *Server) injected(action string) *APIError {
	if s.throttleNext > 0 {
		s.throttleNext--
		s.throttledCount++
		return apiErr("RequestLimitExceeded", "Request limit exceeded.")
	}
	if q := s.failNext[action]; len(q) > 0 {
		f := q[0]
		f.n--
		if f.n <= 0 {
			s.failNext[action] = q[1:]
		}
		if f.code == "RequestLimitExceeded" {
			s.throttledCount++
		}
		return apiErr(f.code, "Injected fault %s for %s.", f.code, action)
	}
	if l := s.limits[action]; l != nil && !l.Allow() {
		s.throttledCount++
		return apiErr("RequestLimitExceeded", "Request limit exceeded.")
	}
	return nil
}

func errBody(e *APIError, reqID string) errorResponse {
	return errorResponse{Errors: []xmlErr{{Code: e.Code, Message: e.Message}}, RequestID: reqID}
}

func setRequestID(resp any, id string) {
	if r, ok := resp.(interface{ setRequestID(string) }); ok {
		r.setRequestID(id)
	}
}

// ---- request parsing ----

// list returns prefix.1, prefix.2, ... values.
func list(f url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		k := prefix + "." + strconv.Itoa(i)
		if _, ok := f[k]; !ok {
			return out
		}
		out = append(out, f.Get(k))
	}
}

type reqFilter struct {
	name   string
	values []string
}

func filters(f url.Values) []reqFilter {
	var out []reqFilter
	for i := 1; ; i++ {
		p := "Filter." + strconv.Itoa(i)
		if _, ok := f[p+".Name"]; !ok {
			return out
		}
		out = append(out, reqFilter{name: f.Get(p + ".Name"), values: list(f, p+".Value")})
	}
}

// tagSpecs returns the tags of the TagSpecification for resourceType.
func tagSpecs(f url.Values, resourceType string) []xmlTag {
	var out []xmlTag
	for i := 1; ; i++ {
		p := "TagSpecification." + strconv.Itoa(i)
		if _, ok := f[p+".ResourceType"]; !ok {
			return out
		}
		if f.Get(p+".ResourceType") != resourceType {
			continue
		}
		for j := 1; ; j++ {
			tp := p + ".Tag." + strconv.Itoa(j)
			if _, ok := f[tp+".Key"]; !ok {
				break
			}
			out = append(out, xmlTag{Key: f.Get(tp + ".Key"), Value: f.Get(tp + ".Value")})
		}
	}
}

func tagValue(tags []xmlTag, key string) (string, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// matchTags handles tag:K and tag-key filters; ok is false for other names.
func matchTags(tags []xmlTag, fl reqFilter) (match, ok bool) {
	switch {
	case strings.HasPrefix(fl.name, "tag:"):
		v, has := tagValue(tags, strings.TrimPrefix(fl.name, "tag:"))
		return has && slices.Contains(fl.values, v), true
	case fl.name == "tag-key":
		for _, t := range tags {
			if slices.Contains(fl.values, t.Key) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

func checkFilterValues(fs []reqFilter) *APIError {
	n := 0
	for _, fl := range fs {
		n += len(fl.values)
	}
	if n > 200 {
		return apiErr("FilterLimitExceeded", "The maximum number of filter values specified on a single call is 200")
	}
	return nil
}

// paginate applies MaxResults/NextToken to n items in order.
func paginate(f url.Values, n int, minMax, maxMax int) (from, to int, next string, err *APIError) {
	if tok := f.Get("NextToken"); tok != "" {
		v, e := strconv.Atoi(strings.TrimPrefix(tok, "page-"))
		if e != nil || v < 0 || v > n || !strings.HasPrefix(tok, "page-") {
			return 0, 0, "", apiErr("InvalidParameterValue", "Invalid value '%s' for nextToken", tok)
		}
		from = v
	}
	to = n
	if ms := f.Get("MaxResults"); ms != "" {
		m, e := strconv.Atoi(ms)
		if e != nil || m < minMax || m > maxMax {
			return 0, 0, "", apiErr("InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between %d and %d.", ms, minMax, maxMax)
		}
		to = min(n, from+m)
	}
	if to < n {
		next = "page-" + strconv.Itoa(to)
	}
	return from, to, next, nil
}

// ---- snapshots ----

func (s *Server) snapState(sn *snapshot) (status, progress, msg string) {
	el := s.opts.Clock.Now().Sub(sn.start)
	done := sn.duration <= 0 || el >= sn.duration
	if s.neverComplete[sn.volumeID] {
		done = false
	}
	if done {
		if s.failSnapsOf[sn.volumeID] {
			return "error", "0%", "Snapshot of volume " + sn.volumeID + " failed: injected internal failure."
		}
		return "completed", "100%", ""
	}
	pct := 0
	if sn.duration > 0 {
		pct = int(100 * el / sn.duration)
	}
	pct = min(max(pct, 0), 99)
	return "pending", strconv.Itoa(pct) + "%", ""
}

func (s *Server) xmlSnap(sn *snapshot) xmlSnapshot {
	status, progress, msg := s.snapState(sn)
	return xmlSnapshot{
		SnapshotID: sn.id, VolumeID: sn.volumeID, Status: status, StatusMessage: msg,
		StartTime: fmtTime(sn.start), Progress: progress, OwnerID: OwnerID, VolumeSize: sn.sizeGB,
		Description: sn.description, StorageTier: "standard", Tags: slices.Clone(sn.tags),
	}
}

func (s *Server) createSnapshot(f url.Values) (any, *APIError) {
	volID := f.Get("VolumeId")
	if volID == "" {
		return nil, apiErr("MissingParameter", "The request must contain the parameter volumeId")
	}
	v := s.volumes[volID]
	if v == nil || v.deleted {
		return nil, apiErr("InvalidVolume.NotFound", "The volume '%s' does not exist.", volID)
	}
	now := s.opts.Clock.Now()
	if s.opts.MaxPendingPerVolume > 0 {
		pending := 0
		for _, sn := range s.snapshots {
			if sn.volumeID == volID {
				if st, _, _ := s.snapState(sn); st != "completed" {
					pending++
				}
			}
		}
		if pending >= s.opts.MaxPendingPerVolume {
			return nil, apiErr("ConcurrentSnapshotLimitExceeded", "Maximum allowed in-progress snapshots for a single volume exceeded.")
		}
	}
	if d := s.opts.PerVolumeInterval; d > 0 {
		if last, ok := s.lastSnapOf[volID]; ok && now.Sub(last) < d {
			return nil, apiErr("SnapshotCreationPerVolumeRateExceeded", "The maximum per volume CreateSnapshot request rate has been exceeded. Use an increasing or variable sleep interval between requests.")
		}
	}
	s.lastSnapOf[volID] = now
	s.seq++
	sn := &snapshot{
		id: newID("snap"), volumeID: volID, description: f.Get("Description"),
		start: now, duration: s.opts.SnapshotDuration, sizeGB: v.sizeGB,
		tags: tagSpecs(f, "snapshot"), seq: s.seq,
	}
	s.snapshots[sn.id] = sn
	x := s.xmlSnap(sn)
	if x.Status == "completed" {
		// A create answers pending, however fast the fake is.
		x.Status, x.Progress = "pending", ""
	}
	return &createSnapshotResponse{xmlSnapshot: x}, nil
}

func (s *Server) describeSnapshots(f url.Values) (any, *APIError) {
	ids := list(f, "SnapshotId")
	owners := list(f, "Owner")
	fs := filters(f)
	if err := checkFilterValues(fs); err != nil {
		return nil, err
	}
	if len(ids) > 0 && f.Get("MaxResults") != "" {
		// Older EC2 docs: MaxResults cannot be combined with SnapshotIds.
		return nil, apiErr("InvalidParameterCombination", "The parameter SnapshotIds cannot be used with the parameter MaxResults")
	}
	for _, id := range ids {
		if s.snapshots[id] == nil {
			return nil, apiErr("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
		}
	}
	for _, o := range owners {
		if o != "self" && o != OwnerID {
			// Only our own snapshots exist here.
			return &describeSnapshotsResponse{}, nil
		}
	}
	var match []*snapshot
	for _, sn := range s.snapshots {
		if len(ids) > 0 && !slices.Contains(ids, sn.id) {
			continue
		}
		ok := true
		for _, fl := range fs {
			if m, handled := matchTags(sn.tags, fl); handled {
				ok = ok && m
				continue
			}
			switch fl.name {
			case "snapshot-id":
				ok = ok && slices.Contains(fl.values, sn.id)
			case "volume-id":
				ok = ok && slices.Contains(fl.values, sn.volumeID)
			case "status":
				st, _, _ := s.snapState(sn)
				ok = ok && slices.Contains(fl.values, st)
			case "owner-id":
				ok = ok && slices.Contains(fl.values, OwnerID)
			case "description":
				ok = ok && slices.Contains(fl.values, sn.description)
			default:
				return nil, apiErr("InvalidParameterValue", "The filter '%s' is invalid", fl.name)
			}
		}
		if ok {
			match = append(match, sn)
		}
	}
	sort.Slice(match, func(i, j int) bool { return match[i].seq < match[j].seq })
	from, to, next, err := paginate(f, len(match), 5, 1000)
	if err != nil {
		return nil, err
	}
	resp := &describeSnapshotsResponse{NextToken: next}
	for _, sn := range match[from:to] {
		resp.Snapshots = append(resp.Snapshots, s.xmlSnap(sn))
	}
	return resp, nil
}

func (s *Server) deleteSnapshot(f url.Values) (any, *APIError) {
	id := f.Get("SnapshotId")
	if !strings.HasPrefix(id, "snap-") {
		return nil, apiErr("InvalidSnapshotID.Malformed", "Invalid id: \"%s\" (expecting \"snap-...\")", id)
	}
	if s.snapshots[id] == nil {
		return nil, apiErr("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	}
	delete(s.snapshots, id)
	return &returnResponse{XMLName: xmlName("DeleteSnapshotResponse"), Return: true}, nil
}

// ---- volumes ----

func (s *Server) xmlVol(v *volume) xmlVolume {
	status := "available"
	switch {
	case v.deleted:
		status = "deleted"
	case s.opts.Clock.Now().Before(v.ready):
		status = "creating"
	}
	return xmlVolume{
		VolumeID: v.id, Size: v.sizeGB, SnapshotID: v.snapshotID, AvailabilityZone: v.zone, Status: status,
		CreateTime: fmtTime(v.created), AttachmentSet: &struct{}{}, VolumeType: v.volType, Iops: 3000, Throughput: 125,
		Tags: slices.Clone(v.tags),
	}
}

func (s *Server) createVolume(f url.Values) (any, *APIError) {
	token := f.Get("ClientToken")
	params := canonical(f, "ClientToken", "Action", "Version")
	if token != "" {
		if rec, ok := s.tokens[token]; ok {
			if rec.params != params {
				return nil, apiErr("IdempotentParameterMismatch", "The client token you have provided is associated with a resource that is already created with different parameters.")
			}
			return &createVolumeResponse{xmlVolume: s.xmlVol(s.volumes[rec.volumeID])}, nil
		}
		if len(token) > 64 {
			return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter clientToken is invalid. Client token must be at most 64 characters.", token)
		}
	}
	zone := f.Get("AvailabilityZone")
	if zone == "" && f.Get("AvailabilityZoneId") == "" {
		return nil, apiErr("MissingParameter", "The request must contain the parameter AvailabilityZone")
	}
	if zone == "" {
		zone = f.Get("AvailabilityZoneId")
	}
	size := 0
	if v := f.Get("Size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65536 {
			return nil, apiErr("InvalidParameterValue", "Volume size %q is invalid", v)
		}
		size = n
	}
	snapID := f.Get("SnapshotId")
	if snapID != "" {
		sn := s.snapshots[snapID]
		if sn == nil {
			return nil, apiErr("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", snapID)
		}
		if st, _, _ := s.snapState(sn); st != "completed" {
			return nil, apiErr("IncorrectState", "Snapshot '%s' is not completed (state %s).", snapID, st)
		}
		if size == 0 {
			size = sn.sizeGB
		}
		if size < sn.sizeGB {
			return nil, apiErr("InvalidParameterValue", "Volume of %dGiB is smaller than snapshot '%s', expect size >= %dGiB", size, snapID, sn.sizeGB)
		}
	} else if size == 0 {
		return nil, apiErr("MissingParameter", "The request must contain the parameter size or snapshotId")
	}
	volType := f.Get("VolumeType")
	if volType == "" {
		volType = "gp2"
	}
	now := s.opts.Clock.Now()
	s.seq++
	v := &volume{
		id: newID("vol"), zone: zone, snapshotID: snapID, volType: volType, sizeGB: size,
		created: now, ready: now.Add(s.opts.VolumeDuration), tags: tagSpecs(f, "volume"), seq: s.seq,
	}
	s.volumes[v.id] = v
	if token != "" {
		s.tokens[token] = tokenRec{params: params, volumeID: v.id}
	}
	x := s.xmlVol(v)
	x.Status = "creating"
	return &createVolumeResponse{xmlVolume: x}, nil
}

// canonical renders f without the given keys, sorted.
func canonical(f url.Values, skip ...string) string {
	var keys []string
	for k := range f {
		if !slices.Contains(skip, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + strings.Join(f[k], ",") + "&")
	}
	return b.String()
}

func (s *Server) describeVolumes(f url.Values) (any, *APIError) {
	ids := list(f, "VolumeId")
	fs := filters(f)
	if err := checkFilterValues(fs); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if v := s.volumes[id]; v == nil || v.deleted {
			return nil, apiErr("InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
		}
	}
	var match []*volume
	for _, v := range s.volumes {
		if v.deleted || (len(ids) > 0 && !slices.Contains(ids, v.id)) {
			continue
		}
		x := s.xmlVol(v)
		ok := true
		for _, fl := range fs {
			if m, handled := matchTags(v.tags, fl); handled {
				ok = ok && m
				continue
			}
			switch fl.name {
			case "volume-id":
				ok = ok && slices.Contains(fl.values, v.id)
			case "status":
				ok = ok && slices.Contains(fl.values, x.Status)
			case "availability-zone":
				ok = ok && slices.Contains(fl.values, v.zone)
			case "snapshot-id":
				ok = ok && slices.Contains(fl.values, v.snapshotID)
			default:
				return nil, apiErr("InvalidParameterValue", "The filter '%s' is invalid", fl.name)
			}
		}
		if ok {
			match = append(match, v)
		}
	}
	sort.Slice(match, func(i, j int) bool { return match[i].seq < match[j].seq })
	from, to, next, err := paginate(f, len(match), 5, 500)
	if err != nil {
		return nil, err
	}
	resp := &describeVolumesResponse{NextToken: next}
	for _, v := range match[from:to] {
		resp.Volumes = append(resp.Volumes, s.xmlVol(v))
	}
	return resp, nil
}

func (s *Server) deleteVolume(f url.Values) (any, *APIError) {
	id := f.Get("VolumeId")
	if !strings.HasPrefix(id, "vol-") {
		return nil, apiErr("InvalidVolumeID.Malformed", "Invalid id: \"%s\" (expecting \"vol-...\")", id)
	}
	v := s.volumes[id]
	if v == nil || v.deleted {
		return nil, apiErr("InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
	}
	v.deleted = true
	return &returnResponse{XMLName: xmlName("DeleteVolumeResponse"), Return: true}, nil
}

func (s *Server) createTags(f url.Values) (any, *APIError) {
	ids := list(f, "ResourceId")
	var tags []xmlTag
	for j := 1; ; j++ {
		tp := "Tag." + strconv.Itoa(j)
		if _, ok := f[tp+".Key"]; !ok {
			break
		}
		tags = append(tags, xmlTag{Key: f.Get(tp + ".Key"), Value: f.Get(tp + ".Value")})
	}
	for _, id := range ids {
		var cur *[]xmlTag
		if sn := s.snapshots[id]; sn != nil {
			cur = &sn.tags
		} else if v := s.volumes[id]; v != nil && !v.deleted {
			cur = &v.tags
		} else if strings.HasPrefix(id, "snap-") {
			return nil, apiErr("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
		} else {
			return nil, apiErr("InvalidID", "The ID '%s' is not valid", id)
		}
		for _, t := range tags {
			*cur = slices.DeleteFunc(*cur, func(o xmlTag) bool { return o.Key == t.Key })
			*cur = append(*cur, t)
		}
	}
	return &returnResponse{XMLName: xmlName("CreateTagsResponse"), Return: true}, nil
}
