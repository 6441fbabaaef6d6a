package api

import "github.com/stratabackup/strata/validate"

// input remembers why a workflow's input could not be decoded. Every
// request type decodes strictly (no unknown fields, no wrong types) but
// never fails decoding itself: the SDK would then fail the run with an
// untyped error, while the workflow's first step rejects it as
// InvalidRequest with a message that says what to fix.
type input struct {
	err error
}

// InputError says why the request's JSON could not be decoded; nil if it
// decoded.
func (r BackupRequest) InputError() error          { return r.input.err }
func (r ExtendTimeoutRequest) InputError() error   { return r.input.err }
func (r DeleteBackupRequest) InputError() error    { return r.input.err }
func (r PruneRequest) InputError() error           { return r.input.err }
func (r RestoreRequest) InputError() error         { return r.input.err }
func (r RegisterClusterRequest) InputError() error { return r.input.err }
func (r ReconcileRequest) InputError() error       { return r.input.err }
func (r MonitorRequest) InputError() error         { return r.input.err }
func (r NotifyRequest) InputError() error          { return r.input.err }

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
