package aws

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stratabackup/strata/providers"
	"github.com/stratabackup/strata/providers/internal/backoff"
)

// Retry-after hints for throttling (jitter is added on top: up to the same
// amount again).
const (
	// RetryAfterThrottle follows request-rate throttling
	// (RequestLimitExceeded and friends).
	RetryAfterThrottle = time.Second
	// RetryAfterSnapshotRate follows SnapshotCreationPerVolumeRateExceeded
	// (EC2: at least 15 s between snapshots of one volume).
	RetryAfterSnapshotRate = 15 * time.Second
	// RetryAfterConcurrentSnapshots follows ConcurrentSnapshotLimitExceeded
	// (too many pending snapshots of the volume: wait for one to finish).
	RetryAfterConcurrentSnapshots = time.Minute
	// RetryAfterInUse follows InvalidSnapshot.InUse / VolumeInUse.
	RetryAfterInUse = 10 * time.Minute
	// RetryAfterCapacity follows InsufficientVolumeCapacity.
	RetryAfterCapacity = 30 * time.Second
)

// jitter spreads the retries of callers throttled together.
func jitter(d time.Duration) time.Duration { return backoff.Jitter(d, 1) }

var throttleCodes = map[string]bool{
	"RequestLimitExceeded": true, "Throttling": true, "ThrottlingException": true,
	"ThrottledException": true, "RequestThrottledException": true, "TooManyRequestsException": true,
	"RequestThrottled": true, "EC2ThrottledException": true, "SlowDown": true,
	"BandwidthLimitExceeded": true, "PriorRequestNotComplete": true,
}

var transientCodes = map[string]bool{
	"InternalError": true, "InternalFailure": true, "ServiceUnavailable": true, "Unavailable": true,
	"RequestTimeout": true, "RequestTimeoutException": true,
}

// ClassifyCode maps an EC2 error code (and HTTP status, 0 if unknown) to a
// Kind and a retry-after hint (before jitter).
func ClassifyCode(code string, status int) (providers.ErrorKind, time.Duration) {
	switch {
	case throttleCodes[code]:
		return providers.Throttled, RetryAfterThrottle
	case code == "SnapshotCreationPerVolumeRateExceeded":
		return providers.Throttled, RetryAfterSnapshotRate
	case code == "ConcurrentSnapshotLimitExceeded":
		return providers.Throttled, RetryAfterConcurrentSnapshots
	case code == "InsufficientVolumeCapacity":
		return providers.Transient, RetryAfterCapacity
	case transientCodes[code]:
		return providers.Transient, 0
	case code == "InvalidSnapshot.InUse" || code == "VolumeInUse":
		return providers.InUse, RetryAfterInUse
	case strings.HasSuffix(code, ".NotFound"):
		// InvalidVolume.NotFound, InvalidSnapshot.NotFound, InvalidZone.NotFound, ...
		return providers.NotFound, 0
	case code == "IncorrectState" || code == "IncorrectInstanceState" || code == "InvalidSnapshot.Pending":
		return providers.InvalidState, 0
	case code == "UnauthorizedOperation" || code == "AuthFailure" || code == "OptInRequired" ||
		code == "Blocked" || code == "PendingVerification" || strings.HasPrefix(code, "InvalidClientTokenId") ||
		code == "SignatureDoesNotMatch" || code == "AccessDenied" || code == "AccessDeniedException" ||
		code == "RequestExpired":
		return providers.Permission, 0
	case strings.HasSuffix(code, "LimitExceeded") || code == "MaxIOPSLimitExceeded":
		// SnapshotLimitExceeded, VolumeLimitExceeded, ResourceLimitExceeded, ...
		return providers.Quota, 0
	case strings.HasPrefix(code, "InvalidParameter") || strings.HasSuffix(code, ".Malformed") ||
		code == "MissingParameter" || code == "IdempotentParameterMismatch" || code == "UnknownParameter" ||
		code == "InvalidAction" || code == "DryRunOperation" || code == "UnsupportedOperation" ||
		strings.HasPrefix(code, "Invalid"):
		return providers.Invalid, 0
	case status >= 500 || status == http.StatusTooManyRequests:
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			return providers.Throttled, RetryAfterThrottle
		}
		return providers.Transient, 0
	case status >= 400:
		return providers.Invalid, 0
	}
	return providers.Transient, 0
}

// classify turns an SDK error into a *providers.Error keeping EC2's code
// and message verbatim. A *providers.Error passes through.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if pe, ok := providers.AsError(err); ok {
		return pe
	}
	if isCtxErr(err) {
		return &providers.Error{Provider: Name, Kind: providers.Transient, Message: err.Error(), Err: err}
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		kind, after := ClassifyCode(ae.ErrorCode(), status)
		msg := ae.ErrorMessage()
		if msg == "" {
			msg = err.Error()
		}
		return &providers.Error{Provider: Name, Kind: kind, Code: ae.ErrorCode(), Message: msg, RetryAfter: jitter(after), Err: err}
	}
	var qe ratelimit.QuotaExceededError
	if errors.As(err, &qe) {
		return &providers.Error{Provider: Name, Kind: providers.Throttled, Message: err.Error(), RetryAfter: jitter(RetryAfterThrottle), Err: err}
	}
	if status != 0 {
		kind, after := ClassifyCode("", status)
		return &providers.Error{Provider: Name, Kind: kind, Message: err.Error(), RetryAfter: jitter(after), Err: err}
	}
	// Connection errors, timeouts, undecodable responses.
	return &providers.Error{Provider: Name, Kind: providers.Transient, Message: err.Error(), Err: err}
}
