package workflows

import (
	"github.com/stratabackup/strata/activities"
	"github.com/stratabackup/strata/validate"
)

// input remembers why a workflow's input could not be decoded. Every
// request type decodes strictly (no unknown fields, no wrong types) but
// never fails decoding itself: the SDK would then fail the run with an
// untyped error, while the workflow's first step rejects it as
// InvalidRequest with a message that says what to fix.
type input struct {
	err error
}

// inputError is the decoding problem of a request, as a non-retryable
// InvalidRequest naming what was being decoded; nil if it decoded.
func (in input) inputError(what string) error {
	if in.err == nil {
		return nil
	}
	return permanentInvalid(what, in.err)
}

func permanentInvalid(what string, err error) error {
	return activities.InvalidRequest("%s", validate.Truncate("invalid "+what+": "+err.Error(), validate.MaxMessageLen))
}

func (r *BackupRequest) UnmarshalJSON(b []byte) error {
	type wire BackupRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *ExtendTimeoutRequest) UnmarshalJSON(b []byte) error {
	type wire ExtendTimeoutRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *DeleteBackupRequest) UnmarshalJSON(b []byte) error {
	type wire DeleteBackupRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *PruneRequest) UnmarshalJSON(b []byte) error {
	type wire PruneRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *RestoreRequest) UnmarshalJSON(b []byte) error {
	type wire RestoreRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *RegisterClusterRequest) UnmarshalJSON(b []byte) error {
	type wire RegisterClusterRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *ReconcileRequest) UnmarshalJSON(b []byte) error {
	type wire ReconcileRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *MonitorRequest) UnmarshalJSON(b []byte) error {
	type wire MonitorRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *NotifyRequest) UnmarshalJSON(b []byte) error {
	type wire NotifyRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}
