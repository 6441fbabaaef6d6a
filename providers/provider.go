// Package providers defines the one small interface every cloud implements
// to snapshot volumes, and the typed errors they return. Each provider lives
// in its own package below this one (local, aws, gcp), with its fake beside
// it and the shared contract test in providertest. A cloud's package
// registers a Factory under its name (Register), and the worker opens the
// clouds it is configured for by name (Open); package clouds links them all.
package providers

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SnapshotState is a provider snapshot's state, mapped from the cloud's own.
type SnapshotState string

const (
	StatePending   SnapshotState = "pending"
	StateCompleted SnapshotState = "completed"
	StateFailed    SnapshotState = "failed"
)

// SnapshotSpec names the volume to snapshot and the backup it belongs to.
// (BackupID, VolumeID) identifies the snapshot: starting the same spec twice
// returns the first snapshot rather than creating a second one.
type SnapshotSpec struct {
	BackupID  string
	ClusterID string
	NodeID    string
	VolumeID  string
	// VolumeRef is the provider's reference to the volume (local: the
	// volume directory).
	VolumeRef string
	Zone      string
	SizeGB    int
}

// Snapshot is what the provider reports about one snapshot.
type Snapshot struct {
	ID        string
	BackupID  string
	ClusterID string
	NodeID    string
	VolumeID  string
	State     SnapshotState
	// Progress is 0..100.
	Progress  int
	SizeGB    int
	Error     string
	CreatedAt time.Time
}

// SnapshotFilter selects snapshots by the Strata tags they carry; empty
// fields match all.
type SnapshotFilter struct {
	BackupID  string
	ClusterID string
}

// Provider snapshots volumes. Implementations are safe for concurrent use.
type Provider interface {
	// Name is the provider's name as clusters record it ("local", "aws", "gcp").
	Name() string
	// StartSnapshot starts a snapshot of spec's volume and returns without
	// waiting for it to complete. Idempotent per (BackupID, VolumeID).
	StartSnapshot(ctx context.Context, spec SnapshotSpec) (Snapshot, error)
	// GetSnapshots reports the snapshots with the given IDs, in one call
	// where the cloud allows. IDs the provider does not know are absent from
	// the result, not an error.
	GetSnapshots(ctx context.Context, ids []string) ([]Snapshot, error)
	// ListSnapshots finds Strata's snapshots by their tags.
	ListSnapshots(ctx context.Context, f SnapshotFilter) ([]Snapshot, error)
	// DeleteSnapshot deletes a snapshot; one that does not exist counts as
	// deleted.
	DeleteSnapshot(ctx context.Context, id string) error

	// CreateVolume creates a volume from a snapshot, idempotently by
	// spec.VolumeID (retrying returns the volume the first call created),
	// and returns once the volume exists, possibly still being created.
	// A size below the snapshot's is an Invalid error.
	CreateVolume(ctx context.Context, spec VolumeSpec) (Volume, error)
	// GetVolumes reports volumes by reference; unknown ones are absent.
	GetVolumes(ctx context.Context, refs []string) ([]Volume, error)
	// DeleteVolume deletes a volume; one that does not exist counts as
	// deleted.
	DeleteVolume(ctx context.Context, ref string) error
}

// VolumeSpec is a volume to create from a snapshot for a new cluster.
type VolumeSpec struct {
	// VolumeID is Strata's ID of the new volume; it makes creation
	// idempotent (a deterministic client token or name at the cloud).
	VolumeID   string
	ClusterID  string
	NodeID     string
	SnapshotID string
	SizeGB     int
	Zone       string
	// SourceClusterID is the backed-up cluster (whose fault settings the
	// local provider applies).
	SourceClusterID string
}

// VolumeState is a volume's state, mapped from the cloud's own.
type VolumeState string

const (
	VolumeCreating  VolumeState = "creating"
	VolumeAvailable VolumeState = "available"
	VolumeFailed    VolumeState = "failed"
)

// Volume is what the provider reports about a volume it created.
type Volume struct {
	// Ref is the provider's reference (local: the directory; EBS: vol-…).
	Ref      string
	VolumeID string
	State    VolumeState
	SizeGB   int
	Zone     string
	Error    string
}

// NodeSpec is a node of a new cluster with its volumes.
type NodeSpec struct {
	ClusterID       string
	NodeID          string
	SourceClusterID string
	// VolumeRefs are the provider references of the node's volumes.
	VolumeRefs []string
}

// Provisioner brings up the nodes (VMs) of a new cluster on its volumes.
// Each provider that can restore has one; implementations are idempotent.
type Provisioner interface {
	ProvisionNode(ctx context.Context, spec NodeSpec) error
	// NodeHealthy reports whether a provisioned node is up.
	NodeHealthy(ctx context.Context, clusterID, nodeID string) (bool, error)
	// DeleteNode tears a node down; one that does not exist counts as
	// deleted.
	DeleteNode(ctx context.Context, clusterID, nodeID string) error
}

// ErrorKind classifies a provider failure by what a caller should do.
type ErrorKind string

const (
	// Throttled: retry later with backoff; RetryAfter may say when.
	Throttled ErrorKind = "Throttled"
	// Transient: retry.
	Transient ErrorKind = "Transient"
	// NotFound: the volume or snapshot does not exist; retry cannot fix it.
	NotFound ErrorKind = "NotFound"
	// InvalidState, Permission, Quota, Invalid: retry cannot fix it.
	InvalidState ErrorKind = "InvalidState"
	Permission   ErrorKind = "Permission"
	Quota        ErrorKind = "Quota"
	Invalid      ErrorKind = "Invalid"
	// InUse: the snapshot is used by something else; retry much later.
	InUse ErrorKind = "InUse"
)

// Error is a classified provider failure. Message is the provider's own words
// (with its error code) so that a backup's reason says what to fix.
type Error struct {
	Provider   string
	Kind       ErrorKind
	Code       string
	Message    string
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Code != "" {
		return fmt.Sprintf("%s: %s: %s", e.Provider, e.Code, msg)
	}
	return fmt.Sprintf("%s: %s", e.Provider, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether trying again may succeed.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case Throttled, Transient, InUse:
		return true
	}
	return false
}

// AsError returns err's *Error, if it has one.
func AsError(err error) (*Error, bool) {
	var pe *Error
	ok := errors.As(err, &pe)
	return pe, ok
}

// Registry holds the providers a worker serves, keyed by name ("local") or
// by name and region ("aws/us-east-1"): one cloud client per region, so one
// worker serves local, AWS and GCP clusters in several regions at once.
type Registry map[string]Provider

// Key is the registry key of a provider in a region.
func Key(name, region string) string { return name + "/" + region }

// For returns the provider serving clusters of name in region: the
// region's own entry, else the provider's region-less one.
func (r Registry) For(name, region string) (Provider, error) {
	if p, ok := r[Key(name, region)]; ok {
		return p, nil
	}
	return r.Get(name)
}

// Get returns the named provider, or an error naming the known ones.
func (r Registry) Get(name string) (Provider, error) {
	if p, ok := r[name]; ok {
		return p, nil
	}
	known := make([]string, 0, len(r))
	for k := range r {
		known = append(known, k)
	}
	return nil, &Error{Provider: name, Kind: Invalid, Message: fmt.Sprintf("provider %q is not configured on this worker (configured: %v)", name, known)}
}
