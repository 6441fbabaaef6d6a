package api_test

import (
	"encoding/json"
	"errors"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
)

// Each workflow's JSON input, decoded as the worker decodes it (the SDK's
// default data converter), never fails decoding and never panics: it is
// either a request whose checks pass or fail with a validate.Error, or an
// input error (InputError) the workflow's first step reports as
// InvalidRequest, in a few hundred bytes. Seed corpora are in testdata/fuzz.
//
// Bytes that are not JSON at all (which neither the temporal CLI nor the
// Web UI sends) are refused by the SDK's converter before any workflow
// code runs: the run fails "unable to decode the workflow function input
// payload" and nothing is created.

// fuzzInput decodes b into a fresh T as the worker would and checks the
// outcome; check applies the request's own validation.
func fuzzInput[T interface{ InputError() error }](t *testing.T, b []byte, check func(T) error) {
	t.Helper()
	if !json.Valid(b) {
		return
	}
	var req T
	p := &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)}, Data: b}
	if err := converter.GetDefaultDataConverter().FromPayload(p, &req); err != nil {
		t.Fatalf("decoding failed instead of being reported by the workflow: %v", err)
	}
	if err := req.InputError(); err != nil {
		if len(err.Error()) > validate.MaxMessageLen {
			t.Fatalf("input error of %d bytes", len(err.Error()))
		}
		return
	}
	if check == nil {
		return
	}
	if err := check(req); err != nil {
		var ve *validate.Error
		if !errors.As(err, &ve) {
			t.Fatalf("rejection is not a validate.Error: %v", err)
		}
		if len(err.Error()) > validate.MaxMessageLen {
			t.Fatalf("rejection of %d bytes", len(err.Error()))
		}
	}
}

func FuzzBackupRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.BackupRequest) error {
			return validate.Backup{ClusterID: r.ClusterID, Label: r.Label, Timeout: r.Timeout.D(), JobID: r.JobID, RequestID: r.RequestID}.Check(validate.Limits{})
		})
	})
}

func FuzzRestoreRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.RestoreRequest) error {
			return r.Check()
		})
	})
}

func FuzzRegisterClusterRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.RegisterClusterRequest) error {
			v := validate.Register{ID: r.ID, Description: r.Description, Provider: r.Provider, Region: r.Region, ProjectID: r.ProjectID, NetworkID: r.NetworkID}
			for _, n := range r.Nodes {
				v.Nodes = append(v.Nodes, validate.RegisterNode{ID: n.ID, Volumes: n.Volumes})
			}
			return v.Check()
		})
	})
}

func FuzzDeleteBackupRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.DeleteBackupRequest) error {
			var p validate.Problems
			p.Add(validate.ID("backupId", r.BackupID))
			return p.Err("delete request")
		})
	})
}

func FuzzPruneRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.PruneRequest) error {
			var p validate.Problems
			p.Add(validate.ID("jobId", r.JobID))
			return p.Err("prune request")
		})
	})
}

func FuzzReconcileRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.ReconcileRequest) error {
			var p validate.Problems
			if r.Grace != nil {
				p.Add(validate.Grace(r.Grace.D()))
			}
			return p.Err("reconcile request")
		})
	})
}

func FuzzMonitorRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.MonitorRequest) error {
			var p validate.Problems
			p.Add(validate.FreshnessMultiple(r.FreshnessMultiple))
			return p.Err("monitor request")
		})
	})
}

func FuzzNotifyRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.NotifyRequest) error { return r.Event.Check() })
	})
}

func FuzzExtendTimeoutRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput[api.ExtendTimeoutRequest](t, b, nil)
	})
}

func FuzzProfileRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.ProfileRequest) error { return r.Check() })
	})
}

func FuzzPowerRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.PowerRequest) error { return r.Check() })
	})
}

func FuzzSetProfileRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.SetProfileRequest) error { return r.Check() })
	})
}

func FuzzLifecycleRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.LifecycleRequest) error { return r.Check() })
	})
}

func FuzzPowerOnRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzInput(t, b, func(r api.PowerOnRequest) error { return r.Check() })
	})
}
