package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
	"github.com/stratabackup/strata/catalog"
	"github.com/stratabackup/strata/providers"
)

// permanent is a failure retry cannot fix. The outcomes a busy or sick
// cluster produces in normal operation (locked, unhealthy, bad input) are
// benign: the backup's record carries them, and they must not page anyone
// through the SDK's error logs and failure metrics.
func permanent(reason, format string, args ...any) error {
	opts := temporal.ApplicationErrorOptions{NonRetryable: true}
	switch reason {
	case api.ReasonClusterLocked, api.ReasonClusterUnhealthy, api.ReasonInvalidRequest, api.ReasonClusterNotFound, api.ReasonNotFound, api.ReasonInvalidState:
		opts.Category = temporal.ApplicationErrorCategoryBenign
	}
	return temporal.NewApplicationErrorWithOptions(fmt.Sprintf(format, args...), reason, opts)
}

// InvalidRequest is a rejected input: non-retryable, benign (a caller's
// mistake must not page anyone), and short whatever the input.
func InvalidRequest(format string, args ...any) error {
	return permanent(api.ReasonInvalidRequest, "%s", validate.Truncate(fmt.Sprintf(format, args...), validate.MaxMessageLen))
}

// classify turns an error from the catalog or a provider into an
// application error whose type is a reason code and whose retryability says
// whether trying again can help. subject names what was being worked on
// ("cluster c1", "volume v1 of backup b1").
func classify(err error, subject string) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err
	}
	var invalid *validate.Error
	if errors.As(err, &invalid) {
		return InvalidRequest("%v", invalid)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var nf *catalog.NotFoundError
	if errors.As(err, &nf) {
		reason := api.ReasonInvalidRequest
		if nf.Kind == "cluster" {
			reason = api.ReasonClusterNotFound
		}
		return permanent(reason, "%s: %v", subject, err)
	}
	var state *catalog.StateError
	if errors.As(err, &state) {
		return permanent(api.ReasonInvalidState, "%v", state)
	}
	var locked *catalog.LockedError
	if errors.As(err, &locked) {
		return permanent(api.ReasonClusterLocked, "%v", err)
	}
	if errors.Is(err, catalog.ErrLockLost) {
		return permanent(api.ReasonLockLost, "%s: %v", subject, err)
	}
	if pe, ok := providers.AsError(err); ok {
		msg := fmt.Sprintf("%s: %v", subject, pe)
		if pe.Retryable() {
			return temporal.NewApplicationErrorWithOptions(msg, api.ReasonProviderError, temporal.ApplicationErrorOptions{
				NextRetryDelay: pe.RetryAfter,
			})
		}
		return temporal.NewNonRetryableApplicationError(msg, api.ReasonProviderError, nil)
	}
	// Anything else (a database hiccup, an I/O error) may pass: retry.
	return fmt.Errorf("%s: %w", subject, err)
}
