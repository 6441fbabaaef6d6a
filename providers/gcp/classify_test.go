package gcp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/proto"

	"github.com/stratabackup/strata/providers"
)

func gerr(code int, reason, msg string) error {
	e := &googleapi.Error{Code: code, Message: msg, Errors: []googleapi.ErrorItem{{Reason: reason, Message: msg}}}
	// The client returns *apierror.APIError wrapping the googleapi error.
	if ae, ok := apierror.FromError(e); ok {
		return ae
	}
	return e
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err       error
		kind      providers.ErrorKind
		code      string
		retryMin  time.Duration
		retryable bool
	}{
		{gerr(403, "rateLimitExceeded", "Rate Limit Exceeded"), providers.Throttled, "rateLimitExceeded", time.Second, true},
		{gerr(403, "userRateLimitExceeded", "User Rate Limit Exceeded"), providers.Throttled, "userRateLimitExceeded", time.Second, true},
		{gerr(429, "", "Too Many Requests"), providers.Throttled, "http429", time.Second, true},
		{gerr(429, "rateLimitExceeded", "Rate Limit Exceeded"), providers.Throttled, "rateLimitExceeded", time.Second, true},
		{gerr(403, "RESOURCE_OPERATION_RATE_EXCEEDED", "Operation rate exceeded"), providers.Throttled, "RESOURCE_OPERATION_RATE_EXCEEDED", 5 * time.Minute, true},
		{gerr(404, "notFound", "The resource 'x' was not found"), providers.NotFound, "notFound", 0, false},
		{gerr(400, "invalid", "Invalid value"), providers.Invalid, "invalid", 0, false},
		{gerr(400, "resourceNotReady", "not ready"), providers.InvalidState, "resourceNotReady", 0, false},
		{gerr(400, "resourceInUseByAnotherResource", "in use"), providers.InUse, "resourceInUseByAnotherResource", 0, true},
		{gerr(409, "alreadyExists", "exists"), providers.InvalidState, "alreadyExists", 0, false},
		{gerr(403, "forbidden", "Forbidden"), providers.Permission, "forbidden", 0, false},
		{gerr(403, "insufficientPermissions", "Insufficient Permission"), providers.Permission, "insufficientPermissions", 0, false},
		{gerr(403, "quotaExceeded", "Quota 'SNAPSHOTS' exceeded"), providers.Quota, "quotaExceeded", 0, false},
		{gerr(403, "QUOTA_EXCEEDED", "Quota exceeded"), providers.Quota, "QUOTA_EXCEEDED", 0, false},
		{gerr(500, "backendError", "Internal error"), providers.Transient, "backendError", 0, true},
		{gerr(503, "", "unavailable"), providers.Transient, "http503", 0, true},
		{errors.New("connection reset by peer"), providers.Transient, "", 0, true},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), providers.Transient, "contextDone", 0, true},
	}
	for _, c := range cases {
		pe := classify(c.err)
		if pe.Kind != c.kind || pe.Code != c.code || pe.Retryable() != c.retryable || pe.RetryAfter < c.retryMin {
			t.Errorf("classify(%v) = kind %s code %q retryable %v after %v; want %s %q %v ≥%v",
				c.err, pe.Kind, pe.Code, pe.Retryable(), pe.RetryAfter, c.kind, c.code, c.retryable, c.retryMin)
		}
		if pe.Provider != "gcp" || pe.Err == nil {
			t.Errorf("classify(%v) = %+v: want provider gcp and the cause", c.err, pe)
		}
		var ge *googleapi.Error
		if errors.As(c.err, &ge) && pe.Message != ge.Message {
			t.Errorf("classify(%v) message %q, want GCE's verbatim %q", c.err, pe.Message, ge.Message)
		}
	}
}

func TestOpError(t *testing.T) {
	op := func(code, msg string, http int32) *computepb.Operation {
		o := &computepb.Operation{Name: proto.String("op-1"), OperationType: proto.String("createSnapshot"),
			Status: computepb.Operation_DONE.Enum()}
		if code != "" {
			o.Error = &computepb.Error{Errors: []*computepb.Errors{{Code: proto.String(code), Message: proto.String(msg)}}}
		}
		if http != 0 {
			o.HttpErrorStatusCode = proto.Int32(http)
			o.HttpErrorMessage = proto.String("BAD REQUEST")
		}
		return o
	}
	if e := opError(op("", "", 0)); e != nil {
		t.Fatalf("opError(success) = %v", e)
	}
	cases := []struct {
		op   *computepb.Operation
		kind providers.ErrorKind
	}{
		{op("RESOURCE_OPERATION_RATE_EXCEEDED", "Operation rate exceeded for resource 'd'.", 0), providers.Throttled},
		{op("RATE_LIMIT_EXCEEDED", "rate", 0), providers.Throttled},
		{op("QUOTA_EXCEEDED", "Quota 'SNAPSHOTS' exceeded.", 403), providers.Quota},
		{op("RESOURCE_NOT_FOUND", "gone", 404), providers.NotFound},
		{op("RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", "used by image", 400), providers.InUse},
		{op("ZONE_RESOURCE_POOL_EXHAUSTED", "no capacity", 0), providers.Transient},
		{op("INVALID_USAGE", "bad", 400), providers.Invalid},
		{op("SOMETHING_NEW", "?", 503), providers.Transient},
		{op("", "", 400), providers.Invalid},
	}
	for _, c := range cases {
		e := opError(c.op)
		if e == nil || e.Kind != c.kind {
			t.Errorf("opError(%v) = %v, want %s", c.op.GetError(), e, c.kind)
			continue
		}
		if errs := c.op.GetError().GetErrors(); len(errs) > 0 && (e.Code != errs[0].GetCode() || !strings.Contains(e.Message, errs[0].GetMessage())) {
			t.Errorf("opError(%v) = code %q message %q: want GCE's code and words", c.op.GetError(), e.Code, e.Message)
		}
	}
	if e := opError(op("RESOURCE_OPERATION_RATE_EXCEEDED", "x", 0)); e.RetryAfter < 5*time.Minute {
		t.Errorf("per-disk rate RetryAfter = %v, want long", e.RetryAfter)
	}
}

func TestNames(t *testing.T) {
	for _, c := range [][2]string{{"bk-1", "vol-1"}, {"", ""}, {"BK_Ü/1", strings.Repeat("v", 200)}, {"---", "..."}} {
		n := SnapshotName(c[0], c[1])
		if !validName(n) {
			t.Errorf("SnapshotName(%q, %q) = %q: not a valid GCE name", c[0], c[1], n)
		}
		if n != SnapshotName(c[0], c[1]) {
			t.Errorf("SnapshotName not deterministic")
		}
		if d := DiskName(c[1]); !validName(d) {
			t.Errorf("DiskName(%q) = %q: not a valid GCE name", c[1], d)
		}
	}
	if SnapshotName("a-b", "c") == SnapshotName("a", "b-c") {
		t.Error("SnapshotName collides on the separator")
	}
	for _, v := range []string{"bk-abc123", "Backup_2026.01", "ü", "", strings.Repeat("x", 63)} {
		enc := EncodeLabelValue(v)
		if len(enc) > 63 || strings.Trim(enc, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			t.Errorf("EncodeLabelValue(%q) = %q: not a valid label value", v, enc)
		}
		if dec, ok := DecodeLabelValue(enc); !ok || dec != v {
			t.Errorf("DecodeLabelValue(%q) = %q, %v; want %q", enc, dec, ok, v)
		}
	}
	long := strings.Repeat("A", 100)
	enc := EncodeLabelValue(long)
	if len(enc) > 63 || enc == EncodeLabelValue(long+"B") {
		t.Errorf("EncodeLabelValue of long IDs = %q: want ≤63 and distinct", enc)
	}
	if _, ok := DecodeLabelValue(enc); ok {
		t.Errorf("hashed label %q decoded", enc)
	}
	if requestID("snapshot", "k", 0) != requestID("snapshot", "k", 0) || requestID("snapshot", "k", 0) == requestID("snapshot", "k", 1) {
		t.Error("requestID must be deterministic per generation")
	}
	for ref, want := range map[string]string{
		"zones/us-central1-a/disks/d1": "zones/us-central1-a/disks/d1",
		"us-central1-a/d1":             "zones/us-central1-a/disks/d1",
		"projects/p/zones/z1/disks/d2": "zones/z1/disks/d2",
		"https://www.googleapis.com/compute/v1/projects/p/zones/z1/disks/d2": "zones/z1/disks/d2",
	} {
		r, err := parseDiskRef(ref)
		if err != nil || r.String() != want {
			t.Errorf("parseDiskRef(%q) = %v, %v; want %s", ref, r, err, want)
		}
	}
	for _, bad := range []string{"", "d1", "zones/z/disks/", "vol-00000000deadbeef", "a/b/c"} {
		if _, err := parseDiskRef(bad); err == nil {
			t.Errorf("parseDiskRef(%q) accepted", bad)
		}
	}
}
