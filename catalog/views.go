package catalog

import "github.com/stratabackup/strata/api"

// The API views of the catalog's rows: what leaves the worker (workflow
// results, reads). Mapping rows to views here keeps the catalog's schema
// free to change without changing the API.

// API is the backup's view.
func (b Backup) API() api.Backup {
	return api.Backup{
		ID: b.ID, ClusterID: b.ClusterID, JobID: b.JobID, Label: b.Label, Index: b.Index, Status: b.Status, Reason: b.Reason,
		Snapshots: SnapshotsAPI(b.Snapshots), CreatedAt: b.CreatedAt, StartedAt: b.StartedAt, CompletedAt: b.CompletedAt,
		Deadline: b.Deadline, WorkflowID: b.WorkflowID, RequestID: b.RequestID, PreferredNodeID: b.PreferredNodeID,
		DeletionError: b.DeletionError, DeletedAt: b.DeletedAt, Holds: b.Holds,
	}
}

// viewsOf is each row's view.
func viewsOf[V any, T interface{ API() V }](rows []T) []V {
	out := make([]V, len(rows))
	for i, r := range rows {
		out[i] = r.API()
	}
	return out
}

// BackupsAPI is each backup's view.
func BackupsAPI(bs []Backup) []api.Backup { return viewsOf[api.Backup](bs) }

// API is the snapshot's view.
func (s Snapshot) API() api.Snapshot {
	return api.Snapshot{NodeID: s.NodeID, VolumeID: s.VolumeID, SnapshotID: s.SnapshotID, Status: s.Status, Progress: s.Progress, SizeGB: s.SizeGB, Error: s.Error}
}

// SnapshotsAPI is each snapshot's view (nil stays nil).
func SnapshotsAPI(ss []Snapshot) []api.Snapshot {
	if ss == nil {
		return nil
	}
	return viewsOf[api.Snapshot](ss)
}

// API is the cluster's view.
func (c Cluster) API() api.Cluster {
	out := api.Cluster{
		ID: c.ID, Description: c.Description, Provider: c.Provider, Region: c.Region, ProjectID: c.ProjectID, NetworkID: c.NetworkID,
		Status: c.Status, StatusReason: c.StatusReason, RestoredFrom: c.RestoredFrom, CreatedAt: c.CreatedAt,
	}
	if c.Lock != nil {
		l := c.Lock.API()
		out.Lock = &l
	}
	if c.Nodes != nil {
		out.Nodes = make([]api.Node, len(c.Nodes))
	}
	for i, n := range c.Nodes {
		node := api.Node{ID: n.ID, Healthy: n.Healthy, ReplicationLagSeconds: n.ReplicationLagSeconds}
		if n.Volumes != nil {
			node.Volumes = make([]api.Volume, len(n.Volumes))
		}
		for j, v := range n.Volumes {
			node.Volumes[j] = api.Volume{ID: v.ID, NodeID: v.NodeID, SizeGB: v.SizeGB, Path: v.Path, Zone: v.Zone}
		}
		out.Nodes[i] = node
	}
	return out
}

// ClustersAPI is each cluster's view.
func ClustersAPI(cs []Cluster) []api.Cluster { return viewsOf[api.Cluster](cs) }

// API is the lock's view.
func (l Lock) API() api.Lock {
	return api.Lock{Holder: l.Holder, Token: l.Token, AcquiredAt: l.AcquiredAt, ExpiresAt: l.ExpiresAt}
}

// API is the restore's view.
func (r Restore) API() api.Restore {
	return api.Restore{ID: r.ID, BackupID: r.BackupID, SourceClusterID: r.SourceClusterID, ClusterID: r.ClusterID, Status: r.Status,
		Reason: r.Reason, WorkflowID: r.WorkflowID, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, CompletedAt: r.CompletedAt}
}

// RestoresAPI is each restore's view.
func RestoresAPI(rs []Restore) []api.Restore { return viewsOf[api.Restore](rs) }

// API is the project's view.
func (p Project) API() api.Project { return api.Project{ID: p.ID, CreatedAt: p.CreatedAt} }

// API is the network's view.
func (n Network) API() api.Network {
	return api.Network{ID: n.ID, ProjectID: n.ProjectID, Provider: n.Provider, Region: n.Region, CreatedAt: n.CreatedAt}
}

// API is the channel's view: its display URL, never the stored (sealed) URL
// or secret.
func (c Channel) API() api.Channel {
	return api.Channel{ID: c.ID, ProjectID: c.ProjectID, Kind: c.Kind, URL: c.DisplayURL, HasSecret: c.HasSecret || c.Secret != "",
		Email: c.Email, SMTPHost: c.SMTPHost, SMTPUser: c.SMTPUser, SMTPPasswordEnv: c.SMTPPasswordEnv, From: c.From, CreatedAt: c.CreatedAt}
}

// API is the job's view.
func (j Job) API() api.Job {
	return api.Job{ID: j.ID, ClusterID: j.ClusterID, ScheduleID: j.ScheduleID, Every: j.Every, Offset: j.Offset, Label: j.Label,
		Retention: j.Retention.API(), Paused: j.Paused, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, DeletedAt: j.DeletedAt,
		Monitor: api.JobMonitor{Stale: j.Monitor.Stale, SeenSkipped: j.Monitor.SeenSkipped, SeenMissed: j.Monitor.SeenMissed,
			ScheduleCheckedAt: j.Monitor.ScheduleCheckedAt}}
}

// API is the policy's view.
func (r Retention) API() api.Retention {
	return api.Retention{KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily, KeepWeekly: r.KeepWeekly}
}

// RetentionOf is the catalog's form of a policy.
func RetentionOf(r api.Retention) Retention {
	return Retention{KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily, KeepWeekly: r.KeepWeekly}
}

// API is the fault settings' view.
func (f Faults) API() api.Faults {
	return api.Faults{SnapshotDelay: f.SnapshotDelay, SnapshotFail: f.SnapshotFail, SnapshotHang: f.SnapshotHang,
		RestoreDelay: f.RestoreDelay, RestoreFail: f.RestoreFail}
}

// FaultsOf is the catalog's form of fault settings.
func FaultsOf(f api.Faults) Faults {
	return Faults{SnapshotDelay: f.SnapshotDelay, SnapshotFail: f.SnapshotFail, SnapshotHang: f.SnapshotHang,
		RestoreDelay: f.RestoreDelay, RestoreFail: f.RestoreFail}
}
