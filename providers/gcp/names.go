package gcp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/stratabackup/strata/providers"
)

// Label keys Strata puts on snapshots and restored disks.
const (
	LabelBackupID  = "strata-backup-id"
	LabelClusterID = "strata-cluster-id"
	LabelNodeID    = "strata-node-id"
	LabelVolumeID  = "strata-volume-id"
	// LabelSnapshot is on restored disks: the snapshot they came from.
	LabelSnapshot = "strata-snapshot"
)

// descPrefix starts the description of Strata's resources; the rest is the
// JSON of the exact (unencoded) IDs, the source of truth when reading tags
// back (labels may be hashed, see EncodeLabelValue).
const descPrefix = "strata:"

// requestNS is the UUIDv5 namespace of Strata's GCE requestIds.
var requestNS = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/stratabackup/strata/providers/gcp"))

// SnapshotName is the deterministic GCE name of (backupID, volumeID)'s
// snapshot: "st-<readable>-<hash16>", at most 62 characters, matching
// [a-z]([-a-z0-9]*[a-z0-9])?. The readable part is a lossy, truncated
// rendering of the IDs; the hash (SHA-256 of both) keeps names distinct.
func SnapshotName(backupID, volumeID string) string {
	return "st-" + readable(backupID+"-"+volumeID, 42) + hash16("snapshot\x00"+backupID+"\x00"+volumeID)
}

// DiskName is the deterministic GCE name of the disk restored as volumeID:
// "sv-<readable>-<hash16>".
func DiskName(volumeID string) string {
	return "sv-" + readable(volumeID, 42) + hash16("disk\x00"+volumeID)
}

func readable(s string, n int) string {
	var b strings.Builder
	dash := true // no leading dash
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= n {
			break
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if out == "" {
		return ""
	}
	return out + "-"
}

func hash16(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

func requestID(kind, key string, gen int) string {
	return uuid.NewSHA1(requestNS, []byte(kind+"\x00"+key+"\x00"+strconv.Itoa(gen))).String()
}

// EncodeLabelValue makes an ID a valid GCE label value (≤63 characters of
// [a-z0-9_-]) deterministically, so that filters can match it:
//
//   - lowercase letters, digits and '-' are kept;
//   - every other byte (uppercase letters, '_', '.', UTF-8 bytes, …) becomes
//     '_' followed by its two lowercase hex digits ("Ab_c" → "_41b_5fc");
//   - if the result is longer than 63, it is cut to 46 characters and
//     "_h" plus 15 hex digits of the ID's SHA-256 are appended ('h' is not a
//     hex digit, so this never collides with an unhashed encoding).
//
// The encoding is reversible except when hashed; the exact IDs are also kept
// in the resource's description, which is what reading tags back uses.
func EncodeLabelValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	out := b.String()
	if len(out) <= 63 {
		return out
	}
	h := sha256.Sum256([]byte(s))
	return out[:46] + "_h" + hex.EncodeToString(h[:])[:15]
}

// DecodeLabelValue reverses EncodeLabelValue; ok is false for hashed or
// malformed values.
func DecodeLabelValue(v string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '_' {
			b.WriteByte(v[i])
			continue
		}
		if i+3 > len(v) {
			return "", false
		}
		x, err := strconv.ParseUint(v[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(x))
		i += 2
	}
	return b.String(), true
}

// tags are the exact IDs kept in a resource's description.
type tags struct {
	BackupID  string `json:"backup,omitempty"`
	ClusterID string `json:"cluster,omitempty"`
	NodeID    string `json:"node,omitempty"`
	VolumeID  string `json:"volume,omitempty"`
	Snapshot  string `json:"snapshot,omitempty"`
}

func (t tags) labels() map[string]string {
	m := map[string]string{}
	add := func(k, v string) {
		if v != "" {
			m[k] = EncodeLabelValue(v)
		}
	}
	add(LabelBackupID, t.BackupID)
	add(LabelClusterID, t.ClusterID)
	add(LabelNodeID, t.NodeID)
	add(LabelVolumeID, t.VolumeID)
	if t.Snapshot != "" {
		m[LabelSnapshot] = t.Snapshot // a GCE name is a valid label value
	}
	return m
}

func (t tags) description() string {
	b, _ := json.Marshal(t)
	return descPrefix + string(b)
}

// readTags reads Strata's IDs from a resource: the description when it is
// Strata's, else the decodable labels.
func readTags(desc string, labels map[string]string) tags {
	var t tags
	if strings.HasPrefix(desc, descPrefix) && json.Unmarshal([]byte(desc[len(descPrefix):]), &t) == nil {
		return t
	}
	get := func(k string) string {
		v, _ := DecodeLabelValue(labels[k])
		return v
	}
	return tags{BackupID: get(LabelBackupID), ClusterID: get(LabelClusterID), NodeID: get(LabelNodeID), VolumeID: get(LabelVolumeID), Snapshot: labels[LabelSnapshot]}
}

// diskRef is a zonal disk.
type diskRef struct{ Zone, Name string }

func (d diskRef) String() string { return "zones/" + d.Zone + "/disks/" + d.Name }

// parseDiskRef accepts "zones/<zone>/disks/<name>" (optionally prefixed by
// "projects/<p>/" or a full URL) and "<zone>/<name>".
func parseDiskRef(ref string) (diskRef, error) {
	s := ref
	if i := strings.Index(s, "zones/"); i >= 0 && (i == 0 || s[i-1] == '/') {
		parts := strings.Split(s[i:], "/")
		if len(parts) == 4 && parts[2] == "disks" && validName(parts[1]) && validName(parts[3]) {
			return diskRef{Zone: parts[1], Name: parts[3]}, nil
		}
	} else if parts := strings.Split(s, "/"); len(parts) == 2 && validName(parts[0]) && validName(parts[1]) {
		return diskRef{Zone: parts[0], Name: parts[1]}, nil
	}
	return diskRef{}, &providers.Error{Provider: ProviderName, Kind: providers.Invalid, Code: "invalidRef",
		Message: fmt.Sprintf("disk reference %q is not zones/<zone>/disks/<name> or <zone>/<name>", ref)}
}

// validName reports whether s is a valid GCE resource name.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
			return false
		}
	}
	return s[len(s)-1] != '-'
}
