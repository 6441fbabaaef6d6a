package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/stratabackup/strata/providers"
)

// nodeFile is Root/nodes/<clusterID>/<nodeID>/node.json.
const nodeFile = "node.json"

// Provisioner is the local provider's providers.Provisioner: a node is a
// directory Root/nodes/<clusterID>/<nodeID>/ whose node.json lists the
// node's volume directories. Get one with Provider.Provisioner.
type Provisioner struct{ p *Provider }

var _ providers.Provisioner = (*Provisioner)(nil)

// Provisioner returns the provisioner of nodes on this provider's volumes.
// It shares the provider's Root and fault lookup.
func (p *Provider) Provisioner() providers.Provisioner { return &Provisioner{p: p} }

// nodeRecord is node.json.
type nodeRecord struct {
	ClusterID       string    `json:"clusterId"`
	NodeID          string    `json:"nodeId"`
	SourceClusterID string    `json:"sourceClusterId,omitempty"`
	VolumeRefs      []string  `json:"volumeRefs"`
	CreatedAt       time.Time `json:"createdAt"`
}

// NodeDir is the directory of a provisioned node.
func (p *Provider) NodeDir(clusterID, nodeID string) string {
	return filepath.Join(p.root, "nodes", clusterID, nodeID)
}

func (n *Provisioner) nodeDir(op, clusterID, nodeID string) (string, error) {
	if err := checkPathElem(clusterID); err != nil {
		return "", &providers.Error{Provider: Name, Kind: providers.Invalid, Message: fmt.Sprintf("%s node %q: cluster ID %q %v", op, nodeID, clusterID, err)}
	}
	if err := checkPathElem(nodeID); err != nil {
		return "", &providers.Error{Provider: Name, Kind: providers.Invalid, Message: fmt.Sprintf("%s node %q of cluster %s: node ID %v", op, nodeID, clusterID, err)}
	}
	return n.p.NodeDir(clusterID, nodeID), nil
}

// ProvisionNode materialises the node directory with its node.json. Every
// volume ref must be an existing volume (else NotFound). Idempotent: the
// same spec again changes nothing. A RestoreFail fault of the source
// cluster makes it fail with a non-retryable InvalidState error.
func (n *Provisioner) ProvisionNode(ctx context.Context, spec providers.NodeSpec) error {
	if err := ctx.Err(); err != nil {
		return ctxError(err, "provision node %s", spec.NodeID)
	}
	dir, err := n.nodeDir("provision", spec.ClusterID, spec.NodeID)
	if err != nil {
		return err
	}
	f, err := n.p.faultsOf(ctx, spec.SourceClusterID, "node "+spec.NodeID)
	if err != nil {
		return err
	}
	if f.RestoreFail {
		return &providers.Error{Provider: Name, Kind: providers.InvalidState, Code: "InjectedFault",
			Message: fmt.Sprintf("injected restore failure (cluster %s fault restoreFail) provisioning node %s", spec.SourceClusterID, spec.NodeID)}
	}
	refs := make([]string, 0, len(spec.VolumeRefs))
	for _, ref := range spec.VolumeRefs {
		path, ok := n.volumeExists(ref)
		if !ok {
			return &providers.Error{Provider: Name, Kind: providers.NotFound, Code: "VolumeNotFound",
				Message: fmt.Sprintf("provision node %s of cluster %s: volume %q not found", spec.NodeID, spec.ClusterID, ref)}
		}
		refs = append(refs, path)
	}

	if cur, err := readNode(dir); err == nil && slices.Equal(cur.VolumeRefs, refs) && cur.SourceClusterID == spec.SourceClusterID {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fsError(err, "provision node %s of cluster %s", spec.NodeID, spec.ClusterID)
	}
	rec := nodeRecord{ClusterID: spec.ClusterID, NodeID: spec.NodeID, SourceClusterID: spec.SourceClusterID, VolumeRefs: refs, CreatedAt: time.Now().UTC()}
	if err := writeJSONAtomic(dir, nodeFile, rec); err != nil {
		return fsError(err, "provision node %s of cluster %s", spec.NodeID, spec.ClusterID)
	}
	n.p.log.Info("node provisioned", zap.String("cluster", spec.ClusterID), zap.String("node", spec.NodeID), zap.Strings("volumes", refs))
	return nil
}

func (n *Provisioner) volumeExists(ref string) (string, bool) {
	path, _, ok := n.p.volumePath(ref)
	if !ok {
		return "", false
	}
	fi, err := os.Stat(path)
	return path, err == nil && fi.IsDir()
}

func readNode(dir string) (nodeRecord, error) {
	var rec nodeRecord
	err := readJSON(filepath.Join(dir, nodeFile), &rec)
	return rec, err
}

// NodeHealthy reports whether the node's node.json exists and all its
// volume directories do.
func (n *Provisioner) NodeHealthy(ctx context.Context, clusterID, nodeID string) (bool, error) {
	dir, err := n.nodeDir("check", clusterID, nodeID)
	if err != nil {
		return false, err
	}
	rec, err := readNode(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fsError(err, "check node %s of cluster %s", nodeID, clusterID)
	}
	for _, ref := range rec.VolumeRefs {
		if _, ok := n.volumeExists(ref); !ok {
			return false, nil
		}
	}
	return true, nil
}

// DeleteNode removes the node's directory; an absent node counts as deleted.
func (n *Provisioner) DeleteNode(ctx context.Context, clusterID, nodeID string) error {
	dir, err := n.nodeDir("delete", clusterID, nodeID)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fsError(err, "delete node %s of cluster %s", nodeID, clusterID)
	}
	// The cluster's directory goes with its last node.
	_ = os.Remove(filepath.Dir(dir))
	return nil
}
