package api

import "github.com/stratabackup/strata/api/validate"

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
func (r GetRequest) InputError() error             { return r.input.err }
func (r ListRequest) InputError() error            { return r.input.err }
func (r ListBackupsRequest) InputError() error     { return r.input.err }
func (r ListJobsRequest) InputError() error        { return r.input.err }
func (r ListRestoresRequest) InputError() error    { return r.input.err }
func (r ListChannelsRequest) InputError() error    { return r.input.err }
func (r ListNetworksRequest) InputError() error    { return r.input.err }
func (r CreateClusterRequest) InputError() error   { return r.input.err }
func (r CreateProjectRequest) InputError() error   { return r.input.err }
func (r CreateNetworkRequest) InputError() error   { return r.input.err }
func (r SetNodeHealthRequest) InputError() error   { return r.input.err }
func (r SetFaultsRequest) InputError() error       { return r.input.err }
func (r LockClusterRequest) InputError() error     { return r.input.err }
func (r UnlockClusterRequest) InputError() error   { return r.input.err }
func (r RemoveChannelRequest) InputError() error   { return r.input.err }
func (r CreateJobRequest) InputError() error       { return r.input.err }
func (r UpdateJobRequest) InputError() error       { return r.input.err }
func (r PauseJobRequest) InputError() error        { return r.input.err }
func (r JobRequest) InputError() error             { return r.input.err }
func (r AddChannelRequest) InputError() error      { return r.input.err }

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

func (r *GetRequest) UnmarshalJSON(b []byte) error {
	type wire GetRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *ListRequest) UnmarshalJSON(b []byte) error {
	type wire ListRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *ListBackupsRequest) UnmarshalJSON(b []byte) error {
	type wire ListBackupsRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *ListJobsRequest) UnmarshalJSON(b []byte) error {
	type wire ListJobsRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *ListRestoresRequest) UnmarshalJSON(b []byte) error {
	type wire ListRestoresRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *ListChannelsRequest) UnmarshalJSON(b []byte) error {
	type wire ListChannelsRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *ListNetworksRequest) UnmarshalJSON(b []byte) error {
	type wire ListNetworksRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *CreateClusterRequest) UnmarshalJSON(b []byte) error {
	type wire CreateClusterRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *CreateProjectRequest) UnmarshalJSON(b []byte) error {
	type wire CreateProjectRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *CreateNetworkRequest) UnmarshalJSON(b []byte) error {
	type wire CreateNetworkRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *SetNodeHealthRequest) UnmarshalJSON(b []byte) error {
	type wire SetNodeHealthRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *SetFaultsRequest) UnmarshalJSON(b []byte) error {
	type wire SetFaultsRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *LockClusterRequest) UnmarshalJSON(b []byte) error {
	type wire LockClusterRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *UnlockClusterRequest) UnmarshalJSON(b []byte) error {
	type wire UnlockClusterRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *RemoveChannelRequest) UnmarshalJSON(b []byte) error {
	type wire RemoveChannelRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *CreateJobRequest) UnmarshalJSON(b []byte) error {
	type wire CreateJobRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *UpdateJobRequest) UnmarshalJSON(b []byte) error {
	type wire UpdateJobRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *PauseJobRequest) UnmarshalJSON(b []byte) error {
	type wire PauseJobRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *JobRequest) UnmarshalJSON(b []byte) error {
	type wire JobRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r *AddChannelRequest) UnmarshalJSON(b []byte) error {
	type wire AddChannelRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r CreateRestorePointRequest) InputError() error { return r.input.err }

func (r *CreateRestorePointRequest) UnmarshalJSON(b []byte) error {
	type wire CreateRestorePointRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r PowerRequest) InputError() error { return r.input.err }

func (r *PowerRequest) UnmarshalJSON(b []byte) error {
	type wire PowerRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r SetProfileRequest) InputError() error { return r.input.err }

func (r *SetProfileRequest) UnmarshalJSON(b []byte) error {
	type wire SetProfileRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r DeleteClusterRequest) InputError() error { return r.input.err }

func (r *DeleteClusterRequest) UnmarshalJSON(b []byte) error {
	type wire DeleteClusterRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r LifecycleRequest) InputError() error { return r.input.err }

func (r *LifecycleRequest) UnmarshalJSON(b []byte) error {
	type wire LifecycleRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r PowerOnRequest) InputError() error { return r.input.err }

func (r *PowerOnRequest) UnmarshalJSON(b []byte) error {
	type wire PowerOnRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}

func (r ProfileRequest) InputError() error { return r.input.err }

func (r *ProfileRequest) UnmarshalJSON(b []byte) error {
	type wire ProfileRequest
	r.input.err = validate.DecodeJSON(b, (*wire)(r))
	return nil
}
