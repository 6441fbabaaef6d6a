package validate

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stratabackup/strata/api/labels"
)

// Limits are the bounds a worker's configuration sets.
type Limits struct {
	// MaxBackupTimeout is the longest snapshot timeout a backup may ask
	// for (--max-backup-timeout); zero means DefaultMaxBackupTimeout.
	MaxBackupTimeout time.Duration
	// MaxLockTTL is the longest lease a lock may ask for (--max-lock-ttl);
	// zero means DefaultMaxLockTTL.
	MaxLockTTL time.Duration
}

// DefaultMaxBackupTimeout is --max-backup-timeout's default.
const DefaultMaxBackupTimeout = 7 * 24 * time.Hour

// BackupTimeout is the longest timeout l allows.
func (l Limits) BackupTimeout() time.Duration {
	if l.MaxBackupTimeout > 0 {
		return l.MaxBackupTimeout
	}
	return DefaultMaxBackupTimeout
}

// LockTTL is the longest lease l allows.
func (l Limits) LockTTL() time.Duration {
	if l.MaxLockTTL > 0 {
		return l.MaxLockTTL
	}
	return DefaultMaxLockTTL
}

// Backup is BackupWorkflow's input.
type Backup struct {
	ClusterID string
	Label     string
	// Timeout zero means the worker's default.
	Timeout   time.Duration
	JobID     string
	RequestID string
}

// Check applies every rule that needs no catalog.
func (b Backup) Check(l Limits) error {
	var p Problems
	p.Add(ID("clusterId", b.ClusterID))
	p.Add(Label("label", b.Label))
	if b.Timeout != 0 {
		p.Add(Duration("timeout", b.Timeout, MinBackupTimeout, l.BackupTimeout()))
	}
	p.Add(OptionalID("jobId", b.JobID))
	p.Add(RequestID("requestId", b.RequestID))
	return p.Err("backup request")
}

// Label checks a label template: at most MaxLabelLen characters, valid
// syntax (labels.Help), no forbidden characters.
func Label(field, template string) string {
	if _, err := labels.Parse(template); err != nil {
		return err.Error()
	}
	return ""
}

// RenderedLabel checks that t renders to at most MaxLabelLen characters for
// a cluster, whatever the backup's index (the longest, 19 digits, is
// assumed): a {cluster:description} of 200 characters repeated must not
// slip a long label past the template's own bound.
func RenderedLabel(t labels.Template, v labels.Vars) string {
	v.Index = math.MaxInt64
	if v.Time.IsZero() {
		v.Time = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if n := utf8.RuneCountInString(t.Render(v)); n > MaxLabelLen {
		return fmt.Sprintf("label template %s renders to up to %d characters for cluster %s: shorten it to render at most %d",
			Quote(t.String()), n, Quote(v.ClusterID), MaxLabelLen)
	}
	return ""
}

// Restore is RestoreWorkflow's input.
type Restore struct {
	BackupID, LatestOfJob, LatestOfCluster string
	// Nodes and DiskGB zero mean the source's.
	Nodes, DiskGB                                                  int
	NetworkID, ProjectID, Description, Region, Provider, RequestID string
	// Target is a point-in-time restore's (postgres backups only).
	Target    RecoveryTarget
	VerifySQL string
}

// Check applies every rule that needs no catalog.
func (r Restore) Check() error {
	var p Problems
	given := 0
	for _, s := range []struct{ field, v string }{
		{"backupId", r.BackupID}, {"latestOfJob", r.LatestOfJob}, {"latestOfCluster", r.LatestOfCluster},
	} {
		if s.v != "" {
			given++
			p.Add(ID(s.field, s.v))
		}
	}
	if given != 1 {
		p.Add("give exactly one of backupId (--backup), latestOfJob (--latest-of-job) or latestOfCluster (--latest-of-cluster)")
	}
	if r.Nodes != 0 {
		p.Add(Count("nodes", r.Nodes, 1, MaxNodes))
	}
	if r.DiskGB != 0 {
		p.Add(Count("diskGb", r.DiskGB, 1, MaxDiskGB))
	}
	p.Add(OptionalID("networkId", r.NetworkID))
	p.Add(OptionalID("projectId", r.ProjectID))
	p.Add(Text("description", r.Description, MaxDescriptionLen))
	if r.Region != "" {
		p.Add(Region("region", r.Region))
	}
	p.Add(OptionalProvider("provider", r.Provider))
	p.Add(RequestID("requestId", r.RequestID))
	for _, problem := range r.Target.Check() {
		p.Add(problem)
	}
	p.Add(VerifySQL("verifySql", r.VerifySQL))
	return p.Err("restore")
}

// Provider checks a provider name ("local", "aws", "gcp").
func Provider(field, v string) string {
	if v == "" {
		return field + " is required"
	}
	return OptionalProvider(field, v)
}

// OptionalProvider is Provider for a field that may be left empty.
func OptionalProvider(field, v string) string {
	if v == "" {
		return ""
	}
	if len(v) > 16 || !idPattern.MatchString(v) {
		return fmt.Sprintf("%s %s: give a provider name such as \"local\", \"aws\" or \"gcp\"", field, Quote(v))
	}
	return ""
}

// Cluster is a new local cluster (`cluster create --provider local`).
type Cluster struct {
	// ID empty means one is generated.
	ID       string
	Provider string
	// Engine empty means "volume".
	Engine                        string
	Nodes, VolumesPerNode, DiskGB int
	Description, Region           string
	ProjectID, NetworkID          string
	DataBytes                     int64
}

// MaxPostgresNodes bounds a postgres cluster: a primary and up to four
// replicas streaming from it.
const MaxPostgresNodes = 5

// Check applies every rule that needs no catalog.
func (c Cluster) Check() error {
	var p Problems
	if c.ID != "" {
		p.Add(NewID("id", c.ID))
	}
	p.Add(Provider("provider", c.Provider))
	postgres := false
	switch c.Engine {
	case "", "volume":
	case "postgres":
		postgres = true
	default:
		p.Addf("engine %s: give \"volume\" (data only, the default) or \"postgres\"", Quote(c.Engine))
	}
	switch {
	case !postgres:
		p.Add(Count("nodes", c.Nodes, 1, MaxNodes))
	case c.Nodes < 1 || c.Nodes > MaxPostgresNodes:
		p.Addf("nodes %d: engine postgres takes 1 to %d (a primary and up to %d replicas)", c.Nodes, MaxPostgresNodes, MaxPostgresNodes-1)
	}
	p.Add(Count("volumes per node", c.VolumesPerNode, 1, MaxVolumesPerNode))
	if postgres && c.VolumesPerNode > 1 {
		p.Addf("volumes per node %d: engine postgres takes 1 (the node's data directory)", c.VolumesPerNode)
	}
	if postgres && c.Provider != "" && c.Provider != "local" {
		p.Addf("provider %s: engine postgres runs on the local provider only", Quote(c.Provider))
	}
	p.Add(Count("disk size in GB", c.DiskGB, 1, MaxDiskGB))
	p.Add(Text("description", c.Description, MaxDescriptionLen))
	p.Add(Region("region", c.Region))
	p.Add(ID("project", c.ProjectID))
	p.Add(ID("network", c.NetworkID))
	switch max := int64(MaxDataMB) << 20; {
	case postgres:
		if c.DataBytes != 0 {
			p.Add("dataBytes: postgres clusters hold a real database; leave dataBytes out")
		}
	case c.DataBytes < 0:
		p.Add("generated data must not be negative (--data-mb)")
	case c.DataBytes > max:
		p.Addf("generated data of %d MB per volume: give at most %d (--data-mb)", c.DataBytes>>20, MaxDataMB)
	case c.DiskGB > 0 && c.DataBytes > int64(c.DiskGB)<<30:
		p.Addf("generated data of %d MB does not fit a %d GB volume (--data-mb, --disk-gb)", c.DataBytes>>20, c.DiskGB)
	}
	return p.Err("cluster")
}

// Register is RegisterClusterWorkflow's input: an existing cloud cluster
// named by its nodes' volumes.
type Register struct {
	ID, Description, Provider, Region, ProjectID, NetworkID string
	Nodes                                                   []RegisterNode
}

// RegisterNode is a node and its volumes' provider references.
type RegisterNode struct {
	ID      string
	Volumes []string
}

// MaxNodeIDLen bounds a node's ID so that its volumes' IDs
// ("<node>-v16") fit MaxIDLen.
const MaxNodeIDLen = MaxIDLen - 4

// Check applies every rule that needs no catalog or provider.
func (r Register) Check() error {
	var p Problems
	p.Add(NewID("id", r.ID))
	p.Add(Text("description", r.Description, MaxDescriptionLen))
	p.Add(Provider("provider", r.Provider))
	p.Add(Region("region", r.Region))
	p.Add(ID("projectId", r.ProjectID))
	p.Add(ID("networkId", r.NetworkID))
	if len(r.Nodes) == 0 || len(r.Nodes) > MaxNodes {
		p.Addf("%d nodes: give 1 to %d, each with its volumes (--node NAME=VOLUME[,VOLUME...])", len(r.Nodes), MaxNodes)
	}
	nodes := map[string]bool{}
	refs := map[string]string{}
	for i, n := range r.Nodes {
		if i >= MaxNodes {
			break
		}
		field := fmt.Sprintf("node %d", i+1)
		if n.ID == "" {
			p.Add(field + " needs a name")
		} else if msg := idShape(field+" name", n.ID, MaxNodeIDLen); msg != "" {
			p.Add(msg)
		} else if nodes[n.ID] {
			p.Addf("node %s is given twice", n.ID)
		}
		nodes[n.ID] = true
		if len(n.Volumes) == 0 || len(n.Volumes) > MaxVolumesPerNode {
			p.Addf("node %s has %d volumes: give 1 to %d", Quote(n.ID), len(n.Volumes), MaxVolumesPerNode)
		}
		for j, v := range n.Volumes {
			if j >= MaxVolumesPerNode {
				break
			}
			if msg := VolumeRef(fmt.Sprintf("volume %d of node %s", j+1, Quote(n.ID)), v); msg != "" {
				p.Add(msg)
				continue
			}
			if other, dup := refs[v]; dup {
				p.Addf("volume %s is given twice (nodes %s and %s)", Quote(v), Quote(other), Quote(n.ID))
			}
			refs[v] = n.ID
		}
	}
	return p.Err("cluster")
}

// Reserved first words of lock holders: a lock held by a Strata operation
// names the operation ("backup bk-…"), and is released only by it.
var operationKinds = []string{"backup", "restore", "delete", "prune", "strata", "lifecycle"}

// OperationHolder is the holder name of a Strata operation's lock.
func OperationHolder(kind, id string) string { return kind + " " + id }

// IsOperationHolder reports whether holder names a Strata operation (its
// lock can be released only by that operation; cancel it instead).
func IsOperationHolder(holder string) bool {
	first, _, _ := strings.Cut(strings.TrimSpace(holder), " ")
	for _, k := range operationKinds {
		if strings.EqualFold(first, k) {
			return true
		}
	}
	return false
}

// Lock is an outside operation's lock request (`cluster lock`).
type Lock struct {
	ClusterID string
	Holder    string
	TTL       time.Duration
}

// Check applies every rule that needs no catalog.
func (k Lock) Check(l Limits) error {
	var p Problems
	p.Add(ID("cluster", k.ClusterID))
	switch {
	case strings.TrimSpace(k.Holder) == "":
		p.Add("a lock needs a holder name (--holder) saying what operation holds it")
	case IsOperationHolder(k.Holder):
		p.Addf("holder %s: names starting with %s are reserved for Strata's own operations", Quote(k.Holder), strings.Join(operationKinds, ", "))
	default:
		p.Add(Text("holder", k.Holder, MaxHolderLen))
	}
	p.Add(Duration("ttl", k.TTL, time.Second, l.LockTTL()))
	return p.Err("lock")
}

// Grace checks the reconciler's grace period.
func Grace(d time.Duration) string {
	return Duration("grace", d, 0, MaxReconcileGrace)
}

// FreshnessMultiple checks the monitor's staleness multiple (zero means
// the default).
func FreshnessMultiple(m float64) string {
	if m == 0 || (m > 0 && m <= MaxFreshnessMultiple) {
		return ""
	}
	return fmt.Sprintf("freshnessMultiple %g: give a positive number up to %d (a job is stale when its newest backup is older than this many intervals)", m, MaxFreshnessMultiple)
}
