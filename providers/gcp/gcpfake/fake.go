// Package gcpfake is an in-process, stateful fake of the Compute Engine
// REST API subset Strata uses (zonal disks, global snapshots, zone and
// global operations), speaking the JSON wire protocol the real Go client
// (cloud.google.com/go/compute/apiv1) sends and parses. Point the client at
// it with option.WithEndpoint(srv.URL()) and option.WithoutAuthentication().
//
// Behaviour:
//   - disks are seeded with AddDisk (READY); disks inserted from a snapshot
//     are CREATING for the disk duration, then READY;
//   - disks.createSnapshot returns a RUNNING operation that is DONE on its
//     first GET (so op.Wait never sleeps); the snapshot is CREATING for the
//     first half of the snapshot duration, UPLOADING for the second, then
//     READY, on the fake's Clock;
//   - a repeated requestId returns the original operation; a name conflict is
//     409 alreadyExists; missing resources 404 notFound; a disk smaller than
//     its snapshot 400 invalid; a disk from a snapshot that is not READY 400
//     resourceNotReady;
//   - list calls support filters (see filter.go), maxResults and pageToken.
//
// Fault injection: ThrottleNext, FailNext, NeverComplete, FailSnapshotsOf,
// FailOperationNext, LoseResponseNext.
package gcpfake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratabackup/strata/internal/fakeclock"
)

// Clock is the fake's time source for resource state machines.
type Clock = fakeclock.Clock

// CompressedClock runs a factor faster than real time: fake durations of
// minutes pass in milliseconds.
type CompressedClock = fakeclock.Compressed

// NewCompressedClock returns a clock starting now, running factor times
// faster than real time.
func NewCompressedClock(factor float64) *CompressedClock { return fakeclock.NewCompressed(factor) }

const selfBase = "https://www.googleapis.com/compute/v1/"

// Server is the fake. Methods are safe for concurrent use.
type Server struct {
	srv     *httptest.Server
	project string

	mu       sync.Mutex
	clock    Clock
	snapDur  time.Duration
	diskDur  time.Duration
	nextID   int64
	disks    map[string]*disk // zone/name
	snaps    map[string]*snapshot
	ops      map[string]*operation
	reqIDs   map[string]string // requestId → operation name
	calls    map[string]int
	times    []time.Time
	throttle int
	thrCount int
	failNext map[string]*failSpec
	never    map[string]bool
	failOf   map[string]bool
	failOps  []string
	lose     map[string]int
	opPolls  int
}

type failSpec struct {
	code   int
	reason string
	n      int
}

type disk struct {
	id             int64
	zone, name     string
	sizeGB         int64
	created        time.Time
	labels         map[string]string
	description    string
	sourceSnapshot string
	restored       bool
}

type snapshot struct {
	id          int64
	name        string
	diskZone    string
	diskName    string
	diskID      int64
	sizeGB      int64
	created     time.Time
	labels      map[string]string
	description string
	never, fail bool
}

type operation struct {
	id         int64
	name       string
	zone       string // "" for global
	opType     string
	targetLink string
	targetID   int64
	done       bool
	polls      int
	errCode    string
	errMsg     string
	insert     time.Time
}

// New starts a fake for project.
func New(project string) *Server {
	s := &Server{
		project:  project,
		clock:    fakeclock.Real{},
		snapDur:  200 * time.Millisecond,
		diskDur:  50 * time.Millisecond,
		nextID:   1000,
		disks:    map[string]*disk{},
		snaps:    map[string]*snapshot{},
		ops:      map[string]*operation{},
		reqIDs:   map[string]string{},
		calls:    map[string]int{},
		failNext: map[string]*failSpec{},
		never:    map[string]bool{},
		failOf:   map[string]bool{},
		lose:     map[string]int{},
		opPolls:  1,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the endpoint (scheme and host) to give the client.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Project is the fake's project.
func (s *Server) Project() string { return s.project }

// SetClock replaces the clock (default: real time).
func (s *Server) SetClock(c Clock) { s.mu.Lock(); s.clock = c; s.mu.Unlock() }

// SetSnapshotDuration sets how long, on the clock, a snapshot takes from
// CREATING to READY (default 200ms); half of it is CREATING.
func (s *Server) SetSnapshotDuration(d time.Duration) { s.mu.Lock(); s.snapDur = d; s.mu.Unlock() }

// SetDiskDuration sets how long a disk restored from a snapshot is CREATING
// (default 50ms).
func (s *Server) SetDiskDuration(d time.Duration) { s.mu.Lock(); s.diskDur = d; s.mu.Unlock() }

// SetOperationPolls makes operations DONE on their n-th GET (default 1, the
// first; more makes op.Wait sleep about a second per extra poll).
func (s *Server) SetOperationPolls(n int) { s.mu.Lock(); s.opPolls = max(1, n); s.mu.Unlock() }

// AddDisk seeds a READY disk and returns its reference
// "zones/<zone>/disks/<name>".
func (s *Server) AddDisk(zone, name string, sizeGB int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.disks[zone+"/"+name] = &disk{id: s.nextID, zone: zone, name: name, sizeGB: int64(sizeGB), created: s.clock.Now(), labels: map[string]string{}}
	return "zones/" + zone + "/disks/" + name
}

// ThrottleNext makes the next n requests (any method) fail with reason
// rateLimitExceeded, alternately as HTTP 403 (GCE's per-minute quotas) and
// HTTP 429 (front-end throttling).
func (s *Server) ThrottleNext(n int) { s.mu.Lock(); s.throttle += n; s.mu.Unlock() }

// FailNext makes the next n calls of method (e.g. "disks.createSnapshot",
// "snapshots.list") fail with httpCode and reason.
func (s *Server) FailNext(method string, httpCode int, reason string, n int) {
	s.mu.Lock()
	s.failNext[method] = &failSpec{code: httpCode, reason: reason, n: n}
	s.mu.Unlock()
}

// NeverComplete makes snapshots of the disk (by name) stay UPLOADING.
func (s *Server) NeverComplete(diskName string) { s.mu.Lock(); s.never[diskName] = true; s.mu.Unlock() }

// FailSnapshotsOf makes snapshots of the disk (by name) end FAILED.
func (s *Server) FailSnapshotsOf(diskName string) {
	s.mu.Lock()
	s.failOf[diskName] = true
	s.mu.Unlock()
}

// FailOperationNext makes the next mutating call (createSnapshot, insert,
// delete) be accepted (RUNNING operation) with no effect, its operation
// then DONE with an error of code kind (e.g.
// "RESOURCE_OPERATION_RATE_EXCEEDED") and no httpErrorStatusCode, the case
// in which op.Wait returns nil.
func (s *Server) FailOperationNext(kind string) {
	s.mu.Lock()
	s.failOps = append(s.failOps, kind)
	s.mu.Unlock()
}

// LoseResponseNext makes the next call of method take effect and then
// answer HTTP 500, as if the response were lost.
func (s *Server) LoseResponseNext(method string) { s.mu.Lock(); s.lose[method]++; s.mu.Unlock() }

// Calls returns the requests received so far by method ("disks.get",
// "disks.insert", "disks.delete", "disks.list", "disks.createSnapshot",
// "snapshots.get", "snapshots.list", "snapshots.insert", "snapshots.delete",
// "zoneOperations.get", "globalOperations.get", …), faulted ones included.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// RequestTimes returns the arrival time (real clock) of every request.
func (s *Server) RequestTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

// SnapshotNames lists the existing snapshots.
func (s *Server) SnapshotNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.snaps {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// SnapshotStatus returns a snapshot's current status ("" if absent).
func (s *Server) SnapshotStatus(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sn, ok := s.snaps[name]; ok {
		return s.snapStatus(sn)
	}
	return ""
}

// apiError is a GCE error response.
type apiError struct {
	code   int
	reason string
	msg    string
}

func notFound(path string) *apiError {
	return &apiError{http.StatusNotFound, "notFound", fmt.Sprintf("The resource '%s' was not found", path)}
}

func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	domain := "global"
	if e.reason == "rateLimitExceeded" {
		domain = "usageLimits"
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(e.code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": e.code, "message": e.msg,
		"errors": []map[string]any{{"message": e.msg, "domain": domain, "reason": e.reason}},
	}})
}

var (
	nameRE       = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	labelKeyRE   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	labelValueRE = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)
	opPathRE     = regexp.MustCompile(`^(zones/[^/]+|global)/operations/([^/]+)(/wait)?$`)
	diskPathRE   = regexp.MustCompile(`^zones/([^/]+)/disks(?:/([^/]+)(/createSnapshot)?)?$`)
	snapPathRE   = regexp.MustCompile(`^global/snapshots(?:/([^/]+))?$`)
)

// route maps a request to its method name and handler.
func (s *Server) route(r *http.Request, rest string) (string, func(body []byte) (any, *apiError)) {
	q := r.URL.Query()
	if m := opPathRE.FindStringSubmatch(rest); m != nil {
		kind := "globalOperations"
		zone := ""
		if strings.HasPrefix(m[1], "zones/") {
			kind, zone = "zoneOperations", strings.TrimPrefix(m[1], "zones/")
		}
		verb := "get"
		if m[3] != "" {
			verb = "wait"
		}
		if (verb == "get" && r.Method != http.MethodGet) || (verb == "wait" && r.Method != http.MethodPost) {
			return "", nil
		}
		return kind + "." + verb, func([]byte) (any, *apiError) { return s.getOp(zone, m[2]) }
	}
	if m := diskPathRE.FindStringSubmatch(rest); m != nil {
		zone, name := m[1], m[2]
		switch {
		case name == "" && r.Method == http.MethodGet:
			return "disks.list", func([]byte) (any, *apiError) { return s.listDisks(zone, q) }
		case name == "" && r.Method == http.MethodPost:
			return "disks.insert", func(b []byte) (any, *apiError) { return s.insertDisk(zone, q.Get("requestId"), b) }
		case m[3] != "" && r.Method == http.MethodPost:
			return "disks.createSnapshot", func(b []byte) (any, *apiError) { return s.createSnapshot(zone, name, q.Get("requestId"), b) }
		case m[3] == "" && r.Method == http.MethodGet:
			return "disks.get", func([]byte) (any, *apiError) { return s.getDisk(zone, name) }
		case m[3] == "" && r.Method == http.MethodDelete:
			return "disks.delete", func([]byte) (any, *apiError) { return s.deleteDisk(zone, name, q.Get("requestId")) }
		}
		return "", nil
	}
	if m := snapPathRE.FindStringSubmatch(rest); m != nil {
		name := m[1]
		switch {
		case name == "" && r.Method == http.MethodGet:
			return "snapshots.list", func([]byte) (any, *apiError) { return s.listSnapshots(q) }
		case name == "" && r.Method == http.MethodPost:
			return "snapshots.insert", func(b []byte) (any, *apiError) { return s.insertSnapshot(q.Get("requestId"), b) }
		case r.Method == http.MethodGet:
			return "snapshots.get", func([]byte) (any, *apiError) { return s.getSnapshot(name) }
		case r.Method == http.MethodDelete:
			return "snapshots.delete", func([]byte) (any, *apiError) { return s.deleteSnapshot(name, q.Get("requestId")) }
		}
	}
	return "", nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	prefix := "/compute/v1/projects/"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		s.writeError(w, notFound(r.URL.Path))
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, prefix)
	project, rest, _ := strings.Cut(rest, "/")
	method, handler := s.route(r, rest)

	s.mu.Lock()
	s.times = append(s.times, time.Now())
	if method == "" {
		s.calls["unknown"]++
		s.mu.Unlock()
		s.writeError(w, &apiError{http.StatusNotFound, "notFound", "unknown path " + r.Method + " " + r.URL.Path})
		return
	}
	s.calls[method]++
	if s.throttle > 0 {
		s.throttle--
		s.thrCount++
		code := http.StatusForbidden
		if s.thrCount%2 == 0 {
			code = http.StatusTooManyRequests
		}
		s.mu.Unlock()
		s.writeError(w, &apiError{code, "rateLimitExceeded", "Rate Limit Exceeded"})
		return
	}
	if f := s.failNext[method]; f != nil && f.n > 0 {
		f.n--
		s.mu.Unlock()
		s.writeError(w, &apiError{f.code, f.reason, fmt.Sprintf("injected %s failure: %s", method, f.reason)})
		return
	}
	if project != s.project {
		s.mu.Unlock()
		s.writeError(w, notFound("projects/"+project))
		return
	}
	lose := s.lose[method] > 0
	if lose {
		s.lose[method]--
	}
	res, apiErr := handler(body)
	s.mu.Unlock()

	if apiErr != nil {
		s.writeError(w, apiErr)
		return
	}
	if lose {
		s.writeError(w, &apiError{http.StatusInternalServerError, "backendError", "Internal error (response lost by fault injection)"})
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(res)
}

// ----- helpers (s.mu held) -----

func ts(t time.Time) string { return t.Format("2006-01-02T15:04:05.000Z07:00") }

func (s *Server) id() int64 { s.nextID++; return s.nextID }

func (s *Server) zoneURL(zone string) string {
	return selfBase + "projects/" + s.project + "/zones/" + zone
}
func (s *Server) diskURL(zone, name string) string { return s.zoneURL(zone) + "/disks/" + name }
func (s *Server) snapURL(name string) string {
	return selfBase + "projects/" + s.project + "/global/snapshots/" + name
}

// int64 fields travel as JSON strings; the client sends them so too.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	str := strings.Trim(string(b), `"`)
	if str == "" || str == "null" {
		return nil
	}
	n, err := strconv.ParseInt(str, 10, 64)
	*f = flexInt(n)
	return err
}

type resourceBody struct {
	Name           string            `json:"name"`
	Description    string            `json:"description"`
	Labels         map[string]string `json:"labels"`
	SizeGb         flexInt           `json:"sizeGb"`
	SourceSnapshot string            `json:"sourceSnapshot"`
	SourceDisk     string            `json:"sourceDisk"`
	Type           string            `json:"type"`
}

func parseBody(b []byte) (resourceBody, *apiError) {
	var rb resourceBody
	if err := json.Unmarshal(b, &rb); err != nil {
		return rb, &apiError{http.StatusBadRequest, "parseError", "Invalid JSON payload received. " + err.Error()}
	}
	if !nameRE.MatchString(rb.Name) {
		return rb, &apiError{http.StatusBadRequest, "invalid",
			fmt.Sprintf("Invalid value for field 'resource.name': '%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'", rb.Name)}
	}
	for k, v := range rb.Labels {
		if !labelKeyRE.MatchString(k) || !labelValueRE.MatchString(v) {
			return rb, &apiError{http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for field 'resource.labels': label %q=%q", k, v)}
		}
	}
	return rb, nil
}

// replay returns the operation of an already-seen requestId.
func (s *Server) replay(requestID string) (map[string]any, bool) {
	if requestID == "" {
		return nil, false
	}
	if name, ok := s.reqIDs[requestID]; ok {
		if op := s.ops[name]; op != nil {
			return s.opJSON(op), true
		}
	}
	return nil, false
}

// newOp records an operation (RUNNING until its first GET). If a
// FailOperationNext is pending it is consumed and failed is true: the
// caller must then skip the side effect.
func (s *Server) newOp(zone, opType, target string, targetID int64, requestID string) (op *operation, failed bool) {
	now := s.clock.Now()
	op = &operation{id: s.id(), zone: zone, opType: opType, targetLink: target, targetID: targetID, insert: now}
	op.name = fmt.Sprintf("operation-%d-%d", now.UnixMilli(), op.id)
	if len(s.failOps) > 0 {
		op.errCode = s.failOps[0]
		s.failOps = s.failOps[1:]
		op.errMsg = fmt.Sprintf("Operation failed with %s for resource '%s' (fault injection).", op.errCode, strings.TrimPrefix(target, selfBase))
		if op.errCode == "RESOURCE_OPERATION_RATE_EXCEEDED" {
			op.errMsg = fmt.Sprintf("Operation rate exceeded for resource '%s'. Too frequent operations from the source resource.", strings.TrimPrefix(target, selfBase))
		}
		failed = true
	}
	s.ops[op.name] = op
	if requestID != "" {
		s.reqIDs[requestID] = op.name
	}
	return op, failed
}

func (s *Server) opJSON(op *operation) map[string]any {
	m := map[string]any{
		"kind": "compute#operation", "id": strconv.FormatInt(op.id, 10), "name": op.name,
		"operationType": op.opType, "targetLink": op.targetLink, "targetId": strconv.FormatInt(op.targetID, 10),
		"status": "RUNNING", "progress": 0, "user": "strata-test@" + s.project + ".iam.gserviceaccount.com",
		"insertTime": ts(op.insert), "startTime": ts(op.insert),
	}
	if op.zone != "" {
		m["zone"] = s.zoneURL(op.zone)
		m["selfLink"] = s.zoneURL(op.zone) + "/operations/" + op.name
	} else {
		m["selfLink"] = selfBase + "projects/" + s.project + "/global/operations/" + op.name
	}
	if op.done {
		m["status"] = "DONE"
		m["progress"] = 100
		m["endTime"] = ts(op.insert)
		if op.errCode != "" {
			m["error"] = map[string]any{"errors": []map[string]any{{"code": op.errCode, "message": op.errMsg}}}
		}
	}
	return m
}

func (s *Server) getOp(zone, name string) (any, *apiError) {
	op := s.ops[name]
	if op == nil || op.zone != zone {
		if zone != "" {
			return nil, notFound("projects/" + s.project + "/zones/" + zone + "/operations/" + name)
		}
		return nil, notFound("projects/" + s.project + "/global/operations/" + name)
	}
	op.polls++
	if op.polls >= s.opPolls {
		op.done = true
	}
	return s.opJSON(op), nil
}

func (s *Server) snapStatus(sn *snapshot) string {
	el := s.clock.Now().Sub(sn.created)
	half := s.snapDur / 2
	switch {
	case sn.fail:
		if el < half {
			return "CREATING"
		}
		return "FAILED"
	case el < half:
		return "CREATING"
	case sn.never || el < s.snapDur:
		return "UPLOADING"
	}
	return "READY"
}

func (s *Server) snapJSON(sn *snapshot) map[string]any {
	m := map[string]any{
		"kind": "compute#snapshot", "id": strconv.FormatInt(sn.id, 10), "creationTimestamp": ts(sn.created),
		"name": sn.name, "status": s.snapStatus(sn),
		"sourceDisk": s.diskURL(sn.diskZone, sn.diskName), "sourceDiskId": strconv.FormatInt(sn.diskID, 10),
		"diskSizeGb": strconv.FormatInt(sn.sizeGB, 10), "storageBytes": strconv.FormatInt(sn.sizeGB<<20, 10),
		"storageBytesStatus": "UP_TO_DATE", "labelFingerprint": "42WmSpB8rSM=",
		"storageLocations": []string{"us"}, "snapshotType": "STANDARD", "selfLink": s.snapURL(sn.name),
	}
	if len(sn.labels) > 0 {
		m["labels"] = sn.labels
	}
	if sn.description != "" {
		m["description"] = sn.description
	}
	return m
}

func (s *Server) diskStatus(d *disk) string {
	if d.restored && s.clock.Now().Sub(d.created) < s.diskDur {
		return "CREATING"
	}
	return "READY"
}

func (s *Server) diskJSON(d *disk) map[string]any {
	m := map[string]any{
		"kind": "compute#disk", "id": strconv.FormatInt(d.id, 10), "creationTimestamp": ts(d.created),
		"name": d.name, "sizeGb": strconv.FormatInt(d.sizeGB, 10), "zone": s.zoneURL(d.zone),
		"status": s.diskStatus(d), "type": s.zoneURL(d.zone) + "/diskTypes/pd-balanced",
		"labelFingerprint": "42WmSpB8rSM=", "selfLink": s.diskURL(d.zone, d.name),
	}
	if d.sourceSnapshot != "" {
		m["sourceSnapshot"] = s.snapURL(d.sourceSnapshot)
	}
	if len(d.labels) > 0 {
		m["labels"] = d.labels
	}
	if d.description != "" {
		m["description"] = d.description
	}
	return m
}

func (s *Server) createSnapshot(zone, diskName, requestID string, body []byte) (any, *apiError) {
	if op, ok := s.replay(requestID); ok {
		return op, nil
	}
	d := s.disks[zone+"/"+diskName]
	if d == nil {
		return nil, notFound("projects/" + s.project + "/zones/" + zone + "/disks/" + diskName)
	}
	return s.addSnapshot(d, requestID, body, "createSnapshot", zone, s.diskURL(zone, diskName), d.id)
}

func (s *Server) insertSnapshot(requestID string, body []byte) (any, *apiError) {
	if op, ok := s.replay(requestID); ok {
		return op, nil
	}
	rb, e := parseBody(body)
	if e != nil {
		return nil, e
	}
	m := regexp.MustCompile(`zones/([^/]+)/disks/([^/]+)$`).FindStringSubmatch(rb.SourceDisk)
	if m == nil {
		return nil, &apiError{http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for field 'resource.sourceDisk': '%s'.", rb.SourceDisk)}
	}
	d := s.disks[m[1]+"/"+m[2]]
	if d == nil {
		return nil, notFound("projects/" + s.project + "/zones/" + m[1] + "/disks/" + m[2])
	}
	return s.addSnapshot(d, requestID, body, "insert", "", s.snapURL(rb.Name), 0)
}

func (s *Server) addSnapshot(d *disk, requestID string, body []byte, opType, opZone, target string, targetID int64) (any, *apiError) {
	rb, e := parseBody(body)
	if e != nil {
		return nil, e
	}
	if _, ok := s.snaps[rb.Name]; ok {
		return nil, &apiError{http.StatusConflict, "alreadyExists",
			fmt.Sprintf("The resource 'projects/%s/global/snapshots/%s' already exists", s.project, rb.Name)}
	}
	op, failed := s.newOp(opZone, opType, target, targetID, requestID)
	if !failed {
		s.snaps[rb.Name] = &snapshot{
			id: s.id(), name: rb.Name, diskZone: d.zone, diskName: d.name, diskID: d.id, sizeGB: d.sizeGB,
			created: s.clock.Now(), labels: rb.Labels, description: rb.Description,
			never: s.never[d.name], fail: s.failOf[d.name],
		}
	}
	return s.opJSON(op), nil
}

func (s *Server) getSnapshot(name string) (any, *apiError) {
	sn := s.snaps[name]
	if sn == nil {
		return nil, notFound("projects/" + s.project + "/global/snapshots/" + name)
	}
	return s.snapJSON(sn), nil
}

func (s *Server) deleteSnapshot(name, requestID string) (any, *apiError) {
	if op, ok := s.replay(requestID); ok {
		return op, nil
	}
	sn := s.snaps[name]
	if sn == nil {
		return nil, notFound("projects/" + s.project + "/global/snapshots/" + name)
	}
	op, failed := s.newOp("", "delete", s.snapURL(name), sn.id, requestID)
	if !failed {
		delete(s.snaps, name)
	}
	return s.opJSON(op), nil
}

// page applies maxResults and pageToken ("o<offset>") to n sorted items.
func page(q map[string][]string, n int) (lo, hi int, next string, e *apiError) {
	limit := 500
	if v := first(q["maxResults"]); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 0 || m > 500 {
			return 0, 0, "", &apiError{http.StatusBadRequest, "invalid", "Invalid value for field 'maxResults': '" + v + "'. Must be between 0 and 500."}
		}
		if m > 0 {
			limit = m
		}
	}
	if tok := first(q["pageToken"]); tok != "" {
		o, err := strconv.Atoi(strings.TrimPrefix(tok, "o"))
		if err != nil || !strings.HasPrefix(tok, "o") || o < 0 {
			return 0, 0, "", &apiError{http.StatusBadRequest, "invalid", "Invalid value for field 'pageToken': '" + tok + "'."}
		}
		lo = min(o, n)
	}
	hi = min(lo+limit, n)
	if hi < n {
		next = "o" + strconv.Itoa(hi)
	}
	return lo, hi, next, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func fieldGetter(m map[string]any, labels map[string]string) func(string) (string, bool) {
	return func(f string) (string, bool) {
		if k, ok := strings.CutPrefix(f, "labels."); ok {
			v, ok := labels[k]
			return v, ok
		}
		v, ok := m[f]
		if !ok {
			return "", false
		}
		str, ok := v.(string)
		return str, ok
	}
}

func (s *Server) listSnapshots(q map[string][]string) (any, *apiError) {
	f, err := parseFilter(first(q["filter"]))
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "invalid", "Invalid value for field 'filter': '" + first(q["filter"]) + "'. " + err.Error()}
	}
	return listPage(q, f, s.snaps, func(sn *snapshot) (map[string]any, map[string]string) { return s.snapJSON(sn), sn.labels },
		"compute#snapshotList", "projects/"+s.project+"/global/snapshots", selfBase+"projects/"+s.project+"/global/snapshots")
}

// listPage answers a list call: the resources (by key, in key order) whose
// JSON and labels match f, paged by q, in a list of kind.
func listPage[R any](q map[string][]string, f filterExpr, byKey map[string]R, view func(R) (map[string]any, map[string]string), kind, id, selfLink string) (any, *apiError) {
	var items []map[string]any
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		j, labels := view(byKey[k])
		if f.eval(fieldGetter(j, labels)) {
			items = append(items, j)
		}
	}
	lo, hi, next, e := page(q, len(items))
	if e != nil {
		return nil, e
	}
	out := map[string]any{"kind": kind, "id": id, "selfLink": selfLink}
	if hi > lo {
		out["items"] = items[lo:hi]
	}
	if next != "" {
		out["nextPageToken"] = next
	}
	return out, nil
}

func (s *Server) getDisk(zone, name string) (any, *apiError) {
	d := s.disks[zone+"/"+name]
	if d == nil {
		return nil, notFound("projects/" + s.project + "/zones/" + zone + "/disks/" + name)
	}
	return s.diskJSON(d), nil
}

func (s *Server) listDisks(zone string, q map[string][]string) (any, *apiError) {
	f, err := parseFilter(first(q["filter"]))
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "invalid", "Invalid value for field 'filter': " + err.Error()}
	}
	inZone := map[string]*disk{}
	for k, d := range s.disks {
		if d.zone == zone {
			inZone[k] = d
		}
	}
	return listPage(q, f, inZone, func(d *disk) (map[string]any, map[string]string) { return s.diskJSON(d), d.labels },
		"compute#diskList", "projects/"+s.project+"/zones/"+zone+"/disks", s.zoneURL(zone)+"/disks")
}

func (s *Server) insertDisk(zone, requestID string, body []byte) (any, *apiError) {
	if op, ok := s.replay(requestID); ok {
		return op, nil
	}
	rb, e := parseBody(body)
	if e != nil {
		return nil, e
	}
	if _, ok := s.disks[zone+"/"+rb.Name]; ok {
		return nil, &apiError{http.StatusConflict, "alreadyExists",
			fmt.Sprintf("The resource 'projects/%s/zones/%s/disks/%s' already exists", s.project, zone, rb.Name)}
	}
	size := int64(rb.SizeGb)
	var src string
	if rb.SourceSnapshot != "" {
		m := regexp.MustCompile(`(?:^|/)global/snapshots/([^/]+)$`).FindStringSubmatch(rb.SourceSnapshot)
		if m == nil {
			return nil, &apiError{http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for field 'resource.sourceSnapshot': '%s'.", rb.SourceSnapshot)}
		}
		sn := s.snaps[m[1]]
		if sn == nil {
			return nil, notFound("projects/" + s.project + "/global/snapshots/" + m[1])
		}
		if st := s.snapStatus(sn); st != "READY" {
			return nil, &apiError{http.StatusBadRequest, "resourceNotReady",
				fmt.Sprintf("The resource 'projects/%s/global/snapshots/%s' is not ready", s.project, sn.name)}
		}
		if size == 0 {
			size = sn.sizeGB
		}
		if size < sn.sizeGB {
			return nil, &apiError{http.StatusBadRequest, "invalid",
				fmt.Sprintf("Invalid value for field 'resource.sizeGb': '%d'. Requested disk size cannot be smaller than the snapshot size (%d GB).", size, sn.sizeGB)}
		}
		src = sn.name
	}
	if size <= 0 {
		return nil, &apiError{http.StatusBadRequest, "invalid", "Invalid value for field 'resource.sizeGb': must be positive."}
	}
	did := s.id()
	op, failed := s.newOp(zone, "insert", s.diskURL(zone, rb.Name), did, requestID)
	if !failed {
		s.disks[zone+"/"+rb.Name] = &disk{id: did, zone: zone, name: rb.Name, sizeGB: size, created: s.clock.Now(),
			labels: rb.Labels, description: rb.Description, sourceSnapshot: src, restored: true}
	}
	return s.opJSON(op), nil
}

func (s *Server) deleteDisk(zone, name, requestID string) (any, *apiError) {
	if op, ok := s.replay(requestID); ok {
		return op, nil
	}
	d := s.disks[zone+"/"+name]
	if d == nil {
		return nil, notFound("projects/" + s.project + "/zones/" + zone + "/disks/" + name)
	}
	op, failed := s.newOp(zone, "delete", s.diskURL(zone, name), d.id, requestID)
	if !failed {
		delete(s.disks, zone+"/"+name)
	}
	return s.opJSON(op), nil
}
