package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/internal/backoff"
)

const (
	codeOpRateExceeded = "RESOURCE_OPERATION_RATE_EXCEEDED"
	reasonNotFound     = "notFound"
	reasonExists       = "alreadyExists"
)

// Throttle delays suggested in Error.RetryAfter. GCE rate quotas are per
// minute windows; the per-disk snapshot frequency limit is one snapshot per
// 10 minutes with bursts of 6 per hour.
const (
	throttleRetryAfter     = 5 * time.Second
	opRateLimitRetryAfter  = 10 * time.Minute
	retryAfterJitterFactor = 0.2
)

// jitter spreads the retries of callers throttled together.
func jitter(d time.Duration) time.Duration { return backoff.Jitter(d, retryAfterJitterFactor) }

// classify turns an error of the compute client into a *providers.Error.
// The GCE reason (errors[0].reason) is kept in Code and the message
// verbatim.
func classify(err error) *providers.Error {
	if pe, ok := providers.AsError(err); ok {
		return pe
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &providers.Error{Provider: ProviderName, Kind: providers.Transient, Code: "contextDone", Message: err.Error(), Err: err}
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		// Transport failures (connection reset, EOF, timeouts).
		return &providers.Error{Provider: ProviderName, Kind: providers.Transient, Message: err.Error(), Err: err}
	}
	reason := ""
	if len(ge.Errors) > 0 {
		reason = ge.Errors[0].Reason
	}
	msg := ge.Message
	if msg == "" && len(ge.Errors) > 0 {
		msg = ge.Errors[0].Message
	}
	if msg == "" {
		msg = http.StatusText(ge.Code)
	}
	kind, after := classifyHTTP(ge.Code, reason, msg)
	code := reason
	if code == "" {
		code = fmt.Sprintf("http%d", ge.Code)
	}
	if strings.Contains(msg, codeOpRateExceeded) {
		code = codeOpRateExceeded
	}
	return &providers.Error{Provider: ProviderName, Kind: kind, Code: code, Message: msg, RetryAfter: after, Err: err}
}

func classifyHTTP(status int, reason, msg string) (providers.ErrorKind, time.Duration) {
	switch {
	case strings.Contains(msg, codeOpRateExceeded) || reason == codeOpRateExceeded:
		return providers.Throttled, jitter(opRateLimitRetryAfter)
	case status == http.StatusTooManyRequests,
		reason == "rateLimitExceeded", reason == "userRateLimitExceeded", reason == "RATE_LIMIT_EXCEEDED":
		return providers.Throttled, jitter(throttleRetryAfter)
	case reason == "quotaExceeded", reason == "QUOTA_EXCEEDED", strings.Contains(msg, "QUOTA_EXCEEDED"):
		return providers.Quota, 0
	case status == http.StatusNotFound || reason == reasonNotFound:
		return providers.NotFound, 0
	case reason == "resourceInUseByAnotherResource":
		return providers.InUse, 0
	case reason == "resourceNotReady", reason == "conditionNotMet", reason == reasonExists,
		status == http.StatusConflict, status == http.StatusPreconditionFailed:
		return providers.InvalidState, 0
	case status == http.StatusUnauthorized, status == http.StatusForbidden,
		reason == "forbidden", reason == "insufficientPermissions":
		return providers.Permission, 0
	case status >= 500:
		return providers.Transient, 0
	case status == http.StatusBadRequest:
		return providers.Invalid, 0
	}
	return providers.Invalid, 0
}

// opError classifies the error block of a DONE operation; nil if none.
func opError(op *computepb.Operation) *providers.Error {
	errs := op.GetError().GetErrors()
	if len(errs) == 0 {
		if c := op.GetHttpErrorStatusCode(); op.HttpErrorStatusCode != nil && (c < 200 || c > 299) {
			kind, after := classifyHTTP(int(c), "", op.GetHttpErrorMessage())
			return &providers.Error{Provider: ProviderName, Kind: kind, Code: fmt.Sprintf("http%d", c), Message: op.GetHttpErrorMessage(), RetryAfter: after}
		}
		return nil
	}
	first := errs[0]
	code := first.GetCode()
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.GetMessage())
	}
	msg := strings.Join(msgs, "; ")
	var kind providers.ErrorKind
	var after time.Duration
	switch code {
	case codeOpRateExceeded:
		kind, after = providers.Throttled, jitter(opRateLimitRetryAfter)
	case "RATE_LIMIT_EXCEEDED":
		kind, after = providers.Throttled, jitter(throttleRetryAfter)
	case "QUOTA_EXCEEDED":
		kind = providers.Quota
	case "RESOURCE_NOT_FOUND":
		kind = providers.NotFound
	case "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE":
		kind = providers.InUse
	case "RESOURCE_ALREADY_EXISTS", "RESOURCE_NOT_READY", "OPERATION_CANCELED_BY_USER", "CONDITION_NOT_MET":
		kind = providers.InvalidState
	case "INVALID_USAGE", "UNSUPPORTED_OPERATION", "INVALID_FIELD_VALUE", "BAD_REQUEST":
		kind = providers.Invalid
	case "PERMISSIONS_ERROR", "FORBIDDEN":
		kind = providers.Permission
	case "ZONE_RESOURCE_POOL_EXHAUSTED", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE":
		kind = providers.Transient
	default:
		if c := op.GetHttpErrorStatusCode(); c != 0 {
			kind, after = classifyHTTP(int(c), "", msg)
		} else {
			kind = providers.Transient
		}
	}
	return &providers.Error{Provider: ProviderName, Kind: kind, Code: code,
		Message: fmt.Sprintf("operation %s (%s) failed: %s", op.GetName(), op.GetOperationType(), msg), RetryAfter: after}
}

// isReason reports whether err is a GCE error with this reason (or, for
// notFound/alreadyExists, the matching HTTP status).
func isReason(err error, reason string) bool {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return false
	}
	for _, e := range ge.Errors {
		if e.Reason == reason {
			return true
		}
	}
	switch reason {
	case reasonNotFound:
		return ge.Code == http.StatusNotFound
	case reasonExists:
		return ge.Code == http.StatusConflict
	}
	return false
}
