package workflows

import (
	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/api/validate"
)

// inputError is a request's decoding problem (api's InputError) as a
// non-retryable InvalidRequest naming what was being decoded; nil if it
// decoded.
func inputError(what string, err error) error {
	if err == nil {
		return nil
	}
	return activities.InvalidRequest("%s", validate.Truncate("invalid "+what+": "+err.Error(), validate.MaxMessageLen))
}
